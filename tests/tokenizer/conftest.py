"""Tiny synthetic meshes and hierarchies for the tokenizer tests (icospheres: fast, one piece)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import trimesh

from mocap.tokenizer.hierarchy import MeshHierarchy, build_hierarchy
from mocap.tokenizer.model import MeshVQVAEConfig

# A 4-level network like the reference medium config, with few channels so tests run in seconds.
TINY_CONFIG = MeshVQVAEConfig(
    channels=(8, 8, 8, 8, 16, 16, 4, 16, 16, 8, 8, 8, 8, 3),
    num_embeddings=32,
)


@pytest.fixture(scope="session")
def sphere() -> tuple[np.ndarray, np.ndarray]:
    """(162, 3) vertices on a 0.5 m sphere and (320, 3) faces."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


@pytest.fixture(scope="session")
def tiny_hierarchy(sphere: tuple[np.ndarray, np.ndarray]) -> MeshHierarchy:
    """162 -> 48 -> 20 -> 8 vertices."""
    return build_hierarchy(*sphere, sizes=(48, 20, 8))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: a second intra-op thread only adds synchronisation, ~20x slower on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
