from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.tokenizer.layers import (
    FullyConvAE,
    LayerSpec,
    applies_kernels_first,
    make_connection,
    mesh_conv,
    mesh_pool,
    neighbour_operator,
    parse_connection,
    pool_weights,
    sparse_matmul,
)


def test_connection_round_trip_and_padding() -> None:
    table = make_connection([[0, 1, 2], [1]], [[0, 1, 1], [0]], in_pn=3)
    assert table.tolist() == [[3, 0, 0, 1, 1, 2, 1], [1, 1, 0, 3, -1, 3, -1]]
    parsed = parse_connection(table, in_pn=3)
    assert parsed.ids.tolist() == [[0, 1, 2], [1, 3, 3]]
    assert parsed.valid.tolist() == [[True, True, True], [True, False, False]]
    assert (parsed.out_pn, parsed.max_neighbours, parsed.mean_neighbours) == (2, 3, 2.0)


@pytest.mark.parametrize("bad", [np.zeros((2, 4), dtype=np.int32), np.array([[1, 5, 0]], dtype=np.int32)])
def test_parse_connection_rejects_bad_tables(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        parse_connection(bad, in_pn=3)


def test_mesh_conv_matches_per_vertex_kernel_formula() -> None:
    """y[p] = sum_m K[p,m] @ x[nbr(p,m)] with K[p,m] = sum_w c[p,m,w] * valid * W_w (reference maths)."""
    g = torch.Generator().manual_seed(0)
    in_pn, out_pn, m, w, cin, cout, b = 5, 4, 3, 2, 3, 2, 2
    ids = torch.randint(0, in_pn + 1, (out_pn, m), generator=g)  # includes padding id = in_pn
    valid = (ids < in_pn).float()
    coefficients = torch.randn(out_pn, m, w, generator=g) * valid[:, :, None]
    basis = torch.randn(w, cout, cin, generator=g)
    x = torch.randn(b, in_pn, cin, generator=g)
    expected = torch.zeros(b, out_pn, cout)
    for p in range(out_pn):
        for s in range(m):
            if ids[p, s] == in_pn:
                continue
            kernel = (coefficients[p, s, :, None, None] * basis).sum(0)
            expected[:, p] += x[:, ids[p, s]] @ kernel.T
    got = mesh_conv(x.transpose(0, 1), ids, coefficients, basis).transpose(0, 1)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(("cin", "cout"), [(3, 2), (2, 3)])
def test_sparse_operators_give_the_dense_mixing(cin: int, cout: int) -> None:
    """The eval-mode path (sparse operators; kernels first when the conv narrows) equals the training path."""
    g = torch.Generator().manual_seed(1)
    in_pn, out_pn, m, w, b = 6, 5, 3, 4, 3
    ids = torch.randint(0, in_pn + 1, (out_pn, m), generator=g)
    valid = (ids < in_pn).float()
    coefficients = torch.randn(out_pn, m, w, generator=g) * valid[:, :, None]
    weights = pool_weights(torch.randn(out_pn, m, generator=g), valid)
    basis = torch.randn(w, cout, cin, generator=g)
    x = torch.randn(in_pn, b, cin, generator=g)
    with torch.no_grad():
        operator = neighbour_operator(ids, coefficients, in_pn, applies_kernels_first(cin, cout))
        conv = mesh_conv(x, ids, operator, basis)
        pool = mesh_pool(x, ids, neighbour_operator(ids, weights[:, :, None], in_pn))
    torch.testing.assert_close(conv, mesh_conv(x, ids, coefficients, basis))
    torch.testing.assert_close(pool, mesh_pool(x, ids, weights))


def test_sparse_matmul_with_and_without_autograd() -> None:
    g = torch.Generator().manual_seed(2)
    dense_operator = torch.randn(7, 5, generator=g) * (torch.rand(7, 5, generator=g) < 0.4)
    operator = dense_operator.to_sparse_csr()
    x = torch.randn(5, 3, generator=g, requires_grad=True)
    with torch.no_grad():
        torch.testing.assert_close(sparse_matmul(operator, x), dense_operator @ x)
    sparse_matmul(operator, x).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, dense_operator.sum(0)[:, None].expand(5, 3))


def test_pool_is_normalised_average_ignoring_padding() -> None:
    ids = torch.tensor([[0, 1, 2], [2, 3, 3]])  # in_pn = 3: id 3 is padding
    valid = (ids < 3).float()
    weights = pool_weights(torch.tensor([[1.0, -1.0, 2.0], [5.0, 7.0, 7.0]]), valid)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    x = torch.tensor([[[1.0]], [[2.0]], [[4.0]]])  # (in_pn=3, B=1, C=1)
    pooled = mesh_pool(x, ids, weights)[:, 0, 0]
    torch.testing.assert_close(pooled, torch.tensor([(1 + 2 + 8) / 4, 4.0]))


def _tiny_ae() -> FullyConvAE:
    table = parse_connection(make_connection([[0, 1], [1, 0, 2], [2, 1]], [[0, 1], [0, 1, 1], [0, 1]], 3), 3)
    specs = [LayerSpec("pool0", 3, 4, 3, 3, 2, 0.0), LayerSpec("unpool0", 4, 3, 3, 3, 2, 0.0)]
    return FullyConvAE(specs, [table, table], n_encoder_layers=1)


def test_batch_agnostic_and_gradients() -> None:
    torch.manual_seed(0)
    ae = _tiny_ae()
    x = torch.randn(3, 3, 3)
    out = ae.decode(ae.encode(x))
    assert out.shape == (3, 3, 3)
    torch.testing.assert_close(ae.decode(ae.encode(x[1:2])), out[1:2])
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ae.parameters())


def test_eval_cache_follows_weight_changes() -> None:
    torch.manual_seed(0)
    ae = _tiny_ae().eval()
    x = torch.randn(1, 3, 3)
    with torch.no_grad():
        before = ae.encode(x)
        assert torch.equal(ae.encode(x), before)  # cached path, same result
        ae.w_weights0.mul_(2.0)  # in-place change bumps the version counter
        after = ae.encode(x)
    assert not torch.allclose(before, after)
    ae.train()
    torch.testing.assert_close(ae.encode(x).detach(), after)
