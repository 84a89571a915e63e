"""``mocap synth -o clip.mp4``: render Anny bodies driven by held-out mocap, with exact ground truth in zarr."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.errors import ConfigError
from mocap.synth.config import SynthConfig


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    return width, height


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="render a synthetic clip with exact ground truth",
        description=(
            "Render Anny bodies driven by held-out mocap (the motion dataset's test split) into an H.264 video, "
            "and write the exact ground truth (meshes, joints, landmarks, visibility, camera) beside it as "
            "VIDEO.gt.zarr. The same seed gives the same clip."
        ),
    )
    p.add_argument("-o", "--output", type=Path, help="video to write, e.g. clip.mp4 (required unless --list-motions)")
    p.add_argument("--people", type=int, choices=(1, 2, 3, 4), default=1, help="number of people")
    p.add_argument(
        "--motion",
        nargs="+",
        metavar="NAME",
        default=(),
        help="held-out motions by name, one per person, NAME or NAME@START_SECONDS (default: drawn from the "
        "test split by the seed); "
        "`mocap synth --list-motions` shows the names",
    )
    p.add_argument("--list-motions", action="store_true", help="print the held-out motion names and exit")
    p.add_argument("--seconds", type=float, default=SynthConfig.seconds, help="clip length in seconds")
    p.add_argument("--fps", type=float, default=SynthConfig.fps, help="frame rate")
    p.add_argument("--size", type=_size, default=SynthConfig.size_wh, help="image size WIDTHxHEIGHT")
    p.add_argument("--seed", type=int, default=SynthConfig.seed, help="draws motions, bodies, clothing and camera")
    p.add_argument("--crf", type=int, default=SynthConfig.crf, help="x264 quality: lower is better and bigger")
    p.add_argument(
        "--no-vertices",
        action="store_true",
        help="leave the meshes out of the store (~50 kB per person-frame); pose and phenotype still reproduce them",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing ground-truth store")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def ground_truth_path(video_path: Path) -> Path:
    """``clip.mp4`` -> ``clip.gt.zarr`` beside it."""
    return video_path.with_suffix(".gt.zarr")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mocap.synth.clip import Synthesizer
    from mocap.synth.motions import held_out_names, held_out_performances

    if args.list_motions:
        print("\n".join(held_out_names()))
        return 0
    if args.output is None:
        raise ConfigError("give the video to write with -o, e.g. mocap synth -o clip.mp4")
    if args.motion and len(args.motion) != args.people:
        raise ConfigError(f"--motion names {len(args.motion)} motions for --people {args.people}: give one per person")
    if args.output.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        raise ConfigError(f"--output {args.output} must end in .mp4, .mkv or .mov")
    config = SynthConfig(
        people=args.people,
        seconds=args.seconds,
        fps=args.fps,
        size_wh=args.size,
        seed=args.seed,
        crf=args.crf,
        store_vertices=not args.no_vertices,
    )
    performances = held_out_performances(config, names=tuple(args.motion))
    store_path = ground_truth_path(args.output)
    with tqdm(total=config.num_frames, unit="frame", disable=args.no_progress, desc="synth") as bar:
        report = Synthesizer(config).synthesize(
            performances, args.output, store_path, overwrite=args.overwrite, on_frame=lambda _: bar.update()
        )
    motions = ", ".join(person["motion"] for person in report.people)
    print(f"wrote {args.output} and {store_path}: {report.num_frames} frames, {report.num_people} people ({motions})")
    return 0
