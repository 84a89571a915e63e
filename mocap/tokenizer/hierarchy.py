"""Mesh hierarchies for the Mesh-VQ-VAE, for any triangle mesh.

A hierarchy is a list of vertex levels (e.g. 1,700 -> 400 -> 120 -> 54) and the neighbour tables
between them, named like the MeshConvolution connection files so the official ``dfaust2`` folder
and our own builds are the same object:

- ``pool{2k}``: conv at level k (table ``n_k x (1+2M)``, ids into level k);
- ``pool{2k+1}``: down-pool from level k to k+1 (rows = level k+1, ids into level k);
- ``unpool{2k}``: conv at level k in the decoder;
- ``unpool{2k+1}``: up-pool from level k+1 to k (rows = level k, ids into level k+1).

Coarser levels are geodesic farthest-point samples of the finer level (so each coarse vertex is a
finer vertex, spread evenly over the surface); each finer vertex belongs to the Voronoi cell of its
geodesically nearest coarse vertex, and two coarse vertices are neighbours when their cells touch.
Optionally the hierarchy carries a :class:`FullResolutionMap` from a denser mesh (e.g. the full
13,718-vertex Anny) onto level 0 and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from mocap.errors import ModelNotFoundError
from mocap.tokenizer.layers import make_connection

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FullResolutionMap:
    """Fixed linear maps between a full mesh (V_full vertices) and hierarchy level 0 (V0 vertices).

    Attributes:
        subset: (V0,) indices of the full-mesh vertices that form level 0 (down = selection).
        up_ids: (V_full, K) level-0 vertex ids that reconstruct each full vertex.
        up_weights: (V_full, K) affine weights (rows sum to 1, so translation commutes).
    """

    subset: IntArray
    up_ids: IntArray
    up_weights: FloatArray

    @property
    def full_size(self) -> int:
        return int(self.up_ids.shape[0])

    def down(self, vertices_full: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """(..., V_full, 3) -> (..., V0, 3)."""
        return vertices_full[..., self.subset, :]

    def up(self, vertices_level0: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """(..., V0, 3) -> (..., V_full, 3)."""
        return np.einsum("...vkc,vk->...vc", vertices_level0[..., self.up_ids, :], self.up_weights)


@dataclass(frozen=True)
class MeshHierarchy:
    """Vertex levels and their connection tables (MeshConvolution format, see module docstring).

    Attributes:
        level_sizes: vertices per level, finest first; the last level is the token level.
        tables: connection tables by name (``pool0`` .. ``pool{2L}``, ``unpool{2L}`` .. ``unpool0``).
        full: optional map from a denser full mesh onto level 0.
        faces: optional (F, 3) faces of the mesh the hierarchy was built from (full mesh if ``full``).
    """

    level_sizes: tuple[int, ...]
    tables: dict[str, npt.NDArray[np.int32]]
    full: FullResolutionMap | None = None
    faces: IntArray | None = None

    @property
    def num_tokens(self) -> int:
        return self.level_sizes[-1]

    @property
    def input_size(self) -> int:
        """Vertices of the meshes the tokenizer takes and returns (full mesh if mapped)."""
        return self.full.full_size if self.full is not None else self.level_sizes[0]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The 4L+2 layer names of the encoder-decoder, in order (14 for 4 levels)."""
        top = 2 * (len(self.level_sizes) - 1)
        return tuple(f"pool{i}" for i in range(top + 1)) + tuple(f"unpool{i}" for i in range(top, -1, -1))

    def in_out_sizes(self, name: str) -> tuple[int, int]:
        """(in_pn, out_pn) of a connection table by name."""
        index = int(name.removeprefix("un").removeprefix("pool"))
        level, is_pool = divmod(index, 2)
        if not is_pool:
            return self.level_sizes[level], self.level_sizes[level]
        fine, coarse = self.level_sizes[level], self.level_sizes[level + 1]
        return (fine, coarse) if name.startswith("pool") else (coarse, fine)

    def save(self, path: str | Path) -> None:
        """Write one ``.npz`` (tables, level sizes, optional full map and faces)."""
        arrays: dict[str, Any] = {"level_sizes": np.asarray(self.level_sizes, dtype=np.int64)}
        arrays.update({f"table_{name}": table for name, table in self.tables.items()})
        if self.full is not None:
            arrays.update(full_subset=self.full.subset, full_up_ids=self.full.up_ids)
            arrays["full_up_weights"] = self.full.up_weights
        if self.faces is not None:
            arrays["faces"] = self.faces
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> MeshHierarchy:
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"mesh hierarchy file {path} not found; build one with build_hierarchy()")
        with np.load(path) as data:
            tables = {key.removeprefix("table_"): data[key] for key in data.files if key.startswith("table_")}
            full = None
            if "full_subset" in data.files:
                full = FullResolutionMap(data["full_subset"], data["full_up_ids"], data["full_up_weights"])
            faces = data["faces"] if "faces" in data.files else None
            return cls(tuple(int(n) for n in data["level_sizes"]), tables, full, faces)


