"""The zarr run store: round trips, appends across flushes, readers beside a writer, crash and resume, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from _store_writer_proc import SOURCE, scripted_result, track_ids_at

from mocap.errors import MocapWarning, StoreError
from mocap.io import store as store_module
from mocap.io.store import (
    SCHEMA_VERSION,
    TRACK_BASE_FIELDS,
    RunStore,
    StoreWriter,
    chunk_rows,
    open_store,
)
from mocap.types import FrameResult, Tracks
from tests.smooth.test_offline import _tracks

HELPER = Path(__file__).with_name("_store_writer_proc.py")
ATTRS = {"source": SOURCE, "fps": SOURCE["fps"], "config": {"detect": {"max_people": 4}}}


def write_run(path: Path, frames: range, *, mode: str = "create", flush_every: int = 4) -> StoreWriter:
    writer = StoreWriter(path, mode=mode, attrs=ATTRS, flush_every=flush_every)  # type: ignore[arg-type]
    with writer:
        for index in frames:
            writer.write(scripted_result(index))
    return writer


def expected_rows(track_id: int, frames: range) -> list[tuple[int, FrameResult, int]]:
    """(frame index, result, row) of every frame of ``frames`` that holds ``track_id``."""
    rows = []
    for index in frames:
        if track_id in track_ids_at(index):
            rows.append((index, scripted_result(index), track_ids_at(index).index(track_id)))
    return rows


def assert_same_runs(a: RunStore, b: RunStore) -> None:
    assert a.num_frames == b.num_frames
    np.testing.assert_array_equal(a.frame_index, b.frame_index)
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_array_equal(a.num_people, b.num_people)
    assert a.track_ids == b.track_ids
    for track_id in a.track_ids:
        ta, tb = a.track(track_id), b.track(track_id)
        assert list(ta.fields) == list(tb.fields)
        for name in ta.fields:
            assert ta[name].dtype == tb[name].dtype, name
            np.testing.assert_array_equal(ta[name], tb[name], err_msg=f"track {track_id} {name}")
    skip = {"created_utc"}
    assert {k: v for k, v in a.attrs.items() if k not in skip} == {k: v for k, v in b.attrs.items() if k not in skip}


# --- round trip and appends ----------------------------------------------------------------


def test_round_trip_with_tracks_coming_and_going_and_extra_fields(tmp_path: Path) -> None:
    frames = range(30)
    write_run(tmp_path / "run.zarr", frames, flush_every=7)
    store = open_store(tmp_path / "run.zarr")

    assert store.attrs["status"] == "complete"
    assert store.attrs["schema_version"] == SCHEMA_VERSION
    assert store.attrs["source"] == SOURCE
    assert store.num_frames == 30 and store.attrs["last_frame_index"] == 29
    np.testing.assert_array_equal(store.frame_index, np.arange(30))
    np.testing.assert_allclose(store.time_s, np.arange(30) / 25.0)
    np.testing.assert_array_equal(store.num_people, [len(track_ids_at(i)) for i in frames])
    assert store.track_ids == [1, 2, 3]

    for track_id in store.track_ids:
        track = store.track(track_id)
        rows = expected_rows(track_id, frames)
        np.testing.assert_array_equal(track.frame_index, [i for i, _, _ in rows])
        assert store.fields(track_id) == [*TRACK_BASE_FIELDS, "tokens", "vertices_cam_m"]
        for name, dtype in TRACK_BASE_FIELDS.items():
            assert track[name].dtype == dtype
        for name in list(TRACK_BASE_FIELDS)[1:]:
            want = np.stack([getattr(r.tracks, name)[row] for _, r, row in rows])
            np.testing.assert_array_equal(track[name], want, err_msg=name)
        np.testing.assert_array_equal(track["tokens"], np.stack([r.track_fields["tokens"][row] for _, r, row in rows]))
        assert track["tokens"].dtype == np.int16 and track["vertices_cam_m"].dtype == np.float16
        # vertices_cam_m appears at frame 6: the rows before read as missing (NaN).
        for (index, result, row), vertices in zip(rows, track["vertices_cam_m"], strict=True):
            if index < 6:
                assert np.isnan(vertices).all()
            else:
                np.testing.assert_array_equal(vertices, result.track_fields["vertices_cam_m"][row])


def test_frames_without_people_are_recorded(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "run.zarr", flush_every=2) as writer:
        for index in (0, 1, 5):  # a live source dropped frames 2-4
            writer.write(FrameResult(index, index / 30, (64, 48), Tracks.empty()))
    store = open_store(tmp_path / "run.zarr")
    np.testing.assert_array_equal(store.frame_index, [0, 1, 5])
    np.testing.assert_array_equal(store.num_people, [0, 0, 0])
    assert store.track_ids == []
    assert "tracks: 0" in store.summary()


def test_append_across_flushes_commits_whole_flushes(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "run.zarr", attrs=ATTRS, flush_every=5)
    for index in range(12):
        writer.write(scripted_result(index))
        store = open_store(tmp_path / "run.zarr")
        assert store.num_frames == (index + 1) // 5 * 5  # only flushed frames are visible
    assert writer.frames_committed == 10 and writer.resume_from == 10
    writer.close()
    assert open_store(tmp_path / "run.zarr").num_frames == 12


def test_each_commit_is_one_write_of_the_root_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The frame count and the last frame index change together: a reader following a live store never sees one
    without the other (zarr's attrs.update writes zarr.json once per key; the viewer once drew a committed frame
    as empty because of that)."""
    writer = StoreWriter(tmp_path / "run.zarr", attrs=ATTRS, flush_every=1)
    root_writes: list[dict] = []
    real_set = zarr.storage.LocalStore.set

    async def spy(self: zarr.storage.LocalStore, key: str, value: Any) -> None:
        await real_set(self, key, value)
        if key == "zarr.json":
            root_writes.append(json.loads(value.to_bytes())["attributes"])

    monkeypatch.setattr(zarr.storage.LocalStore, "set", spy)
    for index in range(3):
        writer.write(scripted_result(index))
    writer.close()
    commits = [(a["frames_committed"], a["last_frame_index"], a["status"]) for a in root_writes]
    assert commits == [(1, 0, "writing"), (2, 1, "writing"), (3, 2, "writing"), (3, 2, "complete")]


