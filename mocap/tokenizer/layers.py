"""Mesh convolution layers of the Mesh-VQ-VAE (spatially varying kernels, learned pooling).

After Zhou et al., "Fully Convolutional Mesh Autoencoder using Efficient Spatially Varying
Kernels" (NeurIPS 2020), as used by Mesh-VQ-VAE. Each layer maps features on ``in_pn`` vertices to
``out_pn`` vertices through a neighbour table (one row per output vertex, M slots, padded slots
point at a zero row appended to the input).

- conv branch: ``y[p] = sum_m sum_w c[p, m, w] * valid[p, m] * W_w @ x[nbr(p, m)] + bias`` with W
  shared basis kernels ``W_w`` (out_ch x in_ch) and per-(vertex, slot) coefficients ``c``.
  Computed factorised (first mix the neighbours per basis, then one matmul) so no per-vertex kernel
  tensor of shape (P, M, out, in) is ever built: same maths, far less memory traffic on CPU. In
  eval mode the neighbour mixing is a cached sparse matrix (rebuilt when the weights change).
- pool branch: ``y[p] = sum_m a[p, m] x[nbr(p, m)]`` with ``a = |p_neighbors| * valid``
  normalised per output vertex; the identity when ``in_pn == out_pn``.
- output = ``conv * sqrt(1 - r) + pool * sqrt(r)``, then ELU unless it is the last layer.

Parameter names (``weights{l}``, ``bias{l}``, ``w_weights{l}``, ``p_neighbors{l}``,
``weight_res{l}``) are those of the reference checkpoints so they load key for key.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn


@dataclass(frozen=True)
class NeighbourTable:
    """A parsed connection table.

    Attributes:
        ids: (out_pn, M) int64 input-vertex index per slot; padded slots hold ``in_pn``.
        valid: (out_pn, M) bool, False on padded slots.
        in_pn: number of input vertices.
    """

    ids: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]
    in_pn: int

    @property
    def out_pn(self) -> int:
        return int(self.ids.shape[0])

    @property
    def max_neighbours(self) -> int:
        return int(self.ids.shape[1])

    @property
    def mean_neighbours(self) -> float:
        return float(self.valid.sum(1).mean())


def parse_connection(table: npt.NDArray[np.integer], in_pn: int) -> NeighbourTable:
    """Parse a MeshConvolution table ``(out_pn, 1 + 2M)`` = ``[N, id0, dist0, id1, dist1, ...]``.

    Padding pairs are ``(in_pn, -1)``; the count N in column 0 is authoritative.
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[1] < 3 or table.shape[1] % 2 != 1:
        raise ValueError(f"connection table must have shape (out_pn, 1 + 2M), got {table.shape}")
    counts = table[:, 0].astype(np.int64)
    ids = table[:, 1::2].astype(np.int64)
    slot = np.arange(ids.shape[1])[None, :]
    valid = slot < counts[:, None]
    ids = np.where(valid, ids, in_pn)
    if ids.min() < 0 or ids.max() > in_pn or (ids[valid] >= in_pn).any():
        raise ValueError(f"connection table refers to vertices outside 0..{in_pn - 1}")
    return NeighbourTable(ids=ids, valid=valid, in_pn=in_pn)


def make_connection(
    neighbours: Sequence[Sequence[int] | npt.NDArray[np.integer]],
    distances: Sequence[Sequence[int] | npt.NDArray[np.integer]],
    in_pn: int,
) -> npt.NDArray[np.int32]:
    """Write neighbour lists in the MeshConvolution format ``(out_pn, 1 + 2M)`` with ``(in_pn, -1)`` padding."""
    width = max(len(n) for n in neighbours)
    table = np.empty((len(neighbours), 1 + 2 * width), dtype=np.int32)
    table[:, 1::2] = in_pn
    table[:, 2::2] = -1
    for row, (ids, dists) in enumerate(zip(neighbours, distances, strict=True)):
        table[row, 0] = len(ids)
        table[row, 1 : 1 + 2 * len(ids) : 2] = ids
        table[row, 2 : 2 + 2 * len(ids) : 2] = dists
    return table


