"""Placing a mesh in the camera frame so that its joints project onto the detector's 2-D landmarks.

MEGA's crop camera places MEGA's own mesh. Once the mesh stage has moved the mesh's joints toward the lifter's
(``mocap.mesh.fusion``), that camera no longer fits: the joints moved in 3-D, the translation did not, and the
overlay drifts off the person (session 10: 7.2 -> 9.5 px on the bundled walk). The detector's 2-D landmarks are the
best evidence of where the body is in the image (~5 px), so the translation is solved again, for the fused joints,
by weighted linear least squares on the pinhole equations, with a weak prior toward the crop camera's translation
that keeps the depth where the 2-D evidence is thin (few or clustered visible joints).

For a joint at P (camera orientation, metres, relative to the mesh's vertex centroid) seen at normalised image
coordinates ``a = (u - c) / f``, the pinhole relation ``a (P_z + t_z) = P_xy + t_xy`` is linear in the translation
``t``: two equations per joint, each a lateral miss in metres at the joint's depth, weighted by its visibility.

Example:
    >>> t = fit_translation(joints_m, landmarks_px, visibility, focal_px, principal_px, translation_m)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# The prior's weight, against joints of weight 1 (visibility). The translation's x, y are pinned by any visible joint;
# its depth only through the joints' spread across the image (coefficients ``a`` ~ 0.1 for a body a fifth of the
# view tall, so the joints weigh ~ sum w a^2 ~ 0.1 on it, less the farther the body), and 1e-3 leaves the depth to the
# 2-D evidence (a 2 m wrong prior pulls a body 4 m away by 1.4 cm, 9 m away by 9 cm) while a person with nearly
# nothing visible keeps the crop camera's. On the bundled walk: overlay miss 9.5 -> 4.4 px, hip-centre error
# 377 -> 70 mm (0.01: 4.6 px, 74 mm; 1: 8.4 px), benchmarks/results/capture.json.
PRIOR_WEIGHT = 1e-3


class Placement(NamedTuple):
    """N bodies' translations (N, 3), metres, camera frame, and their variances (N, 3), m^2, per axis: the fit's
    residual variance propagated through its normal equations. Depth is the loose one (a far or small person), and
    the live smoother weighs each frame's depth by it."""

    translation_m: Array
    variance_m2: Array


def fit_translation(
    points_m: npt.NDArray[np.floating],
    landmarks_px: npt.NDArray[np.floating],
    weights: npt.NDArray[np.floating],
    focal_px: npt.NDArray[np.floating],
    principal_px: npt.NDArray[np.floating],
    prior_m: npt.NDArray[np.floating],
    prior_weight: float = PRIOR_WEIGHT,
) -> Placement:
    """The translation of N bodies that best puts their points on the observed pixels, and its variance.

    Args:
        points_m: (N, J, 3) points, camera orientation (x right, y down, z forward), relative to the placed origin.
        landmarks_px: (N, J, 2) where the image shows them (NaN where not seen).
        weights: (N, J) confidence of each observation (visibility in [0, 1]); 0 ignores it.
        focal_px: (N,) focal length; principal_px: (N, 2) principal point (the full image's intrinsics).
        prior_m: (N, 3) the translation to stay near where the observations leave it free (and its fallback).
        prior_weight: the prior's weight, in units of one joint of weight 1 (see ``PRIOR_WEIGHT``).
    """
    points = np.asarray(points_m, np.float64)
    normalised = (np.asarray(landmarks_px, np.float64) - np.asarray(principal_px)[:, None]) / np.asarray(focal_px)[
        :, None, None
    ]  # (N, J, 2)
    w = np.where(np.isfinite(normalised).all(-1), np.asarray(weights, np.float64), 0.0)  # (N, J)
    normalised = np.nan_to_num(normalised)
    # Rows of the system, one per joint and image axis k: t_k - a_k t_z = a_k P_z - P_k.
    n, j, _ = points.shape
    rows = np.zeros((n, j, 2, 3))
    rows[..., 0, 0] = rows[..., 1, 1] = 1.0
    rows[..., 2] = -normalised
    rhs = normalised * points[..., 2:3] - points[..., :2]  # (N, J, 2)
    normal = np.einsum("nj,njki,njkl->nil", w, rows, rows) + prior_weight * np.eye(3)  # (N, 3, 3)
    target = np.einsum("nj,njki,njk->ni", w, rows, rhs) + prior_weight * np.asarray(prior_m, np.float64)  # (N, 3)
    translation = np.linalg.solve(normal, target[..., None])[..., 0]
    # Variance: the weighted residual variance per equation (metres^2 at the joints' depths; shape mismatch counts
    # as noise too) times the diagonal of the inverse normal matrix.
    residual = np.einsum("njki,ni->njk", rows, translation) - rhs  # (N, J, 2)
    dof = np.maximum(2 * w.sum(axis=1) - 3, 1.0)
    sigma2 = (w[..., None] * residual**2).sum(axis=(1, 2)) / dof  # (N,)
    variance = sigma2[:, None] * np.diagonal(np.linalg.inv(normal), axis1=1, axis2=2)  # (N, 3)
    # A body cannot sit behind the camera: where the solve says so (degenerate evidence), keep the prior.
    in_front = translation[:, 2] + points[..., 2].min(axis=1) > 0.1
    return Placement(
        np.where(in_front[:, None], translation, np.asarray(prior_m, np.float64)),
        np.where(in_front[:, None], variance, 0.0),
    )
