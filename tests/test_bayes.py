"""The closed-form posterior against brute force, and the vectorised code against a plain loop."""

import numpy as np
import pytest
import torch

from repro.studies.dual_modes import bayes
from repro.studies.dual_modes import data as P


def _small_prior():
    """d=1, two groups with distinct input means and skills, broad enough for a grid."""
    return P.Prior(mu=torch.tensor([[0.8], [-0.5]], dtype=torch.float64),
                   w=torch.tensor([[-0.7], [1.1]], dtype=torch.float64),
                   pi=torch.tensor([0.3, 0.7], dtype=torch.float64),
                   sigma_x=1.0, sigma_y=0.8, sigma_mu=0.6, sigma_w=0.7)


def _grid_posterior(prior, X, Y, xq):
    """Brute force on a (mu, w) grid: p(beta, mu, w | data) ∝ pi_b N(mu; mu_b) N(w; w_b) prod p(x|mu) p(y|x,w)."""
    mu = np.linspace(-5, 5, 1601)
    w = np.linspace(-5, 5, 1601)
    xs = np.concatenate([X, [xq]])
    loglik_mu = -((xs[None, :] - mu[:, None]) ** 2).sum(1) / (2 * prior.sigma_x**2)
    loglik_w = -((Y[None, :] - w[:, None] * X[None, :]) ** 2).sum(1) / (2 * prior.sigma_y**2)
    evid, w_mean = [], []
    for b in range(prior.M):
        lp_mu = loglik_mu - (mu - prior.mu[b, 0].item()) ** 2 / (2 * prior.sigma_mu**2)
        lp_w = loglik_w - (w - prior.w[b, 0].item()) ** 2 / (2 * prior.sigma_w**2)
        c_mu, c_w = lp_mu.max(), lp_w.max()
        z_mu = np.exp(lp_mu - c_mu).sum() / prior.sigma_mu
        pw = np.exp(lp_w - c_w)
        z_w = pw.sum() / prior.sigma_w
        evid.append(np.log(prior.pi[b].item()) + np.log(z_mu) + c_mu + np.log(z_w) + c_w)
        w_mean.append((pw * w).sum() / pw.sum())
    evid = np.array(evid)
    post = np.exp(evid - evid.max())
    post /= post.sum()
    return post, float((post * np.array(w_mean)).sum() * xq)


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_closed_form_matches_grid_posterior(k):
    prior = _small_prior()
    rng = np.random.default_rng(k)
    X = rng.normal(0.3, 1.0, size=k)
    Y = 0.4 * X + rng.normal(0, 0.8, size=k)
    xq = float(rng.normal())
    pi_grid, y_grid = _grid_posterior(prior, X, Y, xq)
    post = bayes.posterior_from_prompt(prior, torch.tensor(X)[:, None], torch.tensor(Y),
                                       torch.tensor([xq], dtype=torch.float64))
    np.testing.assert_allclose(post.pi.numpy(), pi_grid, atol=1e-6)
    assert abs(post.yhat.item() - y_grid) < 1e-6


def _loop_reference(prior, X, Y, xq):
    """Plain per-group numpy with explicit inverses: an independent transcription of the formulas."""
    k, d = X.shape
    dm, dw = prior.delta_mu, prior.delta_w
    S = X.sum(0) + xq
    A = X.T @ X
    b = X.T @ Y
    logits, preds = [], []
    for beta in range(prior.M):
        mb, wb = prior.mu[beta].numpy(), prior.w[beta].numpy()
        inv = np.linalg.inv(np.eye(d) + dw * A)
        wt = inv @ (wb + dw * b)
        Dm = (mb @ mb - (mb + dm * S) @ (mb + dm * S) / (1 + (k + 1) * dm)) / (2 * prior.sigma_mu**2)
        Dw = (wb @ wb - (wb + dw * b) @ inv @ (wb + dw * b)) / (2 * prior.sigma_w**2)
        logits.append(np.log(prior.pi[beta].item()) - Dm - Dw)
        preds.append(wt @ xq)
    logits = np.array(logits)
    pi = np.exp(logits - logits.max())
    pi /= pi.sum()
    return pi, float(pi @ np.array(preds))


def test_vectorised_equals_loop_reference():
    prior = P.regular4(1 / 9)
    task = P.regular4_task(prior)
    g = torch.Generator().manual_seed(1)
    X, Y = P.sample_incontext(task, task, 5, 12, g)
    post = bayes.prefix_posteriors(prior, X, Y)  # (5, 12)
    for p in range(5):
        for k in (0, 1, 5, 11):
            pi, y = _loop_reference(prior, X[p, :k].numpy(), Y[p, :k].numpy(), X[p, k].numpy())
            np.testing.assert_allclose(post.pi[p, k].numpy(), pi, atol=1e-10)
            assert abs(post.yhat[p, k].item() - y) < 1e-10


def test_posterior_is_finite_and_normalised_at_the_largest_k():
    prior = P.early_ascent(8)
    task = P.early_ascent_task(8)
    out = bayes.sweep(prior, task, task, prior.w[0], [0, 64, 131072], 16, torch.Generator().manual_seed(0),
                      chunk=16384)
    pi = out["pi"][-1]
    assert torch.isfinite(pi).all() and torch.allclose(pi.sum(-1), torch.ones(16, dtype=pi.dtype))
    # With 10^5 noiseless demos the prediction must be essentially the task itself.
    assert out["err_learning"][-1].mean() < 1e-3 < out["err_learning"][0].mean()


def test_sweep_matches_direct_posterior_on_the_same_stream():
    """Streaming sufficient statistics in chunks gives the posterior of the materialised stream."""
    prior = P.regular4(1 / 9)
    task = P.regular4_task(prior)
    ks = [0, 3, 10]
    out = bayes.sweep(prior, task, task, prior.w[0], ks, 7, torch.Generator().manual_seed(3), chunk=4)
    # Replay the same draws: query first, then demos in chunks of at most 4 up to each k.
    g = torch.Generator().manual_seed(3)
    draw = lambda m: task + torch.randn(7, m, 3, generator=g, dtype=torch.float64)  # noqa: E731
    xq = draw(1)[:, 0]
    demos = torch.cat([draw(3), draw(4), draw(3)], 1)
    for j, k in enumerate(ks):
        X = demos[:, :k]
        post = bayes.posterior_from_prompt(prior, X, X @ task, xq)
        torch.testing.assert_close(out["err_learning"][j], (post.yhat - xq @ task) ** 2)
        torch.testing.assert_close(out["err_retrieval"][j], (post.yhat - xq @ prior.w[0]) ** 2)
        torch.testing.assert_close(out["pi"][j], post.pi)
        torch.testing.assert_close(out["w_dist"][j], (post.w - task).norm(dim=-1))
