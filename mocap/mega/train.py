"""Training MEGA: mesh-only pre-training and conditioned training, one loop, resumable and seeded.

Stage 1 (pre-training, ``MegaConfig.cond == "none"``): token sequences of meshes alone, cross-entropy on the masked
tokens, one mask ratio per batch from the cosine schedule (``schedules.training_num_visible``).
Stage 2 (conditioned): the same CE + rotation MSE (6D -> matrix vs GT) + L1 reprojection of the canonical keypoints
rotated by the predicted R and projected by the predicted weak-perspective camera, weighted by 2-D confidence.
Optimiser as in the reference: AdamW, lr = base_lr * batch / 256, betas (0.9, 0.95), weight decay 0.05, linear
warm-up then cosine decay (per step here, per epoch there).

Data enter through a ``BatchSource``: ``source(step) -> TrainingBatch``. A source that derives its batch from
``step`` alone (seeded) makes a resumed run see exactly the batches it would have seen. The trainer's own randomness
(mask draws) is also seeded per step, so a resumed run equals an uninterrupted one.

Example:
    >>> trainer = Trainer(Mega(MegaConfig.tiny()), source, TrainConfig(steps=100), Path("mega.pt"))  # doctest: +SKIP
    >>> history = trainer.fit()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from mocap.body.rotations import rotation_6d_to_matrix
from mocap.devices import resolve_device
from mocap.errors import CheckpointError, ModelNotFoundError
from mocap.mega.backbones import BackboneConfig
from mocap.mega.geometry import weak_perspective_project
from mocap.mega.model import Mega, MegaConfig
from mocap.mega.schedules import Schedule, cosine, training_num_visible

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingBatch:
    """One batch of B examples; conditioning fields are None in pre-training.

    ids: (B, N) long, GT tokens of the canonical (vertex-mean-centred) mesh.
    cond: (B, 33, F) landmark features or (B, 3, H, W) crops.
    rotation_6d: (B, 6) GT rotation canonical -> camera (first two rows).
    keypoints_canonical_m: (B, J, 3) keypoints of the GT canonical mesh, metres.
    keypoints_crop: (B, J, 3) their GT 2-D position in crop coordinates [-1, 1] and a confidence.
    """

    ids: torch.Tensor
    cond: torch.Tensor | None = None
    rotation_6d: torch.Tensor | None = None
    keypoints_canonical_m: torch.Tensor | None = None
    keypoints_crop: torch.Tensor | None = None

    def to(self, device: torch.device) -> TrainingBatch:
        def move(value: torch.Tensor | None) -> torch.Tensor | None:
            return None if value is None else value.to(device)

        return TrainingBatch(self.ids.to(device), *(move(getattr(self, f.name)) for f in dataclasses.fields(self)[1:]))


BatchSource = Callable[[int], TrainingBatch]
# ids (B, N) -> keypoints (B, J, 3) of the decoded canonical mesh (tokenizer decode + keypoint regressor).
KeypointDecoder = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TokenGeometry:
    """What token choices mean as a body, for the geometric loss: the frozen tokenizer's ``codebook`` (S, C) and
    ``keypoints``: code embeddings (B, N, C) -> keypoints (B, J, 3) of the decoded canonical mesh (differentiable)."""

    codebook: torch.Tensor
    keypoints: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``base_lr`` is per 256 examples (the reference: 1e-3, i.e. 6.25e-5 at batch 16)."""

    steps: int = 20_000
    base_lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    warmup_steps: int = 800  # the reference warms up 20 of 500 epochs (4 %)
    rotation_weight: float = 1.0
    reprojection_weight: float = 1.0
    geometry_weight: float = 0.0  # keypoint error (metres) of the decoded argmax mesh, straight-through
    grad_clip: float | None = 1.0
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when available, else CPU


