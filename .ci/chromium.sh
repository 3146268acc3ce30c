#!/usr/bin/env bash
# Make sure Debian's Chromium is there for the report.html browser test (tests/advisor/auto/test_html_report.py):
# installed from Debian's packages when missing and we are root. Without it that test skips, except
# under CI=true, where it fails.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 || echo "chromium.sh: could not install chromium" >&2
else
  echo "chromium.sh: chromium is not installed (as root: apt-get install chromium); the browser test will skip" >&2
fi
