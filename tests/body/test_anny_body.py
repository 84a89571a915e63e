from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.anny_body import (
    PHENOTYPE_LABELS,
    AnnyBody,
    BodyParams,
    canonicalize,
    neutral_phenotypes,
    random_phenotypes,
)
from mocap.body.base import BodyModel
from mocap.body.rotations import axis_angle_to_matrix
from mocap.errors import ConfigError


def _random_pose(body: AnnyBody, n: int, scale: float = 0.3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(n, len(body.joint_names), 3, generator=g) * scale)


def test_random_phenotypes_reproducible_and_in_range() -> None:
    a = random_phenotypes(500, np.random.default_rng(7))
    b = random_phenotypes(500, np.random.default_rng(7))
    assert a.shape == (500, len(PHENOTYPE_LABELS)) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, random_phenotypes(500, np.random.default_rng(8)))
    assert a.min() >= 0.0 and a.max() <= 1.0
    age = a[:, PHENOTYPE_LABELS.index("age")]
    assert (age < 0.6).mean() > 0.1 and (age > 0.9).mean() > 0.05  # children and elderly both present
    weight = a[:, PHENOTYPE_LABELS.index("weight")]
    assert weight.min() < 0.15 and weight.max() > 0.85  # thin to heavy


def test_protocol_and_description(body: AnnyBody) -> None:
    assert isinstance(body, BodyModel)
    assert body.num_vertices == 13718 and body.faces.shape == (27420, 3)
    assert body.parents[0] == -1 and (body.parents[1:] < np.arange(1, len(body.joint_names))).all()
    assert AnnyBody("default").model is body.model  # built once per (rig, device)


def test_unknown_rig_says_the_choices() -> None:
    with pytest.raises(ConfigError, match="cmu_mb"):
        AnnyBody("smpl")


def test_forward_is_batch_agnostic(body: AnnyBody) -> None:
    pose = _random_pose(body, 3)
    phenotype = torch.from_numpy(random_phenotypes(3, np.random.default_rng(0)))
    transl = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    with torch.no_grad():
        out = body.forward(pose, phenotype, transl)
        one = body.forward(pose[1:2], phenotype[1:2], transl[1:2])
    assert out.vertices_m.shape == (3, 13718, 3) and out.joints_m.shape == (3, len(body.joint_names), 3)
    assert torch.allclose(out.vertices_m[1:2], one.vertices_m, atol=1e-5)
    assert torch.allclose(out.joints_m[:, 0], transl)  # the root joint sits at transl_m


def test_rest_is_upright_facing_minus_y(body: AnnyBody) -> None:
    with torch.no_grad():
        out = body.forward(body.identity_pose(1), neutral_phenotypes(1))
    v, j = out.vertices_m[0], out.joints_m[0]
    height = float(v[:, 2].max() - v[:, 2].min())
    assert 1.4 < height < 1.9
    assert j[body.joint_index("head"), 2] > j[body.joint_index("foot.L"), 2]  # z up
    assert j[body.joint_index("upperarm01.L"), 0] > 0  # left is +x
    assert j[body.joint_index("toe1-1.L"), 1] < j[body.joint_index("foot.L"), 1]  # toes point to -y


def test_fk_only_matches_forward(body: AnnyBody) -> None:
    pose = _random_pose(body, 2, seed=1)
    phenotype = torch.from_numpy(random_phenotypes(2, np.random.default_rng(1)))
    with torch.no_grad():
        full = body.forward(pose, phenotype)
        fk = body.bone_poses(pose, body.rest_bone_poses(phenotype))
    assert torch.allclose(fk, full.bone_poses, atol=1e-5)


def test_canonical_mesh_is_centred_with_zero_global_rotation(body: AnnyBody) -> None:
    pose = _random_pose(body, 2, seed=2)
    pose[:, 0] = axis_angle_to_matrix(torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.2, 0.0]]))
    phenotype = neutral_phenotypes(2)
    with torch.no_grad():
        canonical = body.canonical_vertices(pose, phenotype)
        upright = pose.clone()
        upright[:, 0] = torch.eye(3)
        reference = body.forward(upright, phenotype).vertices_m
        posed = body.forward(pose, phenotype, torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])).vertices_m
    assert canonical.dtype == torch.float32
    assert torch.allclose(canonical.mean(1), torch.zeros(2, 3), atol=1e-5)
    assert torch.allclose(canonical, reference - reference.mean(1, keepdim=True), atol=1e-5)
    assert torch.allclose(canonicalize(posed, pose[:, 0]), canonical, atol=1e-4)


@pytest.mark.slow
def test_fit_recovers_a_posed_mesh(body: AnnyBody) -> None:
    pose = _random_pose(body, 1, scale=0.15, seed=3)
    phenotype = torch.tensor([[0.2, 0.7, 0.5, 0.6, 0.4, 0.5]])
    with torch.no_grad():
        target = body.forward(pose, phenotype).vertices_m
    params = body.fit(target)
    assert isinstance(params, BodyParams) and params.pose_rotmat.shape == pose.shape
    with torch.no_grad():
        fitted = body.forward(params.pose_rotmat, params.phenotype, params.transl_m).vertices_m
    assert (fitted - target).norm(dim=-1).mean() < 0.01  # 1 cm mean vertex error
