"""Writers: a :class:`~mocap.export.motion.RigMotion` as BVH, fitted parameters as npz.

BVH: centimetres, Y up, root with position + ZXY rotation channels, every other joint ZXY,
one End Site per leaf (half its bone's rest length beyond it). npz: see :func:`write_npz`.

Example:
    >>> write_bvh_file(rig_motion, "out.bvh", fps=30.0)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.rotations import matrix_to_axis_angle
from mocap.errors import ConfigError
from mocap.export.motion import CAMERA_TO_WORLD, RigMotion
from mocap.export.track import TrackParams
from mocap.motion.bvh import write_bvh
from mocap.motion.skeleton import Motion, Skeleton

BVH_UNIT_M = 0.01  # centimetres: what most DCC tools expect from BVH
_ZXY = ("Zrotation", "Xrotation", "Yrotation")


def to_bvh_motion(rig: RigMotion, fps: float) -> Motion:
    """:class:`RigMotion` -> :class:`~mocap.motion.skeleton.Motion` in centimetres (for ``write_bvh``)."""
    joints = len(rig.names)
    offsets = np.zeros((joints, 3))
    offsets[1:] = (rig.rest_m[1:] - rig.rest_m[rig.parents[1:]]) / BVH_UNIT_M
    is_leaf = np.ones(joints, bool)
    is_leaf[rig.parents[1:]] = False
    end_offsets = np.full((joints, 3), np.nan)
    end_offsets[is_leaf] = 0.5 * offsets[is_leaf]
    channels = tuple(("Xposition", "Yposition", "Zposition", *_ZXY) if j == 0 else _ZXY for j in range(joints))
    skeleton = Skeleton(tuple(rig.names), rig.parents.astype(np.int64), offsets, channels, end_offsets)
    return Motion(skeleton, rig.local_rotmat(), rig.root_m.astype(np.float64), fps=fps, unit_m=BVH_UNIT_M)


def check_writable(path: Path) -> None:
    """Raise ConfigError naming the fix when ``path`` cannot be written (creates it empty otherwise)."""
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist; create it or pick another -o")
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise ConfigError(f"cannot write {path} ({error.strerror}); pick a writable path with -o") from error


def write_bvh_file(rig: RigMotion, path: str | Path, fps: float) -> Motion:
    """Write ``rig`` as BVH at ``path``; returns the written :class:`Motion` (centimetres)."""
    path = Path(path)
    check_writable(path)
    motion = to_bvh_motion(rig, fps)
    write_bvh(motion, path)
    return motion


def write_npz(track: TrackParams, path: str | Path, body: AnnyBody) -> None:
    """Write Anny parameters for scripting, in the export world (Y up, metres; see :mod:`mocap.export.motion`).

    Fields: ``pose_rotmat`` (T, 104, 3, 3) and ``pose_axis_angle`` (T, 104, 3) local-ref rotations
    whose root (index 0) maps Anny's rest (z up) into the Y-up world; ``transl_m`` (T, 3) so that
    ``AnnyBody().forward(pose_rotmat, phenotype, transl_m)`` gives the mesh in that world;
    ``phenotype`` (6,); ``joints_m`` (T, 104, 3); ``frame_index`` (T,); ``observed`` (T,) False on
    interpolated frames; ``fps``; ``joint_names`` (104,); ``parents`` (104,).
    """
    from mocap.export.motion import export_motion

    path = Path(path)
    check_writable(path)
    rig = export_motion(track.params, body)
    to_world = torch.as_tensor(CAMERA_TO_WORLD, dtype=torch.float32)
    pose = track.params.pose_rotmat.float().clone()
    pose[:, 0] = to_world @ pose[:, 0]
    phenotype = track.params.phenotype.reshape(1, -1)[:1].float()
    with torch.no_grad():
        at_origin = body.forward(pose, phenotype.expand(len(pose), -1)).joints_m  # root at the origin
    transl = torch.from_numpy(rig.root_m).float() - at_origin[:, 0]  # default rig: its root is Anny's root
    joints = at_origin + transl[:, None]
    np.savez(
        path,
        pose_rotmat=pose.numpy(),
        pose_axis_angle=matrix_to_axis_angle(pose).numpy(),
        transl_m=transl.numpy(),
        phenotype=phenotype[0].numpy(),
        joints_m=joints.numpy(),
        frame_index=track.frame_index,
        observed=track.observed,
        fps=np.float64(track.fps),
        joint_names=np.array(body.joint_names),
        parents=body.parents,
    )
