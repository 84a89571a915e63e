"""A person's size does not change: each mesh is scaled about its hip centre to its track's steady size.

The mesh's size (here: the summed lengths of the 12 body joints' limbs, metres) is read per frame from the crop's
landmarks, which are normalised to the crop, so only the body's proportions speak to it, and the per-frame answer
wavers by ~5 % around a per-person value (45 test renders). Through the placement (``mocap.mesh.placement``) that
wavering is depth jitter too: a body 5 % larger is put 5 % farther. So each track keeps the sizes its meshes had,
and each new mesh is scaled to their running median (this frame's included, causal: live runs get the same).
Offline runs know the whole track: their last pass (``mocap.smooth.offline``) scales every mesh again, to the median of
all the sizes its person's frames answered, past and future (:func:`track_size_scales`; end to end on the held-out
renders MPJPE 97.9 -> 97.0 mm on test, 89.9 -> 87.4 on validation: models/mega_anny/MODEL_CARD.md, "The whole
track's size, and the fusion shares again").

Frames: camera orientation, metres; the scale is about the mesh's hip centre (BlazePose 23, 24).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.landmarks import SKELETON_EDGES

# Limbs between the 12 body joints: MediaPipe's skeleton edges among them (arms, legs, shoulder and hip widths, torso
# sides; BlazePose indices).
LIMBS = tuple((a, b) for a, b in SKELETON_EDGES if a in BODY_JOINTS and b in BODY_JOINTS)


def skeleton_size_m(landmarks_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(N, 33, 3) BlazePose-compatible landmarks -> (N,) summed limb lengths of the 12 body joints, metres."""
    points = np.asarray(landmarks_m, np.float64)
    return sum(np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in LIMBS)


# A track whose sizes stay this far off its median for this many frames in a row has changed person (an id switch):
# its history restarts from those frames. On the 45 test renders (one person each) no run of frames 25 % off the
# running median was longer than 6 frames (20 %: 12; 15 %: 28).
SWITCH_RATIO, SWITCH_FRAMES = 0.25, 15


class TrackSizes:
    """One verb: ``steady(track_ids, sizes_m) -> (N,)`` each track's running median size, this frame's included.

    Keeps the last ``history`` sizes per track (a person lost and found again keeps theirs). A size more than
    ``SWITCH_RATIO`` off the median is held apart: dropped when the track comes back to its size, taken as the
    track's new history once ``SWITCH_FRAMES`` such frames come in a row (the track changed person)."""

    def __init__(self, history: int = 300) -> None:
        self.history = history
        self._sizes: dict[int, deque[float]] = {}
        self._apart: dict[int, list[float]] = {}  # the current run of sizes off the median, per track

    def steady(self, track_ids: npt.NDArray[np.int64], sizes_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        out = np.empty(len(track_ids))
        for row, (track_id, size) in enumerate(
            zip(track_ids.tolist(), np.asarray(sizes_m, np.float64).tolist(), strict=True)
        ):
            seen = self._sizes.setdefault(track_id, deque(maxlen=self.history))
            apart = self._apart.setdefault(track_id, [])
            if np.isfinite(size) and size > 0:
                if seen and abs(size / float(np.median(seen)) - 1) > SWITCH_RATIO:
                    apart.append(size)
                    if len(apart) >= SWITCH_FRAMES:
                        self._sizes[track_id] = seen = deque(apart, maxlen=self.history)
                        apart.clear()
                else:
                    seen.append(size)
                    apart.clear()
            out[row] = float(np.median(seen)) if seen else size
        return out


def track_size_scales(own_m: npt.NDArray[np.floating], held_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """One track's frames in order -> (n,) the factor taking each mesh from the size the run held it at (``held_m``,
    (n,): the running median :class:`TrackSizes` gave it) to the median of its person's own sizes (``own_m``, (n,):
    each frame's answer before that) over the whole track.

    A person change is where the running median restarted (:data:`SWITCH_RATIO`): a step of more than half that
    between two frames, which the median of sizes held within it cannot make. The frames just before it whose own
    sizes were already off the old median (the run that made the restart) are the new person's. Each person gets
    the median of their own sizes; frames with none readable keep the size they were held at."""
    own, held = np.asarray(own_m, np.float64), np.asarray(held_m, np.float64)
    readable = np.isfinite(own) & (own > 0)
    starts = [0, *(np.flatnonzero(np.abs(held[1:] / held[:-1] - 1) > SWITCH_RATIO / 2) + 1).tolist()]
    for i in range(1, len(starts)):  # move each change back over the frames already apart from the old size
        old = held[starts[i] - 1]
        while starts[i] - 1 > starts[i - 1] and (
            not readable[starts[i] - 1] or abs(own[starts[i] - 1] / old - 1) > SWITCH_RATIO
        ):
            starts[i] -= 1
    target = held.copy()
    for start, stop in zip(starts, [*starts[1:], len(own)], strict=True):
        answered = own[start:stop][readable[start:stop]]
        if len(answered):
            target[start:stop] = np.median(answered)
    return target / held
