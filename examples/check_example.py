#!/usr/bin/env python3
"""Runs a Vulkan example twice and checks its checksum against example_ref (CPU reference).

    check_example.py --exe build/examples/vulkan/vk_stencil --ref build/examples/example_ref \
        --example stencil -- --mib 2 --steps 6

Checks: exit 0; stdout is exactly one line "checksum: <16 hex>"; both runs agree; the reference
for the same --mib/--buffers and --gpu-steps = --steps agrees; --ready-file is created; --stats
holds one latency per step.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
CHECKSUM_RE = re.compile(r"^checksum: ([0-9a-f]{16})$")


def option(args, name, default):
    return args[args.index(name) + 1] if name in args else default


def run_example(exe, example_args, tmp, run):
    stats = os.path.join(tmp, f"stats{run}.json")
    ready = os.path.join(tmp, f"ready{run}")
    cmd = [exe, *example_args, "--quiet", "--stats", stats, "--ready-file", ready]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=50)
    if proc.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {proc.returncode}\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    if len(lines) != 1 or not CHECKSUM_RE.match(lines[0]):
        sys.exit(f"FAIL: unexpected stdout from {' '.join(cmd)}: {proc.stdout!r}")
    if not os.path.exists(ready):
        sys.exit("FAIL: --ready-file was not created")
    with open(stats) as f:
        data = json.load(f)
    steps = int(option(example_args, "--steps", "100"))
    if len(data["step_ms"]) != steps or data["steps"] != steps:
        sys.exit(f"FAIL: stats hold {len(data['step_ms'])} latencies, expected {steps}")
    for key in ("example", "median_ms", "max_ms", "total_ms"):
        if key not in data:
            sys.exit(f"FAIL: stats lack {key}")
    return lines[0]


def check_counterpart(exe, vk, ref, example, example_args, idle_mib, fail):
    """The checks shared by the cl_* and cu_* examples: two runs agree, and agree with example_ref
    and with the vk_* counterpart (on lavapipe); --idle-mib adds an untouched object. Returns the
    checksum line. `fail(message)` reports and exits."""
    def run(cmd):
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    name = os.path.basename(exe)
    with tempfile.TemporaryDirectory() as tmp:
        first = run_example(exe, example_args, tmp, 1)
        second = run_example(exe, example_args, tmp, 2)
    if first != second:
        fail(f"two runs differ: {first} vs {second}")
    ref_cmd = [ref, "--example", example, "--mib", option(example_args, "--mib", "64"),
               "--gpu-steps", option(example_args, "--steps", "100"), "--checksum"]
    if "--buffers" in example_args:
        ref_cmd += ["--buffers", option(example_args, "--buffers", "64")]
    r = run(ref_cmd)
    if r.returncode != 0:
        fail(f"{' '.join(ref_cmd)} exited {r.returncode}\n{r.stderr}")
    if first != r.stdout.strip():
        fail(f"{name} printed '{first}', reference says '{r.stdout.strip()}'")
    v = run([vk, *example_args, "--quiet"])
    if v.returncode != 0:
        fail(f"{vk} exited {v.returncode}\n{v.stderr}")
    if v.stdout.splitlines() != [first]:
        fail(f"{os.path.basename(vk)} printed {v.stdout!r}, {name} '{first}'")
    if idle_mib:
        idle = run([exe, *example_args, "--quiet", "--idle-mib", str(idle_mib)])
        if idle.returncode != 0:
            fail(f"--idle-mib {idle_mib}: exited {idle.returncode}\n{idle.stderr}")
        if idle.stdout.splitlines() != [first, "idle: ok"]:
            fail(f"--idle-mib {idle_mib}: stdout {idle.stdout!r}, expected '{first}' then 'idle: ok'")
    return first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--exe", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--example", required=True)
    parser.add_argument("example_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    example_args = [a for a in args.example_args if a != "--"]

    if "VK_DRIVER_FILES" not in os.environ and "VK_ICD_FILENAMES" not in os.environ:
        if os.path.exists(LAVAPIPE_ICD):
            os.environ["VK_DRIVER_FILES"] = LAVAPIPE_ICD
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

    with tempfile.TemporaryDirectory() as tmp:
        first = run_example(args.exe, example_args, tmp, 1)
        second = run_example(args.exe, example_args, tmp, 2)
    if first != second:
        sys.exit(f"FAIL: two runs differ: {first} vs {second}")

    ref_cmd = [args.ref, "--example", args.example, "--mib", option(example_args, "--mib", "64"),
               "--gpu-steps", option(example_args, "--steps", "100"), "--checksum"]
    if "--buffers" in example_args:
        ref_cmd += ["--buffers", option(example_args, "--buffers", "64")]
    ref = subprocess.run(ref_cmd, capture_output=True, text=True, timeout=50)
    if ref.returncode != 0:
        sys.exit(f"FAIL: {' '.join(ref_cmd)} exited {ref.returncode}\n{ref.stderr}")
    expected = ref.stdout.strip()
    if first != expected:
        sys.exit(f"FAIL: example printed '{first}', reference says '{expected}'")
    print(f"ok: {os.path.basename(args.exe)} {' '.join(example_args)}: {first}")


if __name__ == "__main__":
    main()
