#!/usr/bin/env bash
# Prepares what bench/device/cuda_nvidia.sh needs on the H200 machine: stripped gpucr binaries, the
# CUDA interposer and its helper, the cu_* examples and the libraries they need from Debian, in
# .devcu/ (ignored by git; carry it to the machine).
#   bash bench/device/prepare_cuda.sh [BUILD_DIR] [CUDA_EXAMPLES_BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-build}
E=${2:-$S}
D=.devcu/build
rm -rf .devcu && mkdir -p $D/tools $D/layers/cuda $D/examples/cuda $D/examples/vulkan $D/tests $D/bench .devcu/lib
strip --strip-debug -o $D/tools/gpucr $S/tools/gpucr
strip --strip-debug -o $D/layers/cuda/libgpucr_cuda.so $S/layers/cuda/libgpucr_cuda.so
strip --strip-debug -o $D/layers/cuda/gpucr-cuda-checkpoint $S/layers/cuda/gpucr-cuda-checkpoint
for e in cu_stencil cu_serving cu_manybuf cu_stencil_shared; do strip --strip-debug -o $D/examples/cuda/$e $E/examples/cuda/$e; done
[ -f $E/bench/cu_d2h_bw ] && strip --strip-debug -o $D/bench/cu_d2h_bw $E/bench/cu_d2h_bw
strip --strip-debug -o $D/examples/example_ref $S/examples/example_ref
strip --strip-debug -o $D/tests/image_extract $S/tests/image_extract
# gpucr's CRIU plugin, where gpucr looks for it (criu/ beside the gpucr executable); carry
# .deps/criu too (scripts/criu.sh) for the process checkpoint phase.
if [ -f $S/tools/criu/gpucr_criu.so ]; then
  mkdir -p $D/tools/criu && strip --strip-debug -o $D/tools/criu/gpucr_criu.so $S/tools/criu/gpucr_criu.so
fi
# The shared-runtime example finds libcudart.so.13 beside itself ($ORIGIN).
cp -L /usr/local/cuda/lib64/libcudart.so.13 $D/examples/cuda/
# gpucr's dependencies from Debian 12 that the H200 machine (Ubuntu 24.04) lacks in these versions.
cp -L /lib/x86_64-linux-gnu/libfmt.so.9 /lib/x86_64-linux-gnu/libspdlog.so.1.10 /lib/x86_64-linux-gnu/libxxhash.so.0 .devcu/lib/
cp bench/device/cuda_nvidia.sh .devcu/run.sh
du -sh .devcu
