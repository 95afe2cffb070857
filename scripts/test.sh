#!/usr/bin/env bash
# Run lint, types and the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff"; $BIN/ruff check optimizer tests benchmarks
echo "== mypy"; $BIN/mypy optimizer
echo "== pytest"
$BIN/python -m pytest -q -p no:cacheprovider --durations=10 tests
