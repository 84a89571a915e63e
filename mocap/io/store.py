"""One zarr v3 store per run: append :class:`FrameResult` s as they arrive, read tracks back.

Layout (schema 1) of a directory ``run.zarr``::

    attrs   schema_version, mocap_version, created_utc, config, source, fps, intrinsics,
            status ("writing" | "complete" | "interrupted" | "failed"), frames_committed,
            last_frame_index, and whatever else the caller adds (model ids, ...)
    frames/frame_index (T,) int64, frames/time_s (T,) float64, frames/num_people (T,) int16
    tracks/<track_id>/<field> (n, ...)  one row per frame the track was written in:
            frame_index, state, age, detection_index, score, xyxy_px, landmarks_px,
            landmarks_world_m, and every array of ``FrameResult.track_fields``

Crash safety: a flush appends the track arrays, then the frames arrays, and only then writes
``frames_committed`` / ``last_frame_index`` into the root attrs: one atomic file replace, the
commit point. Readers trust rows up to the commit point only; a resume truncates the rest.

Example:
    >>> with StoreWriter("run.zarr", attrs={"fps": 30.0}) as writer:  # doctest: +SKIP
    ...     writer.write(result)
    >>> open_store("run.zarr").track(1)["xyxy_px"].shape  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import socket
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import zarr
from zarr.codecs import BloscCodec
from zarr.storage import LocalStore

from mocap import __version__
from mocap.errors import MocapWarning, StoreError
from mocap.types import FrameResult

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# MIGRATIONS[n] upgrades a store from schema n to n + 1 in place. Opening an older store runs
# the chain up to SCHEMA_VERSION when every step exists; a gap is a StoreError.
MIGRATIONS: dict[int, Callable[[zarr.Group], None]] = {}

STATUSES = ("writing", "complete", "interrupted", "failed")
# Per-track arrays written for every row, with their dtypes; row shapes come from :class:`Tracks`.
TRACK_BASE_FIELDS: dict[str, type[np.generic]] = {
    "frame_index": np.int64,
    "state": np.int8,
    "age": np.int32,
    "detection_index": np.int64,
    "score": np.float32,
    "xyxy_px": np.float32,
    "landmarks_px": np.float32,
    "landmarks_world_m": np.float32,
}
FRAME_FIELDS: dict[str, type[np.generic]] = {"frame_index": np.int64, "time_s": np.float64, "num_people": np.int16}
_RESERVED_ATTRS = frozenset(
    {"schema_version", "mocap_version", "created_utc", "status", "frames_committed", "last_frame_index"}
)
_UNWRITTEN_FRAME = np.iinfo(np.int64).max  # fill of track frame_index: rows resized but not yet written sort last
_SOURCE_KEYS = ("kind", "path", "fps", "size_wh", "num_frames", "codec", "rotation")
_SOURCE_IDENTITY = ("kind", "path", "size_wh", "num_frames")  # what must match to resume
_FRAMES_CHUNK_ROWS = 4096
_MAX_CHUNK_ROWS = 256
_CHUNK_BYTES = 4 << 20  # rows per chunk shrink for big rows (vertices) to keep chunk rewrites cheap
# Byte-shuffled zstd: measured on smooth synthetic motion, 9-14 % smaller landmarks and 24 % smaller
# float16 vertices than zarr's default (plain zstd level 0), for ~0.6 ms more per 13,718-vertex row.
_COMPRESSORS = (BloscCodec(cname="zstd", clevel=5, shuffle="shuffle"),)
_LOCK = "writer.lock"


# --- pure helpers ---------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Convert config values (dataclass dicts, tuples, numpy, paths, enums) into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def missing_value(dtype: np.dtype) -> Any:
    """The fill of rows a field has no value for: NaN for floats, -1 for signed ints, max for unsigned."""
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return -1
    if dtype.kind == "u":
        return np.iinfo(dtype).max
    return False


def chunk_rows(row_shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Rows per chunk along time: 256, fewer when a row is big (a 13,718-vertex float16 mesh: 32)."""
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize)
    rows = max(1, min(_MAX_CHUNK_ROWS, _CHUNK_BYTES // row_bytes))
    return 1 << (rows.bit_length() - 1)  # a power of two


def disk_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (what ``du --apparent-size`` counts)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.name.endswith(".partial"))


def _now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --- opening and checking -------------------------------------------------------------------


def is_store(path: Path) -> bool:
    """True when ``path`` is a directory holding a mocap run store (any schema)."""
    try:
        root = zarr.open_group(LocalStore(path, read_only=True), mode="r")
    except Exception:
        return False
    return "schema_version" in root.attrs and "mocap_version" in root.attrs


def _open_root(path: Path, *, writable: bool) -> zarr.Group:
    """Open the root group of a mocap store, checking what it is and migrating old schemas."""
    if not path.exists():
        raise StoreError(f"no store at {path}: write one with `mocap run SOURCE -o {path}`")
    if not is_store(path):
        raise StoreError(f"{path} is not a mocap store (no zarr group with a schema_version): check the path")
    root = zarr.open_group(LocalStore(path, read_only=not writable), mode="r+" if writable else "r")
    attrs = _attrs(root)
    version, written_by = int(attrs["schema_version"]), attrs["mocap_version"]
    steps = range(version, SCHEMA_VERSION)
    if version > SCHEMA_VERSION or any(step not in MIGRATIONS for step in steps):
        raise StoreError(
            f"{path} was written by mocap {written_by} with schema {version}; this mocap ({__version__}) reads "
            f"schema {SCHEMA_VERSION}: re-run, or install mocap {written_by}"
        )
    if version < SCHEMA_VERSION:
        if not writable:  # migrate in place once, then read
            root = zarr.open_group(LocalStore(path), mode="r+")
        for step in steps:
            log.info("migrating %s from schema %d to %d", path, step, step + 1)
            MIGRATIONS[step](root)
            root.attrs["schema_version"] = step + 1
    return root


def _attrs(group: zarr.Group) -> dict[str, Any]:
    return dict(group.attrs.asdict())


def _array(group: zarr.Group, key: str) -> zarr.Array:
    node = group[key]
    if not isinstance(node, zarr.Array):
        raise StoreError(f"{key} is a group where an array belongs: the store is damaged; re-run")
    return node


def _read(array: zarr.Array, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` of an array as numpy."""
    return np.asarray(array[start:stop])


def _created_at_row(array: zarr.Array) -> int:
    """Rows a track had when this field was first written (0 for the Tracks fields)."""
    return int(array.attrs.get("created_at_row", 0))  # type: ignore[arg-type]


def _track_dirs(path: Path) -> list[int]:
    """Ids of the track groups on disk (listed from the file system: robust to a writer mid-flush)."""
    tracks = path / "tracks"
    if not tracks.is_dir():
        return []
    return sorted(int(d.name) for d in tracks.iterdir() if d.name.isdigit() and (d / "zarr.json").is_file())


def _array_names(group_dir: Path) -> list[str]:
    """Array names of a track group: the Tracks fields in their order, then the extra fields by name."""
    names = {d.name for d in group_dir.iterdir() if (d / "zarr.json").is_file()} if group_dir.is_dir() else set()
    return [n for n in TRACK_BASE_FIELDS if n in names] + sorted(names - set(TRACK_BASE_FIELDS))


def _committed_rows(root: zarr.Group, track_id: int, last_frame_index: int) -> int:
    """Rows of a track up to the commit point: its frame_index is ascending, unwritten rows are int64 max."""
    try:
        frame_index = _read(_array(root, f"tracks/{track_id}/frame_index"))
    except (KeyError, FileNotFoundError):
        return 0
    return int(np.searchsorted(frame_index, last_frame_index, side="right"))


def _source_attrs(source: Any) -> dict[str, Any]:
    """The ``source`` attrs of a :class:`mocap.io.sources.Source` (or of a mapping with the same keys).

    Sources name things their own way (``VideoSource.path``, ``ImageFolderSource.folder``,
    ``WebcamSource.camera``, ``rotation_ccw_deg``): this is the one place that maps them.
    """
    if isinstance(source, Mapping):
        return to_json({k: source.get(k) for k in (*_SOURCE_KEYS, "description")})

    def get(*names: str) -> Any:
        return next((getattr(source, n) for n in names if getattr(source, n, None) is not None), None)

    path = get("path", "folder")
    if path is None and get("camera") is not None:
        path = f"webcam:{get('camera')}"
    kind = get("kind") or type(source).__name__.removesuffix("Source").lower() or "source"
    attrs = {
        "kind": kind,
        "path": str(Path(path).resolve()) if isinstance(path, Path) else path,
        "fps": get("fps"),
        "size_wh": get("size_wh"),
        "num_frames": get("num_frames"),
        "codec": get("codec"),
        "rotation": get("rotation", "rotation_ccw_deg"),
        "description": get("description"),
    }
    return to_json(attrs)


def _check_same_source(path: Path, stored: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
    if not stored:
        return
    differ = [k for k in _SOURCE_IDENTITY if stored.get(k) != new.get(k)]
    if differ:
        was = ", ".join(f"{k}={stored.get(k)!r}" for k in differ)
        now = ", ".join(f"{k}={new.get(k)!r}" for k in differ)
        raise StoreError(
            f"{path} was written from another source ({was}; now {now}): resume with the same source, "
            "or pass --overwrite to start a new run"
        )


def _check_unlocked(path: Path) -> None:
    """Refuse a store that a live process is writing (``writer.lock`` holds "host pid")."""
    lock = path / _LOCK
    if not lock.is_file():
        return
    host, _, pid = lock.read_text().partition(" ")
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        return  # left by a writer that was killed
    raise StoreError(
        f"{path} is being written by process {pid} on {host}: wait for it to finish, "
        f"or delete {lock} if no process writes it any more"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _truncate(array: zarr.Array, rows: int) -> None:
    """Shrink ``array`` to ``rows`` rows; the last partial chunk is rewritten so no stale row hides in it."""
    if array.shape[0] == rows:
        return
    start = rows - rows % array.chunks[0]
    keep = _read(array, start, rows)
    array.resize((start, *array.shape[1:]))  # deletes every chunk from `start` on
    if len(keep):
        array.append(keep)


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


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
        root.attrs.update({**extra, "status": "writing"})
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
        self._root.attrs.update(update)

    def update_attrs(self, attrs: Mapping[str, Any]) -> None:
        """Record more root attrs (e.g. model ids) now."""
        extra = to_json(dict(attrs))
        if reserved := sorted(_RESERVED_ATTRS & extra.keys()):
            raise ValueError(f"attrs {reserved} are written by the store itself: leave them out")
        self._root.attrs.update(extra)

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
            self._root.attrs.update(commit)  # the commit point: one atomic replace of zarr.json
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
            self._root.attrs.update({"status": status if self._failed is None else "interrupted"})
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


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackData:
    """Every committed row of one track.

    Attributes:
        track_id: the track's id.
        frame_index: (n,) int64 frames the track was written in, ascending.
        fields: every stored array by name (``frame_index`` included), each with n rows.
    """

    track_id: int
    frame_index: npt.NDArray[np.int64]
    fields: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.fields:
            raise KeyError(f"track {self.track_id} has no field {name!r}; it has {sorted(self.fields)}")
        return self.fields[name]

    def __len__(self) -> int:
        return len(self.frame_index)


class RunStore:
    """Read side of a run store; also follows a store that a writer is still appending to.

    Everything is trimmed to the frames committed when the store was opened or last
    :meth:`refresh` ed: rows a writer has written beyond its commit point are never seen.

    Example:
        >>> store = open_store("run.zarr")  # doctest: +SKIP
        >>> [len(store.track(i)) for i in store.track_ids]  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the attrs: see the frames committed since."""
        self._root = _open_root(self.path, writable=False)
        self.attrs: dict[str, Any] = _attrs(self._root)
        self._rows: dict[int, int] | None = None

    @property
    def num_frames(self) -> int:
        return int(self.attrs["frames_committed"])

    @property
    def last_frame_index(self) -> int:
        return int(self.attrs["last_frame_index"])

    @property
    def status(self) -> str:
        return str(self.attrs["status"])

    @property
    def frame_index(self) -> npt.NDArray[np.int64]:
        """(T,) int64 every processed frame, people or not."""
        return self._frames("frame_index")

    @property
    def time_s(self) -> npt.NDArray[np.float64]:
        """(T,) float64 presentation times in seconds."""
        return self._frames("time_s")

    @property
    def num_people(self) -> npt.NDArray[np.int16]:
        """(T,) int16 people written per frame."""
        return self._frames("num_people")

    @property
    def track_ids(self) -> list[int]:
        """Ids of the tracks with at least one committed row, ascending."""
        return sorted(self._track_rows())

    def fields(self, track_id: int) -> list[str]:
        """Names of a track's committed arrays: the Tracks fields first, then the extra ones by name."""
        rows = self._track_rows().get(track_id)
        if rows is None:
            raise KeyError(f"{self.path} has no track {track_id}; it has {self.track_ids}")
        names = _array_names(self.path / "tracks" / str(track_id))
        return [n for n in names if _created_at_row(_array(self._root, f"tracks/{track_id}/{n}")) < rows]

    def track(self, track_id: int) -> TrackData:
        """Every committed row of one track."""
        rows = self._track_rows().get(track_id)
        if rows is None:
            raise KeyError(f"{self.path} has no track {track_id}; it has {self.track_ids}")
        fields = {
            name: _read(_array(self._root, f"tracks/{track_id}/{name}"), 0, rows) for name in self.fields(track_id)
        }
        return TrackData(track_id, fields["frame_index"], fields)

    def summary(self) -> str:
        """A few lines for people: source, frames, status, and per track its frames, fields and size."""
        attrs, n = self.attrs, self.num_frames
        fps = attrs.get("fps")
        # From the times, not the count: a live source drops frames.
        duration = f"{self.time_s[-1] - self.time_s[0] + 1 / fps:.2f} s" if n and fps else "-"
        span = f"{int(self.frame_index[0])}-{self.last_frame_index}" if n else "none"
        lines = [
            f"{self.path}  (mocap {attrs['mocap_version']}, schema {attrs['schema_version']}, {attrs['status']})",
            f"source: {_describe_source(attrs.get('source'))}",
            f"frames: {n} ({span})  fps {fps or '-'}  duration {duration}  created {attrs.get('created_utc')}",
        ]
        rows = self._track_rows()
        person_frames = sum(rows.values())
        track_bytes = disk_bytes(self.path / "tracks")
        per_pf = f"{track_bytes / person_frames:,.0f}" if person_frames else "-"
        lines.append(f"tracks: {len(rows)}  person-frames: {person_frames}  bytes on disk per person-frame: {per_pf}")
        for track_id in self.track_ids:
            lines += self._track_summary(track_id)
        return "\n".join(lines)

    def _track_summary(self, track_id: int) -> list[str]:
        rows, group_dir = self._track_rows()[track_id], self.path / "tracks" / str(track_id)
        frames = _read(_array(self._root, f"tracks/{track_id}/frame_index"), 0, rows)
        per_pf = disk_bytes(group_dir) / rows
        lines = [f"  track {track_id}: {rows} frames ({frames[0]}-{frames[-1]})  {per_pf:,.0f} B per frame"]
        for name in self.fields(track_id):
            array = _array(self._root, f"tracks/{track_id}/{name}")
            shape = ", ".join(["n", *map(str, array.shape[1:])]) + ("," if array.ndim == 1 else "")
            bytes_per_row = disk_bytes(group_dir / name) / rows
            lines.append(f"    {name:<20} ({shape}) {array.dtype}  {bytes_per_row:,.0f} B per frame")
        return lines

    def _frames(self, name: str) -> np.ndarray:
        if self.num_frames == 0:
            return np.zeros((0,), FRAME_FIELDS[name])
        return _read(_array(self._root, f"frames/{name}"), 0, self.num_frames)

    def _track_rows(self) -> dict[int, int]:
        """track id -> committed rows (tracks born after the commit point left out); cached per refresh."""
        if self._rows is None:
            rows = {tid: _committed_rows(self._root, tid, self.last_frame_index) for tid in _track_dirs(self.path)}
            self._rows = {tid: n for tid, n in rows.items() if n > 0}
        return self._rows


def _describe_source(source: Mapping[str, Any] | None) -> str:
    if not source:
        return "not recorded"
    size = "x".join(str(v) for v in source.get("size_wh") or []) or "?"
    return (
        f"{source.get('kind')} {source.get('path')}  {size}  codec {source.get('codec') or '-'}  "
        f"rotation {source.get('rotation') or 0}  {source.get('num_frames') or '?'} frames"
    )


def open_store(path: str | os.PathLike[str]) -> RunStore:
    """Open a run store for reading (also while a writer appends to it).

    Raises:
        StoreError: no store there, not a mocap store, or a schema this mocap cannot read.
    """
    return RunStore(path)
