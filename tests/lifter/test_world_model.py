"""The model of MediaPipe's world landmarks: it learns a systematic miss, draws noise of the held-out size, saves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.errors import ModelNotFoundError
from mocap.lifter.train import with_drawn_world
from mocap.lifter.world_model import (
    WorldModel,
    WorldModelConfig,
    fit_world_model,
    load_world_model,
    save_world_model,
    truth_and_world,
)
from mocap.mega.rendered import RenderedExamples
from tests.lifter.test_train import posed_shard


def flattening_detector_shard(count: int, seed: int = 0) -> RenderedExamples:
    """Examples whose 'MediaPipe' halves every depth (a systematic miss, as the real one flattens bodies) and adds
    1 cm of noise."""
    shard = posed_shard(count, seed)  # world landmarks: the true ones, hip-centred
    noise = np.random.default_rng(seed).normal(scale=0.01, size=(count, 33, 3))
    world = shard.cond[..., 3:] * np.array([1.0, 1.0, 0.5]) + noise
    world -= world[:, [23, 24]].mean(axis=1, keepdims=True)
    return replace(shard, cond=np.concatenate([shard.cond[..., :3], world], axis=-1).astype(np.float32))


def test_pairs_are_hip_centred_and_seen_in_a_mirror_too() -> None:
    shard = flattening_detector_shard(5)
    shard.cond[4, 7, 3:] = np.nan  # a row without world landmarks is left out
    truth, world = truth_and_world(shard)
    assert truth.shape == world.shape == (8, 33, 3) and np.isfinite(world).all()
    np.testing.assert_allclose(truth[:, [23, 24]].mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(world[4:, 11, 0], -world[:4, 12, 0], atol=1e-6)  # left shoulder <-> right, x negated


def test_the_model_learns_a_systematic_miss_and_draws_noise_as_large_as_its_held_out_misses() -> None:
    model, metrics = fit_world_model(
        [flattening_detector_shard(1500), flattening_detector_shard(500, seed=1)],
        steps=600,
        config=WorldModelConfig(width=128),
        held_out=0.25,
    )
    assert metrics["rows_held_out"] == 1000 and metrics["rows_fitted"] == 3000
    # The detector misses the truth by the halved depths; the model predicts most of that miss on held-out rows.
    assert metrics["model_vs_mediapipe_mm"] < 0.5 * metrics["mediapipe_vs_truth_mm"], metrics
    # A draw adds the held-out residual: it is as far from the truth as the detector is, within a margin.
    assert 0.7 < metrics["drawn_vs_truth_mm"] / metrics["mediapipe_vs_truth_mm"] < 1.4, metrics
    truth = torch.from_numpy(truth_and_world(flattening_detector_shard(8, seed=2))[0])
    a, b = (model.sample(truth, torch.Generator().manual_seed(3)) for _ in range(2))
    assert a.shape == (16, 33, 3) and torch.equal(a, b)
    torch.testing.assert_close(a[:, [23, 24]].mean(1), torch.zeros(16, 3), atol=1e-6, rtol=0)
    assert not torch.equal(a, model(truth))  # the draw is noisy, the forward pass is the mean


def test_save_load_round_trip_and_a_missing_file_names_the_command(tmp_path: Path) -> None:
    model = WorldModel(WorldModelConfig(width=16))
    model.residual_cholesky_m.copy_(0.01 * torch.eye(99))
    save_world_model(model, tmp_path / "sub" / "world.pt", {"recipe": {"seed": 0}})
    loaded = load_world_model(tmp_path / "sub" / "world.pt")
    truth = torch.randn(3, 33, 3)
    torch.testing.assert_close(loaded(truth), model(truth))
    assert torch.equal(loaded.residual_cholesky_m, model.residual_cholesky_m)
    with pytest.raises(ModelNotFoundError, match="mocap train world-model"):
        load_world_model(tmp_path / "absent.pt")


def test_synthetic_features_keep_their_crop_and_take_the_drawn_world() -> None:
    model = WorldModel(WorldModelConfig(width=16))
    truth = np.random.default_rng(0).normal(size=(5, 33, 3)).astype(np.float32) + 2.0  # any centre
    features = np.random.default_rng(1).normal(size=(5, 33, 6)).astype(np.float32)
    made = with_drawn_world(features, truth, model, seed=0)
    assert made.dtype == np.float32 and made.shape == (5, 33, 6)
    np.testing.assert_array_equal(made[..., :3], features[..., :3])
    centred = torch.from_numpy(truth - truth[:, [23, 24]].mean(1, keepdims=True))
    with torch.no_grad():
        np.testing.assert_allclose(made[..., 3:], model(centred).numpy(), atol=1e-6)  # zero residual: the mean
    np.testing.assert_array_equal(made, with_drawn_world(features, truth, model, seed=0))
