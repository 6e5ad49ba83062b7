"""Adam and AdamW from scratch (sb3_scratch_ppo/optimizer.py) against torch's, live: the same parameters and gradients
through several steps give the same parameters and moments, with weight decay coupled (Adam) and decoupled (AdamW).

Tolerances from the arithmetic: float64 agrees to rounding (rtol 1e-12; measured 2e-16 apart). In float32 torch's
kernels fuse some multiply-adds that NumPy rounds twice, so a value may end an ulp or two apart (measured: 3e-8 on
parameters of order 1): rtol 1e-5 (some 80 ulps) and atol 1e-7 for values near zero hold on any CPU."""

import numpy as np
import pytest
import torch

from sb3_scratch_ppo import ScratchPPO
from sb3_scratch_ppo.optimizer import Adam

CASES = {
    "Adam": (torch.optim.Adam, dict(eps=1e-5)),
    "Adam weight_decay": (torch.optim.Adam, dict(eps=1e-5, weight_decay=0.1)),
    "AdamW defaults": (torch.optim.AdamW, dict()),
    "AdamW weight_decay betas": (torch.optim.AdamW, dict(weight_decay=0.3, betas=(0.8, 0.95))),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_adam_and_adamw_step_as_torch(case, dtype, rng):
    torch_class, kwargs = CASES[case]
    shapes, lr, steps = [(5, 3), (5,), (2, 5)], 3e-3, 6
    params = rng.standard_normal(sum(int(np.prod(s)) for s in shapes)).astype(dtype)
    grads = np.zeros_like(params)
    views, start = [], 0
    for shape in shapes:
        views.append(params[start : start + int(np.prod(shape))].reshape(shape))
        start += int(np.prod(shape))
    reference = [torch.nn.Parameter(torch.tensor(np.array(v))) for v in views]
    torch_opt = torch_class(reference, lr=lr, **kwargs)
    decoupled = torch_class is torch.optim.AdamW
    ours = Adam(
        params, grads, views, lr=lr, decoupled_weight_decay=decoupled, **({"weight_decay": 1e-2} if decoupled else {}) | kwargs
    )
    assert ours.param_groups[0]["weight_decay"] == torch_opt.param_groups[0]["weight_decay"]
    assert ours.param_groups[0]["decoupled_weight_decay"] == torch_opt.param_groups[0]["decoupled_weight_decay"]
    before = params.copy()
    for _ in range(steps):
        g = rng.standard_normal(params.size).astype(dtype)
        grads[:] = g
        start = 0
        for p in reference:
            p.grad = torch.tensor(g[start : start + p.numel()].reshape(p.shape))
            start += p.numel()
        torch_opt.step()
        ours.step()
    assert np.array_equal(grads, g)  # Adam's decay works on a copy: the gradients stay as backprop left them
    rtol, atol = (1e-12, 1e-15) if dtype == np.float64 else (1e-5, 1e-7)
    for view, p in zip(views, reference, strict=True):
        np.testing.assert_allclose(view, p.detach().numpy(), rtol=rtol, atol=atol)
    state = torch_opt.state_dict()["state"]
    for i in range(len(reference)):
        np.testing.assert_allclose(ours.exp_avg[ours._slice(i)], state[i]["exp_avg"].numpy().ravel(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(
            ours.exp_avg_sq[ours._slice(i)], state[i]["exp_avg_sq"].numpy().ravel(), rtol=rtol, atol=atol
        )
    assert not np.allclose(params, before)  # the steps moved the weights


def test_adamw_and_weight_decay_from_policy_kwargs_and_through_a_model_file(tmp_path):
    """policy_kwargs as SB3 users write them: AdamW (torch's defaults: eps 1e-8, weight_decay 0.01; SB3 sets eps 1e-5
    for Adam only) and Adam with weight_decay; both train and load back from the model file."""
    model = ScratchPPO(
        "MlpPolicy",
        "Pendulum-v1",
        n_steps=64,
        n_epochs=1,
        policy_kwargs=dict(optimizer_class=torch.optim.AdamW, net_arch=[16]),
    ).learn(128)
    group = model.policy.optimizer.param_groups[0]
    assert (group["eps"], group["weight_decay"], group["decoupled_weight_decay"]) == (1e-8, 1e-2, True)
    model.save(tmp_path / "adamw")
    loaded = ScratchPPO.load(tmp_path / "adamw")
    assert loaded.policy_kwargs["optimizer_class"] is torch.optim.AdamW
    assert loaded.policy.optimizer.param_groups[0]["decoupled_weight_decay"] is True
    model = ScratchPPO(
        "MlpPolicy", "Pendulum-v1", n_steps=64, n_epochs=1, policy_kwargs=dict(optimizer_kwargs=dict(weight_decay=0.1))
    ).learn(128)
    group = model.policy.optimizer.param_groups[0]
    assert (group["eps"], group["weight_decay"], group["decoupled_weight_decay"]) == (1e-8, 0.1, False)
    with pytest.raises(NotImplementedError, match=r"optimizer_class=.*SGD.* Adam and AdamW are"):
        ScratchPPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(optimizer_class=torch.optim.SGD))
    with pytest.raises(NotImplementedError, match=r"optimizer_kwargs \['amsgrad'\] are not supported"):
        ScratchPPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(optimizer_kwargs=dict(amsgrad=True)))
