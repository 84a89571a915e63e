from __future__ import annotations

import numpy as np
import pytest

from mocap.types import Detections, Frame, FrameResult, Tracks, TrackState, check_shape


def _detections(n: int) -> Detections:
    rng = np.random.default_rng(0)
    return Detections(
        xyxy_px=rng.uniform(0, 100, (n, 4)).astype(np.float32),
        score=np.linspace(0.1, 0.9, n, dtype=np.float32),
        landmarks_px=rng.uniform(0, 100, (n, 33, 3)).astype(np.float32),
        landmarks_world_m=rng.normal(size=(n, 33, 3)).astype(np.float32),
    )


def test_check_shape_names_expected_and_actual() -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(_, 4\), but got shape \(3, 5\)"):
        check_shape("x", np.zeros((3, 5)), (None, 4))


def test_detections_validate_rows() -> None:
    d = _detections(3)
    with pytest.raises(ValueError, match=r"Detections.score must have shape \(3,\)"):
        Detections(d.xyxy_px, d.score[:2], d.landmarks_px, d.landmarks_world_m)
    with pytest.raises(ValueError, match="landmarks_px"):
        Detections(d.xyxy_px, d.score, d.landmarks_px[:, :17], d.landmarks_world_m)


def test_indexing_len_eq_and_empty() -> None:
    d = _detections(4)
    assert len(d) == 4 and len(Detections.empty()) == 0
    top = d[d.score > 0.5]
    assert len(top) == 2 and np.array_equal(top.score, d.score[2:])
    assert d[1] == d[[1]] and d[0] != d[1]
    assert d[1:3] == d[np.array([1, 2])]


def test_tracks_confirmed_view() -> None:
    d = _detections(3)
    tracks = Tracks(
        track_id=np.array([1, 2, 3]),
        state=np.array([TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.LOST], np.int8),
        age=np.array([1, 5, 9], np.int32),
        detection_index=np.array([0, 1, -1]),
        xyxy_px=d.xyxy_px,
        score=d.score,
        landmarks_px=d.landmarks_px,
        landmarks_world_m=d.landmarks_world_m,
    )
    assert tracks.confirmed.track_id.tolist() == [2]
    assert len(Tracks.empty().confirmed) == 0


def test_frame_and_frame_result_validation() -> None:
    with pytest.raises(ValueError, match="uint8"):
        Frame(0, 0.0, np.zeros((4, 4, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_rgb"):
        Frame(0, 0.0, np.zeros((4, 4), np.uint8))
    assert Frame(0, 0.0, np.zeros((4, 6, 3), np.uint8)).size_wh == (6, 4)
    with pytest.raises(ValueError, match=r"track_fields\['tokens'\] must have 0 rows"):
        FrameResult(0, 0.0, (6, 4), Tracks.empty(), {"tokens": np.zeros((1, 54))})
