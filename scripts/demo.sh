#!/usr/bin/env bash
# Install into .venv, fetch the reference data (mirror first) and serve the observatory.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/install-python.sh
if [ -z "${OBSERVATORY_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
    export OBSERVATORY_DATA_MIRROR="$(cd ../shared/data && pwd)"
fi
.venv/bin/observatory fetch
echo "Serving on http://127.0.0.1:${PORT:-5006}/territory (Ctrl-C to stop)"
exec .venv/bin/observatory serve --port "${PORT:-5006}" "$@"
