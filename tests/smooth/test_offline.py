from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mocap.body.landmarks import regress_landmarks
from mocap.io.store import StoreWriter, open_store
from mocap.mesh.size import skeleton_size_m
from mocap.smooth.kalman import SmoothConfig
from mocap.smooth.offline import smooth_sequence, smooth_store
from mocap.types import FrameResult, Tracks, TrackState

V = 13718  # Anny's vertex count: the landmark regressor expects it
OFFSET_M = np.array([0.3, 0.0, 0.0])  # the second vertex of _rigid_swing, from the first


def _tracks(track_id: int) -> Tracks:
    return Tracks(
        track_id=np.array([track_id]),
        state=np.array([TrackState.CONFIRMED], np.int8),
        age=np.array([1], np.int32),
        detection_index=np.array([0]),
        xyxy_px=np.zeros((1, 4), np.float32),
        score=np.ones(1, np.float32),
        landmarks_px=np.zeros((1, 33, 3), np.float32),
        landmarks_world_m=np.zeros((1, 33, 3), np.float32),
    )


def test_smooth_sequence_removes_noise_and_fills_nothing_extra() -> None:
    rng = np.random.default_rng(0)
    frames = np.array([0, 1, 2, 3, 6, 7, 8, 9, 10, 11])  # a 2-frame occlusion
    t = frames / 30.0
    truth = np.stack([np.sin(t), np.cos(t), t], axis=-1)[:, None, :].repeat(5, axis=1)  # (n, 5, 3)
    noisy = truth + rng.normal(0, 0.01, truth.shape)
    out = smooth_sequence(noisy, np.zeros(noisy.shape[:2]), frames, 30.0, SmoothConfig(), block=4)
    assert out.shape == noisy.shape
    assert np.abs(out - truth).mean() < np.abs(noisy - truth).mean()


