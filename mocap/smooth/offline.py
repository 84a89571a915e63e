"""The offline (forward-backward) smoothing pass over a finished store.

After an offline capture, every track's raw vertices are smoothed again with the RTS
smoother of :mod:`mocap.smooth.kalman`, which sees the future as well as the past, and
the result replaces the causal ``vertices_smoothed_cam_m`` / ``joints_smoothed_cam_m``
that the live filter wrote during the capture. Frames where a track was missed (short
occlusions) are coasted through but not written: the store keeps one row per seen frame.

Memory: the filter keeps (T, D, 2, 2) covariances, so the coordinates are processed in
blocks of ``block`` (independent filters): ~T * block * 80 bytes at a time.

Each mesh is smoothed as its centroid and its shape about it, as the live filter does
(:mod:`mocap.smooth.online`): the whole body moves far more gently than its limbs. Frames whose
body faces away from its neighbours' (:mod:`mocap.smooth.outliers`) are coasted through.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.landmarks import regress_landmarks
from mocap.io.store import TrackData, open_store, replace_track_field
from mocap.mesh.size import skeleton_size_m, track_size_scales
from mocap.smooth.kalman import SmoothConfig, smooth_track, vertex_weights_m
from mocap.smooth.outliers import turn_breaks, turned_frames

log = logging.getLogger(__name__)


def smooth_sequence(
    vertices_m: npt.NDArray[np.floating],
    uncertainty_m: npt.NDArray[np.floating],
    frame_index: npt.NDArray[np.int64],
    fps: float,
    config: SmoothConfig,
    *,
    turned: npt.NDArray[np.bool_] | None = None,
    breaks: npt.NDArray[np.bool_] | None = None,
    block: int = 6144,
) -> npt.NDArray[np.float32]:
    """RTS-smooth one track: vertices (n, V, 3) seen at ``frame_index`` (n,) -> smoothed (n, V, 3).

    The mesh is smoothed as its vertex centroid (3,) and its shape about it (V*3), with the centroid's and the shape's
    process noise (``SmoothConfig``); both get the frame's measurement noise. Missed frames between the first and
    last seen frame enter the filter as NaN rows, and so do the ``turned`` (n,) rows
    (:func:`mocap.smooth.outliers.turned_frames`): they get their neighbours' smoothed mesh. The filter starts afresh
    at the ``breaks`` (n,) rows (:func:`mocap.smooth.outliers.turn_breaks`).
    """
    n, v, _ = vertices_m.shape
    span = int(frame_index[-1] - frame_index[0]) + 1
    rows = frame_index - frame_index[0]  # (n,) row of each seen frame in the full span
    times_s = np.arange(span) / fps
    vertices = np.asarray(vertices_m, np.float64)
    centroid = vertices.mean(axis=1)  # (n, 3)
    weights = vertex_weights_m(uncertainty_m, config)  # (n, V) metres
    measured = rows if turned is None else rows[~turned]  # span rows the filter sees; turned ones are coasted
    span_breaks = np.zeros(span, bool)  # (span,) where the filter starts afresh
    if breaks is not None:
        span_breaks[rows[breaks]] = True

    def smoothed(values: npt.NDArray[np.float64], unc: npt.NDArray[np.float64], cfg: SmoothConfig) -> np.ndarray:
        """(n, D) values seen at ``rows`` -> (n, D) smoothed, D <= block."""
        positions = np.full((span, values.shape[1]), np.nan)
        positions[measured] = values if turned is None else values[~turned]
        full_unc = np.zeros((span, values.shape[1]))
        full_unc[rows] = unc
        return smooth_track(positions, full_unc, times_s, cfg, offline=True, breaks=span_breaks)[rows]

    flat = (vertices - centroid[:, None]).reshape(n, v * 3)
    flat_unc = np.repeat(weights, 3, axis=1)  # (n, V*3)
    out = np.empty((n, v * 3), np.float32)
    for start in range(0, v * 3, block):
        stop = min(start + block, v * 3)
        out[:, start:stop] = smoothed(flat[:, start:stop], flat_unc[:, start:stop], config)
    centroid_unc = np.repeat(weights.mean(axis=1, keepdims=True), 3, axis=1)  # (n, 3)
    path = smoothed(centroid, centroid_unc, config.for_centroid())  # (n, 3)
    return (out.reshape(n, v, 3) + path[:, None]).astype(np.float32)


def smooth_store(path: str | Path, config: SmoothConfig | None = None) -> int:
    """Replace every track's smoothed fields with the forward-backward estimate; returns the tracks done."""
    config = config or SmoothConfig()
    store = open_store(path)
    fps = float(store.attrs.get("fps") or 30.0)
    done = 0
    for track_id in store.track_ids:
        track = store.track(track_id)
        if "vertices_cam_m" not in track.fields or len(track) < 2:
            continue
        vertices = track["vertices_cam_m"]
        if config.track_size:
            vertices = _track_sized(track, vertices)
        turned, breaks = _turns(track, vertices, config)
        if turned.any() or breaks.any():
            log.info(
                "track %d: %d frames turned against their neighbours coasted through, smoothing restarted at %d "
                "turns round between two frames",
                track_id,
                turned.sum(),
                breaks.sum(),
            )
        smoothed = smooth_sequence(
            vertices, track["vertex_uncertainty_m"], track.frame_index, fps, config, turned=turned, breaks=breaks
        )
        joints = regress_landmarks(torch.from_numpy(smoothed)).numpy()
        replace_track_field(path, track_id, "vertices_smoothed_cam_m", smoothed.astype(np.float16))
        replace_track_field(path, track_id, "joints_smoothed_cam_m", joints.astype(np.float32))
        replace_track_field(path, track_id, "smooth_coasted", turned)  # the frames whose body faced away
        done += 1
        log.info("track %d: %d frames smoothed forward-backward", track_id, len(track))
    return done


