from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from mocap.errors import ConfigError
from mocap.mega.model import Mega, MegaConfig
from mocap.mega.predictor import MegaPredictor, SamplingConfig
from mocap.types import Crops


def crops(n: int) -> Crops:
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(-1, 1, (n, 33, 3)).astype(np.float32)
    landmarks[..., 2] = 0.9
    return Crops(
        track_id=np.arange(n, dtype=np.int64) + 7,
        center_px=np.zeros((n, 2)),
        size_px=np.full(n, 200.0),
        landmarks_crop=landmarks,
        landmarks_world_m=rng.normal(0, 0.3, (n, 33, 3)).astype(np.float32),
    )


@pytest.mark.parametrize("features", [3, 6])
def test_argmax_predictions_match_the_model(features: int) -> None:
    torch.manual_seed(0)
    model = Mega(replace(MegaConfig.tiny(), cond_dim=features))
    predictions = MegaPredictor(model).predict(crops(3))
    assert predictions.track_id.tolist() == [7, 8, 9] and predictions.samples is None
    assert predictions.ids.shape == (3, 54) and predictions.confidence.dtype == np.float32
    cond = torch.from_numpy(crops(3).landmarks_crop)
    if features == 6:
        cond = torch.cat([cond, torch.from_numpy(crops(3).landmarks_world_m)], dim=-1)
    tokens, out = model.argmax(cond, batch=3)
    assert np.array_equal(predictions.ids, tokens.ids.numpy())
    assert np.allclose(predictions.confidence, tokens.probability.numpy(), atol=1e-6)  # the cached encoder pass
    assert np.allclose(predictions.camera, out.camera.numpy(), atol=1e-6)  # type: ignore[union-attr]
    assert ((predictions.uncertainty >= 0) & (predictions.uncertainty <= 1)).all()


def test_expected_embeddings_weight_the_codebook_by_token_probabilities() -> None:
    torch.manual_seed(0)
    model = Mega(MegaConfig.tiny())
    codebook = torch.randn(512, 9)
    predictions = MegaPredictor(model, codebook=codebook).predict(crops(2))
    assert predictions.embeddings is not None and predictions.embeddings.shape == (2, 54, 9)
    nothing = torch.zeros(2, 54, dtype=torch.bool)
    with torch.no_grad():
        condition = model.condition(torch.from_numpy(crops(2).landmarks_crop))
        logits = model.logits(nothing.long(), nothing, condition.tokens)
    np.testing.assert_allclose(predictions.embeddings, (logits.softmax(-1) @ codebook).numpy(), atol=1e-5)
    assert MegaPredictor(model).predict(crops(2)).embeddings is None
    assert len(predictions[np.array([False, True])].embeddings) == 1  # type: ignore[arg-type]


def test_samples_are_reproducible_per_predictor() -> None:
    model = Mega(MegaConfig.tiny())
    first = MegaPredictor(model, SamplingConfig(seed=5)).predict(crops(2), num_samples=4)
    again = MegaPredictor(model, SamplingConfig(seed=5)).predict(crops(2), num_samples=4)
    assert first.samples is not None and first.samples.shape == (2, 4, 54)
    assert again.samples is not None and np.array_equal(first.samples, again.samples)
    assert len(first[np.array([True, False])]) == 1


def test_empty_crops_and_wrong_model() -> None:
    predictions = MegaPredictor(Mega(MegaConfig.tiny())).predict(crops(0), num_samples=8)
    assert len(predictions) == 0 and predictions.samples is None
    with pytest.raises(ConfigError, match="landmark-conditioned"):
        MegaPredictor(Mega(replace(MegaConfig.tiny(), cond="none", cond_dim=0, cond_length=0)))