# ---------------------------------------------------------------------------------------------
# Building a hierarchy from a triangle mesh.


def mesh_graph(vertices: FloatArray, faces: IntArray) -> csr_matrix:
    """Symmetric (V, V) sparse graph of mesh edges weighted by their length in metres."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1) + 1e-9
    n = len(vertices)
    graph = csr_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(n, n))
    graph = _bridge_components(graph, vertices)
    return (graph + graph.T).tocsr()


def _bridge_components(graph: csr_matrix, vertices: FloatArray, links: int = 3) -> csr_matrix:
    """Join every separate piece (eyes, teeth) to the largest one by its ``links`` closest vertex pairs,
    so geodesic sampling treats it as part of the nearby surface instead of giving it its own tokens."""
    count, labels = connected_components(graph, directed=False)
    if count == 1:
        return graph
    main = np.bincount(labels).argmax()
    main_ids = np.flatnonzero(labels == main)
    tree = cKDTree(vertices[main_ids])
    rows, cols, lengths = [graph.tocoo().row], [graph.tocoo().col], [graph.tocoo().data]
    for piece in range(count):
        if piece == main:
            continue
        ids = np.flatnonzero(labels == piece)
        distance, nearest = tree.query(vertices[ids])
        best = np.argsort(distance)[:links]
        rows.append(ids[best])
        cols.append(main_ids[nearest[best]])
        lengths.append(distance[best] + 1e-9)
    n = graph.shape[0]
    return csr_matrix((np.concatenate(lengths), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def farthest_point_sample(graph: csr_matrix, count: int, seed_vertex: int = 0) -> IntArray:
    """Geodesic farthest-point sampling: ``count`` vertex ids spread evenly over the graph."""
    n = graph.shape[0]
    if count > n:
        raise ValueError(f"cannot sample {count} vertices from a graph of {n}")
    # Start from the vertex farthest from seed_vertex so the result does not depend on vertex order much.
    first = int(np.argmax(np.nan_to_num(dijkstra(graph, indices=seed_vertex), posinf=0.0)))
    chosen = [first]
    distance = dijkstra(graph, indices=first)
    for _ in range(count - 1):
        nxt = int(np.argmax(np.where(np.isfinite(distance), distance, np.inf)))
        chosen.append(nxt)
        # Only vertices closer to the new sample than to any previous one change: bound the search.
        update = dijkstra(graph, indices=nxt, limit=float(distance[nxt]))
        np.minimum(distance, update, out=distance)
    return np.asarray(chosen, dtype=np.int64)


def voronoi_cells(graph: csr_matrix, centres: IntArray) -> IntArray:
    """(V,) index into ``centres`` of each vertex's geodesically nearest centre."""
    _, _, sources = dijkstra(graph, indices=centres, min_only=True, return_predecessors=True)
    lookup = np.full(graph.shape[0], -1, dtype=np.int64)
    lookup[centres] = np.arange(len(centres))
    cells = lookup[sources]
    if (cells < 0).any():
        raise ValueError("mesh has vertices unreachable from every sample; is it one connected piece?")
    return cells


def coarse_graph(graph: csr_matrix, cells: IntArray, centres_xyz: FloatArray) -> csr_matrix:
    """Graph of cells: two centres are linked when an edge of the fine graph joins their cells."""
    coo = graph.tocoo()
    a, b = cells[coo.row], cells[coo.col]
    pairs = np.unique(np.stack([a[a != b], b[a != b]], axis=1), axis=0)
    lengths = np.linalg.norm(centres_xyz[pairs[:, 0]] - centres_xyz[pairs[:, 1]], axis=1) + 1e-9
    n = len(centres_xyz)
    return csr_matrix((lengths, (pairs[:, 0], pairs[:, 1])), shape=(n, n))


