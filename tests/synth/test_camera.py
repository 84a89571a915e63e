"""Camera maths against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mocap.synth.camera import (
    camera_centres,
    camera_to_pixels,
    floor_mask,
    intrinsics_from_fov,
    look_at,
    project_points,
    world_to_camera,
)


def test_intrinsics_from_fov_90_degrees() -> None:
    # tan(45 deg) = 1, so f = H / 2 = 240 px; the principal point is the image centre (corner-origin pixels).
    K = intrinsics_from_fov(90.0, (640, 480))
    np.testing.assert_allclose(K, [[240.0, 0.0, 320.0], [0.0, 240.0, 240.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("fov", [0.0, 180.0, -5.0])
def test_intrinsics_reject_impossible_fov(fov: float) -> None:
    with pytest.raises(ValueError, match="fov_y_deg"):
        intrinsics_from_fov(fov, (640, 480))


def test_look_at_along_world_y() -> None:
    # Eye 4 m behind the target on -y, level: camera x = world x, camera y (down) = world -z, z = world y.
    R, t = look_at(np.array([[0.0, -4.0, 1.0]]), np.array([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(R[0], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(t[0], [0.0, 1.0, 4.0], atol=1e-12)
    np.testing.assert_allclose(camera_centres(R, t)[0], [0.0, -4.0, 1.0], atol=1e-12)


def test_project_point_by_hand() -> None:
    # World (1, 0, 2) -> camera (1, -1, 4) -> pixels (320 + 240 / 4, 240 - 240 / 4) = (380, 180).
    K = intrinsics_from_fov(90.0, (640, 480))
    R, t = look_at(np.array([[0.0, -4.0, 1.0]]), np.array([[0.0, 0.0, 1.0]]))
    point = np.array([[[1.0, 0.0, 2.0]]])
    np.testing.assert_allclose(world_to_camera(point, R, t), [[[1.0, -1.0, 4.0]]], atol=1e-12)
    np.testing.assert_allclose(project_points(point, K, R, t), [[[380.0, 180.0]]], atol=1e-9)


def test_rotation_is_orthonormal_and_target_lands_on_principal_point() -> None:
    rng = np.random.default_rng(0)
    eye, target = rng.normal(size=(5, 3)) * 3, rng.normal(size=(5, 3))
    R, t = look_at(eye, target)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    K = intrinsics_from_fov(60.0, (320, 240))
    np.testing.assert_allclose(project_points(target[:, None], K, R, t)[:, 0], np.tile([160.0, 120.0], (5, 1)))


def test_batched_intrinsics_match_shared_ones() -> None:
    points = np.array([[[0.2, -0.1, 2.0], [0.0, 0.0, 1.0]]]).repeat(2, axis=0)
    K = intrinsics_from_fov(50.0, (640, 480))
    np.testing.assert_allclose(camera_to_pixels(points, np.stack([K, K])), camera_to_pixels(points, K))


def test_look_at_straight_down_needs_another_up() -> None:
    with pytest.raises(ValueError, match="parallel"):
        look_at(np.array([[0.0, 0.0, 5.0]]), np.array([[0.0, 0.0, 0.0]]))
    R, _ = look_at(np.array([[0.0, 0.0, 5.0]]), np.array([[0.0, 0.0, 0.0]]), up_world=np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(R[0, 2], [0.0, 0.0, -1.0], atol=1e-12)


def test_floor_mask_below_the_horizon() -> None:
    # A level camera 1 m up sees the floor in exactly the rows whose pixel centres lie below cy = H / 2.
    K = intrinsics_from_fov(60.0, (64, 48))
    R, t = look_at(np.array([[0.0, -5.0, 1.0]]), np.array([[0.0, 0.0, 1.0]]))
    mask = floor_mask(K, R[0], t[0], (64, 48), half_extent_m=1e6)
    assert not mask[:24].any() and mask[24:].all()
    # A 1 m floor square seen from 5 m away covers only a patch below the horizon, centred in x.
    small = floor_mask(K, R[0], t[0], (64, 48), half_extent_m=0.5)
    rows, cols = np.nonzero(small)
    assert rows.min() >= 24 and 0 < len(rows) < mask.sum() and abs(cols.mean() + 0.5 - 32) < 1
