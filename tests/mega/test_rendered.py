"""Detector-measured training examples: rotation recovery, shards, batch mixing, and one real render + MediaPipe."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.rotations import axis_angle_to_matrix, matrix_to_rotation_6d, rotation_6d_to_matrix
from mocap.body.symmetry import LANDMARK_MIRROR
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


def test_joined_sets_keep_their_order_and_mirrored_tokens_only_when_all_have_them() -> None:
    a, b = examples(3, 1.0), examples(2, 2.0)
    joined = RenderedExamples.join([a, b])
    assert len(joined) == 5 and joined.cond[:3].max() == 1.0 and joined.cond[3:].min() == 2.0
    assert joined.ids_mirror is None
    with_mirror = [replace(part, ids_mirror=part.ids) for part in (a, b)]
    np.testing.assert_array_equal(RenderedExamples.join(with_mirror).ids_mirror, joined.ids)
    assert RenderedExamples.join([with_mirror[0], b]).ids_mirror is None


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


def posed_examples(count: int) -> RenderedExamples:
    """Examples whose targets agree with each other: random keypoints turned by random rotations, their crop points
    the turned keypoints' x, y; mirrored tokens distinct from the tokens."""
    generator = torch.Generator().manual_seed(count)
    keypoints = torch.randn(count, 33, 3, generator=generator) * 0.3
    rotation = axis_angle_to_matrix(torch.randn(count, 3, generator=generator))
    turned = keypoints @ rotation.transpose(1, 2)
    cond = torch.cat([turned[..., :2], torch.rand(count, 33, 1, generator=generator), turned], -1)
    return RenderedExamples(
        cond=cond.numpy(),
        ids=np.arange(count * 54).reshape(count, 54),
        rotation_6d=matrix_to_rotation_6d(rotation).numpy(),
        keypoints_canonical_m=keypoints.numpy(),
        keypoints_crop=torch.cat([turned[..., :2], torch.ones(count, 33, 1)], -1).numpy(),
        ids_mirror=-np.arange(count * 54).reshape(count, 54),
    )


def test_mirrored_examples_are_the_mirror_image_of_the_examples() -> None:
    pool = posed_examples(6)
    rows = np.array([4, 1])
    seen, twin = pool.batch(rows), pool.mirrored(rows)
    np.testing.assert_array_equal(twin.ids.numpy(), pool.ids_mirror[rows])  # type: ignore[index]
    # The mirrored body turned by the mirrored rotation is the mirror image of the turned body (x -> -x, relabelled).
    flip = torch.tensor([-1.0, 1.0, 1.0])
    turned = seen.keypoints_canonical_m @ rotation_6d_to_matrix(seen.rotation_6d).transpose(1, 2)
    twin_turned = twin.keypoints_canonical_m @ rotation_6d_to_matrix(twin.rotation_6d).transpose(1, 2)
    torch.testing.assert_close(twin_turned, turned[:, LANDMARK_MIRROR] * flip, atol=1e-5, rtol=0)
    torch.testing.assert_close(twin.keypoints_crop[..., :2], twin_turned[..., :2], atol=1e-5, rtol=0)
    torch.testing.assert_close(twin.cond[..., 3:], twin_turned, atol=1e-5, rtol=0)  # world landmarks mirror too
    torch.testing.assert_close(twin.cond[..., 2], seen.cond[:, LANDMARK_MIRROR, 2])  # visibility moves with labels
    assert torch.allclose(torch.linalg.det(rotation_6d_to_matrix(twin.rotation_6d)), torch.ones(2), atol=1e-5)


def test_rendered_source_mirrors_a_fixed_share_and_needs_mirrored_tokens() -> None:
    pool = posed_examples(10)
    source = RenderedSource(synthetic_source, pool, fraction=0.5, seed=0, mirror_fraction=0.5)
    batch = source(3)
    assert (batch.cond[:4] == -1).all()  # 4 synthetic rows, then 2 rendered and 2 mirrored
    assert (batch.ids[4:6] >= 0).all() and (batch.ids[6:] <= 0).all()
    torch.testing.assert_close(source(3).cond, batch.cond)
    with pytest.raises(ConfigError, match="mocap data renders"):
        RenderedSource(synthetic_source, examples(4), 0.5, mirror_fraction=0.5)
    with pytest.raises(ConfigError, match="mirrored fraction"):
        RenderedSource(synthetic_source, pool, 0.5, mirror_fraction=2.0)


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
        # A stand-in tokenizer that tells a body from its mirror image: 54 vertices' heights, in millimetres.
        found = clip_examples(video, store, lambda meshes: (meshes[:, ::254][:, :54, 2] * 1000).long(), detector)
    assert len(found) >= 4 and found.cond.shape[1:] == (33, 6) and found.ids.shape[1:] == (54,)
    assert found.ids_mirror is not None and found.ids_mirror.shape == found.ids.shape
    assert (found.ids_mirror != found.ids).any()  # the mirrored body's tokens
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


def test_build_rendered_set_keeps_finished_shards_and_leaves_no_scratch(
    anny_body, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import mocap.synth.motions
    from mocap.mega.rendered import build_rendered_set
    from tests.synth.conftest import swing_performance

    asked: list[tuple[str, str | None]] = []
    scratch: list[str] = []

    def performances(config, split, collection=None):  # type: ignore[no-untyped-def]
        asked.append((split, collection))
        scratch.extend(p.name for p in tmp_path.iterdir() if p.is_dir())
        return [swing_performance(anny_body, config.num_frames, 0.3, "swing")]

    monkeypatch.setattr(mocap.synth.motions, "random_performances", performances)
    heights = lambda meshes: (meshes[:, ::254][:, :54, 2] * 1000).long()  # noqa: E731
    total = build_rendered_set(tmp_path, [7], heights, seconds=0.2, collection="acrobatics")
    assert total >= 4 and (tmp_path / "clip_00007.npz").exists() and asked == [("train", "acrobatics")]
    # Scratch video and store are per process (several may fill one folder) and gone once it ends.
    assert scratch == [f"scratch-{os.getpid()}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_00007.npz"]
    assert build_rendered_set(tmp_path, [7], heights, seconds=0.2) == total and len(asked) == 1  # kept, not redone

    def crash(config, split, collection=None):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # a user's Ctrl-C halfway through a clip

    monkeypatch.setattr(mocap.synth.motions, "random_performances", crash)
    with pytest.raises(KeyboardInterrupt):
        build_rendered_set(tmp_path, [7, 8], heights, seconds=0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_00007.npz"]  # the finished shard, no scratch


@pytest.fixture(scope="module")
def anny_body():  # type: ignore[no-untyped-def]
    from mocap.body.anny_body import AnnyBody

    return AnnyBody("default")
