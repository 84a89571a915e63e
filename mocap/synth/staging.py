"""Where the synthetic people stand and walk, and where the camera looks from: pure numpy functions.

World frame: Anny's, metres, z up, floor at z = 0. The camera stands on the -y side looking
toward +y, so a person who faces -y (Anny's rest orientation) faces the camera.

Example:
    >>> rng = np.random.default_rng(0)
    >>> roots = np.zeros((30, 3)); roots[:, 0] = np.linspace(0, 2, 30)
    >>> travel_yaw(roots) == 0.0
    True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

IN_PLACE_M = 0.6  # a root that travels less than this over the clip counts as staying in place
BODY_TOP_M = 2.0  # tallest head we frame, with margin
BODY_HALF_WIDTH_M = 0.6  # arms out, with margin


def rot_z(yaw_rad: float | FloatArray) -> FloatArray:
    """(...) yaw angles -> (..., 3, 3) rotations about world z."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], -2)


def travel_yaw(root_world_m: FloatArray) -> float:
    """(T, 3) root path -> heading of its net horizontal displacement, radians from +x (0 when in place)."""
    delta = root_world_m[-1, :2] - root_world_m[0, :2]
    if np.linalg.norm(delta) < IN_PLACE_M:
        return 0.0
    return float(np.arctan2(delta[1], delta[0]))


def place(
    root_world_m: FloatArray, root_rotmat: FloatArray, yaw_rad: float, centre_xy_m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Turn a performance about z and move it so its path's midpoint lands on ``centre_xy_m``.

    Args:
        root_world_m: (T, 3) root positions.
        root_rotmat: (T, 3, 3) global root orientations.
        yaw_rad: turn about world z.
        centre_xy_m: (2,) where the midpoint of the horizontal path goes.

    Returns:
        The moved root positions (T, 3) (heights kept) and orientations (T, 3, 3).
    """
    turn = rot_z(yaw_rad)
    moved = root_world_m @ turn.T
    middle = 0.5 * (moved[:, :2].min(axis=0) + moved[:, :2].max(axis=0))
    moved[:, :2] += np.asarray(centre_xy_m) - middle
    return moved, turn @ root_rotmat


def stage_people(
    roots_world_m: list[FloatArray], rng: np.random.Generator, lane_gap_m: float = 1.0
) -> list[tuple[float, FloatArray]]:
    """Choose a (yaw, path centre) per person so that walkers cross in front of the camera.

    People who travel walk along +x or -x in alternation, each in their own depth lane (y),
    all paths centred on x = 0, so that they meet mid-clip; people who stay in place stand side
    by side, turned toward the camera within +-40 degrees.

    Args:
        roots_world_m: per person, the (T, 3) root path of their performance as recorded.
        rng: draws the in-place turns.
        lane_gap_m: depth between lanes.

    Returns:
        per person, (yaw_rad, centre_xy_m (2,)) for :func:`place`.
    """
    staged = []
    for i, roots in enumerate(roots_world_m):
        lane_y = lane_gap_m * (i - (len(roots_world_m) - 1) / 2)
        travelling = np.linalg.norm(roots[-1, :2] - roots[0, :2]) >= IN_PLACE_M
        if travelling:
            heading = 0.0 if i % 2 == 0 else np.pi
            staged.append((heading - travel_yaw(roots), np.array([0.0, lane_y])))
        else:
            side_x = 1.2 * (i - (len(roots_world_m) - 1) / 2)
            staged.append((float(rng.uniform(-np.radians(40), np.radians(40))), np.array([side_x, lane_y / 2])))
    return staged


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """(T, D) -> (T, D) centred moving average, edges padded by repetition."""
    if window <= 1:
        return values.copy()
    pad = window // 2
    padded = np.concatenate([np.repeat(values[:1], pad, 0), values, np.repeat(values[-1:], window - 1 - pad, 0)])
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, d], kernel, mode="valid") for d in range(values.shape[1])], axis=1)


def camera_path(
    people_roots_world_m: FloatArray,
    fov_y_deg: float,
    aspect: float,
    rng: np.random.Generator,
    fps: float,
    height_m: float = 1.4,
    sway_m: float = 0.05,
) -> tuple[FloatArray, FloatArray]:
    """A slowly panning, gently swaying camera that keeps everyone in frame.

    The target follows the people's centroid smoothed over two seconds; the distance is the
    smallest at which everyone (roots widened by a body's half width) fits in 90 % of the frames
    and a ``BODY_TOP_M`` body fits in height; the eye sways by a few centimetres (two random
    sinusoids per axis).

    Args:
        people_roots_world_m: (P, T, 3) root paths, already staged.
        fov_y_deg: vertical field of view.
        aspect: width / height of the image.
        rng: draws the sway.
        fps: frames per second (for the smoothing window and sway frequencies).
        height_m: eye height above the floor.
        sway_m: sway amplitude.

    Returns:
        eye_world_m (T, 3) and target_world_m (T, 3).
    """
    steps = people_roots_world_m.shape[1]
    centroid = people_roots_world_m.mean(axis=0)  # (T, 3)
    target = moving_average(centroid, int(2 * fps))
    target[:, 2] = 0.5 * BODY_TOP_M - 0.1
    tan_half = np.tan(np.radians(fov_y_deg) / 2)
    # Frame 90 % of the clip fully: walkers may step out of the picture at its very ends (MediaPipe
    # misses people much smaller than ~200 px, so a tight frame matters more than the last steps).
    offsets_x = np.abs(people_roots_world_m[..., 0] - target[None, :, 0]).max(axis=0)  # (T,)
    spread_x = float(np.percentile(offsets_x, 90)) + BODY_HALF_WIDTH_M
    nearest_y = people_roots_world_m[..., 1].min()
    distance = max(spread_x / (tan_half * aspect), 0.62 * BODY_TOP_M / tan_half) + (target[:, 1].mean() - nearest_y)
    eye = target.copy()
    eye[:, 1] -= distance
    eye[:, 2] = height_m
    time_s = np.arange(steps) / fps
    for axis in range(3):
        freqs, phases = rng.uniform(0.1, 0.5, 2), rng.uniform(0, 2 * np.pi, 2)
        eye[:, axis] += sway_m * np.sin(2 * np.pi * freqs[:, None] * time_s + phases[:, None]).mean(axis=0)
    return eye, target
