test:
	python -m pytest

fast:
	python -m pytest -m "not slow and not browser"

lint:
	ruff check .

bench:
	python scripts/bench_search.py

.PHONY: test fast lint bench
