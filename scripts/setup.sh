#!/usr/bin/env bash
# Installs everything the app needs for development: a virtualenv with the pinned Python packages
# (editable), the pinned front-end packages from the npm registry (`npm run build` puts them in
# static/vendor/), and with --browser Debian's chromium for the Playwright tests when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"

npm ci --no-audit --no-fund --loglevel=error
npm run --silent build >/dev/null  # the same step a Node buildpack runs (package.json)

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
