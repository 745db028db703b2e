#!/usr/bin/env bash
# Run on the H200 machine with .devcu carried (bench/device/prepare_cuda.sh makes it):
#   bash .devcu/run.sh smoke tests torch bench 2>&1 | tee $OUT/cuda.log
# CUDA through gpucr's interposer on NVIDIA's driver: the cu_* examples plain and under gpucr, the
# driver-checkpoint helper, dumps of every example in every mode against the CPU reference,
# suspend/resume (with the driver's checkpoint of what is left), PyTorch, and the benchmarks.
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=$PWD/.devcu/lib XDG_RUNTIME_DIR=/tmp GPUCR_RUNTIME_DIR=/tmp/gpucr-run PYTHONUNBUFFERED=1
B=$PWD/.devcu/build
G=$B/tools/gpucr
E=$B/examples/cuda
CK=$B/layers/cuda/gpucr-cuda-checkpoint
OUT=${OUT:-/tmp/out}
mkdir -p $OUT
T="--gpucr $G --examples $B/examples/vulkan --ref $B/examples/example_ref --extract $B/tests/image_extract --api cuda"
run() { echo "-- $*"; timeout ${TMO:-180} python3 "$@" 2>&1 | grep -E "Error|FAIL|^OK|skipped|Traceback|Assertion|error|ok$" | cut -c1-900; }
ref() { $B/examples/example_ref --example $1 --mib $2 --gpu-steps $3 --checksum ${@:4} | tail -1; }

smoke() {
  nvidia-smi -L; nvidia-smi --query-gpu=driver_version,memory.used --format=csv,noheader
  echo "== plain and under gpucr (reference $(ref stencil 64 30))"
  timeout 60 $E/cu_stencil --mib 64 --steps 30 | tail -1
  GPUCR_LOG=info timeout 60 $G run --api cuda -- $E/cu_stencil --mib 64 --steps 30 2>$OUT/smoke_run.err | tail -1
  tail -5 $OUT/smoke_run.err
  GPUCR_LOG=info timeout 60 $G run --api cuda -- $E/cu_stencil_shared --mib 64 --steps 30 2>>$OUT/smoke_run.err | tail -1
  echo "serving $(ref serving 64 40): $(timeout 60 $G run --api cuda -- $E/cu_serving --mib 64 --steps 40 | tail -1)"
  echo "manybuf $(ref manybuf 64 40 --buffers 16): $(timeout 60 $G run --api cuda -- $E/cu_manybuf --mib 64 --steps 40 --buffers 16 | tail -1)"
  echo "== the driver's checkpoint on a plain process (reference $(ref stencil 1024 60))"
  $E/cu_stencil --mib 1024 --steps 60 --step-ms 20 > /tmp/plain.out &
  p=$!; sleep 1.5
  timeout 60 $CK suspend $p; timeout 60 $CK state $p; timeout 60 $CK resume $p
  wait $p; tail -1 /tmp/plain.out
  echo "== gpucr dump, suspend, resume by hand (reference $(ref stencil 256 400))"
  rm -rf /tmp/img*; GPUCR_LOG=debug $G run --api cuda -- $E/cu_stencil --mib 256 --steps 400 --step-ms 20 >/tmp/app.out 2>$OUT/smoke_app.err &
  p=$!; sleep 1.5
  timeout 20 $G ps --json | head -c 1500; echo
  timeout 60 $G dump $p -D /tmp/img1 --gpu-only --mode cow --json | head -c 1500; echo
  timeout 60 $G dump $p -D /tmp/img2 --gpu-only --mode stop --json | head -c 600; echo
  timeout 60 $G suspend $p -D /tmp/img3 --json | head -c 1500; echo
  timeout 20 $G ps --json | head -c 600; echo
  timeout 60 $G resume $p --json | head -c 1500; echo
  timeout 60 $G migrate $p --device 0 --json | head -c 1500; echo
  wait $p; echo "app exit $?: $(tail -1 /tmp/app.out)"
  grep -iE "error|warn" $OUT/smoke_app.err | head -20
}

