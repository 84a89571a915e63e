"""Pure batch functions that score and pair tracks (rows) with detections (columns).

Boxes are ``(x0, y0, x1, y1)`` in pixels; landmarks are MediaPipe's 33 ``(x_px, y_px, visibility)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

# Landmark similarity falls to exp(-1/2) ~ 0.61 when a landmark is off by this fraction of the
# person's scale (sqrt of the landmarks' box area): COCO's OKS uses 2*sigma = 0.05 (eyes) to 0.21
# (hips); 0.1 sits in the middle, since MediaPipe gives one confidence for all 33 landmarks.
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
        landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``; NaN rows are ignored.

    Returns:
        (N,) area in pixels^2.

    Example:
        >>> landmark_area_px2([[[0, 0, 1], [4, 10, 0.5]]]).tolist()
        [40.0]
    """
    xy = np.asarray(landmarks_px, np.float64)[..., :2]  # (N, K, 2)
    low = np.min(np.where(np.isfinite(xy), xy, np.inf), axis=1)  # (N, 2)
    high = np.max(np.where(np.isfinite(xy), xy, -np.inf), axis=1)
    extent = np.where(high >= low, high - low, 0.0)  # (N, 2); 0 when no landmark is finite
    return np.maximum(extent[:, 0] * extent[:, 1], 1.0)


def landmark_similarity(
    a_landmarks_px: npt.ArrayLike, b_landmarks_px: npt.ArrayLike, kappa: float = DEFAULT_KAPPA
) -> npt.NDArray[np.float64]:
    """Object-keypoint similarity (OKS, as in COCO) of every person in ``a`` with every person in ``b``.

    ``sim[i, j] = sum_k w_ijk exp(-d_ijk^2 / (2 s_ij^2 kappa^2)) / sum_k w_ijk`` with landmark
    distance ``d_ijk`` in pixels, weight ``w_ijk = vis_ik * vis_jk``, and squared scale ``s_ij^2``
    the mean of the two people's :func:`landmark_area_px2`. A landmark with a NaN coordinate
    has weight 0; a pair with no shared visible landmark scores 0.

    Args:
        a_landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``.
        b_landmarks_px: (M, K, 3) the same.
        kappa: landmark tolerance as a fraction of the person's scale.

    Returns:
        (N, M) similarity in [0, 1]: 1 for identical poses, near 0 for different places or poses.

    Example:
        >>> a = [[[0, 0, 1], [10, 10, 1]]]; b = [[[0, 1, 1], [10, 11, 1]]]
        >>> landmark_similarity(a, b).round(4).tolist()  # d = 1 px, s^2 = 100 px^2: exp(-1/2)
        [[0.6065]]
    """
    a = np.asarray(a_landmarks_px, np.float64)
    b = np.asarray(b_landmarks_px, np.float64)
    a_ok = np.asarray(np.isfinite(a).all(-1))  # (N, K)
    b_ok = np.asarray(np.isfinite(b).all(-1))  # (M, K)
    a_xy = np.where(a_ok[..., None], a[..., :2], 0.0)
    b_xy = np.where(b_ok[..., None], b[..., :2], 0.0)
    weight = np.where(a_ok, a[..., 2], 0.0)[:, None] * np.where(b_ok, b[..., 2], 0.0)[None]  # (N, M, K)
    dist2 = ((a_xy[:, None] - b_xy[None]) ** 2).sum(-1)  # (N, M, K) pixels^2
    scale2 = (landmark_area_px2(a)[:, None] + landmark_area_px2(b)[None]) / 2  # (N, M) pixels^2
    closeness = np.exp(-dist2 / (2 * scale2[..., None] * kappa**2))  # (N, M, K)
    total = weight.sum(-1)
    return np.divide((weight * closeness).sum(-1), total, out=np.zeros_like(total), where=total > 0)


def move_landmarks(
    landmarks_px: npt.ArrayLike, from_xyxy_px: npt.ArrayLike, to_xyxy_px: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Carry landmarks seen in one box into another: same place relative to the box, per axis.

    Used to compare a track's last-seen landmarks with this frame's detections at the box the
    Kalman filter predicts, so that walking (translation, scale) does not count as a pose change.

    Args:
        landmarks_px: (N, K, 3) ``(x_px, y_px, visibility)``; visibility is kept.
        from_xyxy_px: (N, 4) the box the landmarks were seen in.
        to_xyxy_px: (N, 4) the box to move them into.

    Returns:
        (N, K, 3) moved landmarks.

    Example:
        >>> move_landmarks([[[2, 2, 1]]], [[0, 0, 4, 4]], [[10, 10, 18, 14]]).tolist()
        [[[14.0, 12.0, 1.0]]]
    """
    out = np.array(landmarks_px, np.float64)  # a copy: never write into the caller's array
    src = np.asarray(from_xyxy_px, np.float64)[:, None]  # (N, 1, 4)
    dst = np.asarray(to_xyxy_px, np.float64)[:, None]
    src_size = np.maximum(src[..., 2:] - src[..., :2], 1e-6)  # (N, 1, 2)
    relative = (out[..., :2] - src[..., :2]) / src_size  # (N, K, 2) in box units
    out[..., :2] = dst[..., :2] + relative * (dst[..., 2:] - dst[..., :2])
    return out


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
    unmatched_rows = np.setdiff1d(np.arange(n), matches[:, 0]).astype(np.int64)
    unmatched_cols = np.setdiff1d(np.arange(m), matches[:, 1]).astype(np.int64)
    return matches, unmatched_rows, unmatched_cols
