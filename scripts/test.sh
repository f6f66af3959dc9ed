#!/usr/bin/env bash
# Installs everything the tests need, then runs lint, types, the suite, and the browser tests
# (in a pytest process of their own: Playwright's sync API breaks later asyncio tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --browser

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Most tests wait on servers and sockets, not the CPU: three workers, one test file each at a time.
.venv/bin/python -m pytest -m "not browser" -n 3 --dist loadfile "$@"
.venv/bin/python -m pytest -m browser tests/browser "$@"
