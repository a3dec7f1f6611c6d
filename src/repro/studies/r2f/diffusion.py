"""Noise schedules, DDPM training targets and DDIM sampling from diffusers, driven one step at a time by our
guidance code: the caller decides, at every step, which conditioning the noise prediction uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def schedulers(n_train: int = 200, schedule: str = "squaredcos_cap_v2"):
    """(DDPMScheduler for training targets, DDIMScheduler with the same betas for sampling)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    train = DDPMScheduler(num_train_timesteps=n_train, beta_schedule=schedule, clip_sample=False)
    sample = DDIMScheduler.from_config(train.config, clip_sample=False, set_alpha_to_one=True)
    return train, sample


def ddpm_loss(eps_model, x0: torch.Tensor, cond, train_sched, gen: torch.Generator) -> torch.Tensor:
    """epsilon-prediction loss at uniformly drawn training timesteps."""
    t = torch.randint(0, train_sched.config.num_train_timesteps, (len(x0),), generator=gen).to(x0.device)
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)
    return F.mse_loss(eps_model(train_sched.add_noise(x0, noise, t), t, cond), noise)


def cfg(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance: eps_u + w (eps_c - eps_u)."""
    return eps_uncond + w * (eps_cond - eps_uncond)


@torch.no_grad()
def sample(eps_at_step, shape, sample_sched, n_steps: int, gen: torch.Generator | None, device="cpu",
           x_T: torch.Tensor | None = None) -> torch.Tensor:
    """DDIM (eta = 0) from pure noise (drawn from `gen`, or `x_T` as given); `eps_at_step(x, t, i)` gives the
    guided noise prediction at step i."""
    sample_sched.set_timesteps(n_steps)
    x = torch.randn(shape, generator=gen).to(device) if x_T is None else x_T.to(device)
    for i, t in enumerate(sample_sched.timesteps):
        x = sample_sched.step(eps_at_step(x, t.to(device), i), t, x).prev_sample
    return x


def ddim_step_closed_form(sched, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
    """The DDIM update written out (eta = 0): x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps; used by the
    tests to pin down what diffusers' step does."""
    step = sched.config.num_train_timesteps // sched.num_inference_steps
    a_t = sched.alphas_cumprod[t]
    prev = t - step
    a_prev = sched.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0)
    x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