class Losses(NamedTuple):
    total: torch.Tensor
    cross_entropy: torch.Tensor
    rotation: torch.Tensor
    reprojection: torch.Tensor
    geometry: torch.Tensor


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to 1, then half-cosine to 0: min((s+1)/warmup, (1 + cos(pi s / total)) / 2)."""
    return min((step + 1) / max(warmup_steps, 1), 0.5 * (math.cos(math.pi * step / max(total_steps, 1)) + 1.0))


def random_visible(
    batch: int, num_tokens: int, schedule: Schedule, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B, N) bool: one visible count per batch (at most N - 1, so CE always has a target), random positions per row."""
    num_visible = min(training_num_visible(num_tokens, schedule, generator), num_tokens - 1)
    order = torch.rand(batch, num_tokens, generator=generator).argsort(dim=1)[:, :num_visible]  # (B, n)
    return torch.zeros(batch, num_tokens, dtype=torch.bool).scatter_(1, order, True).to(device)


def mega_losses(
    model: Mega,
    batch: TrainingBatch,
    generator: torch.Generator,
    config: TrainConfig,
    schedule: Schedule = cosine,
    decode_keypoints: KeypointDecoder | None = None,
    geometry: TokenGeometry | None = None,
) -> Losses:
    """Masked-token CE, plus rotation and reprojection losses when the batch carries their targets.

    Reprojection keypoints: ``batch.keypoints_canonical_m`` (GT shape), or, with ``decode_keypoints``, those of the
    mesh decoded from argmax tokens merged with the visible GT tokens, without gradient (the reference's choice),
    so this loss trains only the rotation/camera head.

    Geometry (not in the reference; with ``geometry`` and ``config.geometry_weight`` > 0): mean keypoint distance
    (metres) between the mesh decoded from the argmax tokens (visible tokens from GT) and the GT keypoints. The
    forward pass uses the hard argmax, the gradient the softmax (straight-through), so the loss scores exactly
    the mesh deterministic mode outputs, and teaches which wrong codes are close in shape, which CE cannot.
    """
    B, N = batch.ids.shape
    visible = random_visible(B, N, schedule, generator, batch.ids.device)
    out = model(batch.ids, visible, batch.cond)
    cross_entropy = F.cross_entropy(out.logits[~visible], batch.ids[~visible])
    zero = cross_entropy.new_zeros(())
    rotation = reprojection = zero
    if out.rotation_6d is not None and batch.rotation_6d is not None:
        R_pred = rotation_6d_to_matrix(out.rotation_6d)  # (B, 3, 3)
        rotation = F.mse_loss(R_pred, rotation_6d_to_matrix(batch.rotation_6d))
        if out.camera is not None and batch.keypoints_crop is not None:
            if decode_keypoints is not None:
                with torch.no_grad():
                    keypoints = decode_keypoints(torch.where(visible, batch.ids, out.logits.argmax(-1)))
            elif batch.keypoints_canonical_m is not None:
                keypoints = batch.keypoints_canonical_m
            else:
                raise ValueError("reprojection needs keypoints_canonical_m in the batch or a decode_keypoints")
            projected = weak_perspective_project(keypoints @ R_pred.transpose(1, 2), out.camera)  # (B, J, 2)
            target, confidence = batch.keypoints_crop[..., :2], batch.keypoints_crop[..., 2:]
            reprojection = ((projected - target).abs() * confidence).mean()
    geometric = zero
    if geometry is not None and config.geometry_weight > 0 and batch.keypoints_canonical_m is not None:
        probability = out.logits.softmax(dim=-1)  # (B, N, S)
        codes = probability.shape[-1]
        hard = F.one_hot(probability.argmax(dim=-1), codes).to(probability.dtype)
        choice = hard + probability - probability.detach()  # straight-through
        choice = torch.where(visible[..., None], F.one_hot(batch.ids, codes).to(choice.dtype), choice)
        keypoints = geometry.keypoints(choice @ geometry.codebook)  # (B, J, 3)
        geometric = (keypoints - batch.keypoints_canonical_m).norm(dim=-1).mean()
    total = (
        cross_entropy
        + config.rotation_weight * rotation
        + config.reprojection_weight * reprojection
        + config.geometry_weight * geometric
    )
    return Losses(total, cross_entropy, rotation, reprojection, geometric)


def init_from_pretrained(model: Mega, state: Mapping[str, torch.Tensor]) -> None:
    """Stage-2 start: copy a pre-training (VQMAE-layout) state dict into a conditioned model.

    Unlike the reference's ``strict=False``, every pre-trained key must land in ``model`` with its shape;
    only the conditioning, rotation/camera and backbone weights stay freshly initialised.
    """
    target = model.state_dict()
    bad = sorted(k for k, v in state.items() if k not in target or target[k].shape != v.shape)
    if bad:
        raise CheckpointError(
            f"{len(bad)} pre-trained key(s) do not fit this model: {', '.join(bad[:10])}. "
            "Pre-train with the same emb_dim, layers and heads as the conditioned config."
        )
    model.load_state_dict(dict(state), strict=False)


