#!/usr/bin/env bash
# Run on the H200 machine with .dev carried (bench/device/prepare.sh makes it):
#   bash .dev/opencl_suspend_nvidia.sh 2>&1 | tee $OUT/opencl_tests.log
# OpenCL on NVIDIA's driver, with PoCL beside it: dumps of every cl_* example in every mode, suspend
# and resume, migration between NVIDIA's GPU and PoCL's CPU device and back mid-run (crossvendor),
# each against the CPU reference / an uninterrupted run.
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
B=$PWD/.dev/build
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
# The machine registers only PoCL in /etc/OpenCL/vendors: add NVIDIA's ICD beside it. Sorted by
# name, NVIDIA's platform comes first, and the examples take the first platform with a device.
mkdir -p /tmp/vendors && cp /etc/OpenCL/vendors/*.icd /tmp/vendors/ 2>/dev/null
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/vendors/nvidia.icd
export OCL_ICD_VENDORS=/tmp/vendors
ls /tmp/vendors
# gpucr run --api opencl takes the shim's vendor file from the build tree beside it.
echo "$B/layers/opencl/libgpucr_opencl.so" > $B/layers/opencl/vendors/gpucr.icd
T="--gpucr $B/tools/gpucr --examples $B/examples/vulkan --ref $B/examples/example_ref --extract $B/tests/image_extract --api opencl"
run() { echo "-- $*"; timeout 120 python3 "$@" 2>&1 | grep -E "Error|FAIL|^OK|skipped|migrated to|cut after" | cut -c1-600; }
echo "== cross-vendor migration: NVIDIA -> PoCL -> NVIDIA, mid-run"
for ex in stencil serving manybuf; do run tests/suspend_test.py $T --example $ex --scenario crossvendor; done
echo "== dumps on NVIDIA's OpenCL"
for ex in stencil serving manybuf; do
  for m in cow dirty stop; do run tests/dump_test.py $T --example $ex --mode $m; done
  run tests/dump_test.py $T --example $ex --mode cow --stress 300
done
echo "== suspend, resume, migrate on NVIDIA's OpenCL"
for ex in stencil serving manybuf; do
  for sc in cycle eager migrate cycles; do run tests/suspend_test.py $T --example $ex --scenario $sc; done
done
for sc in damaged errors ondemand; do run tests/suspend_test.py $T --example stencil --scenario $sc; done