tests() {
  echo "== examples against the reference"
  for ex in stencil serving manybuf; do
    a="--mib 8 --steps 20"; [ $ex = manybuf ] && a="$a --buffers 16"
    echo "cu_$ex: $(timeout 60 $E/cu_$ex $a | tail -1) ref $(ref $ex 8 20 ${a#--mib 8 --steps 20})"
  done
  echo "== dumps"
  for ex in stencil serving manybuf; do
    for m in cow dirty stop; do run tests/dump_test.py $T --example $ex --mode $m; done
    run tests/dump_test.py $T --example $ex --mode cow --stress 300 --stress-step-ms 2
  done
  echo "== suspend / resume"
  for ex in stencil serving manybuf; do
    for sc in cycle eager cycles; do run tests/suspend_test.py $T --example $ex --scenario $sc; done
  done
  for sc in errors damaged; do run tests/suspend_test.py $T --example stencil --scenario $sc; done
  run tests/suspend_test.py $T --example stencil --scenario migrate --device 0
}

quick() {  # a re-check of the paths the last changes touched
  run tests/dump_test.py $T --example stencil --mode cow --stress 300 --stress-step-ms 2
  run tests/dump_test.py $T --example manybuf --mode cow --stress 300 --stress-step-ms 2
  run tests/dump_test.py $T --example serving --mode dirty
  run tests/dump_test.py $T --example stencil --mode stop
  run tests/suspend_test.py $T --example stencil --scenario cycle
  run tests/suspend_test.py $T --example manybuf --scenario eager
}

torch() {
  python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.device_count())"
  for sc in dump_cow dump_dirty suspend migrate; do
    TMO=300 run tests/cuda/torch_test.py --gpucr $G --extract $B/tests/image_extract --scenario $sc --mode train --device 0
  done
  TMO=300 run tests/cuda/torch_test.py --gpucr $G --extract $B/tests/image_extract --scenario dump_cow --mode infer
  timeout 400 python3 tests/cuda/torch_test.py --gpucr $G --extract $B/tests/image_extract --scenario overhead --mode train 2>&1 | tail -5
}

torchlog() {  # the numbers behind the PyTorch tests, whole
  timeout 200 python3 tests/cuda/torch_test.py --gpucr $G --extract $B/tests/image_extract --scenario dump_cow --mode train 2>&1 | grep -vE "^\s*$" | tail -40
  timeout 300 python3 tests/cuda/torch_test.py --gpucr $G --extract $B/tests/image_extract --scenario overhead --mode train --steps 60 2>&1 | grep -E "overhead|median|OK|FAIL|Error" | head
}

criu() {  # a process checkpoint of a CUDA process: gpucr's capture, the driver's checkpoint of the rest, CRIU
  export GPUCR_CRIU=$PWD/.deps/criu/criu
  uname -r; $GPUCR_CRIU --version | head -1; $GPUCR_CRIU check 2>&1 | tail -1
  local W=/tmp/criu-cu; rm -rf $W; mkdir -p $W
  $G run --api cuda -- $E/cu_stencil --mib 1024 --steps 100 --step-ms 50 --ready-file $W/ready </dev/null >$W/app.out 2>$W/app.err &
  for i in $(seq 1 300); do [ -f $W/ready ] && break; sleep 0.1; done
  sleep 0.5; local pid=$(cat $W/ready)
  echo "pid $pid: nvidia fds $(ls -l /proc/$pid/fd 2>/dev/null | grep -c nvidia), maps $(grep -c nvidia /proc/$pid/maps)"
  timeout 300 $G dump $pid -D $W/img --json > $W/dump.json; echo "dump rc=$?"; head -c 1200 $W/dump.json; echo
  grep "Error" /tmp/gpucr-criu-*/criu-dump.log 2>/dev/null | grep -v rlimit | head -8
  sleep 1
  if kill -0 $pid 2>/dev/null; then
    echo "-- still running; nvidia maps now: $(grep nvidia /proc/$pid/maps | awk '{print $6}' | sort | uniq -c | tr '\n' ' ')"
    wait $pid; echo "app rc=$? $(tail -1 $W/app.out)"
  else
    timeout 300 $G restore -D $W/img > $W/restored.out 2>$W/restored.err; echo "restore rc=$?"
    grep -v "step " $W/restored.err | tail -8; echo "restored: $(tail -1 $W/restored.out)"
  fi
  echo "reference: $(ref stencil 1024 100)"
}

bench() {
  timeout 560 python3 bench/cuda_bench.py --build $B ${BENCH_ARGS:-} --out $OUT/cuda_h200.json 2>&1 | tail -40
}

for phase in "${@:-smoke}"; do echo "##### $phase"; $phase; done