def test_late_field_and_field_missing_in_some_frames(tmp_path: Path) -> None:
    tracks = scripted_result(0).tracks  # one person, id 1
    with StoreWriter(tmp_path / "run.zarr", flush_every=2) as writer:
        writer.write(FrameResult(0, 0.0, (640, 480), tracks))
        writer.write(FrameResult(1, 0.1, (640, 480), tracks, {"ids": np.array([[7, 8]], np.uint8)}))
        writer.write(FrameResult(2, 0.2, (640, 480), tracks))
        writer.write(FrameResult(3, 0.3, (640, 480), tracks, {"ids": np.array([[9, 10]], np.uint8)}))
    track = open_store(tmp_path / "run.zarr").track(1)
    np.testing.assert_array_equal(track["ids"], [[255, 255], [7, 8], [255, 255], [9, 10]])


def test_chunks_follow_time_and_shrink_for_big_rows(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(10))
    track_dir = tmp_path / "run.zarr" / "tracks" / "1"
    assert zarr.open_array(track_dir / "landmarks_px", mode="r").chunks == (256, 33, 3)
    assert zarr.open_array(track_dir / "tokens", mode="r").chunks == (256, 54)
    assert chunk_rows((13718, 3), np.dtype(np.float16)) == 32  # a full Anny mesh per row


# --- readers beside a writer ---------------------------------------------------------------


def test_reader_beside_an_open_writer_sees_committed_frames_only(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "run.zarr", attrs=ATTRS, flush_every=4)
    for index in range(6):
        writer.write(scripted_result(index))
    reader = open_store(tmp_path / "run.zarr")
    assert reader.attrs["status"] == "writing"
    assert reader.num_frames == 4 and reader.track_ids == [1, 2]
    assert len(reader.track(2)) == 1  # frame 3 only; frames 4-5 are still in the writer's memory

    for index in range(6, 10):
        writer.write(scripted_result(index))  # flushes frames 4-7: tracks 2 and 3 grow or appear
    assert reader.num_frames == 4 and len(reader.track(2)) == 1  # a snapshot until refresh()
    reader.refresh()
    assert reader.num_frames == 8 and reader.track_ids == [1, 2]
    assert len(reader.track(2)) == 5 and "vertices_cam_m" in reader.fields(1)
    writer.close()
    reader.refresh()
    assert reader.num_frames == 10 and reader.track_ids == [1, 2, 3] and reader.attrs["status"] == "complete"


