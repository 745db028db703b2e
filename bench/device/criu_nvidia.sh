#!/usr/bin/env bash
# Run on the H200 machine with .dev, .gl and .deps/criu carried (bench/device/prepare.sh, scripts/criu.sh):
#   bash .dev/criu_nvidia.sh 2>&1 | tee $OUT/criu_nvidia.log
# Process checkpoints through CRIU on NVIDIA's drivers: does Debian 13's CRIU run there, and what
# stops a dump of a process whose GPU state gpucr has suspended (NVIDIA OpenCL, NVIDIA Vulkan),
# beside the same on PoCL, where it is expected to work.
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
export GPUCR_CRIU=$PWD/.deps/criu/criu
B=$PWD/.dev/build
uname -r; nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
$GPUCR_CRIU --version | head -1
echo "== criu check"; $GPUCR_CRIU check 2>&1 | tail -3
mkdir -p /tmp/vendors && cp /etc/OpenCL/vendors/*.icd /tmp/vendors/ 2>/dev/null
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/vendors/nvidia.icd
export OCL_ICD_VENDORS=/tmp/vendors
echo "$B/layers/opencl/libgpucr_opencl.so" > $B/layers/opencl/vendors/gpucr.icd
ref() { $B/examples/example_ref --example stencil --mib $1 --gpu-steps $2 --checksum | tail -1; }
# one API/app: start, dump (process), show what the process still holds, restore, compare
cycle() {  # name api app-path extra-args...
  local name=$1 api=$2 app=$3; shift 3
  local W=/tmp/criu-$name; rm -rf $W; mkdir -p $W
  echo "== $name"
  $B/tools/gpucr run --api $api -- $app --mib 256 --steps 60 --step-ms 50 --ready-file $W/ready "$@" </dev/null >$W/app.out 2>$W/app.err &
  for i in $(seq 1 300); do [ -f $W/ready ] && break; sleep 0.1; done
  sleep 0.5; local pid=$(cat $W/ready)
  echo "pid $pid: $(head -1 $W/app.err)"
  echo "-- nvidia files before: $(ls -l /proc/$pid/fd 2>/dev/null | grep -c nvidia) fds, $(grep -c nvidia /proc/$pid/maps) maps"
  timeout 300 $B/tools/gpucr dump $pid -D $W/img; echo "dump rc=$?"
  grep "Error" /tmp/gpucr-criu-*/criu-dump.log 2>/dev/null | grep -v rlimit | head -5
  rm -rf /tmp/gpucr-criu-*
  sleep 1
  if kill -0 $pid 2>/dev/null; then
    echo "-- process still running; nvidia files now: $(ls -l /proc/$pid/fd | grep nvidia | awk '{print $NF}' | sort | uniq -c | tr '\n' ' ')"
    grep nvidia /proc/$pid/maps | awk '{print $6}' | sort | uniq -c | head -8
    wait $pid; echo "app rc=$? $(tail -1 $W/app.out)"
  else
    timeout 300 $B/tools/gpucr restore -D $W/img > $W/restored.out 2>$W/restored.err; echo "restore rc=$?"
    grep -v "step " $W/restored.err | tail -6; echo "restored: $(tail -1 $W/app.out)"
  fi
  echo "reference: $(ref 256 60)"
}
cycle cl_nvidia opencl $B/examples/opencl/cl_stencil --platform 0
cycle cl_pocl opencl $B/examples/opencl/cl_stencil --platform 1
cycle vk_nvidia vulkan $B/examples/vulkan/vk_stencil
