#!/usr/bin/env bash
# The dashboard's browser test (tests/e2e) drives Debian's Chromium; Playwright's own browser download is not
# reachable. Installs it when missing (as root, or with sudo); does nothing when it is already there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "Installing Debian's chromium for the browser test (tests/e2e)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
