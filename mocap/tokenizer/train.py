"""Training the Anny Mesh-VQ-VAE: data, schedule, resumable checkpoints, held-out evaluation.

The network runs on a 1,700-vertex geodesic subset of the 13,718-vertex Anny mesh (DESIGN.md:
full resolution is ~10x too slow to train on a CPU); a fitted affine map brings it back to full
resolution, and every error reported here is measured on the FULL mesh.

Example:
    >>> config = TrainConfig(out=Path("runs/tok"), steps=2000)
    >>> Trainer(config).run()        # writes runs/tok/{last.pt,tokenizer.pt,metrics.json}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from mocap.errors import ConfigError
from mocap.motion.splits import Split
from mocap.tokenizer.hierarchy import MeshHierarchy, build_mapped_hierarchy
from mocap.tokenizer.model import MeshVQVAE, MeshVQVAEConfig

log = logging.getLogger(__name__)

ANNY_LEVEL_SIZES = (1700, 400, 120, 54)
# The reference medium config with half the channels: ~4x fewer multiply-adds, so a CPU can train it.
ANNY_NETWORK = MeshVQVAEConfig(channels=(16, 16, 32, 32, 64, 64, 9, 64, 64, 32, 32, 16, 16, 3))

MeshSampler = Callable[[Split, int, np.random.Generator], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        out: run folder (checkpoints, final model, metrics).
        steps: optimiser steps; batch: meshes per step.
        lr: peak Adam learning rate (linear warm-up, cosine decay to lr/100).
        seed: seeds data sampling, hierarchy examples and initialisation.
        data: ``mocap`` = the motion dataset's train split (``mocap data build`` first);
            ``random-poses`` = random joint rotations (development, or pre-training before mocap).
        checkpoint_every_s: seconds between resumable checkpoints (atomic writes).
        eval_meshes: held-out meshes for the final evaluation.
        restart_dead_codes: re-seed unused codebook entries.
    """

    out: Path
    steps: int = 20_000
    batch: int = 16
    lr: float = 5e-4
    seed: int = 0
    data: Literal["mocap", "random-poses"] = "mocap"
    checkpoint_every_s: float = 180.0
    eval_meshes: int = 128
    restart_dead_codes: bool = True
    log_every: int = 25


# -- data ------------------------------------------------------------------------------------------


