#!/usr/bin/env bash
# Installs Debian's Chromium for the server's browser test (tests/ZImageSharp.Server.Tests/BrowserTests.cs), which
# drives /usr/bin/chromium through Microsoft.Playwright. Idempotent: does nothing when Chromium is already there.
# Never runs `playwright install` (that downloads browsers; CI has no internet beyond the apt mirror).
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "install-browser: /usr/bin/chromium is present ($(/usr/bin/chromium --version 2>/dev/null | head -n1 || echo 'version unknown'))"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: apt-get not found; install Chromium at /usr/bin/chromium by hand" >&2
  exit 1
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-browser: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi

echo "install-browser: installing chromium with apt-get"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version 2>/dev/null | head -n1 || true
