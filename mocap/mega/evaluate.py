"""Accuracy of body estimates on the 12 BlazePose body joints: MPJPE and PA-MPJPE, batch-first, metres in, mm out.

Joints are the 12 body landmarks (shoulders, elbows, wrists, hips, knees, ankles) of ``mocap.body.landmarks``,
so MEGA's meshes, the ground truth and MediaPipe's world landmarks mean the same points. MPJPE: both skeletons in
the camera frame, each hip-centred (mean of landmarks 23, 24). PA-MPJPE: after a similarity Procrustes of the
prediction onto the truth.

Example:
    >>> errors = joint_errors_mm(pred_landmarks_m, truth_landmarks_m)  # doctest: +SKIP
    >>> errors["mpjpe"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mocap.body.joint_weights import BODY_JOINTS
from mocap.mega.geometry import HIPS

if TYPE_CHECKING:
    from mocap.mega.model import Mega
    from mocap.mega.rendered import RenderedExamples
    from mocap.tokenizer.model import MeshVQVAE

BODY_12 = list(BODY_JOINTS)  # shoulders, elbows, wrists, hips, knees, ankles (BlazePose indices)


def procrustes_aligned(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Similarity-align pred (B, J, 3) onto truth (B, J, 3) per item (Umeyama); returns aligned pred (B, J, 3)."""
    mu_p, mu_t = pred.mean(1, keepdims=True), truth.mean(1, keepdims=True)
    p, t = pred - mu_p, truth - mu_t
    u, s, vt = np.linalg.svd(np.einsum("bji,bjk->bik", p, t))  # (B, 3, 3) cross-covariance
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))
    s[:, 2] *= d
    u[:, :, 2] *= d[:, None]
    rotation = np.einsum("bij,bjk->bik", u, vt)  # p @ rotation ~ t
    scale = s.sum(1) / (p**2).sum((1, 2))
    return scale[:, None, None] * p @ rotation + mu_t


def body_joints(landmarks_m: np.ndarray) -> np.ndarray:
    """(B, 33, 3) landmarks -> (B, 12, 3) hip-centred body joints."""
    return landmarks_m[:, BODY_12] - landmarks_m[:, HIPS].mean(1, keepdims=True)


def joint_errors_mm(pred_landmarks_m: np.ndarray, truth_landmarks_m: np.ndarray) -> dict[str, np.ndarray]:
    """(B, 33, 3) landmark sets in one frame -> per-item MPJPE and PA-MPJPE (B,) in mm on the 12 body joints."""
    return body_joint_errors_mm(body_joints(pred_landmarks_m), body_joints(truth_landmarks_m))


def body_joint_errors_mm(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """(B, 12, 3) hip-centred body joints in one frame -> per-item MPJPE and PA-MPJPE (B,) in mm."""
    return {
        "mpjpe": 1000 * np.linalg.norm(pred - truth, axis=-1).mean(1),
        "pa_mpjpe": 1000 * np.linalg.norm(procrustes_aligned(pred, truth) - truth, axis=-1).mean(1),
    }


@torch.no_grad()
def rendered_errors_mm(
    model: Mega, tokenizer: MeshVQVAE, examples: RenderedExamples, chunk: int = 256
) -> dict[str, Any]:
    """MEGA vs MediaPipe's world landmarks on detector-measured examples (``mocap.mega.rendered``).

    MEGA's mesh two ways: ``argmax`` (decoded argmax tokens, the paper) and ``expected`` (decoded
    probability-weighted code embeddings, ``PolicyConfig.decode``), both turned by MEGA's rotation.
    Returns {"examples", "mega_argmax", "mega_expected", "mediapipe_world"}, mean MPJPE / PA-MPJPE in mm.
    """
    from mocap.body.landmarks import regress_landmarks
    from mocap.body.rotations import rotation_6d_to_matrix

    cond = torch.from_numpy(examples.cond)
    truth_rotation = rotation_6d_to_matrix(torch.from_numpy(examples.rotation_6d))
    truth = (torch.from_numpy(examples.keypoints_canonical_m) @ truth_rotation.transpose(1, 2)).numpy()
    codebook = tokenizer.vq_vae.codebook
    predicted: dict[str, list[torch.Tensor]] = {"mega_argmax": [], "mega_expected": []}
    for part in cond.split(chunk):
        argmax, out = model.argmax(part[..., : model.config.cond_dim], len(part))
        assert out.rotation_6d is not None  # a landmark model always has the rotation head
        turn = rotation_6d_to_matrix(out.rotation_6d).transpose(1, 2)
        meshes = {
            "mega_argmax": tokenizer.decode(argmax.ids),
            "mega_expected": tokenizer.decode_embeddings(out.logits.softmax(dim=-1) @ codebook),
        }
        for name, mesh in meshes.items():
            predicted[name].append(regress_landmarks(mesh) @ turn)
    errors = {name: joint_errors_mm(torch.cat(parts).numpy(), truth) for name, parts in predicted.items()}
    errors["mediapipe_world"] = joint_errors_mm(examples.cond[..., 3:6], truth)
    return {
        "examples": len(cond),
        **{part: {name: round(float(v.mean()), 1) for name, v in e.items()} for part, e in errors.items()},
    }
