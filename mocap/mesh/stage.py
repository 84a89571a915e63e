"""The mesh stage of ``mocap run``: tracked people -> posed Anny meshes in the camera frame.

Per frame and batched across people: square crops from the landmarks, MEGA's argmax pass, a second
pass on the mirror images (of the flipped frame's landmarks where the detector looked there, else of the
doubtful crops' own), K stochastic samples where the policy says so,
tokenizer decode (after an optional refinement onto the detector's landmarks, :mod:`mocap.mesh.refine`),
those answers averaged with their mirrored-back twins (:mod:`mocap.mesh.mirror`), then
orientation in the camera frame (rotation from the 6D head about the vertex centroid), a share of the way
toward the joint lifter's body joints and the detector's 3-D world landmarks (:mod:`mocap.mesh.fusion`),
the mesh scaled to its track's steady size (:mod:`mocap.mesh.size`), its translation solved so that its joints
project onto the detector's 2-D landmarks (:mod:`mocap.mesh.placement`; the crop camera's translation is the
prior), and BlazePose-compatible joints from the mesh.
The online smoother then filters every track (see :mod:`mocap.smooth.online`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.landmarks import regress_landmarks
from mocap.body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from mocap.body.symmetry import load_vertex_mirror
from mocap.errors import ModelNotFoundError
from mocap.lifter.model import lift_joints
from mocap.mega.evaluate import body_joints
from mocap.mega.geometry import HIPS
from mocap.mega.predictor import MegaPredictor, SamplingConfig
from mocap.mega.sampling import vertex_uncertainty
from mocap.mesh.crop import from_crop, square_crops, to_crop, weak_perspective_to_translation
from mocap.mesh.fusion import fuse_joint_estimates
from mocap.mesh.mirror import Answer, average_twins
from mocap.mesh.models import MeshModels
from mocap.mesh.placement import fit_translation
from mocap.mesh.policy import PolicyConfig, crops_to_sample
from mocap.mesh.refine import RefineConfig, refine_to_landmarks
from mocap.mesh.size import TrackSizes, skeleton_size_m
from mocap.types import Crops, Meshes, MirrorView, TokenPredictions, Tracks


@dataclass
class MeshEstimate:
    """What the mesh stage found for the tracks of one frame (rows = tracks)."""

    crops: Crops
    tokens: TokenPredictions
    meshes: Meshes
    translation_cam_m: npt.NDArray[np.float32]  # (N, 3) the mesh's origin (MEGA's vertex centroid), camera frame
    translation_variance_m2: npt.NDArray[np.float32]  # (N, 3) its variance per axis (0: MEGA's crop camera's)
    sampled: npt.NDArray[np.bool_]  # (N,) whether K samples measured the uncertainty
    body_size_m: npt.NDArray[np.float32]  # (N,) the frame's own body size, m, before the steady one

    def track_fields(self) -> dict[str, np.ndarray]:
        """The per-track arrays the store keeps (float16 where millimetres are plenty)."""
        return {
            "tokens": self.tokens.ids.astype(np.int16),
            "token_confidence": self.tokens.confidence.astype(np.float16),
            "rotation_6d": self.tokens.rotation_6d,
            "camera": self.tokens.camera,
            "uncertainty": self.tokens.uncertainty,
            "sampled": self.sampled,
            "translation_cam_m": self.translation_cam_m,
            "vertices_cam_m": self.meshes.vertices_cam_m.astype(np.float16),
            "vertex_uncertainty_m": self.meshes.vertex_uncertainty_m.astype(np.float16),
            "joints_cam_m": self.meshes.joints_cam_m,
            "body_size_m": self.body_size_m,
        }


def crop_landmarks(
    landmarks_px: npt.NDArray[np.float32], center_px: npt.NDArray[np.float64], size_px: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    """(N, 33, 3) x_px, y_px, visibility -> x, y in crop coordinates, visibility kept."""
    xy = to_crop(landmarks_px[..., :2], center_px, size_px)
    return np.concatenate([xy, landmarks_px[..., 2:]], axis=-1).astype(np.float32)


def make_crops(tracks: Tracks) -> Crops:
    """Square crops around each track's landmarks, with the landmarks in crop coordinates."""
    center, size = square_crops(tracks.landmarks_px, tracks.xyxy_px)
    landmarks_crop = crop_landmarks(tracks.landmarks_px, center, size)
    return Crops(tracks.track_id, center, size, landmarks_crop, tracks.landmarks_world_m.astype(np.float32))


def mirror_view_crops(crops: Crops, view: MirrorView) -> Crops:
    """The same crops (centres, sizes) holding the landmarks the mirrored frame measured; NaN rows where it had
    nobody."""
    landmarks_crop = crop_landmarks(view.landmarks_px, crops.center_px, crops.size_px)
    return replace(crops, landmarks_crop=landmarks_crop, landmarks_world_m=view.landmarks_world_m.astype(np.float32))


