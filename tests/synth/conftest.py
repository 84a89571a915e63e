"""Fixtures of the synth tests: the Anny body (built once) and small hand-made performances."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.synth.clip import Performance


@pytest.fixture(scope="session")
def anny_body():  # type: ignore[no-untyped-def]
    from mocap.body.anny_body import AnnyBody

    return AnnyBody("default")


def swing_performance(body, frames: int, travel_m: float, name: str) -> Performance:  # type: ignore[no-untyped-def]
    """Arms and legs swinging about the bones' x axes while the root travels ``travel_m`` along world y."""
    from mocap.body.rotations import euler_to_matrix

    names = body.joint_names
    phase = np.sin(np.linspace(0.0, 2 * np.pi, frames))
    zeros = np.zeros_like(phase)
    pose = np.broadcast_to(np.eye(3), (frames, len(names), 3, 3)).copy()
    for side, sign in (("L", 1.0), ("R", -1.0)):
        pose[:, names.index(f"upperleg01.{side}")] = euler_to_matrix(
            np.stack([sign * 0.5 * phase, zeros, zeros], -1), "xyz"
        )
        pose[:, names.index(f"upperarm01.{side}")] = euler_to_matrix(
            np.stack([-sign * 0.6 * phase, zeros, zeros], -1), "xyz"
        )
    transl = np.zeros((frames, 3))
    transl[:, 1] = -np.linspace(0.0, travel_m, frames)
    transl[:, 2] = 0.9
    return Performance(name, pose, transl, licence="hand-made test fixture")
