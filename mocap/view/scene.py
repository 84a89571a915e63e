"""What the 3D viewer shows, as plain arrays: no Open3D here, so every piece is testable.

Everything lives in the capture camera frame (x right, y down, z forward, metres): a
:class:`FrameState` per frame (which tracks are present, their vertices and per-vertex
colours), a ground plane estimated from the people's lowest vertices, its grid, and the
camera frustum drawn from the intrinsics.

Example:
    >>> K = np.array([[640.0, 0, 320], [0, 640, 240], [0, 0, 1]])
    >>> points_m, lines = frustum_lines(K, (640, 480), depth_m=0.5)
    >>> points_m.shape, lines.shape
    ((5, 3), (8, 2))
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

UNCERTAINTY_MAX_M = 0.030  # top of the uncertainty colormap: 30 mm
_GOLDEN = 0.618033988749895
# A perceptually ordered ramp (blue -> cyan -> green -> yellow -> red), sampled from "turbo".
_RAMP_RGB = np.array(
    [
        [0.19, 0.07, 0.23],
        [0.16, 0.47, 0.92],
        [0.10, 0.85, 0.69],
        [0.64, 0.99, 0.24],
        [0.98, 0.73, 0.22],
        [0.80, 0.18, 0.02],
    ],
    np.float32,
)
_MISSING_RGB = np.array([0.6, 0.6, 0.6], np.float32)  # vertices without an uncertainty value


class ColorBy(str, Enum):
    """How meshes are coloured: one colour per track id, or per-vertex uncertainty on a 0-30 mm ramp."""

    ID = "id"
    UNCERTAINTY = "uncertainty"


@dataclass(frozen=True, eq=False)
class TrackMesh:
    """One person's mesh in one frame.

    Attributes:
        track_id: the track's id.
        vertices_cam_m: (V, 3) float32 vertices in the camera frame, metres.
        colors_rgb: (V, 3) float32 per-vertex colours in [0, 1].
    """

    track_id: int
    vertices_cam_m: npt.NDArray[np.float32]
    colors_rgb: npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class FrameState:
    """Everything the viewer draws for one frame besides the static scene.

    Attributes:
        frame_index: the frame number in the source.
        time_s: presentation time, seconds.
        meshes: the people present, ascending track id.
        note: a line for the user when there is nothing to draw ("no tracks in this store", ...).
        people: people tracked in the frame, with a mesh or not (None: as many as meshes).
    """

    frame_index: int
    time_s: float
    meshes: tuple[TrackMesh, ...] = ()
    note: str = ""
    people: int | None = None

    @property
    def num_people(self) -> int:
        return len(self.meshes) if self.people is None else self.people

    @property
    def track_ids(self) -> list[int]:
        return [m.track_id for m in self.meshes]


@dataclass(frozen=True)
class GroundPlane:
    """The plane ``dot(normal_up, x) = offset_m`` in the camera frame; ``normal_up`` points up (roughly -y)."""

    normal_up: tuple[float, float, float] = (0.0, -1.0, 0.0)
    offset_m: float = -1.6  # y = 1.6 m below the camera: a camera at head height

    def project(self, points_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(..., 3) points -> (..., 3) their feet on the plane."""
        n = np.asarray(self.normal_up)
        distance = np.asarray(points_m, np.float64) @ n - self.offset_m  # (...,)
        return points_m - distance[..., None] * n


# --- colours --------------------------------------------------------------------------------


def track_color_rgb(track_ids: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(N,) track ids -> (N, 3) float32 colours in [0, 1]: stable per id, neighbours far apart in hue."""
    ids = np.atleast_1d(np.asarray(track_ids, np.int64))
    hues = (ids * _GOLDEN) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.8, 0.9) for h in hues], np.float32).reshape(-1, 3)


def uncertainty_color_rgb(uncertainty_m: npt.ArrayLike, max_m: float = UNCERTAINTY_MAX_M) -> npt.NDArray[np.float32]:
    """(...,) uncertainties in metres -> (..., 3) float32 colours: 0 dark blue, ``max_m`` and above red, NaN grey."""
    u = np.asarray(uncertainty_m, np.float32)
    t = np.clip(np.nan_to_num(u, nan=0.0) / max_m, 0.0, 1.0) * (len(_RAMP_RGB) - 1)  # (...,) in ramp units
    knots = np.arange(len(_RAMP_RGB))
    rgb = np.stack([np.interp(t, knots, _RAMP_RGB[:, c]) for c in range(3)], axis=-1).astype(np.float32)
    rgb[np.isnan(u)] = _MISSING_RGB
    return rgb


def frame_state(
    frame_index: int,
    time_s: float,
    vertices_cam_m: Mapping[int, npt.ArrayLike],
    uncertainty_m: Mapping[int, npt.ArrayLike] | None = None,
    color_by: ColorBy = ColorBy.ID,
    note: str = "",
    people: int | None = None,
) -> FrameState:
    """Build a frame's state from per-track arrays: track id -> (V, 3) vertices (and (V,) uncertainty).

    Tracks whose vertices are all NaN (a stored row without a mesh) are left out. When colouring by
    uncertainty, a track without uncertainty values is drawn grey.
    """
    meshes = []
    for track_id in sorted(vertices_cam_m):
        vertices = np.asarray(vertices_cam_m[track_id], np.float32)
        if not np.isfinite(vertices).any():
            continue
        if color_by is ColorBy.UNCERTAINTY:
            u = (uncertainty_m or {}).get(track_id)
            u = np.full(len(vertices), np.nan, np.float32) if u is None else np.asarray(u, np.float32)
            colors = uncertainty_color_rgb(u)
        else:
            colors = np.broadcast_to(track_color_rgb([track_id])[0], vertices.shape).copy()
        meshes.append(TrackMesh(int(track_id), np.nan_to_num(vertices), colors))
    return FrameState(int(frame_index), float(time_s), tuple(meshes), note, people)


# --- camera ---------------------------------------------------------------------------------


def scale_intrinsics(intrinsics: npt.ArrayLike, scale: float) -> npt.NDArray[np.float64]:
    """(3, 3) intrinsics of the same camera rendered at ``scale`` times the resolution."""
    k = np.array(intrinsics, np.float64)
    k[:2] *= scale
    return k


def frustum_lines(
    intrinsics: npt.ArrayLike, size_wh: tuple[int, int], depth_m: float = 0.3
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The capture camera as a pyramid: (5, 3) points (apex, image corners at ``depth_m``) and (8, 2) lines."""
    w, h = size_wh
    corners_px = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64)  # (4, 3) homogeneous
    rays = corners_px @ np.linalg.inv(np.asarray(intrinsics, np.float64)).T  # (4, 3) with z = 1
    points = np.vstack([np.zeros((1, 3)), rays * depth_m])
    lines = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]], np.int32)
    return points, lines


