#!/usr/bin/env bash
# Install what the tests need (Debian services when root, the venv) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/install-python.sh
if [ -z "${OBSERVATORY_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
    export OBSERVATORY_DATA_MIRROR="$(cd ../shared/data && pwd)"
fi
exec .venv/bin/python -m pytest "$@"
