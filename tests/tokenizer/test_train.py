from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mocap.cli import build_parser
from mocap.tokenizer.hierarchy import MeshHierarchy
from mocap.tokenizer.model import MeshVQVAE
from mocap.tokenizer.train import TrainConfig, Trainer, evaluate, learning_rate, procrustes_align

from .conftest import TINY_CONFIG


def test_procrustes_undoes_a_similarity_transform() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 30, 3, generator=g)
    q, _ = torch.linalg.qr(torch.randn(2, 3, 3, generator=g))
    source = 1.7 * target @ q + torch.tensor([0.3, -1.0, 2.0])
    torch.testing.assert_close(procrustes_align(source, target), target, atol=1e-4, rtol=0)


def test_learning_rate_schedule() -> None:
    assert learning_rate(0, 1000, 1e-3, warmup=10) == pytest.approx(1e-4)
    assert learning_rate(10, 1000, 1e-3, warmup=10) == pytest.approx(1e-3)
    assert learning_rate(1000, 1000, 1e-3, warmup=10) == pytest.approx(1e-5)


def _sphere_sampler(sphere: tuple[np.ndarray, np.ndarray]):  # type: ignore[no-untyped-def]
    def sample(split: str, n: int, rng: np.random.Generator) -> torch.Tensor:
        scale = 1 + 0.3 * rng.random((n, 1, 3))
        vertices = torch.from_numpy(sphere[0][None] * scale).float()
        return vertices - vertices.mean(1, keepdim=True)

    return sample


def test_evaluate_reports_full_mesh_errors(tiny_hierarchy: MeshHierarchy, sphere: tuple) -> None:
    torch.manual_seed(0)
    model = MeshVQVAE(tiny_hierarchy, TINY_CONFIG)
    meshes = _sphere_sampler(sphere)("validation", 4, np.random.default_rng(0))
    metrics = evaluate(model, meshes)
    assert metrics["meshes"] == 4
    assert metrics["pa_vertex_error_mm"] <= metrics["mean_vertex_error_mm"]
    assert 0 < metrics["codebook_usage"] <= 1 and metrics["perplexity"] >= 0.999


def test_train_checkpoint_resume_and_final_model(tiny_hierarchy: MeshHierarchy, sphere: tuple, tmp_path: Path) -> None:
    config = TrainConfig(out=tmp_path / "run", steps=3, batch=4, checkpoint_every_s=0.0, eval_meshes=32)
    trainer = Trainer(config, _sphere_sampler(sphere), tiny_hierarchy, TINY_CONFIG)
    first = trainer.run()
    assert first["steps"] == 3
    assert (tmp_path / "run" / "tokenizer.pt").is_file()
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert saved["step"] == 3
    longer = TrainConfig(out=tmp_path / "run", steps=5, batch=4, checkpoint_every_s=0.0, eval_meshes=32)
    second = Trainer(longer, _sphere_sampler(sphere), tiny_hierarchy, TINY_CONFIG).run(resume=True)
    assert second["steps"] == 5
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 5
    model = MeshVQVAE.load(tmp_path / "run" / "tokenizer.pt")
    assert model.config.channels == TINY_CONFIG.channels


def test_cli_parses_train_tokenizer() -> None:
    args = build_parser().parse_args(["train", "tokenizer", "--out", "x", "--steps", "7", "--resume"])
    assert (args.model, args.steps, args.batch, args.resume, args.data) == ("tokenizer", 7, 16, True, "mocap")
    assert callable(args.handler)
