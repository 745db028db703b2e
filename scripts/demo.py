#!/usr/bin/env python3
"""gpucr demo: vk_stencil runs on lavapipe under `gpucr run`; gpucr dumps it while it runs.

Prints the application's longest step (its stall) against its median step, the dump's
own figures (time, bytes, throughput, time the application's threads were held), verifies
the image, and checks the application's final checksum against an uninterrupted run.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--mib", type=int, default=256, help="state size of vk_stencil")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--step-ms", type=int, default=20)
    p.add_argument("--mode", default="cow", choices=["cow", "dirty", "stop"])
    p.add_argument("--keep", help="keep the image in this directory")
    a = p.parse_args()
    b = os.path.abspath(a.build)
    gpucr = os.path.join(b, "tools", "gpucr")
    app = os.path.join(b, "examples", "vulkan", "vk_stencil")
    ref = os.path.join(b, "examples", "example_ref")
    tmp = tempfile.mkdtemp(prefix="gpucr-demo-")
    image = a.keep or os.path.join(tmp, "image")
    ready = os.path.join(tmp, "ready")
    stats = os.path.join(tmp, "stats.json")
    try:
        print(f"== vk_stencil: {a.mib} MiB of buffers, {a.steps} steps, on the built-in Vulkan device (lavapipe)")
        proc = subprocess.Popen([gpucr, "run", "--", app, "--mib", str(a.mib), "--steps", str(a.steps),
                                 "--step-ms", str(a.step_ms), "--ready-file", ready, "--stats", stats, "--quiet"],
                                stdout=subprocess.PIPE, text=True)
        while not os.path.exists(ready):
            if proc.poll() is not None:
                sys.exit("demo: vk_stencil exited before it started its steps")
            time.sleep(0.05)
        time.sleep(0.5)
        print(f"== gpucr dump {proc.pid} --mode {a.mode} --gpu-only (the application keeps running)")
        r = subprocess.run([gpucr, "dump", str(proc.pid), "-D", image, "--gpu-only", "--mode", a.mode, "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            proc.kill()
            sys.exit(f"demo: dump failed: {r.stderr.strip()}")
        result = json.loads(r.stdout)
        out, _ = proc.communicate()
        checksum = out.strip().splitlines()[-1]
        with open(stats) as f:
            st = json.load(f)
        want = subprocess.run([ref, "--example", "stencil", "--mib", str(a.mib), "--gpu-steps", str(a.steps),
                               "--checksum"], capture_output=True, text=True, check=True).stdout.strip()
        s = result.get("stats", result)
        print("== what the application felt")
        print(f"   median step {st['median_ms']:.1f} ms, longest step {st['max_ms']:.1f} ms "
              f"(stall {max(0.0, st['max_ms'] - st['median_ms']):.1f} ms)")
        print("== what the dump did")
        print(f"   application threads held: longest {s.get('held_max_ms', 0):.2f} ms, "
              f"total {s.get('held_total_ms', 0):.2f} ms")
        print(f"   wall time {s.get('wall_ms', 0):.0f} ms, {s.get('bytes_raw', 0) / 2**20:.0f} MiB captured, "
              f"{s.get('throughput_mib_s', 0):.0f} MiB/s")
        v = subprocess.run([gpucr, "verify", "-D", image], capture_output=True, text=True)
        print(f"== gpucr verify: {(v.stdout or v.stderr).strip()}")
        ok = checksum == want and v.returncode == 0
        print(f"== final {checksum} (uninterrupted run: {want.split()[-1]}) -> {'OK' if ok else 'MISMATCH'}")
        sys.exit(0 if ok else 1)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
