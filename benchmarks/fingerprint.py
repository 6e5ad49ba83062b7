"""Training fingerprints: has a change altered what ScratchPPO computes, to the last bit?

    python benchmarks/fingerprint.py                  # this tree's fingerprints
    python benchmarks/fingerprint.py --against REV    # and the package's at git revision REV, case by case

Each case trains a small seeded configuration (every action space, vf clipping, entropy, target_kl, schedules,
truncated minibatches, unequal towers, ReLU, one env and eight, the fast path, CnnPolicy, MultiInputPolicy with a
separate vf extractor, gSDE) and hashes the final weights, Adam's moments and the last train/* logs. A refactoring
that keeps every hash computes bit for bit what it computed before; one that changes the arithmetic shows which cases
moved (then the parity tests say whether it still matches SB3).
Exit status 1 when ``--against`` finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_report import export_revision

HERE = Path(__file__).resolve()


def cases() -> dict:
    import torch
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from stable_baselines3.common.envs import IdentityEnvMultiBinary, IdentityEnvMultiDiscrete

    from sb3_scratch_ppo import ScratchPPO, make_vec_env

    sys.path.append(str(HERE.parent.parent))  # tests/envs.py: the image and Dict env of the parity tests
    from tests.envs import ImageEnv

    return {
        "cartpole-zoo-fast-path": lambda: ScratchPPO(
            "MlpPolicy",
            make_vec_env("ScratchCartPole-v0", 8, seed=0),
            seed=0,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            learning_rate=lambda p: 1e-3 * p,
            clip_range=lambda p: 0.2 * p,
        ),
        "cartpole-one-env": lambda: ScratchPPO("MlpPolicy", "CartPole-v1", seed=1, n_steps=256, batch_size=64, n_epochs=3),
        "pendulum-vf-clip-entropy-target-kl": lambda: ScratchPPO(
            "MlpPolicy",
            sb3_make_vec_env("Pendulum-v1", 4, seed=2),
            seed=2,
            n_steps=64,
            batch_size=50,
            clip_range_vf=0.2,
            ent_coef=0.01,
            target_kl=0.05,
        ),
        "multidiscrete": lambda: ScratchPPO(
            "MlpPolicy", IdentityEnvMultiDiscrete(3), seed=3, n_steps=64, batch_size=32, ent_coef=0.01
        ),
        "multibinary-relu-unequal-towers": lambda: ScratchPPO(
            "MlpPolicy",
            IdentityEnvMultiBinary(3),
            seed=4,
            n_steps=64,
            batch_size=32,
            policy_kwargs=dict(net_arch=dict(pi=[16], vf=[8, 8]), activation_fn=torch.nn.ReLU),
        ),
        "discrete-observations": lambda: ScratchPPO("MlpPolicy", "FrozenLake-v1", seed=5, n_steps=64, batch_size=32),
        "cnn-images": lambda: ScratchPPO(
            "CnnPolicy", sb3_make_vec_env(ImageEnv, 2, seed=6), seed=6, n_steps=32, batch_size=16, n_epochs=2
        ),
        "multiinput-separate-extractors": lambda: ScratchPPO(
            "MultiInputPolicy",
            sb3_make_vec_env(ImageEnv, 2, seed=7, env_kwargs=dict(dict_obs=True)),
            seed=7,
            n_steps=32,
            batch_size=16,
            n_epochs=2,
            policy_kwargs=dict(share_features_extractor=False),
        ),
        "gsde-pendulum": lambda: ScratchPPO(
            "MlpPolicy",
            sb3_make_vec_env("Pendulum-v1", 2, seed=8),
            seed=8,
            n_steps=64,
            batch_size=32,
            use_sde=True,
            sde_sample_freq=4,
        ),
    }


def fingerprints(names: list[str] | None) -> dict[str, str]:
    """Train each case in this process; its hash."""
    import warnings

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.logger import configure

    out = {}
    for name, make in cases().items():
        if names and name not in names:
            continue
        with warnings.catch_warnings():  # the truncated-minibatch warning is part of a case, not news
            warnings.simplefilter("ignore", UserWarning)
            model = make()
        model.set_logger(configure(None, []))
        model.learn(20_000 if "zoo" in name else 256 if name.startswith(("cnn", "multiinput")) else 3_000)
        h = hashlib.sha256()
        for key, value in model.get_parameters()["policy"].items():
            h.update(key.encode())
            h.update(value.numpy().tobytes())
        h.update(np.asarray(model.policy.optimizer.exp_avg).tobytes())
        h.update(np.asarray(model.policy.optimizer.exp_avg_sq).tobytes())
        logs = {k: float(v) for k, v in sorted(model.logger.name_to_value.items()) if k.startswith("train/")}
        h.update(json.dumps(logs).encode())
        out[name] = h.hexdigest()[:16]
    return out


def run(src: str | None, names: list[str] | None) -> dict[str, str]:
    """The fingerprints in a fresh process, with ``src`` (a tree of another revision) first on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=src) if src else None
    cmd = [sys.executable, str(HERE), "--worker", json.dumps(names)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="compare with the package at git revision REV")
    parser.add_argument("--cases", nargs="*", help="only these cases (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(fingerprints(json.loads(args.worker))))
        return 0
    ours = run(None, args.cases)
    if not args.against:
        for name, digest in ours.items():
            print(f"{name:40s} {digest}")
        return 0
    with tempfile.TemporaryDirectory() as tree:
        commit = export_revision(args.against, tree)
        theirs = run(tree, args.cases)
    print(f"{'case':40s} {'this tree':16s} {'at ' + commit:16s}")
    for name, digest in ours.items():
        print(f"{name:40s} {digest:16s} {theirs[name]:16s} {'identical' if digest == theirs[name] else 'DIFFERENT'}")
    return 0 if ours == theirs else 1


if __name__ == "__main__":
    sys.exit(main())
