"""One track of a run store -> fitted body parameters on a gap-free frame range.

Fields read, best first: stored body parameters (``body_pose_rotmat`` (n, 104, 3, 3),
``body_transl_m`` (n, 3), ``body_phenotype`` (n, 6)) when the store has them; otherwise the
meshes, ``vertices_smoothed_cam_m`` when ``smoothed`` and present, else ``vertices_cam_m``,
fitted with :func:`mocap.body.fit.fit_track`.

Gaps (frames the person was not written, e.g. occluded) are **filled by interpolation**: rotations
by normalised quaternion interpolation, the root path linearly, between the frames either side.

Example:
    >>> track = load_track("run.zarr", 1)      # doctest: +SKIP
    >>> track.frame_index[0], len(track.params), track.fps   # doctest: +SKIP
    (12, 240, 30.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.base import BodyParams
from mocap.body.fit import fit_track
from mocap.body.rotations import matrix_to_quaternion, quaternion_to_matrix
from mocap.errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
PARAM_FIELDS = ("body_pose_rotmat", "body_transl_m", "body_phenotype")


@dataclass(frozen=True, eq=False)
class TrackParams:
    """Body parameters of one track on every frame from its first to its last.

    Attributes:
        params: BodyParams, pose (T, 104, 3, 3) and transl (T, 3) in the camera frame, phenotype (1, 6).
        frame_index: (T,) int64 consecutive source frames.
        observed: (T,) bool, False on the frames filled by interpolation.
        fps: frames per second of the source.
    """

    params: BodyParams
    frame_index: npt.NDArray[np.int64]
    observed: npt.NDArray[np.bool_]
    fps: float


def interpolate_gaps(
    frame_index: npt.NDArray[np.int64], pose_rotmat: torch.Tensor, transl_m: torch.Tensor
) -> tuple[npt.NDArray[np.int64], torch.Tensor, torch.Tensor]:
    """Fill missing frames: (n,) ascending frames, (n, J, 3, 3), (n, 3) -> the same on every frame between.

    Rotations: normalised quaternion lerp (shortest arc); translation: linear.
    """
    full = np.arange(frame_index[0], frame_index[-1] + 1)
    right = np.clip(np.searchsorted(frame_index, full), 1, max(len(frame_index) - 1, 1))
    left = right - 1 if len(frame_index) > 1 else np.zeros_like(right)
    right = right if len(frame_index) > 1 else left
    span = np.maximum(frame_index[right] - frame_index[left], 1)
    alpha = torch.from_numpy(np.clip((full - frame_index[left]) / span, 0.0, 1.0)).float()
    q = matrix_to_quaternion(pose_rotmat.float())  # (n, J, 4)
    q0, q1 = q[left], q[right]
    q1 = q1 * torch.where((q0 * q1).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    a = alpha[:, None, None]
    pose = quaternion_to_matrix((1 - a) * q0 + a * q1)
    transl = (1 - alpha[:, None]) * transl_m[left].float() + alpha[:, None] * transl_m[right].float()
    return full, pose, transl


def load_track(
    store_path: str | Path,
    track_id: int,
    *,
    smoothed: bool = False,
    body: AnnyBody | None = None,
    init: BodyParams | None = None,
) -> TrackParams:
    """Read (or fit) one track's body parameters; see the module docstring.

    ``init``: passed to :func:`~mocap.body.fit.fit_track` (a known phenotype skips its fit).

    Raises:
        StoreError: the store has no such track (the ids are listed) or no mesh fields.
    """
    from mocap.io.store import open_store

    store = open_store(store_path)
    if track_id not in store.track_ids:
        raise StoreError(
            f"{store_path} has no track {track_id}; its tracks are {store.track_ids} (pass one with --track)"
        )
    track = store.track(track_id)
    fps = float(store.attrs.get("fps") or DEFAULT_FPS)
    if all(f in track.fields for f in PARAM_FIELDS):
        pose = torch.from_numpy(np.asarray(track["body_pose_rotmat"], np.float32))
        transl = torch.from_numpy(np.asarray(track["body_transl_m"], np.float32))
        phenotype = torch.from_numpy(np.asarray(track["body_phenotype"], np.float32)[:1])
    else:
        name = "vertices_smoothed_cam_m" if smoothed and "vertices_smoothed_cam_m" in track.fields else "vertices_cam_m"
        if name not in track.fields:
            raise StoreError(
                f"track {track_id} of {store_path} has no meshes ({name}) nor body parameters; "
                "run `mocap run` with the mesh model so the store holds vertices_cam_m"
            )
        if smoothed and name != "vertices_smoothed_cam_m":
            log.warning("track %d has no vertices_smoothed_cam_m; exporting the raw meshes", track_id)
        vertices = torch.from_numpy(np.asarray(track[name], np.float32))
        fitted = fit_track(vertices, body or AnnyBody("default"), init=init)
        pose, transl, phenotype = fitted.pose_rotmat, fitted.transl_m, fitted.phenotype
    frames = np.asarray(track.frame_index, np.int64)
    full, pose, transl = interpolate_gaps(frames, pose, transl)
    return TrackParams(BodyParams(pose, transl, phenotype), full, np.isin(full, frames), fps)
