"""rl-baselines3-zoo's own trainer and player, running ScratchPPO (the `zoo` extra: rl_zoo3 2.9.2).

    python -m sb3_scratch_ppo zoo-train --env CartPole-v1 [any rl_zoo3.train argument]
    python -m sb3_scratch_ppo zoo-enjoy --env CartPole-v1 -f logs/ [any rl_zoo3.enjoy argument]

The zoo has no plug-in mechanism (it resolves ``--algo`` in one dict, ``rl_zoo3.utils.ALGOS``, checked by argparse
before ``--gym-packages`` are imported), so these commands put ScratchPPO in that dict as ``scratch_ppo``, with PPO's
hyperparameter sampler and converter (``-optimize`` works), and then run the zoo's ``train()`` / ``enjoy()``
unchanged: its logs under ``logs/scratch_ppo/``, evaluation callback, saved model, ``config.yml``, VecNormalize
statistics, ``--n-timesteps``, ``--seed``, ``--eval-freq``, ``-P``. ``--algo`` defaults to ``scratch_ppo`` (``ppo`` is
taken to mean it: these commands train ScratchPPO); the hyperparameters default to the package's ``configs/ppo.yml``
(``--conf-file`` takes another, the zoo's own ``hyperparams/ppo.yml`` included).

Two things the zoo does by itself are made safe here: ``enjoy`` reads ``config.yml`` and ``args.yml`` with PyYAML's
UnsafeLoader, which builds any Python object a file names; here a loader that builds only the two the zoo writes
(OrderedDict, tuple). And the model is read by ``ScratchPPO.load``, which unpickles nothing.

Importing rl_zoo3 patches Gymnasium's TimeLimit for the whole process: run these commands in their own process.
"""

from __future__ import annotations

import importlib.resources
import sys
from collections import OrderedDict
from pathlib import Path

import yaml

from sb3_scratch_ppo import zoo

ALGO = "scratch_ppo"


class ZooConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the two Python tags in the zoo's config.yml / args.yml: OrderedDict and tuple."""


ZooConfigLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:collections.OrderedDict",
    lambda loader, node: OrderedDict(
        loader.construct_sequence(node.value[0], deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)["args"][0]
    ),
)
ZooConfigLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: tuple(loader.construct_sequence(node, deep=True))
)


class _SafeYaml:
    """The yaml module as rl_zoo3's modules see it, with UnsafeLoader replaced by ZooConfigLoader."""

    UnsafeLoader = ZooConfigLoader

    def __getattr__(self, name):
        return getattr(yaml, name)


def register() -> None:
    """ScratchPPO as the zoo's ``scratch_ppo``, with PPO's hyperparameter sampler and converter."""
    import rl_zoo3
    import rl_zoo3.enjoy
    import rl_zoo3.utils
    from rl_zoo3 import hyperparams_opt

    from sb3_scratch_ppo import ScratchPPO

    rl_zoo3.ALGOS[ALGO] = ScratchPPO  # one dict, shared by train, exp_manager and enjoy
    hyperparams_opt.HYPERPARAMS_SAMPLER[ALGO] = hyperparams_opt.HYPERPARAMS_SAMPLER["ppo"]
    hyperparams_opt.HYPERPARAMS_CONVERTER[ALGO] = hyperparams_opt.HYPERPARAMS_CONVERTER["ppo"]
    rl_zoo3.enjoy.yaml = rl_zoo3.utils.yaml = _SafeYaml()


def _arguments(argv: list[str], command: str, config: Path | None) -> list[str]:
    """The zoo's arguments: --algo scratch_ppo, and ``config`` as --conf-file unless one is given."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--algo" and i + 1 < len(argv):
            if argv[i + 1] == "ppo":
                argv[i + 1] = ALGO
            elif argv[i + 1] != ALGO:
                raise SystemExit(
                    f"{command} runs ScratchPPO (--algo {ALGO}); for --algo {argv[i + 1]} use "
                    f"python -m rl_zoo3.{command.split('-')[1]}"
                )
    if "--algo" not in argv:
        argv = ["--algo", ALGO, *argv]
    if config is not None and not {"-conf", "--conf-file"} & set(argv):
        argv += ["--conf-file", str(config)]
    return argv


def zoo_train(argv: list[str]) -> None:
    register()
    from rl_zoo3.train import train

    with importlib.resources.as_file(zoo.DEFAULT_PATH) as config:  # the zoo opens a path: the package's ppo.yml
        sys.argv = ["rl_zoo3.train", *_arguments(argv, "zoo-train", config)]
        train()


def zoo_enjoy(argv: list[str]) -> None:
    """The zoo's enjoy(). It loads the model without an env; ScratchPPO.load then rebuilds the spaces from the file,
    which cannot be done exactly for images, Dicts and float64 bounds. So the env enjoy() has just made is handed to
    load, which checks the file's spaces against it (as SB3's load does when given an env)."""
    register()
    import rl_zoo3
    import rl_zoo3.enjoy
    from rl_zoo3.enjoy import enjoy

    from sb3_scratch_ppo import ScratchPPO

    made = []
    create_test_env = rl_zoo3.enjoy.create_test_env

    def create_and_keep(*args, **kwargs):
        made.append(create_test_env(*args, **kwargs))
        return made[-1]

    class EnjoyedScratchPPO(ScratchPPO):
        @classmethod
        def load(cls, path, env=None, **kwargs):
            return ScratchPPO.load(path, env=env if env is not None or not made else made[-1], **kwargs)

    rl_zoo3.enjoy.create_test_env = create_and_keep
    rl_zoo3.ALGOS[ALGO] = EnjoyedScratchPPO

    sys.argv = ["rl_zoo3.enjoy", *_arguments(argv, "zoo-enjoy", None)]
    enjoy()
