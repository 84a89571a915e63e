"""Train the shipped MEGA exactly as recorded in MODEL_CARD.md: ``mocap train mega`` with the CPU preset and threads.

``mocap train mega`` offers the presets ``anny-landmarks-small`` and ``tiny`` and no thread setting; this runs the
same ``mocap.mega.recipe.train_mega`` with ``--preset anny-landmarks-cpu`` and ``torch.set_num_threads``.

Example (from the repository root):
    python models/mega_anny/train.py --stage pretrain --out .cache/train/mega_pre --steps 800
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from mocap.mega.recipe import PRESETS, MegaRecipe, train_mega
from mocap.mega.train import TrainConfig


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--stage", choices=("pretrain", "conditioned"), default="conditioned")
    p.add_argument("--init", type=Path)
    p.add_argument("--tokenizer", type=Path, default=Path("models/tokenizer_anny/tokenizer.pt"))
    p.add_argument("--preset", choices=sorted(PRESETS), default="anny-landmarks-cpu")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=4e-3, help="per 256 examples (4e-3 = 1e-3 at batch 64)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    train = TrainConfig(
        steps=args.steps,
        base_lr=args.lr,
        warmup_steps=args.warmup,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device="cpu",
    )
    recipe = MegaRecipe(
        out=args.out,
        stage=args.stage,
        preset=args.preset,
        tokenizer=args.tokenizer,
        init=args.init,
        train=train,
        batch_size=args.batch,
        resume=args.resume,
    )
    print(json.dumps(train_mega(recipe), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
