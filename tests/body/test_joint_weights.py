from __future__ import annotations

import numpy as np

from mocap.body.anny_body import AnnyBody
from mocap.body.joint_weights import BODY_JOINTS, build_joint_weights, load_joint_weights
from mocap.body.landmarks import LANDMARK_NAMES, load_landmark_regressor


def test_shipped_weights_are_the_template_rebuilt(body: AnnyBody) -> None:
    shipped = load_joint_weights()
    rebuilt = build_joint_weights(body.model.template_vertices.cpu().numpy())
    np.testing.assert_allclose(shipped, rebuilt, atol=1e-3)  # float16 on disk
    assert shipped.shape == (body.num_vertices, 12) and (shipped >= 0).all()
    np.testing.assert_allclose(shipped.sum(1), 1.0, atol=1e-5)


def test_each_joint_leads_the_vertices_it_is_made_of() -> None:
    """The vertices a joint is regressed from follow that joint most (a wrist's vertices its wrist, not the hip
    the hand hangs beside at rest)."""
    weights, regressor = load_joint_weights(), load_landmark_regressor()
    for column, landmark in enumerate(BODY_JOINTS):
        own = regressor[landmark].indices
        leader = weights[own].argmax(1)
        assert (leader == column).mean() > 0.8, LANDMARK_NAMES[landmark]
