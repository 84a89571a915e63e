"""Left-right symmetry of the body: the mirror image of each BlazePose landmark and of each Anny vertex.

Anny's template mesh is symmetric about its x = 0 plane (canonical frame, +x = the body's left): the mirror
image of vertex i, (-x, y, z), is exactly vertex ``vertex_mirror()[i]``. The table is built once from the
installed anny by :func:`build_vertex_mirror` (``python -m mocap.body.symmetry`` rewrites ``anny_mirror.npz``
beside this file, as ``anny_landmarks.npz`` is built) and loaded by :func:`load_vertex_mirror`, so running
the pipeline does not load anny. Both tables are involutions: applied twice they give the identity.

Example:
    >>> mirror = load_vertex_mirror()
    >>> mirror.shape, bool((mirror[mirror] == np.arange(len(mirror))).all())
    ((13718,), True)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from mocap.body.landmarks import LANDMARK_NAMES

MIRROR_FILE: Final = Path(__file__).with_name("anny_mirror.npz")


def _landmark_mirror() -> npt.NDArray[np.int64]:
    """(33,) BlazePose index of each landmark's mirror image: left_* <-> right_*, mouth_left <-> mouth_right."""
    swapped = [name.replace("left", "@").replace("right", "left").replace("@", "right") for name in LANDMARK_NAMES]
    return np.asarray([LANDMARK_NAMES.index(name) for name in swapped], dtype=np.int64)


LANDMARK_MIRROR: Final = _landmark_mirror()


def mirror_landmarks(landmarks: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 33, 3) landmarks whose first coordinate is x about a centre line (crop x, y, visibility; world or
    canonical x, y, z) -> those of the mirror image: x negated, left <-> right relabelled."""
    mirrored = landmarks[:, LANDMARK_MIRROR].copy()
    mirrored[..., 0] *= -1
    return mirrored


def build_vertex_mirror(template_m: npt.NDArray[np.floating], tolerance_m: float = 1e-5) -> npt.NDArray[np.int64]:
    """(V,) index of each vertex's mirror image about x = 0 in a symmetric template (V, 3), metres.

    Raises ``ValueError`` when the template is not symmetric within ``tolerance_m`` or the pairing is not an
    involution (a vertex whose mirror's mirror is another vertex).
    """
    template = np.asarray(template_m, dtype=np.float64)
    template = template - [template[:, 0].mean(), 0.0, 0.0]  # the plane of symmetry through the mean x
    distance, mirror = cKDTree(template).query(template * [-1.0, 1.0, 1.0])
    if distance.max() > tolerance_m:
        raise ValueError(f"the template is not left-right symmetric: a mirrored vertex is {distance.max():.2e} m off")
    if not (mirror[mirror] == np.arange(len(mirror))).all():
        raise ValueError("the template's mirror pairing is not one-to-one")
    return mirror.astype(np.int64)


def save_vertex_mirror(mirror: npt.NDArray[np.int64], path: Path = MIRROR_FILE) -> None:
    np.savez_compressed(path, vertex_mirror=mirror.astype(np.int32))


@functools.lru_cache(maxsize=1)
def load_vertex_mirror(path: Path = MIRROR_FILE) -> npt.NDArray[np.int64]:
    """The (V,) vertex mirror table of Anny's default topology shipped with the package (V = 13 718)."""
    with np.load(path) as f:
        return f["vertex_mirror"].astype(np.int64)


if __name__ == "__main__":
    from mocap.body.anny_body import load_anny

    save_vertex_mirror(build_vertex_mirror(load_anny("default").template_vertices.cpu().numpy()))
