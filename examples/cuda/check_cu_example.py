#!/usr/bin/env python3
"""Runs a CUDA example and checks it against example_ref and against its Vulkan counterpart.

    check_cu_example.py --cu build/examples/cuda/cu_manybuf --vk build/examples/vulkan/vk_manybuf \
        --ref build/examples/example_ref --example manybuf --idle-mib 16 -- --mib 8 --buffers 16 --steps 30

Checks (check_example.py's, on the CUDA example): exit 0; stdout is exactly one line
"checksum: <16 hex>"; two runs agree; example_ref agrees for the same --mib/--buffers and
--gpu-steps = --steps; --ready-file is created; --stats holds one latency per step. Then: the
Vulkan example prints the same checksum for the same options (on lavapipe when present); with
--idle-mib M, the CUDA example prints the same checksum followed by "idle: ok"; --device past the
last device is a usage error (exit 2, one line). ldd shows libcudart.so exactly when --cudart shared
(checked first, also without a GPU). Skips (77, "no CUDA device ...") when the machine has no NVIDIA
driver (neither nvidia-smi nor /dev/nvidiactl) or the example reports no CUDA device.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import check_example  # noqa: E402  (examples/check_example.py)

SKIP = 77


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cu", required=True)
    parser.add_argument("--vk", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--example", required=True)
    parser.add_argument("--idle-mib", type=int, default=0)
    parser.add_argument("--cudart", choices=["static", "shared"], default="static",
                        help="how the example links the CUDA runtime (checked with ldd)")
    parser.add_argument("example_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    example_args = [a for a in args.example_args if a != "--"]
    name = os.path.basename(args.cu)

    # The runtime the example was linked with: static (nvcc's default) or libcudart.so.
    ldd = run(["ldd", args.cu])
    if ldd.returncode == 0 and ("libcudart.so" in ldd.stdout) != (args.cudart == "shared"):
        fail(f"{name} should link the {args.cudart} CUDA runtime; ldd says:\n{ldd.stdout}")

    # No NVIDIA driver at all: skip without starting the example (the probe below would say the same).
    if shutil.which("nvidia-smi") is None and not os.path.exists("/dev/nvidiactl"):
        skip("no CUDA device (neither nvidia-smi nor /dev/nvidiactl found)")

    if "VK_DRIVER_FILES" not in os.environ and "VK_ICD_FILENAMES" not in os.environ:
        if os.path.exists(check_example.LAVAPIPE_ICD):
            os.environ["VK_DRIVER_FILES"] = check_example.LAVAPIPE_ICD
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

    probe = run([args.cu, "--mib", "1", "--steps", "0", "--quiet"] +
                (["--buffers", "2"] if args.example == "manybuf" else []))
    if probe.returncode != 0 and "no CUDA device" in probe.stderr:
        skip(probe.stderr.strip().splitlines()[-1])
    if probe.returncode != 0:
        fail(f"{args.cu} --steps 0 exited {probe.returncode}\n{probe.stderr}")

    first = check_example.check_counterpart(args.cu, args.vk, args.ref, args.example, example_args, args.idle_mib, fail)

    bad = run([args.cu, *example_args, "--quiet", "--device", "99"])
    if bad.returncode != 2 or len(bad.stderr.strip().splitlines()) != 1 or "--device 99" not in bad.stderr:
        fail(f"--device 99: exit {bad.returncode}, stderr {bad.stderr!r} (expected 2 and one line)")

    print(f"ok: {name} {' '.join(example_args)}: {first} (reference and "
          f"{os.path.basename(args.vk)} agree{', idle: ok' if args.idle_mib else ''})")


if __name__ == "__main__":
    main()
