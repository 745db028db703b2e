#!/usr/bin/env python3
"""gpucr demo: vk_stencil runs on lavapipe under `gpucr run`; gpucr checkpoints and restores it.

Default (the whole story): gpucr dumps the running process (its GPU state copied while it runs,
then CRIU stops and dumps it), the process is gone, `gpucr restore` brings it back with its GPU
state, and it finishes. Prints the application's steps (median, longest while the GPU was copied),
the time of each phase (GPU copy, CRIU dump, verify, CRIU restore, GPU back, first step after the
restore) and checks the final checksum against an uninterrupted run.

--gpu-only: the concurrent GPU dump alone (the application keeps running), with the image verified.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def reference(a, ref):
    return subprocess.run([ref, "--example", "stencil", "--mib", str(a.mib), "--gpu-steps", str(a.steps),
                           "--checksum"], capture_output=True, text=True, check=True).stdout.strip()


def start(a, gpucr, app, ready, stats, settle=0.5):
    print(f"== vk_stencil: {a.mib} MiB of buffers, {a.steps} steps, on the built-in Vulkan device (lavapipe)")
    proc = subprocess.Popen([gpucr, "run", "--", app, "--mib", str(a.mib), "--steps", str(a.steps),
                             "--step-ms", str(a.step_ms), "--ready-file", ready, "--stats", stats, "--quiet"],
                            stdout=subprocess.PIPE, text=True)
    while not os.path.exists(ready):
        if proc.poll() is not None:
            sys.exit("demo: vk_stencil exited before it started its steps")
        time.sleep(0.05)
    time.sleep(settle)  # a few steps first, so that the steps before the dump can be compared
    return proc


def gpu_only(a, gpucr, app, ref, tmp, image):
    ready, stats = os.path.join(tmp, "ready"), os.path.join(tmp, "stats.json")
    mode = a.mode or "cow"
    proc = start(a, gpucr, app, ready, stats)
    print(f"== gpucr dump {proc.pid} --mode {mode} --gpu-only (the application keeps running)")
    r = subprocess.run([gpucr, "dump", str(proc.pid), "-D", image, "--gpu-only", "--mode", mode, "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        proc.kill()
        sys.exit(f"demo: dump failed: {r.stderr.strip()}")
    result = json.loads(r.stdout)
    out, _ = proc.communicate()
    checksum = out.strip().splitlines()[-1]
    with open(stats) as f:
        st = json.load(f)
    want = reference(a, ref)
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
    return ok


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def process(a, gpucr, app, ref, tmp, image):
    ready, stats = os.path.join(tmp, "ready"), os.path.join(tmp, "stats.json")
    mode = a.mode or "dirty"
    if a.mode == "cow":
        sys.exit("demo: a process dump takes --mode dirty (default) or stop; cow is for --gpu-only")
    which = subprocess.run(["bash", os.path.join(os.path.dirname(os.path.abspath(__file__)), "criu.sh"), "--print"],
                           capture_output=True, text=True).stdout.strip()
    if not which:
        sys.exit("demo: no CRIU 4.0 or newer: run scripts/setup.sh as root (or try --gpu-only)")
    proc = start(a, gpucr, app, ready, stats, settle=2.0)
    print(f"== gpucr dump {proc.pid} -D {image} --mode {mode}")
    print("   (GPU state copied while vk_stencil runs, then held and released; then CRIU stops and dumps it)")
    t_dump = time.time()
    r = subprocess.run([gpucr, "dump", str(proc.pid), "-D", image, "--mode", mode, "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        proc.kill()
        sys.exit(f"demo: dump failed: {r.stderr.strip()}")
    m = json.loads(r.stdout)
    s, g = m["stats"], m["stats"].get("gpu", {})
    print(f"   GPU: {g.get('bytes_raw', 0) / 2**20:.0f} MiB of {', '.join(g.get('apis', []))} state in "
          f"{g.get('wall_ms', 0):.0f} ms")
    print(f"   CRIU dump: {s.get('criu_ms', 0):.0f} ms; whole dump {s.get('total_ms', 0):.0f} ms; "
          f"image {du(image) / 2**20:.0f} MiB ({criu_version(m)})")
    proc.wait()
    how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
    print(f"== vk_stencil stopped with the dump ({how}), as CRIU leaves a dumped process without --leave-running")
    print(f"== gpucr restore -D {image}")
    t_restore = time.time()
    rr = subprocess.run([gpucr, "restore", "-D", image, "--json"], capture_output=True, text=True)
    if rr.returncode != 0:
        sys.exit(f"demo: restore failed (exit {rr.returncode}): {rr.stderr.strip().splitlines()[-1:]}")
    res = restore_stats(rr.stderr)
    checksum = rr.stdout.strip().splitlines()[-1] if rr.stdout.strip() else "(no output)"
    vk = res.get("gpu", {}).get("stats", {}).get("vulkan", {})
    print(f"   verify {res.get('verify_ms', 0):.0f} ms, CRIU restore {res.get('criu_ms', 0):.0f} ms, then: "
          f"GPU objects re-created in {vk.get('handback_ms', 0):.0f} ms, the application's first GPU operation "
          f"done {vk.get('first_op_ms', 0):.0f} ms after CRIU (memory loads on demand); "
          f"total {res.get('total_ms', 0):.0f} ms")
    with open(stats) as f:
        st = json.load(f)
    want = reference(a, ref)
    step_ms = st.get("step_ms", [])
    ends = st.get("end_unix_ns")
    print("== what the application felt")
    print(f"   median step {st['median_ms']:.1f} ms over {len(step_ms)} steps")
    if ends and len(ends) == len(step_ms):
        before = [i for i, e in enumerate(ends) if e / 1e9 < t_dump]
        after = [i for i, e in enumerate(ends) if e / 1e9 > t_restore]
        copying = [step_ms[i] for i, e in enumerate(ends) if t_dump <= e / 1e9 <= t_dump + g.get("wall_ms", 0) / 1e3]
        if copying:
            print(f"   while the GPU state was copied: longest step {max(copying):.1f} ms")
        if before and after:
            gap = (ends[after[0]] - ends[before[-1]]) / 1e6
            first = (ends[after[0]] / 1e9 - t_restore) * 1e3
            print(f"   first step after the restore done {first:.0f} ms after gpucr restore started; "
                  f"{gap:.0f} ms between the last step before the dump and the first after the restore")
    ok = checksum == want
    print(f"== final {checksum} (uninterrupted run: {want.split()[-1]}) -> {'OK' if ok else 'MISMATCH'}")
    return ok


def criu_version(m):
    v = m.get("criu_version")
    return f"CRIU {v}" if v else "CRIU"


def restore_stats(stderr):
    # gpucr restore --json prints one JSON object on stderr (the application's stderr shares it).
    text = stderr
    start = text.find("{\n")
    while start >= 0:
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    try:
                        j = json.loads(text[start:i + 1])
                        if "criu_ms" in j:
                            return j
                    except ValueError:
                        pass
                    break
        start = text.find("{\n", start + 1)
    return {}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--mib", type=int, default=256, help="state size of vk_stencil")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--step-ms", type=int, default=20)
    p.add_argument("--mode", default=None, choices=["cow", "dirty", "stop"],
                   help="dump mode (process dump: dirty (default) or stop; --gpu-only: cow (default), dirty, stop)")
    p.add_argument("--gpu-only", action="store_true", help="the concurrent GPU dump alone; the app keeps running")
    p.add_argument("--keep", help="keep the image in this directory")
    a = p.parse_args()
    b = os.path.abspath(a.build)
    gpucr = os.path.join(b, "tools", "gpucr")
    app = os.path.join(b, "examples", "vulkan", "vk_stencil")
    ref = os.path.join(b, "examples", "example_ref")
    tmp = tempfile.mkdtemp(prefix="gpucr-demo-")
    image = os.path.abspath(a.keep) if a.keep else os.path.join(tmp, "image")
    try:
        ok = (gpu_only if a.gpu_only else process)(a, gpucr, app, ref, tmp, image)
        sys.exit(0 if ok else 1)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
