#!/usr/bin/env python3
"""gpucr benchmarks of suspend, resume and migrate on the built-in Vulkan device (lavapipe).

Measures, in one run and on the same machine:
  * resume of vk_serving at several weight sizes, and of vk_manybuf beside an idle memory
    object of those sizes (the steps touch 8 MiB): time from the resume request to the first
    completed step after it (the application's own next submission), to the hand-back (the
    application runs again) and to fully loaded, with on-demand loading (gpucr's default)
    against --eager (everything loaded before the application runs: the baseline), alternated;
  * the suspend before each resume (wall time, image bytes);
  * migrate round trips (gpucr migrate --device 0: suspend into an in-memory image, destroy,
    create everything again, load) for the three examples: wall time seen by the client and the
    longest step the application saw around it.

  python3 bench/suspend_bench.py --build build --sizes 64,256,1024 --repeat 3 --out bench/results/suspend.json
Prints a Markdown report (pasted into docs/benchmarks.md) and writes the raw results as JSON.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Bench  # noqa: E402


class SuspendBench(Bench):
    def start(self, example, args):
        self.ready = os.path.join(self.tmp, "ready")
        self.stats_path = os.path.join(self.tmp, "stats.json")
        for p in (self.ready, self.stats_path):
            if os.path.exists(p):
                os.remove(p)
        cmd = [self.gpucr, "run", "--", os.path.join(self.examples, example)] + args + [
            "--stats", self.stats_path, "--ready-file", self.ready, "--quiet"]
        proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, text=True)
        sock = os.path.join(self.env["GPUCR_RUNTIME_DIR"], f"{proc.pid}.sock")
        while not (os.path.exists(self.ready) and os.path.exists(sock)):
            if proc.poll() is not None:
                sys.exit(f"bench: {example} exited before its steps")
            time.sleep(0.01)
        time.sleep(0.5)
        return proc

    def gp(self, *args):
        t0 = time.monotonic()
        r = subprocess.run([self.gpucr] + list(args) + ["--json"], env=self.env, capture_output=True, text=True)
        wall = (time.monotonic() - t0) * 1000
        if r.returncode != 0:
            sys.exit(f"bench: gpucr {' '.join(args)} failed: {r.stderr}")
        out = json.loads(r.stdout)
        out["client_wall_ms"] = wall
        return out

    @staticmethod
    def finish(proc):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()

    def resume_runs(self, mib, workload="serving"):
        if workload == "serving":
            proc = self.start("vk_serving", ["--mib", str(mib), "--steps", "10000000", "--step-ms", "2"])
        else:  # 8 MiB the steps use, and `mib` MiB they never touch
            proc = self.start("vk_manybuf", ["--mib", "8", "--buffers", "16", "--idle-mib", str(mib),
                                             "--steps", "10000000", "--step-ms", "2"])
        runs = []
        for rep in range(self.a.repeat):
            order = ["ondemand", "eager"] if rep % 2 == 0 else ["eager", "ondemand"]
            for mode in order:
                image = os.path.join(self.tmp, "image")
                shutil.rmtree(image, ignore_errors=True)
                s = self.gp("suspend", str(proc.pid), "-D", image)
                image_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(image) for f in fs)
                r = self.gp("resume", str(proc.pid), *(["--eager"] if mode == "eager" else []))
                runs.append({"workload": workload, "mib": mib, "mode": mode, "suspend": s, "resume": r,
                             "image_bytes": image_bytes})
                shutil.rmtree(image, ignore_errors=True)
                time.sleep(0.3)
        self.finish(proc)
        return runs

    def migrate_runs(self, example, mib):
        extra = ["--buffers", "64"] if example == "vk_manybuf" else []
        proc = self.start(example, ["--mib", str(mib), "--steps", "10000000", "--step-ms", "5"] + extra)
        runs = []
        for _ in range(self.a.repeat):
            runs.append({"example": example, "mib": mib, "migrate": self.gp("migrate", str(proc.pid), "--device", "0")})
            time.sleep(0.3)
        self.finish(proc)
        return runs


def provider_stats(reply):
    """The Vulkan provider's statistics inside a resume or migrate reply."""
    st = reply.get("stats", reply)
    for key in ("resume",):
        if isinstance(st.get(key), dict):
            st = st[key].get("stats", st[key])
    if isinstance(st.get("vulkan"), dict):
        merged = dict(st["vulkan"])
        merged.setdefault("verify_ms", st.get("verify_ms"))
        return merged
    return st


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def resume_table(results, workload, title):
    lines = [title + " (median of the runs; times from the resume request, verification of the image included):", "",
             "| MiB | loading | verify ms | hand-back ms | first step done ms | of which after hand-back | "
             "fully loaded ms | waits | longest wait ms | suspend wall ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    runs = [r for r in results["resume"] if r.get("workload", "serving") == workload]
    for mib in sorted({r["mib"] for r in runs}):
        for mode in ("ondemand", "eager"):
            rs = [r for r in runs if r["mib"] == mib and r["mode"] == mode]
            st = [provider_stats(r["resume"]) for r in rs]
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                mib, mode, fmt(med([s.get("verify_ms") for s in st])), fmt(med([s.get("handback_ms") for s in st])),
                fmt(med([s.get("first_op_ms") for s in st])), fmt(med([s.get("first_op_after_handback_ms") for s in st])),
                fmt(med([s.get("loaded_ms") for s in st])),
                fmt(med([s.get("waits") for s in st]), 0), fmt(med([s.get("wait_ms_max") for s in st])),
                fmt(med([r["suspend"].get("stats", {}).get("wall_ms") for r in rs]))))
    return lines + [""]


