#!/usr/bin/env bash
# Installs everything the tests need, then runs lint, types, the suite, and the browser tests
# (in a pytest process of their own: Playwright's sync API breaks later asyncio tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --browser

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# Compiled once, read by every worker and app process after: the bytecode of the app and the
# assertion-rewritten tests (some machines set PYTHONDONTWRITEBYTECODE; each process then
# compiled all of it again, ~2 s of CPU a worker).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m pytest -q --collect-only -p no:playwright >/dev/null
# Most tests wait on servers, sockets and clocks more than on the CPU: six workers on two cores,
# each sent its next test as it frees up (load, one at a time); the tests marked slow go first
# (tests/conftest.py), so they overlap the rest instead of ending the run.
.venv/bin/python -m pytest -m "not browser" -p no:playwright -n 6 --dist load --maxschedchunk 1 "$@"
# Three Chromiums at a time: the browser tests mostly wait for pages and the app's clocks.
.venv/bin/python -m pytest -m browser tests/browser -n 3 --dist load --maxschedchunk 1 "$@"
