"""Appending FrameResults to a run store, with a commit point per flush."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import zarr
from zarr.storage import LocalStore

from mocap import __version__
from mocap.errors import MocapWarning, StoreError
from mocap.io.store.layout import (
    _COMPRESSORS,
    _FRAMES_CHUNK_ROWS,
    _LOCK,
    _RESERVED_ATTRS,
    _UNWRITTEN_FRAME,
    FRAME_FIELDS,
    SCHEMA_VERSION,
    STATUSES,
    TRACK_BASE_FIELDS,
    _array,
    _array_names,
    _attrs,
    _check_same_source,
    _check_unlocked,
    _committed_rows,
    _created_at_row,
    _diff_keys,
    _now_utc,
    _open_root,
    _source_attrs,
    _track_dirs,
    _truncate,
    chunk_rows,
    is_store,
    missing_value,
    to_json,
)
from mocap.types import FrameResult

log = logging.getLogger(__name__)


# --- writing --------------------------------------------------------------------------------


class StoreWriter:
    """Appends :class:`FrameResult` s to a run store, flushing every ``flush_every`` frames.

    Args:
        path: the store directory (e.g. ``run.zarr``); missing parents are created.
        mode: "create" refuses an existing path; "overwrite" replaces an existing mocap store
            (never another folder); "resume" continues a store after its last committed frame.
        attrs: root attrs to record (``config``, ``source``, ``fps``, ``intrinsics``, model ids, ...).
        flush_every: frames held in memory between flushes; a crash loses at most these.

    Example:
        >>> with StoreWriter("run.zarr", attrs={"fps": 30.0}) as writer:  # doctest: +SKIP
        ...     writer.write(FrameResult(0, 0.0, (640, 480), Tracks.empty()))
        >>> open_store("run.zarr").num_frames  # doctest: +SKIP
        1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Literal["create", "overwrite", "resume"] = "create",
        attrs: Mapping[str, Any] | None = None,
        flush_every: int = 32,
    ) -> None:
        if mode not in ("create", "overwrite", "resume"):
            raise ValueError(f"mode must be 'create', 'overwrite' or 'resume', got {mode!r}")
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, got {flush_every}")
        extra = to_json(dict(attrs or {}))
        if reserved := sorted(_RESERVED_ATTRS & extra.keys()):
            raise ValueError(f"attrs {reserved} are written by the store itself: leave them out")
        self.path = Path(path)
        self.flush_every = flush_every
        self._buffer: list[FrameResult] = []
        self._arrays: dict[tuple[int, str], zarr.Array] = {}  # (track_id, field) -> open array
        self._rows: dict[int, int] = {}  # committed rows per track
        self._frames_committed = 0  # these two are read back from the root attrs at the commit point
        self._last_frame_index = -1
        self._closed = False
        self._failed: BaseException | None = None  # the error of a flush that failed half way
        self._frames: dict[str, zarr.Array] = {}  # frames/<name> -> open array
        self._root = self._open_resume(extra) if mode == "resume" else self._open_new(extra, mode == "overwrite")
        self._load_committed()
        (self.path / _LOCK).write_text(f"{socket.gethostname()} {os.getpid()}")

    # -- opening --

    def _open_new(self, extra: dict[str, Any], overwrite: bool) -> zarr.Group:
        path = self.path
        if path.exists() and not (path.is_dir() and not any(path.iterdir())):  # an empty folder is fine
            if not overwrite:
                raise StoreError(f"{path} exists already: pass --resume to continue it or --overwrite to replace it")
            if not is_store(path):
                raise StoreError(
                    f"{path} exists and is not a mocap store: refusing to delete it; choose another output path"
                )
            _check_unlocked(path)
            shutil.rmtree(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not os.access(path, os.W_OK):
                raise PermissionError(f"{path} is read-only")
        except OSError as error:
            raise StoreError(f"cannot write {path} ({error}): choose a writable output path") from error
        attrs = {"config": {}, "source": None, "fps": None, "intrinsics": None, **extra}
        attrs |= {"schema_version": SCHEMA_VERSION, "mocap_version": __version__, "created_utc": _now_utc()}
        attrs |= {"status": "writing", "frames_committed": 0, "last_frame_index": -1}
        root = zarr.open_group(LocalStore(path), mode="w", attributes=attrs)
        for name, dtype in FRAME_FIELDS.items():
            root.create_array(
                f"frames/{name}", shape=(0,), dtype=dtype, chunks=(_FRAMES_CHUNK_ROWS,), compressors=_COMPRESSORS
            )
        root.create_group("tracks")
        return root

    def _open_resume(self, extra: dict[str, Any]) -> zarr.Group:
        if not self.path.exists():
            raise StoreError(f"no store at {self.path} to resume: drop --resume to start a new run")
        _check_unlocked(self.path)
        root = _open_root(self.path, writable=True)
        stored = _attrs(root)
        if "source" in extra:
            _check_same_source(self.path, stored.get("source"), extra["source"])
        if stored.get("config") and "config" in extra and (differ := _diff_keys(stored["config"], extra["config"])):
            warnings.warn(
                f"{self.path} was written with another config ({', '.join(differ)}): keeping the stored one; "
                "pass --overwrite to redo the run with the new config",
                MocapWarning,
                stacklevel=3,
            )
            del extra["config"]
        root.update_attributes({**extra, "status": "writing"})
        log.info("resuming %s after frame %d", self.path, stored["last_frame_index"])
        return root

    def _load_committed(self) -> None:
        """Load the state at the commit point, dropping every row written after it (by a killed flush)."""
        root = self._root
        attrs = _attrs(root)
        self._frames_committed, self._last_frame_index = attrs["frames_committed"], attrs["last_frame_index"]
        for partial in self.path.rglob("*.partial"):  # temporary files of interrupted atomic writes
            partial.unlink()
        self._frames = {name: _array(root, f"frames/{name}") for name in FRAME_FIELDS}
        for array in self._frames.values():
            _truncate(array, self._frames_committed)
        self._arrays.clear()
        self._rows.clear()
        for track_id in _track_dirs(self.path):
            rows = _committed_rows(root, track_id, self._last_frame_index)
            group_dir = self.path / "tracks" / str(track_id)
            if rows == 0:  # born after the commit point
                shutil.rmtree(group_dir)
                continue
            for name in _array_names(group_dir):
                array = _array(root, f"tracks/{track_id}/{name}")
                if _created_at_row(array) >= rows:  # a field first seen after the commit point
                    shutil.rmtree(group_dir / name)
                    continue
                _truncate(array, rows)
                self._arrays[(track_id, name)] = array
            self._rows[track_id] = rows

    # -- public --

    @property
    def resume_from(self) -> int:
        """The next frame index to process: the last committed frame index + 1 (0 for a new store)."""
        return self._last_frame_index + 1

    @property
    def next_track_id(self) -> int:
        """One more than the largest committed track id (1 for a new store), so ids continue on resume."""
        return max(self._rows, default=0) + 1

    @property
    def frames_committed(self) -> int:
        return self._frames_committed

    def set_source(self, source: Any) -> None:
        """Record a source (an object or mapping with kind, path, fps, size_wh, num_frames, codec, rotation).

        Raises:
            StoreError: when resuming a store that was written from another source.
        """
        attrs = _source_attrs(source)
        _check_same_source(self.path, _attrs(self._root).get("source"), attrs)
        update: dict[str, Any] = {"source": attrs}
        if attrs["fps"] is not None:
            update["fps"] = attrs["fps"]
        intrinsics = source.get("intrinsics") if isinstance(source, Mapping) else getattr(source, "intrinsics", None)
        if intrinsics is not None:
            update["intrinsics"] = to_json(np.asarray(intrinsics, np.float64))
        self._root.update_attributes(update)

    def update_attrs(self, attrs: Mapping[str, Any]) -> None:
        """Record more root attrs (e.g. model ids) now."""
        extra = to_json(dict(attrs))
        if reserved := sorted(_RESERVED_ATTRS & extra.keys()):
            raise ValueError(f"attrs {reserved} are written by the store itself: leave them out")
        self._root.update_attributes(extra)

    def write(self, result: FrameResult) -> None:
        """Buffer one frame's result; flushes every ``flush_every`` frames."""
        if self._closed or self._failed is not None:
            why = "is closed" if self._failed is None else f"could not be written ({self._failed})"
            raise StoreError(f"{self.path} {why}: open StoreWriter(..., mode='resume') to append more frames")
        last = self._buffer[-1].frame_index if self._buffer else self._last_frame_index
        if result.frame_index <= last:
            raise StoreError(
                f"frame {result.frame_index} arrived after frame {last}: frames must be written in increasing "
                f"order (a resumed run continues at frame {self.resume_from})"
            )
        if len(np.unique(result.tracks.track_id)) != len(result.tracks):
            raise ValueError(f"frame {result.frame_index} holds a track id twice: {result.tracks.track_id.tolist()}")
        self._buffer.append(result)
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Append the buffered frames and commit them (nothing to do when the buffer is empty)."""
        if not self._buffer or self._failed is not None:
            return
        results, self._buffer = self._buffer, []
        # Build and check every column before the first write, so a bad field leaves the store untouched.
        columns = {tid: self._track_columns(tid, rows) for tid, rows in _rows_by_track(results).items()}
        try:
            for track_id, track_columns in columns.items():
                self._append_track(track_id, track_columns)
            frames = {
                "frame_index": [r.frame_index for r in results],
                "time_s": [r.time_s for r in results],
                "num_people": [len(r.tracks) for r in results],
            }
            for name, dtype in FRAME_FIELDS.items():
                self._frames[name].append(np.array(frames[name], dtype))
            commit = {"frames_committed": self._frames_committed + len(results)}
            commit["last_frame_index"] = results[-1].frame_index
            # The commit point: one atomic replace of zarr.json. (zarr's attrs.update writes it once per key, so a
            # reader could see the new frame count with the old last frame index.)
            self._root.update_attributes(commit)
        except BaseException as error:
            # The store stays valid at its last commit (readers ignore the rows written since, a resume
            # truncates them), but this writer's view of it is not: refuse to go on.
            self._failed = error
            raise
        self._frames_committed, self._last_frame_index = commit["frames_committed"], commit["last_frame_index"]
        for track_id, track_columns in columns.items():
            self._rows[track_id] = self._rows.get(track_id, 0) + len(track_columns["frame_index"])

    def close(self, status: str = "complete") -> None:
        """Flush, then record ``status`` ("complete", "interrupted" or "failed"). Closing twice is a no-op.

        After a failed flush nothing more is written and the status is "interrupted", whatever ``status`` says.
        """
        if status not in STATUSES[1:]:
            raise ValueError(f"status must be one of {STATUSES[1:]}, got {status!r}")
        if self._closed:
            return
        try:
            self.flush()
        except BaseException:
            status = "interrupted"
            raise
        finally:
            self._closed = True
            self._root.update_attributes({"status": status if self._failed is None else "interrupted"})
            (self.path / _LOCK).unlink(missing_ok=True)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close("complete" if exc_type is None else "interrupted")

    # -- columns --

    def _track_columns(self, track_id: int, rows: list[tuple[FrameResult, int]]) -> dict[str, np.ndarray]:
        """The k new rows of one track, every field of the track included: name -> (k, ...) array."""
        columns = {"frame_index": np.array([r.frame_index for r, _ in rows], np.int64)}
        for name, dtype in list(TRACK_BASE_FIELDS.items())[1:]:
            columns[name] = np.stack([getattr(r.tracks, name)[i] for r, i in rows]).astype(dtype, copy=False)
        known = {name for (tid, name) in self._arrays if tid == track_id} - TRACK_BASE_FIELDS.keys()
        for name in sorted(known | {name for r, _ in rows for name in r.track_fields}):
            columns[name] = self._extra_column(track_id, name, rows)
        return columns

    def _extra_column(self, track_id: int, name: str, rows: list[tuple[FrameResult, int]]) -> np.ndarray:
        """One ``track_fields`` entry over k rows; rows without it get :func:`missing_value`."""
        present = [(j, np.asarray(r.track_fields[name][i])) for j, (r, i) in enumerate(rows) if name in r.track_fields]
        array = self._arrays.get((track_id, name))
        dtype, row_shape = (
            (array.dtype, array.shape[1:]) if array is not None else (present[0][1].dtype, present[0][1].shape)
        )
        column = np.full((len(rows), *row_shape), missing_value(np.dtype(dtype)), dtype)
        for j, value in present:
            if value.shape != row_shape or not np.can_cast(value.dtype, dtype, "same_kind"):
                raise StoreError(
                    f"track field {name!r} of track {track_id} has rows of shape {value.shape} {value.dtype}, but "
                    f"the store holds {row_shape} {dtype}: keep each field's shape and dtype fixed during a run"
                )
            column[j] = value
        return column

    def _append_track(self, track_id: int, columns: dict[str, np.ndarray]) -> None:
        if (track_id, "frame_index") not in self._arrays:  # a new track
            self._root.require_group(f"tracks/{track_id}")
        for name, column in columns.items():
            array = self._arrays.get((track_id, name))
            if array is None:
                array = self._arrays[(track_id, name)] = self._create_track_array(track_id, name, column)
            array.append(column)

    def _create_track_array(self, track_id: int, name: str, column: np.ndarray) -> zarr.Array:
        rows, row_shape = self._rows.get(track_id, 0), column.shape[1:]
        is_base = name in TRACK_BASE_FIELDS
        return self._root.create_array(
            f"tracks/{track_id}/{name}",
            shape=(rows, *row_shape),  # a field first seen late reads as missing before
            dtype=column.dtype,
            chunks=(chunk_rows(row_shape, column.dtype), *row_shape),
            compressors=_COMPRESSORS,
            fill_value=_UNWRITTEN_FRAME if name == "frame_index" else missing_value(column.dtype),
            attributes={} if is_base else {"created_at_row": rows},
        )


def _rows_by_track(results: list[FrameResult]) -> dict[int, list[tuple[FrameResult, int]]]:
    """track id -> the (result, row) pairs holding it, in frame order."""
    by_track: dict[int, list[tuple[FrameResult, int]]] = {}
    for result in results:
        for row, track_id in enumerate(result.tracks.track_id.tolist()):
            by_track.setdefault(int(track_id), []).append((result, row))
    return by_track


def replace_track_field(path: str | os.PathLike[str], track_id: int, name: str, values: np.ndarray) -> None:
    """Overwrite (or add) one per-track field of a CLOSED store, e.g. the offline smoother's output.

    ``values`` must hold one row per committed row of the track. The store must not have a writer
    open (its lock is checked), so a post-pass never races a capture.
    """
    path = Path(path)
    _check_unlocked(path)
    root = _open_root(path, writable=True)
    rows = _committed_rows(root, track_id, int(_attrs(root)["last_frame_index"]))
    if len(values) != rows:
        raise ValueError(f"track {track_id} has {rows} committed rows, got {len(values)} values for {name!r}")
    key = f"tracks/{track_id}/{name}"
    if name in _array_names(path / "tracks" / str(track_id)):
        array = _array(root, key)
        if array.shape[1:] != values.shape[1:] or array.dtype != values.dtype:
            raise ValueError(
                f"{key} holds {array.dtype} rows of {array.shape[1:]}, got {values.dtype} {values.shape[1:]}"
            )
        array[:rows] = values
    else:
        root.create_array(
            key,
            shape=values.shape,
            dtype=values.dtype,
            chunks=(chunk_rows(values.shape[1:], values.dtype), *values.shape[1:]),
            compressors=_COMPRESSORS,
        )[:] = values
