"""A run store seen as a sequence of :class:`~mocap.view.scene.FrameState` s, for replay and follow mode.

Faces come from the store array ``body/faces`` when present, else from the Anny body (the
default topology, 13,718 vertices). Intrinsics come from the store attrs, else f = max(W, H)
with the principal point at the centre. Meshes are read one zarr chunk at a time (32 frames of a
13,718-vertex track), so a long store never sits in memory whole and following one stays cheap.

Example:
    >>> frames = StoreFrames("run.zarr")  # doctest: +SKIP
    >>> frames.state(0).track_ids  # doctest: +SKIP
    [1, 2]
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import zarr
from zarr.storage import LocalStore

from mocap.errors import StoreError
from mocap.io.store import open_store
from mocap.mesh.crop import default_intrinsics
from mocap.view.scene import ColorBy, FrameState, GroundPlane, frame_state, ground_from_meshes
from mocap.view.viewer import StaticScene

log = logging.getLogger(__name__)

VERTICES = "vertices_cam_m"
UNCERTAINTY = "vertex_uncertainty_m"
ANNY_NUM_VERTICES = 13_718
_DEFAULT_SIZE_WH = (640, 480)
_GROUND_SAMPLES = 64  # person-frames used to estimate the ground


class StoreFrames:
    """Frame states of a store; :meth:`refresh` picks up frames a writer committed since.

    Args:
        path: a run store.
        color_by: colour per track id or per-vertex uncertainty.
        tracks: show only these track ids (None: all).
        vertices: the vertex fields to show, in order of preference per track (e.g. the smoothed ones
            first, then the raw ``vertices_cam_m``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        color_by: ColorBy = ColorBy.ID,
        tracks: Sequence[int] | None = None,
        vertices: Sequence[str] = (VERTICES,),
    ) -> None:
        self.path = Path(path)
        self.vertices = tuple(vertices)
        self.store = open_store(self.path)
        self.color_by = color_by
        self.only_tracks = None if tracks is None else set(tracks)
        self._tracks: dict[int, _TrackRows] = {}
        self._frame_index = np.zeros((0,), np.int64)
        self._time_s = np.zeros((0,), np.float64)
        self._num_people = np.zeros((0,), np.int16)
        self._faces: npt.NDArray[np.int64] | None = None
        self._load()

    # -- the store as a whole --

    @property
    def num_frames(self) -> int:
        return self.store.num_frames

    def __len__(self) -> int:
        return self.num_frames

    @property
    def track_ids(self) -> list[int]:
        """Ids of the tracks shown, ascending."""
        return sorted(self._tracks)

    @property
    def time_s(self) -> npt.NDArray[np.float64]:
        """(num_frames,) presentation times of the frames, seconds."""
        return self._time_s

    @property
    def fps(self) -> float:
        """Frames per second of the source: the attrs' fps, else from the frame times, else 30."""
        fps = self.store.attrs.get("fps")
        if fps:
            return float(fps)
        times = self.store.time_s
        if len(times) > 1 and times[-1] > times[0]:
            return float((len(times) - 1) / (times[-1] - times[0]))
        return 30.0

    @property
    def size_wh(self) -> tuple[int, int]:
        """Capture image size: the source's, else twice the principal point, else 640x480."""
        source = self.store.attrs.get("source") or {}
        if source.get("size_wh"):
            w, h = source["size_wh"]
            return int(w), int(h)
        if self.store.attrs.get("intrinsics") is not None:
            k = np.asarray(self.store.attrs["intrinsics"], np.float64)
            return round(2 * k[0, 2]), round(2 * k[1, 2])
        return _DEFAULT_SIZE_WH

    @property
    def intrinsics(self) -> npt.NDArray[np.float64]:
        """(3, 3) capture camera matrix, pixels."""
        stored = self.store.attrs.get("intrinsics")
        return default_intrinsics(self.size_wh) if stored is None else np.asarray(stored, np.float64).reshape(3, 3)

    @property
    def has_meshes(self) -> bool:
        return any(VERTICES in t.arrays for t in self._tracks.values())

    @property
    def complete(self) -> bool:
        """True once the writer closed the store (status complete, interrupted or failed)."""
        return self.store.status != "writing"

    @property
    def writer_alive(self) -> bool:
        """True while the process named in the store's ``writer.lock`` runs."""
        return writer_alive(self.path)

    def faces(self) -> npt.NDArray[np.int64]:
        """(F, 3) triangles: the store's ``body/faces``, else Anny's when the meshes have Anny's vertex count."""
        if self._faces is None:
            self._faces = self._load_faces()
        return self._faces

    def static_scene(self) -> StaticScene:
        """Faces, intrinsics and image size; no faces yet when no mesh was stored yet (see :meth:`faces`)."""
        faces = self.faces() if self.has_meshes else np.zeros((0, 3), np.int64)
        return StaticScene(faces, self.intrinsics, self.size_wh)

    def ground(self) -> tuple[GroundPlane, npt.NDArray[np.float64]]:
        """The ground under the people (from up to 64 person-frames spread over the store) and their centre, metres."""
        samples = []
        for track in self._tracks.values():
            if VERTICES not in track.arrays:
                continue
            count = min(track.rows, _GROUND_SAMPLES // max(1, len(self._tracks)))
            rows = np.unique(np.linspace(0, track.rows - 1, count).astype(int))
            samples.append(np.asarray(track.arrays[VERTICES].oindex[rows], np.float32))
        if not samples:
            return GroundPlane(), np.array([0.0, 0.0, 3.0])
        vertices = np.concatenate(samples)  # (N, V, 3)
        vertices = vertices[np.isfinite(vertices).all(axis=(1, 2))]
        if len(vertices) == 0:
            return GroundPlane(), np.array([0.0, 0.0, 3.0])
        return ground_from_meshes(vertices), vertices.reshape(-1, 3).mean(axis=0).astype(np.float64)

    def refresh(self) -> int:
        """Re-read the store (a writer may have committed frames); returns how many frames are new."""
        before = self.num_frames
        self.store.refresh()
        if self.num_frames != before:
            self._load()
        return self.num_frames - before

    # -- one frame --

    def state(self, position: int, hidden: Sequence[int] = ()) -> FrameState:
        """The frame at ``position`` (0 .. num_frames - 1, in store order), leaving out ``hidden`` track ids."""
        frame_index = int(self._frame_index[position])
        time_s = float(self._time_s[position])
        vertices, uncertainty = {}, {}
        for track_id, track in self._tracks.items():
            row = track.row_of(frame_index)  # None in a gap or after the track ended
            if track_id in hidden or row is None or VERTICES not in track.arrays:
                continue
            vertices[track_id] = track.read(VERTICES, row)
            if UNCERTAINTY in track.arrays:
                uncertainty[track_id] = track.read(UNCERTAINTY, row)
        people = None if self.has_meshes else int(self._num_people[position])  # tracked, but no meshes to draw
        return frame_state(frame_index, time_s, vertices, uncertainty, self.color_by, self.note, people)

    @property
    def note(self) -> str:
        """Why nothing is drawn, when nothing can be."""
        if not self._tracks:
            return (
                "no tracks in this store" if self.only_tracks is None else "none of the chosen tracks is in this store"
            )
        if not self.has_meshes:
            return f"no meshes ({' or '.join(self.vertices)}) in this store"
        if self.color_by is ColorBy.UNCERTAINTY and not any(UNCERTAINTY in t.arrays for t in self._tracks.values()):
            return f"no {UNCERTAINTY} in this store: meshes are grey"
        return ""

    # -- private --

    def _load(self) -> None:
        self._frame_index, self._time_s = self.store.frame_index, self.store.time_s
        self._num_people = self.store.num_people
        ids = [t for t in self.store.track_ids if self.only_tracks is None or t in self.only_tracks]
        root = zarr.open_group(LocalStore(self.path, read_only=True), mode="r")  # array shapes as of now
        last = self.store.last_frame_index
        self._tracks = {
            t: _TrackRows(_group(root, f"tracks/{t}"), self.store.fields(t), last, self.vertices) for t in ids
        }

    def _load_faces(self) -> npt.NDArray[np.int64]:
        root = zarr.open_group(LocalStore(self.path, read_only=True), mode="r")
        try:
            faces = root["body/faces"]
        except KeyError:
            faces = None
        if isinstance(faces, zarr.Array):
            return np.asarray(faces[:], np.int64)
        num_vertices = next(t.arrays[VERTICES].shape[1] for t in self._tracks.values() if VERTICES in t.arrays)
        if num_vertices != ANNY_NUM_VERTICES:
            raise StoreError(
                f"{self.path} holds {num_vertices}-vertex meshes but no body/faces array: write the triangles "
                "of that body as body/faces (F, 3) into the store"
            )
        from mocap.body.anny_body import AnnyBody  # builds Anny (~1 s with a warm ANNY_CACHE_DIR)

        return AnnyBody().faces


class _TrackRows:
    """One track's committed rows of the mesh fields, read from zarr one chunk at a time.

    Args:
        group: the track's zarr group (``tracks/<id>``).
        fields: the track's committed field names (``RunStore.fields``).
        last_frame_index: the store's commit point; rows after it are not read.
        vertices: vertex field names by preference; the first one the track has is read as ``VERTICES``.
    """

    def __init__(
        self, group: zarr.Group, fields: list[str], last_frame_index: int, vertices: Sequence[str] = (VERTICES,)
    ) -> None:
        frame_index = np.asarray(_array(group, "frame_index")[:])  # (n,) ascending; unwritten rows are int64 max
        self.rows = int(np.searchsorted(frame_index, last_frame_index, side="right"))
        self.frame_index = frame_index[: self.rows]
        vertices_name = next((name for name in vertices if name in fields), None)
        names = {VERTICES: vertices_name, UNCERTAINTY: UNCERTAINTY if UNCERTAINTY in fields else None}
        self.arrays = {key: _array(group, name) for key, name in names.items() if name is not None}
        self._chunks: dict[str, tuple[int, np.ndarray]] = {}  # name -> (first row, rows of that chunk)

    def row_of(self, frame_index: int) -> int | None:
        """The row holding ``frame_index``, or None when the track has no row for that frame."""
        row = int(np.searchsorted(self.frame_index, frame_index))
        return row if row < self.rows and self.frame_index[row] == frame_index else None

    def read(self, name: str, row: int) -> np.ndarray:
        """One row of a field; playback reads forward, so the chunk holding it is kept."""
        array = self.arrays[name]
        size = array.chunks[0]
        start = row - row % size
        cached = self._chunks.get(name)
        if cached is None or cached[0] != start:
            cached = self._chunks[name] = (start, np.asarray(array[start : min(start + size, self.rows)]))
        return cached[1][row - start]


def _group(root: zarr.Group, key: str) -> zarr.Group:
    node = root[key]
    if not isinstance(node, zarr.Group):
        raise StoreError(f"{key} is an array where a group belongs: the store is damaged; re-run")
    return node


def _array(group: zarr.Group, key: str) -> zarr.Array:
    node = group[key]
    if not isinstance(node, zarr.Array):
        raise StoreError(f"{key} is a group where an array belongs: the store is damaged; re-run")
    return node


def writer_alive(path: Path) -> bool:
    """True while the process named in the store's ``writer.lock`` ("host pid") runs (or runs on another host)."""
    lock = path / "writer.lock"
    try:
        host, _, pid = lock.read_text().partition(" ")
    except OSError:
        return False
    if host != socket.gethostname() or not pid.strip().isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
