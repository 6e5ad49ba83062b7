"""Where the parity runs execute: the sweep as a set of independent (env, learner, seed) tasks, on the local process
pool (the default) or on Ray, each finished run merged into the results file as it lands.

    runs = sweep.sweep(["CartPole-v1"], "auto", Path("docs/parity/results.json"))

A sweep killed at any moment continues from the same command: the tasks whose runs are already in the
results file are not run again (``parity.merge_results`` writes atomically, under a lock).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from sb3_scratch_ppo import zoo
from sb3_scratch_ppo.parity import LEARNERS, PILOT_SEEDS, Run, analyse, load_results, merge_results, run_one


def plan(env_ids: list[str], seeds: int, learners=LEARNERS) -> list[tuple[str, str, int]]:
    """Every (env, learner, seed) for seeds 0..seeds-1."""
    return [(env_id, learner, seed) for env_id in env_ids for learner in learners for seed in range(seeds)]


# --- backends: where the tasks run. Each yields finished runs in the order they finish. ----------


def run_local(tasks, workers: int | None, *args, fits=None) -> Iterator[Run]:
    """A process pool on this machine, one worker per core (the default: nothing extra to install).

    A task starts only when a worker is free and ``fits(task)`` (when given) says it can still finish in time."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited torch or BLAS thread pools
    n_workers = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx)
    queue, running = list(tasks), set[Future]()
    try:
        while queue or running:
            while queue and len(running) < n_workers:
                task = queue.pop(0)
                if fits is None or fits(task):
                    running.add(pool.submit(run_one, *task, *args))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:  # on an error or an interrupt, do not start the runs still queued
        pool.shutdown(wait=True, cancel_futures=True)


def _run_one_as_dict(*args) -> dict:  # plain data back from a Ray worker: no pickled classes cross machines
    return asdict(run_one(*args))


