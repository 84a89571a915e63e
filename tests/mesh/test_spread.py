"""The spread prior: what an unsampled crop's spread is estimated to be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.errors import CheckpointError
from mocap.mesh.spread import SpreadPrior, fit_spread_prior


def test_fit_recovers_the_line_and_the_relative_pattern() -> None:
    rng = np.random.default_rng(0)
    uncertainty = rng.uniform(0.3, 0.55, 200)
    pattern = np.array([0.5, 1.0, 1.5])  # mean 1: the torso doubts less than the limbs
    mean = -0.03 + 0.2 * uncertainty
    spread = mean[:, None] * pattern * rng.uniform(0.95, 1.05, (200, 3))
    prior = fit_spread_prior(uncertainty, spread)
    assert prior.intercept_m == pytest.approx(-0.03, abs=2e-3) and prior.slope_m == pytest.approx(0.2, abs=5e-3)
    np.testing.assert_allclose(prior.pattern, pattern, atol=0.01)
    assert prior.pattern.mean() == pytest.approx(1.0, abs=1e-6)


def test_estimate_is_the_line_times_the_pattern_and_never_negative() -> None:
    prior = SpreadPrior(-0.03, 0.2, np.array([0.5, 1.5], np.float32))
    estimate = prior.estimate_m(np.array([0.4, 0.1]))
    assert estimate.shape == (2, 2) and estimate.dtype == np.float32
    np.testing.assert_allclose(estimate[0], [0.025, 0.075], rtol=1e-5)
    np.testing.assert_array_equal(estimate[1], [0.0, 0.0])  # 0.1 would give -1 cm
    np.testing.assert_allclose(estimate.mean(axis=1), prior.mean_m([0.4, 0.1]), rtol=1e-5)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    prior = SpreadPrior(-0.0344, 0.2016, np.linspace(0.5, 1.5, 7, dtype=np.float32))
    prior.save(tmp_path / "prior.npz")
    back = SpreadPrior.load(tmp_path / "prior.npz")
    assert (back.intercept_m, back.slope_m) == (prior.intercept_m, prior.slope_m)
    np.testing.assert_allclose(back.pattern, prior.pattern, rtol=1e-3)  # stored as float16


@pytest.mark.parametrize("content", [b"not an npz", None])
def test_a_broken_prior_names_the_fix(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "prior.npz"
    if content is None:
        np.savez(path, format=np.array("something-else"), intercept_m=0.0, slope_m=0.0, pattern=np.ones(3))
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="mocap train spread"):
        SpreadPrior.load(path)


def test_the_shipped_prior_matches_the_shipped_models() -> None:
    """Fitted by `mocap train spread` on validation renders: the estimate over the cheap uncertainty's range there
    (0.33-0.52, 5th-95th percentile) spans the sampled mean spreads measured there (26-88 mm, model card)."""
    from mocap.mesh.models import SPREAD, model_path

    prior = SpreadPrior.load(model_path(SPREAD))
    assert prior.pattern.shape == (13718,) and prior.pattern.min() > 0
    low, high = prior.mean_m([0.33, 0.52])
    assert 0.02 < low < 0.04 and 0.06 < high < 0.08
