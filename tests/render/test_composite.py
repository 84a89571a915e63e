"""Masks, blending, projection and labels, against numbers worked out by hand."""

from __future__ import annotations

import numpy as np

from mocap.render.composite import (
    KEY_RGB,
    blend_masked,
    centred_canvas,
    draw_track_ids,
    label_anchor_px,
    mesh_mask,
    project_px,
)
from mocap.view.scene import track_color_rgb, uncertainty_color_rgb

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])


def test_mesh_mask_is_every_pixel_but_the_key() -> None:
    render = np.zeros((2, 3, 3), np.uint8)
    render[:] = KEY_RGB
    render[0, 1] = (255, 1, 255)  # one level off the key is mesh
    render[1, 2] = (0, 0, 0)
    assert mesh_mask(render).tolist() == [[False, True, False], [False, False, True]]


def test_no_mesh_colour_is_the_key() -> None:
    # Shading scales a colour and adds white: the key needs green 0 with red and blue saturated.
    colours = np.vstack([track_color_rgb(np.arange(1, 200)), uncertainty_color_rgb(np.linspace(0, 0.05, 200))])
    assert (colours[:, 1] >= 0.07).all()


def test_blend_only_inside_the_mask() -> None:
    image = np.full((2, 2, 3), 100, np.uint8)
    render = np.full((2, 2, 3), 200, np.uint8)
    mask = np.array([[True, False], [False, False]])
    out = blend_masked(image, render, mask, alpha=0.25)
    assert out[0, 0].tolist() == [125, 125, 125]  # 0.75 * 100 + 0.25 * 200
    assert (out[~mask] == 100).all() and (image == 100).all()  # input untouched


def test_project_px_by_hand() -> None:
    points = np.array([[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [0.0, 0.0, -1.0]])
    xy = project_px(points, K)
    assert np.allclose(xy[:2], [[50.0, 40.0], [100.0, 15.0]])
    assert np.isnan(xy[2]).all()  # behind the camera


def test_label_anchor_is_the_top_centre_of_the_projected_box() -> None:
    vertices = np.array([[-0.2, -0.4, 2.0], [0.2, 0.6, 2.0], [0.0, 0.0, 2.0]])
    assert label_anchor_px(vertices, K) == (50.0, 20.0)
    assert label_anchor_px(np.array([[0.0, 0.0, -1.0]]), K) is None


def test_labels_stay_inside_the_image() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    colours = track_color_rgb([3, 12])
    out = draw_track_ids(image, [(-10.0, -5.0), (70.0, 60.0)], [3, 12], colours)
    assert (image == 0).all()
    drawn = out.max(axis=-1) > 0
    assert drawn[:15, :15].any() and drawn[-15:, -20:].any()  # pushed into the corners, not lost
    assert drawn.sum() < 0.5 * drawn.size
    fill = tuple(int(round(c * 255)) for c in colours[0])
    assert (out[:15, :15].reshape(-1, 3) == fill).all(axis=-1).any()  # the tag has the track's colour


def test_centred_canvas_by_hand() -> None:
    k_centred, size, offset = centred_canvas(K, (100, 80))
    assert size == (100, 80) and offset == (0, 0) and np.allclose(k_centred, K)
    off = K.copy()
    off[0, 2], off[1, 2] = 62.0, 33.0  # 12 px right of the centre, 7 px above it
    k_canvas, size, offset = centred_canvas(off, (100, 80))
    assert size == (124, 94) and offset == (0, 14)
    assert np.allclose(k_canvas[:2, 2], [62.0, 47.0]) and np.allclose(k_canvas[:2, :2], K[:2, :2])
    # A point lands on the canvas at its image position plus the offset.
    point = np.array([[0.3, -0.2, 2.0]])
    assert np.allclose(project_px(point, k_canvas), project_px(point, off) + offset)


def test_tags_of_people_one_behind_another_do_not_overlap() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    out = draw_track_ids(image, [(40.0, 30.0), (41.0, 31.0)], [1, 2], np.array([[1.0, 0, 0], [0, 0, 1.0]]))
    red, blue = (out == (255, 0, 0)).all(axis=-1), (out == (0, 0, 255)).all(axis=-1)
    red_cols, blue_cols = np.nonzero(red.any(axis=0))[0], np.nonzero(blue.any(axis=0))[0]
    assert red.sum() > 20 and blue.sum() > 20  # both tags visible
    assert red_cols.max() < blue_cols.min()  # the second slid right of the first
