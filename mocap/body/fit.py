"""Fast Anny body fit for whole tracks: meshes over time -> pose, root path and one phenotype.

Why this method: ``AnnyBody.fit`` (anny's ``AnnyInverter``) costs ~8 s per mesh, far too slow for
a capture of thousands of frames. Anny skins with linear blend skinning (LBS), so each posed mesh
already tells every bone's rigid motion: the vertices a bone carries move by that bone's world
rotation. The fit is therefore closed form and batched over frames:

1. **Phenotype, once per track** (skipped when ``init`` gives one): pose a few frames with the
   neutral body (steps 2-3), then a few Adam steps on the 6 phenotype values minimise the vertex
   error of those frames (Anny is differentiable; the poses stay fixed, the root translation is
   the closed-form mean offset), then a pattern search (one value at a time, +-0.2/0.1/0.05)
   scores each candidate by the error after a full pose fit.
2. **Per-bone rigid motion**: weighted Kabsch (Procrustes) from the rest mesh of that phenotype
   onto the target, on the ``vertices_per_bone`` vertices each bone weighs most, weights ``w**2``.
   Then ``sweeps`` damped rounds of the skinning-decomposition update (as in SSDR, Le & Deng 2012): for
   bone j, the target minus every other bone's share of the current LBS prediction is what bone j
   must explain, ``q_v = p_v - sum_{k != j} w_vk T_k r_v``, and a Kabsch of ``r_v -> q_v / w_vj``
   (weights ``w_vj**2``) refines it. Blended vertices (shoulders, neck, hips) then count right.
3. **Local rotations** ``R_j = G_parent^T G_j`` (Anny ``local-ref``). Bones without vertices of
   their own (the root, whose rotation shows only through its children) take the rotation of a
   group: the root turns with ``pelvis.L``/``pelvis.R``/``spine05`` together.
4. **Translation**: Anny translates the whole mesh with the root, so ``transl_m`` is the mean
   offset between the target and the mesh posed at the origin (exact least squares).

Measured (``benchmarks/bench_export.py`` -> ``benchmarks/results/export.json``, 2 shared CPU
cores, 3 held-out ``test``-split tracks of 64 frames on random phenotypes, camera frame):

- pose only (phenotype known / from ``init``): **5.1 mm** mean vertex error, **6.3 mm** joint
  error, **12-46 ms per frame** (the spread is other work on the machine);
- phenotype fitted too: 12.7 mm / 13.3 mm at ~53 ms per frame over 64 frames (the phenotype fit
  is a one-off ~2-3 s per track); with 5 mm vertex noise: 15.3 / 15.9 mm; on a ``mocap synth``
  store (float16 meshes, 2 people, 90 frames): 12.2 / 14.9 and 9.9 / 11.7 mm (3.8 / 4.6 and
  5.6 / 6.5 mm with the true phenotype). Phenotype values themselves stay ~0.2 off on average:
  muscle and weight trade off against each other with nearly the same mesh.
- ``AnnyBody.fit`` (AnnyInverter) reaches 3-9 mm but at ~8 s per mesh, ~200x slower.

Example:
    >>> params = fit_track(vertices_m, AnnyBody())   # doctest: +SKIP
    >>> params.pose_rotmat.shape, params.phenotype.shape   # doctest: +SKIP
    (torch.Size([T, 104, 3, 3]), torch.Size([1, 6]))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import torch

from mocap.body.anny_body import PHENOTYPE_LABELS, AnnyBody, neutral_phenotypes
from mocap.body.base import BodyParams
from mocap.body.rotations import matrix_to_quaternion, quaternion_to_matrix

log = logging.getLogger(__name__)

# Bones with no vertices of their own, and the bones whose vertices show their rotation.
_GROUPS: Final = {"root": ("pelvis.L", "pelvis.R", "spine05")}


@dataclass(frozen=True)
class FitConfig:
    """Knobs of :func:`fit_track`.

    Attributes:
        vertices_per_bone: vertices per bone in its Kabsch (the ones it weighs most).
        sweeps: skinning-decomposition refinement rounds after the first Kabsch.
        step: how far each round moves towards its solution (quaternion lerp): all bones update at
            once, so full steps overshoot where neighbours share vertices (measured, held-out poses:
            1 full round 15.5 mm vertex error; 3 rounds at 0.7: 7.4 mm; 6 rounds at 0.6: 5.1 mm).
        phenotype_frames: frames (evenly spread over the track) the phenotype is fitted on.
        phenotype_steps: Adam steps of the phenotype fit.
        phenotype_lr: Adam learning rate, in phenotype units (0..1) per step.
        search_steps: then a pattern search, one phenotype value at a time by +-these steps, each
            candidate scored by the vertex error after a full pose fit (what Adam, with the poses
            frozen, cannot see); measured: held-out tracks 26/8/15 mm -> 8/7/9 mm vertex error.
        chunk_frames: frames fitted at once (bounds memory: ~5 MB per frame).
    """

    vertices_per_bone: int = 256
    sweeps: int = 3
    step: float = 0.7
    phenotype_frames: int = 2
    phenotype_steps: int = 30
    phenotype_lr: float = 0.05
    search_steps: tuple[float, ...] = (0.2, 0.1, 0.05)
    chunk_frames: int = 64


def kabsch(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted rigid fit ``target ~ R @ source + t`` (Kabsch/Umeyama without scale).

    Args:
        source, target: (..., K, 3) corresponding points.
        weights: (..., K) non-negative point weights.

    Returns:
        R (..., 3, 3) proper rotations and t (..., 3).
    """
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)
    mean_s = (w[..., None] * source).sum(-2)  # (..., 3)
    mean_t = (w[..., None] * target).sum(-2)
    cov = ((source - mean_s[..., None, :]) * w[..., None]).transpose(-1, -2) @ (target - mean_t[..., None, :])
    u, _, vh = torch.linalg.svd(cov)  # cov (..., 3, 3) = U S Vh; R = V diag(1, 1, d) U^T
    d = torch.sign(torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2)))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    rotation = vh.transpose(-1, -2) @ fix @ u.transpose(-1, -2)
    return rotation, mean_t - (rotation @ mean_s[..., None])[..., 0]


