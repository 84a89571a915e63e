"""Uncertainty-weighted Kalman filtering and RTS smoothing of per-track signals.

What we smooth, and why: the decoded mesh vertices (and so the joints, which are a
linear function of them) in the camera frame, one constant-velocity filter per
coordinate. Vertices are where MEGA's uncertainty lives (metres, per vertex), so the
measurement noise comes straight from the sampled spread (by default one value per frame,
the mean over the vertices: ``SmoothConfig.per_vertex``); they are
linear, so a Kalman filter is exact on them (body parameters and tokens are not); and
fitting body parameters *after* smoothing gives parameters that are smooth too.

A white-noise-acceleration model per coordinate: state (position, velocity), with
independent coordinates, so the D filters run as one batch of closed-form 2x2
updates (no D x D matrices). All functions are pure and batch-first over D.

Shapes: T frames, D coordinates (e.g. V*3). Units: metres, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SmoothConfig:
    """Noise model of the smoother. Each mesh is smoothed as its vertex centroid (where the placement puts it) and
    its shape about that centroid, each with its own process noise; the defaults are the offline (RTS) pass's,
    ``SmoothConfig.live()`` the causal filter's.

    Attributes:
        accel_std_m_s2: std of the unmodelled acceleration (process noise) of the shape about the centroid. Limbs
            reach tens of m/s^2 in sport; lower values smooth harder and lag.
        measurement_floor_m: measurement std of a perfectly confident frame (the model's
            error floor even when all samples agree).
        uncertainty_gain: measurement std = floor + gain * per-coordinate uncertainty (m).
        max_gap_s: longer gaps restart the filter instead of coasting through them.
        per_vertex: weight each vertex by its own uncertainty. Off by default: every vertex of a frame
            then gets the frame's mean vertex uncertainty, so a doubtful frame still moves the track less,
            but the whole mesh is smoothed with one gain. Per-vertex gains smooth the uncertain limbs harder
            than the torso, so they lag behind it and the body's shape drifts (measured in
            models/mega_anny/MODEL_CARD.md, "End to end").
        centroid_accel_std_m_s2: the same for the centroid: a person's whole body accelerates far less than their
            limbs, and the centroid's depth, read from the person's 2-D size, is the noisiest coordinate.
        turn_window_frames: offline, a frame whose torso faces away from the frames within this many frames of it
            is coasted through (:mod:`mocap.smooth.outliers`); live, up to half as many frames turned round from
            the track's last one are, then the track starts afresh. 0 smooths every frame.
        track_size: offline, scale each mesh first to the median of the body sizes its person's frames answered over
            the whole track (:func:`mocap.mesh.size.track_size_scales`), about the camera's centre, so that its image
            stays where it was; the run held each at the running median of the sizes so far. Stores without the
            frames' own sizes (``body_size_m``, written since session 22) keep the sizes they hold.

    The defaults were chosen on 30 validation renders end to end (models/mega_anny/MODEL_CARD.md, "Smoothing, session
    13"): session 5's single setting (accel 6, floor 0.01, gain 1.5 for everything), chosen for MEGA's meshes before
    the lifter fusion, smoothed the fused pose harder than its noise calls for: ~5 mm more MPJPE on validation, 1.6 on
    the held-out test renders.
    """

    accel_std_m_s2: float = 10.0
    measurement_floor_m: float = 0.02
    uncertainty_gain: float = 0.25
    max_gap_s: float = 0.5
    per_vertex: bool = False
    centroid_accel_std_m_s2: float = 2.0
    turn_window_frames: int = 7
    track_size: bool = True

    @classmethod
    def live(cls) -> SmoothConfig:
        """The causal filter's setting: without the future to lean on it smooths the shape harder (less jitter on
        screen for a little lag: process noise 6 instead of 4 gave 1-5 % less MPJPE live for 11-12 % more jitter)."""
        return cls(accel_std_m_s2=4.0, uncertainty_gain=0.5)

    def for_centroid(self) -> SmoothConfig:
        """This setting with the centroid's process noise: what filters the (3,) centroid track."""
        return replace(self, accel_std_m_s2=self.centroid_accel_std_m_s2)


def vertex_weights_m(vertex_uncertainty_m: npt.ArrayLike, config: SmoothConfig) -> Array:
    """The uncertainty (m) each vertex is weighted by: (..., V) -> (..., V).

    Its own (``config.per_vertex``) or the mean over the V vertices of its frame.
    """
    uncertainty = np.asarray(vertex_uncertainty_m, np.float64)
    if config.per_vertex:
        return uncertainty
    return np.broadcast_to(uncertainty.mean(axis=-1, keepdims=True), uncertainty.shape)


def measurement_variance(uncertainty_m: Array, config: SmoothConfig) -> Array:
    """Per-coordinate measurement variance (m^2) from the sampled uncertainty (m), any shape."""
    std = config.measurement_floor_m + config.uncertainty_gain * np.asarray(uncertainty_m, np.float64)
    return std * std


def _process_noise(dt_s: float, accel_std: float) -> tuple[float, float, float]:
    """White-noise-acceleration process noise (q00, q01, q11) of a constant-velocity step of ``dt_s``."""
    a2 = accel_std * accel_std
    return a2 * dt_s**4 / 4, a2 * dt_s**3 / 2, a2 * dt_s**2


