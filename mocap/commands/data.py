"""``mocap data build``: retarget the shared mocap onto Anny, cache it, and report the splits.
``mocap data renders``: MediaPipe on rendered train motions, the detector-measured examples MEGA fine-tunes on."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mocap.errors import ConfigError

log = logging.getLogger(__name__)


def _default_data_dir() -> Path:
    # The shared data folder sits beside the checkout: <repo>/../shared/data.
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build the motion dataset", description="Build and inspect the motion dataset.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="retarget mocap onto Anny and cache it",
        description="Retarget every mocap clip onto Anny's default rig at 30 fps, cache one npz per clip "
        "under CACHE_DIR/motion/, and print minutes and frames per split.",
    )
    build.add_argument(
        "--data-dir", type=Path, default=_default_data_dir(), help="folder holding mocap/ (default: %(default)s)"
    )
    build.add_argument(
        "--cache-dir", type=Path, default=None, help="cache root (default: $MOCAP_CACHE_DIR or ~/.cache/mocap)"
    )
    build.add_argument("--force", action="store_true", help="retarget again even where a cached clip exists")
    build.set_defaults(handler=run)
    renders = actions.add_parser(
        "renders",
        help="MediaPipe on rendered TRAIN motions, for MEGA training",
        description="Render short `mocap synth` clips of train-split motions (random bodies, clothes, cameras), "
        "run MediaPipe on the encoded videos, and store one npz shard per clip of detector-measured landmark crops "
        "with their ground-truth tokens, rotation and keypoints. Resumable: existing shards are kept.",
    )
    renders.add_argument("--out", type=Path, required=True, help="shard folder")
    renders.add_argument("--clips", type=int, default=200, help="clips to make (default 200)")
    renders.add_argument("--first-seed", type=int, default=0, help="clip seeds are FIRST..FIRST+CLIPS-1")
    renders.add_argument("--seconds", type=float, default=2.0, help="clip length (default 2 s = 60 frames)")
    renders.add_argument(
        "--split", choices=("train", "validation"), default="train", help="motions to render (default train)"
    )
    renders.add_argument(
        "--collection",
        help="only this collection's motions (e.g. cmu_deepmimic_jump: flips, handstands, breakdance; default all)",
    )
    renders.add_argument("--tokenizer", type=Path, default=Path("models/tokenizer_anny/tokenizer.pt"))
    renders.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    renders.set_defaults(handler=run_renders)


def run(args: argparse.Namespace) -> int:
    from mocap.motion.dataset import MotionDataset, build_dataset, default_cache_dir

    if not args.data_dir.is_dir():
        raise ConfigError(f"data folder {args.data_dir} does not exist; pass --data-dir")
    cache_dir = args.cache_dir or default_cache_dir()
    paths = build_dataset(args.data_dir, cache_dir, force=args.force)
    dataset = MotionDataset.load(cache_dir)
    print(f"{len(paths)} clips cached in {cache_dir / 'motion'}")
    print(f"{'split':<11} {'subjects':>8} {'clips':>6} {'frames':>8} {'minutes':>8}")
    for split, subjects, clips, frames, minutes in dataset.report():
        print(f"{split:<11} {subjects:>8} {clips:>6} {frames:>8} {minutes:>8.1f}")
    return 0


def run_renders(args: argparse.Namespace) -> int:
    import torch

    from mocap.mega.rendered import build_rendered_set
    from mocap.tokenizer.model import MeshVQVAE

    if args.clips < 1 or args.seconds <= 0:
        raise ConfigError("--clips must be at least 1 and --seconds positive")
    torch.set_num_threads(args.threads)
    tokenizer = MeshVQVAE.load(args.tokenizer).eval()
    seeds = range(args.first_seed, args.first_seed + args.clips)
    total = build_rendered_set(
        args.out,
        seeds,
        tokenizer.encode,
        args.seconds,
        on_clip=lambda seed, n: print(f"clip {seed}: {n} examples"),
        split=args.split,
        collection=args.collection,
    )
    print(f"{total} examples in {args.out}")
    return 0
