# simreal: `make demo` runs the main job, `make test` runs the test suite.
# Both bootstrap everything on a fresh Debian 12 machine (system packages, .venv, the project).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
SYSSTAMP  := .stamp-system
SYS_PKGS  := libusb-1.0-0 libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglu1-mesa ffmpeg
PYTHON312 := $(shell pyenv root >/dev/null 2>&1 && ls -d $$(pyenv root)/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1)
PYTHON312 := $(or $(PYTHON312),$(shell command -v python3.12))
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: help setup demo test lint bench bench-metaworld clean-venv

help:
	@echo "make demo   collect demos, validate, replay a video, train a MeanFlow policy, evaluate it, run it over ROS 2"
	@echo "make test   run the test suite (everything but the gpu marker)"
	@echo "make lint   ruff check + format check"
	@echo "make bench  run the benchmarks (writes benchmarks/results/*.json; BENCH_ARGS=--quick for a smoke run)"
	@echo "make bench-metaworld  Meta-World v3 suite in its own venv (metaworld 3.1.1 pins mujoco 3.3.0)"

$(SYSSTAMP):
	@missing=$$(for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(STAMP): pyproject.toml lerobot_policy_simreal/pyproject.toml $(SYSSTAMP)
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found (pyenv install 3.12 or apt install python3.12)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,teleop]"
	@# LeRobot finds third-party policies by distribution name (lerobot_policy_*): ours is a small plugin.
	$(PY) -m pip install -q --no-deps -e ./lerobot_policy_simreal
	@touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/simreal demo

test: setup
	$(VENV)/bin/python -m pytest -m "not gpu" -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# The self-contained benchmarks; the ROS ones need a checkpoint (see README), the success sweep is long.
BENCHES := env_steps expert_success collect policy_latency train_throughput
bench: setup
	@for b in $(BENCHES); do echo "== benchmarks/bench_$$b.py $(BENCH_ARGS)"; \
	  $(PY) benchmarks/bench_$$b.py $(BENCH_ARGS) || exit 1; done

# Meta-World pins mujoco==3.3.0, so it gets its own venv; simreal's policy code is installed there
# without its mujoco>=4 dependency (simreal.sim is never imported on that side).
bench-metaworld: $(SYSSTAMP)
	bash benchmarks/metaworld/setup.sh $(PYTHON312)
	MUJOCO_GL=egl .venv-metaworld/bin/python benchmarks/metaworld/bench_metaworld.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV) .venv-metaworld $(SYSSTAMP)
