"""The adaptive sampling policy: which crops get K samples."""

from __future__ import annotations

import numpy as np

from mocap.mesh.policy import PolicyConfig, crops_to_sample

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


def test_default_threshold_sits_inside_the_shipped_models_range() -> None:
    """The cheap uncertainty of the shipped model spans 0.33-0.52 (5th-95th percentile, validation renders):
    a default outside that range would sample every crop or none (as 0.25 did for versions 2 and 3)."""
    assert 0.33 < PolicyConfig().uncertainty_threshold < 0.52
