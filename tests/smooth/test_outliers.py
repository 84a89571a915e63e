from __future__ import annotations

from pathlib import Path

import numpy as np

from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.io.store import StoreWriter, open_store
from mocap.smooth.kalman import SmoothConfig, smooth_track
from mocap.smooth.offline import smooth_store
from mocap.smooth.outliers import torso_normals, turn_breaks, turned_frames
from mocap.types import FrameResult
from tests.smooth.test_offline import V, _tracks


def facing_joints(yaw_deg: np.ndarray) -> np.ndarray:
    """(n, 33, 3) camera-frame joints of a standing torso 3 m away turned ``yaw_deg`` (n,) about the vertical from
    facing the camera (0: its front towards the camera, -z). Only shoulders and hips are set."""
    joints = np.zeros((len(yaw_deg), 33, 3))
    body = {11: (0.2, -0.5, 0.0), 12: (-0.2, -0.5, 0.0), 23: (0.1, 0.0, 0.0), 24: (-0.1, 0.0, 0.0)}  # +x: its left
    yaw = np.radians(yaw_deg)
    for index, (x, y, z) in body.items():
        joints[:, index] = np.stack([x * np.cos(yaw) + z * np.sin(yaw), np.full_like(yaw, y), 3.0 - x * np.sin(yaw)], 1)
    return joints


def swapped(joints: np.ndarray, frames: list[int]) -> np.ndarray:
    """The joints with left and right exchanged on ``frames``: the body read as turned half a turn."""
    out = joints.copy()
    out[frames] = out[frames][:, LANDMARK_MIRROR]
    return out


def test_a_body_facing_the_camera_has_its_normal_towards_it() -> None:
    # turned 90 degrees, its left shoulder towards the camera: it faces the camera's left (-x)
    np.testing.assert_allclose(torso_normals(facing_joints(np.array([0.0, 90.0]))), [[0, 0, -1], [-1, 0, 0]], atol=1e-9)


def test_a_few_turned_frames_are_found_and_nothing_else() -> None:
    joints = swapped(facing_joints(np.full(40, 10.0)), [0, 12, 25, 26])
    turned = turned_frames(joints, np.arange(40))
    assert np.flatnonzero(turned).tolist() == [12, 25, 26]  # the first frame is kept: the smoother starts on it


def test_real_turns_lose_no_frame() -> None:
    for yaw in (np.linspace(0, 360, 60), np.r_[np.zeros(20), np.linspace(0, 180, 7), np.full(20, 180.0)]):
        joints = facing_joints(yaw)
        assert not turned_frames(joints, np.arange(len(yaw))).any()
        assert not turn_breaks(joints, np.ones(len(yaw), bool)).any()


def test_a_swapped_start_is_cut_off_where_it_meets_the_rest() -> None:
    joints = swapped(facing_joints(np.zeros(40)), list(range(12)))
    turned = turned_frames(joints, np.arange(40))
    assert not turned.any()  # 12 frames: too many for a 15-frame window to outvote
    assert np.flatnonzero(turn_breaks(joints, ~turned)).tolist() == [12]


def test_the_smoother_starts_afresh_at_a_break() -> None:
    t = np.arange(30) / 30.0
    signal = np.where(t < 0.5, 0.0, 1.0)[:, None]  # (30, 1): one jump
    breaks = np.arange(30) == 15
    out = smooth_track(signal, np.zeros_like(signal), t, SmoothConfig(), breaks=breaks)
    np.testing.assert_allclose(out[:15], 0.0, atol=1e-12)
    np.testing.assert_allclose(out[15:], 1.0, atol=1e-12)


def test_smooth_store_coasts_through_turned_frames(tmp_path: Path) -> None:
    """A still body whose mesh is turned half a turn on frames 10 and 11 (left and right vertices exchanged): with
    the guard those frames get their neighbours' mesh; without it, everything nearby is pulled toward the twin."""
    rng = np.random.default_rng(0)
    body = rng.normal(0, 0.3, (V, 3)) + np.array([0.0, 0.0, 3.0])
    twin = body * np.array([-1.0, 1.0, 1.0])  # x mirrored: the half-turned reading
    joints = facing_joints(np.zeros(20))
    for path, config in ((tmp_path / "guarded.zarr", SmoothConfig()), (tmp_path / "plain.zarr", None)):
        with StoreWriter(path, attrs={"fps": 30.0}) as writer:
            for i in range(20):
                turned = i in (10, 11)
                vertices = (twin if turned else body)[None].astype(np.float16)
                fields = {
                    "vertices_cam_m": vertices,
                    "vertex_uncertainty_m": np.zeros((1, V), np.float16),
                    "joints_cam_m": swapped(joints, [i] if turned else [])[i : i + 1].astype(np.float32),
                    "vertices_smoothed_cam_m": vertices,
                    "joints_smoothed_cam_m": np.zeros((1, 33, 3), np.float32),
                }
                writer.write(FrameResult(i, i / 30, (640, 480), _tracks(1), fields))
        smooth_store(path, config or SmoothConfig(turn_window_frames=0))
    guarded = open_store(tmp_path / "guarded.zarr").track(1)["vertices_smoothed_cam_m"].astype(np.float64)
    plain = open_store(tmp_path / "plain.zarr").track(1)["vertices_smoothed_cam_m"].astype(np.float64)
    coasted = open_store(tmp_path / "guarded.zarr").track(1)["smooth_coasted"]
    assert np.flatnonzero(coasted).tolist() == [10, 11]  # the store says which frames
    assert not open_store(tmp_path / "plain.zarr").track(1)["smooth_coasted"].any()
    error = lambda out: np.abs(out - body).mean(axis=(1, 2))  # noqa: E731  (20,) metres per frame
    assert error(guarded).max() < 0.005  # float16 storage
    assert error(plain)[9:13].min() > 0.05
