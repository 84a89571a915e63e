"""Windows of recent frames for the temporal lifter: one rule for training rows and for tracks at run time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.lifter.temporal import TrackWindows, hold_dropped, window_rows


def test_a_window_holds_missed_frames_and_never_crosses_into_another_clip() -> None:
    clip = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    frame = np.array([0, 1, 2, 4, 5, 6, 3, 4, 5, 9])  # clip 0 missed frame 3; clip 1 starts at 3, misses 6-8
    rows = window_rows(clip, frame, 3)
    assert rows.tolist() == [
        [0, 0, 0],  # the clip's first frame: it stands for the frames before it
        [0, 0, 1],
        [0, 1, 2],
        [2, 2, 3],  # frame 3 was missed: frame 2 held over
        [3, 3, 4],  # frame 3 missed and frame 2 is outside the window: the earliest inside (frame 4) stands in
        [3, 4, 5],
        [6, 6, 6],  # clip 1's rows never read clip 0's, though its frames 1-2 exist there
        [6, 6, 7],
        [6, 7, 8],
        [9, 9, 9],  # frames 7-8 missed: nothing older than the window is read
    ]
    assert (window_rows(clip, frame, 1) == np.arange(10)[:, None]).all()


def test_examples_in_any_order_get_the_same_windows() -> None:
    rng = np.random.default_rng(0)
    clip = np.repeat(np.arange(3), 20)
    frame = np.concatenate([np.sort(rng.choice(40, 20, replace=False)) for _ in range(3)])
    order = rng.permutation(60)
    rows = window_rows(clip, frame, 5)
    shuffled = window_rows(clip[order], frame[order], 5)  # rows into the shuffled arrays
    np.testing.assert_array_equal(order[shuffled], rows[order])


def test_track_windows_read_what_training_windows_read() -> None:
    rng = np.random.default_rng(1)
    frames = {1: np.sort(rng.choice(60, 35, replace=False)), 2: np.arange(20, 50)}  # track 1 has gaps
    windows = TrackWindows(7)
    seen: dict[int, list[np.ndarray]] = {1: [], 2: []}
    for f in range(60):
        here = [tid for tid in (1, 2) if f in frames[tid]]
        if not here:
            continue
        features = np.array([[[tid * 1000.0 + f]] for tid in here], np.float32)  # (N, 1, 1): who and when
        got = windows.windows(np.array(here), f, features)
        assert got.shape == (len(here), 7, 1, 1)
        for tid, window in zip(here, got, strict=True):
            seen[tid].append(window[:, 0, 0])
    for tid, measured in frames.items():
        expected = window_rows(np.zeros(len(measured), np.int64), measured, 7)
        np.testing.assert_array_equal(np.stack(seen[tid]), tid * 1000.0 + measured[expected])
    assert set(windows.history) == {1}  # track 2 ended at frame 49, more than a window before track 1's last frame


def test_a_track_found_again_after_a_long_gap_starts_as_a_person_standing_still() -> None:
    windows = TrackWindows(4)
    for f in range(3):
        windows.windows(np.array([5]), f, np.array([[float(f)]], np.float32))
    again = windows.windows(np.array([5]), 30, np.array([[30.0]], np.float32))
    assert again[0, :, 0].tolist() == [30.0] * 4


@pytest.mark.parametrize(
    ("kept", "held"),
    [
        ([True, True, True, True], [10, 11, 12, 13]),
        ([False, True, False, True], [11, 11, 11, 13]),  # before the first kept frame: the earliest kept one
        ([False, False, False, True], [13, 13, 13, 13]),
        ([True, False, False, True], [10, 10, 10, 13]),
    ],
)
def test_dropped_frames_are_held_over_as_at_run_time(kept: list[bool], held: list[int]) -> None:
    rows = torch.tensor([[10, 11, 12, 13]])
    assert hold_dropped(rows, torch.tensor([kept])).tolist() == [held]
    # The same frames never measured at run time give the same window.
    measured = [f for f, k in enumerate(kept) if k]
    tracked = TrackWindows(4)
    for f in measured:
        window = tracked.windows(np.array([1]), f, np.array([[10.0 + f]], np.float32))
    assert window[0, :, 0].tolist() == held


def test_a_frame_measured_twice_keeps_the_later_measurement() -> None:
    windows = TrackWindows(3)
    windows.windows(np.array([1]), 0, np.array([[0.0]], np.float32))
    windows.windows(np.array([1]), 1, np.array([[1.0]], np.float32))
    again = windows.windows(np.array([1]), 1, np.array([[9.0]], np.float32))  # e.g. 60 fps: two frames, one slot
    assert again[0, :, 0].tolist() == [0.0, 0.0, 9.0]
    assert windows.windows(np.array([1]), 2, np.array([[2.0]], np.float32))[0, :, 0].tolist() == [0.0, 9.0, 2.0]
