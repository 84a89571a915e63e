"""When to spend MEGA's stochastic samples: the adaptive policy.

Every crop gets the cheap argmax pass first. Its uncertainty (mean token entropy, in [0, 1])
predicts how much K samples would disagree; sampling is spent where it says so:

- ``live``: sample the most uncertain crops above the threshold, as long as the frame's time
  budget (the frame interval minus what the frame has used so far) allows;
- ``offline``: sample every crop above the threshold, whatever it costs;
- ``quality``: sample every crop.

A crop left unsampled still needs a spread for the smoother's measurement noise and for renders
coloured by uncertainty: the models' ``SpreadPrior`` (:mod:`mocap.mesh.spread`) estimates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Mode = Literal["live", "offline", "quality"]


@dataclass(frozen=True)
class PolicyConfig:
    """Attributes:
    mode: see the module docstring.
    num_samples: K samples per sampled crop.
    uncertainty_threshold: argmax uncertainty above which a crop is sampled (live, offline). With the shipped
        model it spans 0.33-0.52 (5th-95th percentile on validation renders); 0.45 samples the most doubtful
        ~40 % (measured in models/mega_anny/MODEL_CARD.md, "Sampling policy").
    frame_budget_s: live mode's time per frame (1 / the source's fps by default).
    decode: the deterministic mesh: "expected" decodes the probability-weighted code embeddings of the argmax
        pass (lower error, measured in models/mega_anny/MODEL_CARD.md), "argmax" the argmax tokens (the paper).
    refine_iterations: Adam steps of ``mocap.mesh.refine`` pulling each deterministic mesh onto the detector's
        landmarks (0 = off; ~14 ms per crop and step on one CPU thread).
    mirror_threshold: argmax uncertainty above which a crop's answer is averaged with MEGA's answer for its
        left-right mirror image, mirrored back (``mocap.mesh.mirror``; one more argmax pass and decode for those
        crops; refinement, when on, refines both). 0 = every crop, 1 = none. 0.4 is the most selective value
        that loses nothing on validation renders (models/mega_anny/MODEL_CARD.md, "Mirror averaging").
    lift_share: how far each deterministic mesh moves toward the joint lifter's 12 body joints (``mocap.lifter``,
        ``mocap.mesh.fusion``; the two views' mean where the flipped frame was measured too): 0 = MEGA's own mesh,
        1 = onto the lifter's joints.
    world_share: how far it moves toward the detector's 3-D world landmarks at the same joints, on top (0 = not).
        1 and 0 (session 22; 0.8 and 0.1 before): first or equal on validation renders per crop, per track at the
        whole track's size, and live (models/mega_anny/MODEL_CARD.md, "The whole track's size, and the fusion
        shares again"). The world landmarks still reach the joints through the lifter, which reads them.
    place_on_landmarks: solve each mesh's translation again after the fusion so that its 12 body joints project
        onto the detector's 2-D landmarks (``mocap.mesh.placement``); False keeps MEGA's crop camera's translation.
    steady_size: scale each fused mesh about its hip centre to its track's running median size (``mocap.mesh.size``),
        before the placement: a person's size does not change, and with the placement its wavering is depth jitter.
    """

    mode: Mode = "offline"
    num_samples: int = 8
    uncertainty_threshold: float = 0.45
    frame_budget_s: float = 1 / 30
    decode: Literal["expected", "argmax"] = "expected"
    refine_iterations: int = 0
    mirror_threshold: float = 0.4
    lift_share: float = 1.0
    world_share: float = 0.0
    place_on_landmarks: bool = True
    steady_size: bool = True


def crops_to_sample(
    uncertainty: npt.NDArray[np.floating],
    config: PolicyConfig,
    *,
    seconds_left: float = np.inf,
    seconds_per_sampled_crop: float = 0.0,
) -> npt.NDArray[np.int64]:
    """Rows (of the N crops of a frame) to sample, most uncertain first.

    Args:
        uncertainty: (N,) cheap per-crop uncertainty from the argmax pass.
        seconds_left: live mode's remaining budget for this frame.
        seconds_per_sampled_crop: the measured cost of sampling one crop (running average).
    """
    order = np.argsort(-np.asarray(uncertainty), kind="stable")
    if config.mode == "quality" or config.num_samples < 1:
        return order if config.num_samples > 0 else order[:0]
    order = order[np.asarray(uncertainty)[order] > config.uncertainty_threshold]
    if config.mode == "live":
        affordable = int(seconds_left // seconds_per_sampled_crop) if seconds_per_sampled_crop > 0 else len(order)
        order = order[: max(affordable, 0)]
    return order
