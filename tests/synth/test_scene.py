"""Body-part paint, shading, floor and background."""

from __future__ import annotations

import numpy as np

from mocap.synth.scene import (
    Backdrop,
    BodyPart,
    Lighting,
    background_image,
    body_part_labels,
    floor_mesh,
    hair_mask,
    random_appearance,
    shade,
    vertex_colors,
)


def test_body_parts_cover_the_body(anny_body) -> None:  # type: ignore[no-untyped-def]
    labels = body_part_labels(anny_body.model)
    counts = np.bincount(labels, minlength=len(BodyPart))
    assert len(labels) == anny_body.num_vertices and (counts > 50).all()
    rest = anny_body.model.template_vertices.numpy()
    # Anny stands z up: shoes lowest, hair highest, shirt above trousers.
    height = {part: rest[labels == part, 2].mean() for part in BodyPart}
    assert height[BodyPart.SHOES] < height[BodyPart.TROUSERS] < height[BodyPart.SHIRT] < height[BodyPart.HAIR]


def test_hair_is_top_and_back_not_face() -> None:
    head = np.array([[0.0, -0.10, 0.10], [0.0, 0.10, 0.10], [0.0, 0.10, 0.19], [0.0, -0.10, 0.20], [0.0, 0.0, 0.0]])
    # Bounds span y -0.1..0.1 (face to back) and z 0..0.2. Face front at mid height: no; back of the skull
    # at mid height: yes; crown: yes; top of the forehead: yes; chin: no.
    assert hair_mask(head).tolist() == [False, True, True, True, False]


def test_appearance_is_reproducible_and_varied() -> None:
    a = random_appearance(np.random.default_rng(3))
    assert a == random_appearance(np.random.default_rng(3))
    assert a.shirt != a.trousers
    colors = vertex_colors(np.array([BodyPart.SKIN, BodyPart.SHIRT, BodyPart.TROUSERS]), a)
    np.testing.assert_allclose(colors, [a.skin, a.shirt, a.trousers])


def test_shade_by_hand() -> None:
    lighting = Lighting(ambient=0.2, key=0.5, fill=0.3, key_toward_light_world=(0.0, 0.0, 2.0))
    normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    toward_camera = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    shaded = shade(np.full((2, 3), 0.5), normals, toward_camera, lighting)
    np.testing.assert_allclose(shaded, [[0.5, 0.5, 0.5], [0.1, 0.1, 0.1]])  # 0.5 * (0.2+0.5+0.3); 0.5 * 0.2


def test_floor_checkerboard() -> None:
    backdrop = Backdrop(floor_size_m=4.0, floor_tile_m=1.0)
    vertices, triangles, colors = floor_mesh(backdrop)
    assert vertices.shape == (64, 3) and triangles.shape == (32, 3) and colors.shape == (64, 3)
    np.testing.assert_allclose(vertices[:, 2], 0.0)
    assert vertices[:, :2].min() == -2.0 and vertices[:, :2].max() == 2.0
    # Triangles face up (counter-clockwise seen from above).
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    assert (np.cross(b - a, c - a)[:, 2] > 0).all()
    assert len(np.unique(colors, axis=0)) == 2


def test_background_gradient() -> None:
    backdrop = Backdrop(sky_top_rgb=(0.0, 0.0, 1.0), sky_bottom_rgb=(1.0, 1.0, 1.0))
    image = background_image(backdrop, (4, 3))
    assert image.shape == (3, 4, 3)
    np.testing.assert_allclose(image[:, 0], [[0, 0, 1], [0.5, 0.5, 1], [1, 1, 1]])
