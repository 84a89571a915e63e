"""The renderer against the camera maths: silhouettes, depth and occlusion agree with projected geometry."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from mocap.errors import ConfigError
from mocap.synth.camera import intrinsics_from_fov, look_at, project_points, world_to_camera
from mocap.synth.groundtruth import landmark_visibility, visible_pixel_fraction
from mocap.synth.render import Renderer

SIZE_WH = (320, 240)


def box(centre: tuple[float, float, float], half_m: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """A closed axis-aligned cube: (8, 3) vertices, (12, 3) outward-facing triangles."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64) * half_m
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    triangles = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    return corners + np.asarray(centre), triangles


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    _, faces = box((0, 0, 0))
    with Renderer(SIZE_WH, faces) as r:
        yield r


@pytest.fixture(scope="module")
def camera() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    K = intrinsics_from_fov(45.0, SIZE_WH)
    R, t = look_at(np.array([[0.7, -5.0, 1.6]]), np.array([[0.0, 0.0, 1.0]]))  # the eye used below
    return K, R[0], t[0]


def bbox(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float64)


def projected_pixel_bbox(points_px: np.ndarray) -> np.ndarray:
    """The pixels whose centres (i + 0.5) fall inside the projected extent, as [x0, y0, x1, y1)."""
    low, high = points_px.min(axis=0), points_px.max(axis=0)
    return np.concatenate([np.ceil(low - 0.5), np.floor(high - 0.5) + 1])


