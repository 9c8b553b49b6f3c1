#!/usr/bin/env bash
# What the tests need besides Python packages: Debian's Chromium (browser tests, driven by
# Playwright with executable_path=/usr/bin/chromium), Debian's nginx (scale-out tests) and the npm test tools
# (telegram-test-api, axe-core). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# A Chinese font too, so that the screenshots the browser tests save are readable.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian's chromium and a Chinese font for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
  else
    echo "error: browser tests need /usr/bin/chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
fi

# Debian's nginx: the scale-out tests run the replicas behind it, as production does.
if [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian's nginx for the scale-out tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  else
    echo "error: the scale-out tests need /usr/sbin/nginx: sudo apt-get install nginx-light" >&2
    exit 1
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: the Telegram and widget tests need Node.js and npm (apt-get install nodejs npm)" >&2
  exit 1
fi
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "==> installing npm test tools (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.lock.sha256
fi
