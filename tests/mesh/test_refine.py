"""Refinement in the tokenizer's latent space (``mocap.mesh.refine``), with the shipped Anny tokenizer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from mocap.mesh.models import MeshModels
from mocap.mesh.refine import RefineConfig, landmark_loss, posed_landmarks, refine_to_landmarks
from mocap.tokenizer.model import MeshVQVAE


@pytest.fixture(scope="module")
def tokenizer() -> Iterator[MeshVQVAE]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield MeshModels.load_default().tokenizer
    torch.set_num_threads(threads)


def target_and_start(tokenizer: MeshVQVAE) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A known answer (codes of random tokens, a turned body, a camera) and a start away from it."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, tokenizer.vq_vae.codebook.shape[0], (2, tokenizer.num_tokens), generator=generator)
    truth = {
        "z": tokenizer.vq_vae.lookup(ids),
        "rotation_6d": torch.tensor([[1.0, 0, 0, 0, 1, 0], [0.9, 0, 0.44, 0, 1, 0]]),
        "camera": torch.tensor([[1.0, 0.05, -0.02], [0.9, -0.1, 0.03]]),
    }
    start = {
        "z": truth["z"] + 0.3 * torch.randn(truth["z"].shape, generator=generator),
        "rotation_6d": truth["rotation_6d"] + torch.tensor([0.0, 0.1, 0, 0, 1, 0.1]) * 0.3,
        "camera": truth["camera"] * torch.tensor([1.15, 1.0, 1.0]) + torch.tensor([0.0, 0.05, -0.05]),
    }
    return truth, start


def detector_view(tokenizer: MeshVQVAE, answer: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """What a perfect detector would report for ``answer``: crop landmarks (B, 33, 3), world landmarks (B, 33, 3)."""
    with torch.no_grad():
        landmarks_cam_m, projected = posed_landmarks(tokenizer, answer["z"], answer["rotation_6d"], answer["camera"])
    visibility = torch.ones(*projected.shape[:2], 1)
    world = landmarks_cam_m - landmarks_cam_m[:, [23, 24]].mean(1, keepdim=True)
    return torch.cat([projected, visibility], dim=-1), world


def test_refinement_moves_the_mesh_onto_the_landmarks(tokenizer: MeshVQVAE) -> None:
    truth, start = target_and_start(tokenizer)
    landmarks_crop, world = detector_view(tokenizer, truth)
    before = {name: value.clone() for name, value in start.items()}
    parameters = [p.clone() for p in tokenizer.parameters()]

    refined = refine_to_landmarks(tokenizer, **start, landmarks_crop=landmarks_crop, landmarks_world_m=world)

    def data_loss(z: torch.Tensor, rotation_6d: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return landmark_loss(*posed_landmarks(tokenizer, z, rotation_6d, camera), landmarks_crop, world, 1.0)

    loss_before, loss_after = data_loss(**start), data_loss(refined.z, refined.rotation_6d, refined.camera)
    assert torch.all(loss_after < 0.6 * loss_before), (loss_before, loss_after)
    assert refined.z.shape == start["z"].shape and not refined.z.requires_grad
    for name, value in start.items():  # the caller's tensors are not touched
        torch.testing.assert_close(value, before[name])
    for p, q in zip(tokenizer.parameters(), parameters, strict=True):  # the tokenizer is not trained
        torch.testing.assert_close(p, q)
        assert p.grad is None


def test_zero_iterations_return_the_start(tokenizer: MeshVQVAE) -> None:
    _, start = target_and_start(tokenizer)
    landmarks_crop, world = detector_view(tokenizer, start)
    refined = refine_to_landmarks(
        tokenizer, **start, landmarks_crop=landmarks_crop, landmarks_world_m=world, config=RefineConfig(iterations=0)
    )
    torch.testing.assert_close(refined.z, start["z"])
    torch.testing.assert_close(refined.camera, start["camera"])


def test_missing_landmarks_count_for_nothing(tokenizer: MeshVQVAE) -> None:
    """Invisible or NaN 2-D landmarks and absent world landmarks leave no NaN and no pull."""
    truth, start = target_and_start(tokenizer)
    landmarks_crop, world = detector_view(tokenizer, truth)
    landmarks_crop[0, 11:17, 2] = 0.1  # arms not seen
    landmarks_crop[0, 25:, :2] = float("nan")  # legs lost
    world[1] = float("nan")  # no world landmarks for the second crop
    refined = refine_to_landmarks(tokenizer, **start, landmarks_crop=landmarks_crop, landmarks_world_m=world)
    assert all(t.isfinite().all() for t in (refined.z, refined.rotation_6d, refined.camera))

    with torch.no_grad():
        landmarks_cam_m, projected = posed_landmarks(tokenizer, start["z"], start["rotation_6d"], start["camera"])
    moved = landmarks_crop.clone()
    moved[0, 11:17, :2] += 5.0  # far off, but invisible
    assert torch.allclose(
        landmark_loss(landmarks_cam_m, projected, landmarks_crop, world, 1.0),
        landmark_loss(landmarks_cam_m, projected, moved, world, 1.0),
    )
