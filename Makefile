# The two front doors: `make demo` and `make test` (each sets everything up on a fresh machine).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# DDS stays on this machine: discovery only on localhost, and a domain of our own.
# (A robot keeps its normal discovery: these lines only concern make targets.)
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= 42
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
# Shared memory + loopback UDP with big socket buffers, so multi-MB best-effort clouds arrive.
export FASTDDS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/fastdds_localhost.xml
DEMO_SECONDS ?= 10
SENSOR ?= hdl64
# vision_msgs (no PyPI wheel) is built from ../shared/ros/vision_msgs into this prefix by `make setup`;
# the recipes that run Python or ROS source it first.
VISION_MSGS_SETUP := $(VENV)/vision_msgs/install/local_setup.sh
ROS_ENV := . $(VISION_MSGS_SETUP) &&

.PHONY: setup build demo test lint clean model vision_msgs

$(VENV)/.installed: requirements.txt requirements-ros.txt requirements-offline.txt requirements-dev.txt \
		requirements-interfaces.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q -r requirements-interfaces.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Always asked: the script itself skips the build (in about a second) when the source and Python are unchanged.
vision_msgs: $(VENV)/.installed
	bash scripts/build_vision_msgs.sh

setup: $(VENV)/.installed vision_msgs

# colcon install at the repository root: install/t3d_ros/lib/t3d_ros/{perception_node,sim_lidar_node}
build: setup
	$(ROS_ENV) $(VENV)/bin/colcon --log-base log build --paths . --build-base build --install-base install >/dev/null
	@echo "built: . install/local_setup.sh"

demo: build
	$(ROS_ENV) . install/local_setup.sh && $(PY) -m t3d_ros.cli.demo --install install --sensor $(SENSOR) \
		--seconds $(DEMO_SECONDS) --png out/demo_bev.png

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(ROS_ENV) $(PY) -m pytest -q

clean:
	rm -rf build install log out

# Reproduce the shipped model and the T3DNet ablation (long: see scripts/train_t3dnet.sh).
model: setup
	bash scripts/train_t3dnet.sh
