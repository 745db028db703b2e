#!/usr/bin/env bash
# Prepares what bench/device/*.sh need on a machine without a Vulkan loader (the H200 machine):
# stripped binaries from a build directory (default build/) in .dev/, Debian's Vulkan loader and
# GL dispatch libraries in .gl/ (both ignored by git; carry them to the machine).
#   bash bench/device/prepare.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-build}
rm -rf .dev && mkdir -p .dev/build/tools .dev/build/layers/vulkan .dev/build/examples/vulkan .dev/build/tests .dev/lib
strip --strip-debug -o .dev/build/tools/gpucr $S/tools/gpucr
strip --strip-debug -o .dev/build/layers/vulkan/libVkLayer_gpucr.so $S/layers/vulkan/libVkLayer_gpucr.so
for e in vk_stencil vk_serving vk_manybuf; do strip --strip-debug -o .dev/build/examples/vulkan/$e $S/examples/vulkan/$e; done
strip --strip-debug -o .dev/build/examples/example_ref $S/examples/example_ref
strip --strip-debug -o .dev/build/tests/image_extract $S/tests/image_extract
mkdir -p .dev/build/layers/opencl/vendors .dev/build/examples/opencl .dev/build/bench
strip --strip-debug -o .dev/build/layers/opencl/libgpucr_opencl.so $S/layers/opencl/libgpucr_opencl.so
for e in cl_stencil cl_serving cl_manybuf; do strip --strip-debug -o .dev/build/examples/opencl/$e $S/examples/opencl/$e; done
sed 's|"library_path": ".*"|"library_path": "./libVkLayer_gpucr.so"|' $S/layers/vulkan/VkLayer_gpucr.json \
  > .dev/build/layers/vulkan/VkLayer_gpucr.json
for b in memcpy_bw cl_read_bw; do strip --strip-debug -o .dev/build/bench/$b $S/bench/$b; done
# gpucr's CRIU plugin, where gpucr looks for it (criu/ beside the gpucr executable); carry
# .deps/criu too (scripts/criu.sh) for the process checkpoint runs.
if [ -f $S/tools/criu/gpucr_criu.so ]; then
  mkdir -p .dev/build/tools/criu && strip --strip-debug -o .dev/build/tools/criu/gpucr_criu.so $S/tools/criu/gpucr_criu.so
fi
cp -L /lib/x86_64-linux-gnu/libfmt.so.9 /lib/x86_64-linux-gnu/libspdlog.so.1.10 /lib/x86_64-linux-gnu/libxxhash.so.0 .dev/lib/
# Debian's ICD loader (ocl-icd), which reads OCL_ICD_VENDORS: the H200 machine's libOpenCL is the
# one CUDA bundles, which does not load gpucr's shim.
cp -L /lib/x86_64-linux-gnu/libOpenCL.so.1 .dev/lib/
cp bench/device/vulkan_nvidia.sh .dev/run.sh
cp bench/device/suspend_nvidia.sh .dev/suspend_nvidia.sh
cp bench/device/opencl_nvidia.sh .dev/opencl_nvidia.sh
cp bench/device/opencl_dump_nvidia.sh .dev/opencl_dump_nvidia.sh
cp bench/device/opencl_suspend_nvidia.sh .dev/opencl_suspend_nvidia.sh
cp bench/device/criu_nvidia.sh .dev/criu_nvidia.sh
mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
