#!/usr/bin/env bash
# Run on the H200 machine with .dev carried (bench/device/prepare.sh makes it):
#   bash .dev/opencl_dump_nvidia.sh 2>&1 | tee $OUT/opencl_dump.log
# OpenCL dumps on NVIDIA's OpenCL platform (found by name, PoCL registered beside it): the
# device-to-host read bandwidth (bench/cl_read_bw, pageable and pinned) at 1 and 8 GiB, then
# bench/bench.py --api opencl with cl_stencil at 1 GiB and 8 GiB dumped mid-run in stop mode (the
# baseline) and cow. Writes under $OUT: platforms.json, cl_read_bw_<MiB>.json and
# opencl_dump_nvidia_<size>.{json,md}. About 4-5 minutes.
#
# Sizes: with --step-ms 100 a step takes ~100 ms there, and a run must outlast its dump (the 8 GiB
# image is written with fsync, ~20 s), hence 60 and 240 steps. At these sizes the CPU reference
# would take minutes, so the final checksums are compared with the run without a dump (--no-ref);
# the shim's results equal the CPU reference's on NVIDIA (bench/results/opencl_shim_nvidia_h200.log).
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
B=$PWD/.dev/build
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
# The machine registers only PoCL in /etc/OpenCL/vendors: add NVIDIA's ICD beside it.
mkdir -p /tmp/vendors && cp /etc/OpenCL/vendors/*.icd /tmp/vendors/ 2>/dev/null
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/vendors/nvidia.icd
export OCL_ICD_VENDORS=/tmp/vendors
echo "$B/layers/opencl/libgpucr_opencl.so" > $B/layers/opencl/vendors/gpucr.icd
df -h /tmp | tail -1

# The NVIDIA platform's index, by name (the loader's order is not assumed).
$B/bench/cl_read_bw --list | tee "$OUT/platforms.json"
P=$(python3 -c "
import json, sys
ps = json.load(open('$OUT/platforms.json'))['platforms']
print(next((p['index'] for p in ps if 'nvidia' in p['name'].lower() and p['devices']), ''))")
if [ -z "$P" ]; then echo "no NVIDIA OpenCL platform with a device"; exit 1; fi
echo "NVIDIA platform: index $P"

echo "== device-to-host read bandwidth"
for mib in 1024 8192; do
  timeout 60 $B/bench/cl_read_bw --mib $mib --platform $P | tee "$OUT/cl_read_bw_$mib.json"
done

echo "== cl_stencil dumps, stop against cow"
common="--build .dev/build --api opencl --platform-name NVIDIA --workloads stencil --modes stop,cow --skip-overhead
        --step-ms 100 --no-ref"
timeout 120 python3 bench/bench.py $common --mib 1024 --steps 60 --repeat 2 \
  --out "$OUT/opencl_dump_nvidia_1gib.json" | tee "$OUT/opencl_dump_nvidia_1gib.md"
timeout 240 python3 bench/bench.py $common --mib 8192 --steps 240 --repeat 1 \
  --out "$OUT/opencl_dump_nvidia_8gib.json" | tee "$OUT/opencl_dump_nvidia_8gib.md"
