"""The adaptive sampling policy: which crops get K samples, and the spread the others are given."""

from __future__ import annotations

import numpy as np

from mocap.mesh.policy import PolicyConfig, crops_to_sample, estimated_spread_m

UNCERTAINTY = np.array([0.30, 0.62, 0.47, 0.50, 0.10])


def test_offline_samples_every_crop_above_the_threshold_most_uncertain_first() -> None:
    rows = crops_to_sample(UNCERTAINTY, PolicyConfig(mode="offline", uncertainty_threshold=0.45))
    np.testing.assert_array_equal(rows, [1, 3, 2])


def test_quality_samples_every_crop_and_no_samples_means_none() -> None:
    np.testing.assert_array_equal(crops_to_sample(UNCERTAINTY, PolicyConfig(mode="quality")), [1, 3, 2, 0, 4])
    assert len(crops_to_sample(UNCERTAINTY, PolicyConfig(mode="quality", num_samples=0))) == 0


def test_live_samples_only_what_the_frame_budget_affords() -> None:
    config = PolicyConfig(mode="live", uncertainty_threshold=0.2)
    rows = crops_to_sample(UNCERTAINTY, config, seconds_left=0.025, seconds_per_sampled_crop=0.01)
    np.testing.assert_array_equal(rows, [1, 3])
    assert len(crops_to_sample(UNCERTAINTY, config, seconds_left=-0.01, seconds_per_sampled_crop=0.01)) == 0


def test_estimated_spread_follows_the_fitted_line_and_is_never_negative() -> None:
    config = PolicyConfig(spread_intercept_m=-0.03, spread_slope_m=0.2)
    spread = estimated_spread_m(UNCERTAINTY, config)
    assert spread.dtype == np.float32 and spread.shape == (5,)
    np.testing.assert_allclose(spread[:4], -0.03 + 0.2 * UNCERTAINTY[:4], rtol=1e-6)
    assert spread[4] == 0.0  # 0.10 would give -1 cm
    assert np.all(np.diff(spread[np.argsort(UNCERTAINTY)]) >= 0), "more doubt, more spread"


def test_default_threshold_sits_inside_the_shipped_models_range() -> None:
    """The cheap uncertainty of the shipped model spans 0.33-0.52 (5th-95th percentile, validation renders):
    a default outside that range would sample every crop or none (as 0.25 did for versions 2 and 3)."""
    config = PolicyConfig()
    assert 0.33 < config.uncertainty_threshold < 0.52
    # The estimate at that range's ends brackets the sampled spreads measured there (26-88 mm).
    low, high = estimated_spread_m(np.array([0.33, 0.52]), config)
    assert 0.02 < low < 0.04 and 0.06 < high < 0.08
