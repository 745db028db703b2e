#!/usr/bin/env python3
"""Runs an OpenCL example and checks it against example_ref and against its Vulkan counterpart.

    check_cl_example.py --cl build/examples/opencl/cl_manybuf --vk build/examples/vulkan/vk_manybuf \
        --ref build/examples/example_ref --example manybuf --idle-mib 16 -- --mib 8 --buffers 16 --steps 30

Checks (check_example.py's, on the OpenCL example): exit 0; stdout is exactly one line
"checksum: <16 hex>"; two runs agree; example_ref agrees for the same --mib/--buffers and
--gpu-steps = --steps; --ready-file is created; --stats holds one latency per step. Then: the
Vulkan example prints the same checksum for the same options (on lavapipe when present); with
--idle-mib M, the OpenCL example prints the same checksum followed by "idle: ok"; --platform past
the last platform is a usage error (exit 2, one line). Skips (77) when no OpenCL platform has a device.
"""
import argparse
import os
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cl", required=True)
    parser.add_argument("--vk", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--example", required=True)
    parser.add_argument("--idle-mib", type=int, default=0)
    parser.add_argument("example_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    example_args = [a for a in args.example_args if a != "--"]

    if "VK_DRIVER_FILES" not in os.environ and "VK_ICD_FILENAMES" not in os.environ:
        if os.path.exists(check_example.LAVAPIPE_ICD):
            os.environ["VK_DRIVER_FILES"] = check_example.LAVAPIPE_ICD
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

    probe = run([args.cl, "--mib", "1", "--steps", "0", "--quiet"] +
                (["--buffers", "2"] if args.example == "manybuf" else []))
    if probe.returncode != 0 and ("no OpenCL platform" in probe.stderr):
        print(f"SKIP: {probe.stderr.strip()}")
        sys.exit(SKIP)
    if probe.returncode != 0:
        fail(f"{args.cl} --steps 0 exited {probe.returncode}\n{probe.stderr}")

    first = check_example.check_counterpart(args.cl, args.vk, args.ref, args.example, example_args, args.idle_mib, fail)

    bad = run([args.cl, *example_args, "--quiet", "--platform", "99"])
    if bad.returncode != 2 or len(bad.stderr.strip().splitlines()) != 1 or "--platform 99" not in bad.stderr:
        fail(f"--platform 99: exit {bad.returncode}, stderr {bad.stderr!r} (expected 2 and one line)")

    print(f"ok: {os.path.basename(args.cl)} {' '.join(example_args)}: {first} (reference and "
          f"{os.path.basename(args.vk)} agree{', idle: ok' if args.idle_mib else ''})")


if __name__ == "__main__":
    main()
