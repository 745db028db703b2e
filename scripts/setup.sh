#!/usr/bin/env bash
# Installs what gpucr needs to build and test on Debian 12 (run as root), then configures build/.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  build-essential meson ninja-build pkg-config python3 git
  libvulkan-dev vulkan-tools mesa-vulkan-drivers glslang-tools spirv-headers
  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo
  nlohmann-json3-dev libxxhash-dev libzstd-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev googletest
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpucr setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/criu.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized >/dev/null
fi
ninja -C build
