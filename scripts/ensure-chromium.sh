#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is at /usr/bin/chromium, for the dashboard's
# real-browser tests (tests/dashboard/test_dashboard_browser.py drives it with Playwright's Python
# package; no browser is downloaded).
#
# Idempotent: does nothing when /usr/bin/chromium exists. Otherwise installs the `chromium` package
# (with sudo unless already root).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "ensure-chromium: /usr/bin/chromium found."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: /usr/bin/chromium not found and apt-get is not available." >&2
    echo "Install Chromium so that /usr/bin/chromium exists (the browser tests fail without it in CI)." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "ensure-chromium: installing Chromium (apt-get install -y chromium)..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

if [ ! -x /usr/bin/chromium ]; then
    echo "ensure-chromium: chromium installed but /usr/bin/chromium is still missing." >&2
    exit 1
fi
echo "ensure-chromium: Chromium installed."
