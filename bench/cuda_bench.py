#!/usr/bin/env python3
"""gpucr benchmarks on CUDA (NVIDIA GPU): dump stall and capture throughput, resume, against
NVIDIA's driver checkpoint, for cu_stencil and cu_serving at several state sizes, in one run.

For each example and size (sizes ascending, examples inner), three runs of the example, each
with --step-ms 0 (steps back to back), a step count computed to outlast its measurements (from
the step time measured before: a short calibration run at the first size, then the previous
runs), killed once it has written its --stats:
  1. plain (no gpucr), NVIDIA's driver checkpoint, the stop-the-world baseline:
     `gpucr-cuda-checkpoint suspend PID` (lock + checkpoint) then `... resume PID` (restore +
     unlock), back to back; the application's stall covers that whole window. Also gives the
     plain step time at this size.
  2. under `gpucr run --api cuda`: `gpucr suspend PID -D DIR --mode stop` then
     `gpucr resume PID` (on demand) or `--eager`, alternated: hand-back, first operation,
     fully loaded (gpucr's own figures), and from the application's --stats the time from the
     resume command's start to the end of the first step completed after it. Its suspend wall
     times size the next run.
  3. under gpucr: `gpucr dump PID -D DIR --gpu-only --mode cow|stop --background normal`:
     the application's stall, gpucr's longest hold of an application thread, the engine's
     capture figures (cut -> every byte in host memory), image size, dump wall time.
The stall of a window [command start, command end] (CLOCK_REALTIME, as the examples' step
ends): the longest step overlapping it minus the median step of the quiet period before the
first measurement of the same run (also: the longest interval between step ends, minus the
median interval). The capture rate is compared with pinned device-to-host bandwidth measured at
the start by bench/cu_d2h_bw.

Images go to --image-dir and are deleted right after each measurement; a measurement is
skipped (recorded) when the disk or host memory cannot hold it. Any failure is recorded as an
error string and the run goes on. Results are written after each example and size (JSON
--out, Markdown next to it), so that a run cut short (SIGTERM, e.g. `timeout`) keeps what it
measured. Progress on stderr; the Markdown table on stdout at the end.

  python3 bench/cuda_bench.py --build build --out bench/results/cuda_h200.json
  python3 bench/cuda_bench.py --build build --quick --out /tmp/cuda_quick.json
"""
import argparse
import bisect
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20
GIB = 1 << 30
# Executable and largest --mib of each example: Layout() accepts 1..32768 MiB and the cu_* kernels
# index words with 64 bits.
EXAMPLES = {
    "stencil": {"exe": "cu_stencil", "max_mib": 32768},
    "serving": {"exe": "cu_serving", "max_mib": 32768},
}
WARMUP_STEPS = 5  # first steps of a run left out of its baseline
MAX_STEPS = 5_000_000  # keeps a run's --stats (two numbers a step) below a few hundred MB


class Failure(Exception):
    """A measurement that did not work; recorded as its message, the run goes on."""


class Terminated(BaseException):
    """SIGTERM: stop, clean up, write what was measured."""


def on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be cut short
    raise Terminated()


def now_ns():
    return time.time_ns()


