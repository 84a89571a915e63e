"""The MEGA stage of the pipeline: ``Crops`` -> ``TokenPredictions`` (one verb, ``predict``).

Per call: one conditioning pass, one argmax pass (ids, per-token probability, per-crop uncertainty, rotation and
camera), and, when the caller (the sampling policy) asks for ``num_samples`` K > 0, K stochastic samples per crop
in ``SamplingConfig.steps`` steps sharing that conditioning. Landmark MEGA only: ``Crops`` carry landmarks, not
pixels.

Example:
    >>> predictor = MegaPredictor(load_trained(Path("models/mega_anny/mega.pt")))  # doctest: +SKIP
    >>> predictions = predictor.predict(crops, num_samples=16)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from mocap.errors import ConfigError
from mocap.mega.conditioning import landmark_features
from mocap.mega.model import Mega
from mocap.mega.sampling import argmax_tokens, sample_tokens
from mocap.mega.schedules import SCHEDULES
from mocap.types import Crops, TokenPredictions


@dataclass(frozen=True)
class SamplingConfig:
    """Stochastic mode settings (MEGA paper: 5 steps, cosine schedule, temperature 1, raw-logit confidence)."""

    steps: int = 5
    schedule: Literal["cosine", "linear", "arccos"] = "cosine"
    temperature: float = 1.0
    confidence: Literal["logit", "log_softmax"] = "logit"
    seed: int = 0


class MegaPredictor:
    """Runs a landmark-conditioned ``Mega`` on crops; reproducible sampling from ``SamplingConfig.seed``.

    With the tokenizer's ``codebook`` (S, C), predictions also carry the expected code embeddings of the argmax
    pass (``TokenPredictions.embeddings``), which decode to the deterministic mesh of ``decode="expected"``.
    """

    def __init__(
        self,
        model: Mega,
        config: SamplingConfig | None = None,
        device: str | torch.device = "cpu",
        codebook: torch.Tensor | None = None,
    ) -> None:
        if model.config.cond != "landmarks":
            raise ConfigError(f"MegaPredictor needs a landmark-conditioned MEGA, this one is {model.config.cond!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config or SamplingConfig()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.codebook = None if codebook is None else codebook.detach().float().to(self.device)
        # With every token masked (the argmax pass) the encoder sees only its class token, so its output is a
        # constant of the weights: features (1, 1, D) and order (1, N), computed once here instead of per call.
        nothing = torch.zeros(1, model.config.seq_length, dtype=torch.bool, device=self.device)
        with torch.inference_mode():
            self.masked_encoding = self.model.encoder(nothing.long(), nothing)

    @torch.inference_mode()
    def predict(self, crops: Crops, num_samples: int = 0) -> TokenPredictions:
        """Argmax answer for every crop, plus ``num_samples`` samples each when > 0."""
        n, N = len(crops), self.model.config.seq_length
        world = torch.from_numpy(crops.landmarks_world_m) if self.model.config.cond_dim == 6 else None
        features = landmark_features(torch.from_numpy(crops.landmarks_crop), world).float().to(self.device)
        condition = self.model.condition(features)  # tokens (n, 33, D), pooled (n, 33 F)
        features, order = self.masked_encoding
        logits = self.model.decoder(features.expand(n, -1, -1), order.expand(n, -1), condition.tokens)  # (n, N, S)
        argmax = argmax_tokens(logits)
        embeddings = None if self.codebook is None else logits.softmax(dim=-1) @ self.codebook  # (n, N, C)
        rotation_6d, camera = self.model.rotcam(condition)
        samples = None
        if num_samples > 0 and n > 0:
            tokens = condition.tokens.repeat_interleave(num_samples, 0)  # (n K, 33, D), row = crop * K + sample
            samples = sample_tokens(
                lambda ids, visible: self.model.logits(ids, visible, tokens),
                n,
                N,
                steps=self.config.steps,
                schedule=SCHEDULES[self.config.schedule],
                temperature=self.config.temperature,
                num_samples=num_samples,
                generator=self.generator,
                confidence=self.config.confidence,
                device=self.device,
                first_logits=logits,  # the argmax pass is the first step's all-masked pass
            )
        return TokenPredictions(
            track_id=crops.track_id,
            ids=argmax.ids.cpu().numpy().astype(np.int64),
            confidence=argmax.probability.cpu().numpy().astype(np.float32),
            rotation_6d=rotation_6d.cpu().numpy().astype(np.float32),
            camera=camera.cpu().numpy().astype(np.float32),
            uncertainty=argmax.uncertainty.cpu().numpy().astype(np.float32),
            samples=None if samples is None else samples.cpu().numpy().astype(np.int64),
            embeddings=None if embeddings is None else embeddings.cpu().numpy().astype(np.float32),
        )
