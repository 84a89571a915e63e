from __future__ import annotations

import pytest
import torch

from mocap.mega.sampling import argmax_tokens, sample_tokens, vertex_uncertainty
from mocap.mega.schedules import linear, num_visible_per_step

N, S = 54, 16


class RandomPredictor:
    """Logits that depend on the visible tokens (so conditioning on fixed tokens matters); records every call."""

    def __init__(self, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(N, S, generator=generator) * 3
        self.mix = torch.randn(S, S, generator=generator)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, ids: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        self.calls.append((ids.clone(), visible.clone()))
        context = (torch.nn.functional.one_hot(ids, S).float() * visible[..., None]).sum(1)  # (M, S)
        return self.table + (context @ self.mix)[:, None, :] * 0.1  # (M, N, S)


@pytest.mark.parametrize("steps", [1, 3, 5, 8])
def test_masked_count_never_increases_and_nothing_is_left_masked(steps: int) -> None:
    predict = RandomPredictor()
    ids = sample_tokens(
        predict, batch=3, num_tokens=N, steps=steps, num_samples=4, generator=torch.Generator().manual_seed(1)
    )
    assert ids.shape == (3, 4, N) and ids.dtype == torch.long
    assert len(predict.calls) == steps
    visible_counts = [int(visible.sum(1).unique().item()) for _, visible in predict.calls]
    assert visible_counts == [0, *num_visible_per_step(N, steps)[:-1]]
    for (ids_a, vis_a), (ids_b, vis_b) in zip(predict.calls, predict.calls[1:], strict=False):
        assert bool((vis_b | ~vis_a).all()), "a fixed token was re-masked"
        assert torch.equal(ids_a[vis_a], ids_b[vis_a]), "a fixed token changed"
    last_ids, last_visible = predict.calls[-1]
    assert torch.equal(ids.view(12, N)[last_visible], last_ids[last_visible])
    assert ((ids >= 0) & (ids < S)).all()


def test_one_step_equals_argmax() -> None:
    predict = RandomPredictor()
    ids = sample_tokens(
        predict, batch=2, num_tokens=N, steps=1, temperature=5.0, generator=torch.Generator().manual_seed(3)
    )
    expected = predict(torch.zeros(2, N, dtype=torch.long), torch.zeros(2, N, dtype=torch.bool)).argmax(-1)
    assert torch.equal(ids[:, 0], expected)
    assert torch.equal(argmax_tokens(predict.table.expand(2, N, S)).ids, expected)


def test_fixed_seed_reproduces_and_samples_differ() -> None:
    def run(seed: int) -> torch.Tensor:
        return sample_tokens(RandomPredictor(), 2, N, 5, num_samples=6, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    distinct = {tuple(row.tolist()) for row in a[0]}
    assert len(distinct) > 1, "K samples of one crop must not all be equal"


@pytest.mark.parametrize("confidence", ["logit", "log_softmax"])
def test_confidence_and_schedule_are_parameters(confidence: str) -> None:
    predict = RandomPredictor()
    ids = sample_tokens(predict, 1, N, steps=4, schedule=linear, confidence=confidence, num_samples=2)  # type: ignore[arg-type]
    assert ids.shape == (1, 2, N)
    assert [int(v.sum(1)[0]) for _, v in predict.calls] == [0, *num_visible_per_step(N, 4, linear)[:-1]]


def test_zero_temperature_is_greedy_and_deterministic_across_samples() -> None:
    ids = sample_tokens(RandomPredictor(), 1, N, steps=5, temperature=0.0, num_samples=3)
    assert torch.equal(ids[0, 0], ids[0, 1]) and torch.equal(ids[0, 1], ids[0, 2])


def test_argmax_uncertainty_ranges() -> None:
    certain = torch.full((1, N, S), -30.0)
    certain[..., 5] = 30.0
    flat = torch.zeros(1, N, S)
    out = argmax_tokens(torch.cat([certain, flat]))
    assert out.ids[0].eq(5).all()
    assert out.probability[0].min() > 0.999 and out.probability[1].max() == pytest.approx(1 / S)
    assert out.uncertainty[0] < 1e-3 and out.uncertainty[1] == pytest.approx(1.0)


def test_vertex_uncertainty_is_mean_distance_to_the_mean() -> None:
    samples = torch.zeros(1, 2, 3, 3)
    samples[0, 0, :, 0] = 1.0  # two samples 2 apart along x: each is 1 from their mean
    samples[0, 1, :, 0] = -1.0
    samples[0, :, 2] = 0.0  # vertex 2: no spread
    assert torch.allclose(vertex_uncertainty(samples), torch.tensor([[1.0, 1.0, 0.0]]))
    assert vertex_uncertainty(torch.randn(4, 5, 7, 3)).shape == (4, 7)


def test_first_logits_replace_the_first_pass_and_change_nothing() -> None:
    """The all-masked pass is the same for every sample, so a caller's argmax logits can stand in for it."""
    predict = RandomPredictor()
    first = predict(torch.zeros(3, N, dtype=torch.long), torch.zeros(3, N, dtype=torch.bool))  # (3, N, S)
    predict.calls.clear()
    reused = sample_tokens(
        predict, 3, N, steps=5, num_samples=4, generator=torch.Generator().manual_seed(2), first_logits=first
    )
    assert len(predict.calls) == 4 and int(predict.calls[0][1].sum(1)[0]) > 0  # the empty pass was skipped
    full = sample_tokens(RandomPredictor(), 3, N, steps=5, num_samples=4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(reused, full)


def test_drawn_tokens_follow_the_softmax_at_the_step_temperature() -> None:
    """Gumbel-max over the masked slots is a categorical draw. 4 tokens, 2 steps: step 0 fixes one token drawn at
    temperature 2 x anneal(1/2) = 1, step 1 (temperature 0) fills the rest greedily. Slot 0's logits are all raised
    by 100 (the same softmax) so that its draw is always the most confident and is the one fixed."""
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0])
    table = logits + torch.tensor([100.0, 0.0, 0.0, 0.0])[:, None]  # (slots, ids)
    samples = sample_tokens(
        lambda ids, visible: table.expand(len(ids), 4, 4),
        batch=1,
        num_tokens=4,
        steps=2,
        temperature=2.0,
        num_samples=20_000,
        generator=torch.Generator().manual_seed(0),
    )[0]  # (K, 4)
    drawn = torch.bincount(samples[:, 0], minlength=4).float() / len(samples)
    torch.testing.assert_close(drawn, logits.softmax(0), atol=0.012, rtol=0)
    assert (samples[:, 1:] == 3).all()  # the greedy rest
