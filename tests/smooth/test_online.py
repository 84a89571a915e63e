from __future__ import annotations

from dataclasses import replace

import numpy as np

from mocap.smooth.kalman import SmoothConfig
from mocap.smooth.online import OnlineSmoother
from tests.smooth.test_offline import OFFSET_M, _rigid_swing, _swinging_arm_on_a_jittery_placement
from tests.smooth.test_outliers import facing_joints, swapped


def test_online_smoothing_keeps_the_body_rigid_and_follows_the_motion() -> None:
    """The mesh is filtered as its centroid and its shape about it, so a body that moves rigidly stays rigid, even
    with per-vertex gains (which the offline filter of the vertices themselves does not promise, test_offline)."""
    vertices, uncertainty, frames = _rigid_swing()
    for config in (SmoothConfig(), SmoothConfig(per_vertex=True)):
        smoother = OnlineSmoother(config)
        out = np.stack(
            [smoother.update(np.array([1]), vertices[i : i + 1], uncertainty[i : i + 1], i / 30.0)[0] for i in frames]
        )
        assert np.abs(out[:, 1] - out[:, 0] - OFFSET_M).max() < 1e-5
        assert np.abs(out[-1] - vertices[-1]).max() < 0.1  # it follows, with a causal lag


def test_tracks_are_filtered_apart_and_restart_after_a_long_gap() -> None:
    smoother = OnlineSmoother(SmoothConfig(max_gap_s=0.5))
    still = np.zeros((2, 1, 3))
    still[1] += 1.0
    smoother.update(np.array([1, 2]), still, np.zeros((2, 1)), 0.0)
    moved = still + 0.5
    out = smoother.update(np.array([1, 2]), moved, np.zeros((2, 1)), 1 / 30)
    assert np.all(out < moved) and np.all(out > still)  # pulled toward the new measurement, not onto it
    assert out[1, 0, 0] > out[0, 0, 0] + 0.9  # track 2 is not averaged with track 1
    restarted = smoother.update(np.array([1]), moved[:1], np.zeros((1, 1)), 2.0)  # 2 s later: a new track
    np.testing.assert_allclose(restarted, moved[:1])


def test_a_loosely_placed_depth_is_smoothed_harder_than_the_rest() -> None:
    """A still body whose placement jitters in depth by ~10 cm (and x, y by 1 cm): with the placement's variance the
    smoothed depth jitters less, x and y as before, and the shape is exactly the one filtered without it."""
    rng = np.random.default_rng(0)
    body = rng.normal(0, 0.3, (1, 50, 3))
    jitter = rng.normal(0, [0.01, 0.01, 0.1], (90, 1, 1, 3))
    frames = body[None] + jitter + np.array([0.0, 0.0, 4.0])  # (90, 1, 50, 3)
    uncertainty = np.full((1, 50), 0.02)
    variance = np.array([[0.01**2, 0.01**2, 0.1**2]])
    plain, placed = OnlineSmoother(), OnlineSmoother()
    a = np.stack([plain.update(np.array([1]), frames[i], uncertainty, i / 30)[0] for i in range(90)])
    b = np.stack([placed.update(np.array([1]), frames[i], uncertainty, i / 30, variance)[0] for i in range(90)])

    def wobble(out: np.ndarray) -> np.ndarray:
        return np.diff(out[30:].mean(axis=1), axis=0).std(axis=0)  # (3,) frame-to-frame, after settling

    assert wobble(b)[2] < 0.8 * wobble(a)[2]
    np.testing.assert_allclose(wobble(b)[:2], wobble(a)[:2], rtol=0.35)
    np.testing.assert_allclose(b - b.mean(axis=1, keepdims=True), a - a.mean(axis=1, keepdims=True), atol=1e-5)


def test_live_steadies_the_placement_with_its_own_process_noise() -> None:
    """The live setting's centroid has its own, lower process noise: the placement's depth jitter is smoothed more
    than with the shape's setting for both, and the shape is the same either way."""
    truth, seen = _swinging_arm_on_a_jittery_placement()
    live = SmoothConfig.live()
    one_setting = replace(live, centroid_accel_std_m_s2=live.accel_std_m_s2)
    runs = []
    for config in (live, one_setting):
        smoother = OnlineSmoother(config)
        still = np.zeros((1, seen.shape[1]))
        runs.append(np.stack([smoother.update(np.array([1]), seen[i : i + 1], still, i / 30)[0] for i in range(90)]))

    def depth_error(x: np.ndarray) -> float:
        return float(np.abs(x.mean(1)[10:, 2] - truth.mean(1)[10:, 2]).mean())  # after the first frames

    assert live.centroid_accel_std_m_s2 < live.accel_std_m_s2
    assert depth_error(runs[0]) < 0.95 * depth_error(runs[1])  # 2 vs 4 m/s^2: ~11 % steadier, causally
    assert depth_error(runs[0]) < 0.75 * depth_error(seen)
    np.testing.assert_allclose(
        runs[0] - runs[0].mean(1, keepdims=True), runs[1] - runs[1].mean(1, keepdims=True), atol=1e-5
    )


def test_a_body_misread_as_turned_round_is_coasted_through_and_a_lasting_turn_restarts_the_track() -> None:
    """A still body read half a turn round (its mesh mirrored, its joints' left and right exchanged) on one frame,
    then from frame 14 on. Given the joints, the filter coasts through the lone frame (the body stays itself) and
    through the first 3 of the lasting run, then starts afresh on it; without them the first misreading is
    averaged in and pulls the next frames toward its twin."""
    rng = np.random.default_rng(0)
    body = rng.normal(0, 0.3, (1, 50, 3)) + np.array([0.0, 0.0, 3.0])
    twin = body * np.array([-1.0, 1.0, 1.0])
    joints = facing_joints(np.zeros(24))
    uncertainty = np.full((1, 50), 0.02)
    misread = [10, *range(14, 24)]
    guarded, plain = OnlineSmoother(), OnlineSmoother()
    out_guarded, out_plain = [], []
    for i in range(24):
        mesh, frame_joints = (twin, swapped(joints, [i])) if i in misread else (body, joints)
        out_guarded.append(guarded.update(np.array([1]), mesh, uncertainty, i / 30, None, frame_joints[i : i + 1])[0])
        out_plain.append(plain.update(np.array([1]), mesh, uncertainty, i / 30)[0])
    np.testing.assert_allclose(np.stack(out_guarded[:17]), np.broadcast_to(body, (17, 50, 3)), atol=1e-6)
    np.testing.assert_allclose(np.stack(out_guarded[17:]), np.broadcast_to(twin, (7, 50, 3)), atol=1e-6)
    assert np.abs(out_plain[11] - body[0]).mean() > 0.02
