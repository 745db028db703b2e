#!/usr/bin/env bash
# Provides CRIU >= 4.0 for gpucr's process checkpoints (run as root; called by setup.sh).
#
# The system's criu is used when it is 4.0 or newer. Otherwise (Debian 12 ships 3.17, which
# fails `criu check` on current kernels) CRIU and the libraries it needs are fetched from
# Debian 13's archive with a private apt state, unpacked into .deps/criu/root, and run through
# Debian 13's own dynamic loader by the wrapper .deps/criu/criu. Nothing is installed into the
# system. The same unpacked tree gives the build criu-plugin.h (from libcriu-dev).
#
#   bash scripts/criu.sh            # provide it (idempotent)
#   bash scripts/criu.sh --print    # print the criu command gpucr will use, or nothing
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
prefix="$top/.deps/criu"
suite="${GPUCR_CRIU_SUITE:-trixie}"
mirror="${GPUCR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

version_ok() {  # criu command...; true when it runs and reports 4.0 or newer
  local v
  v=$("$@" --version 2>/dev/null | sed -n 's/^Version: *\([0-9][0-9]*\)\..*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 4 ]
}

system_criu() {
  local c
  c=$(command -v criu 2>/dev/null) || return 1
  version_ok "$c" && echo "$c"
}

if [ "${1:-}" = "--print" ]; then
  if [ -x "$prefix/criu" ] && version_ok "$prefix/criu"; then echo "$prefix/criu"; exit 0; fi
  system_criu || true
  exit 0
fi

# The plugin header comes from the private tree even when the system's criu is used.
if [ -x "$prefix/criu" ] && version_ok "$prefix/criu" && [ -f "$prefix/root/usr/include/criu/criu-plugin.h" ]; then
  exit 0
fi

echo "gpucr setup: fetching CRIU and criu-plugin.h from Debian's $suite into $prefix" >&2
state="$top/.deps/apt-$suite"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$prefix/debs"
echo "deb $mirror $suite main" >"$state/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache"
  -o "Dir::State::status=$state/status" -o APT::Architecture=amd64
  -o Debug::NoLocking=1 -o APT::Sandbox::User=root
)
: >"$state/status"  # an empty dpkg status: every dependency is fetched, none taken from the host
apt-get "${apt_opts[@]}" update -qq
# The closure of criu and libcriu-dev's dependencies (virtual names in <...> are skipped).
mapfile -t pkgs < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances criu libcriu-dev |
  grep -v '^ ' | grep -v '^<' | sort -u)
(cd "$prefix/debs" && rm -f ./*.deb && apt-get "${apt_opts[@]}" download -qq "${pkgs[@]}" >/dev/null)
rm -rf "$prefix/root.new"
mkdir -p "$prefix/root.new"
for d in "$prefix"/debs/*.deb; do dpkg-deb -x "$d" "$prefix/root.new"; done
rm -rf "$prefix/root"
mv "$prefix/root.new" "$prefix/root"
cat >"$prefix/criu" <<'EOF'
#!/bin/sh
# CRIU from Debian 13, run with its own loader and libraries (written by scripts/criu.sh).
r="$(dirname "$(readlink -f "$0")")/root"
exec "$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu" \
  "$r/usr/sbin/criu" "$@"
EOF
chmod 755 "$prefix/criu"
if ! version_ok "$prefix/criu"; then
  echo "gpucr setup: the CRIU unpacked in $prefix does not run" >&2
  exit 1
fi
"$prefix/criu" --version | head -1 >&2
