"""Frames whose body faces the other way from the frames around it: left out of the offline smoothing.

Now and then a frame's mesh is turned half a turn: MediaPipe swapped the person's left and right where the side
keeper (:mod:`mocap.track.sides`) could not undo it (a garbled detection, a track's first frames), or MEGA read a
profile the wrong way round. Averaged in by the smoother, such a mesh squeezes its neighbours into a narrow ghost. A
body cannot turn round within a frame or two, so a frame whose torso faces away from where the frames around it
agree it faces is an outlier: the smoother coasts through it, as through a missed frame, and its row gets the
smoothed mesh of its neighbours. Its raw mesh stays in the store as it was. A longer run of such frames (a track
that began swapped) is not outvoted by its window; where it meets the rest, the body turns round between two frames,
and the smoother starts afresh there (:func:`turn_breaks`) instead of averaging the two.

Frames: the camera frame (x right, y down, z forward), metres; joints are BlazePose's 33 landmarks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
TURN_BREAK_DEG = 120.0  # a torso turned further between two frames (4 000 deg/s at 30 fps) was misread in one of them


def torso_normals(joints_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, 33, 3) joints -> (n, 3) unit normals of the torso, pointing the way the body faces (its front)."""
    joints = np.asarray(joints_m, np.float64)
    across = joints[:, LEFT_SHOULDER] - joints[:, RIGHT_SHOULDER]  # the body's right -> left
    up = joints[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].mean(axis=1) - joints[:, [LEFT_HIP, RIGHT_HIP]].mean(axis=1)
    front = np.cross(across, up)  # left x up = forward, for a body in a right-handed frame
    norm = np.linalg.norm(front, axis=1, keepdims=True)
    return np.divide(front, norm, out=np.zeros_like(front), where=norm > 0)


def turned_frames(
    joints_m: npt.NDArray[np.floating],
    frame_index: npt.NDArray[np.integer],
    window: int = 7,
    agreement: float = 0.5,
) -> npt.NDArray[np.bool_]:
    """(n,) whether each frame's torso faces away (negative dot product) from the mean facing of the frames within
    ``window`` frames of it, where those agree (their mean unit normal at least ``agreement`` long: a spin, whose
    frames face every way, has no such mean and loses no frame). The first and last frames are always kept: the
    smoother starts and ends on a measurement."""
    normals = torso_normals(joints_m)  # (n, 3)
    rows = np.asarray(frame_index, np.int64) - int(frame_index[0]) if len(normals) else np.zeros(0, np.int64)
    span = int(rows[-1]) + 1 if len(rows) else 0
    # Sums over each frame's window by cumulative sums over the whole span (missed frames count as nothing): O(n).
    dense = np.zeros((span + 2 * window + 1, 4))  # per span frame: normal, seen
    dense[rows + window, :3], dense[rows + window, 3] = normals, 1.0
    cumulative = np.concatenate([np.zeros((1, 4)), np.cumsum(dense, axis=0)])
    sums = cumulative[rows + 2 * window + 1] - cumulative[rows]  # (n, 4): frames rows - window .. rows + window
    sums[:, :3] -= normals  # not the frame itself
    sums[:, 3] -= 1.0
    count = sums[:, 3]
    mean = sums[:, :3] / np.maximum(count, 1.0)[:, None]  # (n, 3)
    agreed = np.linalg.norm(mean, axis=1) >= agreement
    turned = agreed & (np.einsum("nc,nc->n", normals, mean) < 0) & (count > 0)
    if len(turned):
        turned[0] = turned[-1] = False
    return turned


def turn_breaks(
    joints_m: npt.NDArray[np.floating], kept: npt.NDArray[np.bool_], max_turn_deg: float = 120.0
) -> npt.NDArray[np.bool_]:
    """(n,) the kept frames whose torso turned more than ``max_turn_deg`` from the kept frame before: no body turns
    that far between two frames, so one of the two runs it separates is turned the wrong way, and the smoother must
    not average across it (it starts afresh there instead)."""
    normals = torso_normals(joints_m)[kept]  # (k, 3)
    breaks = np.zeros(len(kept), bool)
    if len(normals) > 1:
        turned = np.einsum("kc,kc->k", normals[1:], normals[:-1]) < np.cos(np.radians(max_turn_deg))
        breaks[np.flatnonzero(kept)[1:][turned]] = True
    return breaks
