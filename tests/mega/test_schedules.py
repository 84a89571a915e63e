from __future__ import annotations

import itertools
import math

import pytest
import torch

from mocap.mega.schedules import arccos, cosine, linear, num_visible_per_step, training_num_visible


@pytest.mark.parametrize("schedule", [cosine, linear, arccos])
def test_schedules_run_from_all_masked_to_none(schedule) -> None:
    assert schedule(0.0) == pytest.approx(1.0)
    assert schedule(1.0) == pytest.approx(0.0, abs=1e-12)
    values = [schedule(t / 10) for t in range(11)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_cosine_and_arccos_midpoints() -> None:
    assert cosine(0.5) == pytest.approx(math.sqrt(0.5))
    assert arccos(0.5) == pytest.approx(2 / 3)  # acos(1/2) = pi/3


def test_paper_counts_for_54_tokens_in_5_steps() -> None:
    # n_t = floor(54 (1 - cos(pi t / 10))): 54*0.04894=2.64, 54*0.19098=10.31, 54*0.41221=22.26, 54*0.69098=37.31
    assert num_visible_per_step(54, 5, cosine) == [2, 10, 22, 37, 54]
    masked = [54 - n for n in num_visible_per_step(54, 5, cosine)]
    assert masked == [52, 44, 32, 17, 0]
    # linear: floor(54 t / 5) = 10.8, 21.6, 32.4, 43.2
    assert num_visible_per_step(54, 5, linear) == [10, 21, 32, 43, 54]


def test_one_step_fills_everything_and_steps_are_checked() -> None:
    assert num_visible_per_step(54, 1) == [54]
    counts = num_visible_per_step(54, 100)
    assert counts[-1] == 54 and all(a <= b for a, b in itertools.pairwise(counts))
    with pytest.raises(ValueError, match="steps"):
        num_visible_per_step(54, 0)


def test_training_count_follows_the_cosine_of_a_uniform_draw() -> None:
    generator = torch.Generator().manual_seed(0)
    u = float(torch.rand((), generator=torch.Generator().manual_seed(0)))
    assert training_num_visible(54, cosine, generator) == int(54 * (1 - math.cos(math.pi / 2 * u)))
    draws = [training_num_visible(54, cosine, generator) for _ in range(2000)]
    assert min(draws) == 0 and max(draws) >= 50
    # cos(pi u / 2) masks more than half the tokens for u < 2/3: mean visible fraction = 1 - 2/pi = 0.363
    assert sum(draws) / len(draws) / 54 == pytest.approx(1 - 2 / math.pi, abs=0.03)
