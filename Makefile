# The two set-up commands of the README: `make demo` and `make test`.
# Both install whatever is missing first (scripts/setup.sh, idempotent).
.PHONY: install demo test unit integration e2e bench clean

PYTEST := .venv/bin/python -m pytest

install:
	@scripts/setup.sh

demo: install
	@scripts/demo.sh

test: install
	$(PYTEST) tests

unit: install
	$(PYTEST) tests/unit

integration: install
	$(PYTEST) tests/integration

e2e: install
	$(PYTEST) tests/e2e

clean:
	rm -rf .venv build src/*.egg-info
