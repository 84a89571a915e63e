"""Synthetic landmark crops for conditioned training: GT bodies seen through random cameras by a noisy detector.

Given the 33 BlazePose landmark positions of GT canonical meshes (B, 33, 3, metres, vertex-mean-centred; from a
landmark regressor on the body model), ``synthesize_landmarks`` draws a body rotation and a weak-perspective crop
camera, projects, then imitates MediaPipe: jitter, rare outliers; occluded landmarks, whole occluded body parts and
the far side of the body hidden by itself (low visibility, noisier guesses); truncation at the crop border (low
visibility); hip-centred world landmarks with depth noise. The result is a ``TrainingBatch`` with every target of
the conditioned loss.

Example:
    >>> batch = synthesize_landmarks(ids, landmarks_canonical_m, torch.Generator().manual_seed(0))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mocap.body.rotations import axis_angle_to_matrix, matrix_to_rotation_6d
from mocap.mega.geometry import weak_perspective_project
from mocap.mega.train import TrainingBatch

# BlazePose landmark groups that are occluded together (a table, another person, the frame edge).
BODY_PARTS: tuple[tuple[int, ...], ...] = (
    tuple(range(0, 11)),  # face
    (11, 13, 15, 17, 19, 21),  # left arm + hand
    (12, 14, 16, 18, 20, 22),  # right arm + hand
    (23, 25, 27, 29, 31),  # left leg + foot
    (24, 26, 28, 30, 32),  # right leg + foot
    tuple(range(23, 33)),  # lower body
)
LEFT_HIP, RIGHT_HIP = 23, 24
# Anny's canonical frame (z up, facing -y) -> camera frame (x right, y down, z forward) for a person facing the camera.
ANNY_TO_CAMERA: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


@dataclass(frozen=True)
class LandmarkSynthesis:
    """Ranges of the random camera and of the simulated detector errors (crop units: the crop spans [-1, 1])."""

    canonical_to_camera: tuple[tuple[float, ...], ...] = ANNY_TO_CAMERA
    yaw_deg: float = 180.0  # about the camera's vertical axis, uniform in +-
    pitch_deg: float = 25.0
    roll_deg: float = 12.0
    fill: tuple[float, float] = (0.65, 1.05)  # body extent / crop extent; > 1 truncates
    shift_std: float = 0.12  # body centre offset in the crop
    noise_std: float = 0.012
    outlier_prob: float = 0.02
    outlier_std: float = 0.15
    occlusion_prob: float = 0.06  # per landmark
    part_occlusion_prob: float = 0.2  # per crop: one BODY_PARTS group hidden
    self_occlusion_depth_m: float = 0.1  # landmarks this far behind the body centre (camera z) ...
    self_occlusion_prob: float = 0.5  # ... are hidden by the body itself with this probability
    occluded_noise_std: float = 0.05  # MediaPipe still guesses hidden landmarks, worse
    world_noise_m: float = 0.03
    with_world: bool = True  # 6 features (x, y, vis, world xyz) or 3
    # Share of crops turned by a uniform random rotation instead: the canonical body has no global orientation, so
    # without this a bent-over, lying or upside-down body is never seen (test subjects' cartwheels: see the card).
    tumble_fraction: float = 0.0


def random_rotations(batch: int, config: LandmarkSynthesis, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 3) canonical -> camera: a person facing the camera, then yaw, pitch, roll about camera axes."""
    spans = torch.tensor([config.yaw_deg, config.pitch_deg, config.roll_deg]) * math.pi / 180
    yaw, pitch, roll = ((torch.rand(batch, 3, generator=generator) * 2 - 1) * spans).unbind(-1)
    axes = torch.eye(3)  # camera x (pitch), y (yaw: vertical, y down), z (roll)
    view = (
        axis_angle_to_matrix(axes[1] * yaw[:, None])
        @ axis_angle_to_matrix(axes[0] * pitch[:, None])
        @ axis_angle_to_matrix(axes[2] * roll[:, None])
    )  # (B, 3, 3)
    if config.tumble_fraction > 0:  # drawn only when asked, so that runs without it keep their random stream
        tumbled = torch.rand(batch, generator=generator) < config.tumble_fraction
        view = torch.where(tumbled[:, None, None], uniform_rotations(batch, generator), view)
    return view @ torch.tensor(config.canonical_to_camera)


