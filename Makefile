# Python Essentials for MLOps: `make run` runs all three projects, `make test` runs every test and the lint gate.
# Both create .venv and install the pinned requirements first, so a fresh clone needs nothing else.
# One venv grows per target: `make run-01` installs only Project_01's requirements (no Airflow,
# Whisper or MLflow); `make run-02` adds Project_02's, and so on. constraints.txt pins the rest.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(abspath $(BIN)/python)
PROJECTS := 01 02 03
STAMPS := $(PROJECTS:%=$(VENV)/.installed-%)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help install run run-01 run-02 run-03 serve-03 load-03 test test-01 test-02 test-03 lint lint-01 lint-02 \
	lint-03 benchmark results-03 images mlflow-ui constraints clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: Python 3.11+ is needed (the pinned numpy, pandas, scikit-learn require it);" \
		"run e.g. 'make PYTHON=python3.11 test'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# .venv/.installed-01 is Project_01's requirements installed into .venv, and so on.
$(VENV)/.installed-%: Project_%/requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r Project_$*/requirements.txt -c constraints.txt
	touch $@

install: $(STAMPS) ## Create .venv and install every project's pinned requirements

run: run-01 run-02 run-03 ## Run all three projects end to end (downloads and caches real data)

run-01: $(VENV)/.installed-01 ## Project_01: recommend movies for one title
	cd Project_01 && $(PY) movie_recommendations.py --movie-title "Toy Story"

run-02: $(VENV)/.installed-02 ## Project_02: store the podcast feed, download 3 episodes, transcribe the newest
	cd Project_02 && $(PY) podcast_pipeline.py run --max-episodes 3 --max-transcripts 1

run-03: $(VENV)/.installed-03 ## Project_03: train the heart-disease model, then predict two patients
	cd Project_03 && $(PY) heart_disease.py train
	cd Project_03 && $(PY) heart_disease.py predict --model artifacts/model.onnx --input examples/patients.csv

serve-03: $(VENV)/.installed-03 ## Project_03: serve the champion model (after make run-03) on http://127.0.0.1:8000/docs
	cd Project_03 && $(PY) heart_disease.py serve --model models:/heart-disease@champion

test: lint ## Run the lint gate, then every project's tests (plain pytest from the root)
	$(PY) -m pytest

test-01: lint-01 ## Project_01's lint gate and tests only
	cd Project_01 && $(PY) -m pytest

test-02: lint-02 ## Project_02's lint gate and tests only (the Airflow DAG tests included)
	cd Project_02 && $(PY) -m pytest

test-03: lint-03 ## Project_03's lint gate and tests only
	cd Project_03 && $(PY) -m pytest

lint: $(PROJECTS:%=lint-%) ## pylint over every project with its own settings; fails under 10.00/10
	$(PY) -m pylint --rcfile=pyproject.toml --fail-under=10 images/make_header.py

# Each project is linted from inside its folder, with its own pyproject.toml.
LINT = cd Project_$(1) && echo "pylint Project_$(1)" && $(PY) -m pylint --rcfile=pyproject.toml \
	--fail-under=10 $$(find . -name '*.py' -not -path './data/*' -not -path './.venv/*' | sort)

lint-01: $(VENV)/.installed-01 ## pylint Project_01 (10.00/10 or fail)
	@$(call LINT,01)

lint-02: $(VENV)/.installed-02 ## pylint Project_02 (10.00/10 or fail)
	@$(call LINT,02)

lint-03: $(VENV)/.installed-03 ## pylint Project_03 (10.00/10 or fail)
	@$(call LINT,03)

benchmark: $(VENV)/.installed-01 $(VENV)/.installed-02 results-03 ## Re-run every benchmark and rewrite the reports (slow: about 1.5 h)
	cd Project_01 && $(PY) benchmarks/movies_benchmark.py
	cd Project_02 && $(PY) benchmarks/benchmark.py
	cd Project_03 && $(PY) benchmarks/scale_out.py --data-path ../../shared/data/heart/heart.csv

results-03: $(VENV)/.installed-03 ## Project_03: RESULTS.md and the README's figures from evaluate runs (slow)
	cd Project_03 && $(PY) -m benchmarks.results

images: $(STAMPS) ## Redraw the READMEs' pictures (reads ../shared/data and the PODCAST_FEED_URL feed)
	$(PY) images/make_header.py images/header.png
	cd Project_02 && $(PY) podcast_pipeline.py --skip-download --db-path data/readme.db \
		--report images/schedule.png
	cd Project_02 && $(PY) benchmarks/page_screenshot.py
	cd Project_03 && $(PY) heart_disease.py train --data-path ../../shared/data/heart/heart.csv \
		--no-tracking --output-dir data/readme-run && \
		mkdir -p images && cp data/readme-run/*.png images/

load-03: $(VENV)/.installed-03 ## Project_03: p50/p99 latency and requests/s of serve (after make run-03)
	cd Project_03 && $(PY) benchmarks/load.py --model models:/heart-disease@champion

mlflow-ui: $(VENV)/.installed-03 ## Browse and compare Project_03's tracked runs on http://127.0.0.1:5000
	$(BIN)/python -m pip install --quiet -r requirements-ui.txt -c constraints.txt
	$(BIN)/mlflow ui --backend-store-uri sqlite:///Project_03/mlflow.db --host 127.0.0.1 --port 5000

constraints: ## Re-pin constraints.txt from a fresh venv with every requirements file
	rm -rf /tmp/pe-constraints && $(PYTHON) -m venv /tmp/pe-constraints
	/tmp/pe-constraints/bin/pip install --quiet -r requirements.txt -r requirements-ui.txt
	{ sed -n '1,2p' constraints.txt; /tmp/pe-constraints/bin/pip freeze | grep -v '^pip=='; } > constraints.tmp && mv constraints.tmp constraints.txt

clean: ## Remove the venv, caches and every downloaded or generated file
	rm -rf $(VENV) .pytest_cache Project_01/data Project_02/data Project_02/episodes Project_03/data Project_03/artifacts Project_03/mlruns Project_03/mlflow.db
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
