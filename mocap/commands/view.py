"""``mocap view run.zarr``: replay a store in the 3D viewer, follow one being written, or save the renders."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mocap.commands import track_ids
from mocap.errors import ConfigError
from mocap.view.config import Viewpoint
from mocap.view.scene import UNCERTAINTY_MAX_M, ColorBy

KEYS_HELP = "keys: space play/pause, left/right step, +/- speed, 1-9 toggle the 1st..9th track, c/o view, q quit"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="replay a store in the 3D viewer",
        description=f"Replay a mocap store in the Open3D viewer. {KEYS_HELP}.",
    )
    p.add_argument("store", type=Path, help="a store written by `mocap run` or `mocap synth`")
    p.add_argument("--follow", action="store_true", help="follow a store still being written; exit when it is closed")
    p.add_argument(
        "--save",
        type=Path,
        metavar="PATH",
        help="render offscreen into a video (.mp4/.mkv/.mov) or a folder of PNGs instead of opening a window",
    )
    p.add_argument("--tracks", type=track_ids, metavar="IDS", help="show only these track ids, e.g. 1,2")
    p.add_argument("--speed", type=float, default=1.0, help="playback speed (and speed of a saved video); default 1")
    p.add_argument(
        "--color-by",
        type=ColorBy,
        choices=list(ColorBy),
        default=ColorBy.ID,
        help="a colour per track id, or per-vertex uncertainty on a 0-30 mm scale",
    )
    p.add_argument(
        "--viewpoint",
        type=Viewpoint,
        choices=list(Viewpoint),
        default=Viewpoint.CAMERA,
        help="look through the capture camera (lines up with the video) or from a 3/4 orbit view",
    )
    p.add_argument("--size", type=int, default=960, metavar="PX", help="longest side of the window/renders, pixels")
    p.set_defaults(handler=run)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    if not args.speed > 0:
        raise ConfigError(f"--speed must be positive, but got {args.speed}")
    if args.size < 16:
        raise ConfigError(f"--size must be at least 16 pixels, but got {args.size}")
    if args.save is None and not has_display():
        raise ConfigError("no display to open a window on: pass --save out.mp4 (or --save frames/) to render offscreen")
    # Open3D is an optional extra ("render"): import it only when the command runs.
    from mocap.view.config import ViewerConfig
    from mocap.view.replay import ReplayConfig, replay
    from mocap.view.saver import FrameSaver
    from mocap.view.store_frames import StoreFrames
    from mocap.view.viewer import Viewer

    frames = StoreFrames(args.store, color_by=args.color_by, tracks=args.tracks)
    config = ViewerConfig(
        max_size_px=args.size, viewpoint=args.viewpoint, visible=args.save is None, title=f"mocap view {args.store}"
    )
    viewer = Viewer(frames.static_scene(), config)
    colorbar = UNCERTAINTY_MAX_M if args.color_by is ColorBy.UNCERTAINTY else None
    saver = None if args.save is None else FrameSaver(args.save, frames.fps * args.speed, viewer.size_wh, colorbar)
    try:
        stats = replay(frames, viewer, ReplayConfig(follow=args.follow, speed=args.speed), saver)
    finally:
        if saver is not None:
            saver.close()
        viewer.close()
    if saver is not None:
        print(f"rendered {stats.frames_shown} frames to {args.save} ({stats.fps:.1f} frames/s)")
    if frames.note:
        print(f"note: {frames.note}")
    return 0