def uniform_rotations(batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, 3) rotations uniform over SO(3): normalised Gaussian quaternions (w, x, y, z)."""
    w, x, y, z = torch.nn.functional.normalize(torch.randn(batch, 4, generator=generator), dim=1).unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        dim=-2,
    )


def random_cameras(points_cam_m: torch.Tensor, config: LandmarkSynthesis, generator: torch.Generator) -> torch.Tensor:
    """Weak-perspective (s, tx, ty) (B, 3) framing points (B, J, 3) at a random fill and offset."""
    B = points_cam_m.shape[0]
    low, high = points_cam_m[..., :2].amin(dim=1), points_cam_m[..., :2].amax(dim=1)  # (B, 2)
    extent = (high - low).amax(dim=1).clamp_min(1e-3)  # (B,) metres
    fill = config.fill[0] + (config.fill[1] - config.fill[0]) * torch.rand(B, generator=generator)
    scale = 2.0 * fill / extent  # crop units per metre
    shift = torch.randn(B, 2, generator=generator) * config.shift_std  # crop units
    translation = -(low + high) / 2 + shift / scale[:, None]  # metres
    return torch.cat([scale[:, None], translation], dim=1)


def synthesize_landmarks(
    ids: torch.Tensor,
    landmarks_canonical_m: torch.Tensor,
    generator: torch.Generator,
    config: LandmarkSynthesis = LandmarkSynthesis(),  # frozen: a shared default is safe
) -> TrainingBatch:
    """GT tokens (B, N) + canonical landmarks (B, 33, 3) -> a conditioned ``TrainingBatch`` with detector-like input."""
    B, J, _ = landmarks_canonical_m.shape
    R = random_rotations(B, config, generator)  # (B, 3, 3)
    points_cam = landmarks_canonical_m @ R.transpose(1, 2)  # (B, J, 3)
    camera = random_cameras(points_cam, config, generator)  # (B, 3)
    clean = weak_perspective_project(points_cam, camera)  # (B, J, 2) GT crop coordinates

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    occluded = rand(B, J) < config.occlusion_prob  # (B, J)
    behind = points_cam[..., 2] > points_cam[..., 2].mean(dim=1, keepdim=True) + config.self_occlusion_depth_m
    occluded |= behind & (rand(B, J) < config.self_occlusion_prob)
    part = torch.randint(len(BODY_PARTS), (B,), generator=generator)
    hides_part = rand(B) < config.part_occlusion_prob
    for index, members in enumerate(BODY_PARTS):
        occluded[:, list(members)] |= ((part == index) & hides_part)[:, None]
    truncated = (clean.abs() > 1.0).any(dim=-1)  # (B, J)

    noise = torch.randn(B, J, 2, generator=generator) * config.noise_std
    outlier = (rand(B, J, 1) < config.outlier_prob) * torch.randn(B, J, 2, generator=generator) * config.outlier_std
    hidden_noise = occluded[..., None] * torch.randn(B, J, 2, generator=generator) * config.occluded_noise_std
    xy = clean + noise + outlier + hidden_noise
    visibility = 0.75 + 0.25 * rand(B, J)
    visibility = torch.where(occluded, 0.45 * rand(B, J), visibility)
    visibility = torch.where(truncated, 0.3 * rand(B, J), visibility)
    features = [xy, visibility[..., None]]
    if config.with_world:
        hips = points_cam[:, [LEFT_HIP, RIGHT_HIP]].mean(dim=1, keepdim=True)  # (B, 1, 3)
        features.append(points_cam - hips + torch.randn(B, J, 3, generator=generator) * config.world_noise_m)
    return TrainingBatch(
        ids=ids,
        cond=torch.cat(features, dim=-1),  # (B, J, 3 or 6)
        rotation_6d=matrix_to_rotation_6d(R),
        keypoints_canonical_m=landmarks_canonical_m,
        keypoints_crop=torch.cat([clean, torch.ones(B, J, 1)], dim=-1),
    )
