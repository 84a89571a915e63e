"""What the synthetic people and their surroundings look like: clothing by body part, floor, background.

A body is painted per vertex: skin, hair, shirt, trousers, shoes and eyes. Anny ships a
body-part segmentation (head, hands, feet, eyes) as a UV texture; clothing has no
segmentation, so shirt and trousers come from each vertex's dominant skinning bone
(spine/arm bones -> shirt, pelvis/leg bones -> trousers), and hair from the head's
rest-pose geometry (the top and back of the skull). MediaPipe needs a shaded person with
a face to detect, not a silhouette: these colours plus the renderer's lighting give that.

Example:
    >>> rng = np.random.default_rng(0)
    >>> look = random_appearance(rng)
    >>> vertex_colors(np.array([BodyPart.SKIN, BodyPart.SHIRT]), look).shape
    (2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class BodyPart(IntEnum):
    """Per-vertex paint label."""

    SKIN = 0
    HAIR = 1
    SHIRT = 2
    TROUSERS = 3
    SHOES = 4
    EYES = 5


# Dominant-bone name prefixes (Anny's default rig) that a shirt or trousers cover.
_SHIRT_BONES = ("spine", "clavicle", "shoulder", "upperarm")
_TROUSER_BONES = ("root", "pelvis", "upperleg", "lowerleg")
_EYE_LABELS = ("eye_front.L", "eye_front.R", "eye_back.L", "eye_back.R")

# Palettes (sRGB in [0, 1]); skin tones span light to dark.
SKIN_TONES = np.array(
    [[0.96, 0.80, 0.69], [0.87, 0.67, 0.53], [0.72, 0.53, 0.39], [0.55, 0.38, 0.26], [0.36, 0.24, 0.16]]
)
HAIR_TONES = np.array(
    [[0.10, 0.07, 0.05], [0.30, 0.19, 0.10], [0.55, 0.40, 0.22], [0.80, 0.68, 0.45], [0.45, 0.45, 0.45]]
)
CLOTH_TONES = np.array(
    [
        [0.80, 0.15, 0.15],
        [0.15, 0.35, 0.75],
        [0.15, 0.55, 0.25],
        [0.90, 0.75, 0.20],
        [0.95, 0.95, 0.95],
        [0.25, 0.25, 0.28],
        [0.55, 0.30, 0.65],
        [0.95, 0.50, 0.15],
        [0.20, 0.25, 0.45],
        [0.45, 0.35, 0.25],
    ]
)


@dataclass(frozen=True)
class Appearance:
    """Colours of one person, sRGB in [0, 1] per channel."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    shoes: tuple[float, float, float]
    eyes: tuple[float, float, float] = (0.08, 0.06, 0.05)

    def palette(self) -> FloatArray:
        """(len(BodyPart), 3) colours indexed by :class:`BodyPart`."""
        return np.array([self.skin, self.hair, self.shirt, self.trousers, self.shoes, self.eyes])


@dataclass(frozen=True)
class Lighting:
    """Lambertian shading baked into vertex colours: ambient + a key light + a fill light from the camera.

    ``key_toward_light_world`` points from the surface toward the light (world frame, z up).
    """

    ambient: float = 0.35
    key: float = 0.65
    fill: float = 0.25
    key_toward_light_world: tuple[float, float, float] = (0.4, -0.5, 0.77)


@dataclass(frozen=True)
class Backdrop:
    """The floor (a checkerboard at z = 0, centred on the origin) and a vertical background gradient."""

    floor_size_m: float = 24.0
    floor_tile_m: float = 1.0
    floor_rgb: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.62, 0.60, 0.56), (0.50, 0.48, 0.45))
    sky_top_rgb: tuple[float, float, float] = (0.55, 0.68, 0.85)
    sky_bottom_rgb: tuple[float, float, float] = (0.88, 0.90, 0.92)


def _tuple3(row: FloatArray) -> tuple[float, float, float]:
    return float(row[0]), float(row[1]), float(row[2])


def random_appearance(rng: np.random.Generator) -> Appearance:
    """Draw skin, hair and clothing colours; shirt and trousers always differ."""
    shirt, trousers = rng.choice(len(CLOTH_TONES), size=2, replace=False)
    shoes = rng.uniform(0.05, 0.35) * np.ones(3)
    return Appearance(
        skin=_tuple3(SKIN_TONES[rng.integers(len(SKIN_TONES))]),
        hair=_tuple3(HAIR_TONES[rng.integers(len(HAIR_TONES))]),
        shirt=_tuple3(CLOTH_TONES[shirt]),
        trousers=_tuple3(CLOTH_TONES[trousers]),
        shoes=_tuple3(shoes),
    )


def vertex_colors(labels: npt.NDArray[np.integer], appearance: Appearance) -> FloatArray:
    """(V,) :class:`BodyPart` labels -> (V, 3) sRGB colours in [0, 1]."""
    return appearance.palette()[labels]


