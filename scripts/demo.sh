#!/usr/bin/env bash
# The main job: set up, build, then dump a running vk_stencil concurrently and show what
# the application felt and what the dump did. Options are passed to demo.py (--mib, --mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
python3 scripts/demo.py --build build "$@"