def test_silhouette_matches_projection_to_a_pixel(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    vertices, _ = box((0.3, 0.2, 1.0))
    frame = renderer.render(vertices[None], np.full((1, 8, 3), 0.6), K, R, t)
    assert frame.image_rgb.shape == (240, 320, 3) and frame.image_rgb.dtype == np.uint8
    px = project_points(vertices[None], K, R[None], t[None])[0]
    # A convex box's silhouette is the hull of its projected corners.
    np.testing.assert_allclose(bbox(frame.silhouettes[0]), projected_pixel_bbox(px), atol=1.0)
    assert np.abs(bbox(frame.silhouettes[0]) - projected_pixel_bbox(px)).sum() <= 2


def test_depth_is_camera_z_in_metres(renderer: Renderer) -> None:
    # Looking straight along +y at a cube whose front face is a plane at distance 3.75 m.
    K = intrinsics_from_fov(45.0, SIZE_WH)
    R, t = look_at(np.array([[0.0, -4.0, 1.0]]), np.array([[0.0, 0.0, 1.0]]))
    vertices, _ = box((0.0, 0.0, 1.0))
    frame = renderer.render(vertices[None], np.full((1, 8, 3), 0.6), K, R[0], t[0])
    depth = frame.depth_m[0][frame.silhouettes[0]]
    np.testing.assert_allclose(depth, 3.75, atol=1e-3)


def test_occlusion_from_depth(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    eye, far_centre = np.array([0.7, -5.0, 1.6]), np.array([0.1, 1.0, 1.0])
    near_centre = eye + 2 / 3 * (far_centre - eye)  # on the line of sight to the far box's centre
    near, _ = box(tuple(near_centre), half_m=0.1)
    far, _ = box(tuple(far_centre))
    vertices = np.stack([far, near])  # person 2 stands in front of person 1's middle
    frame = renderer.render(vertices, np.full((2, 8, 3), 0.6), K, R, t)
    landmarks_world = np.array([[far_centre, far_centre + np.array([0, 0, 0.25]), [30.0, 1.0, 1.0]], [near_centre] * 3])
    landmarks_cam = world_to_camera(landmarks_world, np.stack([R, R]), np.stack([t, t]))
    landmarks_px = project_points(landmarks_world, K, np.stack([R, R]), np.stack([t, t]))
    visible = landmark_visibility(landmarks_px, landmarks_cam, frame.depth_m)
    # The far box's centre hides behind the near box; its top edge pokes out; a point 30 m aside is out of frame.
    near_covers = frame.depth_m[1][tuple(np.floor(landmarks_px[0, 1, ::-1]).astype(int))] > 0
    assert visible.tolist() == [[False, not near_covers, False], [True, True, True]]
    # Cross-check the flags with the depth buffer pixel by pixel.
    row, col = np.floor(landmarks_px[0, 0, ::-1]).astype(int)
    assert 0 < frame.depth_m[1, row, col] < frame.depth_m[0, row, col]
    fraction = visible_pixel_fraction(frame.depth_m)
    assert 0.0 < fraction[0] < 1.0 and fraction[1] == 1.0


def test_shaded_not_flat(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    vertices, _ = box((0.0, 0.0, 1.0))
    frame = renderer.render(vertices[None], np.full((1, 8, 3), 0.8), K, R, t)
    body = frame.image_rgb[frame.silhouettes[0]]
    # Three faces of the cube are in view, each lit differently.
    assert len(np.unique(body // 8, axis=0)) >= 3
    assert not np.array_equal(frame.image_rgb[0, 0], frame.image_rgb[-1, -1])  # background gradient / floor


def test_same_input_same_pixels(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    vertices, _ = box((0.0, 0.0, 1.0))
    a = renderer.render(vertices[None], np.full((1, 8, 3), 0.5), K, R, t)
    b = renderer.render(vertices[None], np.full((1, 8, 3), 0.5), K, R, t)
    assert np.array_equal(a.image_rgb, b.image_rgb) and np.array_equal(a.depth_m, b.depth_m)


def test_nobody(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    frame = renderer.render(np.zeros((0, 8, 3)), np.zeros((0, 8, 3)), K, R, t)
    assert frame.depth_m.shape == (0, 240, 320)
    assert np.isinf(frame.nearest_depth_m()).all()


def test_off_centre_principal_point_is_refused(renderer: Renderer, camera: tuple) -> None:
    K, R, t = camera
    shifted = K.copy()
    shifted[0, 2] += 10
    with pytest.raises(ConfigError, match="principal point"):
        renderer.render(box((0, 0, 1))[0][None], np.full((1, 8, 3), 0.5), shifted, R, t)


def test_anny_vertices_fall_on_the_silhouette(anny_body) -> None:  # type: ignore[no-untyped-def]
    import torch

    from mocap.body.anny_body import neutral_phenotypes

    pose = anny_body.identity_pose(1)
    pose[0, anny_body.joint_index("upperarm01.L")] = torch.tensor([[1.0, 0, 0], [0, 0.6, -0.8], [0, 0.8, 0.6]])
    with torch.no_grad():
        vertices = anny_body.forward(pose, neutral_phenotypes(1), torch.tensor([[0.0, 0.0, 0.9]])).vertices_m.numpy()
    K = intrinsics_from_fov(50.0, (640, 480))
    R, t = look_at(np.array([[0.8, -3.5, 1.3]]), np.array([[0.0, 0.0, 0.9]]))
    with Renderer((640, 480), anny_body.faces) as r:
        frame = r.render(vertices.astype(np.float64), np.full_like(vertices, 0.7, np.float64), K, R[0], t[0])
    px = project_points(vertices.astype(np.float64), K, R, t)[0]
    silhouette = frame.silhouettes[0]
    near = np.zeros_like(silhouette)  # the silhouette grown by one pixel: vertices on the outline may sit beside it
    near[1:-1, 1:-1] = np.any(
        [silhouette[1 + dy : 479 + dy, 1 + dx : 639 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0
    )
    cols, rows = np.floor(px).T.astype(int)
    # Every vertex lies within a pixel of the silhouette; most lie on it (those on the outline or on
    # sub-pixel fingers may miss the pixel centres that rasterisation samples).
    assert near[rows, cols].all() and silhouette[rows, cols].mean() > 0.9
    np.testing.assert_allclose(bbox(silhouette), projected_pixel_bbox(px), atol=1.0)


def test_floor_mask_matches_the_rasterised_floor(camera: tuple) -> None:
    import open3d as o3d

    from mocap.synth.camera import floor_mask
    from mocap.synth.render import _offscreen_window
    from mocap.synth.scene import Backdrop, floor_mesh

    K, R, t = camera
    backdrop = Backdrop(floor_size_m=6.0)  # small enough that its far edge is in view
    renderer = Renderer(SIZE_WH, box((0, 0, 0))[1], backdrop=backdrop)
    try:
        vertices, triangles, _ = floor_mesh(backdrop)
        window = _offscreen_window(SIZE_WH)
        window.add_geometry(
            o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices), o3d.utility.Vector3iVector(triangles))
        )
        renderer._set_camera(window, K, R, t)
        rasterised = np.asarray(window.capture_depth_float_buffer(do_render=True)) > 0
        window.destroy_window()
    finally:
        renderer.close()
    mask = floor_mask(K, R, t, SIZE_WH, 3.0)
    assert 0.2 < mask.mean() < 0.9  # the far edge and the sky above it are in view
    assert (mask != rasterised).mean() < 0.002  # at most a pixel along the edges
