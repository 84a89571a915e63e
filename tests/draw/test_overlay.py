from __future__ import annotations

import numpy as np

from mocap.draw.overlay import POSE_EDGES, draw_tracks, track_colour
from mocap.types import Tracks, TrackState


def _one_track(state: TrackState) -> Tracks:
    landmarks = np.zeros((1, 33, 3), np.float32)
    landmarks[0, :, 0] = np.linspace(40, 60, 33)
    landmarks[0, :, 1] = np.linspace(20, 80, 33)
    landmarks[0, :, 2] = 1.0
    return Tracks(
        track_id=np.array([3]),
        state=np.array([state], np.int8),
        age=np.array([4], np.int32),
        detection_index=np.array([0]),
        xyxy_px=np.array([[30, 10, 70, 90]], np.float32),
        score=np.array([0.9], np.float32),
        landmarks_px=landmarks,
        landmarks_world_m=np.zeros((1, 33, 3), np.float32),
    )


def test_edges_index_the_33_landmarks() -> None:
    assert all(0 <= a < 33 and 0 <= b < 33 and a != b for a, b in POSE_EDGES)
    assert len(set(POSE_EDGES)) == len(POSE_EDGES)


def test_draw_tracks_draws_box_in_track_colour_and_keeps_input() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    out = draw_tracks(image, _one_track(TrackState.CONFIRMED))
    assert not image.any(), "input must not be modified"
    colour = np.array(track_colour(3))
    # The left edge of the box is drawn in the track's colour; far corners stay black.
    assert (np.abs(out[50, 29:32].astype(int) - colour).sum(axis=1) < 60).any()
    assert not out[95, 95].any() and not out[2, 95].any()


def test_lost_track_has_no_skeleton() -> None:
    confirmed = draw_tracks(np.zeros((100, 100, 3), np.uint8), _one_track(TrackState.CONFIRMED))
    lost = draw_tracks(np.zeros((100, 100, 3), np.uint8), _one_track(TrackState.LOST))
    # Inside the box, away from its border and label, only the skeleton draws.
    assert confirmed[30:70, 40:60].any() and not lost[30:70, 40:60].any()
