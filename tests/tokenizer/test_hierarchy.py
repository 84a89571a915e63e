from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.errors import ModelNotFoundError
from mocap.tokenizer.hierarchy import MeshHierarchy, build_mapped_hierarchy, mesh_graph
from mocap.tokenizer.layers import parse_connection


def test_levels_and_table_shapes(tiny_hierarchy: MeshHierarchy) -> None:
    h = tiny_hierarchy
    assert h.level_sizes == (162, 48, 20, 8)
    assert h.layer_names == (
        "pool0", "pool1", "pool2", "pool3", "pool4", "pool5", "pool6",
        "unpool6", "unpool5", "unpool4", "unpool3", "unpool2", "unpool1", "unpool0",
    )  # fmt: skip
    for name in h.layer_names:
        in_pn, out_pn = h.in_out_sizes(name)
        table = parse_connection(h.tables[name], in_pn)
        assert table.out_pn == out_pn
        assert (table.ids[table.valid] < in_pn).all()


def test_conv_tables_start_with_self_at_distance_zero(tiny_hierarchy: MeshHierarchy) -> None:
    for k in range(4):
        table = tiny_hierarchy.tables[f"pool{2 * k}"]
        assert (table[:, 1] == np.arange(len(table))).all()
        assert (table[:, 2] == 0).all()
        assert (table[:, 0] >= 4).all()  # self + at least 3 neighbours on a closed surface


def test_pooling_covers_every_vertex(tiny_hierarchy: MeshHierarchy) -> None:
    for k in range(3):
        name = f"pool{2 * k + 1}"
        in_pn, _ = tiny_hierarchy.in_out_sizes(name)
        table = parse_connection(tiny_hierarchy.tables[name], in_pn)
        assert set(table.ids[table.valid].tolist()) == set(range(in_pn))
        up = parse_connection(tiny_hierarchy.tables[f"unpool{2 * k + 1}"], tiny_hierarchy.level_sizes[k + 1])
        assert (up.valid.sum(1) >= 2).all()


def test_save_load_round_trip(tiny_hierarchy: MeshHierarchy, tmp_path: Path) -> None:
    tiny_hierarchy.save(tmp_path / "h.npz")
    loaded = MeshHierarchy.load(tmp_path / "h.npz")
    assert loaded.level_sizes == tiny_hierarchy.level_sizes
    assert loaded.tables.keys() == tiny_hierarchy.tables.keys()
    assert all(np.array_equal(loaded.tables[k], tiny_hierarchy.tables[k]) for k in loaded.tables)
    assert loaded.faces is not None and loaded.full is None
    with pytest.raises(ModelNotFoundError):
        MeshHierarchy.load(tmp_path / "missing.npz")


def test_separate_pieces_are_bridged() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [6, 0, 0], [5, 1, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    graph = mesh_graph(vertices, faces)
    assert graph[1, 3] == pytest.approx(4.0)  # the closest pair joins the two triangles
    assert (graph != graph.T).nnz == 0


def test_mapped_hierarchy_rebuilds_affinely_deformed_meshes(sphere: tuple[np.ndarray, np.ndarray]) -> None:
    """Upsampling weights are affine, so any affine deformation of the examples is rebuilt exactly."""
    vertices, faces = sphere
    rng = np.random.default_rng(0)

    def deform(n: int) -> np.ndarray:
        a = np.eye(3) + 0.3 * rng.normal(size=(n, 3, 3))
        return vertices @ a.transpose(0, 2, 1) + rng.normal(size=(n, 1, 3))

    h = build_mapped_hierarchy(vertices, faces, (60, 20, 8, 4), deform(16), ridge=1e-10)
    assert h.level_sizes == (60, 20, 8, 4) and h.input_size == 162
    assert h.full is not None
    np.testing.assert_allclose(h.full.up_weights.sum(1), 1.0, atol=1e-9)
    held_out = deform(4)
    np.testing.assert_allclose(h.full.up(h.full.down(held_out)), held_out, atol=1e-6)
