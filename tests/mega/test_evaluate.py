"""Joint metrics: invariances of MPJPE / PA-MPJPE, and the rendered-example evaluation end to end (tiny model)."""

from __future__ import annotations

import numpy as np
import torch

from mocap.body.rotations import axis_angle_to_matrix
from mocap.mega.evaluate import joint_errors_mm, procrustes_aligned, rendered_errors_mm
from mocap.mega.model import Mega, MegaConfig
from tests.mega.test_rendered import examples


def test_procrustes_undoes_a_similarity_transform() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(4, 12, 3))
    rotation = axis_angle_to_matrix(torch.from_numpy(rng.normal(size=(4, 3)))).numpy()
    moved = 1.7 * truth @ rotation + rng.normal(size=(4, 1, 3))
    np.testing.assert_allclose(procrustes_aligned(moved, truth), truth, atol=1e-9)


def test_mpjpe_ignores_hip_position_and_pa_mpjpe_ignores_rotation_and_scale() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(3, 33, 3))
    shifted = joint_errors_mm(truth + np.array([0.5, -2.0, 3.0]), truth)
    assert np.allclose(shifted["mpjpe"], 0) and np.allclose(shifted["pa_mpjpe"], 0, atol=1e-9)
    turned = truth @ axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.5])).numpy().T * 0.9
    errors = joint_errors_mm(turned, truth)
    assert (errors["mpjpe"] > 10).all() and np.allclose(errors["pa_mpjpe"], 0, atol=1e-4)
    bent = truth.copy()
    bent[:, 15] += [0.1, 0.0, 0.0]  # the left wrist 10 cm off: 100 mm / 12 joints
    np.testing.assert_allclose(joint_errors_mm(bent, truth)["mpjpe"], 100 / 12)


def test_rendered_errors_compare_mega_and_mediapipe_on_the_same_examples() -> None:
    torch.manual_seed(0)
    model = Mega(MegaConfig.tiny()).eval()
    pool = examples(5)
    pool.cond[..., 3:] = np.random.default_rng(2).normal(size=(5, 33, 3))  # MediaPipe world landmarks
    result = rendered_errors_mm(model, StubTokenizer(), pool, chunk=2)  # type: ignore[arg-type]
    assert result["examples"] == 5
    parts = ("mega_argmax", "mega_expected", "mediapipe_world")
    assert all(set(result[part]) == {"mpjpe", "pa_mpjpe"} for part in parts)
    assert all(np.isfinite(v) and v > 0 for part in parts for v in result[part].values())


class StubTokenizer:
    """Decodes ids or code embeddings (B, 54, 9) to random Anny-sized meshes, through a random linear map."""

    class vq_vae:  # mirrors MeshVQVAE.vq_vae
        codebook = torch.randn(512, 9, generator=torch.Generator().manual_seed(3))

    lift = torch.randn(54 * 9, 200, generator=torch.Generator().manual_seed(4))

    def decode_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        sparse = (z.flatten(1) @ self.lift).view(-1, 200, 1)
        return sparse.repeat(1, 69, 3)[:, :13718]  # (B, 13718, 3)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decode_embeddings(self.vq_vae.codebook[ids])
