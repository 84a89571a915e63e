"""Detector-measured training examples: rotation recovery, shards, batch mixing, and one real render + MediaPipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.rotations import axis_angle_to_matrix, rotation_6d_to_matrix
from mocap.errors import ConfigError
from mocap.mega.geometry import weak_perspective_project
from mocap.mega.rendered import RenderedExamples, RenderedSource, clip_examples, kabsch_rotations
from mocap.mega.train import TrainingBatch


def examples(count: int, offset: float = 0.0) -> RenderedExamples:
    rng = np.random.default_rng(int(offset))
    return RenderedExamples(
        cond=np.full((count, 33, 6), offset, np.float32),
        ids=rng.integers(0, 512, (count, 54)),
        rotation_6d=np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), (count, 1)),
        keypoints_canonical_m=rng.normal(size=(count, 33, 3)).astype(np.float32),
        keypoints_crop=np.ones((count, 33, 3), np.float32),
    )


def synthetic_source(step: int, batch: int = 8) -> TrainingBatch:
    """A stand-in synthetic source: every row's conditioning is -1."""
    return TrainingBatch(
        ids=torch.zeros(batch, 54, dtype=torch.long),
        cond=torch.full((batch, 33, 6), -1.0),
        rotation_6d=torch.zeros(batch, 6),
        keypoints_canonical_m=torch.zeros(batch, 33, 3),
        keypoints_crop=torch.zeros(batch, 33, 3),
    )


def test_kabsch_recovers_rotations_of_rigid_point_sets() -> None:
    generator = torch.Generator().manual_seed(0)
    source = torch.randn(5, 33, 3, generator=generator)
    rotation = axis_angle_to_matrix(torch.randn(5, 3, generator=generator) * 2)
    target = source @ rotation.transpose(1, 2) + torch.randn(5, 1, 3, generator=generator)
    torch.testing.assert_close(kabsch_rotations(source, target), rotation, atol=1e-4, rtol=0)
    assert torch.allclose(torch.linalg.det(kabsch_rotations(source, -target)), torch.ones(5))  # never a reflection


def test_shards_round_trip_and_an_empty_folder_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mocap data renders"):
        RenderedExamples.load_folder(tmp_path)
    examples(3, 1.0).save(tmp_path / "clip_00001.npz")
    examples(2, 2.0).save(tmp_path / "clip_00000.npz")
    loaded = RenderedExamples.load_folder(tmp_path)
    assert len(loaded) == 5 and loaded.cond[:2].max() == 2.0 and loaded.cond[2:].min() == 1.0  # shards in name order
    assert not list(tmp_path.glob("*.partial*"))


def test_rendered_source_mixes_a_fixed_share_reproducibly() -> None:
    pool = examples(10, 3.0)
    source = RenderedSource(synthetic_source, pool, fraction=0.25, seed=0)
    batch = source(4)
    assert batch.ids.shape == (8, 54) and batch.ids.dtype == torch.long
    assert (batch.cond[:6] == -1).all() and (batch.cond[6:] == 3).all()  # 2 of 8 rows are rendered, at the end
    torch.testing.assert_close(source(4).ids, batch.ids)
    assert RenderedSource(synthetic_source, pool, 0.0)(4).cond.eq(-1).all()
    with pytest.raises(ConfigError, match="fraction"):
        RenderedSource(synthetic_source, pool, 1.5)


def test_rendered_source_needs_conditioned_batches() -> None:
    source = RenderedSource(lambda step: TrainingBatch(torch.zeros(4, 54, dtype=torch.long)), examples(4), 0.5)
    with pytest.raises(ConfigError, match="conditioned"):
        source(0)


def test_clip_examples_pair_mediapipe_with_consistent_targets(anny_body, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mocap.detect.pose import DetectConfig, PoseDetector
    from mocap.synth.clip import SynthConfig, Synthesizer
    from tests.synth.conftest import swing_performance

    config = SynthConfig(seconds=0.2, size_wh=(320, 240), seed=3, store_vertices=False)
    video, store = tmp_path / "clip.mp4", tmp_path / "clip.gt.zarr"
    Synthesizer(config, anny_body).synthesize([swing_performance(anny_body, 6, 0.3, "swing")], video, store)
    with PoseDetector(DetectConfig(max_people=1)) as detector:
        found = clip_examples(video, store, lambda meshes: torch.zeros(len(meshes), 54, dtype=torch.long), detector)
    assert len(found) >= 4 and found.cond.shape[1:] == (33, 6) and found.ids.shape[1:] == (54,)
    # The GT rotation turns the canonical landmarks into a pose whose weak-perspective projection fits the GT crop
    # points up to perspective effects (a full-body crop is ~2 units tall).
    rotation = rotation_6d_to_matrix(torch.from_numpy(found.rotation_6d))
    turned = torch.from_numpy(found.keypoints_canonical_m) @ rotation.transpose(1, 2)
    truth = torch.from_numpy(found.keypoints_crop[..., :2])
    scale = (truth[..., 1].amax(1) - truth[..., 1].amin(1)) / (turned[..., 1].amax(1) - turned[..., 1].amin(1))
    shift = truth.mean(1) - scale[:, None] * turned[..., :2].mean(1)
    projected = weak_perspective_project(turned, torch.cat([scale[:, None], shift / scale[:, None]], 1))
    assert (projected - truth).abs().mean() < 0.05
    # MediaPipe's crop landmarks land near the truth in the same crop.
    assert np.abs(found.cond[..., :2] - found.keypoints_crop[..., :2]).mean() < 0.15


@pytest.fixture(scope="module")
def anny_body():  # type: ignore[no-untyped-def]
    from mocap.body.anny_body import AnnyBody

    return AnnyBody("default")
