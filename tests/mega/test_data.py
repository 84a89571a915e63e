from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.errors import ConfigError
from mocap.mega.data import MeshTokenSource, decoded_landmarks
from mocap.mega.recipe import MegaRecipe, train_mega

V, N = 200, 54


def sample_meshes(n: int, rng: np.random.Generator) -> torch.Tensor:
    meshes = torch.from_numpy(rng.normal(size=(n, V, 3)).astype(np.float32)) * torch.tensor([0.2, 0.1, 0.8])
    return meshes - meshes.mean(dim=1, keepdim=True)


PROJECTION = torch.randn(3, 512, generator=torch.Generator().manual_seed(0))


def tokenize(meshes: torch.Tensor) -> torch.Tensor:
    """A stand-in tokenizer: 54 vertex groups, each mapped to the codeword its mean points to most."""
    groups = meshes[:, : N * 3].reshape(len(meshes), N, 3, 3).mean(dim=2)  # (B, 54, 3)
    return (groups @ PROJECTION).argmax(dim=-1)


def landmarks(meshes: torch.Tensor) -> torch.Tensor:
    return meshes[:, :33]


def test_pretraining_batches_are_tokens_only_and_seeded() -> None:
    source = MeshTokenSource(sample_meshes, tokenize, batch_size=5, seed=3)
    a, b, c = source(7), source(7), source(8)
    assert a.ids.shape == (5, N) and a.cond is None and a.rotation_6d is None
    assert torch.equal(a.ids, b.ids) and not torch.equal(a.ids, c.ids)
    assert not torch.equal(a.ids, MeshTokenSource(sample_meshes, tokenize, 5, seed=4)(7).ids)


def test_conditioned_batches_carry_landmark_crops() -> None:
    source = MeshTokenSource(sample_meshes, tokenize, batch_size=4, landmarks=landmarks, seed=0)
    batch, again = source(0), source(0)
    assert batch.cond is not None and batch.cond.shape == (4, 33, 6)
    assert batch.keypoints_canonical_m is not None and batch.keypoints_canonical_m.shape == (4, 33, 3)
    assert batch.rotation_6d is not None and batch.rotation_6d.shape == (4, 6)
    assert again.cond is not None and torch.equal(batch.cond, again.cond)
    assert torch.equal(batch.ids, tokenize(sample_meshes(4, np.random.default_rng([0, 0]))))


def test_decoded_landmarks_compose_decode_and_regressor() -> None:
    def decode(ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(ids), V, 3) + ids[:, :1, None].float()

    keypoints = decoded_landmarks(decode, landmarks)(torch.tensor([[2] * N, [5] * N]))
    assert keypoints.shape == (2, 33, 3) and keypoints[1].eq(5).all()


def test_recipe_refuses_to_overwrite_and_checks_the_preset(tmp_path: Path) -> None:
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match="--resume"):
        train_mega(MegaRecipe(out=tmp_path))
    with pytest.raises(ConfigError, match="preset"):
        MegaRecipe(out=tmp_path, preset="huge").model_config()
    assert MegaRecipe(out=tmp_path, stage="pretrain").model_config().cond == "none"
    assert MegaRecipe(out=tmp_path).model_config().cond == "landmarks"
    with pytest.raises(ConfigError, match="--stage conditioned"):
        train_mega(MegaRecipe(out=tmp_path / "pre", stage="pretrain", renders=tmp_path))


def test_renders_command_checks_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mocap.cli import main

    assert main(["data", "renders", "--out", str(tmp_path), "--clips", "0"]) == ConfigError.exit_code
    assert "--clips" in capsys.readouterr().err
