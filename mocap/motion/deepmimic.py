"""DeepMimic ``humanoid3d`` motions (JSON text, optionally gzipped) as a :class:`~mocap.motion.skeleton.Motion`.

A character file (``"Skeleton": {"Joints": [...]}``) gives the 15 joints, their parents and their attach offsets in
metres; its axes are y up, x forward, z to the character's right, and its rest pose stands with the arms down. A
motion file holds ``"Frames"``: one row per frame of ``dt`` (seconds to the next frame), the root position (3), the
root orientation (w, x, y, z), then per joint in the character's order a quaternion (w, x, y, z) for a spherical
joint, an angle about the joint's z axis (radians) for a revolute one, nothing for a fixed one. Rotations are local,
so forward kinematics is the skeleton module's.

Joints are renamed after the BVH convention (``LeftUpLeg``, ``RightForeArm``, ...) so that the retargeting finds
them; the neck joint drives a ``Head`` joint at the head's centre, and the ankle and wrist get end sites along the
foot and the hand.

Example:
    >>> motion = read_deepmimic("85_01.txt.gz", "humanoid3d_jumper60kg_character.txt")  # doctest: +SKIP
    >>> motion.fps, motion.joint_positions_m().shape  # doctest: +SKIP
    (30.0, (249, 16, 3))
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch

from mocap.body.rotations import axis_angle_to_matrix, quaternion_to_matrix
from mocap.errors import SourceError
from mocap.motion.skeleton import Motion, Skeleton

# DeepMimic joint name -> BVH-style name the retargeting's aliases know.
NAMES: Final = {
    "root": "Hips",
    "chest": "Chest",
    "neck": "Neck",
    "right_hip": "RightUpLeg",
    "right_knee": "RightLeg",
    "right_ankle": "RightFoot",
    "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm",
    "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg",
    "left_knee": "LeftLeg",
    "left_ankle": "LeftFoot",
    "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand",
}
DOFS: Final = {"none": 0, "spherical": 4, "revolute": 1, "fixed": 0}
# End sites, metres in the joint's rest axes (y up, x forward): the toe tip below the foot box's front, the
# hand's far side, the head's centre above the neck joint (the character's body shapes).
FOOT_END_M: Final = (0.13, -0.05, 0.0)
HAND_END_M: Final = (0.0, -0.08, 0.0)
HEAD_CENTRE_M: Final = (0.0, 0.175, 0.0)


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot read {path}: {error}; is it a (gzipped) DeepMimic JSON file?") from None


def read_character(path: str | Path) -> tuple[Skeleton, tuple[str, ...]]:
    """A ``humanoid3d`` character file -> the skeleton (plus a ``Head`` joint) and each source joint's type."""
    joints = _read_json(Path(path))["Skeleton"]["Joints"]
    names, parents, offsets, types = [], [], [], []
    for i, joint in enumerate(joints):
        if int(joint["ID"]) != i or int(joint["Parent"]) >= i or joint["Type"] not in DOFS:
            raise SourceError(f"{path}: joint {joint.get('Name')!r} is out of order or of an unknown type")
        names.append(NAMES.get(joint["Name"], joint["Name"]))
        parents.append(int(joint["Parent"]))
        offsets.append([joint["AttachX"], joint["AttachY"], joint["AttachZ"]])
        types.append(joint["Type"])
    end = np.full((len(names) + 1, 3), np.nan)
    for name, tip in (("Foot", FOOT_END_M), ("Hand", HAND_END_M)):
        for side in ("Left", "Right"):
            if side + name in names:
                end[names.index(side + name)] = tip
    if "Neck" not in names:
        raise SourceError(f"{path}: a humanoid3d character needs a neck joint")
    skeleton = Skeleton(
        names=(*names, "Head"),
        parents=np.array([*parents, names.index("Neck")], dtype=np.int64),
        offsets=np.array([*offsets, HEAD_CENTRE_M], dtype=np.float64),
        channels=tuple(() for _ in range(len(names) + 1)),
        end_offsets=end,
    )
    return skeleton, tuple(types)


def read_deepmimic(path: str | Path, character: str | Path) -> Motion:
    """A DeepMimic motion of ``character`` -> Motion at its own (uniform) frame rate, metres, file axes."""
    path = Path(path)
    skeleton, types = read_character(character)
    frames = np.asarray(_read_json(path).get("Frames", []), dtype=np.float64)
    width = 1 + 3 + 4 + sum(DOFS[t] for t in types[1:])  # dt, root position and orientation, the other joints
    if frames.ndim != 2 or len(frames) < 2 or frames.shape[1] != width:
        raise SourceError(f"{path}: expected frames of {width} values for {character}, got shape {frames.shape}")
    dt = frames[:-1, 0]  # the last row's dt is 0 in non-looping clips
    if np.ptp(dt) > 1e-6 or dt[0] <= 0:
        raise SourceError(f"{path}: frames are not evenly spaced in time ({dt.min():.4f}-{dt.max():.4f} s)")
    rotations = np.tile(np.eye(3), (len(frames), len(skeleton), 1, 1))
    column = 4
    for j, kind in enumerate(types):
        dofs = 4 if j == 0 else DOFS[kind]  # the root's orientation follows its position
        values = frames[:, column : column + dofs]
        if dofs == 4:
            rotations[:, j] = quaternion_to_matrix(torch.from_numpy(values)).numpy()
        elif dofs == 1:  # an angle about the joint's z axis
            rotations[:, j] = axis_angle_to_matrix(torch.from_numpy(values * np.array([0.0, 0.0, 1.0]))).numpy()
        column += dofs
    return Motion(skeleton, rotations, frames[:, 1:4].copy(), fps=float(1.0 / dt[0]), unit_m=1.0)