def _track_sized(track: TrackData, vertices_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """(n, V, 3) camera-frame meshes scaled about the camera's centre to the track's size (``SmoothConfig.track_size``);
    as they are when the store has no ``body_size_m`` (written before session 22)."""
    if "body_size_m" not in track.fields:
        log.info("track %d: no per-frame body sizes in the store (before session 22): sizes kept", track.track_id)
        return np.asarray(vertices_m, np.float32)
    held = skeleton_size_m(_joints(track, vertices_m))  # (n,) the size each mesh was written at
    scales = track_size_scales(track["body_size_m"], held)
    log.info("track %d: meshes scaled to the track's size by %.3f-%.3f", track.track_id, scales.min(), scales.max())
    return np.asarray(vertices_m, np.float32) * scales.astype(np.float32)[:, None, None]  # no float64 copy: (n, V, 3)


def _joints(track: TrackData, vertices_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """(n, 33, 3) the store's joints of the track, or regressed from its ``vertices_m`` (n, V, 3)."""
    if "joints_cam_m" in track.fields:
        return np.asarray(track["joints_cam_m"], np.float32)
    return regress_landmarks(torch.from_numpy(np.asarray(vertices_m, np.float32))).numpy()


def _turns(
    track: TrackData, vertices_m: npt.NDArray[np.floating], config: SmoothConfig
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(n,) frames turned against their neighbours, (n,) turns round between two frames (none when
    ``config.turn_window_frames`` is 0); the joints are the store's, or regressed from ``vertices_m`` (n, V, 3)."""
    n = len(vertices_m)
    if config.turn_window_frames <= 0:
        return np.zeros(n, bool), np.zeros(n, bool)
    joints = _joints(track, vertices_m)
    turned = turned_frames(joints, track.frame_index, config.turn_window_frames)
    return turned, turn_breaks(joints, ~turned)
