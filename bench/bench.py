#!/usr/bin/env python3
"""gpucr benchmarks on the built-in Vulkan device (lavapipe): dump stall, throughput, overhead.

Measures, in one run and on the same machine:
  * host memcpy bandwidth (bench/memcpy_bw), the yardstick for capture throughput;
  * for each dump mode (stop = the stop-the-world baseline, cow, dirty): vk_stencil running
    under gpucr is dumped mid-run; the application's stall is its longest step minus its
    median step (from the example's own per-step latencies), next to gpucr's own figures
    (longest time an application thread was held, wall time, bytes, throughput);
  * steady-state overhead: per-step median with the layer against without it, runs alternated.

  python3 bench/bench.py --build build --out bench/results/lavapipe.json
Prints a Markdown report (pasted into docs/benchmarks.md) and writes the raw results as JSON.
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


class Bench:
    def __init__(self, a):
        self.a = a
        b = os.path.abspath(a.build)
        self.gpucr = os.path.join(b, "tools", "gpucr")
        self.examples = os.path.join(b, "examples", "vulkan")
        self.ref = os.path.join(b, "examples", "example_ref")
        self.memcpy = os.path.join(b, "bench", "memcpy_bw")
        self.tmp = tempfile.mkdtemp(prefix="gpucr-bench-", dir=a.tmp)
        self.env = dict(os.environ)
        self.env.setdefault("XDG_RUNTIME_DIR", self.tmp)
        self.env["GPUCR_RUNTIME_DIR"] = os.path.join(self.tmp, "run")

    def run_example(self, example, args, layer, dump_mode=None, dump_after_steps=2.5, median_hint=None):
        """Runs an example; optionally dumps it mid-run. Returns (stats, dump result, engine stats)."""
        ready = os.path.join(self.tmp, "ready")
        stats_path = os.path.join(self.tmp, "stats.json")
        for p in (ready, stats_path):
            if os.path.exists(p):
                os.remove(p)
        exe = os.path.join(self.examples, example)
        cmd = [exe] + args + ["--stats", stats_path, "--ready-file", ready, "--quiet"]
        if layer:
            cmd = [self.gpucr, "run", "--"] + cmd
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, text=True)
        dump = engine = None
        if dump_mode:
            while not os.path.exists(ready):
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
                proc.kill()
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


def stall_of(stats):
    steps = stats["step_ms"]
    return max(steps) - statistics.median(steps)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--mib", type=int, default=1024, help="vk_stencil state size for the dump runs")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--step-ms", type=int, default=100)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--pairs", type=int, default=5, help="alternated with/without-layer pairs for overhead")
    p.add_argument("--modes", default="stop,cow", help="modes for vk_stencil")
    p.add_argument("--serving-modes", default="stop,cow,dirty")
    p.add_argument("--serving-steps", type=int, default=5000)
    p.add_argument("--background", default="low", choices=["low", "idle", "normal"],
                   help="priority of gpucr's capture threads (gpucr dump --background)")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--workloads", default="stencil,serving")
    p.add_argument("--tmp", default=None, help="where images are written (default: system temp dir)")
    p.add_argument("--out", default=None, help="write raw results (JSON) here")
    a = p.parse_args()
    bench = Bench(a)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"date": started.isoformat(timespec="seconds"), "host": platform.node(),
               "kernel": platform.release(), "cpus": os.cpu_count(), "command": " ".join(sys.argv)}
    try:
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
            want = subprocess.run([bench.ref, "--example", example, "--mib", str(a.mib), "--gpu-steps", str(steps),
                                   "--checksum"], capture_output=True, text=True, check=True).stdout.strip()
            # A run without a dump gives the step time the dump is placed against.
            base, _, _ = bench.run_example(f"vk_{example}", args, layer=True)
            median = statistics.median(base["step_ms"])
            runs = []
            for rep in range(a.repeat):
                for mode in modes:
                    stats, dump, engine = bench.run_example(f"vk_{example}", args, layer=True, dump_mode=mode,
                                                            median_hint=max(median, 400.0))
                    runs.append({"mode": mode, "rep": rep, "stall_ms": stall_of(stats),
                                 "median_step_ms": statistics.median(stats["step_ms"]),
                                 "max_step_ms": max(stats["step_ms"]), "checksum_ok": stats["checksum"] == want,
                                 "dump": dump, "engine": engine})
                    print(f"  {example} {mode}: stall {runs[-1]['stall_ms']:.1f} ms, "
                          f"held {dump['stats']['held_max_ms']:.1f} ms, wall {dump['stats']['wall_ms']:.0f} ms",
                          file=sys.stderr)
            results["workloads"].append({"example": example, "args": " ".join(args), "median_ms": median,
                                         "max_ms": max(base["step_ms"]), "dumps": runs})
        overhead = []
        for example, args in [] if a.skip_overhead else (("vk_stencil", ["--mib", str(a.mib), "--steps", "6"]),
                              ("vk_serving", ["--mib", "64", "--steps", "300"]),
                              ("vk_manybuf", ["--mib", "32", "--steps", "300"])):
            plain, layer = [], []
            for _ in range(a.pairs):
                plain.append(statistics.median(bench.run_example(example, args, layer=False)[0]["step_ms"]))
                layer.append(statistics.median(bench.run_example(example, args, layer=True)[0]["step_ms"]))
            ratios = [l / p for l, p in zip(layer, plain)]
            overhead.append({"example": example, "args": " ".join(args), "plain_median_ms": plain,
                             "layer_median_ms": layer, "pair_ratios": ratios,
                             "overhead_pct": 100.0 * (statistics.median(ratios) - 1.0)})
            print(f"  overhead {example}: {overhead[-1]['overhead_pct']:+.2f}%", file=sys.stderr)
        results["overhead"] = overhead
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)
    print(report(results, a))


def report(r, a):
    mc = r["memcpy"]
    lines = [f"Run {r['date']} on {r['host']} ({r['cpus']} CPUs, kernel {r['kernel']}), lavapipe.",
             f"Command: `{r['command']}`", "",
             f"Host memcpy: {mc['prefaulted_gib_s']:.2f} GiB/s into present pages, "
             f"{mc['first_touch_gib_s']:.2f} GiB/s into fresh pages.", "",
             ]
    for w in r["workloads"]:
        lines += [f"vk_{w['example']} `{w['args']}`, capture threads at `--background {a.background}` "
                  f"(without a dump: median step {w['median_ms']:.1f} ms, longest − median "
                  f"{w['max_ms'] - w['median_ms']:.1f} ms, the noise floor of the stall):", "",
                  "| mode | app stall (longest step − median) | longest app-thread hold (gpucr) | capture (cut to all in "
                  "memory) | capture rate, % of memcpy | dump wall (incl. writing, fsync) | captured | final checksum |",
                  "|---|---|---|---|---|---|---|---|"]
        for d in w["dumps"]:
            s = d["dump"]["stats"]
            e = d["engine"]
            pct = 100.0 * e["capture_mib_s"] / 1024.0 / mc["prefaulted_gib_s"]
            lines.append(f"| {d['mode']} | {d['stall_ms']:.1f} ms | {s['held_max_ms']:.1f} ms | {e['capture_ms']:.0f} ms | "
                         f"{e['capture_mib_s']:.0f} MiB/s, {pct:.0f}% | {s['wall_ms']:.0f} ms "
                         f"({s['throughput_mib_s']:.0f} MiB/s) | {s['bytes_raw'] / 2**20:.0f} MiB | "
                         f"{'ok' if d['checksum_ok'] else 'WRONG'} |")
        by = {}
        for d in w["dumps"]:
            by.setdefault(d["mode"], []).append(d["stall_ms"])
        if "stop" in by and "cow" in by:
            ratio = statistics.median(by["stop"]) / max(statistics.median(by["cow"]), 1e-3)
            lines += ["", f"Median stall: stop {statistics.median(by['stop']):.1f} ms, cow "
                          f"{statistics.median(by['cow']):.1f} ms: cow's stall is {ratio:.1f}x shorter."]
        lines.append("")
    if not r["overhead"]:
        return "\n".join(lines)
    lines += ["Steady state (no dump), per-step median with the layer against without it, "
                  f"{a.pairs} alternated pairs:", "",
              "| example | args | without layer (ms) | with layer (ms) | overhead (median of pair ratios) |", "|---|---|---|---|---|"]
    for o in r["overhead"]:
        lines.append(f"| {o['example']} | `{o['args']}` | {', '.join(f'{x:.2f}' for x in o['plain_median_ms'])} | "
                     f"{', '.join(f'{x:.2f}' for x in o['layer_median_ms'])} | {o['overhead_pct']:+.2f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
