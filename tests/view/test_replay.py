"""Replaying stores into saved frames: gaps, ending tracks, empty stores, and following a store being written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from mocap.io.store import is_store
from mocap.view.config import ViewerConfig
from mocap.view.replay import Playback, ReplayConfig, replay
from mocap.view.saver import FrameSaver
from mocap.view.store_frames import StoreFrames
from mocap.view.viewer import Viewer
from tests.view.conftest import coloured_columns, make_store, read_png

CONFIG = ViewerConfig(max_size_px=160, visible=False)
ROOT = Path(__file__).resolve().parents[2]  # the repository: the writer imports tests.view.conftest


def render(store: Path, out: Path, replay_config: ReplayConfig | None = None) -> tuple[StoreFrames, int]:
    frames = StoreFrames(store)
    viewer = Viewer(frames.static_scene(), CONFIG)
    with FrameSaver(out, frames.fps, viewer.size_wh) as saver:
        stats = replay(frames, viewer, replay_config or ReplayConfig(), saver)
    viewer.close()
    return frames, stats.frames_shown


def test_playback_keys() -> None:
    time_s = np.arange(10) / 10.0  # 10 fps
    playback = Playback(num_frames=10)
    assert playback.advance(0.25, time_s) == 2
    playback.faster()
    assert playback.advance(0.1, time_s) == 4  # at double speed: 0.45 s
    playback.step(-1)
    assert not playback.playing and playback.index == 3
    assert playback.advance(5, time_s) == 3  # paused
    playback.step(+100)
    assert playback.index == 9
    playback.toggle_play()  # play again from the start
    assert playback.playing and playback.index == 0
    assert playback.advance(50, time_s) == 9 and not playback.playing  # stops on the last frame
    for _ in range(10):
        playback.slower()
    assert playback.speed == 1 / 16
    playback.toggle_track(2)
    playback.toggle_track(3)
    playback.toggle_track(2)
    assert playback.hidden == {3}


def test_playback_follows_the_frame_times_across_dropped_frames() -> None:
    time_s = np.array([0.0, 0.1, 0.2, 1.0, 1.1])  # a live capture that lost 0.8 s after frame 2
    playback = Playback(num_frames=5)
    assert [playback.advance(0.3, time_s) for _ in range(4)] == [2, 2, 2, 4]  # real time, not frame count


def test_gaps_and_a_track_that_ends(tmp_path: Path) -> None:
    both, left = {1: (-0.6, 4.0), 2: (0.6, 4.0)}, {1: (-0.6, 4.0)}
    store = make_store(tmp_path / "gaps.zarr", [both, left, both, left, left])  # 2 missing in 1, gone after 2
    frames, shown = render(store, tmp_path / "out")
    assert shown == 5 and [frames.state(i).track_ids for i in range(5)] == [[1, 2], [1], [1, 2], [1], [1]]
    images = [read_png(tmp_path / "out" / f"frame_{i:06d}.png") for i in range(5)]
    right_half = [coloured_columns(image)[80:].any() for image in images]
    left_half = [coloured_columns(image)[:80].any() for image in images]
    assert right_half == [True, False, True, False, False]
    assert all(left_half)


def test_tracks_filter_and_hidden_tracks(two_people_store: Path) -> None:
    assert StoreFrames(two_people_store, tracks=[2]).state(0).track_ids == [2]
    assert StoreFrames(two_people_store).state(0, hidden=[1]).track_ids == [2]
    assert StoreFrames(two_people_store, tracks=[7]).note == "none of the chosen tracks is in this store"


def test_store_without_tracks_shows_the_ground_and_says_so(tmp_path: Path) -> None:
    store = make_store(tmp_path / "empty.zarr", [{}, {}, {}])
    frames, shown = render(store, tmp_path / "out")
    assert shown == 3 and frames.note == "no tracks in this store"
    image = read_png(tmp_path / "out" / "frame_000000.png")
    assert not coloured_columns(image).any()
    assert (image[40:] < 200).any()  # the grid


def test_store_without_meshes_shows_the_ground_and_says_so(tmp_path: Path) -> None:
    store = make_store(tmp_path / "boxes.zarr", [{1: (0.0, 4.0)}] * 2, meshes=False)
    frames, shown = render(store, tmp_path / "out")
    assert shown == 2 and not frames.has_meshes and "no meshes" in frames.note
    assert frames.state(0).num_people == 1 and frames.state(0).meshes == ()  # tracked, nothing to draw
    assert not coloured_columns(read_png(tmp_path / "out" / "frame_000001.png")).any()


def test_store_without_frames_renders_one_empty_scene(tmp_path: Path) -> None:
    store = make_store(tmp_path / "none.zarr", [])
    _, shown = render(store, tmp_path / "out")
    assert shown == 0 and [p.name for p in (tmp_path / "out").iterdir()] == ["frame_000000.png"]


def test_save_a_video(two_people_store: Path, tmp_path: Path) -> None:
    render(two_people_store, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 3 and decoded[0].shape == (120, 160, 3)
    assert coloured_columns(decoded[0])[:80].any() and coloured_columns(decoded[0])[80:].any()


WRITER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.view.conftest import frame_result, write_faces, INTRINSICS, SIZE_WH
from mocap.io.store import StoreWriter
path, frames, stop_after = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
attrs = {"fps": 30.0, "intrinsics": INTRINSICS, "source": {"kind": "synthetic", "size_wh": list(SIZE_WH)}}
writer = StoreWriter(path, attrs=attrs, flush_every=1)
write_faces(writer.path)
for i in range(frames):
    people = {} if i < 2 else {1: (-0.6, 4.0)} if i < 4 else {1: (-0.6, 4.0), 2: (0.6, 4.0)}
    writer.write(frame_result(i, people))
    if i + 1 == stop_after:
        time.sleep(600)  # killed by the test: a writer that dies without closing
    time.sleep(0.15)
writer.close()
"""


