#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit and integration tests on lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
meson test -C build --print-errorlogs --num-processes 2 "$@"
