"""Test-time refinement of MEGA's answer against the detector's landmarks, in the tokenizer's latent space.

MEGA's deterministic mesh is the decoding of its expected code embeddings z (B, 54, C). Its 2-D landmarks,
re-projected through its own weak-perspective crop camera, miss MediaPipe's by about twice MediaPipe's own
2-D error (measured on test renders: see ``benchmarks/results/refine.json``), which shows as a mesh that
slides off the body in overlays. ``refine_to_landmarks`` takes a few Adam steps on (z, rotation 6D, crop
camera) to pull the decoded mesh's landmarks onto

- MediaPipe's 2-D landmarks in crop coordinates (weighted by visibility; mean distance, crop units),
- MediaPipe's 3-D world landmarks, both hip-centred (mean distance, metres; ``world_weight``),

while a squared distance to MEGA's own z (``prior_weight``) keeps the mesh a mesh the tokenizer knows. It is
SMPLify's idea with MEGA's answer as the initialisation and the token space as the body model, and it costs
one tokenizer decode forward and backward per iteration (~14 ms per crop on one CPU thread).

Frames as in ``mocap.mega.geometry``: canonical (tokenizer body frame) -> camera by the 6-D rotation; crop
coordinates [-1, 1], x right, y down.

Example:
    >>> z, rotation_6d, camera = refine_to_landmarks(
    ...     tokenizer, z0, rotation_6d0, camera0, crops.landmarks_crop, crops.landmarks_world_m
    ... )  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mocap.body.landmarks import regress_landmarks
from mocap.body.rotations import rotation_6d_to_matrix
from mocap.mega.conditioning import MIN_VISIBILITY
from mocap.mega.evaluate import HIPS
from mocap.mega.geometry import weak_perspective_project
from mocap.tokenizer.model import MeshVQVAE


@dataclass(frozen=True)
class RefineConfig:
    """Attributes:
    iterations: Adam steps (0 = no refinement).
    lr: Adam step size, shared by z (code units, per-dimension spread ~0.5), rotation 6D and camera.
    prior_weight: weight of the mean squared change of z.
    world_weight: weight of the 3-D world-landmark term against the 2-D term (crop units ~ metres here).
    Defaults chosen on validation renders (models/mega_anny/MODEL_CARD.md, "Refinement").
    """

    iterations: int = 10
    lr: float = 0.05
    prior_weight: float = 3.0
    world_weight: float = 0.5


@dataclass(frozen=True)
class Refined:
    """The refined answer (rows = crops): z (B, N, C), rotation_6d (B, 6), camera (B, 3) = (s, tx, ty)."""

    z: torch.Tensor
    rotation_6d: torch.Tensor
    camera: torch.Tensor


def posed_landmarks(
    tokenizer: MeshVQVAE, z: torch.Tensor, rotation_6d: torch.Tensor, camera: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode z (B, N, C) -> landmarks (B, 33, 3) turned into the camera frame (metres, centroid-centred) and
    their weak-perspective projection (B, 33, 2) in crop coordinates."""
    landmarks_cam_m = regress_landmarks(tokenizer.decode_embeddings(z)) @ rotation_6d_to_matrix(rotation_6d).mT
    return landmarks_cam_m, weak_perspective_project(landmarks_cam_m, camera)


def landmark_loss(
    landmarks_cam_m: torch.Tensor,
    projected_crop: torch.Tensor,
    landmarks_crop: torch.Tensor,
    landmarks_world_m: torch.Tensor,
    world_weight: float,
) -> torch.Tensor:
    """Per-crop data term (B,): visibility-weighted mean 2-D distance + world_weight x mean hip-centred 3-D distance.

    landmarks_crop (B, 33, 3): x, y, visibility; landmarks_world_m (B, 33, 3), NaN where the detector gave none.
    """
    visible = ((landmarks_crop[..., 2] >= MIN_VISIBILITY) & landmarks_crop.isfinite().all(-1)).float()  # (B, 33)
    distance_2d = (projected_crop - landmarks_crop[..., :2].nan_to_num()).norm(dim=-1)  # (B, 33)
    loss_2d = (distance_2d * visible).sum(1) / visible.sum(1).clamp_min(1.0)
    has_world = landmarks_world_m.isfinite().all(-1).all(-1).float()  # (B,)
    world = landmarks_world_m.nan_to_num()
    world = world - world[:, HIPS].mean(1, keepdim=True)
    mesh = landmarks_cam_m - landmarks_cam_m[:, HIPS].mean(1, keepdim=True)
    loss_world = (mesh - world).norm(dim=-1).mean(1) * has_world
    return loss_2d + world_weight * loss_world


def refine_to_landmarks(
    tokenizer: MeshVQVAE,
    z: torch.Tensor,
    rotation_6d: torch.Tensor,
    camera: torch.Tensor,
    landmarks_crop: torch.Tensor,
    landmarks_world_m: torch.Tensor,
    config: RefineConfig | None = None,
) -> Refined:
    """``config.iterations`` Adam steps from MEGA's (z (B, N, C), rotation_6d (B, 6), camera (B, 3)).

    Crops are independent (the loss is a sum over crops), so a batch refines as fast per crop as it can.
    The tokenizer's own parameters are left untouched (no gradient is kept for them).
    """
    config = config or RefineConfig()
    z0 = z.detach()
    if config.iterations < 1 or len(z0) == 0:
        return Refined(z0, rotation_6d.detach(), camera.detach())
    frozen = [p for p in tokenizer.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        params = [t.detach().clone().requires_grad_(True) for t in (z0, rotation_6d, camera)]
        optimizer = torch.optim.Adam(params, lr=config.lr)
        with torch.enable_grad():
            for _ in range(config.iterations):
                landmarks_cam_m, projected = posed_landmarks(tokenizer, *params)
                data = landmark_loss(landmarks_cam_m, projected, landmarks_crop, landmarks_world_m, config.world_weight)
                prior = ((params[0] - z0) ** 2).mean((1, 2))  # (B,)
                optimizer.zero_grad(set_to_none=True)
                (data + config.prior_weight * prior).sum().backward()
                optimizer.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return Refined(*(p.detach() for p in params))