def report(results, a):
    lines = [f"Machine: {results['machine']}, {os.cpu_count()} CPUs; date {results['date']}; command: "
             f"`python3 bench/suspend_bench.py --build {a.build} --sizes {a.sizes} --repeat {a.repeat} "
             f"--migrate-mib {a.migrate_mib}`", ""]
    titles = {"serving": "Resume of vk_serving (weights of the given size; every step reads words spread over all of them)",
              "idle": "Resume of vk_manybuf whose steps touch 8 MiB, beside an idle memory object of the given size"}
    for workload in ("serving", "idle"):
        lines += resume_table(results, workload, titles[workload])
    lines += ["Migrate round trip (gpucr migrate --device 0, image in memory; median; times from the migrate request):", "",
              "| example | MiB | client wall ms | suspend wall ms | first step done ms | fully loaded ms |",
              "|---|---|---|---|---|---|"]
    for ex in sorted({r["example"] for r in results["migrate"]}):
        rs = [r for r in results["migrate"] if r["example"] == ex]
        st = [provider_stats(r["migrate"]) for r in rs]
        lines.append("| {} | {} | {} | {} | {} | {} |".format(
            ex, rs[0]["mib"], fmt(med([r["migrate"]["client_wall_ms"] for r in rs])),
            fmt(med([r["migrate"].get("stats", {}).get("suspend", {}).get("wall_ms") for r in rs])),
            fmt(med([s.get("first_op_ms") for s in st])), fmt(med([s.get("loaded_ms") for s in st]))))
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--sizes", default="64,256,1024", help="vk_serving weight sizes, MiB")
    p.add_argument("--migrate-mib", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tmp", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--background", default="low")  # used by Bench
    a = p.parse_args()
    b = SuspendBench(a)
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.node(),
               "resume": [], "migrate": []}
    try:
        for mib in [int(s) for s in a.sizes.split(",") if s]:
            results["resume"] += b.resume_runs(mib, "serving")
            results["resume"] += b.resume_runs(mib, "idle")
        for ex in ("vk_stencil", "vk_serving", "vk_manybuf"):
            results["migrate"] += b.migrate_runs(ex, a.migrate_mib)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results, a))


if __name__ == "__main__":
    main()
