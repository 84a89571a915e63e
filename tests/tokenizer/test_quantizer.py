from __future__ import annotations

import math

import torch

from mocap.tokenizer.quantizer import VectorQuantizerEMA


def _quantizer() -> VectorQuantizerEMA:
    vq = VectorQuantizerEMA(num_embeddings=2, embedding_dim=1, decay=0.9, epsilon=0.0)
    with torch.no_grad():
        vq._embedding.weight.copy_(torch.tensor([[0.0], [1.0]]))
        vq._ema_w.copy_(torch.tensor([[0.0], [1.0]]))
    return vq


def test_ema_update_by_hand() -> None:
    vq = _quantizer().train()
    z = torch.tensor([[[0.2], [0.9], [1.3]]])  # (B=1, N=3, L=1): codes 0, 1, 1
    out = vq(z)
    assert out.ids.tolist() == [[0, 1, 1]]
    # cluster size: 0.9*0 + 0.1*[1, 2] = [0.1, 0.2] (epsilon 0: smoothing is the identity)
    torch.testing.assert_close(vq._ema_cluster_size, torch.tensor([0.1, 0.2]))
    # ema_w: 0.9*[0, 1] + 0.1*[0.2, 0.9 + 1.3] = [0.02, 1.12]; codebook = ema_w / size = [0.2, 5.6]
    torch.testing.assert_close(vq._ema_w.data, torch.tensor([[0.02], [1.12]]))
    torch.testing.assert_close(vq.codebook, torch.tensor([[0.2], [5.6]]))


def test_laplace_smoothing() -> None:
    vq = VectorQuantizerEMA(num_embeddings=2, embedding_dim=1, decay=0.0, epsilon=0.5)
    vq.ema_update(torch.tensor([[1.0], [1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    # counts [2, 0], n = 2: (cs + eps) / (n + K*eps) * n = [2.5, 0.5] / 3 * 2
    torch.testing.assert_close(vq._ema_cluster_size, torch.tensor([5 / 3, 1 / 3]))


def test_eval_mode_does_not_update_and_loss_perplexity_gradient() -> None:
    vq = _quantizer().eval()
    z = torch.tensor([[[0.2], [0.9], [1.3]]], requires_grad=True)
    out = vq(z)
    torch.testing.assert_close(vq.codebook, torch.tensor([[0.0], [1.0]]))
    torch.testing.assert_close(out.z_q, torch.tensor([[[0.0], [1.0], [1.0]]]))
    # commitment 0.25 * mean((z - z_q)^2) = 0.25 * (0.04 + 0.01 + 0.09) / 3
    torch.testing.assert_close(out.loss, torch.tensor(0.25 * 0.14 / 3))
    p = torch.tensor([1 / 3, 2 / 3])
    torch.testing.assert_close(out.perplexity, torch.exp(-(p * p.log()).sum()))
    out.z_q.sum().backward()  # straight-through: d z_q / d z = 1
    torch.testing.assert_close(z.grad, torch.ones_like(z))


def test_usage() -> None:
    vq = VectorQuantizerEMA(num_embeddings=4, embedding_dim=2)
    usage, perplexity = vq.usage(torch.tensor([[0, 1], [0, 1]]))
    assert usage == 0.5
    assert math.isclose(perplexity, 2.0, rel_tol=1e-6)


def test_dead_code_restart_reseeds_unused_codes() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizerEMA(num_embeddings=8, embedding_dim=2, restart_dead_codes=True).train()
    z = torch.full((1, 16, 2), 3.0)
    used = int(vq(z).ids[0, 0])  # one code takes everything, the 7 others are dead and get batch vectors
    dead = [i for i in range(8) if i != used]
    torch.testing.assert_close(vq.codebook[dead], torch.full((7, 2), 3.0))
    torch.testing.assert_close(vq._ema_w.data[dead] / vq._ema_cluster_size[dead, None], vq.codebook[dead])
