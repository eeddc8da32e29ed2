# The two commands of the README do all set-up on a fresh machine:
#   make book   # venv + installs + data, executes every notebook at PRESET, builds _build/html
#   make test   # venv + installs, then lint and the test suite
# On a GPU: make book PRESET=paper DEVICE=cuda

PRESET ?= laptop
DEVICE ?= auto
SEED   ?= 0
# pytest-xdist workers for `make test`
WORKERS ?= 2
PYTHON ?= python3
VENV   ?= .venv
# torch first and alone: on a CPU machine this pin is the local CPU build; pip would
# otherwise resolve torch through transformer-lens and fetch a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
PIP    ?= pip==26.3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ftscope-installed

.PHONY: book smoke-book run bench plan build check-book chromium claims records spot-check status test lint data lock clean

book: run bench plan build ## execute every notebook at PRESET (cached), time the training loops, count paper's cost, render the book

smoke-book: $(STAMP)       ## the whole book at smoke on the bundled fixtures, needing no `make data` (CI's book)
	$(BIN)/ftscope run --preset smoke --device cpu --seed $(SEED)
	$(BIN)/ftscope bench --preset smoke --device cpu
	$(BIN)/ftscope plan --preset paper
	$(BIN)/ftscope build --preset smoke

run: $(STAMP) data         ## execute the notebooks with papermill (skips unchanged ones)
	$(BIN)/ftscope run --preset $(PRESET) --device $(DEVICE) --seed $(SEED)

bench: $(STAMP)            ## each training loop at PRESET's sizes against the machine's matmul peak (results/bench-PRESET.json)
	$(BIN)/ftscope bench --preset $(PRESET) --device $(DEVICE)

plan: $(STAMP)             ## every chapter's training at the paper preset counted: FLOPs, memory, est. time on one H100
	$(BIN)/ftscope plan --preset paper

build: $(STAMP)            ## render _build/html from the executed notebooks; warnings are errors
	$(BIN)/ftscope build --preset $(PRESET)

check-book: $(STAMP) chromium ## open every page of the built book in headless Chromium: JS errors, images, plots, glue, widths
	$(BIN)/ftscope check-book

chromium:                  ## Debian's headless browser, for check-book and its tests (installed if missing)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

claims: $(STAMP)           ## print the scorecard; fails if a claim failed or a verdict differs from book/expected
	$(BIN)/ftscope claims --preset $(PRESET) --strict

records: $(STAMP)          ## every chapter's committed laptop record fresh for this checkout, its verdicts as expected
	$(BIN)/ftscope records

spot-check: $(STAMP) data  ## one chapter (drawn from the commit hash) re-run at laptop from an empty cache, against its record
	$(BIN)/ftscope spot-check

status: $(STAMP)           ## each notebook's last duration, device, preset and cache state
	$(BIN)/ftscope status

test: $(STAMP) chromium lint ## the test suite (small data the project makes itself), on WORKERS processes
	$(BIN)/python -m pytest -n $(WORKERS) --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check notebooks

data: $(STAMP)             ## Part III corpora (python, lua, english, stories) and pubmed abstracts into data/<corpus>/, each with a manifest.json
	$(BIN)/ftscope data fetch

# Everything but torch comes from requirements.lock, every file checked against its hash.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	$(BIN)/python -m ftscope.book.lock check
	touch $@

lock: $(STAMP)             ## re-resolve requirements.lock from pyproject.toml (newest versions today), rewrite environment.yml
	echo '$(TORCH)' > $(VENV)/torch-pin.txt
	CUSTOM_COMPILE_COMMAND='make lock' $(BIN)/pip-compile --quiet --upgrade --extra dev --generate-hashes \
	  --strip-extras --no-emit-index-url --no-emit-find-links --constraint $(VENV)/torch-pin.txt \
	  --unsafe-package torch --unsafe-package pip --unsafe-package setuptools \
	  --output-file requirements.lock pyproject.toml
	$(BIN)/python -m ftscope.book.lock write-env

clean:                     ## remove generated files (keeps the venv and caches)
	rm -rf _build book/chapters book/_generated results
