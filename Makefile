# Shortcuts for the scripts the README names.
.PHONY: demo test lint
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
lint:
	.venv/bin/ruff check observatory apps tests benchmarks && .venv/bin/ruff format --check observatory apps tests benchmarks
