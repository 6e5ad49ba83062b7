"""The parity sweep as a set of independent tasks: results merged atomically and idempotently, a sweep killed at
any moment resumes to the same file, and the Ray backend (a real local Ray instance on loopback) gives the same
rows as the local process pool. Tiny runs (CartPole-v1, 1,024 steps)."""

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sb3_scratch_ppo import parity
from sb3_scratch_ppo.parity import sweep
from tests.extras import require

pytestmark = pytest.mark.slow  # minutes of training or subprocesses: `make test-fast` leaves it out

SEEDS = 3
N_TASKS = 2 * SEEDS  # sb3 and scratch
# What a run is; wall time, speed, versions and command say how it was made, not what it learned.
OUTCOME = ("env_id", "learner", "seed", "n_timesteps", "timesteps", "curve", "final", "eval_returns")


def sweep_cmd(results: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sb3_scratch_ppo",
        "parity",
        "--env",
        "CartPole-v1",
        "--seeds",
        str(SEEDS),
        "--timesteps",
        "1024",
        "--no-control",
        "--workers",
        "2",
        "--results",
        str(results),
        "--report",
        str(results.parent / "report.md"),
        *extra,
    ]


def rows(path: Path) -> dict[tuple, dict]:
    runs = json.loads(path.read_text())["runs"]
    keyed = {(r["env_id"], r["learner"], r["seed"], r["n_timesteps"]): r for r in runs}
    assert len(keyed) == len(runs), "a run is in the file twice"
    return keyed


def outcomes(path: Path) -> dict[tuple, tuple]:
    return {k: tuple(r[f] for f in OUTCOME) for k, r in rows(path).items()}


def environ(changes: dict | None) -> dict:
    """os.environ with changes; None removes a variable."""
    env = {**os.environ, **(changes or {})}
    return {k: v for k, v in env.items() if v is not None}


