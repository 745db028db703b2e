#!/usr/bin/env bash
# Run on the H200 machine with .dev carried (bench/device/prepare.sh makes it):
#   bash .dev/opencl_nvidia.sh 2>&1 | tee $OUT/log
# The OpenCL shim on NVIDIA's OpenCL: each cl_* example directly and through `gpucr run --api
# opencl`, on the NVIDIA platform and on PoCL, against the CPU reference.
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
B=$PWD/.dev/build
nvidia-smi -L
# The machine registers only PoCL in /etc/OpenCL/vendors: add NVIDIA's ICD beside it.
mkdir -p /tmp/vendors && cp /etc/OpenCL/vendors/*.icd /tmp/vendors/ 2>/dev/null
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/vendors/nvidia.icd
export OCL_ICD_VENDORS=/tmp/vendors
echo "$B/layers/opencl/libgpucr_opencl.so" > $B/layers/opencl/vendors/gpucr.icd
for spec in "stencil --mib 256 --steps 100" "serving --mib 256 --steps 400" "manybuf --mib 64 --buffers 100 --steps 300"; do
  set -- $spec; ex=$1; shift
  ref=$($B/examples/example_ref --example $ex $(echo "$@" | sed 's/--steps/--gpu-steps/') --checksum | tail -1)
  for p in 0 1; do
    $B/examples/opencl/cl_$ex "$@" --platform $p --stats /tmp/d.json > /tmp/direct.out
    echo "$(head -1 /tmp/direct.out)"
    direct=$(tail -1 /tmp/direct.out)
    shim=$(GPUCR_LOG=warn $B/tools/gpucr run --api opencl -- $B/examples/opencl/cl_$ex "$@" --platform $p --quiet --stats /tmp/s.json 2>/tmp/shim.err | tail -1)
    med=$(python3 -c "import json;a=json.load(open('/tmp/d.json'));b=json.load(open('/tmp/s.json'));print('median step direct %.3f ms, shim %.3f ms' % (a['median_ms'], b['median_ms']))" 2>/dev/null)
    echo "cl_$ex $* platform $p: reference $ref | direct $direct | shim $shim | $med"
    tail -2 /tmp/shim.err
  done
done
