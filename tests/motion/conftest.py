"""A small synthetic humanoid (CMU MotionBuilder joint names, cm, y-up, facing +z, T-pose) with smooth motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.body.rotations import euler_to_matrix
from mocap.motion.skeleton import Motion, Skeleton

ROOT = Path(__file__).resolve().parents[2]
SHARED_MOCAP = ROOT.parent / "shared" / "data" / "mocap"

_ZXY = ("Zrotation", "Xrotation", "Yrotation")
# (name, parent name, offset in cm, end-site offset or None)
_JOINTS = [
    ("Hips", None, (0, 0, 0), None),
    ("LeftUpLeg", "Hips", (9, -3, 0), None),
    ("LeftLeg", "LeftUpLeg", (0, -42, 0), None),
    ("LeftFoot", "LeftLeg", (0, -40, 0), None),
    ("LeftToeBase", "LeftFoot", (0, -6, 12), (0, 0, 5)),
    ("RightUpLeg", "Hips", (-9, -3, 0), None),
    ("RightLeg", "RightUpLeg", (0, -42, 0), None),
    ("RightFoot", "RightLeg", (0, -40, 0), None),
    ("RightToeBase", "RightFoot", (0, -6, 12), (0, 0, 5)),
    ("Spine", "Hips", (0, 10, 0), None),
    ("Spine1", "Spine", (0, 15, 0), None),
    ("Neck", "Spine1", (0, 22, 0), None),
    ("Head", "Neck", (0, 8, 0), (0, 15, 0)),
    ("LeftShoulder", "Spine1", (3, 18, 0), None),
    ("LeftArm", "LeftShoulder", (15, 0, 0), None),
    ("LeftForeArm", "LeftArm", (28, 0, 0), None),
    ("LeftHand", "LeftForeArm", (25, 0, 0), (10, 0, 0)),
    ("RightShoulder", "Spine1", (-3, 18, 0), None),
    ("RightArm", "RightShoulder", (-15, 0, 0), None),
    ("RightForeArm", "RightArm", (-28, 0, 0), None),
    ("RightHand", "RightForeArm", (-25, 0, 0), (-10, 0, 0)),
]


def humanoid_skeleton() -> Skeleton:
    names = tuple(j[0] for j in _JOINTS)
    parents = np.array([-1 if p is None else names.index(p) for _, p, _, _ in _JOINTS])
    end = np.array([e if e is not None else (np.nan,) * 3 for *_, e in _JOINTS], dtype=float)
    channels = tuple((("Xposition", "Yposition", "Zposition", *_ZXY)) if p is None else _ZXY for _, p, _, _ in _JOINTS)
    return Skeleton(names, parents, np.array([o for _, _, o, _ in _JOINTS], dtype=float), channels, end)


def humanoid_motion(num_frames: int = 60, fps: float = 60.0, seed: int = 0) -> Motion:
    """Smooth sinusoidal joint rotations (up to ~50 degrees) and a forward walk of 1 m/s along +z."""
    skeleton = humanoid_skeleton()
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    amplitude = rng.uniform(0.1, 0.9, (len(skeleton), 3))
    frequency = rng.uniform(0.3, 1.0, (len(skeleton), 3))
    phase = rng.uniform(0, 2 * np.pi, (len(skeleton), 3))
    angles = amplitude * np.sin(2 * np.pi * frequency * t[:, None, None] + phase)  # (T, J, 3)
    rotations = euler_to_matrix(angles, "ZXY")
    translation = np.stack([0 * t, 0.95 + 0 * t, t], axis=1)
    return Motion(skeleton, rotations, translation, fps=fps, unit_m=0.01)


@pytest.fixture()
def motion() -> Motion:
    return humanoid_motion()