def test_rows_beyond_the_commit_point_are_ignored_and_truncated_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.zarr"
    write_run(path, range(10))
    # What a writer killed between its data and its commit leaves: longer arrays, a new track, a new field.
    root = zarr.open_group(path, mode="r+")
    for name in ("frame_index", "time_s", "num_people"):
        zarr.open_array(path / "frames" / name, mode="r+").append(np.array([10, 11]))
    for name in TRACK_BASE_FIELDS:
        array = zarr.open_array(path / "tracks" / "1" / name, mode="r+")
        array.append(np.full((2, *array.shape[1:]), 10 if name == "frame_index" else 1, array.dtype))
    root.create_array("tracks/1/joints_cam_m", shape=(10, 5), dtype="f4", attributes={"created_at_row": 10})
    root.create_array("tracks/9/frame_index", shape=(0,), dtype="i8").append(np.array([10, 11]))
    root.create_array("tracks/9/score", shape=(0,), dtype="f4")
    (path / "tracks" / "1" / "score" / "zarr.json.0a1b.partial").write_bytes(b"{half a fi")

    store = open_store(path)
    assert store.num_frames == 10 and store.track_ids == [1, 2, 3]
    assert store.track(1).frame_index[-1] == 9 and "joints_cam_m" not in store.fields(1)

    write_run(path, range(10, 30), mode="resume")
    assert not list(path.rglob("*.partial"))
    write_run(tmp_path / "clean.zarr", range(30), flush_every=6)
    assert_same_runs(open_store(path), open_store(tmp_path / "clean.zarr"))
    assert not (path / "tracks" / "9").exists() and not (path / "tracks" / "1" / "joints_cam_m").exists()


# --- crash and resume ----------------------------------------------------------------------


def test_killed_writer_leaves_a_readable_store_that_resumes_to_the_same_run(tmp_path: Path) -> None:
    path, total = tmp_path / "run.zarr", 80
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPER.parents[2]), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(HELPER), str(path), str(total), "4", "0.01"], env=env)
    try:
        deadline = time.monotonic() + 60
        committed = 0
        while committed < 30:  # wait for a few flushes, past the frames where tracks come and go
            assert process.poll() is None, "the writer exited before it was killed"
            assert time.monotonic() < deadline, "the writer committed nothing in 60 s"
            time.sleep(0.05)
            if (path / "zarr.json").is_file():
                committed = open_store(path).num_frames
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    killed = open_store(path)
    assert killed.attrs["status"] == "writing"
    assert 30 <= killed.num_frames < total
    np.testing.assert_array_equal(killed.frame_index, np.arange(killed.num_frames))
    for track_id in killed.track_ids:
        assert killed.track(track_id).frame_index[-1] <= killed.num_frames - 1

    writer = StoreWriter(path, mode="resume", attrs=ATTRS, flush_every=4)
    assert writer.resume_from == killed.num_frames
    assert writer.next_track_id == max(killed.track_ids) + 1
    with writer:
        for index in range(writer.resume_from, total):
            writer.write(scripted_result(index))

    write_run(tmp_path / "clean.zarr", range(total), flush_every=9)
    assert_same_runs(open_store(path), open_store(tmp_path / "clean.zarr"))


def test_exception_inside_the_writer_flushes_and_marks_interrupted(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), StoreWriter(tmp_path / "run.zarr", attrs=ATTRS, flush_every=100) as writer:
        for index in range(5):
            writer.write(scripted_result(index))
        raise RuntimeError("the source broke")
    store = open_store(tmp_path / "run.zarr")
    assert store.attrs["status"] == "interrupted" and store.num_frames == 5
    assert StoreWriter(tmp_path / "run.zarr", mode="resume").resume_from == 5