def gather_neighbours(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Vertex-major gather: (in_pn, B, C) features, (P, M) ids with padding = in_pn -> (P, M, B*C).

    Vertex-major so each neighbour is one contiguous row (B*C floats): much faster on CPU than
    gathering along dim 1 of a batch-first tensor.
    """
    n, b, c = x.shape
    padded = torch.cat([x.reshape(n, b * c), x.new_zeros(1, b * c)])
    return padded.index_select(0, ids.reshape(-1)).view(*ids.shape, b * c)


def neighbour_operator(
    ids: torch.Tensor, values: torch.Tensor, in_pn: int, kernels_first: bool = False
) -> torch.Tensor:
    """Sparse CSR matrix of the neighbour mixing ``sum_m values[p, m, k] * x[ids[p, m]]``; padded slots dropped.

    - default, (K*P, in_pn): row ``k*P + p`` holds ``values[p, :, k]`` at ``ids[p]``, so ``operator @
      x.view(in_pn, B*C)`` is the mixing (K, P, B*C) once reshaped (basis-major: each basis' slice is contiguous
      for the conv's matmuls);
    - ``kernels_first``, (P, K*in_pn): row ``p`` holds ``values[p, :, k]`` at columns ``k*in_pn + ids[p]``, for
      features already multiplied by each basis kernel and stacked basis-major (K*in_pn, B*C)
      (:func:`mesh_conv` when it narrows the channels).

    Built once per weight version in eval mode (sparse matmul is several times faster than gather + batched
    matmul at inference).
    """
    p, m, k = values.shape
    basis = torch.arange(k, device=ids.device)
    vertex = torch.arange(p, device=ids.device)[:, None, None]
    neighbour = ids[:, :, None]
    if kernels_first:
        rows, cols, shape = vertex.expand(p, m, k), neighbour + basis * in_pn, (p, k * in_pn)
    else:
        rows, cols, shape = (vertex + basis * p).expand(p, m, k), neighbour.expand(p, m, k), (k * p, in_pn)
    keep = neighbour.expand(p, m, k) < in_pn
    indices = torch.stack([rows[keep], cols[keep]])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the matmul we use is stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_coo_tensor(indices, values[keep], shape).coalesce().to_sparse_csr()


def applies_kernels_first(in_ch: int, out_ch: int) -> bool:
    """Whether the eval-mode conv multiplies by its basis kernels before mixing neighbours: when it narrows the
    features, so that the sparse product carries out_ch channels per basis instead of in_ch."""
    return out_ch < in_ch


def sparse_matmul(operator: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """Sparse CSR (R, n) @ dense (n, C) -> dense (R, C).

    Without autograd it writes through ``addmm(beta=0)`` into an empty tensor: ``torch.sparse.mm`` zero-fills and
    copies its result, which costs several times the product itself on the decoder's larger layers (measured on
    the (9 x 1700, 1700) operator with 256 columns: ~30 ms -> ~7 ms on one CPU thread).
    """
    if torch.is_grad_enabled() and (dense.requires_grad or operator.requires_grad):
        return torch.sparse.mm(operator, dense)
    out = dense.new_empty(operator.shape[0], dense.shape[1])
    return torch.addmm(out, operator, dense, beta=0, out=out)


def mix_neighbours(x: torch.Tensor, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(in_pn, B, C) features -> (K, P, B*C): ``sum_m values[p, m, k] * x[ids[p, m]]``.

    ``values`` is (P, M, K) dense (gather + batched matmul; a transposed view comes back), or the same as a sparse
    CSR operator from :func:`neighbour_operator` (one sparse matmul; several times faster at inference).
    """
    n, b, c = x.shape
    if values.is_sparse_csr:
        return sparse_matmul(values, x.reshape(n, b * c)).view(-1, ids.shape[0], b * c)
    return torch.bmm(values.transpose(1, 2), gather_neighbours(x, ids)).transpose(0, 1)


def mesh_conv(x: torch.Tensor, ids: torch.Tensor, coefficients: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Spatially varying convolution, no bias, vertex-major.

    Args:
        x: (in_pn, B, in_ch) features.
        ids: (P, M) neighbour ids (padding = in_pn).
        coefficients: (P, M, W) per-slot basis coefficients, already zero on padded slots, or their
            :func:`neighbour_operator` (``kernels_first`` as :func:`applies_kernels_first` says).
        basis: (W, out_ch, in_ch) shared basis kernels.
    Returns:
        (P, B, out_ch).
    """
    n, b = x.shape[:2]
    w, out_ch, in_ch = basis.shape
    if coefficients.is_sparse_csr and applies_kernels_first(in_ch, out_ch):
        projected = x.reshape(n * b, in_ch) @ basis.reshape(w * out_ch, in_ch).T  # (in_pn*B, W*out_ch)
        projected = projected.view(n, b, w, out_ch).permute(2, 0, 1, 3).reshape(w * n, b * out_ch)
        return sparse_matmul(coefficients, projected).view(-1, b, out_ch)
    mixed = mix_neighbours(x, ids, coefficients).reshape(w, -1, in_ch)  # (W, P*B, in_ch)
    # One matmul per basis, summed in place: no (P*B, W*in_ch) copy of the mixed features (the bulk of the
    # decoder's time when it was made), and no (W, P*B, out_ch) stack of partial sums.
    out = mixed[0] @ basis[0].T  # (P*B, out_ch)
    for k in range(1, w):
        out.addmm_(mixed[k], basis[k].T)
    return out.view(-1, b, out_ch)


def mesh_pool(x: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted neighbour average, vertex-major: (in_pn, B, C), (P, M) ids, (P, M) weights or their
    :func:`neighbour_operator` -> (P, B, C)."""
    b, c = x.shape[1:]
    return mix_neighbours(x, ids, weights if weights.is_sparse_csr else weights[:, :, None]).reshape(-1, b, c)


def pool_weights(p_neighbors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Normalised |p| over valid slots: (P, M) -> (P, M), rows sum to 1."""
    weights = p_neighbors.abs() * valid
    return weights / (weights.sum(dim=1, keepdim=True) + 1e-8)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``name`` is its connection table (``pool0`` ... ``unpool0``)."""

    name: str
    in_ch: int
    out_ch: int
    in_pn: int
    out_pn: int
    weight_num: int
    residual_rate: float


class FullyConvAE(nn.Module):
    """The stack of mesh layers; the encoder runs layers ``[0, n_enc)``, the decoder the rest.

    Batch-agnostic: nothing depends on the batch size. Parameters are flat attributes named as in
    the reference (``weights0``, ``w_weights0``, ``p_neighbors1``, ...).
    """

    def __init__(self, specs: Sequence[LayerSpec], tables: Sequence[NeighbourTable], n_encoder_layers: int) -> None:
        super().__init__()
        if len(specs) != len(tables):
            raise ValueError(f"{len(specs)} layer specs but {len(tables)} connection tables")
        self.specs = tuple(specs)
        self.n_encoder_layers = n_encoder_layers
        # layer -> (weight versions, conv operator, pool operator): eval-mode sparse operators.
        self._cache: dict[int, tuple[tuple[int, ...], torch.Tensor | None, torch.Tensor | None]] = {}
        for layer, (spec, table) in enumerate(zip(specs, tables, strict=True)):
            if (table.in_pn, table.out_pn) != (spec.in_pn, spec.out_pn):
                raise ValueError(
                    f"layer {layer} ({spec.name}) expects {spec.in_pn}->{spec.out_pn} vertices, "
                    f"its table is {table.in_pn}->{table.out_pn}"
                )
            # Neighbour tables are constants of the hierarchy, not weights: non-persistent buffers.
            self.register_buffer(f"ids{layer}", torch.from_numpy(table.ids), persistent=False)
            self.register_buffer(f"valid{layer}", torch.from_numpy(table.valid.astype(np.float32)), persistent=False)
            self._init_layer(layer, spec, table)

    def _init_layer(self, layer: int, spec: LayerSpec, table: NeighbourTable) -> None:
        m, avg = table.max_neighbours, table.mean_neighbours
        if spec.residual_rate < 1:
            w = spec.weight_num
            self.register_parameter(f"weights{layer}", nn.Parameter(torch.randn(w, spec.out_ch * spec.in_ch)))
            self.register_parameter(f"bias{layer}", nn.Parameter(torch.zeros(spec.out_ch)))
            self.register_parameter(f"w_weights{layer}", nn.Parameter(torch.randn(spec.out_pn, m, w) / (avg * w)))
        if spec.residual_rate > 0:
            if spec.in_pn != spec.out_pn:
                self.register_parameter(f"p_neighbors{layer}", nn.Parameter(torch.randn(spec.out_pn, m) / avg))
            if spec.in_ch != spec.out_ch:
                weight_res = torch.randn(spec.out_ch, spec.in_ch) / spec.out_ch
                self.register_parameter(f"weight_res{layer}", nn.Parameter(weight_res))

    def _derived(self, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(masked conv coefficients (P,M,W) or None, pool weights (P,M) or None) for a layer."""
        valid = getattr(self, f"valid{layer}")
        w_weights, p_neighbors = self._param(f"w_weights{layer}"), self._param(f"p_neighbors{layer}")
        coefficients = None if w_weights is None else w_weights * valid[:, :, None]
        weights = None if p_neighbors is None else pool_weights(p_neighbors, valid)
        return coefficients, weights

    def _mixing(self, layer: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(conv coefficients, pool weights) of a layer, None where it has no such branch: in eval mode under
        no_grad as sparse operators (:func:`neighbour_operator`), else dense (:meth:`_derived`).

        The operators are cached; the key is the parameters' version counters and storage, so an optimiser step,
        an in-place edit or ``load_state_dict`` rebuilds them.
        """
        if self.training or torch.is_grad_enabled():
            return self._derived(layer)
        params = [self._param(f"w_weights{layer}"), self._param(f"p_neighbors{layer}")]
        key = tuple(v for p in params if p is not None for v in (p._version, p.data_ptr()))
        cached = self._cache.get(layer)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        ids, in_pn = getattr(self, f"ids{layer}"), self.specs[layer].in_pn
        coefficients, weights = self._derived(layer)
        spec = self.specs[layer]
        kernels_first = applies_kernels_first(spec.in_ch, spec.out_ch)
        conv = None if coefficients is None else neighbour_operator(ids, coefficients, in_pn, kernels_first)
        pool = None if weights is None else neighbour_operator(ids, weights[:, :, None], in_pn)
        self._cache[layer] = (key, conv, pool)
        return conv, pool

    def _param(self, name: str) -> torch.Tensor | None:
        return self._parameters.get(name)

    def layer(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Apply one layer, vertex-major: (in_pn, B, in_ch) -> (out_pn, B, out_ch)."""
        spec = self.specs[layer]
        ids = getattr(self, f"ids{layer}")
        coefficients, weights = self._mixing(layer)
        out: torch.Tensor | None = None
        if spec.residual_rate < 1:
            assert coefficients is not None
            basis = getattr(self, f"weights{layer}").view(spec.weight_num, spec.out_ch, spec.in_ch)
            conv = mesh_conv(x, ids, coefficients, basis) + getattr(self, f"bias{layer}")
            out = conv * math.sqrt(1 - spec.residual_rate)
        if spec.residual_rate > 0:
            res = x
            weight_res = self._param(f"weight_res{layer}")
            if weight_res is not None:
                res = res @ weight_res.T  # (in_pn, B, out_ch)
            if weights is not None:
                res = mesh_pool(res, ids, weights)
            res = res * math.sqrt(spec.residual_rate)
            out = res if out is None else out + res
        assert out is not None
        is_last = layer == len(self.specs) - 1
        return out if is_last else nn.functional.elu(out)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V0, 3) -> latent (B, V_latent, latent_ch)."""
        x = x.transpose(0, 1)
        for layer in range(self.n_encoder_layers):
            x = self.layer(x, layer)
        return x.transpose(0, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, V_latent, latent_ch) -> (B, V0, 3)."""
        z = z.transpose(0, 1)
        for layer in range(self.n_encoder_layers, len(self.specs)):
            z = self.layer(z, layer)
        return z.transpose(0, 1)
