"""Compositing a mesh render over a video frame: pure numpy/OpenCV, no Open3D.

The render is drawn over a *key* background (:data:`KEY_RGB`, pure magenta); every other pixel
is mesh. Open3D's legacy renderer does not anti-alias, so the key pixels are exactly the key
colour and the mask is exact. No lit mesh can produce the key: shading scales a vertex colour
and adds white highlights, and every vertex colour has some green (>= 0.07: the id colours have
saturation 0.8, the uncertainty ramp starts at dark blue (0.19, 0.07, 0.23)), so green is never 0
where red and blue are 255.

Example:
    >>> mask = mesh_mask(render_rgb)  # doctest: +SKIP
    >>> out = blend_masked(frame_rgb, render_rgb, mask, alpha=0.7)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

KEY_RGB = (255, 0, 255)  # background of the mesh render: pixels of this colour are not mesh

Image = npt.NDArray[np.uint8]


def mesh_mask(render_rgb: Image, key_rgb: Sequence[int] = KEY_RGB) -> npt.NDArray[np.bool_]:
    """(H, W, 3) uint8 render over a key background -> (H, W) True where a mesh covers the pixel."""
    key = np.asarray(key_rgb, np.uint8)
    return cv2.inRange(render_rgb, key, key) == 0  # inRange: 255 where all three channels equal the key


def blend_masked(image_rgb: Image, render_rgb: Image, mask: npt.NDArray[np.bool_], alpha: float) -> Image:
    """A copy of ``image_rgb`` (H, W, 3) with ``render_rgb`` laid over it at opacity ``alpha`` where ``mask``.

    Pixels outside the (H, W) mask are copied unchanged.
    """
    out = image_rgb.copy()
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))  # people cover a small part of the frame: blend only there
    if w == 0 or h == 0:
        return out
    box = np.s_[y : y + h, x : x + w]
    blended = cv2.addWeighted(image_rgb[box], 1.0 - alpha, render_rgb[box], alpha, 0.0)  # rounds, saturates
    np.copyto(out[box], blended, where=mask[box][..., None])
    return out


def centred_canvas(
    intrinsics: npt.ArrayLike, size_wh: tuple[int, int]
) -> tuple[npt.NDArray[np.float64], tuple[int, int], tuple[int, int]]:
    """A canvas around the image whose principal point is its centre: Open3D cannot render any other.

    A principal point off the centre by (dx, dy) pixels only translates the image, so the image is
    the (W, H) window at ``offset_xy`` of a (W + 2|dx|, H + 2|dy|) render with a centred principal point.
    Offsets are rounded to whole pixels (at most half a pixel off).

    Returns:
        The canvas's (3, 3) intrinsics, its (width, height), and the image's top-left corner in it (x, y).
    """
    k = np.array(intrinsics, np.float64)
    w, h = size_wh
    dx, dy = round(k[0, 2] - w / 2), round(k[1, 2] - h / 2)  # principal point off the centre, whole pixels
    canvas_wh = (w + 2 * abs(dx), h + 2 * abs(dy))
    offset_xy = (abs(dx) - dx, abs(dy) - dy)
    k[0, 2], k[1, 2] = canvas_wh[0] / 2, canvas_wh[1] / 2
    return k, canvas_wh, offset_xy


def project_px(points_cam_m: npt.NDArray[np.floating], intrinsics: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(..., 3) camera-frame points (z forward, metres) -> (..., 2) pixels; points behind the camera give NaN."""
    points = np.asarray(points_cam_m, np.float64)
    homogeneous = points @ np.asarray(intrinsics, np.float64).T  # (..., 3)
    z = homogeneous[..., 2:]
    return np.where(z > 1e-6, homogeneous[..., :2] / np.where(z > 1e-6, z, 1.0), np.nan)


def label_anchor_px(vertices_cam_m: npt.NDArray[np.floating], intrinsics: npt.ArrayLike) -> tuple[float, float] | None:
    """Where a person's id goes: (x, y) pixels of the top centre of the (V, 3) mesh's projected box.

    None when no vertex lies in front of the camera.
    """
    xy = project_px(vertices_cam_m, intrinsics)  # (V, 2)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return None
    return float((xy[:, 0].min() + xy[:, 0].max()) / 2), float(xy[:, 1].min())


def draw_track_ids(
    image_rgb: Image,
    anchors_px: Sequence[tuple[float, float]],
    track_ids: Sequence[int],
    colors_rgb: npt.NDArray[np.floating],
) -> Image:
    """A copy of ``image_rgb`` with each track id in a tag of its colour just above its anchor.

    Tags stay inside the image, and slide sideways off the tags drawn before them (people side by
    side or one behind another). ``colors_rgb`` is (N, 3) in [0, 1], one per id; the text is black
    or white, whichever reads on the tag.
    """
    out = np.ascontiguousarray(image_rgb.copy())
    h, w = out.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, max(h, w) / 1200)
    thickness, pad = max(1, round(2 * scale)), max(2, round(3 * scale))
    placed: list[tuple[int, int, int, int]] = []  # (left, top, width, height) of the tags drawn
    for (x, y), track_id, rgb in zip(anchors_px, track_ids, colors_rgb, strict=True):
        text = str(int(track_id))
        (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
        box_w, box_h = text_w + 2 * pad, text_h + 2 * pad
        top = int(np.clip(round(y - box_h - 4), 0, max(0, h - box_h)))
        left = _free_left(round(x - box_w / 2), top, box_w, box_h, placed, w)
        placed.append((left, top, box_w, box_h))
        fill = tuple(int(round(c * 255)) for c in rgb)
        ink = (0, 0, 0) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 0.5 else (255, 255, 255)
        cv2.rectangle(out, (left, top), (left + box_w - 1, top + box_h - 1), fill, thickness=-1)
        cv2.putText(out, text, (left + pad, top + pad + text_h), font, scale, ink, thickness, cv2.LINE_AA)
    return out


def _free_left(
    left: int, top: int, box_w: int, box_h: int, placed: Sequence[tuple[int, int, int, int]], width: int
) -> int:
    """The left edge nearest ``left`` (steps of a tag's width, right first) where the tag overlaps none placed."""
    for steps in (0, 1, -1, 2, -2, 3, -3):
        candidate = int(np.clip(left + steps * (box_w + 2), 0, max(0, width - box_w)))
        if not any(_overlap((candidate, top, box_w, box_h), other) for other in placed):
            return candidate
    return int(np.clip(left, 0, max(0, width - box_w)))


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """True when two (left, top, width, height) rectangles share a pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
