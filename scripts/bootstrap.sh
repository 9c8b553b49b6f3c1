#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) on Python 3.10 from the locks.
#
#   scripts/bootstrap.sh        runtime packages (requirements.lock), for `make run`
#   scripts/bootstrap.sh --dev  runtime + test/dev tools (requirements-dev.lock), for `make test`
#
# Installs with --require-hashes, so every package (whether it comes from the package index or
# a local wheel folder in pip's configuration) must match a hash in the lock. Idempotent:
# reinstalls only when a lock changed since the last run, then removes packages that no lock
# names any more, so the environment is exactly what the locks say.
set -euo pipefail
cd "$(dirname "$0")/.."

want_dev=0
case "${1:-}" in
  --dev) want_dev=1 ;;
  "") ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

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

sha() { sha256sum "$1" | cut -d' ' -f1; }
runtime_stamp=.venv/.requirements.lock.sha256
dev_stamp=.venv/.requirements-dev.lock.sha256
installer_stamp=.venv/.requirements-bootstrap.lock.sha256

# The dev lock holds every runtime pin too, so once the dev tools are installed the
# environment follows the dev lock, also for `make run`.
if [ "$want_dev" = 1 ] || [ -f "$dev_stamp" ]; then
  lock=requirements-dev.lock
  up_to_date() { [ "$(cat "$runtime_stamp" 2>/dev/null)" = "$(sha requirements.lock)" ] &&
                 [ "$(cat "$dev_stamp" 2>/dev/null)" = "$(sha requirements-dev.lock)" ]; }
else
  lock=requirements.lock
  up_to_date() { [ "$(cat "$runtime_stamp" 2>/dev/null)" = "$(sha requirements.lock)" ]; }
fi

if ! up_to_date; then
  echo "==> installing $lock (the first run downloads a few hundred MB)"
  # uv installs the locked packages in seconds where pip takes minutes; it reads no pip
  # configuration (only UV_* settings), so pip, with the machine's index settings, is
  # the fallback when uv cannot fetch a package.
  if [ ! -x .venv/bin/uv ] || [ "$(cat "$installer_stamp" 2>/dev/null)" != "$(sha requirements-bootstrap.lock)" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bootstrap.lock
    sha requirements-bootstrap.lock > "$installer_stamp"
  fi
  if ! .venv/bin/uv pip install --quiet --python .venv/bin/python --require-hashes -r "$lock"; then
    echo "==> uv could not install $lock; installing with pip"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  fi
  # Drop what the lock no longer names (pip itself excepted), e.g. after a package was removed.
  stale=$(.venv/bin/python - "$lock" <<'EOF'
import re, sys
from importlib.metadata import distributions

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

with open(sys.argv[1], encoding="utf-8") as lock:
    locked = {canonical(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock.read(), re.M)}
installed = {canonical(d.metadata["Name"]) for d in distributions()}
print(" ".join(sorted(installed - locked - {"pip", "uv"})))
EOF
)
  if [ -n "$stale" ]; then
    echo "==> removing packages no lock names: $stale"
    # shellcheck disable=SC2086
    .venv/bin/python -m pip uninstall --quiet --yes $stale
  fi
  .venv/bin/python -m pip check
  # Bytecode for every installed module: a package built from source (jieba) can come
  # without it, and then every process compiles it again at start whenever the
  # environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE) — jieba alone costs
  # ~55 MB of resident memory in each process that imports it. Modules that do not
  # compile (Python 2 test files in some packages) are left to Python, hence `|| true`.
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true
  sha requirements.lock > "$runtime_stamp"
  if [ "$lock" = requirements-dev.lock ]; then sha requirements-dev.lock > "$dev_stamp"; fi
fi
