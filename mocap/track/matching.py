"""Pure batch functions that score and pair tracks (rows) with detections (columns).

Boxes are ``(x0, y0, x1, y1)`` in pixels; landmarks are MediaPipe's 33 ``(x_px, y_px, visibility)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

# Pose similarity falls to exp(-1/2) ~ 0.61 when a landmark is off by this fraction of the person's
# scale (sqrt of the landmarks' box area): COCO's OKS uses 2*sigma = 0.05 (eyes) to 0.21 (hips);
# 0.1 sits in the middle, since MediaPipe gives one confidence for all 33 landmarks.
DEFAULT_KAPPA = 0.1


def box_iou(a_xyxy_px: npt.ArrayLike, b_xyxy_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Args:
        a_xyxy_px: (N, 4) boxes in pixels.
        b_xyxy_px: (M, 4) boxes in pixels.

    Returns:
        (N, M) IoU in [0, 1]; 0 where both boxes are empty.

    Example:
        >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]]).round(4).tolist()
        [[0.1429, 1.0]]
    """
    a = np.asarray(a_xyxy_px, np.float64).reshape(-1, 4)[:, None]  # (N, 1, 4)
    b = np.asarray(b_xyxy_px, np.float64).reshape(-1, 4)[None]  # (1, M, 4)
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h  # (N, M)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def landmark_area_px2(landmarks_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Area of the box around each person's finite landmarks, at least 1 pixel^2.

    Args:
        landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``; landmarks with a NaN are ignored.

    Returns:
        (N,) area in pixels^2.

    Example:
        >>> landmark_area_px2([[[0, 0, 1], [4, 10, 0.5]]]).tolist()
        [40.0]
    """
    xy = np.asarray(landmarks_px, np.float64)[..., :2]  # (N, K, 2)
    ok = np.asarray(np.isfinite(xy).all(-1, keepdims=True))  # (N, K, 1): a landmark with a NaN is skipped
    low = np.min(np.where(ok, xy, np.inf), axis=1)  # (N, 2)
    high = np.max(np.where(ok, xy, -np.inf), axis=1)
    extent = np.where(high >= low, high - low, 0.0)  # (N, 2); 0 when no landmark is finite
    return np.maximum(extent[:, 0] * extent[:, 1], 1.0)


def normalised_pose(
    landmarks_px: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Landmarks relative to the person's visibility-weighted centroid, in units of the person's scale.

    Args:
        landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``.

    Returns:
        ``pose`` (N, K, 2) ``(xy - centroid) / sqrt(landmark_area_px2)`` (0 where not finite) and
        ``weight`` (N, K) visibility, 0 where a landmark has a NaN.

    Example:
        >>> pose, weight = normalised_pose([[[0, 0, 1], [10, 10, 1]]])
        >>> pose.tolist()
        [[[-0.5, -0.5], [0.5, 0.5]]]
    """
    landmarks = np.asarray(landmarks_px, np.float64)
    ok = np.asarray(np.isfinite(landmarks).all(-1))  # (N, K)
    weight = np.where(ok, landmarks[..., 2], 0.0)
    xy = np.where(ok[..., None], landmarks[..., :2], 0.0)
    total = np.maximum(weight.sum(-1, keepdims=True), 1e-12)  # (N, 1)
    centroid = (weight[..., None] * xy).sum(1) / total  # (N, 2)
    scale = np.sqrt(landmark_area_px2(landmarks))  # (N,)
    pose = np.where(ok[..., None], (xy - centroid[:, None]) / scale[:, None, None], 0.0)
    return pose, weight