def shade(
    albedo_rgb: FloatArray, normals_world: FloatArray, toward_camera_world: FloatArray, lighting: Lighting
) -> FloatArray:
    """Lambertian shading.

    Args:
        albedo_rgb: (..., 3) surface colours in [0, 1].
        normals_world: (..., 3) unit vertex normals.
        toward_camera_world: (..., 3) unit vectors from each vertex toward the camera (the fill light).
        lighting: light levels and the key direction.

    Returns:
        (..., 3) shaded colours in [0, 1].
    """
    key = np.asarray(lighting.key_toward_light_world, np.float64)
    key = key / np.linalg.norm(key)
    key_term = np.clip(normals_world @ key, 0.0, None)
    fill_term = np.clip(np.sum(normals_world * toward_camera_world, axis=-1), 0.0, None)
    intensity = lighting.ambient + lighting.key * key_term + lighting.fill * fill_term  # (...)
    return np.clip(albedo_rgb * intensity[..., None], 0.0, 1.0)


def hair_mask(head_vertices_m: FloatArray) -> npt.NDArray[np.bool_]:
    """Which head vertices carry hair, from their rest-pose positions.

    Args:
        head_vertices_m: (N, 3) rest-pose head vertices in Anny's frame (z up, the face looks along -y).

    Returns:
        (N,) True on the top of the skull and on its back half above the nape.
    """
    low, high = head_vertices_m.min(axis=0), head_vertices_m.max(axis=0)
    rel = (head_vertices_m - low) / np.maximum(high - low, 1e-9)  # (N, 3) in [0, 1]
    height, depth = rel[:, 2], rel[:, 1]  # depth 0 = tip of the nose, 1 = back of the skull
    return (height > 0.80) | ((depth > 0.55) & (height > 0.30)) | ((depth > 0.40) & (height > 0.68))


def body_part_labels(model: Any) -> npt.NDArray[np.int8]:
    """(V,) :class:`BodyPart` labels for an ``anny.Anny`` model with the default rig.

    Combines Anny's UV segmentation (head, hands, feet, eyes) with each vertex's dominant
    skinning bone (clothing), and the head's rest shape (hair).
    """
    import torch
    from anny.face_segmentation import get_face_segmentation_mask

    faces = model.faces.cpu().numpy()  # (F, 3)
    num_vertices = int(model.template_vertices.shape[0])

    def vertices_of(labels: list[str]) -> npt.NDArray[np.bool_]:
        mask = np.zeros(num_vertices, bool)
        mask[faces[get_face_segmentation_mask(model, labels).cpu().numpy()].ravel()] = True
        return mask

    weights, indices = model.vertex_bone_weights, model.vertex_bone_indices  # (V, 9) each
    dominant = indices.gather(1, weights.argmax(dim=1, keepdim=True))[:, 0].cpu().numpy()
    bone_names = np.array(model.bone_labels)[dominant]  # (V,)

    labels = np.full(num_vertices, BodyPart.SKIN, np.int8)
    labels[[name.startswith(_SHIRT_BONES) for name in bone_names]] = BodyPart.SHIRT
    labels[[name.startswith(_TROUSER_BONES) for name in bone_names]] = BodyPart.TROUSERS
    head = vertices_of(["head"])
    labels[head | vertices_of(["hand.L", "hand.R"])] = BodyPart.SKIN
    labels[vertices_of(["foot.L", "foot.R"])] = BodyPart.SHOES
    with torch.no_grad():
        rest_m = model(phenotype_kwargs={})["rest_vertices"][0].cpu().numpy()  # (V, 3)
    head_index = np.flatnonzero(head & (bone_names == "head"))
    labels[head_index[hair_mask(rest_m[head_index])]] = BodyPart.HAIR
    labels[vertices_of(list(_EYE_LABELS))] = BodyPart.EYES
    return labels


def floor_mesh(backdrop: Backdrop) -> tuple[FloatArray, npt.NDArray[np.int32], FloatArray]:
    """A checkerboard floor at z = 0.

    Returns:
        vertices_world_m (4T, 3), triangles (2T, 3) counter-clockwise seen from above,
        vertex colours (4T, 3), for T tiles (each tile has its own 4 corners so its colour stays flat).
    """
    n = int(round(backdrop.floor_size_m / backdrop.floor_tile_m))
    edges = (np.arange(n + 1) - n / 2) * backdrop.floor_tile_m
    grid_x, grid_y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ix, iy = grid_x.ravel(), grid_y.ravel()  # (T,) tile column and row
    x0, x1, y0, y1 = edges[ix], edges[ix + 1], edges[iy], edges[iy + 1]
    zeros = np.zeros_like(x0)
    corners = np.stack(
        [np.stack(c, axis=-1) for c in ((x0, y0, zeros), (x1, y0, zeros), (x1, y1, zeros), (x0, y1, zeros))], axis=1
    )  # (T, 4, 3)
    base = 4 * np.arange(len(ix))[:, None]
    triangles = np.concatenate([base + np.array([0, 1, 2]), base + np.array([0, 2, 3])]).astype(np.int32)  # (2T, 3)
    palette = np.array(backdrop.floor_rgb)
    colors = np.repeat(palette[(ix + iy) % 2], 4, axis=0)  # (4T, 3)
    return corners.reshape(-1, 3), triangles, colors


def background_image(backdrop: Backdrop, size_wh: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(H, W, 3) float32 vertical gradient, ``sky_top_rgb`` at the top row to ``sky_bottom_rgb`` at the bottom."""
    width, height = size_wh
    alpha = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]  # (H, 1, 1)
    top, bottom = np.array(backdrop.sky_top_rgb, np.float32), np.array(backdrop.sky_bottom_rgb, np.float32)
    return np.broadcast_to((1 - alpha) * top + alpha * bottom, (height, width, 3)).copy()
