#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) on Python 3.10.
# Idempotent: reinstalls only when requirements.lock changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

is_python310() {
  "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1
}

find_python310() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=($(ls -d "$(pyenv root)"/versions/3.10.*/bin/python3 2>/dev/null | sort -V -r))
  fi
  candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10 "$HOME"/.pyenv/versions/3.10.*/bin/python3 python3)
  local candidate
  for candidate in "${candidates[@]}"; do
    # a pyenv shim exists even when it cannot run: try each one
    if is_python310 "$candidate"; then echo "$candidate"; return; fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! PY=$(find_python310); then
    echo "error: Python 3.10 is required (Rasa 3.6 runs on 3.8-3.10, python-telegram-bot 22 needs 3.10)." >&2
    echo "       Install it (e.g. 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv')," >&2
    echo "       or point PYTHON=/path/to/python3.10 at it." >&2
    exit 1
  fi
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

if ! is_python310 .venv/bin/python; then
  echo "error: .venv is not Python 3.10; remove it and run again." >&2
  exit 1
fi

stamp=.venv/.requirements.lock.sha256
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing pinned dependencies (first run takes a few minutes)"
  .venv/bin/python -m pip install --quiet --no-deps -r requirements.lock
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