def _nlerp(r0: torch.Tensor, r1: torch.Tensor, weight: float) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3, 3) normalised quaternion lerp, ``weight`` 0 = r0, 1 = r1."""
    q0, q1 = matrix_to_quaternion(r0), matrix_to_quaternion(r1)
    q1 = q1 * torch.where((q0 * q1).sum(-1, keepdim=True) < 0, -1.0, 1.0)  # shortest arc
    return quaternion_to_matrix((1 - weight) * q0 + weight * q1)


def world_to_local(world_rotmat: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """(B, J, 3, 3) bone rotations from rest -> (B, J, 3, 3) local-ref rotations ``G_parent^T G_j``."""
    local = world_rotmat.clone()
    local[:, 1:] = world_rotmat[:, parents[1:]].transpose(-1, -2) @ world_rotmat[:, 1:]
    return local


class TrackFitter:
    """Fits Anny default-rig parameters to a track's meshes (see the module docstring).

    Example:
        >>> fitter = TrackFitter(AnnyBody())            # doctest: +SKIP
        >>> params = fitter.fit(vertices_m)              # doctest: +SKIP
    """

    def __init__(self, body: AnnyBody, config: FitConfig | None = None) -> None:
        self.body = body
        self.config = config or FitConfig()
        model = body.model
        joints = len(body.joint_names)
        # (V, J) dense skinning weights; (J, K) each bone's heaviest vertices and their weights.
        dense = torch.zeros(body.num_vertices, joints)
        dense.scatter_add_(1, model.vertex_bone_indices.cpu(), model.vertex_bone_weights.cpu().float())
        for bone, group in _GROUPS.items():
            dense[:, body.joint_index(bone)] = dense[:, [body.joint_index(b) for b in group]].sum(1)
        self._weights, self._vertex_index = dense.T.topk(self.config.vertices_per_bone, dim=1)
        self._own = self._weights.clone()  # a bone's own skinning weight (0 for grouped bones)
        for bone in _GROUPS:
            self._own[body.joint_index(bone)] = 0.0
        self._parents = torch.as_tensor(body.parents)

    # --- public ----------------------------------------------------------------------------

    def fit(self, vertices_m: torch.Tensor, init: BodyParams | None = None) -> BodyParams:
        """(T, V, 3) meshes of one person -> BodyParams (T frames, phenotype (1, 6) shared).

        ``init``: a previous fit of the same person (e.g. the last chunk of a long track): its
        phenotype is reused and the phenotype fit skipped.
        """
        target = torch.as_tensor(vertices_m, dtype=torch.float32)
        if init is not None:
            phenotype = init.phenotype.reshape(-1, len(PHENOTYPE_LABELS))[:1].float()
        else:
            phenotype = self.fit_phenotype(target)
        rest = self._rest_vertices(phenotype)
        chunks = [self._pose(target[i : i + self.config.chunk_frames], rest, phenotype)
                  for i in range(0, len(target), self.config.chunk_frames)]  # fmt: skip
        return BodyParams(
            pose_rotmat=torch.cat([c[0] for c in chunks]),
            transl_m=torch.cat([c[1] for c in chunks]),
            phenotype=phenotype,
        )

    def fit_phenotype(self, target_m: torch.Tensor) -> torch.Tensor:
        """(T, V, 3) meshes -> (1, 6) phenotype fitted on a few frames spread over the track."""
        cfg = self.config
        picks = torch.linspace(0, len(target_m) - 1, min(cfg.phenotype_frames, len(target_m))).round().long()
        target = target_m[picks]
        neutral = neutral_phenotypes(1)
        pose, _ = self._pose(target, self._rest_vertices(neutral), neutral)
        logit = torch.zeros(1, len(PHENOTYPE_LABELS), requires_grad=True)  # sigmoid(0) = 0.5, the average body
        optimizer = torch.optim.Adam([logit], lr=cfg.phenotype_lr * 4)  # d sigmoid / dx = 1/4 at 0
        for _ in range(cfg.phenotype_steps):
            vertices = self.body.forward(pose, torch.sigmoid(logit).expand(len(pose), -1)).vertices_m
            offset = (target - vertices).mean(1, keepdim=True).detach()  # closed-form translation
            loss = (vertices + offset - target).square().sum(-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return self._pattern_search(target, torch.sigmoid(logit).detach())

    def _pattern_search(self, target: torch.Tensor, phenotype: torch.Tensor) -> torch.Tensor:
        """(n, V, 3) frames, (1, 6) start -> (1, 6) improved one value at a time (see FitConfig)."""
        best, best_error = phenotype, self._pose_error(target, phenotype)
        for step in self.config.search_steps:
            for index in range(len(PHENOTYPE_LABELS)):
                for sign in (1.0, -1.0):
                    candidate = best.clone()
                    candidate[0, index] = (candidate[0, index] + sign * step).clamp(0.0, 1.0)
                    error = self._pose_error(target, candidate)
                    if error < best_error:
                        best, best_error = candidate, error
        return best

    @torch.no_grad()
    def _pose_error(self, target: torch.Tensor, phenotype: torch.Tensor) -> float:
        """Mean vertex error (m) of the closed-form pose fit of ``target`` with ``phenotype``."""
        pose, transl = self._pose(target, self._rest_vertices(phenotype), phenotype)
        vertices = self.body.forward(pose, phenotype.expand(len(target), -1), transl).vertices_m
        return float((vertices - target).norm(dim=-1).mean())

    # --- steps -----------------------------------------------------------------------------

    def _rest_vertices(self, phenotype: torch.Tensor) -> torch.Tensor:
        """(1, 6) -> (V, 3) the A-pose mesh with the root joint at the origin."""
        with torch.no_grad():
            return self.body.forward(self.body.identity_pose(1), phenotype).vertices_m[0]

    @torch.no_grad()
    def _pose(
        self, target: torch.Tensor, rest: torch.Tensor, phenotype: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, V, 3) targets, (V, 3) rest mesh -> local rotations (T, J, 3, 3), root translation (T, 3)."""
        frames = len(target)
        source = rest[self._vertex_index]  # (J, K, 3)
        rotation, shift = kabsch(source.expand(frames, -1, -1, -1), target[:, self._vertex_index], self._weights**2)
        for _ in range(self.config.sweeps):
            new_rotation, new_shift = self._sweep(target, rest, source, rotation, shift)
            rotation = _nlerp(rotation, new_rotation, self.config.step)
            shift = shift + self.config.step * (new_shift - shift)
        local = world_to_local(rotation, self._parents)
        posed = self.body.forward(local, phenotype.expand(frames, -1)).vertices_m
        return local, (target - posed).mean(1)

    def _sweep(
        self,
        target: torch.Tensor,
        rest: torch.Tensor,
        source: torch.Tensor,
        rotation: torch.Tensor,
        shift: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One skinning-decomposition round: each bone refits what the other bones leave unexplained.

        rotation (T, J, 3, 3), shift (T, J, 3): per-bone rigid motions rest -> posed.
        """
        frames = len(target)
        transforms = torch.zeros(frames, rotation.shape[1], 4, 4)
        transforms[..., :3, :3], transforms[..., :3, 3] = rotation, shift
        transforms[..., 3, 3] = 1.0
        predicted = self.body.model.get_skinned_vertices(rest.expand(frames, -1, -1), transforms)  # (T, V, 3)
        own = self._own.clamp_min(1e-3)  # (J, K)
        mine = (rotation[:, :, None] @ source[None, ..., None])[..., 0] + shift[:, :, None]  # (T, J, K, 3)
        residual = target[:, self._vertex_index] - predicted[:, self._vertex_index]
        explained = (residual + own[..., None] * mine) / own[..., None]
        weights = torch.where(self._own > 0, self._own, self._weights) ** 2
        grouped = self._own[:, 0] == 0  # bones fitted on their group's vertices keep the plain Kabsch target
        explained = torch.where(grouped[None, :, None, None], target[:, self._vertex_index], explained)
        return kabsch(source.expand(frames, -1, -1, -1), explained, weights)


def fit_track(
    vertices_m: torch.Tensor, body: AnnyBody, *, init: BodyParams | None = None, config: FitConfig | None = None
) -> BodyParams:
    """Fit Anny to one person's meshes over time (closed form, batched; see the module docstring).

    Args:
        vertices_m: (T, V, 3) meshes in any right-handed metric frame (e.g. the camera's).
        body: the default-rig :class:`AnnyBody`.
        init: a previous fit of the same person: its phenotype is reused.
        config: fitting knobs.

    Returns:
        BodyParams with pose_rotmat (T, 104, 3, 3), transl_m (T, 3) in the input frame and
        phenotype (1, 6) shared by the track.
    """
    return TrackFitter(body, config).fit(vertices_m, init)
