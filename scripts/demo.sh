#!/usr/bin/env bash
# Install into .venv, fetch the reference data (mirror first), simulate the last 30 days of the
# sensor fleet and ingest them through the real readers, then serve the observatory.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/install-python.sh
if [ -z "${OBSERVATORY_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then
    export OBSERVATORY_DATA_MIRROR="$(cd ../shared/data && pwd)"
fi
.venv/bin/observatory fetch
DATA_DIR="$(.venv/bin/python -c 'from observatory.config import settings; print(settings().data_dir)')"
SIMULATED="$DATA_DIR/simulated"
if [ -f "$SIMULATED/simulation.json" ]; then
    echo "Sensor fleet already simulated in $SIMULATED ($(grep -o '"start": "[^"]*"' "$SIMULATED/simulation.json")); delete the folder to simulate again"
else
    echo "Simulating the sensor fleet: the last 30 days up to now, every scenario, into $SIMULATED"
    # --overwrite: a run killed before its end (no simulation.json yet) is started again.
    .venv/bin/observatory simulate --days 30 --scenario all --out "$SIMULATED" --overwrite --workers 2
fi
INGEST_OPTIONS="$(.venv/bin/python -c 'from observatory.simulate.citizens import INGEST_COMMAND_OPTIONS as o; print(o)')"
echo "Ingesting $SIMULATED/field into the warehouse (files ingested before are skipped)"
# shellcheck disable=SC2086  # the options are words without spaces
.venv/bin/observatory ingest "$SIMULATED/field" $INGEST_OPTIONS
echo "Serving on http://127.0.0.1:${PORT:-5006}/ (the home page; Ctrl-C to stop)"
exec .venv/bin/observatory serve --port "${PORT:-5006}" "$@"