def ring_neighbours(graph: csr_matrix, rings: int) -> tuple[list[IntArray], list[IntArray]]:
    """Per vertex: its k-ring neighbours (itself first) and their hop distances."""
    hops = dijkstra(graph, unweighted=True, limit=rings)
    ids, dists = [], []
    for row in hops:
        near = np.flatnonzero(np.isfinite(row))
        near = near[np.argsort(row[near], kind="stable")]
        ids.append(near)
        dists.append(row[near].astype(np.int64))
    return ids, dists


def _down_table(fine: csr_matrix, cells: IntArray, centres: IntArray) -> npt.NDArray[np.int32]:
    """Rows = coarse vertices: the fine vertices of their cell plus one ring around it, by hop distance."""
    hops_to_centre = dijkstra(fine, unweighted=True, indices=centres)
    adjacency = (fine > 0).astype(np.int8)
    neighbours, distances = [], []
    for c in range(len(centres)):
        member = (cells == c).astype(np.int8)
        grown = np.flatnonzero(adjacency @ member + member)
        grown = grown[np.argsort(hops_to_centre[c, grown], kind="stable")]
        neighbours.append(grown)
        distances.append(hops_to_centre[c, grown].astype(np.int64))
    return make_connection(neighbours, distances, in_pn=fine.shape[0])


def _up_table(coarse: csr_matrix, cells: IntArray) -> npt.NDArray[np.int32]:
    """Rows = fine vertices: their cell's centre (distance 0) and that centre's coarse neighbours (1)."""
    ring_ids, ring_dists = ring_neighbours(coarse, 1)
    return make_connection([ring_ids[c] for c in cells], [ring_dists[c] for c in cells], in_pn=coarse.shape[0])


def _conv_table(graph: csr_matrix, rings: int) -> npt.NDArray[np.int32]:
    ids, dists = ring_neighbours(graph, rings)
    return make_connection(ids, dists, in_pn=graph.shape[0])


@dataclass(frozen=True)
class Levels:
    """Intermediate result of :func:`build_levels`.

    Attributes:
        ids: per level, its vertex ids in the input mesh.
        graphs: per level, its graph (edge lengths in metres).
        centres: per level after the first, its vertices as indices into the previous level.
        cells: per level after the first, the cell (index into this level) of each previous-level vertex.
    """

    ids: list[IntArray]
    graphs: list[csr_matrix]
    centres: list[IntArray]
    cells: list[IntArray]


def build_levels(vertices: FloatArray, faces: IntArray, sizes: Sequence[int]) -> Levels:
    """Farthest-point levels below the input mesh: ``sizes`` excludes the input level itself."""
    ids = [np.arange(len(vertices), dtype=np.int64)]
    graphs = [mesh_graph(vertices, faces)]
    centres: list[IntArray] = []
    cells: list[IntArray] = []
    for size in sizes:
        local = farthest_point_sample(graphs[-1], size)
        cell = voronoi_cells(graphs[-1], local)
        ids.append(ids[-1][local])
        graphs.append(coarse_graph(graphs[-1], cell, vertices[ids[-1]]))
        centres.append(local)
        cells.append(cell)
    return Levels(ids, graphs, centres, cells)


def hierarchy_from_levels(levels: Levels, first: int = 0, conv_rings: Sequence[int] | None = None) -> MeshHierarchy:
    """Connection tables for levels ``first..`` of ``levels`` (conv = ring-k, default 1 per level)."""
    graphs, cells = levels.graphs[first:], levels.cells[first:]
    rings = list(conv_rings) if conv_rings is not None else [1] * len(graphs)
    tables: dict[str, npt.NDArray[np.int32]] = {}
    for k, graph in enumerate(graphs):
        tables[f"pool{2 * k}"] = tables[f"unpool{2 * k}"] = _conv_table(graph, rings[k])
    for k in range(len(graphs) - 1):
        tables[f"pool{2 * k + 1}"] = _down_table(graphs[k], cells[k], levels.centres[first + k])
        tables[f"unpool{2 * k + 1}"] = _up_table(graphs[k + 1], cells[k])
    return MeshHierarchy(tuple(g.shape[0] for g in graphs), tables)


