from __future__ import annotations

import numpy as np

from mocap.mesh.placement import fit_translation

K_FOCAL, K_PRINCIPAL = 640.0, np.array([320.0, 240.0])


def body_points(n: int, seed: int = 0) -> np.ndarray:
    """(n, 12, 3) points of a 1.7 m tall body (camera orientation, about their origin)."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-0.25, -0.85, -0.15], [0.25, 0.85, 0.15], (n, 12, 3))


def project(points_m: np.ndarray) -> np.ndarray:
    return K_FOCAL * points_m[..., :2] / points_m[..., 2:3] + K_PRINCIPAL


def test_recovers_the_translation_that_made_the_pixels() -> None:
    points = body_points(5)
    truth = np.array([[0.3, 0.1, 4.0], [-1.0, 0.2, 6.5], [0.0, 0.0, 2.5], [2.0, -0.3, 9.0], [0.5, 0.4, 3.0]])
    pixels = project(points + truth[:, None])
    prior = truth + np.array([0.4, -0.3, 2.0])  # a crop camera 2 m too far and off sideways
    fitted, _ = fit_translation(
        points, pixels, np.ones((5, 12)), np.full(5, K_FOCAL), np.tile(K_PRINCIPAL, (5, 1)), prior
    )
    np.testing.assert_allclose(fitted, truth, atol=0.1)  # the weak prior pulls the far body's depth by ~9 cm
    exact, variance = fit_translation(
        points, pixels, np.ones((5, 12)), np.full(5, K_FOCAL), np.tile(K_PRINCIPAL, (5, 1)), prior, prior_weight=0.0
    )
    np.testing.assert_allclose(exact, truth, atol=1e-6)
    np.testing.assert_allclose(variance, 0.0, atol=1e-12)  # exact pixels: nothing left to doubt


def test_unseen_or_unreliable_joints_do_not_pull() -> None:
    points = body_points(1, seed=1)
    truth = np.array([[0.2, -0.1, 5.0]])
    pixels = project(points + truth[:, None])
    weights = np.ones((1, 12))
    pixels[0, :3] = [[np.nan, np.nan], [5000.0, -300.0], [0.0, 0.0]]  # not seen, and two wild outliers ...
    weights[0, 1:3] = 0.0  # ... that the detector called invisible
    fitted, _ = fit_translation(points, pixels, weights, np.array([K_FOCAL]), K_PRINCIPAL[None], truth + 1.0)
    np.testing.assert_allclose(fitted, truth, atol=0.02)  # the prior 1 m off pulls a centimetre


def test_without_evidence_the_prior_stays() -> None:
    points = body_points(2, seed=2)
    prior = np.array([[0.0, 0.0, 4.0], [1.0, 0.0, 3.0]])
    pixels = np.full((2, 12, 2), np.nan)
    fitted, variance = fit_translation(
        points, pixels, np.ones((2, 12)), np.full(2, K_FOCAL), np.tile(K_PRINCIPAL, (2, 1)), prior
    )
    np.testing.assert_allclose(fitted, prior)
    np.testing.assert_array_equal(variance, 0.0)
    # Pixels of the body turned upside down in the image fit it only behind the camera: refused, the prior stays.
    upside_down = project(points * np.array([-1.0, -1.0, 1.0]) + prior[:, None])
    focal, principal = np.full(2, K_FOCAL), np.tile(K_PRINCIPAL, (2, 1))
    np.testing.assert_allclose(
        fit_translation(points, upside_down, np.ones((2, 12)), focal, principal, prior)[0], prior
    )


def test_the_variance_says_depth_is_loose_and_grows_with_distance_and_noise() -> None:
    """Pixel noise of 3 px on the same body at 4 m and at 9 m: depth is the least certain axis, far more so far away,
    and the variance tracks the actual scatter of the fitted depths over many noisy draws."""
    rng = np.random.default_rng(3)
    points = np.repeat(body_points(1, seed=4), 400, axis=0)
    focal, principal = np.full(400, K_FOCAL), np.tile(K_PRINCIPAL, (400, 1))
    spreads = []
    for depth in (4.0, 9.0):
        truth = np.tile([0.2, 0.1, depth], (400, 1))
        pixels = project(points + truth[:, None]) + rng.normal(0, 3.0, (400, 12, 2))
        fitted, variance = fit_translation(points, pixels, np.ones((400, 12)), focal, principal, truth)
        assert np.all(variance[:, 2] > 5 * variance[:, :2].max(axis=1))
        predicted, measured = np.sqrt(variance[:, 2].mean()), fitted[:, 2].std()
        assert 0.7 < predicted / measured < 1.4, (predicted, measured)
        spreads.append(measured)
    assert spreads[1] > 3 * spreads[0]
