"""MaskGIT-style decoding of mesh tokens: one loop, schedule and temperature as parameters.

``sample_tokens`` is the only sampling loop. Deterministic mode is ``steps=1`` (one pass, argmax);
stochastic mode is K samples in 5 steps (MEGA paper §3.4). Conditioning variants are different
``predict`` callables, never flags in the loop.

Example:
    >>> predict = lambda ids, visible: torch.randn(*ids.shape, 512)
    >>> sample_tokens(predict, batch=2, steps=5, num_samples=3).shape
    torch.Size([2, 3, 54])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from mocap.mega.schedules import Schedule, cosine, num_visible_per_step

# predict(ids (M, N) long, visible (M, N) bool) -> logits (M, N, S); masked ids are ignored by the model.
Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Confidence = Literal["logit", "log_softmax"]


def linear_anneal(progress: float) -> float:
    """Temperature factor after a step at ``progress`` = (step + 1) / steps: 1 - progress (0 at the last step)."""
    return 1.0 - progress


def gumbel_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise of ``shape`` (float32, CPU; callers move it)."""
    u = torch.rand(shape, generator=generator).clamp_(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def sample_tokens(
    predict: Predictor,
    batch: int,
    num_tokens: int = 54,
    steps: int = 5,
    schedule: Schedule = cosine,
    temperature: float = 1.0,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
    anneal: Callable[[float], float] = linear_anneal,
    confidence: Confidence = "logit",
    device: torch.device | str = "cpu",
    first_logits: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fill all ``num_tokens`` masked tokens in ``steps`` passes; returns ids (batch, num_samples, num_tokens).

    ``predict`` sees batch * num_samples rows, sample-major within each batch item (row = b * K + k), so a
    caller repeats its conditioning with ``repeat_interleave(num_samples, 0)``. After step s (progress
    r = (s+1)/steps) the ``num_visible_per_step`` most confident tokens are fixed; the rest are re-masked.
    Sampling uses Gumbel noise scaled by ``temperature * anneal(r)``, which is 0 at the last step (no noise is
    drawn then), so ``steps=1`` is exactly one pass + argmax. ``confidence`` ranks by the raw logit of the sampled id
    (MEGA's choice, for parity) or its log-softmax (MaskGIT's).

    ``first_logits`` (batch, N, S): the caller's all-masked pass (the argmax pass). The first step sees no
    token, so its logits are the same for every sample of an item: given them, the loop repeats them K times
    instead of predicting (batch * K) rows again, one pass of ``steps`` saved.
    """
    rows = batch * num_samples
    ids = torch.zeros(rows, num_tokens, dtype=torch.long, device=device)
    visible = torch.zeros(rows, num_tokens, dtype=torch.bool, device=device)
    shown = 0  # visible tokens per row, the same in every row
    for step, num_visible in enumerate(num_visible_per_step(num_tokens, steps, schedule)):
        if step == 0 and first_logits is not None:
            logits = first_logits.float().repeat_interleave(num_samples, 0)  # (M, N, S)
        else:
            logits = predict(ids, visible).float()  # (M, N, S)
        # Only the n = N - shown masked slots of each row are drawn and ranked (visible ones are fixed).
        masked = (~visible).nonzero()[:, 1].view(rows, num_tokens - shown)  # (M, n) slots, in order
        logits = logits[~visible].view(rows, num_tokens - shown, -1)  # (M, n, S)
        temp = temperature * anneal((step + 1) / steps)
        noisy = logits + temp * gumbel_noise(logits.shape, generator).to(logits.device) if temp else logits
        sampled = noisy.argmax(dim=-1)  # (M, n)
        scores = logits if confidence == "logit" else logits.log_softmax(dim=-1)
        score = scores.gather(-1, sampled.unsqueeze(-1)).squeeze(-1)  # (M, n)
        if temp:
            score = score + temp * gumbel_noise(score.shape, generator).to(score.device)
        best = score.topk(num_visible - shown, dim=-1).indices  # (M, num_visible - shown): the most confident
        fixed = masked.gather(1, best)  # (M, num_visible - shown) token slots
        ids = ids.scatter(1, fixed, sampled.gather(1, best))
        visible = visible.scatter(1, fixed, True)
        shown = num_visible
    return ids.view(batch, num_samples, num_tokens)


@dataclass(frozen=True)
class ArgmaxTokens:
    """The deterministic prediction with a cheap uncertainty signal for the sampling policy.

    ids: (B, N) token ids. probability: (B, N) softmax probability of each chosen id.
    uncertainty: (B,) mean token entropy divided by log(S), in [0, 1] (0 = every token certain).
    """

    ids: torch.Tensor
    probability: torch.Tensor
    uncertainty: torch.Tensor


def argmax_tokens(logits: torch.Tensor) -> ArgmaxTokens:
    """Argmax ids of logits (B, N, S) with per-token probability and per-crop normalised entropy."""
    log_p = logits.float().log_softmax(dim=-1)  # (B, N, S)
    best_log_p, ids = log_p.max(dim=-1)  # (B, N)
    entropy = -(log_p.exp() * log_p).sum(dim=-1)  # (B, N) nats
    uncertainty = entropy.mean(dim=-1) / math.log(logits.shape[-1])
    return ArgmaxTokens(ids=ids, probability=best_log_p.exp(), uncertainty=uncertainty)


def vertex_uncertainty(samples: torch.Tensor) -> torch.Tensor:
    """Per-vertex spread of decoded samples (B, K, V, 3) -> (B, V): mean distance of the K samples to their mean.

    The MEGA paper's per-vertex "std" (a mean absolute deviation), in the units of the input (metres here).
    """
    mean = samples.mean(dim=1, keepdim=True)  # (B, 1, V, 3)
    return (samples - mean).norm(dim=-1).mean(dim=1)