def build_hierarchy(
    vertices: FloatArray,
    faces: IntArray,
    sizes: Sequence[int] = (400, 120, 54),
    conv_rings: Sequence[int] | None = None,
) -> MeshHierarchy:
    """A hierarchy whose level 0 is the input mesh and whose coarser levels have ``sizes`` vertices.

    Example:
        >>> h = build_hierarchy(template_xyz, faces, sizes=(400, 120, 54))
        >>> h.level_sizes, h.layer_names[:3]
        ((V, 400, 120, 54), ('pool0', 'pool1', 'pool2'))
    """
    hierarchy = hierarchy_from_levels(build_levels(vertices, faces, sizes), conv_rings=conv_rings)
    return MeshHierarchy(hierarchy.level_sizes, hierarchy.tables, faces=np.asarray(faces, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# A dense mesh tokenized through a coarser level 0.


def fit_upsampling(
    candidates: IntArray, valid: npt.NDArray[np.bool_], coarse_m: FloatArray, full_m: FloatArray, ridge: float = 1e-3
) -> FloatArray:
    """Affine weights that rebuild full vertices from nearby coarse vertices, fitted on examples.

    Per full vertex v, minimise ``sum_t |sum_k w_k c_k(t) - v(t)|^2 + ridge * s * |w - e_0|^2``
    subject to ``sum_k w_k = 1`` (so translation commutes). ``e_0`` = all weight on slot 0 (the
    owner); ``s`` = mean squared spread of the candidates, so ``ridge`` is scale free. Rigid motion of
    a patch is reproduced exactly when its candidates are not coplanar, so what the examples teach is
    the local non-rigid deformation (bending at joints, phenotype).

    Args:
        candidates: (V_full, K) coarse vertex ids per full vertex, slot 0 = owner.
        valid: (V_full, K) False on padding slots (forced to weight 0).
        coarse_m: (T, V0, 3) example coarse meshes.
        full_m: (T, V_full, 3) the same examples at full resolution.
    Returns:
        (V_full, K) weights.
    """
    n_full, k = candidates.shape
    weights = np.zeros((n_full, k))
    for start in range(0, n_full, 1024):
        rows = slice(start, min(start + 1024, n_full))
        c = coarse_m[:, candidates[rows]]  # (T, n, K, 3)
        c = c - c[:, :, :1]  # relative to the owner: conditioning, and the affine constraint allows it
        y = full_m[:, rows] - coarse_m[:, candidates[rows, 0]]  # (T, n, 3)
        a = np.einsum("tnkc,tnjc->nkj", c, c)
        b = np.einsum("tnkc,tnc->nk", c, y)
        scale = np.trace(a, axis1=1, axis2=2)[:, None] / k + 1e-12
        penalty = np.where(valid[rows], ridge, 1e6) * scale  # (n, K)
        prior = np.zeros_like(b)
        prior[:, 0] = 1.0
        n = a.shape[0]
        system = np.zeros((n, k + 1, k + 1))
        system[:, :k, :k] = a + penalty[:, :, None] * np.eye(k)
        system[:, :k, k] = system[:, k, :k] = 1.0
        rhs = np.concatenate([b + penalty * prior, np.ones((n, 1))], axis=1)
        weights[rows] = np.linalg.solve(system, rhs[..., None])[:, :k, 0]
    return np.where(valid, weights, 0.0)


def build_mapped_hierarchy(
    vertices: FloatArray,
    faces: IntArray,
    sizes: Sequence[int],
    examples_m: FloatArray,
    conv_rings: Sequence[int] | None = None,
    ridge: float = 1e-3,
) -> MeshHierarchy:
    """A hierarchy on a coarse level-0 subset of a dense mesh, with a fitted map back to it.

    Args:
        vertices: (V_full, 3) template of the dense mesh; faces (F, 3).
        sizes: level sizes from level 0 down, e.g. (1700, 400, 120, 54).
        examples_m: (T, V_full, 3) deformed examples (posed bodies) to fit the upsampling weights.
        ridge: pull of the weights towards the owner vertex (see :func:`fit_upsampling`).
    """
    levels = build_levels(vertices, faces, sizes)
    hierarchy = hierarchy_from_levels(levels, first=1, conv_rings=conv_rings)
    ring_ids, _ = ring_neighbours(levels.graphs[1], 1)
    width = max(len(r) for r in ring_ids)
    candidates = np.zeros((len(vertices), width), dtype=np.int64)
    valid = np.zeros((len(vertices), width), dtype=bool)
    for v, owner in enumerate(levels.cells[0]):
        ring = ring_ids[owner]  # the owner first (distance 0), then its neighbouring cells
        candidates[v, : len(ring)], valid[v, : len(ring)] = ring, True
        candidates[v, len(ring) :] = owner
    subset = levels.ids[1]
    weights = fit_upsampling(candidates, valid, examples_m[:, subset], examples_m, ridge)
    full = FullResolutionMap(subset, candidates, weights)
    return MeshHierarchy(hierarchy.level_sizes, hierarchy.tables, full, np.asarray(faces, dtype=np.int64))
