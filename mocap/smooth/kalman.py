"""Uncertainty-weighted Kalman filtering and RTS smoothing of per-track signals.

What we smooth, and why: the decoded mesh vertices (and so the joints, which are a
linear function of them) in the camera frame, one constant-velocity filter per
coordinate. Vertices are where MEGA's uncertainty lives (metres, per vertex), so the
measurement noise of every coordinate comes straight from the sampled spread; they are
linear, so a Kalman filter is exact on them (body parameters and tokens are not); and
fitting body parameters *after* smoothing gives parameters that are smooth too.

A white-noise-acceleration model per coordinate: state (position, velocity), with
independent coordinates, so the D filters run as one batch of closed-form 2x2
updates (no D x D matrices). All functions are pure and batch-first over D.

Shapes: T frames, D coordinates (e.g. V*3). Units: metres, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SmoothConfig:
    """Noise model of the smoother.

    Attributes:
        accel_std_m_s2: std of the unmodelled acceleration (process noise). People move
            their limbs at up to ~10 m/s^2 in ordinary motion; lower values smooth harder.
        measurement_floor_m: measurement std of a perfectly confident frame (the model's
            error floor even when all samples agree).
        uncertainty_gain: measurement std = floor + gain * per-coordinate uncertainty (m).
        max_gap_s: longer gaps restart the filter instead of coasting through them.
    """

    accel_std_m_s2: float = 6.0
    measurement_floor_m: float = 0.01
    uncertainty_gain: float = 1.5
    max_gap_s: float = 0.5


def measurement_variance(uncertainty_m: Array, config: SmoothConfig) -> Array:
    """Per-coordinate measurement variance (m^2) from the sampled uncertainty (m), any shape."""
    std = config.measurement_floor_m + config.uncertainty_gain * np.asarray(uncertainty_m, np.float64)
    return std * std


def _transition(dt_s: float, accel_std: float) -> tuple[Array, Array]:
    """Constant-velocity transition F (2,2) and white-noise-acceleration process noise Q (2,2)."""
    f = np.array([[1.0, dt_s], [0.0, 1.0]])
    q = accel_std**2 * np.array([[dt_s**4 / 4, dt_s**3 / 2], [dt_s**3 / 2, dt_s**2]])
    return f, q


@dataclass
class FilterState:
    """Per-coordinate Kalman state: mean (D, 2) = (position, velocity), covariance (D, 2, 2)."""

    mean: Array
    cov: Array
    time_s: float

    @classmethod
    def start(cls, position: Array, variance: Array, time_s: float) -> FilterState:
        d = position.shape[0]
        mean = np.zeros((d, 2))
        mean[:, 0] = position
        cov = np.zeros((d, 2, 2))
        cov[:, 0, 0] = variance
        cov[:, 1, 1] = 1.0  # (1 m/s)^2: a person's speed is unknown at the first frame
        return cls(mean, cov, time_s)


def predict(state: FilterState, time_s: float, config: SmoothConfig) -> FilterState:
    """Propagate every coordinate's state to ``time_s``."""
    f, q = _transition(time_s - state.time_s, config.accel_std_m_s2)
    mean = state.mean @ f.T  # (D, 2)
    cov = f @ state.cov @ f.T + q  # (D, 2, 2)
    return FilterState(mean, cov, time_s)


def correct(state: FilterState, position: Array, variance: Array) -> FilterState:
    """Fuse a position measurement (D,) with variance (D,): the standard update with H = [1, 0]."""
    innovation = position - state.mean[:, 0]  # (D,)
    s = state.cov[:, 0, 0] + variance  # (D,) innovation variance
    gain = state.cov[:, :, 0] / s[:, None]  # (D, 2)
    mean = state.mean + gain * innovation[:, None]
    cov = state.cov - gain[:, :, None] * state.cov[:, None, 0, :]  # (I - K H) P
    return FilterState(mean, cov, state.time_s)


@dataclass
class ForwardPass:
    """Per-frame predicted and filtered states of one track, and where the filter (re)started."""

    predicted: list[FilterState]
    filtered: list[FilterState]
    restarted: list[bool]


def kalman_forward(positions: Array, variances: Array, times_s: Array, config: SmoothConfig) -> ForwardPass:
    """Filter a track: positions (T, D) with NaN rows for missed frames, variances (T, D), times (T,).

    Frames with a NaN measurement coast on the prediction; a gap longer than
    ``max_gap_s`` restarts the filter at the next measurement.
    """
    result = ForwardPass([], [], [])
    state: FilterState | None = None
    last_measured = -np.inf
    for t in range(len(times_s)):
        observed = bool(np.all(np.isfinite(positions[t])))
        restart = state is None or (observed and times_s[t] - last_measured > config.max_gap_s)
        if restart:
            if not observed:
                raise ValueError(f"frame {t}: a track must start with a measurement (got NaN)")
            state = prior = FilterState.start(positions[t], variances[t], float(times_s[t]))
        else:
            assert state is not None
            prior = predict(state, float(times_s[t]), config)
            state = correct(prior, positions[t], variances[t]) if observed else prior
        if observed:
            last_measured = float(times_s[t])
        result.predicted.append(prior)
        result.filtered.append(state)
        result.restarted.append(restart)
    return result


def rts_smooth(forward: ForwardPass) -> Array:
    """Rauch-Tung-Striebel backward pass: smoothed positions (T, D) from a forward pass."""
    mean, cov = forward.filtered[-1].mean, forward.filtered[-1].cov
    out = [mean[:, 0]]
    for t in range(len(forward.filtered) - 2, -1, -1):
        here, nxt = forward.filtered[t], forward.predicted[t + 1]
        if forward.restarted[t + 1]:
            mean, cov = here.mean, here.cov  # the filter restarted after t: nothing links them
        else:
            f, _ = _transition(nxt.time_s - here.time_s, 0.0)
            gain = here.cov @ f.T @ np.linalg.inv(nxt.cov)  # (D, 2, 2)
            mean = here.mean + np.einsum("dij,dj->di", gain, mean - nxt.mean)
            cov = here.cov + gain @ (cov - nxt.cov) @ np.swapaxes(gain, 1, 2)
        out.append(mean[:, 0])
    return np.stack(out[::-1])


def smooth_track(
    positions: Array, uncertainty_m: Array, times_s: Array, config: SmoothConfig, *, offline: bool = True
) -> Array:
    """Smooth one track's signal: positions (T, D) (NaN rows = missed frames), uncertainty (T, D) metres.

    ``offline=False`` returns the causal (filtered) estimate, as a live capture gets it;
    ``offline=True`` adds the RTS backward pass. Missed frames are filled by the model.
    """
    variances = measurement_variance(np.nan_to_num(uncertainty_m, nan=0.0), config)
    forward = kalman_forward(positions, variances, times_s, config)
    if not offline:
        return np.stack([state.mean[:, 0] for state in forward.filtered])
    return rts_smooth(forward)
