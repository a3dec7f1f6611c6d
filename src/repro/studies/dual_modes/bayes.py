"""The closed-form Bayes (MMSE) predictor for the Gaussian task-mixture prior, vectorised over prompts.

With demos (x_1, y_1..x_k, y_k) and query x_{k+1}, the posterior depends on the data only through
S = sum_{i<=k+1} x_i (the mu-posterior sees the query too), A = sum_{i<=k} x_i x_i^T, b = sum_{i<=k} y_i x_i.
Per group beta:
    mu~_beta = (mu_beta + d_mu S) / (1 + (k+1) d_mu)
    w~_beta  = (I + d_w A)^-1 (w_beta + d_w b)
    log pi~_beta = log pi_beta - D_mu,beta - D_w,beta      (normalised with log-sum-exp)
and the prediction is sum_beta pi~_beta w~_beta . x_{k+1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from repro.studies.dual_modes.data import Prior


@dataclass
class Posterior:
    pi: torch.Tensor  # (..., M)
    mu: torch.Tensor  # (..., M, d)
    w: torch.Tensor  # (..., M, d)
    yhat: torch.Tensor  # (...)


def posterior(prior: Prior, S, A, b, n_inputs, xq) -> Posterior:
    """S (..., d), A (..., d, d), b (..., d), n_inputs = k+1 (scalar or (...)), xq (..., d)."""
    dm, dw = prior.delta_mu, prior.delta_w
    n = torch.as_tensor(n_inputs, dtype=S.dtype, device=S.device)[..., None, None]  # (..., 1, 1)
    u = prior.mu + dm * S[..., None, :]  # (..., M, d)
    mu_t = u / (1 + n * dm)
    D_mu = ((prior.mu**2).sum(-1) - (u**2).sum(-1) / (1 + n[..., 0] * dm)) / (2 * prior.sigma_mu**2)
    eye = torch.eye(prior.d, dtype=S.dtype, device=S.device)
    v = prior.w + dw * b[..., None, :]  # (..., M, d)
    w_t = torch.linalg.solve(eye + dw * A, v.transpose(-1, -2)).transpose(-1, -2)  # (..., M, d)
    D_w = ((prior.w**2).sum(-1) - (v * w_t).sum(-1)) / (2 * prior.sigma_w**2)
    pi_t = torch.softmax(torch.log(prior.pi) - D_mu - D_w, dim=-1)
    yhat = (pi_t * (w_t @ xq[..., :, None])[..., 0]).sum(-1)
    return Posterior(pi_t, mu_t, w_t, yhat)


def posterior_from_prompt(prior: Prior, X, Y, xq) -> Posterior:
    """Convenience: demos X (..., k, d), Y (..., k) and query xq (..., d)."""
    S = X.sum(-2) + xq
    A = X.transpose(-1, -2) @ X
    b = (X * Y[..., None]).sum(-2)
    return posterior(prior, S, A, b, X.shape[-2] + 1, xq)


def prefix_posteriors(prior: Prior, X, Y) -> Posterior:
    """Bayes prediction at every position of a sequence: query x_{k+1} with the k demos before it.

    X (P, n, d), Y (P, n) -> posteriors with leading shape (P, n); entry k uses demos 0..k-1.
    """
    S = X.cumsum(1)  # includes the query x_k itself
    outer = X[..., :, None] * X[..., None, :]
    zero_A = torch.zeros_like(outer[:, :1])
    A = torch.cat([zero_A, outer.cumsum(1)[:, :-1]], 1)
    xy = X * Y[..., None]
    b = torch.cat([torch.zeros_like(xy[:, :1]), xy.cumsum(1)[:, :-1]], 1)
    k = torch.arange(X.shape[1], device=X.device, dtype=X.dtype)
    return posterior(prior, S, A, b, (k + 1)[None, :].expand(X.shape[0], -1), X)


MAX_CHUNK_ELEMENTS = 2**25  # one chunk of demos holds at most this many numbers (256 MB in float64)


def sweep(prior: Prior, task_mu, task_w, retrieval_w, ks, n_prompts: int, g: torch.Generator,
          chunk: int = 4096):
    """Common-random-numbers sweep over k: one long demo stream per prompt, truncated at every k in `ks`.

    Demos are drawn chunk by chunk and only the sufficient statistics are kept, so k can reach 10^5
    without materialising the stream; a chunk is at most `chunk` demos per prompt and MAX_CHUNK_ELEMENTS
    numbers in all. Returns a dict of (len(ks), n_prompts) tensors: squared errors
    against the learning and retrieval targets, and the posterior group weights (len(ks), n_prompts, M).
    """
    ks = sorted(int(k) for k in ks)
    dev, dt, d = prior.mu.device, prior.mu.dtype, prior.d
    chunk = max(1, min(chunk, MAX_CHUNK_ELEMENTS // (n_prompts * d)))
    draw = lambda m: task_mu + prior.sigma_x * torch.randn(n_prompts, m, d, generator=g, device=dev, dtype=dt)  # noqa: E731
    xq = draw(1)[:, 0]
    y_learn, y_retr = xq @ task_w, xq @ retrieval_w
    S = xq.clone()
    A = torch.zeros(n_prompts, d, d, dtype=dt, device=dev)
    b = torch.zeros(n_prompts, d, dtype=dt, device=dev)
    have, out = 0, {"err_learning": [], "err_retrieval": [], "pi": [], "w_dist": []}
    for k in ks:
        while have < k:
            X = draw(min(chunk, k - have))
            S += X.sum(1)
            A += X.transpose(1, 2) @ X
            b += torch.einsum("pmd,pm->pd", X, X @ task_w)
            have += X.shape[1]
        post = posterior(prior, S, A, b, k + 1, xq)
        out["err_learning"].append((post.yhat - y_learn) ** 2)
        out["err_retrieval"].append((post.yhat - y_retr) ** 2)
        out["pi"].append(post.pi)
        out["w_dist"].append((post.w - task_w).norm(dim=-1))  # (P, M)
    return {key: torch.stack(v) for key, v in out.items()}
