#!/usr/bin/env bash
# Run on the H200 machine with .gl and .dev carried (bench/device/prepare.sh makes them):
#   bash .dev/run.sh 2>&1 | tee $OUT/log
# Validation of the Vulkan layer on NVIDIA's driver (H200): transparency and dump refusal.
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export LD_LIBRARY_PATH=$PWD/.dev/lib
export XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run
B=$PWD/.dev/build
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
for spec in "vk_stencil --mib 256" "vk_serving --mib 256" "vk_manybuf --mib 64"; do
  set -- $spec; ex=$1; shift
  steps=500
  echo "== $ex $* --steps $steps"
  echo "reference: $($B/examples/example_ref --example ${ex#vk_} "$@" --gpu-steps $steps --checksum | tail -1)"
  echo "plain:     $($B/examples/vulkan/$ex "$@" --steps $steps --quiet --stats $OUT/${ex}_plain.json | tail -1)"
  echo "layer:     $(GPUCR_LOG=info $B/tools/gpucr run -- $B/examples/vulkan/$ex "$@" --steps $steps --quiet --stats $OUT/${ex}_layer.json 2>$OUT/${ex}_layer.err | tail -1)"
  echo "disabled:  $(GPUCR_DISABLE=1 $B/tools/gpucr run -- $B/examples/vulkan/$ex "$@" --steps $steps --quiet | tail -1)"
  python3 -c "import json;a=json.load(open('$OUT/${ex}_plain.json'));b=json.load(open('$OUT/${ex}_layer.json'));print('median step plain %.3f ms, layer %.3f ms' % (a['median_ms'], b['median_ms']))"
done
echo "== dump of vk_serving on NVIDIA (device-local memory)"
rm -f /tmp/ready
$B/tools/gpucr run -- $B/examples/vulkan/vk_serving --mib 256 --steps 400 --step-ms 5 --ready-file /tmp/ready --quiet > /tmp/serving.out &
P=$!
while [ ! -f /tmp/ready ]; do sleep 0.1; done; sleep 0.3
$B/tools/gpucr ps
$B/tools/gpucr dump $P -D /tmp/img --gpu-only; echo "dump exit $?"
ls /tmp | grep -c img || true
wait $P; echo "app exit $?: $(tail -1 /tmp/serving.out)"
echo "reference: $($B/examples/example_ref --example serving --mib 256 --gpu-steps 400 --checksum | tail -1)"
grep -v "^$" $OUT/vk_stencil_layer.err | head -20
