"""Anny (NAVER, Apache-2.0 code, CC0 assets) as a :class:`~mocap.body.base.BodyModel`.

Frames and units: metres; Anny's world frame is **z-up, the body faces -y**, x to the body's
left. The rest pose is an A-pose. Pose parameters use Anny's ``local-ref`` parameterization: each
bone's local rotation is expressed in world-aligned axes at the rest pose (so rotating the
``upperarm01.L`` bone by ``Rz(a)`` with the parents at rest turns the arm about the world z axis);
index 0 (``root``, the pelvis centre) carries the global orientation, and ``transl_m`` puts the
root joint at that world position. With identity rotations and zero translation, the root joint
is at the origin and the feet near z = -0.8 m for the neutral body.

Phenotype: (B, 6) floats in [0, 1], in :data:`PHENOTYPE_LABELS` order (gender 0 = male,
1 = female; age anchors 0 = baby, 1/3 = child, 2/3 = young adult, 1 = old; muscle, weight,
height, proportions 0..1, 0.5 average).

Example:
    >>> body = AnnyBody()
    >>> out = body.forward(body.identity_pose(2), neutral_phenotypes(2))
    >>> out.vertices_m.shape
    torch.Size([2, 13718, 3])
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.base import BodyOutput, BodyParams
from mocap.errors import ConfigError

if TYPE_CHECKING:
    import anny

log = logging.getLogger(__name__)

PHENOTYPE_LABELS: Final = ("gender", "age", "muscle", "weight", "height", "proportions")
RIGS: Final = ("default", "cmu_mb", "mixamo", "game_engine")

# Ranges of random_phenotypes (uniform unless noted). Age: 20 % children (0.36-0.6, roughly 6-18
# years between anny's "child" and "young" anchors), 80 % adults (0.6-1.0, young adult to elderly);
# babies are left out: nobody under 5 performs the mocap clips.
_CHILD_FRACTION: Final = 0.2
_CHILD_AGE: Final = (0.36, 0.6)
_ADULT_AGE: Final = (0.6, 1.0)
_GENDER: Final = (0.0, 1.0)
_MUSCLE: Final = (0.1, 0.9)
_WEIGHT: Final = (0.05, 0.95)  # thin to heavy
_HEIGHT: Final = (0.05, 0.95)
_PROPORTIONS: Final = (0.2, 0.8)


def random_phenotypes(n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """(n, 6) varied, plausible phenotypes, children to elderly, thin to heavy (ranges above).

    Reproducible from the generator's seed.

    Example:
        >>> random_phenotypes(3, np.random.default_rng(0)).shape
        (3, 6)
    """
    u = rng.random((n, 6))
    lo, hi = np.array([_GENDER, _ADULT_AGE, _MUSCLE, _WEIGHT, _HEIGHT, _PROPORTIONS]).T
    phenotypes = lo + u * (hi - lo)
    is_child = rng.random(n) < _CHILD_FRACTION
    phenotypes[is_child, 1] = _CHILD_AGE[0] + u[is_child, 1] * (_CHILD_AGE[1] - _CHILD_AGE[0])
    return phenotypes.astype(np.float32)


def neutral_phenotypes(n: int) -> torch.Tensor:
    """(n, 6) the average body (every phenotype 0.5), float32."""
    return torch.full((n, len(PHENOTYPE_LABELS)), 0.5)


@functools.lru_cache(maxsize=8)
def load_anny(rig: str = "default", device: str = "cpu") -> anny.Anny:
    """The ``anny.Anny`` model for ``rig`` on ``device`` in float32, built once per process.

    The first build with an empty cache takes ~100 s and writes ~800 MB to ``ANNY_CACHE_DIR``
    (default ``~/.cache/anny``); later builds take ~1 s.
    """
    if rig not in RIGS:
        raise ConfigError(f"unknown Anny rig {rig!r}; choose one of {', '.join(RIGS)}")
    import anny
    import anny.paths

    if "ANNY_CACHE_DIR" in os.environ:  # anny reads it at import; honour a later setting too
        anny.paths.set_anny_cache_path(os.environ["ANNY_CACHE_DIR"])
    log.info("building Anny rig=%s on %s (cache %s)", rig, device, anny.paths.get_anny_cache_path())
    model = anny.Anny(rig="anny" if rig == "default" else rig)
    return model.to(device=torch.device(device), dtype=torch.float32).eval()


class AnnyBody:
    """Anny as a batch-first body model: (pose, phenotype, translation) -> mesh, joints, landmarks.

    Cheap to construct: the underlying model is shared per (rig, device) through :func:`load_anny`.

    Example:
        >>> body = AnnyBody("default")
        >>> body.num_vertices, len(body.joint_names)
        (13718, 104)
    """

    def __init__(self, rig: str = "default", device: str = "cpu") -> None:
        self.rig = rig
        self.device = torch.device(device)
        self.model = load_anny(rig, str(self.device))
        self._faces = self.model.faces.cpu().numpy().astype(np.int64)
        self._parents = np.asarray([int(p) for p in self.model.bone_parents], dtype=np.int64)
        self._parents[0] = -1

    # --- description ---------------------------------------------------------------------

    @property
    def num_vertices(self) -> int:
        return int(self.model.template_vertices.shape[0])

    @property
    def faces(self) -> npt.NDArray[np.int64]:
        """(F, 3) triangles; F = 27,420 for the default topology."""
        return self._faces

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self.model.bone_labels)

    @property
    def parents(self) -> npt.NDArray[np.int64]:
        """(J,) parent bone index, -1 for the root."""
        return self._parents

    def joint_index(self, name: str) -> int:
        return self.joint_names.index(name)

    def identity_pose(self, batch: int) -> torch.Tensor:
        """(batch, J, 3, 3) identity rotations: the A-pose rest, facing -y."""
        eye = torch.eye(3, device=self.device)
        return eye.expand(batch, len(self.joint_names), 3, 3).clone()

    # --- evaluation ----------------------------------------------------------------------

    def _delta_transforms(self, pose_rotmat: torch.Tensor, transl_m: torch.Tensor | None) -> torch.Tensor:
        """(B, J, 3, 3) + (B, 3) -> (B, J, 4, 4) anny delta transforms (translation on the root only)."""
        batch, joints = pose_rotmat.shape[:2]
        delta = torch.zeros(batch, joints, 4, 4, dtype=pose_rotmat.dtype, device=pose_rotmat.device)
        delta[..., :3, :3] = pose_rotmat
        delta[..., 3, 3] = 1.0
        if transl_m is not None:
            delta[:, 0, :3, 3] = transl_m
        return delta

    def _blendshape_coeffs(self, phenotype: torch.Tensor) -> torch.Tensor:
        empty = phenotype.new_zeros(phenotype.shape[0], 0)
        return self.model._get_phenotype_blendshape_coefficients(phenotype, empty, empty)

    def forward(
        self, pose_rotmat: torch.Tensor, phenotype: torch.Tensor, transl_m: torch.Tensor | None = None
    ) -> BodyOutput:
        """Pose and skin a batch of bodies.

        Args:
            pose_rotmat: (B, J, 3, 3) local rotations (``local-ref``, see module docstring).
            phenotype: (B, 6) or (1, 6) in [0, 1], :data:`PHENOTYPE_LABELS` order.
            transl_m: (B, 3) world position of the root joint; None = origin.

        Returns:
            vertices (B, 13718, 3), joints (B, J, 3), bone poses (B, J, 4, 4); metres, z-up.
        """
        pose_rotmat = pose_rotmat.to(self.device, torch.float32)
        phenotype = torch.as_tensor(phenotype, dtype=torch.float32, device=self.device)
        transl = None if transl_m is None else torch.as_tensor(transl_m, dtype=torch.float32, device=self.device)
        out = self.model(pose_parameters=self._delta_transforms(pose_rotmat, transl), phenotype_kwargs=phenotype)
        bone_poses = out["bone_poses"]
        return BodyOutput(vertices_m=out["vertices"], joints_m=bone_poses[..., :3, 3], bone_poses=bone_poses)

    __call__ = forward

    def rest_bone_poses(self, phenotype: torch.Tensor) -> torch.Tensor:
        """(B, 6) phenotypes -> (B, J, 4, 4) rest bone poses, for repeated :meth:`bone_poses` calls."""
        phenotype = torch.as_tensor(phenotype, dtype=torch.float32, device=self.device)
        return self.model.get_rest_model(self._blendshape_coeffs(phenotype))["rest_bone_poses"]

    def bone_poses(
        self, pose_rotmat: torch.Tensor, rest_bone_poses: torch.Tensor, transl_m: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Forward kinematics only (no skinning; differentiable): -> (B, J, 4, 4) world bone poses.

        ``rest_bone_poses`` from :meth:`rest_bone_poses`, batch B or 1. Joint positions are
        ``[..., :3, 3]``.
        """
        delta = self._delta_transforms(pose_rotmat, transl_m)
        return self.model.get_bone_transforms(delta, rest_bone_poses)[1]

    def canonical_vertices(self, pose_rotmat: torch.Tensor, phenotype: torch.Tensor) -> torch.Tensor:
        """The tokenizer's CANONICAL mesh: zero global orientation, vertex-mean centred, metres.

        Args:
            pose_rotmat: (B, J, 3, 3); its root rotation (index 0) is ignored (set to identity).
            phenotype: (B, 6) or (1, 6).

        Returns:
            (B, V, 3) float32, z-up facing -y, ``vertices.mean(1) == 0``.
        """
        local = pose_rotmat.clone()
        local[:, 0] = torch.eye(3, dtype=local.dtype, device=local.device)
        return centre_vertices(self.forward(local, phenotype).vertices_m)

    def landmarks(self, vertices_m: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, 33, 3) MediaPipe BlazePose landmarks (see :mod:`mocap.body.landmarks`)."""
        from mocap.body.landmarks import regress_landmarks

        return regress_landmarks(vertices_m)

    def fit(self, vertices_m: torch.Tensor, init: BodyParams | None = None, max_iterations: int = 10) -> BodyParams:
        """Fit pose, translation and phenotype to (B, V, 3) target meshes with ``anny.AnnyInverter``.

        ``init`` warm-starts the fit (e.g. the previous frame's result) and then keeps the
        phenotype fixed at ``init.phenotype`` (only the pose is refined), which is what a tracked
        sequence wants. Cost on 2 busy CPU cores, mocap poses, random bodies: 10 iterations
        ~8 s per mesh for 3-9 mm mean vertex error; 5 iterations ~3 s for 6-9 mm.
        """
        from anny.anny_inverter import AnnyInverter

        inverter = _inverter(self.rig, str(self.device))
        target = vertices_m.to(self.device, torch.float32)
        kwargs: dict[str, object] = {}
        if init is not None:
            kwargs["initial_pose_parameters"] = self._delta_transforms(
                init.pose_rotmat.to(self.device, torch.float32), init.transl_m.to(self.device, torch.float32)
            ).expand(len(target), -1, -1, -1)
            phen = init.phenotype.to(self.device, torch.float32).expand(len(target), -1)
            kwargs["initial_phenotype_kwargs"] = {k: phen[:, i] for i, k in enumerate(PHENOTYPE_LABELS)}
            kwargs["optimize_phenotypes"] = False
        assert isinstance(inverter, AnnyInverter)
        with torch.no_grad():
            pose, phenotype_kwargs, _ = inverter(target, max_n_iters=max_iterations, **kwargs)
        phenotype = torch.stack(
            [torch.as_tensor(phenotype_kwargs[k], dtype=torch.float32).expand(len(target)) for k in PHENOTYPE_LABELS],
            dim=1,
        )
        return BodyParams(
            pose_rotmat=pose[..., :3, :3].float(), transl_m=pose[:, 0, :3, 3].float(), phenotype=phenotype
        )


@functools.lru_cache(maxsize=4)
def _inverter(rig: str, device: str) -> object:
    from anny.anny_inverter import AnnyInverter

    return AnnyInverter(load_anny(rig, device))


def centre_vertices(vertices_m: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) -> (B, V, 3) minus the per-mesh vertex mean."""
    return vertices_m - vertices_m.mean(dim=1, keepdim=True)


def canonicalize(vertices_m: torch.Tensor, root_rotmat: torch.Tensor) -> torch.Tensor:
    """World meshes -> canonical meshes: undo the root rotation and centre.

    Args:
        vertices_m: (B, V, 3) posed world vertices.
        root_rotmat: (B, 3, 3) the bodies' global orientation (pose index 0).

    Returns:
        (B, V, 3) ``(v - mean) @ R`` (i.e. ``R^T (v - mean)`` per vertex), vertex-mean centred.
    """
    return centre_vertices(vertices_m) @ root_rotmat
