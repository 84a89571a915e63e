"""Ship a trained MEGA checkpoint: float16 weights + config, no optimiser state (``load_trained`` reads it).

Checks on synthetic test crops that float16 changes nothing that matters: the share of argmax token ids that
differ from float32 and the largest rotation/camera change are printed.

Example (from the repository root):
    python models/mega_anny/export.py .cache/train/mega_cond/last.pt models/mega_anny/mega.pt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mocap.mega.train import load_trained


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a Trainer checkpoint (last.pt or mega.pt)")
    p.add_argument("out", type=Path)
    args = p.parse_args()
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    half = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
    shipped = {k: checkpoint[k] for k in ("mega_config", "train_config", "step")} | {"model": half}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(shipped, args.out)

    full, reduced = load_trained(args.checkpoint), load_trained(args.out)
    cond = torch.randn(64, full.config.cond_length, full.config.cond_dim, generator=torch.Generator().manual_seed(0))
    cond[..., 2] = cond[..., 2].sigmoid()  # visibility in [0, 1]
    (a, out_a), (b, out_b) = full.argmax(cond, 64), reduced.argmax(cond, 64)
    assert out_a.rotation_6d is not None and out_b.rotation_6d is not None
    assert out_a.camera is not None and out_b.camera is not None
    report = {
        "step": int(checkpoint["step"]),
        "bytes": args.out.stat().st_size,
        "argmax_ids_changed": float((a.ids != b.ids).float().mean()),
        "max_rotation_6d_change": float((out_a.rotation_6d - out_b.rotation_6d).abs().max()),
        "max_camera_change": float((out_a.camera - out_b.camera).abs().max()),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