def _ray_environment() -> None:
    """Settings Ray reads when it is imported, so they are set first (a setting the user made is kept)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no calls home
    # Ray runs its workers at nice 15: beside any other load they starve (15x slower, measured here).
    os.environ.setdefault("RAY_worker_niceness", "0")
    # `ray start --head` turns token authentication on and keeps the token in ~/.ray/auth_token, but a
    # driver that connects to it sends the token only when RAY_AUTH_MODE says so: say so when there is one.
    if os.environ.get("RAY_ADDRESS") and (Path.home() / ".ray" / "auth_token").exists():
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def run_ray(tasks, workers: int | None, *args) -> Iterator[Run]:
    """Ray tasks, one CPU each: on the cluster at RAY_ADDRESS, or else on a Ray instance started here on loopback.

    Every node needs this project installed (the same versions: each run records the worker's)."""
    _ray_environment()
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    remote = ray.remote(num_cpus=1, max_retries=0)(_run_one_as_dict)
    pending = [remote.remote(*task, *args) for task in tasks]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield Run(**ray.get(ready[0]))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


BACKENDS = {"local": run_local, "ray": run_ray}


def default_backend() -> str:
    return "ray" if os.environ.get("RAY_ADDRESS") else "local"


def run_all(
    tasks: list[tuple[str, str, int]],
    results_path: Path,
    workers: int | None = None,
    n_timesteps: int | None = None,
    config_path: str | None = None,
    progress: bool = True,
    backend: str | None = None,
    command: str | None = None,
    budget_minutes: float | None = None,
    algo: str = "ppo",
) -> list[Run]:
    """Run every (env, learner, seed) task of ``algo`` (parity.ALGORITHMS) not yet in the results file; merge each
    run into it as it finishes.

    With ``budget_minutes`` (local backend), a run starts only if it should end within the budget, judged by the
    median time of the runs of the same env and learner in the file or finished since (an env's first run by the
    longest of its learner on record): the sweep stops with no run cut short, and the same command continues it."""
    runs = load_results(results_path)
    if others := sorted({r.algo for r in runs} - {algo}):
        raise ValueError(f"results: {results_path} holds runs of {others[0]}, not {algo}: give each algo its own file")
    # Env by env, in the order asked, so that each env's verdict lands as early as it can; within an env SB3 first
    # (the slow learner), so the workers stay busy at the end with the short runs.
    env_order = {env_id: i for i, env_id in enumerate(dict.fromkeys(env_id for env_id, _, _ in tasks))}
    todo = sorted(
        _missing(tasks, runs, n_timesteps, config_path, algo), key=lambda t: (env_order[t[0]], t[1] != "sb3", t[2], t[1])
    )
    if not todo:
        return runs
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {sorted(BACKENDS)}, got {backend!r}")
    print(f"{len(todo)} runs to do on the {backend} backend; {len(set(tasks)) - len(todo)} already in {results_path}")
    options, timed = {}, [r for r in runs if r.algo == algo]
    if budget_minutes is not None:
        if backend != "local":
            raise ValueError(f"budget_minutes: the {backend} backend cannot hold runs back; use the local backend")
        options["fits"] = _within(time.monotonic() + 60 * budget_minutes, timed)
    bar = None
    if progress:
        from tqdm.rich import tqdm

        bar = tqdm(total=len(todo), desc=f"parity runs ({backend})")
    for run in BACKENDS[backend](todo, workers, n_timesteps, config_path, command, algo, **options):
        runs = merge_results(results_path, [run])
        timed.append(run)  # the budget judges the next tasks by this run's time too
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if budget_minutes is not None and (left := _missing(tasks, runs, n_timesteps, config_path, algo)):
        print(f"{len(left)} runs not started: they would not end within the budget; the same command continues")
    return runs


def _within(deadline: float, runs: list[Run]):
    """Whether a task, started now, should end by the deadline (time.monotonic()), judged by the median wall
    time of the finished runs of its env and learner in ``runs`` (read at each call: the sweep appends the runs that
    finish). A task with none is judged by the longest run of its learner on any env (a sweep started an SB3
    HalfCheetah-v4 run 11 minutes before its deadline: it ran 30 minutes past it); with none at all, it starts
    while the deadline is ahead (not after it: a sweep ran Ant-v4 runs with no time on record half an hour past it)."""
    import statistics

    def fits(task) -> bool:
        env_id, learner, _ = task
        seconds = [r.wall_seconds for r in runs if (r.env_id, r.learner) == (env_id, learner)]
        if seconds:
            guess = statistics.median(seconds)
        else:
            guess = max((r.wall_seconds for r in runs if r.learner == learner), default=0.0)
        return time.monotonic() + guess < deadline

    return fits


def _missing(tasks, runs: list[Run], n_timesteps: int | None, config_path: str | None, algo: str = "ppo") -> set:
    """The tasks whose run (of ``algo``, at the timesteps it is asked for) is not among ``runs``."""
    done = {r.key for r in runs}
    steps = {env_id: n_timesteps or zoo.load(env_id, config_path).n_timesteps for env_id, _, _ in tasks}
    return {t for t in tasks if (*t, steps[t[0]], algo) not in done}


def sweep(
    env_ids: list[str],
    seeds: int | str,
    results: Path,
    learners=LEARNERS,
    max_seeds: int = 40,
    rel_margin: float = 0.1,
    **run_kwargs,
) -> list[Run]:
    """Run the tasks for seeds 0..seeds-1, or with seeds="auto" a pilot of PILOT_SEEDS and then as many as
    its spread asks for (at most max_seeds; the control needs no more). Runs already in results are reused."""
    auto = seeds == "auto"
    first = plan(env_ids, PILOT_SEEDS if auto else int(seeds), learners)
    runs = run_all(first, results, **run_kwargs)
    if auto and _missing(
        first, runs, run_kwargs.get("n_timesteps"), run_kwargs.get("config_path"), run_kwargs.get("algo", "ppo")
    ):
        print("the pilot is not complete: the number of seeds is decided when it is")
    elif auto:
        # The number of seeds is fixed by the pilot's seeds alone: re-estimated from every run so far, it would shrink
        # or grow with the later seeds and a resumed sweep could stop as soon as they happened to agree.
        pilot = [r for r in runs if r.seed < PILOT_SEEDS]
        more = []
        for env_id in env_ids:
            needed = max(analyse(pilot, env_id, rel_margin).seeds_needed.values())
            n = min(max(needed, PILOT_SEEDS), max_seeds)
            print(f"{env_id}: the pilot's spread asks for {needed} seeds per learner; running {n}")
            more += plan([env_id], n, ("sb3", "scratch"))
        runs = run_all(more, results, **run_kwargs)
    return runs
