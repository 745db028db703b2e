#!/usr/bin/env bash
# Run on the H200 machine with .gl and .dev carried (bench/device/prepare.sh makes them):
#   bash .dev/suspend_nvidia.sh [tests|bench|all] 2>&1 | tee $OUT/log
# Suspend, resume and migrate on NVIDIA's Vulkan driver: device-local memory loaded back through
# copies on the device, memory types chosen again, every example and scenario; then the resume
# benchmark at sizes up to 4 GiB.
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
B=$PWD/.dev/build
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; df -h /dev/shm /tmp | cat
T="--gpucr $B/tools/gpucr --examples $B/examples/vulkan --ref $B/examples/example_ref --extract $B/tests/image_extract"
PHASE=${1:-all}
if [ $PHASE != bench ]; then
echo "== suspend tests on NVIDIA"
for ex in stencil serving manybuf; do
  for sc in cycle eager migrate cycles; do
    echo "-- $ex $sc"
    timeout 300 python3 tests/suspend_test.py $T --example $ex --scenario $sc 2>&1 | grep -E "Error|FAIL|^OK" | cut -c1-800
  done
done
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  for ex in stencil serving manybuf; do
    echo "-- $ex migrate to device 1 and back"
    timeout 300 python3 tests/suspend_test.py $T --example $ex --scenario migrate --device 1 2>&1 | grep -E "Error|FAIL|^OK" | cut -c1-800
  done
fi
for sc in damaged errors ondemand; do
  echo "-- $sc"
  timeout 300 python3 tests/suspend_test.py $T --example stencil --scenario $sc 2>&1 | grep -E "Error|FAIL|^OK" | cut -c1-800
done
fi
if [ $PHASE != tests ]; then
echo "== resume and migrate benchmark"
timeout 560 python3 bench/suspend_bench.py --build .dev/build --sizes ${SIZES:-64,256,1024,4096} --repeat ${REPEAT:-2} \
  --migrate-mib 32 --out $OUT/suspend_nvidia.json
fi