def world_landmarks(crops: Crops, seen_mirrored: Crops | None = None) -> npt.NDArray[np.float32]:
    """The detector's 3-D world landmarks of the crops (N, 33, 3): the mean of the frame's and the flipped frame's
    where the flipped frame measured the person (``seen_mirrored``'s finite rows), else the frame's alone."""
    world = crops.landmarks_world_m
    if seen_mirrored is None:
        return world
    twin = seen_mirrored.landmarks_world_m
    return np.where(np.isfinite(twin).all(axis=(1, 2), keepdims=True), (world + twin) / 2, world)


class MeshEstimator:
    """One verb: ``estimate(tracks, intrinsics)``. Models are loaded once, in eval mode."""

    def __init__(
        self,
        models: MeshModels,
        policy: PolicyConfig | None = None,
        sampling: SamplingConfig | None = None,
    ) -> None:
        if models.spread is None:
            raise ModelNotFoundError("the mesh stage needs the models' spread prior: fit it with `mocap train spread`")
        if len(models.spread.pattern) != models.tokenizer.hierarchy.input_size:
            raise ModelNotFoundError(
                f"the spread prior has {len(models.spread.pattern)} vertices but the tokenizer decodes "
                f"{models.tokenizer.hierarchy.input_size}: refit it for these models with `mocap train spread`"
            )
        self.vertex_mirror = torch.from_numpy(load_vertex_mirror())
        if len(self.vertex_mirror) != models.tokenizer.hierarchy.input_size:
            raise ModelNotFoundError(
                f"mirror averaging knows Anny's {len(self.vertex_mirror)} vertices but the tokenizer decodes "
                f"{models.tokenizer.hierarchy.input_size}: these models are not the Anny models `mocap run` expects"
            )
        self.models, self.spread = models, models.spread
        self.policy = policy or PolicyConfig()
        codebook = models.tokenizer.vq_vae.codebook if self.policy.decode == "expected" else None
        # The networks run where the models were loaded (``MeshModels.load_default(device)``); the rest of the stage
        # (fusion, placement, sizes) is small numpy work on the CPU.
        self.device = models.device
        self.predictor = MegaPredictor(models.mega, sampling, self.device, codebook=codebook)
        self.seconds_per_sampled_crop = 0.0  # running average, for the live budget
        self.sizes = TrackSizes()  # each track's steady body size

    @torch.no_grad()
    def estimate(
        self,
        tracks: Tracks,
        intrinsics: npt.NDArray[np.float64],
        started_s: float | None = None,
        mirror: MirrorView | None = None,
    ) -> MeshEstimate:
        """Meshes for ``tracks`` (N rows with landmarks), camera ``intrinsics`` (3, 3) pixels.

        ``started_s`` (a ``time.perf_counter()`` value) is when the frame started: live mode
        samples only what fits in the rest of the frame's budget. ``mirror`` (N rows) is what the detector
        saw of the same people in the flipped frame (``Detections.mirror``), when it looked there.
        """
        crops = make_crops(tracks)
        seen_mirrored = None if mirror is None else mirror_view_crops(crops, mirror)
        tokens = self.predictor.predict(crops)
        canonical, rotation, camera = average_twins(  # (N, V, 3), (N, 3, 3), (N, 3)
            crops,
            tokens.uncertainty,
            self.policy.mirror_threshold,
            self.deterministic_mesh(crops, tokens),
            lambda twins: self.deterministic_mesh(twins, self.predictor.predict(twins)),
            self.vertex_mirror,
            seen_mirrored,
        )
        # Ids, confidence and uncertainty stay those of MEGA's pass on the crops: what MEGA predicted for them.
        tokens = replace(tokens, rotation_6d=matrix_to_rotation_6d(rotation).numpy(), camera=camera.numpy())
        # (N, V) metres: the prior's estimate from the argmax pass, replaced where samples measure the spread.
        uncertainty = torch.from_numpy(self.spread.estimate_m(tokens.uncertainty))
        sampled = np.zeros(len(tracks), bool)
        left = np.inf if started_s is None else self.policy.frame_budget_s - (time.perf_counter() - started_s)
        rows = crops_to_sample(
            tokens.uncertainty, self.policy, seconds_left=left, seconds_per_sampled_crop=self.seconds_per_sampled_crop
        )
        if len(rows):
            tic = time.perf_counter()
            k = self.policy.num_samples
            drawn = self.predictor.predict(crops[rows], num_samples=k).samples  # (M, K, T)
            assert drawn is not None
            decoded = self.decode(drawn.reshape(len(rows) * k, -1))  # (M K, V, 3)
            uncertainty[torch.from_numpy(rows)] = vertex_uncertainty(decoded.view(len(rows), k, *decoded.shape[1:]))
            sampled[rows] = True
            cost = (time.perf_counter() - tic) / len(rows)
            self.seconds_per_sampled_crop = (
                cost if self.seconds_per_sampled_crop == 0 else (0.8 * self.seconds_per_sampled_crop + 0.2 * cost)
            )
        focal = np.full(len(tracks), intrinsics[0, 0])
        principal = np.broadcast_to(intrinsics[:2, 2], (len(tracks), 2))
        translation = weak_perspective_to_translation(tokens.camera, crops.center_px, crops.size_px, focal, principal)
        estimates = [(body_joints(world_landmarks(crops, seen_mirrored)), self.policy.world_share)]
        if self.policy.lift_share > 0:
            estimates.append((lift_joints(self.models.lifter, crops, seen_mirrored), self.policy.lift_share))
        oriented = fuse_joint_estimates(canonical @ rotation.transpose(1, 2), estimates).numpy()  # (N, V, 3) camera
        centred_joints = regress_landmarks(torch.from_numpy(oriented)).numpy()  # (N, 33, 3) BlazePose-compatible
        size = skeleton_size_m(centred_joints)  # (N,) the frame's own answer; the offline pass reads it back
        if self.policy.steady_size:
            scale = (self.sizes.steady(tracks.track_id, size) / size)[:, None, None]  # (N, 1, 1)
            hips = centred_joints[:, HIPS].mean(axis=1, keepdims=True)  # (N, 1, 3)
            oriented = hips + scale * (oriented - hips)
            centred_joints = hips + scale * (centred_joints - hips)  # the regressor is linear, its rows sum to 1
        variance = np.zeros((len(tracks), 3))
        if self.policy.place_on_landmarks:
            body = list(BODY_JOINTS)
            translation, variance = fit_translation(
                centred_joints[:, body],
                from_crop(crops.landmarks_crop[:, body, :2], crops.center_px, crops.size_px),
                crops.landmarks_crop[:, body, 2],
                focal,
                principal,
                translation,
            )
        vertices = (oriented + translation[:, None, :]).astype(np.float32)  # (N, V, 3)
        joints = (centred_joints + translation[:, None, :]).astype(np.float32)  # regressor rows sum to 1
        meshes = Meshes(tracks.track_id, vertices, uncertainty.numpy().astype(np.float32), joints)
        return MeshEstimate(
            crops,
            tokens,
            meshes,
            translation.astype(np.float32),
            variance.astype(np.float32),
            sampled,
            size.astype(np.float32),
        )

    def deterministic_mesh(self, crops: Crops, tokens: TokenPredictions) -> Answer:
        """MEGA's argmax-pass answer for ``crops`` (refined when the policy says so) -> canonical meshes (N, V, 3),
        centred, Anny axes; rotations canonical -> camera (N, 3, 3); crop cameras (N, 3)."""
        if self.policy.refine_iterations > 0:
            tokens = self.refine(crops, tokens)
        canonical = self.decode(tokens.ids if tokens.embeddings is None else tokens.embeddings)  # "expected", refined
        return canonical, rotation_6d_to_matrix(torch.from_numpy(tokens.rotation_6d)), torch.from_numpy(tokens.camera)

    def decode(self, tokens: npt.NDArray[np.int64] | npt.NDArray[np.float32]) -> torch.Tensor:
        """Token ids (B, N) or code embeddings (B, N, C) -> canonical meshes (B, V, 3) metres, on the CPU."""
        tokenizer, given = self.models.tokenizer, torch.from_numpy(tokens).to(self.device)
        return (tokenizer.decode(given) if tokens.ndim == 2 else tokenizer.decode_embeddings(given)).cpu()

    def refine(self, crops: Crops, tokens: TokenPredictions) -> TokenPredictions:
        """MEGA's deterministic answer pulled onto the crops' landmarks: new embeddings, rotation and camera.

        Starts from the expected embeddings, or the argmax tokens' codes with ``decode="argmax"``. The token ids,
        their confidence and the uncertainty stay MEGA's: they describe what MEGA predicted.
        """
        tokenizer = self.models.tokenizer

        def given(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(self.device)

        z = given(tokens.embeddings) if tokens.embeddings is not None else tokenizer.vq_vae.lookup(given(tokens.ids))
        refined = refine_to_landmarks(
            tokenizer,
            z,
            given(tokens.rotation_6d),
            given(tokens.camera),
            given(crops.landmarks_crop),
            given(crops.landmarks_world_m),
            RefineConfig(iterations=self.policy.refine_iterations),
        )
        return replace(
            tokens,
            embeddings=refined.z.cpu().numpy().astype(np.float32),
            rotation_6d=refined.rotation_6d.cpu().numpy().astype(np.float32),
            camera=refined.camera.cpu().numpy().astype(np.float32),
        )
