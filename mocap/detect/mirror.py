"""The mirrored view: the detector run on the left-right flipped frame as well, its people mapped back and paired.

MediaPipe is not mirror-symmetric: on the flipped frame it measures every person anew, with errors of its own,
so the flipped frame's landmarks, mapped back into the frame, are a second measurement of the same people. MEGA
then answers for both views and the mesh stage averages the two answers (:mod:`mocap.mesh.mirror`); on held-out
test renders that cuts MPJPE ~8 % below MEGA on the direct view alone (models/mega_anny/MODEL_CARD.md, "Mirrored
view"). MediaPipe's own world landmarks gain from the same average (``mediapipe_world_mirror_view`` in
``benchmarks/results/mega.json``), so the benchmarks report both.

Frames: flipping an image of width W maps pixel x to W - x (x measured from the left edge of the first pixel,
as ``Detections.landmarks_px``), keeps y, relabels every left landmark as the right one, and negates the world
landmarks' x (MediaPipe's world axes are the camera's). Each map is its own inverse.

Example:
    >>> mirrored = detector_b.detect(flip_frame(frame))  # doctest: +SKIP
    >>> detections = with_mirror_view(detections, unflip(mirrored, frame.size_wh[0]))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from mocap.body.symmetry import mirror_landmarks
from mocap.track.matching import box_iou
from mocap.types import NUM_LANDMARKS, Detections, Frame, MirrorView

MIN_PAIR_IOU = 0.5  # boxes of one person in the two views overlap far more; below this they are two people


def flip_frame(frame: Frame) -> Frame:
    """The frame seen in a mirror: columns reversed (a contiguous copy, as MediaPipe needs)."""
    return dataclasses.replace(frame, image_rgb=np.ascontiguousarray(frame.image_rgb[:, ::-1]))


def flip_landmarks_px(landmarks_px: npt.NDArray[np.float32], width_px: int) -> npt.NDArray[np.float32]:
    """(N, 33, 3) x_px, y_px, visibility -> the same landmarks in the flipped image, relabelled left <-> right.
    (World landmarks flip with :func:`mocap.body.symmetry.mirror_landmarks`: their x is about the hips.)"""
    flipped = mirror_landmarks(landmarks_px)
    flipped[..., 0] += width_px
    return flipped


def flip_boxes_px(xyxy_px: npt.NDArray[np.float32], width_px: int) -> npt.NDArray[np.float32]:
    """(N, 4) boxes x0, y0, x1, y1 -> the same boxes in the flipped image."""
    x0, y0, x1, y1 = xyxy_px.T
    return np.stack([width_px - x1, y0, width_px - x0, y1], axis=1).astype(np.float32)


def unflip(detections: Detections, width_px: int) -> Detections:
    """People found in the flipped frame -> the same people in the frame's pixels, labels and world axes."""
    return Detections(
        xyxy_px=flip_boxes_px(detections.xyxy_px, width_px),
        score=detections.score,
        landmarks_px=flip_landmarks_px(detections.landmarks_px, width_px),
        landmarks_world_m=mirror_landmarks(detections.landmarks_world_m),
    )


def with_mirror_view(direct: Detections, mirrored: Detections, min_iou: float = MIN_PAIR_IOU) -> Detections:
    """``direct`` with ``mirror`` set: each direct detection's partner among the ``mirrored`` ones (already
    :func:`unflip`-ped), paired one-to-one by box overlap (Hungarian on IoU); NaN rows where none overlaps at least
    ``min_iou``."""
    n = len(direct)
    px = np.full((n, NUM_LANDMARKS, 3), np.nan, np.float32)
    world = np.full((n, NUM_LANDMARKS, 3), np.nan, np.float32)
    if n and len(mirrored):
        iou = box_iou(direct.xyxy_px, mirrored.xyxy_px)  # (N, M)
        rows, cols = linear_sum_assignment(-iou)
        kept = iou[rows, cols] >= min_iou
        px[rows[kept]] = mirrored.landmarks_px[cols[kept]]
        world[rows[kept]] = mirrored.landmarks_world_m[cols[kept]]
    return dataclasses.replace(direct, mirror=MirrorView(px, world))
