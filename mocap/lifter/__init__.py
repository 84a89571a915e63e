"""The joint lifter: MediaPipe's landmarks of a crop -> its 12 body joints in 3-D (``model``), and its training
(``train``, with ``world_model``: MediaPipe-like world landmarks for its synthetic crops). The mesh stage fuses its
joints with MEGA's mesh (``mocap.mesh.fusion``)."""

from mocap.lifter.model import (
    JointLifter,
    Lifter,
    LifterConfig,
    LifterEnsemble,
    join_lifters,
    lift_joints,
    load_lifter,
    save_lifter,
)

__all__ = [
    "JointLifter",
    "Lifter",
    "LifterConfig",
    "LifterEnsemble",
    "join_lifters",
    "lift_joints",
    "load_lifter",
    "save_lifter",
]
