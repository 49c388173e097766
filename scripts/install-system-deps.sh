#!/usr/bin/env bash
# Install the Debian packages the real-services and browser tests need (tests/services.py):
# PostgreSQL 15 + PostGIS 3, InfluxDB 1.x, Mosquitto, Chromium and nginx (the reverse proxy in
# front of the site), and the C compiler and Python headers that build the line-protocol
# extension (observatory/sources/_lineproto.c) at `pip install -e .`. A no-op when all are present.
# As root it installs what is missing; otherwise it says what is missing and how to install it,
# and exits 0 (the tests then skip those services, or fail when CI=true).
set -euo pipefail

PACKAGES=(postgresql-15-postgis-3 postgresql-15 influxdb mosquitto chromium nginx-light gcc libc6-dev python3-dev)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian-based system (no dpkg-query)." >&2
    echo "  Install by hand: ${PACKAGES[*]} (or your distribution's equivalents)." >&2
    exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-system-deps: all present (${PACKAGES[*]})."
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-system-deps: missing Debian packages: ${missing[*]}" >&2
    echo "  Install them as root:" >&2
    echo "    sudo scripts/install-system-deps.sh" >&2
    echo "  or: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "  Until then the tests that need them are skipped (and fail when CI=true)." >&2
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
