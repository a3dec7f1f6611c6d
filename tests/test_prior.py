"""Samplers draw what the prior says: moments within Monte Carlo error."""

import torch

from repro.studies.dual_modes import data as P


def test_pretraining_sampler_moments():
    prior = P.Prior(mu=torch.tensor([[2.0, 0.0], [-1.0, 1.0]]), w=torch.tensor([[1.0, -1.0], [0.5, 2.0]]),
                    pi=torch.tensor([0.25, 0.75]), sigma_x=0.5, sigma_y=0.3, sigma_mu=0.2, sigma_w=0.4)
    n_prompts, n = 40000, 6
    X, Y = P.sample_pretraining(prior, n_prompts, n, torch.Generator().manual_seed(0))
    assert X.shape == (n_prompts, n, 2) and Y.shape == (n_prompts, n)
    # E[x] = sum_b pi_b mu_b
    expected = (prior.pi[:, None] * prior.mu).sum(0)
    se = X[:, 0].std(0) / n_prompts**0.5
    assert ((X[:, 0].mean(0) - expected).abs() < 5 * se).all()
    # Within a prompt, x varies around its own mu with variance sigma_x^2.
    within = X.var(1, unbiased=True).mean(0)
    assert torch.allclose(within, torch.full((2,), 0.25), rtol=0.03)
    # E[y] = sum_b pi_b w_b.mu_b (w and mu independent given the group)
    assert abs(Y.mean().item() - _expected_y_mean(prior)) < 5 * Y[:, 0].std().item() / n_prompts**0.5


def _expected_y_mean(prior):
    return float((prior.pi * (prior.w * prior.mu).sum(1)).sum())


def test_group_structure_is_shared_within_a_prompt():
    """All pairs of one prompt share one (mu, w): regressing y on x per prompt recovers a w near a centre."""
    prior = P.regular4(1 / 400, torch.float64)
    prior.sigma_y = 1e-3
    X, Y = P.sample_pretraining(prior, 200, 20, torch.Generator().manual_seed(1))
    w_hat = torch.linalg.lstsq(X, Y[..., None]).solution[..., 0]  # (200, 3)
    dist = torch.cdist(w_hat, prior.w).min(1).values
    assert (dist < 0.2).all()


def test_incontext_prompts_are_noiseless_and_recover_the_task():
    task = P.regular4_task(P.regular4(1.0))
    X, Y = P.sample_incontext(task, task, 3, 10, torch.Generator().manual_seed(2))
    w_hat = torch.linalg.lstsq(X, Y[..., None]).solution[..., 0]
    torch.testing.assert_close(w_hat, task.expand(3, 3))
    assert abs(task.norm().item() - 1) < 1e-12