def run_sweep(results: Path, env: dict | None = None, *extra: str) -> str:
    out = subprocess.run(sweep_cmd(results, *extra), capture_output=True, text=True, timeout=600, env=environ(env))
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def kill_when_first_run_lands(results: Path, env: dict | None = None, *extra: str) -> dict[tuple, dict]:
    """Start a sweep, SIGKILL it (and its worker processes) as soon as the first finished run is in the file."""
    proc = subprocess.Popen(
        sweep_cmd(results, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environ(env), start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300
        while not results.exists():
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no run finished in 300 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = rows(results)  # the file is whole: the write is atomic
    assert 1 <= len(done) < N_TASKS, f"killed too late to test resuming: {len(done)} of {N_TASKS} runs done"
    return done


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted sweep on the local process pool."""
    results = tmp_path_factory.mktemp("reference") / "results.json"
    run_sweep(results)
    return results


def test_results_record_speed_versions_and_command(reference):
    for run in rows(reference).values():
        assert run["steps_per_second"] == pytest.approx(run["n_timesteps"] / run["wall_seconds"])
        assert {"python", "numpy", "torch", "stable_baselines3", "gymnasium", "sb3-scratch-ppo"} <= set(run["versions"])
        assert run["command"].startswith("python -m sb3_scratch_ppo parity --env CartPole-v1 --seeds 3")
        # The curve against time: seconds of learn() at each curve point, rising, within the run's wall time.
        clock = run["curve_wall_seconds"]
        assert len(clock) == len(run["timesteps"]) and 0 < clock[0] and all(np.diff(clock) >= 0)
        assert clock[-1] <= run["wall_seconds"] + 1e-3
        # One thread: the process's CPU time is about its wall time (less when it waited for the other worker).
        assert 0 < run["cpu_seconds"] <= 1.1 * run["wall_seconds"] + 0.5


def test_budget_starts_only_runs_that_should_end_within_it(tmp_path):
    """--budget-minutes holds back a run whose env and learner took longer than the budget (here SB3's seed 0, planted
    in the file as taking 3 hours), starts the runs with no time on record, and the same command without the budget
    then finishes the sweep."""
    results = tmp_path / "results.json"
    timesteps, curve = parity.learning_curve(np.array([1024]), np.array([20.0]), 1024)
    slow = parity.Run("CartPole-v1", "sb3", 0, 1024, timesteps, curve, 20.0, [20.0], wall_seconds=3 * 3600.0)
    parity.merge_results(results, [slow])
    out = run_sweep(results, None, "--budget-minutes", "60")
    assert "2 runs not started: they would not end within the budget" in out
    report = (tmp_path / "report.md").read_text()
    assert "Not compared yet: CartPole-v1: 1 SB3 and 3 ScratchPPO runs so far (2 of each needed)." in report
    assert set(rows(results)) == {("CartPole-v1", "sb3", 0, 1024)} | {("CartPole-v1", "scratch", s, 1024) for s in range(3)}
    run_sweep(results)
    assert len(rows(results)) == N_TASKS


def test_past_the_budget_no_run_starts_even_one_with_no_time_on_record():
    from sb3_scratch_ppo.parity.sweep import _within

    now = time.monotonic()
    assert _within(now + 3600, [])(("Ant-v4", "scratch", 0))  # no time on record: it starts while there is time
    assert not _within(now - 1, [])(("Ant-v4", "scratch", 0))  # the budget is spent: nothing starts


def test_an_envs_first_run_is_judged_by_the_longest_run_of_its_learner():
    """No time on record for HalfCheetah's SB3 runs: the longest SB3 run on any env (an hour) is the guess, so with
    half an hour left it does not start; ScratchPPO's (its longest: 10 minutes) does; a learner with no run at all
    starts while there is time."""
    from sb3_scratch_ppo.parity.sweep import _within

    def ran(env_id, learner, minutes):
        return parity.Run(env_id, learner, 0, 1024, [1024], [1.0], 1.0, [1.0], wall_seconds=60.0 * minutes)

    on_record = [ran("Ant-v4", "sb3", 60), ran("Hopper-v4", "sb3", 30), ran("Ant-v4", "scratch", 10)]
    fits = _within(time.monotonic() + 30 * 60, on_record)
    assert not fits(("HalfCheetah-v4", "sb3", 0))
    assert fits(("HalfCheetah-v4", "scratch", 0))
    assert fits(("HalfCheetah-v4", "control", 0))
    assert not fits(("Hopper-v4", "sb3", 1))  # its own env's time (30 minutes) is the guess, not the longest


def test_the_budget_judges_later_runs_by_the_ones_this_sweep_finished(tmp_path, monkeypatch):
    """A first run with no time on record starts; once it has finished (taking 3 hours, more than the budget), the
    next run of the same env and learner does not, nor does any after it (a fake backend that runs in order)."""

    def in_order(tasks, workers, *args, fits):
        for env_id, learner, seed in tasks:
            if fits((env_id, learner, seed)):
                yield parity.Run(env_id, learner, seed, 1024, [1024], [1.0], 1.0, [1.0], wall_seconds=3 * 3600.0)

    monkeypatch.setitem(sweep.BACKENDS, "local", in_order)
    tasks = sweep.plan(["CartPole-v1"], 3, ("sb3",))
    runs = sweep.run_all(tasks, tmp_path / "r.json", n_timesteps=1024, progress=False, budget_minutes=60)
    assert [(r.learner, r.seed) for r in runs] == [("sb3", 0)]


def test_budget_needs_the_local_backend(tmp_path):
    with pytest.raises(ValueError, match="budget_minutes: the ray backend cannot hold runs back"):
        sweep.run_all(sweep.plan(["CartPole-v1"], 1), tmp_path / "r.json", progress=False, backend="ray", budget_minutes=1)


def _merge_many(path: Path, first_seed: int, n: int) -> None:
    template = parity.Run("CartPole-v1", "sb3", 0, 1024, [1024], [1.0], 1.0, [1.0], 1.0)
    for seed in range(first_seed, first_seed + n):
        parity.merge_results(path, [parity.Run(**{**template.__dict__, "seed": seed})])


def test_merge_is_atomic_and_idempotent(tmp_path):
    path = tmp_path / "results.json"
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_merge_many, args=(path, first, 40)) for first in (0, 40)]  # at the same time
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    assert sorted(r.seed for r in parity.load_results(path)) == list(range(80))  # no run lost to a race
    before = path.read_text()
    _merge_many(path, 10, 5)  # runs already there: nothing changes
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_killed_local_sweep_resumes_without_repeating_or_losing_a_run(tmp_path, reference):
    results = tmp_path / "results.json"
    done = kill_when_first_run_lands(results)
    out = run_sweep(results)
    assert f"{N_TASKS - len(done)} runs to do on the local backend; {len(done)} already in" in out
    final = rows(results)
    assert all(final[k] == run for k, run in done.items())  # the finished runs are kept as they were
    assert outcomes(results) == outcomes(reference)  # and the rest are the runs an uninterrupted sweep makes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_head(ray_bin: Path, port: int, env: dict) -> Iterator[int]:
    """A Ray head on loopback in a process group and a temporary folder of its own (the group's id given), and on
    exit that group killed (the GCS, raylet, agents and monitors `ray start` leaves running) and the folder removed
    (with the address file a later ``ray.init()`` would otherwise try to join); nothing else is touched. Not
    `ray stop --force`: it SIGKILLs every process on the machine whose command line holds one of Ray's names, and
    "monitor.py" is in SB3's tests/test_vec_monitor.py, so it killed tests/test_sb3_own_suite.py's run of SB3's tests
    beside this one (exit -9)."""
    temp_dir = tempfile.mkdtemp(prefix="ray")  # short: Ray's Unix socket paths in it must fit in 107 characters
    start = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # the group's id is its pid; the group outlives it while the head's processes run
    )
    try:
        _, err = start.communicate(timeout=120)
        assert start.returncode == 0, err[-3000:]
        yield start.pid
    finally:
        start.kill()
        start.wait()
        with contextlib.suppress(ProcessLookupError):  # none of the head's processes left
            os.killpg(start.pid, signal.SIGKILL)
        members(start.pid, wait=10)  # gone before their folder goes
        shutil.rmtree(temp_dir, ignore_errors=True)


def members(group: int, wait: float = 0.0) -> list[str]:
    """The live (not zombie) processes of a process group, after waiting up to ``wait`` seconds for it to empty."""
    deadline = time.monotonic() + wait
    while True:
        table = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True, check=True).stdout
        live = [line for line in table.splitlines() if line.split()[0] == str(group) and not line.split()[1].startswith("Z")]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def test_ray_backend_killed_and_resumed_gives_the_local_pools_rows(tmp_path, reference):
    """A Ray head on loopback, as a cluster would run it; RAY_ADDRESS alone selects the Ray backend.
    Both learners are deterministic per seed (torch on CPU at one thread), so the rows are equal bit for bit."""
    require("ray")
    ray_bin = Path(sys.executable).parent / "ray"
    port = _free_port()
    # Ray turns 127.0.0.1 into the machine's outward address unless told the cluster is this one machine:
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the head, its workers and the driver on loopback.
    loopback = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    head_env = environ({**loopback, "RAY_worker_niceness": "0"})
    # A process that is not Ray's but whose command line holds a name `ray stop` looks for ("monitor.py"), as
    # SB3's tests/test_vec_monitor.py does when tests/test_sb3_own_suite.py runs them beside this test.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "tests/test_vec_monitor.py"])
    try:
        with ray_head(ray_bin, port, head_env) as group:
            env = {**loopback, "RAY_ADDRESS": f"127.0.0.1:{port}"}
            results = tmp_path / "results.json"
            done = kill_when_first_run_lands(results, env)
            out = run_sweep(results, env)
            assert f"{N_TASKS - len(done)} runs to do on the ray backend; {len(done)} already in" in out
            assert all(rows(results)[k] == run for k, run in done.items())
            assert outcomes(results) == outcomes(reference)
        assert bystander.poll() is None, "stopping the Ray head killed a process that is not the head's"
        assert not members(group, wait=10), "the Ray head's processes outlived it"
    finally:
        bystander.kill()
        bystander.wait()

    # Without RAY_ADDRESS, --backend ray starts a Ray instance of its own, here, on loopback.
    own = tmp_path / "own" / "results.json"
    out = run_sweep(own, {"RAY_ADDRESS": None}, "--backend", "ray")
    assert f"{N_TASKS} runs to do on the ray backend" in out
    assert outcomes(own) == outcomes(reference)


def test_tasks_run_env_by_env_sb3_first(tmp_path, monkeypatch):
    """Each env's runs come together (its verdict is not held up by another env's long runs), in the order the envs
    were asked for, SB3's runs first within each; runs already in the results file are not given to the backend."""
    seen = []

    def backend(tasks, workers, *args):
        seen.extend(tasks)
        return iter(())

    monkeypatch.setitem(sweep.BACKENDS, "recording", backend)
    results = tmp_path / "results.json"
    parity.merge_results(results, [parity.Run("Pendulum-v1", "sb3", 0, 100, [100], [1.0], 1.0, [1.0], 1.0)])
    sweep.run_all(sweep.plan(["Pendulum-v1", "Acrobot-v1"], 2), results, n_timesteps=100, progress=False, backend="recording")
    assert seen == [
        ("Pendulum-v1", "sb3", 1),
        ("Pendulum-v1", "control", 0),
        ("Pendulum-v1", "scratch", 0),
        ("Pendulum-v1", "control", 1),
        ("Pendulum-v1", "scratch", 1),
        ("Acrobot-v1", "sb3", 0),
        ("Acrobot-v1", "sb3", 1),
        ("Acrobot-v1", "control", 0),
        ("Acrobot-v1", "scratch", 0),
        ("Acrobot-v1", "control", 1),
        ("Acrobot-v1", "scratch", 1),
    ]


def test_auto_seeds_are_fixed_by_the_pilot_alone(tmp_path, monkeypatch):
    """--seeds auto asks for as many seeds as the spread of the first PILOT_SEEDS seeds asks for, however the later
    seeds (already in the results file, e.g. from an earlier session) spread."""
    seen = []

    def backend(tasks, workers, *args):
        seen.extend(tasks)
        return iter(())

    monkeypatch.setitem(sweep.BACKENDS, "recording", backend)

    def run(learner, seed, value):
        return parity.Run("Acrobot-v1", learner, seed, 100, [100], [value], value, [value], 1.0)

    # Pilot: 100 +- 12 (standard deviation 12.6, margin 10: about 35 seeds); later seeds: exactly 100.
    pilot = [
        run(learner, seed, 100 + 12 * (-1) ** seed)
        for learner in ("sb3", "scratch", "control")
        for seed in range(parity.PILOT_SEEDS)
    ]
    later = [run(learner, seed, 100.0) for learner in ("sb3", "scratch") for seed in range(parity.PILOT_SEEDS, 30)]
    results = tmp_path / "results.json"
    parity.merge_results(results, pilot + later)
    from_pilot = max(parity.analyse(pilot, "Acrobot-v1").seeds_needed.values())
    from_all = max(parity.analyse(pilot + later, "Acrobot-v1").seeds_needed.values())
    assert 30 < from_pilot <= 40 and from_all < 30  # the later seeds alone would say: enough already
    sweep.sweep(["Acrobot-v1"], "auto", results, n_timesteps=100, progress=False, backend="recording")
    assert sorted(seen) == sorted(
        ("Acrobot-v1", learner, seed) for learner in ("sb3", "scratch") for seed in range(30, from_pilot)
    )