def config_from_dict(values: Mapping[str, Any]) -> MegaConfig:
    """Inverse of ``dataclasses.asdict(MegaConfig)`` (checkpoints store configs as plain dicts)."""

    def tuples(fields: Mapping[str, Any]) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}

    values = tuples(values)
    if values.get("backbone") is not None:
        values["backbone"] = BackboneConfig(**tuples(values["backbone"]))
    return MegaConfig(**values)


class Trainer:
    """Trains one ``Mega`` from a ``BatchSource``; ``fit()`` resumes from ``checkpoint_path`` when it exists."""

    def __init__(
        self,
        model: Mega,
        source: BatchSource,
        config: TrainConfig,
        checkpoint_path: Path,
        schedule: Schedule = cosine,
        decode_keypoints: KeypointDecoder | None = None,
        geometry: TokenGeometry | None = None,
    ) -> None:
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.source, self.config, self.schedule = source, config, schedule
        self.checkpoint_path = Path(checkpoint_path)
        self.decode_keypoints = decode_keypoints
        self.geometry = geometry
        self.step = 0
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.base_lr, betas=config.betas, weight_decay=config.weight_decay
        )
        if self.checkpoint_path.exists():
            self._load()

    def lr(self, batch_size: int) -> float:
        base = self.config.base_lr * batch_size / 256
        return base * lr_factor(self.step, self.config.warmup_steps, self.config.steps)

    def train_step(self) -> Losses:
        """One optimisation step on ``source(step)``; returns its (detached) losses."""
        batch = self.source(self.step).to(self.device)
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(batch.ids.shape[0])
        self.model.train()
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # dropout draws seeded per step too, global RNG untouched
            torch.manual_seed(self.config.seed * 1_000_003 + self.step)
            losses = mega_losses(
                self.model, batch, generator, self.config, self.schedule, self.decode_keypoints, self.geometry
            )
        self.optimizer.zero_grad(set_to_none=True)
        losses.total.backward()
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return Losses(*(loss.detach() for loss in losses))

    def fit(self, until: int | None = None) -> list[Losses]:
        """Train up to step ``until`` (default ``config.steps``), checkpointing periodically and at the end."""
        until = self.config.steps if until is None else until
        history = []
        while self.step < until:
            losses = self.train_step()
            history.append(losses)
            if self.step % self.config.checkpoint_every == 0 or self.step == until:
                self.save()
                log.info(
                    "step %d: loss %.4f (ce %.4f, rot %.4f, reproj %.4f, geometry %.4f)", self.step, *map(float, losses)
                )
        return history

    def save(self) -> None:
        """Atomic checkpoint: written next to the target, then renamed over it (a crash keeps the previous one)."""
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "mega_config": dataclasses.asdict(self.model.config),
            "train_config": dataclasses.asdict(self.config),
        }
        partial = self.checkpoint_path.with_name(self.checkpoint_path.name + ".partial")
        torch.save(checkpoint, partial)
        os.replace(partial, self.checkpoint_path)

    def _load(self) -> None:
        checkpoint = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        saved = config_from_dict(checkpoint["mega_config"])
        if saved != self.model.config:
            raise CheckpointError(
                f"{self.checkpoint_path} was trained with {saved}, not {self.model.config}; "
                "use the same model config or a new checkpoint path"
            )
        self.model.load_state_dict(checkpoint["model"], strict=True)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.step = int(checkpoint["step"])
        log.info("resumed %s at step %d", self.checkpoint_path, self.step)


def load_trained(path: Path) -> Mega:
    """A model saved by ``Trainer`` (config read from the checkpoint), in eval mode."""
    if not Path(path).is_file():
        raise ModelNotFoundError(f"MEGA checkpoint {path} not found; train one with `mocap train mega` or fix the path")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = Mega(config_from_dict(checkpoint["mega_config"]))
    model.load_state_dict(checkpoint["model"], strict=True)
    return model.eval()
