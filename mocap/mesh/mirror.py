"""Mirror averaging: MEGA's answer for each crop averaged with its answer for the crop's mirror image.

A person seen in a mirror is another plausible person, so MEGA's answer for the mirror image, mirrored back, is
a second estimate of the same body, and the mean of the two is closer to the truth than either (an ensemble of
two, for one more argmax pass and decode). The mirror image comes from one of two places:

- the flipped frame itself, when the detector looked there too (``mocap run --mirror-view``,
  :mod:`mocap.detect.mirror`): MediaPipe measures the mirrored person anew, with errors of its own, so the twin
  is a genuinely second measurement and the average helps every crop;
- else the crop's own landmarks, mirrored: no new measurement, and on confident crops MEGA's own answer is better
  (it has learnt to correct the detector's habits, which a mirrored input turns the other way), so only crops whose
  cheap uncertainty is above ``PolicyConfig.mirror_threshold`` are averaged.

Measured with version 4 (models/mega_anny/MODEL_CARD.md, "Mirror averaging" and "Mirrored view").

Frames (``mocap.mega.geometry``): mirroring the image about the crop's vertical centre line is x -> -x in crop
coordinates and in the camera frame (M = diag(-1, 1, 1)); MediaPipe's world landmarks share the camera's axes, so
their x flips too, and every left landmark becomes the right one. A body posed as R v (R canonical -> camera)
appears mirrored as M R v = (M R M)(M v): the mirrored body M v (vertices relabelled by
:func:`mocap.body.symmetry.load_vertex_mirror`) turned by M R M. The weak-perspective camera (s, tx, ty) becomes
(s, -tx, ty). Every map here is its own inverse.

Example:
    >>> vertices, rotation, camera = average_twins(  # doctest: +SKIP
    ...     crops, uncertainty, 0.4, answer, answer_for, load_vertex_mirror(), seen_mirrored
    ... )
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.symmetry import mirror_landmarks
from mocap.types import Crops

_FLIP_X = (-1.0, 1.0, 1.0)

# MEGA's deterministic answer for N crops: canonical meshes (N, V, 3), canonical -> camera rotations (N, 3, 3),
# weak-perspective crop cameras (N, 3) = (s, tx, ty).
Answer = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


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


def average_twins(
    crops: Crops,
    uncertainty: npt.NDArray[np.floating],
    threshold: float,
    answer: Answer,
    answer_for: Callable[[Crops], Answer],
    vertex_mirror: torch.Tensor,
    seen_mirrored: Crops | None = None,
) -> Answer:
    """The mesh stage's rule: ``answer`` for the N ``crops``, with some rows averaged with a twin answer.

    - Rows that the mirrored frame measured (finite rows of ``seen_mirrored``: the same crops with the landmarks the
      detector found in the flipped frame, mapped back, ``mocap.detect.mirror``): averaged with ``answer_for`` the
      mirror images of those landmarks, i.e. MEGA's answer for the flipped frame itself, mirrored back. A second
      measurement helps every crop, confident or not.
    - Other rows whose cheap uncertainty (N,) is above ``threshold``: averaged with ``answer_for`` the mirror images
      of their own landmarks.

    ``answer`` itself is left unchanged; the twins go through ``answer_for`` in one batch.
    """
    measured: npt.NDArray[np.bool_] = np.zeros(len(crops), bool)
    if seen_mirrored is not None:
        measured = np.asarray(np.isfinite(seen_mirrored.landmarks_crop).all(axis=(1, 2)), bool)
    rows = np.flatnonzero(measured | (np.asarray(uncertainty) > threshold))
    if not len(rows):
        return answer
    seen = crops[rows]
    if seen_mirrored is not None and measured[rows].any():
        own = ~measured[rows]
        seen = dataclasses.replace(
            seen,
            landmarks_crop=np.where(own[:, None, None], seen.landmarks_crop, seen_mirrored.landmarks_crop[rows]),
            landmarks_world_m=np.where(
                own[:, None, None], seen.landmarks_world_m, seen_mirrored.landmarks_world_m[rows]
            ),
        )
    at = torch.from_numpy(rows)
    vertices, rotation, camera = (part.clone() for part in answer)
    vertices[at], rotation[at], camera[at] = average_with_mirror(
        vertices[at], rotation[at], camera[at], answer_for(mirror_crops(seen)), vertex_mirror
    )
    return vertices, rotation, camera
