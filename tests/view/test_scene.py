from __future__ import annotations

import numpy as np
import pytest

from mocap.mesh.crop import default_intrinsics
from mocap.view.scene import (
    UNCERTAINTY_MAX_M,
    ColorBy,
    GroundPlane,
    estimate_ground,
    frame_state,
    frustum_lines,
    grid_lines,
    ground_from_meshes,
    lowest_vertices,
    orbit_extrinsic,
    scale_intrinsics,
    track_color_rgb,
    uncertainty_color_rgb,
)


def project_px(intrinsics: np.ndarray, points_m: np.ndarray) -> np.ndarray:
    uvw = points_m @ intrinsics.T
    return uvw[:, :2] / uvw[:, 2:]


def test_track_colors_are_stable_and_distinct() -> None:
    colors = track_color_rgb(np.arange(1, 9))
    assert colors.shape == (8, 3) and colors.dtype == np.float32
    np.testing.assert_array_equal(track_color_rgb([3])[0], colors[2])  # same id, same colour, any call
    distances = np.linalg.norm(colors[:, None] - colors[None], axis=-1) + np.eye(8)
    assert distances.min() > 0.1


def test_uncertainty_colormap_ends_and_missing_values() -> None:
    colors = uncertainty_color_rgb(np.array([0.0, UNCERTAINTY_MAX_M, 1.0, np.nan]))
    assert colors.shape == (4, 3)
    assert colors[0, 2] > colors[0, 0]  # low: blue
    assert colors[1, 0] > colors[1, 2]  # 30 mm: red
    np.testing.assert_array_equal(colors[1], colors[2])  # clipped above 30 mm
    np.testing.assert_allclose(colors[3], [0.6, 0.6, 0.6])


