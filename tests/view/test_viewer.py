"""Offscreen (EGL) renders of synthetic stores compared against where the ground truth projects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap.view.config import ViewerConfig, Viewpoint
from mocap.view.scene import ColorBy, FrameState, frame_state, track_color_rgb
from mocap.view.store_frames import StoreFrames
from mocap.view.viewer import StaticScene, Viewer, render_size_wh
from tests.view.conftest import INTRINSICS, SIZE_WH, person_mesh

BARE = ViewerConfig(max_size_px=320, visible=False, show_grid=False, show_frustum=False)
PEOPLE = {1: (-0.6, 4.0), 2: (0.6, 4.0)}


def projected_mask(
    vertices_m: np.ndarray, faces: np.ndarray, intrinsics: np.ndarray, size_wh: tuple[int, int]
) -> np.ndarray:
    """(H, W) bool: pixels covered by the mesh's triangles projected through ``intrinsics``."""
    uvw = vertices_m @ intrinsics.T
    uv = uvw[:, :2] / uvw[:, 2:] - 0.5  # OpenCV puts pixel centres at integers
    mask = np.zeros((size_wh[1], size_wh[0]), np.uint8)
    for triangle in faces:
        cv2.fillConvexPoly(mask, np.round(uv[triangle] * 16).astype(np.int32), 1, shift=4)
    return mask.astype(bool)


def assert_silhouette(drawn: np.ndarray, truth: np.ndarray) -> None:
    """``drawn`` covers ``truth`` up to one pixel at the edges (rasterisation rules differ there)."""
    kernel = np.ones((3, 3), np.uint8)
    inner = cv2.erode(truth.astype(np.uint8), kernel).astype(bool)
    outer = cv2.dilate(truth.astype(np.uint8), kernel).astype(bool)
    assert (inner & ~drawn).sum() <= 0.002 * truth.sum(), "parts of the mesh are missing"
    assert (drawn & ~outer).sum() <= 0.002 * truth.sum(), "something is drawn where no mesh projects"
    assert (drawn & truth).sum() / (drawn | truth).sum() > 0.9


@pytest.fixture
def viewer() -> Viewer:
    faces = person_mesh(0, 0)[1]
    viewer = Viewer(StaticScene(faces, INTRINSICS, SIZE_WH), BARE)
    yield viewer
    viewer.close()


def two_people_state(color_by: ColorBy = ColorBy.ID) -> FrameState:
    return frame_state(0, 0.0, {i: person_mesh(*xz)[0] for i, xz in PEOPLE.items()}, color_by=color_by)


def test_render_size_keeps_the_aspect_ratio() -> None:
    assert render_size_wh((640, 480), 320) == ((320, 240), 0.5)
    assert render_size_wh((1080, 1920), 960) == ((540, 960), 0.5)


def test_meshes_render_where_the_ground_truth_projects(viewer: Viewer) -> None:
    viewer.show(two_people_state())
    image = viewer.capture_rgb()
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    k = INTRINSICS.copy()
    k[:2] *= 2.0  # rendered at twice the store's 160x120
    faces = person_mesh(0, 0)[1]
    drawn = (image < 250).any(axis=-1)
    truth = np.zeros_like(drawn)
    for x_m, z_m in PEOPLE.values():
        person = projected_mask(person_mesh(x_m, z_m)[0], faces, k, (320, 240))
        assert_silhouette(drawn & person, person)  # this person is there
        truth |= person
    assert_silhouette(drawn, truth)  # and nothing else is


def test_an_off_centre_principal_point_still_gives_the_capture_view(caplog: pytest.LogCaptureFixture) -> None:
    faces = person_mesh(0, 0)[1]
    off_centre = INTRINSICS.copy()
    off_centre[0, 2] += 9.0  # a calibrated camera: principal point 9 px right of the centre
    viewer = Viewer(StaticScene(faces, off_centre, SIZE_WH), BARE)
    try:
        viewer.show(two_people_state())
        drawn = (viewer.capture_rgb() < 250).any(axis=-1)
    finally:
        viewer.close()
    assert "refused" not in caplog.text
    centred = INTRINSICS.copy()
    centred[:2] *= 2.0  # rendered at twice the store's 160x120, principal point at the centre
    centred[0, 2], centred[1, 2] = 160.0, 120.0
    truth = np.zeros_like(drawn)
    for x_m, z_m in PEOPLE.values():
        truth |= projected_mask(person_mesh(x_m, z_m)[0], faces, centred, (320, 240))
    assert_silhouette(drawn, truth)


