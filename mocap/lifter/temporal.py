"""Windows of a person's recent frames for the temporal lifter (``LifterConfig.window`` = T > 1).

A window ends at the current frame f and covers the frames f - T + 1 .. f of one person (one clip of training
renders, one track at run time). A frame of the window with no measurement (the detector missed the person, the
track was lost, a webcam dropped the frame, the track is younger than the window) holds the latest measured frame
before it inside the window, or else the earliest one inside it. Training (:func:`window_rows`, :func:`hold_dropped`)
and the mesh stage (:class:`TrackWindows`) build windows by this one rule, so what the lifter learns from is what it
reads at run time. Nothing older than the window is ever read: a person found again after a long occlusion starts
as a person standing still.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt
import torch

FRAME_RATE_HZ = 30.0  # a window is T frames of the training renders' rate, 1/30 s each


def window_rows(clip: npt.NDArray[np.int64], frame_index: npt.NDArray[np.int64], window: int) -> npt.NDArray[np.int64]:
    """(M,) clip and frame of each example -> (M, T) rows of each example's window, oldest first, by the module's
    rule (the last column is the example itself)."""
    clip, frame_index = np.asarray(clip, np.int64), np.asarray(frame_index, np.int64)
    span = int(frame_index.max() - frame_index.min()) + 2 * window + 1 if len(clip) else 1
    key = clip * span + (frame_index - frame_index.min() if len(clip) else frame_index)  # one sort order for all
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    start = key - (window - 1)  # (M,) the window's first frame, same clip
    first = order[np.searchsorted(sorted_key, start, side="left")]  # earliest measured frame inside the window
    rows = np.empty((len(key), window), np.int64)
    for k in range(window):
        target = start + k
        latest = np.searchsorted(sorted_key, target, side="right") - 1  # latest measured frame <= target
        found = latest >= 0
        candidate = order[np.maximum(latest, 0)]
        inside = found & (key[candidate] >= start)
        rows[:, k] = np.where(inside, candidate, first)
    return rows


def hold_dropped(rows: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Windows (B, T) of rows with frames ``kept`` (B, T) bool (the last column must be kept) -> the windows as if
    the other frames had never been measured: each holds the latest kept frame before it, or else the earliest."""
    t = rows.shape[1]
    position = torch.arange(t).expand_as(rows)
    latest = torch.where(kept, position, torch.full_like(position, -1)).cummax(dim=1).values  # (B, T)
    earliest = kept.int().argmax(dim=1, keepdim=True).expand_as(rows)  # first kept column
    return rows.gather(1, torch.where(latest >= 0, latest, earliest))


class TrackWindows:
    """One verb: ``windows(track_id, frame_index, features)``: each track's window of lifter features by the
    module's rule; what was pushed before stays in a deque of at most T frames per track."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.history: dict[int, deque[tuple[int, np.ndarray]]] = {}

    def windows(
        self, track_id: npt.NDArray[np.int64], frame_index: int, features: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Features (N, ...) of the N tracks measured in frame ``frame_index`` (never decreasing) -> their windows
        (N, T, ...), oldest first. A track measured again in the same frame keeps only the new measurement (two
        frames of a 60 fps video in one 1/30 s slot, a frame estimated twice). Tracks absent for a whole window are
        forgotten."""
        start = frame_index - self.window + 1
        out = np.empty((len(track_id), self.window, *features.shape[1:]), np.float32)
        for row, tid in enumerate(np.asarray(track_id).tolist()):
            past = self.history.setdefault(tid, deque(maxlen=self.window))
            if past and past[-1][0] == frame_index:
                past.pop()
            past.append((frame_index, features[row]))
            inside = [(f, x) for f, x in past if f >= start]  # oldest first, the current frame last
            held = inside[0][1]
            for k in range(self.window):
                while inside and inside[0][0] <= start + k:
                    held = inside.pop(0)[1]
                out[row, k] = held
        self.history = {tid: past for tid, past in self.history.items() if past[-1][0] >= start}
        return out
