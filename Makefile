# faceweb: two commands for a fresh Debian/Ubuntu machine with Python 3.11 and Node.
#   make run   set everything up, then run Redis, the web server, a worker and beat (Ctrl-C stops)
#   make test  set everything up, then run every test
# Each setup step reruns only when its inputs changed, so both are quick the second time.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.faceweb-installed
NODE_STAMP := node_modules/.faceweb-installed
MODELS_STAMP := var/models/.faceweb-installed

.PHONY: run test setup lint bench-setup

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) scripts/ensure_admin.py
	$(PY) scripts/run.py

test: setup
	$(PY) -m pytest

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .

setup: $(PY_STAMP) $(NODE_STAMP) $(MODELS_STAMP)

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create a virtualenv: sudo apt-get install python3.11-venv"; exit 1; }

$(PY_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js and npm (sudo apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

# Converts face-api's weights (node_modules) into Keras files under var/models; the command
# itself checks checksums and skips what is up to date.
$(MODELS_STAMP): $(PY_STAMP) $(NODE_STAMP) recognition/pipeline/models.py
	$(PY) manage.py install_models
	touch $@

# The reference for bench/benchmark.py: face_recognition on the prebuilt dlib-bin wheel, in its
# own virtualenv. Plain `pip install face_recognition` would compile dlib from source (~12 min).
BENCH_VENV := .bench-venv
bench-setup: $(BENCH_VENV)/.faceweb-installed

$(BENCH_VENV)/.faceweb-installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet dlib-bin face_recognition_models
	$(BENCH_VENV)/bin/pip install --quiet --no-deps face_recognition
	$(BENCH_VENV)/bin/pip install --quiet click numpy pillow
	touch $@