def test_each_track_has_its_own_colour(viewer: Viewer) -> None:
    viewer.show(two_people_state())
    image = viewer.capture_rgb().astype(np.float32)
    k = INTRINSICS * [[2], [2], [1]]
    faces = person_mesh(0, 0)[1]
    means = []
    for (x_m, z_m), track_id in zip(PEOPLE.values(), PEOPLE, strict=True):
        mask = projected_mask(person_mesh(x_m, z_m)[0], faces, k, (320, 240))
        mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        mean = image[mask].mean(axis=0)
        means.append(mean)
        expected = track_color_rgb([track_id])[0] * 255
        assert np.argmin(mean) == np.argmin(expected)  # the hue of the track's colour survives the shading
    assert np.abs(means[0] - means[1]).max() > 60


def test_meshes_are_updated_added_and_removed_in_place(viewer: Viewer) -> None:
    viewer.show(two_people_state())
    first = viewer._meshes[1]
    moved = frame_state(1, 0.03, {1: person_mesh(-0.2, 4.0)[0]})
    viewer.show(moved)
    assert viewer._meshes[1] is first and set(viewer._meshes) == {1}  # same object, track 2 removed
    image = viewer.capture_rgb()
    k = INTRINSICS * [[2], [2], [1]]
    truth = projected_mask(person_mesh(-0.2, 4.0)[0], person_mesh(0, 0)[1], k, (320, 240))
    assert_silhouette((image < 250).any(axis=-1), truth)
    viewer.show(FrameState(2, 0.06))
    assert not viewer._meshes and (viewer.capture_rgb() >= 250).all()  # nobody: a blank scene
    assert viewer.status == "frame 2  people 0"


def test_orbit_view_with_grid_and_frustum_shows_the_people(two_people_store: Path) -> None:
    frames = StoreFrames(two_people_store)
    viewer = Viewer(frames.static_scene(), ViewerConfig(max_size_px=320, visible=False, viewpoint=Viewpoint.ORBIT))
    try:
        plane, centre = frames.ground()
        viewer.set_ground(plane, centre)
        viewer.set_viewpoint(centre)
        viewer.show(frames.state(0))
        image = viewer.capture_rgb()
    finally:
        viewer.close()
    colours = image.reshape(-1, 3).astype(int)
    saturated = colours.max(axis=1) - colours.min(axis=1) > 60  # the people; grid and frustum are grey
    grey = (colours.max(axis=1) - colours.min(axis=1) < 10) & (colours.max(axis=1) < 200)
    assert saturated.mean() > 0.01 and grey.mean() > 0.005


def test_ground_plane_of_the_store_is_under_the_feet(two_people_store: Path) -> None:
    plane, centre = StoreFrames(two_people_store).ground()
    assert plane.normal_up == (0.0, -1.0, 0.0)
    assert plane.offset_m == pytest.approx(-1.5, abs=1e-2)  # conftest puts the floor 1.5 m below the camera
    np.testing.assert_allclose(centre, [0.0, 0.65, 4.0], atol=0.05)


def test_switching_viewpoints_and_back_gives_the_same_picture(two_people_store: Path) -> None:
    frames = StoreFrames(two_people_store)
    viewer = Viewer(frames.static_scene(), ViewerConfig(max_size_px=160, visible=False))
    try:
        state = frames.state(0)
        viewer.show(state)
        through_camera = viewer.capture_rgb()
        viewer.set_viewpoint([0.0, 0.6, 4.0], Viewpoint.ORBIT)  # key "o"
        viewer.show(state)
        from_orbit = viewer.capture_rgb()
        assert viewer._frustum_shown
        viewer.set_viewpoint(viewpoint=Viewpoint.CAMERA)  # key "c"
        viewer.show(state)
        back = viewer.capture_rgb()
    finally:
        viewer.close()
    assert np.abs(through_camera.astype(int) - from_orbit).mean() > 5
    np.testing.assert_array_equal(back, through_camera)
    assert not viewer._frustum_shown
