"""The mesh stage's temporal lifter: each track read with its window of recent crops, as in training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from mocap.lifter.model import JointLifter, LifterConfig, lift_clip
from mocap.mesh.models import MeshModels
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.stage import MeshEstimator
from mocap.types import Crops


@pytest.fixture(scope="module")
def models() -> Iterator[MeshModels]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lifter = JointLifter(LifterConfig(width=32, blocks=1, window=4, frame_width=8)).eval()
    torch.nn.init.normal_(lifter.motion.weight, std=0.1)  # a motion branch that matters
    yield replace(MeshModels.load_default(), lifter=lifter)
    torch.set_num_threads(threads)


def person(frames: int, seed: int = 0) -> Crops:
    """One person's crops over ``frames`` frames: a random pose drifting a little each frame."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.6, 0.6, (1, 33, 2)) + np.linspace(0, 0.2, frames)[:, None, None]
    landmarks = np.concatenate([xy, np.ones((frames, 33, 1))], -1).astype(np.float32)
    world = (rng.normal(0, 0.3, (1, 33, 3)) + np.linspace(0, 0.1, frames)[:, None, None]).astype(np.float32)
    return Crops(np.ones(frames, np.int64), np.zeros((frames, 2)), np.ones(frames), landmarks, world)


@pytest.mark.parametrize("fps", [30.0, 15.0, 60.0])
def test_each_track_is_lifted_with_its_window_as_in_training(models: MeshModels, fps: float) -> None:
    """Frames of a 15 fps source leave every other 1/30 s slot empty (held over, as the training windows do); at
    60 fps two frames share a slot and the later one counts."""
    crops = person(12)
    other = person(12, seed=1)  # a second person, tracked beside the first, must not leak into its window
    estimator = MeshEstimator(models, PolicyConfig(num_samples=0))
    lifted = []
    for k in range(12):
        both = Crops(
            *(np.concatenate([getattr(crops[[k]], f), getattr(other[[k]], f)]) for f in Crops.__dataclass_fields__)
        )
        both = replace(both, track_id=np.array([1, 2]))
        lifted.append(estimator.lift(both.track_id, both, None, time_s=k / fps)[0])
    slots = np.round(np.arange(12) / fps * 30).astype(np.int64)
    last = np.append(slots[1:] != slots[:-1], True)  # the frames whose slot is not taken again
    expected = lift_clip(models.lifter, crops[np.flatnonzero(last)], slots[last])
    np.testing.assert_allclose(np.stack(lifted)[last], expected, atol=1e-5)
