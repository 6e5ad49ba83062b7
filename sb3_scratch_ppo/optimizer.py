"""Gradient-norm clipping and Adam, as torch computes them, on one flat parameter buffer.

All parameters and their gradients are two flat arrays (see policy.py), so clipping and an
Adam step are a handful of array operations for the whole network.

    clip:  total = sqrt(sum_i g_i^2);   g *= min(max_norm / (total + 1e-6), 1)
    decay: g += wd p    (Adam's weight_decay)   or   p *= 1 - lr wd    (AdamW: decoupled, before the step)
    Adam:  m = m + (1 - b1) (g - m)          (torch's lerp)
           v = b2 v + (1 - b2) g^2
           p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


# --8<-- [start:clip_grad_norm]
def clip_grad_norm_(grads: np.ndarray, max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_ over all parameters jointly; scales ``grads`` in place, returns the norm before."""
    total_norm = float(np.sqrt(np.dot(grads, grads)))
    clip_coef = min(max_norm / (total_norm + 1e-6), 1.0)
    if clip_coef < 1.0:
        grads *= clip_coef
    return total_norm


# --8<-- [end:clip_grad_norm]


class Adam:
    """Adam and AdamW as torch implements them (weight decay coupled or decoupled; no amsgrad), over a flat buffer.

    ``param_groups`` and ``state_dict()`` follow torch's format, so SB3's learning-rate
    updates (``param_group["lr"] = ...``) work unchanged, the state saves into SB3's zip as
    ``policy.optimizer.pth``, and an SB3 PPO's Adam state loads here (and back).
    """

    def __init__(
        self,
        params: np.ndarray,
        grads: np.ndarray,
        views: list[np.ndarray],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ):
        """torch's Adam (``decoupled_weight_decay=False``) or AdamW (True: torch's AdamW is Adam with it set)."""
        self.params, self.grads, self.views = params, grads, views
        self.param_groups: list[dict[str, Any]] = [
            {
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": None,
                "decoupled_weight_decay": decoupled_weight_decay,
                "params": list(range(len(views))),
            }
        ]
        self.exp_avg = np.zeros_like(params)
        self.exp_avg_sq = np.zeros_like(params)
        self.steps = 0
        self._tmp = np.empty_like(params)  # scratch for the update, so a step allocates nothing
        self._decayed_grads: np.ndarray | None = None  # scratch for Adam's weight decay, made when first needed

    def zero_grad(self) -> None:
        self.grads[:] = 0.0

    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        self.steps += 1
        g, m, v, tmp = self.grads, self.exp_avg, self.exp_avg_sq, self._tmp
        weight_decay = group.get("weight_decay", 0)
        if weight_decay:
            if group.get("decoupled_weight_decay", False):  # AdamW: p *= 1 - lr * wd, before the step
                self.params *= 1 - lr * weight_decay
            else:  # Adam: g + wd * p, as a new array (the gradients stay as they were)
                if self._decayed_grads is None:
                    self._decayed_grads = np.empty_like(self.params)
                np.multiply(self.params, weight_decay, out=self._decayed_grads)
                self._decayed_grads += g
                g = self._decayed_grads
        # --8<-- [start:adam]
        # m = m + (1 - b1) * (g - m)
        np.subtract(g, m, out=tmp)
        tmp *= 1 - beta1
        m += tmp
        # v = b2 * v + (1 - b2) * g^2
        v *= beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        # p -= step_size * m / (sqrt(v) / sqrt(bias_correction2) + eps)
        step_size = lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.steps)
        np.sqrt(v, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= -step_size
        self.params += tmp
        # --8<-- [end:adam]

    # --- torch's state_dict format -------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        import torch  # only for SB3's file format

        state = {}
        if self.steps > 0:
            for i, view in enumerate(self.views):
                sl = self._slice(i)
                state[i] = {
                    "step": torch.tensor(float(self.steps)),
                    "exp_avg": torch.tensor(self.exp_avg[sl].reshape(view.shape).astype(np.float32)),
                    "exp_avg_sq": torch.tensor(self.exp_avg_sq[sl].reshape(view.shape).astype(np.float32)),
                }
        groups = [dict(g, params=list(g["params"])) for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or len(groups) != 1 or len(groups[0].get("params", [])) != len(self.views):
            raise ValueError(
                f"optimizer state_dict does not fit this policy: expected one param group with "
                f"{len(self.views)} parameters, got {groups!r:.200}"
            )
        state = state_dict.get("state", {})
        steps = {int(to_numpy(s["step"])) for s in state.values()}
        if len(steps) > 1:
            raise ValueError(f"optimizer state_dict: parameters have different step counts {sorted(steps)}")
        exp_avg, exp_avg_sq = np.zeros_like(self.exp_avg), np.zeros_like(self.exp_avg_sq)
        for i, view in enumerate(self.views):
            if i not in state:
                if state:
                    raise ValueError(f"optimizer state_dict has no state for parameter {i}")
                continue
            for name, target in (("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
                value = to_numpy(state[i][name])
                if value.shape != view.shape:
                    raise ValueError(
                        f"optimizer state_dict: {name} of parameter {i} has shape {value.shape}, expected {view.shape}"
                    )
                target[self._slice(i)] = value.ravel()
        self.exp_avg[:], self.exp_avg_sq[:] = exp_avg, exp_avg_sq
        self.steps = steps.pop() if steps else 0
        group = dict(groups[0])
        group["params"] = list(range(len(self.views)))
        group["betas"] = tuple(group.get("betas", (0.9, 0.999)))
        self.param_groups = [group]

    def _slice(self, i: int) -> slice:
        start = sum(v.size for v in self.views[:i])
        return slice(start, start + self.views[i].size)


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (from SB3's files and state_dicts) or an array-like, as a NumPy array."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
