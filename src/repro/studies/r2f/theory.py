"""R2F's Gaussian motivation in closed form: interpolating a badly learned rare score with a well-learned
frequent one lands much closer (2-Wasserstein) to the true rare distribution than the rare score alone.

Scores of Gaussians interpolate as a product of experts: alpha * grad log N(mu_R, S_R) + (1 - alpha) * grad log
N(mu_F, S_F) is the score of N(mu, L^-1) with precision L = alpha L_R + (1 - alpha) L_F and mean
L^-1 (alpha L_R mu_R + (1 - alpha) L_F mu_F). For diagonal covariances W2^2 = |dmu|^2 + sum_i (s_i - s_i')^2.
"""

from __future__ import annotations

import numpy as np

# the paper's figure: target N(0, I); frequent concept learned exactly at (0, 10); rare concept smeared along x1
TARGET = (np.zeros(2), np.ones(2))
FREQUENT = (np.array([0.0, 10.0]), np.ones(2))
RARE_ESTIMATE = (np.zeros(2), np.array([20.0**2, 1.0]))


def interpolate(alpha: float, rare=RARE_ESTIMATE, frequent=FREQUENT):
    """Mean and diagonal variance of the distribution whose score is alpha * rare + (1 - alpha) * frequent."""
    (mr, vr), (mf, vf) = rare, frequent
    prec = alpha / vr + (1 - alpha) / vf
    mean = (alpha * mr / vr + (1 - alpha) * mf / vf) / prec
    return mean, 1.0 / prec


def w2_diag(a, b) -> float:
    """2-Wasserstein distance between two Gaussians with diagonal covariances (mean, variances)."""
    (ma, va), (mb, vb) = a, b
    return float(np.sqrt(np.sum((ma - mb) ** 2) + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)))


def w2_curve(alphas, target=TARGET, rare=RARE_ESTIMATE, frequent=FREQUENT) -> np.ndarray:
    return np.array([w2_diag(interpolate(a, rare, frequent), target) for a in alphas])


def w2_gaussian_fit(x: np.ndarray, target=TARGET) -> float:
    """W2 between the Gaussian fitted to samples x (n, d) (full covariance) and a diagonal target Gaussian."""
    from scipy.linalg import sqrtm

    mu, cov = x.mean(0), np.cov(x, rowvar=False)
    mt, vt = target
    st = np.diag(np.sqrt(vt))
    cross = np.real(sqrtm(st @ cov @ st))
    return float(np.sqrt(max(np.sum((mu - mt) ** 2) + np.trace(cov + np.diag(vt) - 2 * cross), 0.0)))