def orbit_extrinsic(
    target_m: npt.ArrayLike, azimuth_rad: float, elevation_rad: float, distance_m: float
) -> npt.NDArray[np.float64]:
    """(4, 4) camera-frame -> view transform of a virtual camera looking at ``target_m``.

    Azimuth 0 and elevation 0 is the capture camera's own direction (looking along +z); positive
    azimuth swings the camera to the right around the vertical (-y) axis, positive elevation raises it.
    """
    target = np.asarray(target_m, np.float64)
    ca, sa, ce, se = np.cos(azimuth_rad), np.sin(azimuth_rad), np.cos(elevation_rad), np.sin(elevation_rad)
    forward = np.array([-sa * ce, se, ca * ce])  # viewing direction, camera frame (y down: looking down is +y)
    eye = target - distance_m * forward
    right = np.cross(forward, [0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: view axes expressed in the camera frame
    extrinsic = np.eye(4)
    extrinsic[:3, :3] = rotation
    extrinsic[:3, 3] = -rotation @ eye
    return extrinsic


# --- ground ---------------------------------------------------------------------------------


def lowest_vertices(vertices_m: npt.NDArray[np.floating], up: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(N, V, 3) meshes -> (N, 3) the vertex of each mesh lowest along ``up`` (NaN rows ignored)."""
    v = np.asarray(vertices_m, np.float64)
    height = np.nan_to_num(v @ np.asarray(up, np.float64), nan=np.inf)  # (N, V)
    return v[np.arange(len(v)), np.argmin(height, axis=1)]


def estimate_ground(foot_points_m: npt.NDArray[np.floating]) -> GroundPlane:
    """Fit the ground under the people from (P, 3) per-mesh lowest points, camera frame.

    A plane is fitted (least squares, SVD) when the points span an area (people walking about, or
    several people); otherwise the ground is horizontal in the camera (y down) at the lowest point.
    """
    points = np.asarray(foot_points_m, np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        return GroundPlane()
    flat = GroundPlane((0.0, -1.0, 0.0), float(-points[:, 1].max()))
    centred = points - points.mean(axis=0)
    if len(points) < 3:
        return flat
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # Both in-plane spreads must be real (>= 20 cm); a line of points (one person walking straight) pins no plane.
    if singular[1] / np.sqrt(len(points)) < 0.2:
        return flat
    normal = vt[2] if vt[2][1] < 0 else -vt[2]  # up is roughly -y in the camera frame
    if normal[1] > -0.5:  # more than 60 degrees from the camera's vertical: not a floor
        return flat
    return GroundPlane(tuple(float(x) for x in normal), float(points.mean(axis=0) @ normal))  # type: ignore[arg-type]


def ground_from_meshes(vertices_m: npt.NDArray[np.floating]) -> GroundPlane:
    """Ground under (N, V, 3) meshes: lowest points along -y, plane fit, then lowest points along the fitted up."""
    if len(vertices_m) == 0:
        return GroundPlane()
    plane = estimate_ground(lowest_vertices(vertices_m, (0.0, -1.0, 0.0)))
    return estimate_ground(lowest_vertices(vertices_m, plane.normal_up))


def grid_lines(
    plane: GroundPlane, center_m: npt.ArrayLike, half_size_m: float = 3.0, step_m: float = 0.5
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """A square grid on ``plane`` around ``center_m``'s foot: (P, 3) points and (L, 2) lines, metres."""
    n = np.asarray(plane.normal_up, np.float64)
    u = np.cross(n, [0.0, 0.0, 1.0])
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 1e-6 else np.array([1.0, 0.0, 0.0])
    w = np.cross(u, n)
    origin = plane.project(np.asarray(center_m, np.float64))
    ticks = np.arange(-half_size_m, half_size_m + 1e-9, step_m)  # (k,)
    ends = []
    for t in ticks:  # one line along w and one along u per tick
        ends += [origin + t * u - half_size_m * w, origin + t * u + half_size_m * w]
        ends += [origin + t * w - half_size_m * u, origin + t * w + half_size_m * u]
    points = np.array(ends)
    lines = np.arange(len(points), dtype=np.int32).reshape(-1, 2)
    return points, lines
