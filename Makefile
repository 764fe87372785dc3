test:
	python -m pytest

fast:
	python -m pytest -m "not slow and not browser"

lint:
	ruff check .

bench:
	python scripts/bench.py

bench-scale:
	python scripts/bench_scale.py

.PHONY: test fast lint bench bench-scale
