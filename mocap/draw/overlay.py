"""2D annotations on a frame: boxes, track ids and MediaPipe skeletons.

Pure drawing on a copy of the image; used by the overlay video sink of ``mocap run``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from mocap.types import Tracks, TrackState

# BlazePose 33-landmark skeleton (pairs of landmark indices): face, arms and hands, torso, legs and feet.
POSE_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),
)  # fmt: skip

# Distinct, colour-blind-friendly colours (RGB), picked by track id.
PALETTE_RGB: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
    (0, 114, 178), (213, 94, 0), (204, 121, 167), (255, 255, 255),
)  # fmt: skip


def track_colour(track_id: int) -> tuple[int, int, int]:
    """RGB colour of a track id; stable across frames and runs."""
    return PALETTE_RGB[(int(track_id) - 1) % len(PALETTE_RGB)]


def draw_tracks(
    image_rgb: npt.NDArray[np.uint8], tracks: Tracks, *, min_visibility: float = 0.5
) -> npt.NDArray[np.uint8]:
    """Draw each track's box, id and skeleton on a copy of ``image_rgb`` (H, W, 3).

    Tentative tracks get a thin box, lost tracks a dashed-looking thin box at the predicted place.
    Landmarks with visibility below ``min_visibility`` are left out.
    """
    canvas = np.ascontiguousarray(image_rgb.copy())
    scale = max(1, round(max(canvas.shape[:2]) / 640))
    for row in range(len(tracks)):
        colour = track_colour(int(tracks.track_id[row]))
        state = TrackState(int(tracks.state[row]))
        x0, y0, x1, y1 = (int(round(v)) for v in np.nan_to_num(tracks.xyxy_px[row]))
        thickness = 2 * scale if state == TrackState.CONFIRMED else scale
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)
        label = f"{int(tracks.track_id[row])}" + ("" if state == TrackState.CONFIRMED else f" {state.name.lower()}")
        cv2.putText(canvas, label, (x0 + 3, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, colour, scale + 1)
        if state == TrackState.LOST:
            continue
        points = tracks.landmarks_px[row]
        visible = np.isfinite(points[:, 0]) & (points[:, 2] >= min_visibility)
        for a, b in POSE_EDGES:
            if visible[a] and visible[b]:
                pa = (int(round(points[a, 0])), int(round(points[a, 1])))
                pb = (int(round(points[b, 0])), int(round(points[b, 1])))
                cv2.line(canvas, pa, pb, colour, scale + 1, cv2.LINE_AA)
        for x, y in points[visible, :2]:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 2 * scale, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas


def draw_status(image_rgb: npt.NDArray[np.uint8], text: str) -> npt.NDArray[np.uint8]:
    """Write a status line (frame index, fps) at the top-left corner, in place, and return the image."""
    cv2.putText(image_rgb, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image_rgb, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return image_rgb
