"""The embedded model's training recipe: stage 1 (mesh-only pre-training) then stage 2 (synthetic landmark crops).

``train_mega(MegaRecipe(...))`` wires the motion dataset, the frozen Anny tokenizer and the ``Trainer`` together;
``mocap train mega`` is a thin flag binding over it. Outputs in ``out``: ``last.pt`` (resumable, atomic),
``mega.pt`` (the final weights + config, loadable with ``train.load_trained``) and ``metrics.json``.

Example:
    >>> train_mega(MegaRecipe(out=Path("runs/pre"), stage="pretrain", steps=20_000))  # doctest: +SKIP
    >>> train_mega(MegaRecipe(out=Path("runs/cond"), init=Path("runs/pre/mega.pt")))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch

from mocap.devices import resolve_device
from mocap.errors import ConfigError
from mocap.mega.data import (
    MeshTokenSource,
    anny_landmarks,
    decoded_landmarks,
    motion_mesh_sampler,
    token_geometry,
)
from mocap.mega.model import Mega, MegaConfig
from mocap.mega.rendered import RenderedExamples, RenderedSource
from mocap.mega.synthetic import LandmarkSynthesis
from mocap.mega.train import (
    BatchSource,
    Losses,
    TrainConfig,
    Trainer,
    init_from_pretrained,
    load_trained,
)

log = logging.getLogger(__name__)

DEFAULT_TOKENIZER = Path("models/tokenizer_anny/tokenizer.pt")
PRESETS = {
    "anny-landmarks-cpu": MegaConfig.anny_landmarks_cpu,
    "anny-landmarks-small": MegaConfig.anny_landmarks_small,
    "tiny": MegaConfig.tiny,
}


@dataclass(frozen=True)
class MegaRecipe:
    """One training run of the embedded MEGA (see module docstring for the files it writes)."""

    out: Path
    stage: Literal["pretrain", "conditioned"] = "conditioned"
    preset: str = "anny-landmarks-small"
    tokenizer: Path = DEFAULT_TOKENIZER
    init: Path | None = None  # stage 2: a stage-1 mega.pt to start from
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    batch_size: int = 64
    reproject_decoded: bool = False  # reprojection on the decoded argmax mesh (reference) vs the GT mesh
    renders: Path | None = None  # stage 2: a `mocap data renders` folder of MediaPipe-measured examples ...
    render_fraction: float = 0.5  # ... making up this share of every batch
    mirror_fraction: float = 0.0  # ... of which this share is seen in a mirror (``RenderedExamples.mirrored``)
    tumble_fraction: float = 0.0  # synthetic crops turned by a uniform random rotation (LandmarkSynthesis)
    stop_at: int | None = None  # stop (checkpointed) at this step, before the schedule's end
    resume: bool = False

    def model_config(self) -> MegaConfig:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown MEGA preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[self.preset]()
        return replace(config, cond="none", cond_dim=0, cond_length=0) if self.stage == "pretrain" else config


def train_mega(recipe: MegaRecipe) -> dict[str, Any]:
    """Run (or resume) ``recipe``; returns the metrics it also writes to ``out/metrics.json``."""
    from mocap.tokenizer.model import MeshVQVAE

    last = recipe.out / "last.pt"
    if last.exists() and not recipe.resume:
        raise ConfigError(f"{last} exists; pass --resume to continue it or choose a new --out")
    if recipe.renders is not None and recipe.stage != "conditioned":
        raise ConfigError("--renders adds landmark examples: use it with --stage conditioned")
    tokenizer = MeshVQVAE.load(recipe.tokenizer)
    config = recipe.model_config()
    conditioned = recipe.stage == "conditioned"
    source: BatchSource = MeshTokenSource(
        motion_mesh_sampler("train"),
        tokenizer.encode,
        recipe.batch_size,
        landmarks=anny_landmarks() if conditioned else None,
        # 6 = crop xy, visibility, world xyz
        synthesis=LandmarkSynthesis(with_world=config.cond_dim == 6, tumble_fraction=recipe.tumble_fraction),
        seed=recipe.train.seed,
    )
    if recipe.renders is not None:
        examples = RenderedExamples.load_folder(recipe.renders)
        examples = replace(examples, cond=examples.cond[..., : config.cond_dim])  # 3 = without world landmarks
        source = RenderedSource(source, examples, recipe.render_fraction, recipe.train.seed, recipe.mirror_fraction)
    torch.manual_seed(recipe.train.seed)
    model = Mega(config)
    if recipe.init is not None and not last.exists():
        init_from_pretrained(model, load_trained(recipe.init).state_dict())
        log.info("stage 2 starts from %s", recipe.init)
    # The losses decode on the training device; the batch source keeps tokenizing on the CPU with `tokenizer`.
    device = resolve_device(recipe.train.device)
    decoder = None
    if recipe.reproject_decoded:
        decoder = decoded_landmarks(copy.deepcopy(tokenizer).to(device).eval().decode, anny_landmarks())
    geometry = token_geometry(tokenizer, device) if recipe.train.geometry_weight > 0 else None
    trainer = Trainer(model, source, recipe.train, last, decode_keypoints=decoder, geometry=geometry)
    start, started = trainer.step, time.perf_counter()
    history = trainer.fit(until=recipe.stop_at)
    wall_s = time.perf_counter() - started
    shutil.copyfile(last, recipe.out / "mega.pt.partial")
    (recipe.out / "mega.pt.partial").replace(recipe.out / "mega.pt")
    tail = history[-50:]
    metrics = {
        "stage": recipe.stage,
        "preset": recipe.preset,
        "steps": trainer.step,
        "steps_this_run": trainer.step - start,
        "wall_s": round(wall_s, 1),
        "s_per_step": round(wall_s / max(len(history), 1), 3),
        "final_losses": {
            name: round(float(torch.stack([getattr(losses, name) for losses in tail]).mean()), 4) if tail else None
            for name in Losses._fields
        },
        "train_config": {k: v for k, v in dataclasses.asdict(recipe.train).items()},
        "batch_size": recipe.batch_size,
        "tokenizer": str(recipe.tokenizer),
        "init": None if recipe.init is None else str(recipe.init),
        "renders": None if recipe.renders is None else str(recipe.renders),
        "render_fraction": recipe.render_fraction if recipe.renders is not None else 0.0,
        "mirror_fraction": recipe.mirror_fraction if recipe.renders is not None else 0.0,
        "tumble_fraction": recipe.tumble_fraction,
    }
    (recipe.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