def test_a_flush_that_fails_half_way_leaves_the_store_at_its_last_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.zarr"
    writer = StoreWriter(path, attrs=ATTRS, flush_every=4)
    for index in range(8):
        writer.write(scripted_result(index))
    calls, append = [0], zarr.Array.append

    def append_until_the_disk_is_full(self: zarr.Array, data: np.ndarray, axis: int = 0) -> tuple[int, ...]:
        calls[0] += 1
        if calls[0] > 12:  # part of the tracks' arrays are written, the frames arrays and the commit are not
            raise OSError(28, "No space left on device")
        return append(self, data, axis)

    monkeypatch.setattr(zarr.Array, "append", append_until_the_disk_is_full)
    with pytest.raises(OSError, match="No space left"):
        for index in range(8, 12):  # frame 8 brings track 3 and the 4th frame flushes
            writer.write(scripted_result(index))
    monkeypatch.setattr(zarr.Array, "append", append)
    assert open_store(path).num_frames == 8
    with pytest.raises(StoreError, match=r"could not be written .*No space left.*mode='resume'"):
        writer.write(scripted_result(12))
    writer.close()
    assert open_store(path).attrs["status"] == "interrupted"
    write_run(path, range(8, 20), mode="resume")
    write_run(tmp_path / "clean.zarr", range(20))
    assert_same_runs(open_store(path), open_store(tmp_path / "clean.zarr"))


def test_resume_a_complete_store_appends(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(10))
    write_run(tmp_path / "run.zarr", range(10, 15), mode="resume")
    store = open_store(tmp_path / "run.zarr")
    assert store.num_frames == 15 and store.attrs["status"] == "complete"


def test_resume_from_and_next_track_id_of_a_new_store(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "run.zarr")
    assert (writer.resume_from, writer.next_track_id) == (0, 1)
    writer.close()


# --- errors --------------------------------------------------------------------------------


def test_create_refuses_an_existing_store_or_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(3))
    with pytest.raises(StoreError, match="pass --resume to continue it or --overwrite to replace it"):
        StoreWriter(tmp_path / "run.zarr")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"jpeg")
    with pytest.raises(StoreError, match="exists already"):
        StoreWriter(tmp_path / "photos")
    StoreWriter(tmp_path / "empty").close()  # an empty folder is fine (mkdir before a run)


def test_overwrite_replaces_a_store_but_refuses_any_other_folder(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(8))
    write_run(tmp_path / "run.zarr", range(3), mode="overwrite")
    assert open_store(tmp_path / "run.zarr").num_frames == 3

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"jpeg")
    with pytest.raises(StoreError, match="is not a mocap store: refusing to delete it"):
        StoreWriter(tmp_path / "photos", mode="overwrite")
    assert (tmp_path / "photos" / "a.jpg").read_bytes() == b"jpeg"
    zarr.open_group(tmp_path / "plain.zarr", mode="w").create_array("x", shape=(3,), dtype="i4")
    with pytest.raises(StoreError, match="not a mocap store"):
        StoreWriter(tmp_path / "plain.zarr", mode="overwrite")


def test_resume_of_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .* to resume: drop --resume"):
        StoreWriter(tmp_path / "run.zarr", mode="resume")


def test_unwritable_parent(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(StoreError, match="choose a writable output path"):
        StoreWriter(tmp_path / "file.txt" / "run.zarr")


def test_open_something_that_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        open_store(tmp_path / "missing.zarr")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match="is not a mocap store"):
        open_store(tmp_path / "folder")
    zarr.open_group(tmp_path / "plain.zarr", mode="w")
    with pytest.raises(StoreError, match="is not a mocap store"):
        open_store(tmp_path / "plain.zarr")


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, SCHEMA_VERSION - 1])
def test_schema_mismatch(tmp_path: Path, version: int) -> None:
    write_run(tmp_path / "run.zarr", range(3))
    root = zarr.open_group(tmp_path / "run.zarr", mode="r+")
    root.attrs.update({"schema_version": version, "mocap_version": "0.0.7"})
    message = f"written by mocap 0.0.7 with schema {version}; .* reads schema {SCHEMA_VERSION}: re-run, or install"
    with pytest.raises(StoreError, match=message):
        open_store(tmp_path / "run.zarr")
    with pytest.raises(StoreError, match=message):
        StoreWriter(tmp_path / "run.zarr", mode="resume")


