from __future__ import annotations

import numpy as np
import pytest

from mocap.track.kalman_box import (
    BoxKalmanFilter,
    cxcywh_to_xyxy,
    initial_state_cov,
    measurement_noise_cov,
    process_noise_cov,
    xyxy_to_cxcywh,
)


def test_box_conversions_by_hand() -> None:
    np.testing.assert_array_equal(xyxy_to_cxcywh([10, 20, 30, 60]), [20, 40, 20, 40])
    np.testing.assert_array_equal(cxcywh_to_xyxy([20, 40, 20, 40]), [10, 20, 30, 60])


def test_box_conversions_are_batch_first_and_inverse() -> None:
    xyxy = np.random.default_rng(0).uniform(0, 100, (2, 5, 4))
    xyxy[..., 2:] += xyxy[..., :2]
    cxcywh = xyxy_to_cxcywh(xyxy)
    assert cxcywh.shape == (2, 5, 4)
    np.testing.assert_allclose(cxcywh_to_xyxy(cxcywh), xyxy)


def test_noise_scales_with_box_size() -> None:
    # Stds are 1/20 of the size for positions and 1/160 for velocities (x-like: width, y-like: height).
    np.testing.assert_allclose(
        np.diag(process_noise_cov([100, 200])), [25, 100, 25, 100, 0.390625, 1.5625, 0.390625, 1.5625]
    )
    np.testing.assert_allclose(np.diag(measurement_noise_cov([100, 200])), [25, 100, 25, 100])
    np.testing.assert_allclose(
        np.diag(initial_state_cov([100, 200])), [100, 400, 100, 400, 39.0625, 156.25, 39.0625, 156.25]
    )


def test_first_update_matches_the_kalman_equations_by_hand() -> None:
    kf = BoxKalmanFilter([0, 0, 100, 200])  # cx=50, cy=100, w=100, h=200, at rest
    kf.predict()
    # Prior variance of cx: P0 (10^2) + P0 of vcx (6.25^2) carried by F + Q (5^2) = 164.0625.
    kf.update([10, 0, 110, 200])  # cx measured at 60, R = 5^2 = 25
    gain = 164.0625 / (164.0625 + 25)
    velocity_gain = 39.0625 / (164.0625 + 25)  # cov(vcx, cx) / S
    np.testing.assert_allclose(kf.cxcywh_px, [50 + 10 * gain, 100, 100, 200])
    np.testing.assert_allclose(kf.velocity_px_per_frame, [10 * velocity_gain, 0, 0, 0])


def test_constant_velocity_is_learned_and_extrapolated() -> None:
    kf = BoxKalmanFilter([0, 0, 50, 150])
    for t in range(1, 60):
        kf.predict()
        kf.update([4 * t, 0, 50 + 4 * t, 150])
    np.testing.assert_allclose(kf.velocity_px_per_frame, [4, 0, 0, 0], atol=0.05)
    kf.predict(10)
    np.testing.assert_allclose(kf.xyxy_px, [4 * 69, 0, 50 + 4 * 69, 150], atol=1.0)


def test_predict_steps_equals_repeated_single_steps() -> None:
    a, b = BoxKalmanFilter([0, 0, 50, 150]), BoxKalmanFilter([0, 0, 50, 150])
    for kf in (a, b):
        kf.predict()
        kf.update([5, 2, 57, 150])
    a.predict(3)
    for _ in range(3):
        b.predict()
    np.testing.assert_allclose(a.xyxy_px, b.xyxy_px)


@pytest.mark.parametrize("scale", [0.1, 10.0])
def test_filter_is_resolution_independent(scale: float) -> None:
    # Noise proportional to box size: the same scene at another resolution gives the same track, scaled.
    rng = np.random.default_rng(1)
    boxes = np.array([200, 100, 300, 400]) + np.cumsum(rng.normal(0, 3, (30, 4)), axis=0)
    small, large = BoxKalmanFilter(boxes[0]), BoxKalmanFilter(boxes[0] * scale)
    for box in boxes[1:]:
        for kf, s in ((small, 1.0), (large, scale)):
            kf.predict()
            kf.update(box * s)
    np.testing.assert_allclose(large.xyxy_px, small.xyxy_px * scale, rtol=1e-9)


def test_shrinking_box_stops_at_one_pixel() -> None:
    kf = BoxKalmanFilter([0, 0, 40, 40])
    for t in range(1, 8):
        kf.predict()
        kf.update([0, 0, 40 - 5 * t, 40 - 5 * t])
    kf.predict(30)  # coasting: w and h would go far below zero
    w, h = kf.cxcywh_px[2:]
    assert w == pytest.approx(1.0) and h == pytest.approx(1.0)
    assert kf.velocity_px_per_frame[2:].tolist() == [0.0, 0.0]
