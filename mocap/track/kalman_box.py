"""Constant-velocity Kalman filter over one person's box, in image pixels.

State ``x = (cx, cy, w, h, vcx, vcy, vw, vh)``: box centre and size in pixels, and their
velocities in pixels per frame. Measurement ``z = (cx, cy, w, h)``.

Every noise standard deviation is a fraction of the box's current width (for x and w) or height
(for y and h), as in BoT-SORT (Aharon et al. 2022, eq. 1-4), which refines ByteTrack's
height-scaled noise. So the same filter tracks a 40-pixel figure in the distance and a 900-pixel
person close to a 4K camera: scaling every box by s scales every estimate by s.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from filterpy.kalman import KalmanFilter

# Standard deviations as fractions of the box size (BoT-SORT's values): positions and sizes are
# measured to ~5 % of the box, and may change by ~0.6 % of the box per frame.
POSITION_STD_PER_SIZE = 1.0 / 20.0
VELOCITY_STD_PER_SIZE = 1.0 / 160.0
# Boxes never shrink below this (pixels), so the noise, which scales with size, stays positive.
MIN_SIZE_PX = 1.0


def xyxy_to_cxcywh(xyxy: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Corners to centre and size.

    Args:
        xyxy: (..., 4) boxes ``(x0, y0, x1, y1)`` in pixels.

    Returns:
        (..., 4) float64 boxes ``(cx, cy, w, h)`` in pixels.

    Example:
        >>> xyxy_to_cxcywh([10, 20, 30, 60]).tolist()
        [20.0, 40.0, 20.0, 40.0]
    """
    xyxy = np.asarray(xyxy, np.float64)
    low, high = xyxy[..., :2], xyxy[..., 2:]
    return np.concatenate([(low + high) / 2, high - low], axis=-1)


def cxcywh_to_xyxy(cxcywh: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Centre and size to corners: the inverse of :func:`xyxy_to_cxcywh`.

    Args:
        cxcywh: (..., 4) boxes ``(cx, cy, w, h)`` in pixels.

    Returns:
        (..., 4) float64 boxes ``(x0, y0, x1, y1)`` in pixels.

    Example:
        >>> cxcywh_to_xyxy([20, 40, 20, 40]).tolist()
        [10.0, 20.0, 30.0, 60.0]
    """
    cxcywh = np.asarray(cxcywh, np.float64)
    centre, half_size = cxcywh[..., :2], cxcywh[..., 2:] / 2
    return np.concatenate([centre - half_size, centre + half_size], axis=-1)


def _size_scale(wh_px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(w, h) -> (4,) per-coordinate scale (w, h, w, h): x-like entries scale with w, y-like with h."""
    w, h = np.maximum(wh_px, MIN_SIZE_PX)
    return np.array([w, h, w, h])


def process_noise_cov(wh_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Process noise Q for one frame of motion, for a box of size (w, h) pixels.

    Args:
        wh_px: (2,) box width and height in pixels.

    Returns:
        (8, 8) diagonal covariance in pixels^2 (positions) and (pixels/frame)^2 (velocities).

    Example:
        >>> process_noise_cov([100, 200]).diagonal()[[0, 1, 4]].tolist()
        [25.0, 100.0, 0.390625]
    """
    scale = _size_scale(np.asarray(wh_px, np.float64))
    std = np.concatenate([POSITION_STD_PER_SIZE * scale, VELOCITY_STD_PER_SIZE * scale])
    return np.diag(std**2)


def measurement_noise_cov(wh_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Measurement noise R of a detected box of size (w, h) pixels.

    Args:
        wh_px: (2,) box width and height in pixels.

    Returns:
        (4, 4) diagonal covariance of ``(cx, cy, w, h)`` in pixels^2.

    Example:
        >>> measurement_noise_cov([100, 200]).diagonal().tolist()
        [25.0, 100.0, 25.0, 100.0]
    """
    std = POSITION_STD_PER_SIZE * _size_scale(np.asarray(wh_px, np.float64))
    return np.diag(std**2)


def initial_state_cov(wh_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Covariance P of a new track: twice the measurement std on position, a wide prior on velocity.

    Args:
        wh_px: (2,) box width and height in pixels.

    Returns:
        (8, 8) diagonal covariance.

    Example:
        >>> initial_state_cov([100, 200]).diagonal()[[0, 4]].tolist()
        [100.0, 39.0625]
    """
    scale = _size_scale(np.asarray(wh_px, np.float64))
    std = np.concatenate([2 * POSITION_STD_PER_SIZE * scale, 10 * VELOCITY_STD_PER_SIZE * scale])
    return np.diag(std**2)


class BoxKalmanFilter:
    """One track's box: constant velocity in (cx, cy, w, h), noise proportional to box size.

    Example:
        >>> kf = BoxKalmanFilter([0, 0, 100, 200]); kf.predict(); kf.update([10, 0, 110, 200])
        >>> kf.xyxy_px.round(2).tolist()
        [8.68, 0.0, 108.68, 200.0]
    """

    def __init__(self, xyxy_px: npt.ArrayLike) -> None:
        """Start at rest on a box.

        Args:
            xyxy_px: (4,) first detected box ``(x0, y0, x1, y1)`` in pixels.
        """
        cxcywh = xyxy_to_cxcywh(xyxy_px)
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = np.eye(8)
        kf.F[:4, 4:] = np.eye(4)  # position += velocity * 1 frame
        kf.H = np.eye(4, 8)
        kf.x = np.concatenate([cxcywh, np.zeros(4)])[:, None]  # (8, 1) column, as filterpy wants
        kf.P = initial_state_cov(cxcywh[2:])
        self._kf = kf

    @property
    def cxcywh_px(self) -> npt.NDArray[np.float64]:
        """(4,) current box estimate ``(cx, cy, w, h)`` in pixels."""
        return self._kf.x[:4, 0].copy()

    @property
    def velocity_px_per_frame(self) -> npt.NDArray[np.float64]:
        """(4,) current velocity of ``(cx, cy, w, h)`` in pixels per frame."""
        return self._kf.x[4:, 0].copy()

    @property
    def xyxy_px(self) -> npt.NDArray[np.float64]:
        """(4,) current box estimate ``(x0, y0, x1, y1)`` in pixels."""
        return cxcywh_to_xyxy(self.cxcywh_px)

    def predict(self, steps: int = 1) -> None:
        """Advance the state by ``steps`` frames (more than one when a live source dropped frames)."""
        for _ in range(steps):
            self._kf.predict(Q=process_noise_cov(self._kf.x[2:4, 0]))
            self._keep_size_positive()

    def update(self, xyxy_px: npt.ArrayLike) -> None:
        """Correct the prediction with a detected box ``(x0, y0, x1, y1)`` (4,) in pixels."""
        # R scales with the predicted size (BoT-SORT): it must not depend on the measurement itself.
        self._kf.update(xyxy_to_cxcywh(xyxy_px)[:, None], R=measurement_noise_cov(self._kf.x[2:4, 0]))
        self._keep_size_positive()

    def _keep_size_positive(self) -> None:
        # A shrinking box coasting through occlusion would pass through zero: stop it at MIN_SIZE_PX.
        for size, velocity in ((2, 6), (3, 7)):
            if self._kf.x[size, 0] < MIN_SIZE_PX:
                self._kf.x[size, 0] = MIN_SIZE_PX
                self._kf.x[velocity, 0] = 0.0
