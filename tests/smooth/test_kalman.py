from __future__ import annotations

import numpy as np
import pytest

from mocap.smooth.kalman import (
    FilterState,
    SmoothConfig,
    correct,
    measurement_variance,
    predict,
    smooth_track,
    vertex_weights_m,
)

CONFIG = SmoothConfig()


def test_update_matches_hand_computed_scalar_kalman() -> None:
    # Prior: position 0 (var 1), velocity 0 (var 1); measurement 2 with variance 1.
    one, zero = np.ones(1), np.zeros(1)
    state = FilterState(position=zero, velocity=zero, p00=one, p01=zero, p11=one, time_s=0.0)
    out = correct(state, np.array([2.0]), np.array([1.0]))
    # gain = P[:,0] / (P00 + R) = (1, 0) / 2 -> position 1, variance 0.5, velocity untouched.
    assert np.allclose(np.concatenate([out.position, out.velocity]), [1.0, 0.0])
    assert np.allclose(np.concatenate([out.p00, out.p01, out.p11]), [0.5, 0.0, 1.0])


def test_predict_moves_by_velocity_and_grows_uncertainty() -> None:
    zero = np.zeros(1)
    state = FilterState(position=np.ones(1), velocity=np.full(1, 2.0), p00=zero, p01=zero, p11=zero, time_s=0.0)
    out = predict(state, 0.5, SmoothConfig(accel_std_m_s2=2.0))
    assert np.allclose(np.concatenate([out.position, out.velocity]), [2.0, 2.0])
    # Q = a^2 [[dt^4/4, dt^3/2], [dt^3/2, dt^2]] with a = 2, dt = 0.5.
    assert np.allclose(np.concatenate([out.p00, out.p01, out.p11]), 4 * np.array([0.015625, 0.0625, 0.25]))


def test_constant_velocity_signal_passes_unchanged() -> None:
    t = np.arange(30) / 30.0
    line = np.stack([0.5 * t, -0.2 * t + 1.0], axis=1)  # (T, 2) metres
    for offline in (False, True):
        out = smooth_track(line, np.zeros_like(line), t, CONFIG, offline=offline)
        # offline 0.1 mm (the first frame's velocity prior); the causal filter needs a few frames to learn the velocity
        tolerance = 1e-4 if offline else 0.02
        assert np.abs(out[10:] - line[10:]).max() < tolerance


def _noisy_walk(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(90) / 30.0
    truth = np.stack([np.sin(2 * t), 0.3 * np.cos(3 * t)], axis=1)
    return t, truth, truth + rng.normal(0, 0.02, truth.shape)


def _accel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.diff(a, 2, axis=0) - np.diff(b, 2, axis=0)).mean())


def test_smoothing_reduces_error_and_jitter() -> None:
    t, truth, noisy = _noisy_walk(0)
    unc = np.full_like(noisy, 0.02)
    live = smooth_track(noisy, unc, t, CONFIG, offline=False)
    offline = smooth_track(noisy, unc, t, CONFIG, offline=True)
    raw_err = np.abs(noisy - truth).mean()
    assert np.abs(offline - truth).mean() < np.abs(live - truth).mean() < raw_err
    assert _accel_error(offline, truth) < 0.25 * _accel_error(noisy, truth)


def test_uncertain_frames_pull_less() -> None:
    t, truth, _ = _noisy_walk(1)
    measured = truth.copy()
    measured[45] += 0.3  # one wild frame
    flat = smooth_track(measured, np.zeros_like(measured), t, CONFIG)
    flagged_unc = np.zeros_like(measured)
    flagged_unc[45] = 0.3  # ... that the sampler flagged as doubtful
    flagged = smooth_track(measured, flagged_unc, t, CONFIG)
    assert np.abs(flagged[45] - truth[45]).max() < 0.3 * np.abs(flat[45] - truth[45]).max()


def test_coasts_through_short_gaps_and_restarts_after_long_ones() -> None:
    t, truth, _ = _noisy_walk(2)
    measured = truth.copy()
    measured[40:46] = np.nan  # 0.2 s occlusion: coast
    out = smooth_track(measured, np.zeros_like(measured), t, CONFIG)
    assert np.isfinite(out).all() and np.abs(out[40:46] - truth[40:46]).max() < 0.05
    jump = truth.copy()
    jump[60:] += 1.0  # reappears far away after a long gap: no smoothing across it
    jump[30:60] = np.nan
    out = smooth_track(jump, np.zeros_like(jump), t, CONFIG)
    after = smooth_track(jump[60:], np.zeros_like(jump[60:]), t[60:], CONFIG)
    before = smooth_track(jump[:30], np.zeros_like(jump[:30]), t[:30], CONFIG)
    assert np.allclose(out[60:], after) and np.allclose(out[:30], before)


def test_measurement_variance_and_bad_start() -> None:
    assert np.isclose(measurement_variance(np.array([0.02]), SmoothConfig(0, 0.01, 1.5, 1))[0], 0.04**2)
    with pytest.raises(ValueError, match="must start with a measurement"):
        smooth_track(np.full((3, 1), np.nan), np.zeros((3, 1)), np.arange(3.0), CONFIG)


def test_vertex_weights_are_the_frame_mean_unless_per_vertex() -> None:
    uncertainty = np.array([[0.0, 0.02, 0.04], [0.01, 0.01, 0.01]])  # (T=2, V=3)
    np.testing.assert_allclose(vertex_weights_m(uncertainty, CONFIG), [[0.02] * 3, [0.01] * 3])
    np.testing.assert_allclose(vertex_weights_m(uncertainty, SmoothConfig(per_vertex=True)), uncertainty)
