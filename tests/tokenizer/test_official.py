from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.tokenizer.hierarchy import MeshHierarchy
from mocap.tokenizer.model import MeshVQVAE
from mocap.tokenizer.official import OFFICIAL_CONFIG, load_official, official_hierarchy

# (out_pn, M) of the real dfaust2 files (docs/mega-reference.md 1.2) and the level sizes.
REAL_TABLES = {
    "pool0": (6890, 10), "pool1": (1925, 32), "pool2": (1925, 21), "pool3": (400, 56), "pool4": (400, 26),
    "pool5": (54, 66), "pool6": (54, 19), "unpool6": (54, 19), "unpool5": (400, 11), "unpool4": (400, 26),
    "unpool3": (1925, 14), "unpool2": (1925, 21), "unpool1": (6890, 11), "unpool0": (6890, 10),
}  # fmt: skip


def write_connection_folder(folder: Path, tables: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        np.save(folder / f"_{name}.npy", table.astype(np.int32))
    return folder


def official_layout(model: MeshVQVAE) -> dict[str, torch.Tensor]:
    """What the reference saves: every AE tensor under encoder.model.* AND decoder.model.*, plus the quantizer."""
    state: dict[str, torch.Tensor] = {}
    for name, tensor in model.model.state_dict().items():
        state[f"encoder.model.{name}"] = tensor.clone()
        state[f"decoder.model.{name}"] = tensor.clone()
    state["vq_vae._embedding.weight"] = model.vq_vae._embedding.weight.detach().clone()
    state["vq_vae._ema_w"] = model.vq_vae._ema_w.detach().clone()
    state["vq_vae._ema_cluster_size"] = model.vq_vae._ema_cluster_size.clone()
    return state


@pytest.fixture
def connections(tiny_hierarchy: MeshHierarchy, tmp_path: Path) -> Path:
    return write_connection_folder(tmp_path / "dfaust2", tiny_hierarchy.tables)


@pytest.fixture
def source_model(tiny_hierarchy: MeshHierarchy) -> MeshVQVAE:
    torch.manual_seed(1)
    model = MeshVQVAE(tiny_hierarchy, OFFICIAL_CONFIG)
    model.train()(torch.randn(2, 162, 3) * 0.3)  # non-trivial EMA buffers
    return model.eval()


def test_strict_load_reproduces_the_network(connections: Path, source_model: MeshVQVAE, tmp_path: Path) -> None:
    path = tmp_path / "mesh_vqvae_54"
    torch.save({"model": official_layout(source_model), "optimizer": {}, "epoch": 7, "loss": 0.1, "v2v": 0.01}, path)
    model = load_official(path, connections, num_vertices=162)
    assert not model.training
    x = torch.randn(3, 162, 3) * 0.3
    x = x - x.mean(1, keepdim=True)
    assert torch.equal(model.encode(x), source_model.encode(x))
    torch.testing.assert_close(model.decode(model.encode(x)), source_model.decode(source_model.encode(x)))
    torch.testing.assert_close(model.vq_vae._ema_cluster_size, source_model.vq_vae._ema_cluster_size)


def _drop(state: dict[str, torch.Tensor]) -> None:
    del state["decoder.model.w_weights2"]


def _extra(state: dict[str, torch.Tensor]) -> None:
    state["encoder.model.weights99"] = torch.zeros(1)


def _shape(state: dict[str, torch.Tensor]) -> None:
    state["vq_vae._ema_w"] = torch.zeros(512, 8)


def _differ(state: dict[str, torch.Tensor]) -> None:
    state["decoder.model.bias4"] = state["decoder.model.bias4"] + 1


def _no_quantizer_stats(state: dict[str, torch.Tensor]) -> None:
    del state["vq_vae._ema_cluster_size"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_drop, r"missing keys \(1\): decoder.model.w_weights2"),
        (_extra, r"unexpected keys \(1\): encoder.model.weights99"),
        (_shape, r"shape mismatches \(1\): vq_vae._ema_w: checkpoint \(512, 8\), network \(512, 9\)"),
        (_differ, r"copies that differ \(1\): bias4"),
        (_no_quantizer_stats, r"missing keys \(1\): vq_vae._ema_cluster_size"),
    ],
)
def test_strict_load_failures(
    corrupt: Callable[[dict[str, torch.Tensor]], None],
    message: str,
    connections: Path,
    source_model: MeshVQVAE,
    tmp_path: Path,
) -> None:
    state = official_layout(source_model)
    corrupt(state)
    torch.save({"model": state}, tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match=message):
        load_official(tmp_path / "ckpt", connections, num_vertices=162)


def test_ddp_module_prefix_is_stripped(connections: Path, source_model: MeshVQVAE, tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in official_layout(source_model).items()}
    torch.save({"model": state}, tmp_path / "ckpt")
    model = load_official(tmp_path / "ckpt", connections, num_vertices=162)
    torch.testing.assert_close(model.vq_vae.codebook, source_model.vq_vae.codebook)


def test_missing_files(connections: Path, source_model: MeshVQVAE, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"zenodo\.org/records/14974141"):
        load_official(tmp_path / "absent", connections, num_vertices=162)
    (connections / "_unpool3.npy").unlink()
    with pytest.raises(ModelNotFoundError, match=r"_unpool3\.npy not found.*connections/dfaust2/.*'dfaust'"):
        official_hierarchy(connections, num_vertices=162)


def test_wrong_mesh_size(connections: Path) -> None:
    with pytest.raises(CheckpointError, match="162-vertex mesh, not 6890"):
        official_hierarchy(connections)


def test_real_official_sizes_parameter_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sizes = {6890: 6890, 1925: 1925, 400: 400, 54: 54}
    in_pn = {"pool0": 6890, "pool1": 6890, "pool2": 1925, "pool3": 1925, "pool4": 400, "pool5": 400, "pool6": 54,
             "unpool6": 54, "unpool5": 54, "unpool4": 400, "unpool3": 400, "unpool2": 1925, "unpool1": 1925,
             "unpool0": 6890}  # fmt: skip
    tables = {}
    for name, (out_pn, m) in REAL_TABLES.items():
        table = np.empty((out_pn, 1 + 2 * m), dtype=np.int32)
        table[:, 0] = m
        table[:, 1::2] = rng.integers(0, sizes[in_pn[name]], (out_pn, m))
        table[:, 2::2] = 1
        tables[name] = table
    hierarchy = official_hierarchy(write_connection_folder(tmp_path / "c", tables))
    assert hierarchy.level_sizes == (6890, 1925, 400, 54)
    model = MeshVQVAE(hierarchy, OFFICIAL_CONFIG)
    assert sum(p.numel() for p in model.model.parameters()) == 2_575_466
    assert model.vq_vae.codebook.shape == (512, 9)
    with torch.no_grad():
        assert model.eval().encode(torch.zeros(1, 6890, 3)).shape == (1, 54)