def tail(text, n=600):
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def dir_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class App:
    """One run of a cu_* example (plain or under `gpucr run --api cuda`)."""

    def __init__(self, bench, example, mib, steps, gpucr):
        self.bench = bench
        self.example = example
        self.gpucr = gpucr
        self.steps = steps
        bench.app_count += 1
        tag = f"{example}-{mib}-{bench.app_count}"
        self.ready = os.path.join(bench.tmp, f"ready-{tag}")
        self.stats_path = os.path.join(bench.tmp, f"stats-{tag}.json")
        self.err_path = os.path.join(bench.tmp, f"stderr-{tag}.txt")
        cmd = [os.path.join(bench.examples, EXAMPLES[example]["exe"]), "--mib", str(mib), "--steps", str(steps),
               "--step-ms", "0", "--device", str(bench.a.device), "--ready-file", self.ready,
               "--stats", self.stats_path, "--quiet"]
        if gpucr:
            cmd = [bench.gpucr, "run", "--api", "cuda", "--"] + cmd
        self.cmd = cmd
        self.err = open(self.err_path, "w")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=bench.env, stdout=subprocess.DEVNULL, stderr=self.err)
        bench.live.add(self)
        self.pid = self.proc.pid
        self.init_s = None
        self.t_ready_ns = None

    def stderr_tail(self):
        try:
            with open(self.err_path) as f:
                return tail(f.read())
        except OSError:
            return ""

    def wait_ready(self, timeout_s):
        sock = os.path.join(self.bench.env["GPUCR_RUNTIME_DIR"], f"{self.pid}.sock") if self.gpucr else None
        deadline = time.monotonic() + timeout_s
        while not (os.path.exists(self.ready) and (sock is None or os.path.exists(sock))):
            if self.proc.poll() is not None:
                raise Failure(f"{EXAMPLES[self.example]['exe']} exited ({self.proc.returncode}) before its steps: "
                              f"{self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise Failure(f"{EXAMPLES[self.example]['exe']} not ready after {timeout_s:.0f} s")
            time.sleep(0.01)
        self.t_ready_ns = now_ns()
        self.init_s = time.monotonic() - self.t_start

    def running(self):
        return self.proc.poll() is None and not os.path.exists(self.stats_path)

    def finish(self, timeout_s):
        """Waits for the stats (written when the last step is done), kills the process, returns them."""
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(self.stats_path):
            if self.proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                self.kill()
                raise Failure(f"did not finish its {self.steps} steps within {timeout_s:.0f} s")
            time.sleep(0.05)
        self.kill()
        if not os.path.exists(self.stats_path):
            raise Failure(f"exited ({self.proc.returncode}) without writing its stats: {self.stderr_tail()}")
        with open(self.stats_path) as f:
            stats = json.load(f)
        for p in (self.stats_path, self.ready):
            try:
                os.remove(p)
            except OSError:
                pass
        return stats

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        if not self.err.closed:
            self.err.close()
        self.bench.live.discard(self)


def baseline(stats, before_ns):
    """Step figures of the quiet period: steps that ended before `before_ns`, warm-up left out."""
    ends, lat = stats["end_unix_ns"], stats["step_ms"]
    hi = bisect.bisect_left(ends, before_ns) if before_ns is not None else len(ends)
    lo = min(WARMUP_STEPS, hi)
    if hi - lo < 5:  # too few quiet steps: the whole run (less warm-up) as a fallback
        lo, hi = min(WARMUP_STEPS, max(0, len(lat) - 1)), len(lat)
    sel = lat[lo:hi]
    if not sel:
        raise Failure("the application recorded no step")
    gaps = [(ends[i] - ends[i - 1]) / 1e6 for i in range(max(lo, 1), hi)]
    med = statistics.median(sel)
    return {"quiet_steps": len(sel), "median_ms": med, "max_ms": max(sel), "noise_ms": max(sel) - med,
            "median_gap_ms": statistics.median(gaps) if gaps else med, "total_steps": len(lat)}


def window(stats, t0_ns, t1_ns, base):
    """The steps that overlap [t0, t1] (steps back to back: the ones ending in it plus the one in
    flight at t1): longest step and longest interval between step ends, against the baseline."""
    ends, lat = stats["end_unix_ns"], stats["step_ms"]
    n = len(ends)
    lo = bisect.bisect_left(ends, t0_ns)
    hi = bisect.bisect_right(ends, t1_ns)
    if lo >= n:
        return {"error": "no step ended after the window began: the application had run out of steps"}
    last = min(hi, n - 1)
    imax = max(range(lo, last + 1), key=lambda i: lat[i])
    gaps = [(ends[i] - ends[i - 1]) / 1e6 for i in range(max(lo, 1), last + 1)]
    out = {"window_ms": (t1_ns - t0_ns) / 1e6, "steps_in_window": last - lo + 1, "max_step_ms": lat[imax],
           "stall_ms": lat[imax] - base["median_ms"], "longest_step_end_ms": (ends[imax] - t0_ns) / 1e6,
           "max_gap_ms": max(gaps) if gaps else None,
           "gap_stall_ms": max(gaps) - base["median_gap_ms"] if gaps else None, "steps_after_window": n - hi}
    if hi >= n:
        out["error"] = ("the application ran out of steps inside the window, so its stall is not measured "
                        "(raise --safety)")
    return out


def first_step_after(stats, t_ns):
    ends = stats["end_unix_ns"]
    i = bisect.bisect_right(ends, t_ns)
    return (ends[i] - t_ns) / 1e6 if i < len(ends) else None


def cuda_stats(reply):
    """The CUDA provider's figures inside a suspend/resume reply ({"stats": {"cuda": {...}}})."""
    st = reply.get("stats", reply) if isinstance(reply, dict) else {}
    if isinstance(st.get("cuda"), dict):
        merged = dict(st["cuda"])
        merged.setdefault("verify_ms", st.get("verify_ms"))
        return merged
    return st


class CudaBench:
    def __init__(self, a):
        self.a = a
        b = os.path.abspath(a.build)
        self.gpucr = os.path.join(b, "tools", "gpucr")
        self.examples = os.path.join(b, "examples", "cuda")
        self.checkpoint_tool = os.path.join(b, "layers", "cuda", "gpucr-cuda-checkpoint")
        self.d2h_tool = os.path.join(b, "bench", "cu_d2h_bw")
        self.tmp = tempfile.mkdtemp(prefix="gpucr-cuda-bench-")
        os.makedirs(a.image_dir, exist_ok=True)
        self.images = tempfile.mkdtemp(prefix="run-", dir=a.image_dir)
        self.env = dict(os.environ)
        self.env.setdefault("XDG_RUNTIME_DIR", self.tmp)
        self.env["GPUCR_RUNTIME_DIR"] = os.path.join(self.tmp, "run")
        self.live = set()
        self.app_count = 0
        self.image_count = 0
        self.t_begin = time.monotonic()
        self.step_ms = {e: {} for e in EXAMPLES}  # example -> {mib: plain median step, ms}
        q = a.quick
        self.quiet_s = 0.5 if q else 1.0      # quiet period before the first measurement of a run
        self.gap_s = 0.3 if q else 0.5        # after each measurement
        self.tail_s = 0.5                     # the application's own steps after the last one

    # -- helpers ---------------------------------------------------------------------------
    def log(self, msg):
        print(f"[{time.monotonic() - self.t_begin:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def elapsed(self):
        return time.monotonic() - self.t_begin

    def over_budget(self):
        return self.a.budget_s > 0 and self.elapsed() > self.a.budget_s

    def command_timeout(self, mib):
        return 120 + 20 * mib / 1024

    def run_json(self, cmd, timeout_s):
        """Runs a command that prints JSON; returns (reply, client wall ms); raises Failure."""
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise Failure(f"{os.path.basename(cmd[0])} {cmd[1]} timed out after {timeout_s:.0f} s")
        wall = (time.monotonic() - t0) * 1000
        if r.returncode != 0:
            raise Failure(f"{os.path.basename(cmd[0])} {cmd[1]} failed ({r.returncode}): {tail(r.stderr or r.stdout)}")
        try:
            return json.loads(r.stdout), wall
        except ValueError:
            raise Failure(f"{os.path.basename(cmd[0])} {cmd[1]}: no JSON on stdout: {tail(r.stdout)}")

    def new_image(self):
        self.image_count += 1
        return os.path.join(self.images, f"img{self.image_count}")

    def disk_check(self, state_bytes):
        """None when an image of the state fits in --image-dir, else why not."""
        need = int(state_bytes * 1.05) + GIB
        free = shutil.disk_usage(self.images).free
        if free < need:
            return (f"skipped: an image needs about {need / GIB:.1f} GiB in {self.a.image_dir}, "
                    f"{free / GIB:.1f} GiB free")
        return None

    def memory_check(self, state_bytes, what):
        need = state_bytes + 2 * GIB
        avail = mem_available()
        if avail is not None and avail < need:
            return f"skipped {what}: needs about {need / GIB:.1f} GiB of host memory, {avail / GIB:.1f} GiB available"
        return None

    def steps_for(self, running_s, step_ms, factor):
        """Steps for a run that must keep stepping for `running_s` seconds of its own time."""
        steps = max(50, int(math.ceil((factor * running_s + 1.0) * 1000.0 / max(step_ms, 1e-3))) + 20)
        return min(steps, MAX_STEPS)

    def finish_timeout(self, app, step_ms):
        return max(60.0, 3.0 * app.steps * step_ms / 1000.0) + 30.0

    def estimate_step_ms(self, example, mib):
        known = self.step_ms[example]
        if mib in known:
            return known[mib]
        if not known:
            return None
        nearest = min(known, key=lambda m: abs(math.log(m / mib)))
        if example == "stencil":  # every byte read and written each step: time ~ size
            return known[nearest] * mib / nearest
        return known[nearest]  # serving: a fixed number of reads per step

    # -- machine-wide measurements -------------------------------------------------------------
    def machine(self):
        try:
            r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                return {"error": f"nvidia-smi failed ({r.returncode}): {tail(r.stderr)}"}
            gpus = [line.strip() for line in r.stdout.splitlines() if line.strip()]
            return {"gpus": gpus, "summary": "; ".join(gpus)}
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"error": f"nvidia-smi: {e}"}

    def d2h(self):
        mib = self.a.d2h_mib or (64 if self.a.quick else 1024)
        cmd = [self.d2h_tool, "--mib", str(mib), "--repeat", "5", "--device", str(self.a.device)]
        try:
            out, wall = self.run_json(cmd, 300)
            out["client_wall_ms"] = wall
            self.log(f"pinned D2H {out['pinned_d2h_gbs']:.1f} GB/s, pageable {out['pageable_d2h_gbs']:.1f} GB/s "
                     f"({mib} MiB)")
            return out
        except (Failure, OSError) as e:
            self.log(f"cu_d2h_bw: {e}")
            return {"error": str(e)}

    def calibrate(self, example, mib):
        """A short plain run: the step time the first run's step count is computed from."""
        app = App(self, example, mib, 200, gpucr=False)
        try:
            app.wait_ready(self.a.ready_timeout_s)
            stats = app.finish(300)
        finally:
            app.kill()
        base = baseline(stats, None)
        self.step_ms[example][mib] = base["median_ms"]
        self.log(f"calibration {example} {mib} MiB: median step {base['median_ms']:.3f} ms (init {app.init_s:.1f} s)")
        return {"mib": mib, "steps": 200, "init_s": app.init_s, **base}

    # -- the three runs of an item ----------------------------------------------------------------
    def driver_run(self, item, mib, step_est):
        """Plain example, NVIDIA's driver checkpoint: lock+checkpoint then restore+unlock."""
        ex, reps = item["example"], self.a.repeat
        quiet = max(self.quiet_s, 20 * step_est / 1000.0)
        running = quiet + reps * self.gap_s + self.tail_s
        app = App(self, ex, mib, self.steps_for(running, step_est, max(2.0, self.a.safety)), gpucr=False)
        entries = item["driver"]
        info = {"steps": app.steps, "step_estimate_ms": step_est}
        item["runs"]["driver"] = info
        stuck = False
        try:
            app.wait_ready(self.a.ready_timeout_s)
            info["init_s"] = app.init_s
            time.sleep(quiet)
            for rep in range(reps):
                e = {"rep": rep}
                entries.append(e)
                if not app.running():
                    e["error"] = "the application ended before the checkpoint (raise --safety)"
                    break
                e["t0_ns"] = now_ns()
                try:
                    e["suspend"], e["suspend_client_ms"] = self.run_json(
                        [self.checkpoint_tool, "suspend", str(app.pid)], self.command_timeout(mib))
                    e["resume_t0_ns"] = now_ns()
                    e["resume"], e["resume_client_ms"] = self.run_json(
                        [self.checkpoint_tool, "resume", str(app.pid)], self.command_timeout(mib))
                except Failure as f:
                    e["error"] = f"driver checkpoint: {f}"
                    stuck = True  # the process may be left locked
                    break
                e["t1_ns"] = now_ns()
                parts = [e["suspend"].get("lock_ms"), e["suspend"].get("checkpoint_ms"),
                         e["resume"].get("restore_ms"), e["resume"].get("unlock_ms")]
                e["driver_ms"] = sum(p for p in parts if p is not None)
                self.log(f"  {ex} {mib} MiB driver checkpoint: lock {parts[0]} ms, checkpoint {parts[1]} ms, "
                         f"restore {parts[2]} ms, unlock {parts[3]} ms")
                time.sleep(self.gap_s)
            if stuck:
                raise Failure("the process was left locked or checkpointed by the driver: killed, its steps lost")
            stats = app.finish(self.finish_timeout(app, step_est))
        finally:
            app.kill()
        first = next((e["t0_ns"] for e in entries if "t0_ns" in e), None)
        base = baseline(stats, first)
        info.update(base)
        for e in entries:
            if "t1_ns" in e:
                w = window(stats, e["t0_ns"], e["t1_ns"], base)
                e.update(w)
                e["first_step_after_resume_ms"] = first_step_after(stats, e["resume_t0_ns"])
                if "error" not in e:
                    self.log(f"  {ex} {mib} MiB driver: app stall {e['stall_ms']:.1f} ms "
                             f"(window {e['window_ms']:.0f} ms)")
        self.step_ms[ex][mib] = base["median_ms"]
        return base["median_ms"]

    def resume_run(self, item, mib, step_ms):
        """Under gpucr: suspend (--suspend-mode) then resume on demand / --eager, alternated."""
        ex, reps = item["example"], self.a.repeat
        state = mib * MIB
        load_s = state / 4e9 + 0.2  # the application may run while loading on demand
        quiet = max(self.quiet_s, 20 * step_ms / 1000.0)
        running = quiet + reps * (2 * self.gap_s + load_s) + self.tail_s
        app = App(self, ex, mib, self.steps_for(running, step_ms, self.a.safety), gpucr=True)
        entries = item["resumes"]
        info = {"steps": app.steps, "step_estimate_ms": step_ms}
        item["runs"]["resume"] = info
        stuck = False
        try:
            app.wait_ready(self.a.ready_timeout_s)
            info["init_s"] = app.init_s
            time.sleep(quiet)
            for rep in range(reps):
                for mode in (["ondemand", "eager"] if rep % 2 == 0 else ["eager", "ondemand"]):
                    e = {"mode": mode, "rep": rep}
                    entries.append(e)
                    if not app.running():
                        e["error"] = "the application ended before the suspend (raise --safety)"
                        continue
                    why = self.disk_check(state)
                    if why:
                        e["error"] = why
                        continue
                    image = self.new_image()
                    try:
                        e["t0_ns"] = now_ns()
                        try:
                            e["suspend"], e["suspend_client_ms"] = self.run_json(
                                [self.gpucr, "suspend", str(app.pid), "-D", image, "--mode", self.a.suspend_mode,
                                 "--json"], self.command_timeout(mib))
                        except Failure as f:
                            e["error"] = f"suspend: {f}"
                            continue
                        e["image_bytes"] = dir_bytes(image)
                        e["resume_t0_ns"] = now_ns()
                        try:
                            e["resume"], e["resume_client_ms"] = self.run_json(
                                [self.gpucr, "resume", str(app.pid), "--json"] + (["--eager"] if mode == "eager"
                                                                                   else []),
                                self.command_timeout(mib))
                        except Failure as f:
                            e["error"] = f"resume: {f}"
                            stuck = True  # the process stays suspended
                            break
                        e["t1_ns"] = now_ns()
                    finally:
                        shutil.rmtree(image, ignore_errors=True)
                    cs = cuda_stats(e["resume"])
                    for k in ("handback_ms", "first_op_ms", "first_op_after_handback_ms", "loaded_ms", "verify_ms"):
                        e[k] = cs.get(k)
                    self.log(f"  {ex} {mib} MiB suspend {e['suspend_client_ms']:.0f} ms, resume {mode}: handback "
                             f"{e['handback_ms']} ms, first op {e['first_op_ms']} ms, loaded {e['loaded_ms']} ms")
                    time.sleep(self.gap_s)
                if stuck:
                    break
            if stuck:
                raise Failure("the process stayed suspended after a failed resume: killed, its steps lost")
            stats = app.finish(self.finish_timeout(app, step_ms))
        finally:
            app.kill()
        first = next((e["t0_ns"] for e in entries if "t0_ns" in e), None)
        base = baseline(stats, first)
        info.update(base)
        for e in entries:
            if "resume_t0_ns" in e:
                e["first_step_after_resume_ms"] = first_step_after(stats, e["resume_t0_ns"])
                if "t1_ns" in e:
                    e["suspend_resume_window"] = window(stats, e["t0_ns"], e["t1_ns"], base)
                self.log(f"  {ex} {mib} MiB resume {e['mode']}: first step {e['first_step_after_resume_ms']} ms "
                         f"after the resume command started")
        walls = [e["suspend_client_ms"] for e in entries if "suspend_client_ms" in e]
        return base["median_ms"], (max(walls) / 1000.0 if walls else None)

    def dump_run(self, item, mib, step_ms, dump_wall_s):
        """Under gpucr: gpucr dump --gpu-only in each of --modes (order alternated per repetition)."""
        ex, reps = item["example"], self.a.repeat
        state = mib * MIB
        modes = [m for m in self.a.modes.split(",") if m]
        w = 1.2 * dump_wall_s if dump_wall_s else state / 1e9 + 2.0
        quiet = max(self.quiet_s, 20 * step_ms / 1000.0)
        running = quiet + reps * len(modes) * (w + self.gap_s) + self.tail_s
        app = App(self, ex, mib, self.steps_for(running, step_ms, self.a.safety), gpucr=True)
        entries = item["dumps"]
        info = {"steps": app.steps, "step_estimate_ms": step_ms, "dump_wall_estimate_s": w}
        item["runs"]["dump"] = info
        try:
            app.wait_ready(self.a.ready_timeout_s)
            info["init_s"] = app.init_s
            time.sleep(quiet)
            for rep in range(reps):
                for mode in (modes if rep % 2 == 0 else modes[::-1]):
                    e = {"mode": mode, "rep": rep}
                    entries.append(e)
                    if not app.running():
                        e["error"] = "the application ended before the dump (raise --safety)"
                        continue
                    why = self.disk_check(state)
                    if why:
                        e["error"] = why
                        continue
                    image = self.new_image()
                    try:
                        e["t0_ns"] = now_ns()
                        try:
                            dump, e["client_wall_ms"] = self.run_json(
                                [self.gpucr, "dump", str(app.pid), "-D", image, "--gpu-only", "--mode", mode,
                                 "--background", self.a.background, "--json"], self.command_timeout(mib))
                        except Failure as f:
                            e["error"] = f"dump: {f}"
                            continue
                        e["t1_ns"] = now_ns()
                        e["dump"] = dump
                        e["image_bytes"] = dir_bytes(image)
                        try:
                            m, _ = self.run_json([self.gpucr, "inspect", "-D", image, "--json"], 300)
                            sections = m.get("sections", [])
                            sec = next((s for s in sections if s.get("api") == "cuda"), sections[0] if sections else {})
                            e["engine"] = sec.get("stats", {})
                        except Failure as f:
                            e["engine_error"] = str(f)
                            e["engine"] = {}
                    finally:
                        shutil.rmtree(image, ignore_errors=True)
                    st, eng = dump.get("stats", {}), e["engine"]
                    e["held_max_ms"] = st.get("held_max_ms")
                    e["dump_wall_ms"] = st.get("wall_ms")
                    if eng.get("capture_mib_s"):
                        e["capture_gbs"] = eng["capture_mib_s"] * MIB / 1e9
                    if eng.get("capture_ms") and eng.get("bytes"):
                        e["capture_gbs_from_bytes"] = eng["bytes"] / (eng["capture_ms"] / 1000.0) / 1e9
                    self.log(f"  {ex} {mib} MiB dump {mode}: wall {e['client_wall_ms']:.0f} ms, held max "
                             f"{e['held_max_ms']} ms, capture {eng.get('capture_ms')} ms "
                             f"({e.get('capture_gbs', 0):.1f} GB/s), cow blocks {eng.get('cow_blocks')}, "
                             f"image {e['image_bytes'] / GIB:.2f} GiB")
                    time.sleep(self.gap_s)
            stats = app.finish(self.finish_timeout(app, step_ms))
        finally:
            app.kill()
        first = next((e["t0_ns"] for e in entries if "t0_ns" in e), None)
        base = baseline(stats, first)
        info.update(base)
        for e in entries:
            if "t1_ns" in e:
                win = window(stats, e["t0_ns"], e["t1_ns"], base)
                if "error" in win:
                    e["error"] = win.pop("error")
                e.update(win)
                if "stall_ms" in e:
                    self.log(f"  {ex} {mib} MiB dump {e['mode']}: app stall {e['stall_ms']:.1f} ms "
                             f"(median step {base['median_ms']:.3f} ms, noise {base['noise_ms']:.1f} ms)")

    def run_item(self, example, gib, sink):
        """Every measurement of one example at one size, into a new item appended to `sink` at once
        (a run cut short keeps what it measured); failures become error strings."""
        mib = max(1, int(round(gib * 1024)))
        item = {"example": example, "requested_gib": gib, "mib": mib, "gib": mib / 1024, "notes": [], "errors": [],
                "runs": {}, "driver": [], "resumes": [], "dumps": []}
        sink.append(item)
        limit = EXAMPLES[example]["max_mib"]
        if mib > limit:
            item["notes"].append(f"cu_{example} accepts at most {limit} MiB: run at {limit} MiB instead of {mib}")
            mib = limit
            item["mib"] = mib
        item["gib"] = mib / 1024
        state = mib * MIB
        t_item = time.monotonic()
        self.log(f"== cu_{example} {mib} MiB")
        steps = {}

        def guarded(name, fn):
            if self.over_budget():
                item["errors"].append(f"{name}: skipped, past the time budget (--budget-s {self.a.budget_s})")
                self.log(f"  {name}: skipped (time budget)")
                return None
            try:
                return fn()
            except Failure as f:
                item["errors"].append(f"{name}: {f}")
            except Exception as f:  # noqa: BLE001 -- any failure is recorded, the run goes on
                item["errors"].append(f"{name}: {type(f).__name__}: {f}")
            self.log(f"  {name}: {item['errors'][-1]}")
            return None

        est = self.estimate_step_ms(example, mib)
        if est is None:
            cal = guarded("calibration", lambda: self.calibrate(example, mib))
            if cal:
                item["calibration"] = cal
                est = cal["median_ms"]
        if est is None:
            item["errors"].append("no step time estimate: nothing measured")
            return item
        why = self.memory_check(state, "the driver checkpoint")
        if why:
            item["errors"].append(why)
        else:
            steps["plain"] = guarded("driver checkpoint", lambda: self.driver_run(item, mib, est))
        step_plain = steps.get("plain") or est
        why = self.memory_check(state, "gpucr") or self.disk_check(state)
        if why:
            item["errors"].append(f"gpucr suspend/resume and dumps: {why}")
        else:
            r = guarded("gpucr suspend/resume", lambda: self.resume_run(item, mib, step_plain))
            step_gpucr, suspend_wall = r if r else (step_plain, None)
            guarded("gpucr dumps", lambda: self.dump_run(item, mib, max(step_plain, step_gpucr), suspend_wall))
        item["wall_s"] = time.monotonic() - t_item
        return item

    # -- whole run -------------------------------------------------------------------------------
    def cleanup(self):
        for app in list(self.live):
            app.kill()
        shutil.rmtree(self.images, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def strip_internal(item):
    """Drops the raw nanosecond timestamps from what is written (kept: the derived figures)."""
    out = json.loads(json.dumps(item))
    for key in ("driver", "resumes", "dumps"):
        for e in out.get(key, []):
            for k in ("t0_ns", "t1_ns", "resume_t0_ns"):
                e.pop(k, None)
    return out


def write_results(results, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, out)
    md = os.path.splitext(out)[0] + ".md"
    with open(md + ".tmp", "w") as f:
        f.write(report(results) + "\n")
    os.replace(md + ".tmp", md)


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def ok(entries, **match):
    return [e for e in entries if "error" not in e and all(e.get(k) == v for k, v in match.items())]


def report(r):
    d2h = r.get("d2h", {})
    pinned = d2h.get("pinned_d2h_gbs")
    lines = ["# gpucr on CUDA: dump stall, capture, resume, against NVIDIA's driver checkpoint", "",
             f"Run {r['date']} on {r['host']} ({r['machine'].get('summary') or r['machine'].get('error')}, "
             f"{r['cpus']} CPUs, kernel {r['kernel']}); command: `{r['command']}`.", ""]
    if "error" in d2h:
        lines.append(f"cu_d2h_bw failed: {d2h['error']}")
    elif d2h:
        lines.append(f"Device-to-host copy (`cu_d2h_bw`, {d2h['bytes'] >> 20} MiB, best of {d2h['repeat']}): "
                     f"{d2h['pinned_d2h_gbs']:.1f} GB/s into pinned memory, {d2h['pageable_d2h_gbs']:.1f} GB/s into "
                     f"pageable memory (pages present).")
    lines += ["",
              "Stall: the application's longest step overlapping the command's window minus its median step "
              "before the first measurement (steps back to back, `--step-ms 0`); driver checkpoint: "
              "`gpucr-cuda-checkpoint suspend` (lock + checkpoint) then `resume` (restore + unlock) on the plain "
              "example. Capture: cow dump, cut to every byte in host memory. Resume: from the `gpucr resume` "
              "command's start to the end of the application's first step after it (suspend `--mode "
              f"{r['options']['suspend_mode']}`). Medians over repetitions; GB = 1e9 bytes.", "",
              "| example | GiB | gpucr cow stall ms | gpucr stop stall ms | driver checkpoint stall ms | held_max_ms "
              "cow / stop | capture GB/s | pinned D2H GB/s | capture % | resume first step on-demand ms | eager ms |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for it in r["items"]:
        cow, stop = ok(it["dumps"], mode="cow"), ok(it["dumps"], mode="stop")
        cap = median_or_none([e.get("capture_gbs") for e in cow])
        pct = 100.0 * cap / pinned if cap is not None and pinned else None
        lines.append("| cu_{} | {:.3g} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |".format(
            it["example"], it["gib"], fmt(median_or_none([e.get("stall_ms") for e in cow])),
            fmt(median_or_none([e.get("stall_ms") for e in stop])),
            fmt(median_or_none([e.get("stall_ms") for e in ok(it["driver"])])),
            fmt(median_or_none([e.get("held_max_ms") for e in cow])),
            fmt(median_or_none([e.get("held_max_ms") for e in stop])), fmt(cap), fmt(pinned), fmt(pct, 0),
            fmt(median_or_none([e.get("first_step_after_resume_ms") for e in ok(it["resumes"], mode="ondemand")])),
            fmt(median_or_none([e.get("first_step_after_resume_ms") for e in ok(it["resumes"], mode="eager")]))))
    lines += ["", "Details (medians): baseline step and its noise (longest − median step before the first "
              "measurement) in the gpucr dump run; gap stall: longest interval between step ends in the window "
              "minus the median interval (also sees a hold between two steps); dump walls; image; driver "
              "checkpoint split; resume figures from gpucr (from the agent's receipt of the request) on demand / "
              "eager.", "",
              "| example | GiB | step ms (plain / gpucr) | noise ms | gap stall ms cow / stop / driver | cow wall ms | "
              "stop wall ms | stop capture GB/s | image GiB | cow blocks | shadow MiB / fallbacks | "
              "driver lock+ckpt / restore+unlock ms | "
              "suspend wall ms | handback ms | first op ms | loaded ms |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for it in r["items"]:
        cow, stop = ok(it["dumps"], mode="cow"), ok(it["dumps"], mode="stop")
        drv = ok(it["driver"])
        od, eg = ok(it["resumes"], mode="ondemand"), ok(it["resumes"], mode="eager")
        runs = it.get("runs", {})

        def pair(entries_a, entries_b, key, digits=1):
            return (f"{fmt(median_or_none([e.get(key) for e in entries_a]), digits)} / "
                    f"{fmt(median_or_none([e.get(key) for e in entries_b]), digits)}")

        def sum_of(e, part, keys):
            vals = [e.get(part, {}).get(k) for k in keys]
            return sum(v for v in vals if v is not None) if any(v is not None for v in vals) else None

        lock_ck = median_or_none([sum_of(e, "suspend", ("lock_ms", "checkpoint_ms")) for e in drv])
        rest_un = median_or_none([sum_of(e, "resume", ("restore_ms", "unlock_ms")) for e in drv])
        shadow = median_or_none([e.get("engine", {}).get("shadow_bytes") for e in cow])
        lines.append("| cu_{} | {:.3g} | {} / {} | {} | {} / {} / {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | "
                     "{} | {} | {} | {} |".format(
                         it["example"], it["gib"], fmt(runs.get("driver", {}).get("median_ms"), 3),
                         fmt(runs.get("dump", {}).get("median_ms"), 3), fmt(runs.get("dump", {}).get("noise_ms")),
                         fmt(median_or_none([e.get("gap_stall_ms") for e in cow])),
                         fmt(median_or_none([e.get("gap_stall_ms") for e in stop])),
                         fmt(median_or_none([e.get("gap_stall_ms") for e in drv])),
                         fmt(median_or_none([e.get("client_wall_ms") for e in cow]), 0),
                         fmt(median_or_none([e.get("client_wall_ms") for e in stop]), 0),
                         fmt(median_or_none([e.get("capture_gbs") for e in stop])),
                         fmt(median_or_none([e.get("image_bytes", 0) / GIB for e in cow + stop]), 2),
                         fmt(median_or_none([e.get("engine", {}).get("cow_blocks") for e in cow]), 0),
                         fmt(shadow / MIB if shadow is not None else None, 0),
                         fmt(median_or_none([e.get("engine", {}).get("shadow_fallbacks") for e in cow]), 0),
                         fmt(lock_ck, 0), fmt(rest_un, 0),
                         fmt(median_or_none([e.get("suspend_client_ms") for e in od + eg]), 0),
                         pair(od, eg, "handback_ms"), pair(od, eg, "first_op_ms"), pair(od, eg, "loaded_ms", 0)))
    problems = []
    for it in r["items"]:
        name = f"cu_{it['example']} {it['gib']:.3g} GiB"
        problems += [f"- {name}: {n}" for n in it.get("notes", [])]
        problems += [f"- {name}: {e}" for e in it.get("errors", [])]
        for key in ("driver", "resumes", "dumps"):
            for e in it.get(key, []):
                if "error" in e:
                    problems.append(f"- {name} {key} {e.get('mode', '')} rep {e.get('rep')}: {e['error']}")
    problems += [f"- {e}" for e in r.get("errors", [])]
    if problems:
        lines += ["", "Notes and errors:", ""] + problems
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="build directory (tools/gpucr, examples/cuda, layers/cuda, bench)")
    p.add_argument("--sizes-gib", default="1,8,16",
                   help="state sizes in GiB (the examples accept at most 32 GiB)")
    p.add_argument("--examples", default="stencil,serving")
    p.add_argument("--repeat", type=int, default=1, help="repetitions of every measurement")
    p.add_argument("--modes", default="cow,stop", help="gpucr dump modes (cow, stop, dirty)")
    p.add_argument("--suspend-mode", default="stop", choices=["stop", "dirty"],
                   help="gpucr suspend --mode before each resume")
    p.add_argument("--background", default="normal", choices=["low", "idle", "normal"],
                   help="gpucr dump --background")
    p.add_argument("--device", type=int, default=0, help="CUDA device ordinal")
    p.add_argument("--image-dir", default="/tmp/gpucr-bench-images",
                   help="where images are written (each deleted right after its measurement)")
    p.add_argument("--d2h-mib", type=int, default=0, help="cu_d2h_bw size (default 1024, --quick 64)")
    p.add_argument("--safety", type=float, default=1.5,
                   help="factor on the planned running time when computing a run's step count")
    p.add_argument("--ready-timeout-s", type=float, default=300, help="longest wait for an example's first step")
    p.add_argument("--budget-s", type=float, default=470,
                   help="start no run after this many seconds (0: no limit); what is left is recorded as skipped")
    p.add_argument("--quick", action="store_true", help="smoke run: 64 MiB only, shorter pauses")
    p.add_argument("--out", default="bench/results/cuda_h200.json", help="results JSON; the Markdown goes next to it")
    a = p.parse_args()
    sizes = [0.0625] if a.quick else sorted({float(s) for s in a.sizes_gib.split(",") if s.strip()})
    examples = [e.strip() for e in a.examples.split(",") if e.strip()]
    for e in examples:
        if e not in EXAMPLES:
            p.error(f"unknown example {e} (have: {', '.join(EXAMPLES)})")
    if a.repeat < 1:
        p.error("--repeat must be at least 1")

    signal.signal(signal.SIGTERM, on_sigterm)
    bench = CudaBench(a)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {"date": started.isoformat(timespec="seconds"), "host": platform.node(), "kernel": platform.release(),
               "cpus": os.cpu_count(), "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
               "build": os.path.abspath(a.build), "sizes_gib": sizes, "examples": examples,
               "options": {"repeat": a.repeat, "modes": a.modes, "suspend_mode": a.suspend_mode,
                           "background": a.background, "device": a.device, "image_dir": a.image_dir,
                           "safety": a.safety, "quick": a.quick, "budget_s": a.budget_s},
               "machine": bench.machine(), "errors": [], "items": []}
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10)
        if r.returncode == 0:
            results["commit"] = r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    free = shutil.disk_usage(bench.images).free
    results["image_dir_free_gib"] = free / GIB
    results["mem_available_gib"] = (mem_available() or 0) / GIB
    bench.log(f"machine: {results['machine']}; {free / GIB:.0f} GiB free in {a.image_dir}, "
              f"{results['mem_available_gib']:.0f} GiB host memory available")
    for tool in (bench.gpucr, bench.checkpoint_tool, bench.d2h_tool,
                 *[os.path.join(bench.examples, EXAMPLES[e]["exe"]) for e in examples]):
        if not os.access(tool, os.X_OK):
            results["errors"].append(f"missing: {tool}")
            bench.log(f"missing: {tool}")
    terminated = False
    try:
        results["d2h"] = bench.d2h()
        write_results(results, a.out)
        for gib in sizes:
            for example in examples:
                bench.run_item(example, gib, results["items"])
                results["elapsed_s"] = bench.elapsed()
                write_results({**results, "items": [strip_internal(i) for i in results["items"]]}, a.out)
    except Terminated:
        terminated = True
        results["errors"].append(f"terminated (SIGTERM) after {bench.elapsed():.0f} s: the results are partial")
        bench.log("terminated: writing partial results")
    except KeyboardInterrupt:
        results["errors"].append(f"interrupted after {bench.elapsed():.0f} s: the results are partial")
    finally:
        bench.cleanup()
        results["elapsed_s"] = bench.elapsed()
        results["items"] = [strip_internal(i) for i in results["items"]]
        write_results(results, a.out)
    bench.log(f"done in {results['elapsed_s']:.0f} s: {a.out}, {os.path.splitext(a.out)[0]}.md")
    print(report(results))
    if terminated:
        sys.exit(143)


if __name__ == "__main__":
    main()
