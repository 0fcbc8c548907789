#!/usr/bin/env bash
# setup-chromium.sh installs Debian's Chromium for the browser tests when it is
# missing (they fail, never skip, without it). Needs root or passwordless sudo
# and Debian's apt mirror.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "setup-chromium: /usr/bin/chromium is missing and this user cannot install it; run as root: apt-get install -y chromium" >&2
    exit 1
  fi
fi
echo "setup-chromium: installing Debian's chromium for the browser tests (a few minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do
  if $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends chromium >&2; then
    break
  fi
  [ "$attempt" = 3 ] && { echo "setup-chromium: apt-get failed" >&2; exit 1; }
  sleep 5
done
/usr/bin/chromium --version >&2
