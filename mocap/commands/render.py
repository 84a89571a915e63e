"""``mocap render run.zarr --video SRC -o overlay.mp4``: the store's meshes shaded over the source video."""

from __future__ import annotations

import argparse
from pathlib import Path

from mocap.commands import track_ids
from mocap.view.scene import ColorBy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render a store's meshes over its source video",
        description=(
            "Shade the meshes of a mocap store over the frames of the video it was made from, seen through the "
            "capture camera, and write an H.264 video. Frames are matched to the store by frame index; frames "
            "without people pass through unchanged."
        ),
    )
    p.add_argument("store", type=Path, help="a store written by `mocap run` (with meshes) or `mocap synth`")
    p.add_argument("--video", type=Path, required=True, metavar="SRC", help="the source video of the store")
    p.add_argument("-o", "--output", type=Path, required=True, help="video to write (.mp4, .mkv or .mov)")
    p.add_argument(
        "--color-by",
        choices=[c.value for c in ColorBy],
        default=ColorBy.ID.value,
        help="a colour per track id, or per-vertex uncertainty on a 0-30 mm scale with a colour bar",
    )
    p.add_argument("--raw", action="store_true", help="draw the raw per-frame meshes, not the smoothed ones")
    p.add_argument("--alpha", type=float, default=0.7, help="opacity of the meshes, 0 to 1; default 0.7")
    p.add_argument("--tracks", type=track_ids, metavar="IDS", help="draw only these track ids, e.g. 1,2")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after the first N frames of the video")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Open3D is an optional extra ("render"): import it only when the command runs.
    from mocap.render.overlay import OverlayConfig, render_overlay

    config = OverlayConfig(alpha=args.alpha, color_by=ColorBy(args.color_by), raw=args.raw, tracks=args.tracks)
    stats = render_overlay(args.store, args.video, args.output, config, max_frames=args.max_frames)
    print(
        f"wrote {args.output}: {stats.frames} frames, {stats.frames_with_people} with people ({stats.fps:.1f} frames/s)"
    )
    return 0
