"""Mirror test-time augmentation: MEGA on each crop and on its left-right mirror image, the two answers averaged.

A person seen in a mirror is another plausible person, so MEGA's answer for the mirrored crop, mirrored back, is
a second estimate of the same body; on doubtful crops their mean is closer to the truth than either (an ensemble
of two, for one more argmax pass and decode). On confident ones MEGA's own answer is better: it has learnt to
correct the detector's habits, which a mirrored input turns the other way. The mesh stage therefore averages only
crops whose cheap uncertainty is above ``PolicyConfig.mirror_threshold``. Measured with version 4
(models/mega_anny/MODEL_CARD.md, "Mirror averaging").

Frames (``mocap.mega.geometry``): mirroring the image about the crop's vertical centre line is x -> -x in crop
coordinates and in the camera frame (M = diag(-1, 1, 1)); MediaPipe's world landmarks share the camera's axes, so
their x flips too, and every left landmark becomes the right one. A body posed as R v (R canonical -> camera)
appears mirrored as M R v = (M R M)(M v): the mirrored body M v (vertices relabelled by
:func:`mocap.body.symmetry.load_vertex_mirror`) turned by M R M. The weak-perspective camera (s, tx, ty) becomes
(s, -tx, ty). Every map here is its own inverse.

Example:
    >>> vertices, rotation, camera = average_doubtful(  # doctest: +SKIP
    ...     crops, uncertainty, 0.4, answer, answer_for, load_vertex_mirror()
    ... )
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.types import Crops

_FLIP_X = (-1.0, 1.0, 1.0)

# MEGA's deterministic answer for N crops: canonical meshes (N, V, 3), canonical -> camera rotations (N, 3, 3),
# weak-perspective crop cameras (N, 3) = (s, tx, ty).
Answer = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def mirror_landmarks(landmarks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 33, 3) crop (x, y, visibility) or world (x, y, z) landmarks -> those of the mirror image."""
    mirrored = landmarks[:, LANDMARK_MIRROR].copy()
    mirrored[..., 0] *= -1
    return mirrored


def mirror_crops(crops: Crops) -> Crops:
    """The same crops seen in a mirror (same ids, centres and sizes; landmarks mirrored)."""
    return dataclasses.replace(
        crops,
        landmarks_crop=mirror_landmarks(crops.landmarks_crop),
        landmarks_world_m=mirror_landmarks(crops.landmarks_world_m),
    )


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


def average_with_mirror(
    vertices_m: torch.Tensor,
    rotation: torch.Tensor,
    camera: torch.Tensor,
    mirrored: Answer,
    vertex_mirror: torch.Tensor,
) -> Answer:
    """One answer per crop: the mean of MEGA's answer for the crop and its answer for the mirror image, mirrored back.

    Args:
        vertices_m, rotation, camera: the crops' answer: canonical meshes (M, V, 3), canonical -> camera rotations
            (M, 3, 3), weak-perspective crop cameras (M, 3) = (s, tx, ty).
        mirrored: the same three for ``mirror_crops`` of those crops.
        vertex_mirror: (V,) :func:`mocap.body.symmetry.load_vertex_mirror`.

    Returns:
        (M, V, 3) mean canonical mesh, (M, 3, 3) chordal mean rotation, (M, 3) mean camera.
    """
    twin_vertices, twin_rotation, twin_camera = mirrored
    return (
        (vertices_m + mirror_vertices(twin_vertices, vertex_mirror)) / 2,
        mean_rotation(rotation, mirror_rotation(twin_rotation)),
        (camera + mirror_camera(twin_camera)) / 2,
    )


def average_doubtful(
    crops: Crops,
    uncertainty: npt.NDArray[np.floating],
    threshold: float,
    answer: Answer,
    answer_for: Callable[[Crops], Answer],
    vertex_mirror: torch.Tensor,
) -> Answer:
    """The mesh stage's rule: ``answer`` for the N ``crops``, with the rows whose cheap uncertainty (N,) is above
    ``threshold`` averaged with ``answer_for`` their mirror images. ``answer`` itself is left unchanged."""
    rows = np.flatnonzero(np.asarray(uncertainty) > threshold)
    if not len(rows):
        return answer
    at = torch.from_numpy(rows)
    vertices, rotation, camera = (part.clone() for part in answer)
    vertices[at], rotation[at], camera[at] = average_with_mirror(
        vertices[at], rotation[at], camera[at], answer_for(mirror_crops(crops[rows])), vertex_mirror
    )
    return vertices, rotation, camera
