test:
	python -m pytest

fast:
	python -m pytest -m "not slow and not browser"

lint:
	ruff check . && lint-imports

docs:
	python -m mkdocs build --strict

docs-check:
	python -m cogapp --check docs/*.md

bench:
	python scripts/bench.py

bench-scale:
	python scripts/bench_scale.py

.PHONY: test fast lint docs docs-check bench bench-scale
