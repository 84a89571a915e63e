"""Small tracked-person stores made from Anny meshes, for the export tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody
from mocap.body.base import BodyParams
from mocap.body.rotations import axis_angle_to_matrix
from mocap.io.store import StoreWriter
from mocap.types import NUM_LANDMARKS, FrameResult, Tracks, TrackState

FPS = 25.0
NUM_FRAMES = 10
GAP = (4, 5)  # frames where track 1 is missing
PHENOTYPE = torch.tensor([[0.8, 0.7, 0.4, 0.6, 0.3, 0.5]])
CAMERA_FROM_ANNY = torch.tensor([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # z-up body -> camera y down, facing it
_BENT = {"upperarm01.L": (0.0, 0.6, -0.4), "lowerarm01.R": (0.5, 0.0, 0.3), "upperleg01.L": (0.4, 0.0, 0.1),
         "lowerleg01.L": (-0.7, 0.0, 0.0), "spine03": (0.1, 0.15, 0.2), "head": (0.0, 0.2, 0.3)}  # fmt: skip


@pytest.fixture(scope="session")
def body() -> AnnyBody:
    return AnnyBody("default")


def walking_params(body: AnnyBody, frames: int = NUM_FRAMES) -> BodyParams:
    """A person bending arms, a leg, spine and head smoothly, walking right 3 m in front of the camera."""
    phase = torch.linspace(0, 1, frames)[:, None]
    pose = body.identity_pose(frames)
    for name, axis_angle in _BENT.items():
        pose[:, body.joint_index(name)] = axis_angle_to_matrix(phase * torch.tensor(axis_angle))
    yaw = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.4]]))
    pose[:, 0] = CAMERA_FROM_ANNY @ yaw
    transl = torch.stack([phase[:, 0] * 0.5, 0.1 + 0 * phase[:, 0], 3.0 + 0 * phase[:, 0]], dim=1)
    return BodyParams(pose, transl, PHENOTYPE)


def _tracks(ids: list[int]) -> Tracks:
    n = len(ids)
    return Tracks(
        track_id=np.array(ids, np.int64),
        state=np.full(n, TrackState.CONFIRMED, np.int8),
        age=np.zeros(n, np.int32),
        detection_index=np.arange(n, dtype=np.int64),
        xyxy_px=np.zeros((n, 4), np.float32),
        score=np.ones(n, np.float32),
        landmarks_px=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
        landmarks_world_m=np.zeros((n, NUM_LANDMARKS, 3), np.float32),
    )


def write_store(
    path: Path, body: AnnyBody, *, meshes: bool = True, params: bool = False, smoothed: bool = False
) -> BodyParams:
    """Track 1 (missing on GAP frames) and track 2 (frames 0-2); returns track 1's true parameters.

    ``smoothed``: the true meshes go to ``vertices_smoothed_cam_m`` and ``vertices_cam_m`` gets 10 cm noise.
    """
    truth = walking_params(body)
    with torch.no_grad():
        vertices = body.forward(truth.pose_rotmat, truth.phenotype.expand(NUM_FRAMES, -1), truth.transl_m).vertices_m
    with StoreWriter(path, attrs={"fps": FPS}) as writer:
        for i in range(NUM_FRAMES):
            ids = [t for t in (1, 2) if (t == 1 and i not in GAP) or (t == 2 and i < 3)]
            fields: dict[str, np.ndarray] = {}
            if meshes:
                true = np.repeat(vertices[i : i + 1].numpy(), len(ids), 0)
                if smoothed:
                    fields["vertices_smoothed_cam_m"] = true.astype(np.float16)
                    true = true + np.random.default_rng(i).normal(0, 0.1, true.shape)
                fields["vertices_cam_m"] = true.astype(np.float16)
            if params:
                fields["body_pose_rotmat"] = np.repeat(truth.pose_rotmat[i : i + 1].numpy(), len(ids), 0)
                fields["body_transl_m"] = np.repeat(truth.transl_m[i : i + 1].numpy(), len(ids), 0)
                fields["body_phenotype"] = np.repeat(truth.phenotype.numpy(), len(ids), 0)
            writer.write(FrameResult(i, i / FPS, (640, 480), _tracks(ids), fields))
    return truth
