"""``mocap export run.zarr --track ID -o out.bvh``: one tracked person as BVH (any rig) or npz.

The track's meshes are fitted with the fast Anny fit (or its stored body parameters are used),
moved into a Y-up world standing on the floor (see :mod:`mocap.export.motion`), gaps filled by
interpolation, and written at the store's fps.
"""

from __future__ import annotations

import argparse
import logging
from enum import Enum
from pathlib import Path

from mocap.errors import ConfigError

log = logging.getLogger(__name__)


class ExportFormat(str, Enum):
    BVH = "bvh"
    NPZ = "npz"

    def __str__(self) -> str:
        return self.value


class ExportRig(str, Enum):
    ANNY = "anny"
    CMU_MB = "cmu_mb"
    MIXAMO = "mixamo"
    GAME_ENGINE = "game_engine"

    def __str__(self) -> str:
        return self.value

    @property
    def body_rig(self) -> str:
        """The :class:`~mocap.body.anny_body.AnnyBody` rig name."""
        return "default" if self is ExportRig.ANNY else self.value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export one tracked person as BVH or npz",
        description="Fit Anny to a track's meshes and export the motion (BVH for animators, npz for scripts).",
    )
    p.add_argument("store", type=Path, help="a store written by `mocap run` (with meshes) or `mocap synth`")
    p.add_argument("--track", type=int, metavar="ID", help="track id to export; may be left out if the store has one")
    p.add_argument(
        "--format",
        type=ExportFormat,
        choices=list(ExportFormat),
        help="bvh or npz; default: from the suffix of -o, else bvh",
    )
    p.add_argument(
        "--rig",
        type=ExportRig,
        choices=list(ExportRig),
        default=ExportRig.ANNY,
        help="BVH skeleton: Anny's own 104 bones or one of the rigs anny ships; default anny",
    )
    p.add_argument(
        "--smoothed", action="store_true", help="use the smoothed meshes (vertices_smoothed_cam_m) if stored"
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="file to write (.bvh or .npz)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mocap.body.anny_body import AnnyBody
    from mocap.errors import StoreError
    from mocap.export.motion import export_motion
    from mocap.export.track import load_track
    from mocap.export.writers import check_writable, write_bvh_file, write_npz
    from mocap.io.store import open_store

    fmt = args.format or (ExportFormat.NPZ if args.output.suffix.lower() == ".npz" else ExportFormat.BVH)
    if fmt is ExportFormat.NPZ and args.rig is not ExportRig.ANNY:
        raise ConfigError("--format npz stores Anny's own parameters; leave out --rig (rigs are for BVH)")
    track_id = args.track
    if track_id is None:
        ids = open_store(args.store).track_ids
        if len(ids) != 1:
            raise StoreError(f"{args.store} has tracks {ids}; choose one with --track ID")
        track_id = ids[0]
    check_writable(args.output)  # before the fit, which takes seconds
    track = load_track(args.store, track_id, smoothed=args.smoothed)
    if fmt is ExportFormat.NPZ:
        write_npz(track, args.output, AnnyBody("default"))
    else:
        write_bvh_file(export_motion(track.params, AnnyBody(args.rig.body_rig)), args.output, track.fps)
    filled = int((~track.observed).sum())
    frames = len(track.frame_index)
    print(f"wrote {args.output}: track {track_id}, {frames} frames at {track.fps:g} fps ({filled} interpolated)")
    return 0
