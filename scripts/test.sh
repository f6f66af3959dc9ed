#!/usr/bin/env bash
# Installs everything the tests need, then runs lint, types, the suite, and the browser tests
# (in a pytest process of their own: Playwright's sync API breaks later asyncio tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --browser

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Most tests wait on servers, sockets and clocks more than on the CPU: four workers on two cores,
# each taking the next test as soon as it is free (worksteal), so the few long fault and deploy
# tests (10-20 s each) do not queue up behind one another on one worker as whole files did.
.venv/bin/python -m pytest -m "not browser" -n 4 --dist worksteal "$@"
.venv/bin/python -m pytest -m browser tests/browser "$@"
