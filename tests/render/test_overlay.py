"""Overlay videos of small box stores: tint where the meshes project, untouched pixels elsewhere, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from mocap.errors import ConfigError, SourceError, StoreError
from mocap.render.overlay import MeshOverlay, OverlayConfig, render_overlay
from mocap.types import Frame
from mocap.view.scene import ColorBy
from tests.render.conftest import background, box_vertices, make_run, projected_mask, read_video, write_clip
from tests.view.conftest import INTRINSICS, SIZE_WH

NO_IDS = OverlayConfig(draw_ids=False)
KERNEL = np.ones((5, 5), np.uint8)


def diff(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(H, W) largest per-channel absolute difference."""
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).max(axis=-1)


def inside_and_outside(truth: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Pixels surely inside the projected mesh, and surely outside it (2 px margins: edges and chroma bleed)."""
    inner = cv2.erode(truth.astype(np.uint8), KERNEL).astype(bool)
    outer = ~cv2.dilate(truth.astype(np.uint8), KERNEL).astype(bool)
    return inner, outer


def draw(overlay: MeshOverlay, frame_index: int) -> npt.NDArray[np.uint8]:
    return overlay.draw(Frame(frame_index, frame_index / 30.0, background(frame_index)))


def test_video_is_tinted_where_the_meshes_project_and_unchanged_elsewhere(tmp_path: Path) -> None:
    # The store has gaps (frames 2 and 5) and ends before the video does (frames 7, 8); people move every frame,
    # so matching rows to frames by position would put the boxes in the wrong places.
    people = {0: [1], 1: [1, 2], 3: [1, 2], 4: [2], 6: [1]}
    store = make_run(tmp_path / "run.zarr", people)
    clip = write_clip(tmp_path / "clip.mp4", 9)
    stats = render_overlay(store, clip, tmp_path / "overlay.mp4", NO_IDS)
    assert (stats.frames, stats.frames_with_people) == (9, 5)

    source, output = read_video(clip), read_video(tmp_path / "overlay.mp4")
    assert len(output) == 9
    for index, (before, after) in enumerate(zip(source, output, strict=True)):
        change = diff(before, after)
        truth = np.zeros(change.shape, bool)
        for track_id in people.get(index, []):
            truth |= projected_mask(box_vertices(index, track_id))
        inner, outer = inside_and_outside(truth)
        # x264 (crf 23) re-encoding alone changes pixels by ~1.4 levels on average here, 99% by <= 6.
        assert change[outer].mean() < 2.5 and np.percentile(change[outer], 99) < 10, f"frame {index} outside"
        if truth.any():
            assert np.percentile(change[inner], 5) > 30, f"frame {index}: the mesh is not drawn where it projects"


def test_smoothed_meshes_by_default_raw_on_request(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]}, smoothed_dx_m=0.6)  # 24 px right of the raw box
    raw, smoothed = projected_mask(box_vertices(0, 1)), projected_mask(box_vertices(0, 1, 0.6))
    assert not (raw & smoothed).any()
    for config, drawn, left_out in [(NO_IDS, smoothed, raw), (OverlayConfig(raw=True, draw_ids=False), raw, smoothed)]:
        with MeshOverlay(store, SIZE_WH, config) as overlay:
            change = diff(draw(overlay, 0), background(0))
        assert (change[inside_and_outside(drawn)[0]] > 30).all()
        assert (change[inside_and_outside(left_out)[0]] == 0).all()


def test_an_off_centre_principal_point_is_honoured(tmp_path: Path) -> None:
    intrinsics = INTRINSICS.copy()
    intrinsics[0, 2], intrinsics[1, 2] = 95.0, 50.0  # 15 px right of the centre, 10 px above it
    store = make_run(tmp_path / "run.zarr", {0: [1, 2]}, intrinsics=intrinsics)
    with MeshOverlay(store, SIZE_WH, NO_IDS) as overlay:
        change = diff(draw(overlay, 0), background(0))
    truth = projected_mask(box_vertices(0, 1), intrinsics) | projected_mask(box_vertices(0, 2), intrinsics)
    inner, outer = inside_and_outside(truth)
    assert (change[inner] > 30).all() and (change[outer] == 0).all()


def test_alpha_sets_the_opacity(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]})
    inner = inside_and_outside(projected_mask(box_vertices(0, 1)))[0]
    images = {}
    for alpha in (0.0, 0.5, 1.0):
        with MeshOverlay(store, SIZE_WH, OverlayConfig(alpha=alpha, draw_ids=False)) as overlay:
            images[alpha] = draw(overlay, 0).astype(np.float32)
    assert (images[0.0] == background(0)).all()
    halfway = (images[1.0] + background(0)) / 2
    assert np.abs(images[0.5][inner] - halfway[inner]).max() <= 1.0


def test_uncertainty_colours_change_with_uncertainty(tmp_path: Path) -> None:
    config = OverlayConfig(alpha=1.0, color_by=ColorBy.UNCERTAINTY, draw_ids=False)
    inner = inside_and_outside(projected_mask(box_vertices(0, 1)))[0]
    mean_rgb = {}
    for uncertainty_m in (0.0, 0.03):
        store = make_run(tmp_path / f"run_{uncertainty_m}.zarr", {0: [1]}, uncertainty_m=uncertainty_m)
        with MeshOverlay(store, SIZE_WH, config) as overlay:
            image = draw(overlay, 0)
        mean_rgb[uncertainty_m] = image[inner].astype(np.float32).mean(axis=0)
        assert (diff(image, background(0))[:60, 100:] > 50).sum() > 50, "no colour bar at the top right"
    low, high = mean_rgb[0.0], mean_rgb[0.03]
    assert high[0] > low[0] + 60 and low[2] > high[2] + 20  # dark blue at 0 mm, red at 30 mm


def test_track_ids_are_written_above_each_person(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1, 2]})
    with MeshOverlay(store, SIZE_WH, OverlayConfig()) as overlay:
        with_ids = draw(overlay, 0)
    with MeshOverlay(store, SIZE_WH, NO_IDS) as overlay:
        without = draw(overlay, 0)
    labels = diff(with_ids, without) > 0
    for track_id in (1, 2):
        truth = projected_mask(box_vertices(0, track_id))
        ys, xs = np.nonzero(truth)
        above = labels[max(0, ys.min() - 20) : ys.min(), xs.min() : xs.max() + 1]
        assert above.sum() > 20, f"no label above track {track_id}"
    assert not labels[60:].any(), "labels drawn below the heads"


def test_tracks_option_draws_only_those_tracks(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1, 2]})
    with MeshOverlay(store, SIZE_WH, OverlayConfig(tracks=(2,), draw_ids=False)) as overlay:
        change = diff(draw(overlay, 0), background(0))
    assert (change[inside_and_outside(projected_mask(box_vertices(0, 2)))[0]] > 30).all()
    assert (change[inside_and_outside(projected_mask(box_vertices(0, 1)))[0]] == 0).all()
    assert (change[:60, 100:] == 0).all(), "a colour bar when colouring by id"


def test_max_frames_stops_early(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1], 1: [1], 2: [1]})
    clip = write_clip(tmp_path / "clip.mp4", 3)
    stats = render_overlay(store, clip, tmp_path / "overlay.mkv", max_frames=2)
    assert stats.frames == 2 and len(read_video(tmp_path / "overlay.mkv")) == 2


def test_tracks_that_are_not_in_the_store_are_refused(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1, 2]})
    with pytest.raises(ConfigError, match=r"it has \[1, 2\]"):
        MeshOverlay(store, SIZE_WH, OverlayConfig(tracks=(5,)))


def test_store_without_meshes_says_how_to_make_them(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]}, meshes=False)
    with pytest.raises(StoreError, match="without --no-mesh"):
        MeshOverlay(store, SIZE_WH, OverlayConfig())


def test_video_of_another_size_is_refused(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]})
    clip = write_clip(tmp_path / "clip.mp4", 1, size_wh=(320, 240))
    with pytest.raises(ConfigError, match=r"320x240.*160x120"):
        render_overlay(store, clip, tmp_path / "overlay.mp4")
    assert not (tmp_path / "overlay.mp4").exists()


@pytest.mark.parametrize("missing", ["store", "video"])
def test_missing_inputs(tmp_path: Path, missing: str) -> None:
    store = tmp_path / "run.zarr" if missing == "store" else make_run(tmp_path / "run.zarr", {0: [1]})
    clip = tmp_path / "clip.mp4" if missing == "video" else write_clip(tmp_path / "clip.mp4", 1)
    error = StoreError if missing == "store" else SourceError
    with pytest.raises(error, match="mocap run" if missing == "store" else "not found"):
        render_overlay(store, clip, tmp_path / "overlay.mp4")


@pytest.mark.parametrize("output", ["no/such/folder/overlay.mp4", "overlay.txt"])
def test_unwritable_output(tmp_path: Path, output: str) -> None:
    store = make_run(tmp_path / "run.zarr", {0: [1]})
    clip = write_clip(tmp_path / "clip.mp4", 1)
    with pytest.raises(ConfigError, match="choose a"):
        render_overlay(store, clip, tmp_path / output)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_zero_one_is_refused(alpha: float) -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        OverlayConfig(alpha=alpha)
