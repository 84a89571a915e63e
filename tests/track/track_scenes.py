"""Hand-made multi-frame scenes for the tracker tests: people as boxes with a plausible 33-landmark body.

A person is a box plus a pose: ``arms_up`` (0 = hands by the hips, 1 = hands above the head) and
``stride`` (0 = feet together, 1 = legs wide apart). Landmarks are placed in the box in MediaPipe
BlazePose order, so two people with different poses differ in landmark similarity. ``painted`` draws a
frame in which each person wears a shirt and trousers of their own colours, for re-identification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mocap.types import Detections, Tracks

# (33, 2) standing pose in box units (u right, v down), MediaPipe order; "left" is the person's left.
_STANDING_UV = np.array(
    [
        [0.50, 0.06],  # 0 nose
        [0.52, 0.045], [0.54, 0.045], [0.56, 0.045],  # 1-3 left eye inner, eye, outer
        [0.48, 0.045], [0.46, 0.045], [0.44, 0.045],  # 4-6 right eye inner, eye, outer
        [0.60, 0.055], [0.40, 0.055],  # 7-8 ears
        [0.53, 0.08], [0.47, 0.08],  # 9-10 mouth
        [0.72, 0.19], [0.28, 0.19],  # 11-12 shoulders
        [0.80, 0.34], [0.20, 0.34],  # 13-14 elbows
        [0.84, 0.48], [0.16, 0.48],  # 15-16 wrists
        [0.86, 0.52], [0.14, 0.52],  # 17-18 pinkies
        [0.85, 0.53], [0.15, 0.53],  # 19-20 index fingers
        [0.82, 0.51], [0.18, 0.51],  # 21-22 thumbs
        [0.62, 0.52], [0.38, 0.52],  # 23-24 hips
        [0.63, 0.74], [0.37, 0.74],  # 25-26 knees
        [0.64, 0.95], [0.36, 0.95],  # 27-28 ankles
        [0.62, 0.97], [0.38, 0.97],  # 29-30 heels
        [0.68, 0.99], [0.32, 0.99],  # 31-32 foot index
    ]
)  # fmt: skip
# Arms raised: elbows beside the head, hands above it.
_ARMS_UP_UV = _STANDING_UV.copy()
_ARMS_UP_UV[13:23] = [
    [0.78, 0.10], [0.22, 0.10], [0.80, 0.01], [0.20, 0.01], [0.82, 0.00],
    [0.18, 0.00], [0.81, 0.00], [0.19, 0.00], [0.78, 0.00], [0.22, 0.00],
]  # fmt: skip
_LEG_SPREAD_U = np.zeros(33)
_LEG_SPREAD_U[25:33] = [0.12, -0.12, 0.30, -0.30, 0.28, -0.28, 0.34, -0.34]  # knees, ankles, heels, toes


@dataclass(frozen=True)
class Person:
    """One person in one frame: box (x0, y0, x1, y1) pixels and pose."""

    xyxy_px: tuple[float, float, float, float]
    arms_up: float = 0.0
    stride: float = 0.0
    score: float = 0.9
    shirt: tuple[int, int, int] = (200, 60, 60)
    trousers: tuple[int, int, int] = (40, 40, 160)


def painted(people: Sequence[Person], size_wh: tuple[int, int] = (1920, 1080)) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 frame on a grey background: each box above the hips in the shirt's colour, below in the
    trousers' (later people in front)."""
    image = np.full((size_wh[1], size_wh[0], 3), 128, np.uint8)
    for p in people:
        x0, y0, x1, y1 = (int(round(v)) for v in p.xyxy_px)
        hips = int(round(y0 + 0.52 * (y1 - y0)))
        image[max(y0, 0) : max(hips, 0), max(x0, 0) : max(x1, 0)] = p.shirt
        image[max(hips, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = p.trousers
    return image


def skeleton_px(xyxy_px: Sequence[float], arms_up: float = 0.0, stride: float = 0.0) -> npt.NDArray[np.float32]:
    """(33, 3) landmarks ``(x_px, y_px, visibility)`` of a person filling the box."""
    uv = (1 - arms_up) * _STANDING_UV + arms_up * _ARMS_UP_UV
    uv = uv + np.stack([stride * _LEG_SPREAD_U, np.zeros(33)], axis=1)
    x0, y0, x1, y1 = xyxy_px
    xy = np.array([x0, y0]) + uv * np.array([x1 - x0, y1 - y0])
    return np.concatenate([xy, np.full((33, 1), 0.95)], axis=1).astype(np.float32)


def detections(people: Sequence[Person]) -> Detections:
    """One frame's Detections, rows in the order given."""
    if not people:
        return Detections.empty()
    landmarks = np.stack([skeleton_px(p.xyxy_px, p.arms_up, p.stride) for p in people])
    # World landmarks: a 1.7 m person centred on the hips, flat (z = 0); the tracker does not use them.
    hips = landmarks[:, 23:25, :2].mean(axis=1, keepdims=True)
    heights = np.array([p.xyxy_px[3] - p.xyxy_px[1] for p in people], np.float32)[:, None, None]
    world = np.concatenate([(landmarks[..., :2] - hips) / heights * 1.7, np.zeros_like(landmarks[..., :1])], axis=2)
    return Detections(
        xyxy_px=np.array([p.xyxy_px for p in people], np.float32),
        score=np.array([p.score for p in people], np.float32),
        landmarks_px=landmarks,
        landmarks_world_m=world.astype(np.float32),
    )


def jittered(dets: Detections, rng: np.random.Generator, sigma_px: float) -> Detections:
    """A copy with Gaussian detector noise (std ``sigma_px``) on every box corner and landmark."""
    landmarks = dets.landmarks_px.copy()
    landmarks[..., :2] += rng.normal(0, sigma_px, landmarks[..., :2].shape)
    return Detections(
        xyxy_px=(dets.xyxy_px + rng.normal(0, sigma_px, dets.xyxy_px.shape)).astype(np.float32),
        score=dets.score.copy(),
        landmarks_px=landmarks.astype(np.float32),
        landmarks_world_m=dets.landmarks_world_m.copy(),
    )


def box_at(cx: float, bottom: float, height: float, aspect: float = 0.4) -> tuple[float, float, float, float]:
    """A person box of the given height (pixels) standing on ``bottom``, centred on ``cx``."""
    w = height * aspect
    return (cx - w / 2, bottom - height, cx + w / 2, bottom)


def walk(
    start_cx: float, speed_px: float, num_frames: int, height: float = 300, bottom: float = 450, **pose: float
) -> list[Person]:
    """A person walking sideways at constant speed, legs swinging: one Person per frame."""
    return [
        Person(box_at(start_cx + speed_px * i, bottom, height), stride=0.5 + 0.5 * np.sin(i / 3), **pose)
        for i in range(num_frames)
    ]


def id_per_person(outputs: Sequence[Tracks], people_per_frame: Sequence[Sequence[str]]) -> dict[str, list[int]]:
    """Track id each named person got in each frame where they were detected and tracked.

    ``people_per_frame[f][k]`` names the person in detection row k of frame f; the tracker's own
    ``detection_index`` links its rows back to those names (no re-matching by position).
    """
    ids: dict[str, list[int]] = {}
    for tracks, names in zip(outputs, people_per_frame, strict=True):
        for track_id, row in zip(tracks.track_id, tracks.detection_index, strict=True):
            if row >= 0:
                ids.setdefault(names[row], []).append(int(track_id))
    return ids


def id_switches(ids: dict[str, list[int]]) -> int:
    """Times any person's track id changed from one tracked frame to the next (MOT's IDSW, simplified)."""
    return sum(int(np.count_nonzero(np.diff(track_ids))) for track_ids in ids.values())
