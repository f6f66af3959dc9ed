"""Benchmarks of issue 9: each module prints ratios measured in one run against a baseline.

Run from the repository root after ./scripts/setup.sh, e.g. `.venv/bin/python -m bench.intake`;
`.venv/bin/python -m bench.run_all` runs them all. Results and method: docs/performance.md.
"""
