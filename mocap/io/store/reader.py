"""Reading a run store, also while another process appends to it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mocap.io.store.layout import (
    FRAME_FIELDS,
    _array,
    _array_names,
    _attrs,
    _committed_rows,
    _created_at_row,
    _open_root,
    _read,
    _track_dirs,
    disk_bytes,
)

log = logging.getLogger(__name__)


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

    def track(self, track_id: int, names: Sequence[str] | None = None) -> TrackData:
        """Every committed row of one track: all its fields, or only ``names`` (and ``frame_index``), which spares
        reading the meshes when only the landmarks are wanted."""
        rows = self._track_rows().get(track_id)
        if rows is None:
            raise KeyError(f"{self.path} has no track {track_id}; it has {self.track_ids}")
        wanted = self.fields(track_id) if names is None else ["frame_index", *names]
        fields = {name: _read(_array(self._root, f"tracks/{track_id}/{name}"), 0, rows) for name in wanted}
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
        # Frames the person was not stored: hidden, lost, or away and re-identified on return.
        gaps = np.diff(frames) - 1
        away = f"; away {int(gaps.sum())} frames, longest {int(gaps.max())}" if len(gaps) and gaps.max() > 0 else ""
        lines = [f"  track {track_id}: {rows} frames ({frames[0]}-{frames[-1]}{away})  {per_pf:,.0f} B per frame"]
        for name in self.fields(track_id):
            array = _array(self._root, f"tracks/{track_id}/{name}")
            shape = ", ".join(["n", *map(str, array.shape[1:])]) + ("," if array.ndim == 1 else "")
            bytes_per_row = disk_bytes(group_dir / name) / rows
            # A flag (sampled, sides_relabelled, smooth_coasted ...) says how often it is set.
            flags = ""
            if array.dtype == bool and array.ndim == 1:
                flags = f"  set on {int(_read(array, 0, rows).sum())} frames"
            lines.append(f"    {name:<20} ({shape}) {array.dtype}  {bytes_per_row:,.0f} B per frame{flags}")
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