@dataclass
class FilterState:
    """Per-coordinate Kalman state, all (D,): position, velocity, and the symmetric covariance
    [[p00, p01], [p01, p11]]. Kept as separate arrays: the 2x2 algebra in closed form is ~20
    vector operations per frame, which filters a whole Anny mesh (41k coordinates) in about a
    millisecond where batched 2x2 matrix products take ten times longer."""

    position: Array
    velocity: Array
    p00: Array
    p01: Array
    p11: Array
    time_s: float

    @classmethod
    def start(cls, position: Array, variance: Array, time_s: float) -> FilterState:
        zeros = np.zeros_like(position, dtype=np.float64)
        # (1 m/s)^2: a person's speed is unknown at the first frame.
        return cls(
            np.asarray(position, np.float64), zeros, np.asarray(variance, np.float64), zeros, zeros + 1.0, time_s
        )


def predict(state: FilterState, time_s: float, config: SmoothConfig) -> FilterState:
    """Propagate every coordinate's state to ``time_s``: x' = F x, P' = F P F^T + Q, F = [[1, dt], [0, 1]]."""
    dt = time_s - state.time_s
    q00, q01, q11 = _process_noise(dt, config.accel_std_m_s2)
    return FilterState(
        position=state.position + dt * state.velocity,
        velocity=state.velocity,
        p00=state.p00 + dt * (2 * state.p01 + dt * state.p11) + q00,
        p01=state.p01 + dt * state.p11 + q01,
        p11=state.p11 + q11,
        time_s=time_s,
    )


def correct(state: FilterState, position: Array, variance: Array) -> FilterState:
    """Fuse a position measurement (D,) with variance (D,): the standard update with H = [1, 0]."""
    innovation = position - state.position  # (D,)
    s = state.p00 + variance  # innovation variance
    k0, k1 = state.p00 / s, state.p01 / s  # Kalman gain
    return FilterState(
        position=state.position + k0 * innovation,
        velocity=state.velocity + k1 * innovation,
        p00=(1 - k0) * state.p00,  # (I - K H) P
        p01=(1 - k0) * state.p01,
        p11=state.p11 - k1 * state.p01,
        time_s=state.time_s,
    )


@dataclass
class ForwardPass:
    """Per-frame predicted and filtered states of one track, and where the filter (re)started."""

    predicted: list[FilterState]
    filtered: list[FilterState]
    restarted: list[bool]


def kalman_forward(
    positions: Array,
    variances: Array,
    times_s: Array,
    config: SmoothConfig,
    breaks: npt.NDArray[np.bool_] | None = None,
) -> ForwardPass:
    """Filter a track: positions (T, D) with NaN rows for missed frames, variances (T, D), times (T,).

    Frames with a NaN measurement coast on the prediction; a gap longer than
    ``max_gap_s`` restarts the filter at the next measurement, and so does a measured frame
    marked in ``breaks`` (T,): nothing before it is averaged with it.
    """
    result = ForwardPass([], [], [])
    state: FilterState | None = None
    last_measured = -np.inf
    for t in range(len(times_s)):
        observed = bool(np.all(np.isfinite(positions[t])))
        broken = breaks is not None and bool(breaks[t])
        restart = state is None or (observed and (times_s[t] - last_measured > config.max_gap_s or broken))
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
    """Rauch-Tung-Striebel backward pass: smoothed positions (T, D) from a forward pass.

    Only the means are smoothed: the gain G = P_f F^T P_pred^-1 needs the forward covariances
    alone, so the smoothed covariances (which nothing downstream reads) are never formed.
    """
    last = forward.filtered[-1]
    position, velocity = last.position, last.velocity
    out = [position]
    for t in range(len(forward.filtered) - 2, -1, -1):
        here, nxt = forward.filtered[t], forward.predicted[t + 1]
        if forward.restarted[t + 1]:
            position, velocity = here.position, here.velocity  # the filter restarted after t: nothing links them
        else:
            dt = nxt.time_s - here.time_s
            a00, a01 = here.p00 + dt * here.p01, here.p01  # A = P_f F^T
            a10, a11 = here.p01 + dt * here.p11, here.p11
            det = nxt.p00 * nxt.p11 - nxt.p01 * nxt.p01
            i00, i01, i11 = nxt.p11 / det, -nxt.p01 / det, nxt.p00 / det  # P_pred^-1
            dp, dv = position - nxt.position, velocity - nxt.velocity
            position = here.position + (a00 * i00 + a01 * i01) * dp + (a00 * i01 + a01 * i11) * dv
            velocity = here.velocity + (a10 * i00 + a11 * i01) * dp + (a10 * i01 + a11 * i11) * dv
        out.append(position)
    return np.stack(out[::-1])


def smooth_track(
    positions: Array,
    uncertainty_m: Array,
    times_s: Array,
    config: SmoothConfig,
    *,
    offline: bool = True,
    breaks: npt.NDArray[np.bool_] | None = None,
) -> Array:
    """Smooth one track's signal: positions (T, D) (NaN rows = missed frames), uncertainty (T, D) metres.

    ``offline=False`` returns the causal (filtered) estimate, as a live capture gets it;
    ``offline=True`` adds the RTS backward pass. Missed frames are filled by the model. The
    filter starts afresh at the (T,) ``breaks``.
    """
    variances = measurement_variance(np.nan_to_num(uncertainty_m, nan=0.0), config)
    forward = kalman_forward(positions, variances, times_s, config, breaks)
    if not offline:
        return np.stack([state.position for state in forward.filtered])
    return rts_smooth(forward)