def _rigid_swing(frames: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two vertices 30 cm apart that swing together (a jerky path), the second one doubtful.

    Returns vertices (T, 2, 3) m, uncertainty (T, 2) m, frame index (T,).
    """
    t = np.arange(frames) / 30.0
    path = np.stack([0.3 * np.sign(np.sin(6 * t)) * np.sin(6 * t) ** 2, np.zeros_like(t), 3 + t], axis=-1)
    vertices = np.stack([path, path + OFFSET_M], axis=1)
    uncertainty = np.tile([0.0, 0.06], (frames, 1))
    return vertices, uncertainty, np.arange(frames)


def test_a_rigid_motion_stays_rigid() -> None:
    """The mesh is smoothed as its centroid and its shape about it: a body that moves rigidly keeps its shape, with one
    gain per frame and even with per-vertex gains (which, on the vertices themselves, let the doubtful one lag)."""
    vertices, uncertainty, frames = _rigid_swing()
    offset = lambda out: np.abs(out[:, 1] - out[:, 0] - OFFSET_M).max()  # noqa: E731
    for config in (SmoothConfig(), SmoothConfig(per_vertex=True), SmoothConfig(accel_std_m_s2=6.0, per_vertex=True)):
        assert offset(smooth_sequence(vertices, uncertainty, frames, 30.0, config)) < 1e-5


def _swinging_arm_on_a_jittery_placement(frames: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """A still torso vertex and a hand swinging 40 cm at 1.5 Hz (peak 36 m/s^2), the whole body placed with 5 cm of
    depth jitter. Returns the truth and the measurement, (T, 2, 3) m each."""
    t = np.arange(frames) / 30.0
    hand = np.stack([0.4 * np.sin(2 * np.pi * 1.5 * t), np.zeros_like(t), np.zeros_like(t)], axis=-1)
    truth = np.stack([np.zeros_like(hand), hand], axis=1) + np.array([0.0, 0.0, 4.0])
    depth = np.random.default_rng(0).normal(0, 0.05, frames)
    return truth, truth + np.stack([np.zeros(frames), np.zeros(frames), depth], axis=-1)[:, None]


def test_the_limbs_follow_while_the_placement_is_steadied() -> None:
    """The shape about the centroid and the centroid have their own process noise: the swinging hand is followed
    closely, and the placement's depth jitter is smoothed more than the hand's own setting would smooth it."""
    truth, seen = _swinging_arm_on_a_jittery_placement()
    frames, still = np.arange(len(seen)), np.zeros(seen.shape[:2])
    config = SmoothConfig()
    out = smooth_sequence(seen, still, frames, 30.0, config)
    one_setting = smooth_sequence(seen, still, frames, 30.0, replace(config, centroid_accel_std_m_s2=15.0))

    def shape_error(x: np.ndarray) -> float:
        return float(np.abs((x - x.mean(1, keepdims=True)) - (truth - truth.mean(1, keepdims=True))).mean())

    def depth_error(x: np.ndarray) -> float:
        return float(np.abs(x.mean(1)[:, 2] - truth.mean(1)[:, 2]).mean())

    assert shape_error(out) < 0.01  # metres: the hand is not dragged behind by the body's smoothing
    assert depth_error(out) < 0.75 * depth_error(one_setting) < 0.75 * depth_error(seen)


def test_smooth_store_replaces_the_smoothed_fields(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "run.zarr"
    base = rng.normal(0, 0.3, (V, 3)).astype(np.float32)
    with StoreWriter(path, attrs={"fps": 30.0}) as writer:
        for i in range(6):
            vertices = (base + rng.normal(0, 0.01, base.shape))[None].astype(np.float16)
            fields = {
                "vertices_cam_m": vertices,
                "vertex_uncertainty_m": np.zeros((1, V), np.float16),
                "vertices_smoothed_cam_m": vertices,
                "joints_smoothed_cam_m": np.zeros((1, 33, 3), np.float32),
            }
            writer.write(FrameResult(i, i / 30, (640, 480), _tracks(1), fields))
    assert smooth_store(path) == 1
    track = open_store(path).track(1)
    raw, smoothed = track["vertices_cam_m"].astype(np.float32), track["vertices_smoothed_cam_m"].astype(np.float32)
    assert np.abs(smoothed - base).mean() < np.abs(raw - base).mean()
    assert np.abs(track["joints_smoothed_cam_m"]).sum() > 0, "joints are regressed from the smoothed mesh"


def _store_of_sizes(path: Path, held: np.ndarray, own: np.ndarray | None) -> np.ndarray:
    """A store of one track: a still body at ~3 m written at sizes ``held`` (about the camera's centre), with the
    frames' own sizes ``own`` (both as factors of the body's); returns the body's vertices (V, 3)."""
    rng = np.random.default_rng(3)
    base = (rng.normal(0, 0.3, (V, 3)) + np.array([0.2, -0.1, 3.0])).astype(np.float32)
    size = skeleton_size_m(regress_landmarks(torch.from_numpy(base[None])).numpy())[0]
    with StoreWriter(path, attrs={"fps": 30.0}) as writer:
        for i, factor in enumerate(held):
            vertices = (factor * base)[None]
            fields = {
                "vertices_cam_m": vertices.astype(np.float16),
                "vertex_uncertainty_m": np.zeros((1, V), np.float16),
                "joints_cam_m": regress_landmarks(torch.from_numpy(vertices)).numpy(),
            }
            if own is not None:
                fields["body_size_m"] = np.array([own[i] * size], np.float32)
            writer.write(FrameResult(i, i / 30, (640, 480), _tracks(1), fields))
    return base


def test_the_offline_pass_scales_each_track_to_its_median_size_in_place(tmp_path: Path) -> None:
    held = np.array([1.0, 1.0, 1.02, 1.04, 1.05, 1.06, 1.06, 1.06])  # the running median, settling
    own = np.array([1.0, 1.1, 1.1, 1.12, 1.08, 1.1, 1.09, 1.11])  # the frames' answers: median 1.1
    base = _store_of_sizes(tmp_path / "run.zarr", held, own)
    smooth_store(tmp_path / "run.zarr", SmoothConfig(turn_window_frames=0))
    smoothed = open_store(tmp_path / "run.zarr").track(1)["vertices_smoothed_cam_m"].astype(np.float64)
    np.testing.assert_allclose(smoothed, np.broadcast_to(1.1 * base, smoothed.shape), atol=0.01)
    image = smoothed[..., :2] / smoothed[..., 2:]  # the camera sees the same picture: only depth and size moved
    np.testing.assert_allclose(image, np.broadcast_to(base[:, :2] / base[:, 2:], image.shape), atol=0.003)


def test_stores_without_the_frames_sizes_keep_theirs(tmp_path: Path) -> None:
    held = np.array([1.0, 1.0, 1.02, 1.04, 1.05, 1.06])
    for name, config in (("old.zarr", SmoothConfig()), ("off.zarr", SmoothConfig(track_size=False))):
        _store_of_sizes(tmp_path / name, held, None if name == "old.zarr" else held + 0.1)
        smooth_store(tmp_path / name, replace(config, turn_window_frames=0))
    old, off = (open_store(tmp_path / n).track(1)["vertices_smoothed_cam_m"] for n in ("old.zarr", "off.zarr"))
    np.testing.assert_array_equal(old, off)