def test_default_intrinsics_and_scaling() -> None:
    k = default_intrinsics((640, 480))
    np.testing.assert_allclose(k, [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    np.testing.assert_allclose(scale_intrinsics(k, 0.5), [[320, 0, 160], [0, 320, 120], [0, 0, 1]])


def test_frustum_corners_project_onto_the_image_corners() -> None:
    k = default_intrinsics((640, 480))
    points, lines = frustum_lines(k, (640, 480), depth_m=0.5)
    np.testing.assert_allclose(points[0], 0.0)
    np.testing.assert_allclose(points[1:, 2], 0.5)
    np.testing.assert_allclose(project_px(k, points[1:]), [[0, 0], [640, 0], [640, 480], [0, 480]], atol=1e-9)
    assert lines.shape == (8, 2) and set(lines.ravel()) == set(range(5))


@pytest.mark.parametrize(("azimuth_deg", "elevation_deg"), [(0, 0), (40, 20), (-90, 60)])
def test_orbit_looks_at_the_target_from_the_given_distance(azimuth_deg: float, elevation_deg: float) -> None:
    target = np.array([0.3, 0.5, 4.0])
    extrinsic = orbit_extrinsic(target, np.radians(azimuth_deg), np.radians(elevation_deg), 3.0)
    rotation = extrinsic[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation @ target + extrinsic[:3, 3], [0, 0, 3.0], atol=1e-12)
    up_in_view = rotation @ np.array([0.0, -1.0, 0.0])
    assert up_in_view[1] < 0  # the world's up stays up on screen


def test_orbit_at_zero_angles_is_the_capture_camera_moved_back() -> None:
    extrinsic = orbit_extrinsic([0.0, 0.0, 4.0], 0.0, 0.0, 3.0)
    np.testing.assert_allclose(extrinsic[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(extrinsic[:3, 3], [0, 0, -1.0], atol=1e-12)


def test_elevation_raises_the_orbit_camera() -> None:
    extrinsic = orbit_extrinsic([0.0, 0.0, 4.0], 0.0, np.radians(30), 3.0)
    eye = -extrinsic[:3, :3].T @ extrinsic[:3, 3]
    assert eye[1] == pytest.approx(-1.5)  # y down: 3 m * sin 30 above the target


def tilted_plane(pitch_deg: float, height_m: float) -> GroundPlane:
    """The floor seen by a camera pitched down by ``pitch_deg``, ``height_m`` above it."""
    a = np.radians(pitch_deg)
    normal = np.array([0.0, -np.cos(a), np.sin(a)])
    return GroundPlane(tuple(normal), -height_m)  # type: ignore[arg-type]


def test_estimate_ground_recovers_a_tilted_floor() -> None:
    truth = tilted_plane(15.0, 1.4)
    rng = np.random.default_rng(0)
    spread = np.column_stack([rng.uniform(-2, 2, 40), np.zeros(40), rng.uniform(2, 7, 40)])
    feet = truth.project(spread) + rng.normal(0, 0.005, (40, 3))
    plane = estimate_ground(feet)
    assert np.dot(plane.normal_up, truth.normal_up) > np.cos(np.radians(1.0))
    assert plane.offset_m == pytest.approx(truth.offset_m, abs=0.02)


def test_estimate_ground_is_level_below_the_lowest_point_when_points_span_no_area() -> None:
    line = np.column_stack([np.linspace(-1, 1, 10), np.full(10, 1.5), np.full(10, 4.0)])
    line[3, 1] = 1.6
    plane = estimate_ground(line)
    assert plane.normal_up == (0.0, -1.0, 0.0)
    assert plane.offset_m == pytest.approx(-1.6)
    assert estimate_ground(np.zeros((0, 3))) == GroundPlane()


def test_ground_from_meshes_sits_under_the_feet() -> None:
    rng = np.random.default_rng(1)
    bodies = rng.uniform([-0.2, -0.2, -0.1], [0.2, 1.5, 0.1], (6, 50, 3))  # y from -0.2 (head) to 1.5 (feet)
    bodies += np.column_stack([rng.uniform(-2, 2, 6), np.zeros(6), rng.uniform(3, 6, 6)])[:, None]
    plane = ground_from_meshes(bodies)
    heights = bodies.reshape(-1, 3) @ np.asarray(plane.normal_up) - plane.offset_m
    assert heights.min() > -0.05 and np.quantile(heights, 0.01) < 0.1


def test_lowest_vertices_follow_the_up_direction_and_skip_nan() -> None:
    meshes = np.array([[[0, 1.0, 0], [0, 2.0, 0], [np.nan, np.nan, np.nan]]])
    np.testing.assert_allclose(lowest_vertices(meshes, (0, -1, 0)), [[0, 2.0, 0]])
    np.testing.assert_allclose(lowest_vertices(meshes, (0, 1, 0)), [[0, 1.0, 0]])


def test_grid_lies_on_the_plane_around_the_centre() -> None:
    plane = tilted_plane(20.0, 1.5)
    points, lines = grid_lines(plane, [0.5, 0.0, 4.0], half_size_m=2.0, step_m=0.5)
    np.testing.assert_allclose(points @ np.asarray(plane.normal_up), plane.offset_m, atol=1e-9)
    np.testing.assert_allclose(points.mean(axis=0), plane.project(np.array([0.5, 0.0, 4.0])), atol=1e-9)
    assert lines.shape == (2 * 9, 2)


def test_frame_state_orders_tracks_skips_empty_rows_and_colours() -> None:
    vertices = {2: np.ones((4, 3)), 1: np.zeros((4, 3)), 3: np.full((4, 3), np.nan)}
    state = frame_state(7, 0.25, vertices)
    assert state.track_ids == [1, 2]
    np.testing.assert_allclose(state.meshes[1].colors_rgb, np.tile(track_color_rgb([2]), (4, 1)))
    by_uncertainty = frame_state(7, 0.25, vertices, {1: np.array([0, 0.01, 0.02, 0.03])}, ColorBy.UNCERTAINTY)
    np.testing.assert_allclose(by_uncertainty.meshes[0].colors_rgb, uncertainty_color_rgb([0, 0.01, 0.02, 0.03]))
    np.testing.assert_allclose(by_uncertainty.meshes[1].colors_rgb, 0.6)  # no uncertainty stored: grey
