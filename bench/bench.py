#!/usr/bin/env python3
"""gpucr benchmarks of dumps: stall, throughput, overhead, on Vulkan (vk_* examples through the layer)
or OpenCL (cl_* examples through the ICD shim, `--api opencl`).

Measures, in one run and on the same machine:
  * the yardstick for capture throughput: host memcpy bandwidth (bench/memcpy_bw) and, on
    OpenCL, the device-to-host read bandwidth of the chosen device (bench/cl_read_bw: pageable
    and pinned host memory);
  * for each dump mode (stop = the stop-the-world baseline, cow, dirty): the stencil example
    (every byte rewritten every step) and the serving example (read-only weights) running under
    gpucr are dumped mid-run; the application's stall is its longest step minus its median step
    (from the example's own per-step latencies), next to gpucr's own figures (longest time an
    application thread was held, wall time, bytes, throughput, blocks copied before writes);
  * steady-state overhead: per-step median with gpucr against without it, runs alternated.

  python3 bench/bench.py --build build --out bench/results/lavapipe.json
  python3 bench/bench.py --build build --api opencl --platform-name pocl --out bench/results/opencl.json
Prints a Markdown report (pasted into docs/benchmarks.md) and writes the raw results as JSON.
Exits 1 when a final checksum differs from the reference, 77 when the API has no device.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Example prefix, build directory and `gpucr run` arguments of each API.
APIS = {
    "vulkan": {"prefix": "vk", "dir": "vulkan", "run": []},
    "opencl": {"prefix": "cl", "dir": "opencl", "run": ["--api", "opencl"]},
}
SKIP = 77  # meson's exit status for a skipped test


class Bench:
    def __init__(self, a):
        self.a = a
        self.api = getattr(a, "api", "vulkan")
        b = os.path.abspath(a.build)
        self.gpucr = os.path.join(b, "tools", "gpucr")
        self.examples = os.path.join(b, "examples", APIS[self.api]["dir"])
        self.ref = os.path.join(b, "examples", "example_ref")
        self.memcpy = os.path.join(b, "bench", "memcpy_bw")
        self.cl_read_bw = os.path.join(b, "bench", "cl_read_bw")
        self.tmp = tempfile.mkdtemp(prefix="gpucr-bench-", dir=a.tmp)
        self.env = dict(os.environ)
        self.env.setdefault("XDG_RUNTIME_DIR", self.tmp)
        self.env["GPUCR_RUNTIME_DIR"] = os.path.join(self.tmp, "run")
        # OpenCL: the platform index the examples get, directly and through the shim (which
        # may number platforms differently); None: the examples' default.
        self.platform_direct = self.platform_shim = None

    def name(self, example):
        return f"{APIS[self.api]['prefix']}_{example}"

    def command(self, example, args, layer):
        cmd = [os.path.join(self.examples, example)] + args
        platform_index = self.platform_shim if layer else self.platform_direct
        if platform_index is not None:
            cmd += ["--platform", str(platform_index)]
        if layer:
            cmd = [self.gpucr, "run"] + APIS[self.api]["run"] + ["--"] + cmd
        return cmd

    def run_example(self, example, args, layer, dump_mode=None, dump_after_steps=2.5, median_hint=None):
        """Runs an example; optionally dumps it mid-run. Returns (stats, dump result, engine stats)."""
        ready = os.path.join(self.tmp, "ready")
        stats_path = os.path.join(self.tmp, "stats.json")
        for p in (ready, stats_path):
            if os.path.exists(p):
                os.remove(p)
        cmd = self.command(example, args + ["--stats", stats_path, "--ready-file", ready, "--quiet"], layer)
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, text=True)
        dump = engine = None
        if dump_mode:
            sock = os.path.join(self.env["GPUCR_RUNTIME_DIR"], f"{proc.pid}.sock")
            while not (os.path.exists(ready) and os.path.exists(sock)):
                if proc.poll() is not None:
                    sys.exit(f"bench: {example} exited before its steps")
                time.sleep(0.01)
            time.sleep(dump_after_steps * (median_hint or 0) / 1000.0)
            image = os.path.join(self.tmp, "image")
            shutil.rmtree(image, ignore_errors=True)
            r = subprocess.run([self.gpucr, "dump", str(proc.pid), "-D", image, "--gpu-only", "--mode", dump_mode,
                                "--background", self.a.background, "--json"], env=self.env, capture_output=True,
                               text=True)
            if r.returncode != 0:
                ended = proc.poll() is not None
                proc.kill()
                if ended:
                    sys.exit(f"bench: {example} ended before its dump (give it more --steps): {r.stderr}")
                sys.exit(f"bench: dump failed: {r.stderr}")
            dump = json.loads(r.stdout)
            m = json.loads(subprocess.run([self.gpucr, "inspect", "-D", image, "--json"], env=self.env,
                                          capture_output=True, text=True, check=True).stdout)
            engine = m["sections"][0]["stats"]
            dump["image_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(image) for f in fs)
            shutil.rmtree(image, ignore_errors=True)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"bench: {example} failed ({proc.returncode})")
        with open(stats_path) as f:
            stats = json.load(f)
        stats["checksum"] = out.strip().splitlines()[-1]
        return stats, dump, engine

    def device_line(self, example, layer):
        """What the example says it runs on: "<device> (<platform>)", from its setup line."""
        args = ["--mib", "1", "--steps", "0"] + (["--buffers", "2"] if example.endswith("manybuf") else [])
        r = subprocess.run(self.command(example, args, layer), env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench: {example} {'through gpucr ' if layer else ''}failed ({r.returncode}): {r.stderr}")
        prefix = f"{example}: "
        for line in r.stderr.splitlines():
            if line.startswith(prefix) and "memory objects" in line:
                return line[len(prefix):].rsplit(", ", 4)[0]  # drops objects, size, access, steps
        return "?"


def stall_of(stats):
    steps = stats["step_ms"]
    return max(steps) - statistics.median(steps)


def platform_key(p):
    return (p["name"], p["vendor"], p["version"])


def choose_platform(bench, a):
    """OpenCL: the platform the runs use (by --platform-name, --platform or the examples' default:
    the first with a device), and its index directly and through the shim. Exits 77 when no
    platform has a device."""
    def listing(cmd):
        r = subprocess.run(cmd + [bench.cl_read_bw, "--list"], env=bench.env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench: cl_read_bw --list failed: {r.stderr}")
        return json.loads(r.stdout)["platforms"]

    direct = listing([])
    usable = [p for p in direct if p["devices"]]
    if not usable:
        print("SKIP: no OpenCL platform has a device", file=sys.stderr)
        sys.exit(SKIP)
    if a.platform_name:
        want = a.platform_name.lower()
        match = [p for p in usable if want in p["name"].lower() or want in p["vendor"].lower()]
        if not match:
            sys.exit(f"bench: no OpenCL platform with a device is named like '{a.platform_name}' "
                     f"(have: {', '.join(p['name'] for p in usable)})")
        chosen = match[0]
    elif a.platform is not None:
        if a.platform >= len(direct) or not direct[a.platform]["devices"]:
            sys.exit(f"bench: --platform {a.platform}: no such platform with a device")
        chosen = direct[a.platform]
    else:
        chosen = usable[0]
    shim = listing([bench.gpucr, "run"] + APIS["opencl"]["run"] + ["--"])
    through = [p["index"] for p in shim if platform_key(p) == platform_key(chosen)]
    if not through:
        sys.exit(f"bench: platform '{chosen['name']}' is not seen through gpucr's shim")
    bench.platform_direct = chosen["index"]
    bench.platform_shim = through[0]
    return {"index": chosen["index"], "index_through_shim": through[0], "name": chosen["name"],
            "vendor": chosen["vendor"], "version": chosen["version"], "devices": chosen["devices"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--api", default="vulkan", choices=sorted(APIS),
                   help="vulkan: vk_* examples through the layer; opencl: cl_* through the ICD shim")
    p.add_argument("--platform", type=int, default=None,
                   help="OpenCL platform index (as the system's ICD loader numbers them; default: the first "
                        "platform with a device)")
    p.add_argument("--platform-name", default=None,
                   help="OpenCL: the first platform with a device whose name or vendor contains this "
                        "(case-insensitive), e.g. NVIDIA or pocl")
    p.add_argument("--mib", type=int, default=1024, help="stencil/serving state size for the dump runs")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--step-ms", type=int, default=100)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--pairs", type=int, default=5, help="alternated with/without-gpucr pairs for overhead")
    p.add_argument("--modes", default="stop,cow", help="modes for the stencil example")
    p.add_argument("--serving-modes", default="stop,cow,dirty")
    p.add_argument("--serving-steps", type=int, default=5000)
    p.add_argument("--background", default="low", choices=["low", "idle", "normal"],
                   help="priority of gpucr's capture threads (gpucr dump --background)")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--workloads", default="stencil,serving", help="dumped workloads (stencil, serving; none)")
    p.add_argument("--overhead-workloads", default="stencil,serving,manybuf")
    p.add_argument("--no-ref", action="store_true",
                   help="skip the CPU reference (slow at many GiB): final checksums are compared with the run "
                        "without a dump")
    p.add_argument("--tmp", default=None, help="where images are written (default: system temp dir)")
    p.add_argument("--out", default=None, help="write raw results (JSON) here")
    a = p.parse_args()
    if a.api != "opencl" and (a.platform is not None or a.platform_name):
        p.error("--platform and --platform-name are OpenCL options (--api opencl)")
    bench = Bench(a)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"date": started.isoformat(timespec="seconds"), "host": platform.node(),
               "kernel": platform.release(), "cpus": os.cpu_count(), "command": " ".join(sys.argv),
               "api": a.api, "background": a.background}
    wrong = 0
    try:
        if a.api == "opencl":
            results["platform"] = choose_platform(bench, a)
            probe = bench.name("stencil")
            results["device"] = {"direct": bench.device_line(probe, False), "gpucr": bench.device_line(probe, True)}
            if results["device"]["direct"] != results["device"]["gpucr"]:
                sys.exit(f"bench: the example runs on {results['device']['direct']} directly but on "
                         f"{results['device']['gpucr']} through gpucr")
            print(f"  platform {results['platform']['index']} (through gpucr: "
                  f"{results['platform']['index_through_shim']}): {results['device']['direct']}", file=sys.stderr)
            cmd = [bench.cl_read_bw, "--mib", str(min(a.mib, 1024)), "--platform", str(bench.platform_direct)]
            results["cl_read_bw"] = json.loads(subprocess.run(cmd, env=bench.env, capture_output=True, text=True,
                                                              check=True).stdout)
        results["memcpy"] = json.loads(subprocess.run([bench.memcpy, str(min(a.mib, 1024))], capture_output=True,
                                                      text=True, check=True).stdout)
        workloads = [
            # Every byte rewritten every step: the worst case for a concurrent dump.
            ("stencil", ["--mib", str(a.mib), "--steps", str(a.steps), "--step-ms", str(a.step_ms)],
             a.modes.split(","), a.steps),
            # 1 GiB of read-only weights, small activations rewritten per request.
            ("serving", ["--mib", str(a.mib), "--steps", str(a.serving_steps), "--step-ms", "5"],
             a.serving_modes.split(","), a.serving_steps),
        ]
        results["workloads"] = []
        for example, args, modes, steps in workloads:
            if example not in a.workloads.split(","):
                continue
            want = None
            if not a.no_ref:
                want = subprocess.run([bench.ref, "--example", example, "--mib", str(a.mib), "--gpu-steps",
                                       str(steps), "--checksum"], capture_output=True, text=True,
                                      check=True).stdout.strip()
            # A run without a dump gives the step time the dump is placed against.
            base, _, _ = bench.run_example(bench.name(example), args, layer=True)
            median = statistics.median(base["step_ms"])
            if want is None:
                want = base["checksum"]
            elif base["checksum"] != want:
                wrong += 1
            runs = []
            for rep in range(a.repeat):
                for mode in modes:
                    stats, dump, engine = bench.run_example(bench.name(example), args, layer=True, dump_mode=mode,
                                                            median_hint=max(median, 400.0))
                    runs.append({"mode": mode, "rep": rep, "stall_ms": stall_of(stats),
                                 "median_step_ms": statistics.median(stats["step_ms"]),
                                 "max_step_ms": max(stats["step_ms"]), "checksum_ok": stats["checksum"] == want,
                                 "dump": dump, "engine": engine})
                    wrong += not runs[-1]["checksum_ok"]
                    print(f"  {example} {mode}: stall {runs[-1]['stall_ms']:.1f} ms, "
                          f"held {dump['stats']['held_max_ms']:.1f} ms, wall {dump['stats']['wall_ms']:.0f} ms, "
                          f"cow blocks {engine.get('cow_blocks', 0)}", file=sys.stderr)
            results["workloads"].append({"example": example, "args": " ".join(args), "median_ms": median,
                                         "max_ms": max(base["step_ms"]), "base_checksum_ok": base["checksum"] == want,
                                         "reference": "run" if a.no_ref else "cpu", "dumps": runs})
        overhead = []
        overhead_runs = (("stencil", ["--mib", str(a.mib), "--steps", "6"]),
                         ("serving", ["--mib", "64", "--steps", "300"]),
                         ("manybuf", ["--mib", "32", "--steps", "300"]))
        for example, args in [] if a.skip_overhead else overhead_runs:
            if example not in a.overhead_workloads.split(","):
                continue
            plain, layer = [], []
            for _ in range(a.pairs):
                plain.append(statistics.median(bench.run_example(bench.name(example), args, layer=False)[0]["step_ms"]))
                layer.append(statistics.median(bench.run_example(bench.name(example), args, layer=True)[0]["step_ms"]))
            ratios = [l / p for l, p in zip(layer, plain)]
            overhead.append({"example": bench.name(example), "args": " ".join(args), "plain_median_ms": plain,
                             "layer_median_ms": layer, "pair_ratios": ratios,
                             "overhead_pct": 100.0 * (statistics.median(ratios) - 1.0)})
            print(f"  overhead {bench.name(example)}: {overhead[-1]['overhead_pct']:+.2f}%", file=sys.stderr)
        results["overhead"] = overhead
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)
    print(report(results, a))
    if wrong:
        sys.exit(f"bench: {wrong} run(s) ended with a checksum different from the reference")


def report(r, a):
    mc = r["memcpy"]
    api = r.get("api", "vulkan")
    where = "lavapipe"
    if api == "opencl":
        pl = r["platform"]
        where = (f"OpenCL platform {pl['index']} \"{pl['name']}\" ({pl['version']}; index {pl['index_through_shim']} "
                 f"through gpucr's shim), device {r['device']['direct']}")
    lines = [f"Run {r['date']} on {r['host']} ({r['cpus']} CPUs, kernel {r['kernel']}), {where}.",
             f"Command: `{r['command']}`", "",
             f"Host memcpy: {mc['prefaulted_gib_s']:.2f} GiB/s into present pages, "
             f"{mc['first_touch_gib_s']:.2f} GiB/s into fresh pages."]
    # The capture rate is measured against what the device can deliver to the host.
    if api == "opencl":
        bw = r["cl_read_bw"]
        lines += [f"Device-to-host read (`cl_read_bw`, {bw['bytes'] >> 20} MiB, best of {bw['repeat']}): "
                  f"{bw['pageable_gib_s']:.2f} GiB/s into pageable memory (pages present), "
                  f"{bw['pageable_pieces_gib_s']:.2f} GiB/s in {bw['piece_bytes'] >> 20} MiB pieces, "
                  f"{bw['first_touch_gib_s']:.2f} GiB/s into fresh pages, {bw['pinned_gib_s']:.2f} GiB/s into "
                  f"pinned memory (CL_MEM_ALLOC_HOST_PTR, mapped)."]
        yard, yard_name = bw["pageable_gib_s"], "pageable read"
    else:
        yard, yard_name = mc["prefaulted_gib_s"], "memcpy"
    lines.append("")
    prefix = APIS[api]["prefix"]
    for w in r["workloads"]:
        ref = "the run without a dump" if w.get("reference") == "run" else "the CPU reference"
        lines += [f"{prefix}_{w['example']} `{w['args']}`, capture threads at `--background {a.background}` "
                  f"(without a dump: median step {w['median_ms']:.1f} ms, longest − median "
                  f"{w['max_ms'] - w['median_ms']:.1f} ms, the noise floor of the stall); checksums against {ref}:",
                  "",
                  "| mode | app stall (longest step − median) | longest app-thread hold (gpucr) | blocks copied "
                  f"before a write | capture (cut to all in memory) | capture rate, % of {yard_name} | dump wall "
                  "(incl. writing, fsync) | captured | final checksum |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for d in w["dumps"]:
            s = d["dump"]["stats"]
            e = d["engine"]
            pct = 100.0 * e["capture_mib_s"] / 1024.0 / yard
            blocks = e.get("cow_blocks", 0) + e.get("fault_copied_blocks", 0)
            blocks_mib = blocks * e.get("block_size", 65536) / 2**20
            lines.append(f"| {d['mode']} | {d['stall_ms']:.1f} ms | {s['held_max_ms']:.1f} ms | "
                         f"{blocks} ({blocks_mib:.0f} MiB) | {e['capture_ms']:.0f} ms | "
                         f"{e['capture_mib_s']:.0f} MiB/s, {pct:.0f}% | {s['wall_ms']:.0f} ms "
                         f"({s['throughput_mib_s']:.0f} MiB/s) | {s['bytes_raw'] / 2**20:.0f} MiB | "
                         f"{'ok' if d['checksum_ok'] else 'WRONG'} |")
        by = {}
        for d in w["dumps"]:
            by.setdefault(d["mode"], []).append(d)
        if "stop" in by:
            stop = statistics.median(d["stall_ms"] for d in by["stop"])
            stop_hold = statistics.median(d["dump"]["stats"]["held_max_ms"] for d in by["stop"])
            for mode in ("cow", "dirty"):
                if mode not in by:
                    continue
                stall = statistics.median(d["stall_ms"] for d in by[mode])
                hold = statistics.median(d["dump"]["stats"]["held_max_ms"] for d in by[mode])
                lines += ["", f"Median stall: stop {stop:.1f} ms, {mode} {stall:.1f} ms: {mode}'s stall is "
                              f"{stop / max(stall, 1e-3):.1f}x shorter (longest hold: stop {stop_hold:.1f} ms, "
                              f"{mode} {hold:.1f} ms, {stop_hold / max(hold, 1e-3):.1f}x)."]
        lines.append("")
    if not r["overhead"]:
        return "\n".join(lines)
    lines += [f"Steady state (no dump), per-step median with gpucr against without it, {a.pairs} alternated pairs:",
              "", "| example | args | without gpucr (ms) | with gpucr (ms) | overhead (median of pair ratios) |",
              "|---|---|---|---|---|"]
    for o in r["overhead"]:
        lines.append(f"| {o['example']} | `{o['args']}` | {', '.join(f'{x:.2f}' for x in o['plain_median_ms'])} | "
                     f"{', '.join(f'{x:.2f}' for x in o['layer_median_ms'])} | {o['overhead_pct']:+.2f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
