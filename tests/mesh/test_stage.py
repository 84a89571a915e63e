"""The mesh stage on a GPU: the same answer as on the CPU, only faster (runs where torch sees a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.mesh.crop import default_intrinsics
from mocap.mesh.models import MeshModels
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.stage import MeshEstimator
from tests.mesh.test_mirror import two_people


def test_the_stage_runs_where_its_models_were_loaded() -> None:
    models = MeshModels.load_default("cpu")
    assert models.device == torch.device("cpu") and MeshEstimator(models).device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("refine", [0, 2])
def test_a_gpu_gives_the_cpus_answer(refine: int) -> None:
    cpu, gpu = MeshModels.load_default("cpu"), MeshModels.load_default("cuda")
    assert gpu.device.type == "cuda" and next(gpu.lifter.parameters()).device.type == "cuda"
    tracks, intrinsics = two_people(cpu), default_intrinsics((640, 480))
    # Every crop sampled, mirror-averaged and fused: every network the stage calls runs once.
    policy = PolicyConfig(num_samples=4, uncertainty_threshold=0.0, mirror_threshold=0.0, refine_iterations=refine)
    answers = [MeshEstimator(models, policy).estimate(tracks, intrinsics) for models in (cpu, gpu)]
    on_cpu, on_gpu = (answer.meshes for answer in answers)
    np.testing.assert_array_equal(answers[0].tokens.ids, answers[1].tokens.ids)
    np.testing.assert_allclose(on_gpu.vertices_cam_m, on_cpu.vertices_cam_m, atol=2e-3)  # metres
    assert answers[1].sampled.all()
    # Samples draw their noise on the CPU from the same seed: the spread agrees to float rounding of the logits.
    assert np.abs(on_gpu.vertex_uncertainty_m - on_cpu.vertex_uncertainty_m).mean() < 2e-3