def mocap_sampler() -> MeshSampler:
    """Canonical Anny meshes of random mocap frames (random phenotypes); splits are by capture subject."""
    from mocap.motion.dataset import MotionDataset

    dataset = MotionDataset.load()  # ConfigError naming `mocap data build` when it is not built

    def sample(split: Split, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.from_numpy(dataset.sample_canonical_meshes(split, n, rng))

    return sample


def random_pose_sampler(angle_std_rad: float = 0.25) -> MeshSampler:
    """Development data: Anny with independent random rotations on every bone, random phenotypes."""
    from scipy.spatial.transform import Rotation

    from mocap.body.anny_body import AnnyBody, random_phenotypes

    body = AnnyBody()

    def sample(split: Split, n: int, rng: np.random.Generator) -> torch.Tensor:
        rotvec = rng.normal(0.0, angle_std_rad, (n * len(body.joint_names), 3))
        pose = torch.from_numpy(Rotation.from_rotvec(rotvec).as_matrix()).float().view(n, -1, 3, 3)
        with torch.no_grad():
            return body.canonical_vertices(pose, torch.from_numpy(random_phenotypes(n, rng)))

    return sample


def make_sampler(data: str) -> MeshSampler:
    if data == "mocap":
        return mocap_sampler()
    if data == "random-poses":
        return random_pose_sampler()
    raise ConfigError(f"unknown training data {data!r}; use mocap or random-poses")


def build_anny_hierarchy(sample: MeshSampler, rng: np.random.Generator, examples: int = 256) -> MeshHierarchy:
    """The Anny hierarchy (1,700 -> 400 -> 120 -> 54) with its upsampling fitted on train meshes."""
    from mocap.body.anny_body import AnnyBody

    body = AnnyBody()
    template = body.model.template_vertices.detach().double().cpu().numpy()
    meshes = torch.cat([sample("train", 64, rng) for _ in range(examples // 64)]).double().numpy()
    return build_mapped_hierarchy(template, body.faces, ANNY_LEVEL_SIZES, meshes)


# -- metrics ---------------------------------------------------------------------------------------


def procrustes_align(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Similarity-align (B, V, 3) ``source`` onto ``target`` (rotation, scale, translation)."""
    mu_s, mu_t = source.mean(1, keepdim=True), target.mean(1, keepdim=True)
    s, t = source - mu_s, target - mu_t
    u, sigma, vh = torch.linalg.svd(s.transpose(1, 2) @ t)  # (B, 3, 3)
    d = torch.sign(torch.linalg.det(u @ vh))
    fix = torch.ones_like(sigma)
    fix[:, -1] = d
    rotation = u @ torch.diag_embed(fix) @ vh  # applied as s @ rotation
    scale = (sigma * fix).sum(1) / (s**2).sum((1, 2))
    return scale[:, None, None] * s @ rotation + mu_t


@torch.no_grad()
def evaluate(model: MeshVQVAE, meshes: torch.Tensor, batch: int = 32) -> dict[str, float]:
    """Full-mesh errors (mm) of encode -> decode on (N, V, 3) canonical meshes, plus codebook stats."""
    model.eval()
    errors, pa_errors, all_ids = [], [], []
    for start in range(0, len(meshes), batch):
        target = meshes[start : start + batch]
        target = target - target.mean(1, keepdim=True)
        ids = model.encode(target)
        recon = model.decode(ids)
        errors.append((recon - target).norm(dim=-1).mean(1))
        pa_errors.append((procrustes_align(recon, target) - target).norm(dim=-1).mean(1))
        all_ids.append(ids)
    usage, perplexity = model.vq_vae.usage(torch.cat(all_ids))
    return {
        "mean_vertex_error_mm": 1000 * float(torch.cat(errors).mean()),
        "pa_vertex_error_mm": 1000 * float(torch.cat(pa_errors).mean()),
        "codebook_usage": usage,
        "perplexity": perplexity,
        "meshes": len(meshes),
    }


# -- training --------------------------------------------------------------------------------------


def learning_rate(step: int, steps: int, peak: float, warmup: int = 200) -> float:
    """Linear warm-up then cosine decay to peak/100."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


class Trainer:
    """Trains (or resumes) one run; ``run()`` returns the held-out metrics.

    By default the Anny hierarchy and :data:`ANNY_NETWORK`; pass ``hierarchy``/``network`` (and a
    ``sampler`` of matching meshes) to train a tokenizer for another mesh.
    """

    def __init__(
        self,
        config: TrainConfig,
        sampler: MeshSampler | None = None,
        hierarchy: MeshHierarchy | None = None,
        network: MeshVQVAEConfig = ANNY_NETWORK,
    ) -> None:
        self.config = config
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.sample = sampler or make_sampler(config.data)
        self.hierarchy = hierarchy
        self.network = dataclasses.replace(network, restart_dead_codes=config.restart_dead_codes)
        config.out.mkdir(parents=True, exist_ok=True)

    @property
    def last_path(self) -> Path:
        return self.config.out / "last.pt"

    def _fresh(self) -> tuple[MeshVQVAE, np.random.Generator]:
        torch.manual_seed(self.config.seed)
        rng = np.random.default_rng(self.config.seed)
        hierarchy = self.hierarchy or build_anny_hierarchy(self.sample, rng)
        return MeshVQVAE(hierarchy, self.network), rng

    def run(self, resume: bool = False) -> dict[str, Any]:
        cfg = self.config
        state: dict[str, Any] = {}
        if resume and self.last_path.is_file():
            state = torch.load(self.last_path, map_location="cpu", weights_only=True)
            model = MeshVQVAE.from_checkpoint(state)
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng"]
            log.info("resuming %s at step %d", self.last_path, state["step"])
        else:
            model, rng = self._fresh()
        model.to(self.device).train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
        if state:
            optimizer.load_state_dict(state["optimizer"])
        step, wall_s = int(state.get("step", 0)), float(state.get("wall_s", 0.0))
        started, saved = time.monotonic(), time.monotonic()
        while step < cfg.steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, cfg.steps, cfg.lr)
            meshes = self.sample("train", cfg.batch, rng).to(self.device)
            out = model(meshes)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                lr = optimizer.param_groups[0]["lr"]
                log.info(
                    "step %d loss %.5f v2v %.2f mm perplexity %.1f lr %.2e",
                    step, out.loss.item(), 1000 * out.v2v.item(), out.perplexity.item(), lr,
                )  # fmt: skip
            if time.monotonic() - saved > cfg.checkpoint_every_s or step == cfg.steps:
                self._save_last(model, optimizer, rng, step, wall_s + time.monotonic() - started)
                saved = time.monotonic()
        wall_s += time.monotonic() - started
        return self._finish(model.cpu(), step, wall_s)

    def _save_last(
        self, model: MeshVQVAE, optimizer: torch.optim.Optimizer, rng: np.random.Generator, step: int, wall_s: float
    ) -> None:
        extra: dict[str, Any] = {
            "optimizer": optimizer.state_dict(),
            "rng": rng.bit_generator.state,
            "step": step,
            "wall_s": wall_s,
        }
        model.save(self.last_path, train_config=_jsonable(self.config), **extra)
        log.info("checkpoint %s (step %d)", self.last_path, step)

    def _finish(self, model: MeshVQVAE, step: int, wall_s: float) -> dict[str, Any]:
        eval_rng = np.random.default_rng(10_000 + self.config.seed)
        held_out = torch.cat(
            [self.sample("validation", 32, eval_rng) for _ in range(max(1, self.config.eval_meshes // 32))]
        )
        metrics: dict[str, Any] = {
            "split": "validation",
            **evaluate(model, held_out),
            "steps": step,
            "wall_s": round(wall_s, 1),
        }
        model.save(self.config.out / "tokenizer.pt", half=True, train_config=_jsonable(self.config), metrics=metrics)
        half = MeshVQVAE.load(self.config.out / "tokenizer.pt")
        metrics["float16_mean_vertex_error_mm"] = evaluate(half, held_out)["mean_vertex_error_mm"]
        (self.config.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        log.info("held-out: %s", metrics)
        return metrics


def _jsonable(config: TrainConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()}
