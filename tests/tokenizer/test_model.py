from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.tokenizer.hierarchy import MeshHierarchy, build_mapped_hierarchy
from mocap.tokenizer.model import MeshVQVAE, v2v_error

from .conftest import TINY_CONFIG


@pytest.fixture
def model(tiny_hierarchy: MeshHierarchy) -> MeshVQVAE:
    torch.manual_seed(0)
    return MeshVQVAE(tiny_hierarchy, TINY_CONFIG)


def _meshes(sphere: tuple[np.ndarray, np.ndarray], n: int, seed: int = 0) -> torch.Tensor:
    """(n, 162, 3) spheres stretched along random axes, vertex-mean centred."""
    rng = np.random.default_rng(seed)
    scale = 1 + 0.3 * rng.random((n, 1, 3))
    vertices = torch.from_numpy(sphere[0][None] * scale).float()
    return vertices - vertices.mean(1, keepdim=True)


def test_shapes(model: MeshVQVAE, sphere: tuple[np.ndarray, np.ndarray]) -> None:
    x = _meshes(sphere, 3)
    ids = model.encode(x)
    assert ids.shape == (3, 8) and ids.dtype == torch.int64
    assert int(ids.max()) < TINY_CONFIG.num_embeddings
    out = model.decode(ids)
    assert out.shape == (3, 162, 3)
    torch.testing.assert_close(out.mean(1), torch.zeros(3, 3), atol=1e-6, rtol=0)
    assert model.decode_embeddings(torch.randn(2, 8, 4)).shape == (2, 162, 3)
    with pytest.raises(ValueError, match=r"\(B, 162, 3\)"):
        model.encode(torch.zeros(1, 100, 3))


def test_forward_gradients_reach_every_trainable_weight(model: MeshVQVAE, sphere: tuple) -> None:
    out = model(_meshes(sphere, 2))
    torch.testing.assert_close(out.loss, out.v2v + out.vq_loss)
    out.loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.vq_vae._ema_w.grad is None  # the codebook follows the EMA, not the optimiser


def test_v2v_recentres_the_prediction() -> None:
    target = torch.randn(2, 5, 3)
    target = target - target.mean(1, keepdim=True)
    assert float(v2v_error(target + torch.tensor([1.0, 2.0, 3.0]), target)) < 1e-6
    assert float(v2v_error(target * 2, target)) > 0.1


def test_round_trip_error_drops_with_training(model: MeshVQVAE, sphere: tuple) -> None:
    torch.manual_seed(0)
    x = _meshes(sphere, 8)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    with torch.no_grad():
        before = float(v2v_error(model.eval().decode(model.encode(x)), x))
    model.train()
    for _ in range(150):
        out = model(x)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(v2v_error(model.eval().decode(model.encode(x)), x))
    assert after < 0.1 * before
    assert after < 0.05  # metres, on 0.5 m spheres


def test_checkpoint_round_trip(model: MeshVQVAE, sphere: tuple, tmp_path: Path) -> None:
    model.train()(_meshes(sphere, 4))  # move the EMA buffers off their initial values
    model.eval()
    x = _meshes(sphere, 2, seed=1)
    model.save(tmp_path / "tok.pt", note="hello")
    loaded = MeshVQVAE.load(tmp_path / "tok.pt")
    assert loaded.config == model.config and not loaded.training
    assert torch.equal(loaded.encode(x), model.encode(x))
    torch.testing.assert_close(loaded.decode(model.encode(x)), model.decode(model.encode(x)))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    model.save(tmp_path / "half.pt", half=True)
    half = MeshVQVAE.load(tmp_path / "half.pt")
    torch.testing.assert_close(half.decode(model.encode(x)), model.decode(model.encode(x)), atol=1e-2, rtol=1e-2)
    assert not (tmp_path / "tok.pt.tmp").exists()


def test_load_onto_another_device_reads_the_checkpoint_on_the_cpu(model: MeshVQVAE, tmp_path: Path) -> None:
    # A GPU load once mapped the checkpoint to the GPU and broke rebuilding the hierarchy from numpy; "meta" is a
    # device every machine has that numpy cannot read either.
    model.save(tmp_path / "tok.pt")
    moved = MeshVQVAE.load(tmp_path / "tok.pt", map_location="meta")
    assert {p.device.type for p in moved.parameters()} == {"meta"} and not moved.training


def test_load_errors(model: MeshVQVAE, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="mocap train tokenizer"):
        MeshVQVAE.load(tmp_path / "missing.pt")
    torch.save({"model": model.state_dict()}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="load_official"):
        MeshVQVAE.load(tmp_path / "foreign.pt")
    checkpoint = model.checkpoint()
    del checkpoint["model"]["model.bias0"]
    with pytest.raises(CheckpointError, match="bias0"):
        MeshVQVAE.from_checkpoint(checkpoint)


def test_full_resolution_map_is_used(sphere: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    vertices, faces = sphere
    examples = vertices[None] * (1 + 0.2 * np.random.default_rng(0).random((8, 1, 3)))
    hierarchy = build_mapped_hierarchy(vertices, faces, (60, 20, 8, 4), examples)
    torch.manual_seed(0)
    model = MeshVQVAE(hierarchy, TINY_CONFIG).eval()
    x = torch.from_numpy(examples[:2]).float()
    assert model.encode(x).shape == (2, 4)
    assert model.decode(model.encode(x)).shape == (2, 162, 3)
    model.save(tmp_path / "m.pt")
    loaded = MeshVQVAE.load(tmp_path / "m.pt")
    assert loaded.hierarchy.full is not None
    np.testing.assert_array_equal(loaded.hierarchy.full.up_ids, hierarchy.full.up_ids)
    torch.testing.assert_close(loaded.decode(model.encode(x)), model.decode(model.encode(x)))
