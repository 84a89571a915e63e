"""Mask-ratio schedules shared by training and sampling.

A schedule maps progress ``t`` in [0, 1] to the fraction of tokens that are masked: 1 at t=0 (all
masked), 0 at t=1 (all visible). Training draws its ratio from the same function as the sampler
(``ratio = schedule(U[0, 1))``), so training and inference agree by construction (MaskGIT, MUSE, MEGA).

Example:
    >>> num_visible_per_step(54, 5, cosine)
    [2, 10, 22, 37, 54]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Schedule = Callable[[float], float]


def cosine(t: float) -> float:
    """MEGA/MaskGIT cosine schedule: mask ratio cos(pi t / 2)."""
    return math.cos(math.pi * t / 2)


def linear(t: float) -> float:
    """Linear schedule: mask ratio 1 - t (the MEGA paper's weaker ablation)."""
    return 1.0 - t


def arccos(t: float) -> float:
    """MaskGIT's arccos schedule: mask ratio arccos(t) / (pi / 2)."""
    return math.acos(min(max(t, -1.0), 1.0)) / (math.pi / 2)


SCHEDULES: dict[str, Schedule] = {"cosine": cosine, "linear": linear, "arccos": arccos}


def num_visible_per_step(num_tokens: int, steps: int, schedule: Schedule = cosine) -> list[int]:
    """Tokens fixed (visible) after each of ``steps`` sampling steps.

    The MEGA paper's count n_t = floor(N (1 - schedule(t / T))), made non-decreasing and forced to N at
    the last step so that every token is filled (the reference code leaves one masked; we do not).
    Cosine, N=54, T=5 gives [2, 10, 22, 37, 54], i.e. 52, 44, 32, 17, 0 masked.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    counts = [math.floor(num_tokens * (1.0 - schedule(step / steps)) + 1e-9) for step in range(1, steps)]
    counts = [min(max(c, 0), num_tokens) for c in counts] + [num_tokens]
    for i in range(1, steps):  # a schedule that is not monotone must never re-mask tokens
        counts[i] = max(counts[i], counts[i - 1])
    return counts


def training_num_visible(num_tokens: int, schedule: Schedule = cosine, generator: torch.Generator | None = None) -> int:
    """Visible-token count for one training batch: ratio = schedule(U[0, 1)), visible = int(N (1 - ratio))."""
    u = float(torch.rand((), generator=generator))
    return int(num_tokens * (1.0 - schedule(u)))