def landmark_similarity(
    a_landmarks_px: npt.ArrayLike, b_landmarks_px: npt.ArrayLike, kappa: float = DEFAULT_KAPPA
) -> npt.NDArray[np.float64]:
    """Pose similarity of every person in ``a`` with every person in ``b``: OKS (as in COCO) on
    :func:`normalised_pose`, so it ignores where a person is and how large, and measures only pose
    and build. (Where people are is the IoU's job; a plain OKS would repeat it, and would favour
    the wrong person whenever the box prediction lags, e.g. when someone turns back.)

    ``sim[i, j] = sum_k w_ijk exp(-|p_ik - p_jk|^2 / (2 kappa^2)) / sum_k w_ijk`` with normalised
    poses ``p`` and weights ``w_ijk = vis_ik * vis_jk``. A pair with no shared visible landmark
    scores 0.

    Args:
        a_landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``; NaN landmarks have weight 0.
        b_landmarks_px: (M, K, 3) the same.
        kappa: landmark tolerance as a fraction of the person's scale.

    Returns:
        (N, M) similarity in [0, 1]: 1 for the same pose anywhere at any size, near 0 for different poses.

    Example:
        >>> a = [[[0, 0, 1], [10, 10, 1]]]; b = [[[100, 50, 1], [120, 70, 1]]]  # moved and scaled
        >>> landmark_similarity(a, b).tolist()
        [[1.0]]
    """
    a_pose, a_weight = normalised_pose(a_landmarks_px)  # (N, K, 2), (N, K)
    b_pose, b_weight = normalised_pose(b_landmarks_px)  # (M, K, 2), (M, K)
    weight = a_weight[:, None] * b_weight[None]  # (N, M, K)
    dist2 = ((a_pose[:, None] - b_pose[None]) ** 2).sum(-1)  # (N, M, K) in scale units^2
    closeness = np.exp(-dist2 / (2 * kappa**2))
    total = weight.sum(-1)
    return np.divide((weight * closeness).sum(-1), total, out=np.zeros_like(total), where=total > 0)


def assign(
    cost: npt.ArrayLike, max_cost: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Minimum-cost partial matching of rows to columns, never pairing above ``max_cost``.

    Each pair costs ``cost[i, j]``; leaving a row and a column unmatched instead costs
    ``max_cost`` (``max_cost / 2`` each). This is the rule ``lap.lapjv(cost_limit=...)`` applies
    for ByteTrack: a confident pair is never broken up just to match more pairs. NaN/inf
    costs never match. Solved exactly by Hungarian matching (scipy) on the extended
    (N + M, N + M) matrix.

    Args:
        cost: (N, M) pairing costs.
        max_cost: the highest cost a pair may have and still be matched.

    Returns:
        ``matches`` (K, 2) int64 ``(row, col)`` sorted by row; ``unmatched_rows`` (N - K,) and
        ``unmatched_cols`` (M - K,) int64, ascending.

    Example:
        >>> matches, rows, cols = assign([[0.1, 0.7], [0.7, 9.0]], max_cost=0.8)
        >>> matches.tolist(), rows.tolist(), cols.tolist()  # 0.1 + 0.8 beats 0.7 + 0.7
        ([[0, 0]], [1], [1])
    """
    cost = np.asarray(cost, np.float64)
    n, m = cost.shape
    allowed = np.isfinite(cost) & (cost <= max_cost)
    if allowed.any():
        extended = np.full((n + m, m + n), np.inf)
        extended[:n, :m] = np.where(allowed, cost, np.inf)
        extended[:n, m:][np.diag_indices(n)] = max_cost / 2  # row i left unmatched
        extended[n:, :m][np.diag_indices(m)] = max_cost / 2  # column j left unmatched
        extended[n:, m:] = 0.0  # dummy with dummy: free
        rows, cols = linear_sum_assignment(extended)
        real = (rows < n) & (cols < m)
        matches = np.stack([rows[real], cols[real]], axis=1).astype(np.int64)
    else:
        matches = np.zeros((0, 2), np.int64)
    row_free, col_free = np.ones(n, bool), np.ones(m, bool)
    row_free[matches[:, 0]] = False
    col_free[matches[:, 1]] = False
    return matches, np.flatnonzero(row_free).astype(np.int64), np.flatnonzero(col_free).astype(np.int64)
