# Two commands do all set-up on a fresh machine with only python3:
#   make run    creates .venv, installs the project, runs the main job
#   make test   creates .venv, installs the project with its test extras, runs the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Tests run in parallel processes, one per core.
PYTEST_WORKERS ?= 2

.PHONY: run test test-fast lint format docs screenshots bench parity parity-mujoco clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The CPU build of torch first: left to itself, pip would resolve the CUDA build (several GB).
$(VENV)/.torch: | $(PY)
	$(PIP) install torch==2.13.0
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	touch $@

# The optional extras are installed too, so that what they enable is tested (Box2D's LunarLander, the Ray backend,
# Atari games, MiniGrid, rl-baselines3-zoo, MuJoCo, sb3-contrib, the docs site).
$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[test,parity,cluster,atari,minigrid,zoo,mujoco,contrib,docs]"
	touch $@

run: $(VENV)/.installed
	$(PY) -m sb3_scratch_ppo run

# Everything, as CI runs it. The live reward-parity test runs its own worker processes (one per core), so it runs
# after the others, not beside them.
# REQUIRE_EXTRAS=1: a test whose extra is missing fails here instead of skipping (tests/extras.py).
test: $(VENV)/.installed-test
	REQUIRE_EXTRAS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) tests --deselect tests/test_reward_parity.py
	REQUIRE_EXTRAS=1 $(PY) -m pytest tests/test_reward_parity.py

# For daily work: every test not marked slow (no long training, subprocess CLIs, wheel install or Ray head).
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests -m "not slow"

# ruff with SB3's settings (pyproject.toml): the linter, and the formatter at SB3's line length (127) as a check; then
# mypy against its list of known errors (tools/mypy-baseline.txt: new errors fail, fixed ones must leave the list).
# CI runs it before the tests. It needs tools/lint-requirements.txt alone, not the test install. `make format` rewrites.
$(VENV)/.installed-lint: tools/lint-requirements.txt | $(PY)
	$(PIP) install -r tools/lint-requirements.txt
	touch $@

lint: $(VENV)/.installed-lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) tools/mypy_baseline.py

format: $(VENV)/.installed-lint
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_cartpole_env.py
	$(PY) benchmarks/bench_ppo.py
	$(PY) benchmarks/bench_cnn.py
	$(PY) benchmarks/bench_configs.py

# Every zoo config, SB3 against ScratchPPO with the negative control; hours on 2 cores. Then the learning tasks of
# CnnPolicy and MultiInputPolicy (sb3_scratch_ppo/zoo/configs/observations.yml), and the masked tasks,
# sb3-contrib's MaskablePPO against ScratchMaskablePPO (configs/maskable.yml; minutes).
# Results in docs/parity/results.json are reused, so an interrupted run continues where it stopped.
# With RAY_ADDRESS set, the runs go to that Ray cluster (docs/guides/parity-suite.md, "On a Ray cluster").
PARITY_SEEDS ?= auto
PARITY_DIR ?= docs/parity
parity: $(VENV)/.installed-test
	$(PY) -m sb3_scratch_ppo parity --env all --seeds $(PARITY_SEEDS) \
		--results $(PARITY_DIR)/results.json --report $(PARITY_DIR)/report.md
	$(PY) -m sb3_scratch_ppo parity --config sb3_scratch_ppo/zoo/configs/observations.yml --env all --seeds $(PARITY_SEEDS) \
		--results $(PARITY_DIR)/observations.json --report $(PARITY_DIR)/observations.md
	$(PY) -m sb3_scratch_ppo parity --algo maskable_ppo --config sb3_scratch_ppo/zoo/configs/maskable.yml --env all \
		--seeds $(PARITY_SEEDS) --results $(PARITY_DIR)/maskable.json --report $(PARITY_DIR)/maskable.md

# The zoo's MuJoCo configs (sb3_scratch_ppo/zoo/configs/mujoco.yml), SB3 against ScratchPPO with the negative control:
# 1e6 steps a run, tens of CPU-hours on 2 cores; resumable like `make parity`. The cheapest envs first, so verdicts
# land early. PARITY_BUDGET=<minutes>: start only the runs that should end within it (a session's share of the sweep).
MUJOCO_ENVS ?= Swimmer-v4 Ant-v4 Hopper-v4 HalfCheetah-v4 Walker2d-v4
parity-mujoco: $(VENV)/.installed-test
	$(PY) -m sb3_scratch_ppo parity --config sb3_scratch_ppo/zoo/configs/mujoco.yml --env $(MUJOCO_ENVS) \
		--seeds $(PARITY_SEEDS) $(if $(PARITY_BUDGET),--budget-minutes $(PARITY_BUDGET)) \
		--results $(PARITY_DIR)/mujoco.json --report $(PARITY_DIR)/mujoco.md

# The documentation site (mkdocs.yml) into site/; --strict: a broken link, snippet or API reference fails it.
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The built home page and learner page as PNGs in docs/screenshots/, with Debian's headless Chromium (apt install
# chromium; not installed by set-up).
SCREENSHOT_PAGES ?= index ppo-from-scratch
screenshots: docs
	for page in $(SCREENSHOT_PAGES); do \
		chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-sync \
			--user-data-dir=$$(mktemp -d) --window-size=1600,1500 --screenshot=docs/screenshots/$$page.png \
			file://$(CURDIR)/site/$$page.html || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info site