def test_migration_hook_upgrades_an_older_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_run(tmp_path / "run.zarr", range(3))
    root = zarr.open_group(tmp_path / "run.zarr", mode="r+")
    root.attrs.update({"schema_version": SCHEMA_VERSION - 1, "fps": None, "frame_rate": 25.0})

    def rename_frame_rate(group: zarr.Group) -> None:
        group.attrs.update({"fps": group.attrs["frame_rate"]})

    monkeypatch.setitem(store_module.MIGRATIONS, SCHEMA_VERSION - 1, rename_frame_rate)
    store = open_store(tmp_path / "run.zarr")
    assert store.attrs["schema_version"] == SCHEMA_VERSION and store.attrs["fps"] == 25.0


def test_resume_with_another_source_is_an_error_and_another_config_a_warning(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(3))
    other = {**SOURCE, "path": "/clips/someone_else.mp4"}
    with pytest.raises(StoreError, match=r"written from another source .*resume with the same source"):
        StoreWriter(tmp_path / "run.zarr", mode="resume", attrs={"source": other})
    writer = StoreWriter(tmp_path / "run.zarr", mode="resume")
    with pytest.raises(StoreError, match="another source"):
        writer.set_source(other)
    writer.set_source(SOURCE)
    writer.close()
    with pytest.warns(MocapWarning, match=r"another config \(detect.max_people\)"):
        StoreWriter(tmp_path / "run.zarr", mode="resume", attrs={"config": {"detect": {"max_people": 1}}}).close()
    assert open_store(tmp_path / "run.zarr").attrs["config"] == ATTRS["config"]


def test_a_store_being_written_is_locked(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "run.zarr")
    with pytest.raises(StoreError, match=f"being written by process {os.getpid()}"):
        StoreWriter(tmp_path / "run.zarr", mode="resume")
    with pytest.raises(StoreError, match="being written"):
        StoreWriter(tmp_path / "run.zarr", mode="overwrite")
    writer.close()
    StoreWriter(tmp_path / "run.zarr", mode="resume").close()


def test_frames_out_of_order_and_changing_fields_are_refused(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "run.zarr", flush_every=2)
    writer.write(scripted_result(6))
    writer.write(scripted_result(7))
    with pytest.raises(StoreError, match="frame 7 arrived after frame 7"):
        writer.write(scripted_result(7))
    bad = scripted_result(8)
    bad.track_fields["tokens"] = np.zeros((len(bad.tracks), 40), np.int16)
    writer.write(bad)
    with pytest.raises(StoreError, match="keep each field's shape and dtype fixed"):
        writer.write(scripted_result(9))
    assert open_store(tmp_path / "run.zarr").num_frames == 2  # the bad flush wrote nothing
    writer.close()


def test_summary_names_source_tracks_fields_and_bytes(tmp_path: Path) -> None:
    write_run(tmp_path / "run.zarr", range(30))
    text = open_store(tmp_path / "run.zarr").summary()
    assert "/clips/two_people.mp4" in text and "640x480" in text and "complete" in text
    assert "frames: 30 (0-29)" in text and "duration 1.20 s" in text
    assert "track 2: 9 frames (3-11)  " in text
    assert "track 3: 17 frames (8-29; away 5 frames, longest 5)" in text  # frames 20-24 without track 3
    assert "tokens               (n, 54) int16" in text
    assert "bytes on disk per person-frame" in text


def test_summary_counts_the_frames_a_flag_is_set_on(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "run.zarr") as writer:
        for i in range(6):
            flag = np.array([i in (2, 5)])
            writer.write(FrameResult(i, i / 30, (640, 480), _tracks(1), {"sides_relabelled": flag}))
    assert "sides_relabelled     (n,) bool" in (text := open_store(tmp_path / "run.zarr").summary())
    assert "set on 2 frames" in text
