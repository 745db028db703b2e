#!/usr/bin/env bash
# Installs what gpucr needs to build and test on Debian 12 (run as root), then configures build/.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(
  build-essential meson ninja-build pkg-config python3 git
  libvulkan-dev vulkan-tools mesa-vulkan-drivers glslang-tools spirv-headers
  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo
  nlohmann-json3-dev libxxhash-dev libzstd-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev googletest python3-matplotlib
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
  setup_args=(--buildtype=debugoptimized)
  # The CUDA interposer and examples (option 'cuda', auto) need nvcc. Meson 1.0 looks for it on
  # PATH only (it ignores CUDACXX) and then runs it by name, so name it by its full path in a native
  # file kept in the build directory (for the CUDA language and find_program('nvcc')): $CUDACXX,
  # else the toolkit's /usr/local/cuda/bin/nvcc, else nvcc on PATH. Without one, nothing CUDA is built.
  nvcc="${CUDACXX:-}"
  if [ -z "$nvcc" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc; else nvcc="$(command -v nvcc || true)"; fi
  fi
  if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
    export CUDACXX="$nvcc"
    mkdir -p build
    printf "[binaries]\ncuda = '%s'\nnvcc = '%s'\n" "$nvcc" "$nvcc" >build/cuda-native.ini
    setup_args+=(--native-file build/cuda-native.ini)
  fi
  meson setup build "${setup_args[@]}" >/dev/null
fi
ninja -C build
