"""Mirror test-time augmentation: MEGA on each crop and on its left-right mirror image, the two answers averaged.

A person seen in a mirror is another plausible person, so MEGA's answer for the mirrored crop, mirrored back, is
a second estimate of the same body; their mean is closer to the truth than either (an ensemble of two, for one
more row in the argmax pass and one more decode). Measured with version 4 (models/mega_anny/MODEL_CARD.md,
"Mirror averaging"): 45 test renders MPJPE 129.4 -> 122.1 mm, PA-MPJPE 78.8 -> 71.6.

Frames (``mocap.mega.geometry``): mirroring the image about the crop's vertical centre line is x -> -x in crop
coordinates and in the camera frame (M = diag(-1, 1, 1)); MediaPipe's world landmarks share the camera's axes, so
their x flips too, and every left landmark becomes the right one. A body posed as R v (R canonical -> camera)
appears mirrored as M R v = (M R M)(M v): the mirrored body M v (vertices relabelled by
:func:`mocap.body.symmetry.load_vertex_mirror`) turned by M R M. The weak-perspective camera (s, tx, ty) becomes
(s, -tx, ty). Every map here is its own inverse.

Example:
    >>> both = with_mirrors(crops)  # 2N rows: the crops, then their mirror images  # doctest: +SKIP
    >>> # MEGA + decode on ``both`` -> vertices (2N, V, 3), rotation (2N, 3, 3), camera (2N, 3), then per crop:
    >>> vertices, rotation, camera = average_with_mirrors(vertices, rotation, camera, mirror)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.types import Crops

_FLIP_X = (-1.0, 1.0, 1.0)


def mirror_landmarks(landmarks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 33, 3) crop (x, y, visibility) or world (x, y, z) landmarks -> those of the mirror image."""
    mirrored = landmarks[:, LANDMARK_MIRROR].copy()
    mirrored[..., 0] *= -1
    return mirrored


def with_mirrors(crops: Crops) -> Crops:
    """N crops -> 2N rows: the crops, then their mirror images (same ids, centres and sizes)."""
    twice = {f.name: np.concatenate([getattr(crops, f.name)] * 2) for f in dataclasses.fields(crops)}
    half = len(crops)
    twice["landmarks_crop"][half:] = mirror_landmarks(crops.landmarks_crop)
    twice["landmarks_world_m"][half:] = mirror_landmarks(crops.landmarks_world_m)
    return Crops(**twice)


def mirror_vertices(vertices_m: torch.Tensor, vertex_mirror: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) canonical (or camera-frame) vertices -> the mirror image, vertices relabelled by (V,) indices."""
    return vertices_m[:, vertex_mirror] * vertices_m.new_tensor(_FLIP_X)


def mirror_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) canonical -> camera rotation R -> M R M, the rotation that poses the mirrored body in the mirror."""
    flip = rotation.new_tensor(_FLIP_X)
    return rotation * flip[:, None] * flip[None, :]


def mirror_camera(camera: torch.Tensor) -> torch.Tensor:
    """(B, 3) weak-perspective crop camera (s, tx, ty) -> (s, -tx, ty)."""
    return camera * camera.new_tensor((1.0, -1.0, 1.0))


def mean_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Chordal mean of two rotations (B, 3, 3): the rotation nearest to (a + b) / 2 in the Frobenius norm."""
    u, _, vt = torch.linalg.svd(a + b)
    sign = torch.sign(torch.linalg.det(u @ vt))  # keep det +1 (a reflection is never nearest for nearby inputs)
    return u @ torch.diag_embed(torch.stack([torch.ones_like(sign), torch.ones_like(sign), sign], -1)) @ vt


def average_with_mirrors(
    vertices_m: torch.Tensor, rotation: torch.Tensor, camera: torch.Tensor, vertex_mirror: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Answers for ``with_mirrors`` rows -> one answer per crop: the mean of each crop's and its mirrored-back twin's.

    Args:
        vertices_m: (2N, V, 3) canonical meshes; rows N.. answer the mirror images.
        rotation: (2N, 3, 3) canonical -> camera.
        camera: (2N, 3) weak-perspective crop cameras (s, tx, ty).
        vertex_mirror: (V,) :func:`mocap.body.symmetry.load_vertex_mirror`.

    Returns:
        (N, V, 3) mean canonical mesh, (N, 3, 3) chordal mean rotation, (N, 3) mean camera.
    """
    half = len(vertices_m) // 2
    vertices = (vertices_m[:half] + mirror_vertices(vertices_m[half:], vertex_mirror)) / 2
    rotations = mean_rotation(rotation[:half], mirror_rotation(rotation[half:]))
    cameras = (camera[:half] + mirror_camera(camera[half:])) / 2
    return vertices, rotations, cameras
