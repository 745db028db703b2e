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
echo "== dumps on NVIDIA (device-local memory, captured through copies on the device)"
T="--gpucr $B/tools/gpucr --examples $B/examples/vulkan --ref $B/examples/example_ref --extract $B/tests/image_extract"
for ex in stencil serving manybuf; do
  for mode in cow dirty stop; do
    stress=""; [ $mode != stop ] && stress="--stress 300 --stress-steps 2000 --stress-step-ms 2"
    echo "-- $ex $mode $stress"
    python3 tests/dump_test.py $T --example $ex --mode $mode $stress 2>&1 | grep -E "cut after|Error|FAIL|^OK" | cut -c1-600
  done
done
echo "== 1 GiB vk_serving, cow against stop"
for mode in stop cow; do
  rm -f /tmp/ready; rm -rf /tmp/img
  $B/tools/gpucr run -- $B/examples/vulkan/vk_serving --mib 1024 --steps 4000 --step-ms 2 --ready-file /tmp/ready --quiet --stats /tmp/st.json > /tmp/serving.out &
  P=$!
  while [ ! -f /tmp/ready ]; do sleep 0.1; done; sleep 1
  $B/tools/gpucr dump $P -D /tmp/img --gpu-only --mode $mode
  wait $P
  python3 -c "import json;d=json.load(open('/tmp/st.json'));print('$mode: app median step %.3f ms, longest %.3f ms' % (d['median_ms'], d['max_ms']))"
  echo "checksum $(tail -1 /tmp/serving.out), reference $($B/examples/example_ref --example serving --mib 1024 --gpu-steps 4000 --checksum | tail -1)"
done
