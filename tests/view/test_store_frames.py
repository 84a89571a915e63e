"""Reading a store for the viewer: faces, intrinsics, size and fps, with their fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

from mocap.errors import StoreError
from mocap.io.store import StoreWriter
from mocap.types import FrameResult
from mocap.view.scene import ColorBy, uncertainty_color_rgb
from mocap.view.store_frames import ANNY_NUM_VERTICES, StoreFrames, _TrackRows
from tests.view.conftest import INTRINSICS, SIZE_WH, frame_result, make_store, person_mesh, tracks_rows


def test_attrs_of_a_full_store(two_people_store: Path) -> None:
    frames = StoreFrames(two_people_store)
    assert frames.num_frames == 3 and frames.track_ids == [1, 2] and frames.fps == 30.0
    assert frames.size_wh == SIZE_WH
    np.testing.assert_allclose(frames.intrinsics, INTRINSICS)
    np.testing.assert_array_equal(frames.faces(), person_mesh(0, 0)[1])
    assert frames.complete and frames.note == ""
    state = frames.state(1)
    assert state.frame_index == 1 and state.time_s == pytest.approx(1 / 30)
    np.testing.assert_allclose(state.meshes[0].vertices_cam_m, person_mesh(-0.6, 4.0)[0], atol=4e-3)  # float16


def test_fallbacks_without_intrinsics_size_or_fps(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "bare.zarr") as writer:
        for i in range(3):
            writer.write(FrameResult(i, i * 0.04, (640, 480), tracks_rows([])))
    frames = StoreFrames(tmp_path / "bare.zarr")
    assert frames.size_wh == (640, 480)  # nothing stored: the default
    np.testing.assert_allclose(frames.intrinsics, [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    assert frames.fps == pytest.approx(25.0)  # from the frame times


def test_colour_by_uncertainty(two_people_store: Path) -> None:
    mesh = StoreFrames(two_people_store, color_by=ColorBy.UNCERTAINTY).state(0).meshes[0]
    expected = uncertainty_color_rgb(frame_result(0, {1: (0.0, 4.0)}).track_fields["vertex_uncertainty_m"][0])
    np.testing.assert_allclose(mesh.colors_rgb, expected)


def test_meshes_without_faces_that_are_not_anny_are_an_error(tmp_path: Path) -> None:
    store = make_store(tmp_path / "nofaces.zarr", [{1: (0.0, 4.0)}], faces=False)
    with pytest.raises(StoreError, match="body/faces"):
        StoreFrames(store).faces()


@pytest.mark.slow
def test_anny_meshes_without_faces_use_the_anny_topology(tmp_path: Path) -> None:
    vertices = np.zeros((1, ANNY_NUM_VERTICES, 3), np.float16)
    with StoreWriter(tmp_path / "anny.zarr") as writer:
        writer.write(FrameResult(0, 0.0, SIZE_WH, tracks_rows([1]), {"vertices_cam_m": vertices}))
    faces = StoreFrames(tmp_path / "anny.zarr").faces()
    assert faces.shape == (27_420, 3) and faces.max() == ANNY_NUM_VERTICES - 1


def test_track_rows_read_chunk_by_chunk_up_to_the_commit_point(tmp_path: Path) -> None:
    root = zarr.open_group(LocalStore(tmp_path / "t"), mode="w")
    frame_index = np.array([0, 1, 2, 4, 5, 6, 7, 9, 10, 11])  # frames 3 and 8 are gaps
    root.create_array("frame_index", data=frame_index, chunks=(4,))
    vertices = np.arange(10 * 2 * 3, dtype=np.float16).reshape(10, 2, 3)
    root.create_array("vertices_cam_m", data=vertices, chunks=(4, 2, 3))
    rows = _TrackRows(root, ["frame_index", "vertices_cam_m"], last_frame_index=9)  # rows after frame 9: uncommitted
    assert rows.rows == 8 and "vertex_uncertainty_m" not in rows.arrays
    assert rows.row_of(3) is None and rows.row_of(10) is None and rows.row_of(9) == 7
    for frame in [9, 0, 5, 6, 7, 1]:  # across chunk boundaries, backwards too
        row = rows.row_of(frame)
        assert row is not None
        np.testing.assert_array_equal(rows.read("vertices_cam_m", row), vertices[row])


def test_colouring_by_uncertainty_without_it_says_so(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "u.zarr") as writer:
        vertices = person_mesh(0.0, 4.0)[0][None].astype(np.float16)
        writer.write(FrameResult(0, 0.0, SIZE_WH, tracks_rows([1]), {"vertices_cam_m": vertices}))
    assert "no vertex_uncertainty_m" in StoreFrames(tmp_path / "u.zarr", color_by=ColorBy.UNCERTAINTY).note
    assert StoreFrames(tmp_path / "u.zarr").note == ""