def start_writer(path: Path, frames: int, stop_after: int = -1) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT), str(path), str(frames), str(stop_after)])
    deadline = time.monotonic() + 60
    while not is_store(path):  # the viewer opens the store once the writer has created it
        assert process.poll() is None and time.monotonic() < deadline, "the writer process failed to start"
        time.sleep(0.05)
    return process


@pytest.mark.slow
def test_follow_picks_up_frames_from_a_writer_process(tmp_path: Path) -> None:
    store = tmp_path / "live.zarr"
    writer = start_writer(store, frames=12)
    try:
        frames, shown = render(store, tmp_path / "out", ReplayConfig(follow=True, poll_s=0.05))
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert frames.complete and frames.num_frames == 12
    assert shown == 12  # every frame written while following was rendered
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"frame_{i:06d}.png" for i in range(12)]
    assert not coloured_columns(read_png(tmp_path / "out" / "frame_000000.png")).any()  # nobody yet
    assert coloured_columns(read_png(tmp_path / "out" / "frame_000011.png"))[80:].any()  # the track born later


@pytest.mark.slow
def test_interactive_follow_keeps_showing_the_newest_frame(tmp_path: Path) -> None:
    store = tmp_path / "live.zarr"
    writer = start_writer(store, frames=12)
    try:
        frames = StoreFrames(store)
        viewer = Viewer(frames.static_scene(), CONFIG)
        stats = replay(frames, viewer, ReplayConfig(follow=True, poll_s=0.05))
    finally:
        writer.wait(timeout=60)
    assert frames.complete and stats.last_frame_index == 11  # ended on the newest frame when the writer closed
    assert list(viewer._meshes) == [1, 2]
    viewer.close()


@pytest.mark.slow
def test_follow_ends_when_the_writer_dies(tmp_path: Path) -> None:
    store = tmp_path / "killed.zarr"
    writer = start_writer(store, frames=10, stop_after=2)
    while StoreFrames(store).num_frames < 2:
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    frames, shown = render(store, tmp_path / "out", ReplayConfig(follow=True, poll_s=0.05, writer_grace_s=0.3))
    assert shown == 2 and not frames.complete and frames.store.status == "writing"


def test_interactive_replay_plays_in_real_time_until_quit(tmp_path: Path) -> None:
    both = {1: (-0.6, 4.0), 2: (0.6, 4.0)}
    store = make_store(tmp_path / "play.zarr", [both] * 6)
    frames = StoreFrames(store)
    viewer = Viewer(frames.static_scene(), CONFIG)  # offscreen, but driven like a window
    playback = Playback(frames.num_frames, speed=4.0)

    def quit_at_the_end() -> None:
        while playback.playing:
            time.sleep(0.01)
        playback.toggle_track(2)  # what key "2" does
        time.sleep(0.3)
        playback.quit()  # what key "q" does

    stopper = threading.Thread(target=quit_at_the_end)
    stopper.start()
    try:
        stats = replay(frames, viewer, ReplayConfig(), playback=playback)
    finally:
        stopper.join()
    assert stats.last_frame_index == 5 and playback.at_end
    assert list(viewer._meshes) == [1]  # track 2 hidden on the last frame
    viewer.close()
