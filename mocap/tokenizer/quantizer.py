"""EMA vector quantizer (van den Oord et al. 2017, appendix; as in Mesh-VQ-VAE).

Codebook ``_embedding`` (S, L) is not trained by gradients: in training mode it follows an
exponential moving average of the encoder outputs assigned to each code, with Laplace smoothing of
the cluster sizes. The loss is the commitment term only; gradients pass straight through.
Attribute names (``_embedding``, ``_ema_w`` (a Parameter), ``_ema_cluster_size``) match the
reference checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Quantized:
    """Output of :meth:`VectorQuantizerEMA.forward`.

    Attributes:
        z_q: (B, N, L) quantized vectors (straight-through: gradients flow to the input).
        ids: (B, N) int64 code ids.
        loss: scalar commitment loss.
        perplexity: scalar, exp(entropy) of the code usage in this batch.
    """

    z_q: torch.Tensor
    ids: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor


class VectorQuantizerEMA(nn.Module):
    """Nearest-codeword quantizer with an EMA codebook.

    Args:
        num_embeddings: codebook size S.
        embedding_dim: token dimension L.
        commitment_cost: weight of ``MSE(z_e, sg(z_q))``.
        decay: EMA decay.
        epsilon: Laplace smoothing constant.
        restart_dead_codes: re-seed codes unused for a long time from batch vectors (off for parity
            with the reference; helps codebook usage on small data).
    """

    _ema_cluster_size: torch.Tensor

    def __init__(
        self,
        num_embeddings: int = 512,
        embedding_dim: int = 9,
        commitment_cost: float = 0.25,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        restart_dead_codes: bool = False,
    ) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.commitment_cost = commitment_cost
        self.decay = decay
        self.epsilon = epsilon
        self.restart_dead_codes = restart_dead_codes
        self._embedding = nn.Embedding(num_embeddings, embedding_dim)
        self._embedding.weight.data.normal_()
        self._embedding.weight.requires_grad_(False)
        self.register_buffer("_ema_cluster_size", torch.zeros(num_embeddings))
        # A Parameter in the reference (so it is in its state dict); updated by EMA, never by the optimiser.
        self._ema_w = nn.Parameter(torch.randn(num_embeddings, embedding_dim), requires_grad=False)

    @property
    def codebook(self) -> torch.Tensor:
        """(S, L) code vectors."""
        return self._embedding.weight

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """(..., L) vectors -> (...) ids of the nearest code (squared L2)."""
        flat = z.reshape(-1, self.embedding_dim)
        codebook = self.codebook
        distances = (flat**2).sum(1, keepdim=True) - 2 * flat @ codebook.T + (codebook**2).sum(1)[None]
        return distances.argmin(dim=1).reshape(z.shape[:-1])

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """(...) ids -> (..., L) code vectors."""
        return self._embedding(ids)

    def forward(self, z: torch.Tensor) -> Quantized:
        """Quantize (B, N, L); in training mode also update the codebook by EMA."""
        ids = self.nearest(z)
        one_hot = nn.functional.one_hot(ids.reshape(-1), self.num_embeddings).to(z.dtype)  # (B*N, S)
        if self.training:
            self.ema_update(z.detach().reshape(-1, self.embedding_dim), one_hot)
        z_q = self.lookup(ids)
        loss = self.commitment_cost * nn.functional.mse_loss(z, z_q.detach())
        z_q = z + (z_q - z).detach()
        probs = one_hot.mean(0)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        return Quantized(z_q=z_q, ids=ids, loss=loss, perplexity=perplexity)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, one_hot: torch.Tensor) -> None:
        """One EMA step from (n, L) vectors and their (n, S) one-hot assignments."""
        counts = one_hot.sum(0)
        size = self._ema_cluster_size
        size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        total = size.sum()
        size.copy_((size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total)
        self._ema_w.mul_(self.decay).add_(one_hot.T @ flat, alpha=1 - self.decay)
        self._embedding.weight.copy_(self._ema_w / size[:, None])
        if self.restart_dead_codes:
            self._restart(flat)

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor) -> None:
        """Re-seed codes whose smoothed cluster size fell below 1e-3 with random batch vectors."""
        dead = (self._ema_cluster_size < 1e-3).nonzero().squeeze(1)
        if dead.numel() == 0:
            return
        picks = flat[torch.randint(len(flat), (dead.numel(),), device=flat.device)]
        self._embedding.weight[dead] = picks
        self._ema_w[dead] = picks * self._ema_cluster_size[dead, None]

    @torch.no_grad()
    def usage(self, ids: torch.Tensor) -> tuple[float, float]:
        """(fraction of codes used, perplexity) over a set of ids of any shape."""
        counts = torch.bincount(ids.reshape(-1), minlength=self.num_embeddings).to(torch.float64)
        probs = counts / counts.sum()
        perplexity = float(torch.exp(-(probs * torch.log(probs + 1e-10)).sum()))
        return float((counts > 0).double().mean()), perplexity
