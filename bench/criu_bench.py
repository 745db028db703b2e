#!/usr/bin/env python3
"""gpucr benchmark of process checkpoints through CRIU against plain CRIU, for vk_stencil (Vulkan,
through gpucr's layer) and cl_stencil (OpenCL, through gpucr's shim), every byte of the state
rewritten every step.

Measures, in one run and on the same machine, with the variants of each measurement alternated
(their order rotates from one repetition to the next):

  Dumps that leave the application running (`--leave-running`), the application run under
  `gpucr run` in every variant, so that the process dumped is the same:
    none          no dump: the noise floor of the stall metrics;
    gpucr_dirty   `gpucr dump PID -D DIR --leave-running --mode dirty` (the default mode: GPU
                  pre-copy while the application runs, the dirty rest copied after the cut, the
                  driver objects released, CRIU dumps the process, the GPU state loaded back);
    gpucr_stop    the same with `--mode stop`;
    criu          plain CRIU, no gpucr plugin: `criu dump -t PID -D DIR --shell-job --leave-running
                  -v4 -o criu-dump.log` (the CRIU gpucr uses, without --libdir: its default plugin
                  directory holds no gpucr plugin, checked; same log level as gpucr passes). On
                  lavapipe and PoCL device memory is host memory, so CRIU captures it as pages.
  Metrics:
    stall_ms      the application's own view, as bench/bench.py: its longest step (submit to
                  completion, steady_clock, from the example's --stats) minus its median step in
                  the same run. A hold outside submit-to-completion (vk_stencil: in
                  vkResetCommandBuffer, vkBeginCommandBuffer or vkResetFences) is in no step;
    gap_stall_ms  longest interval between two consecutive step ends minus the median interval
                  (CLOCK_REALTIME step ends, `end_unix_ns` in --stats): also sees a freeze that falls
                  in the sleep between two steps or a hold outside a step's timing;
    longest_in_dump  whether the longest step overlaps the dump command's window;
    dump_wall_ms  the dump command's wall time, seen by this script; for gpucr also its own split:
                  gpu_wall_ms (the GPU suspend: pre-copy, cut, copy, hashing and durable write of the
                  GPU image, release of the driver objects), criu_ms (the rest: CRIU), and of the
                  GPU state's reload after CRIU (leave-running): resume_handback_ms (from the
                  reload's start until the application's GPU calls run again: verify of the GPU
                  image, re-creation, eager load) with resume_verify_ms, and resume_ms (until the
                  first GPU operation after it completed);
    sync_ms       after the dump command returned: fsync of every file of the image (CRIU writes
                  its images into the page cache without fsync; gpucr's GPU image is already
                  durable): the rest of the cost of a durable image;
    gpu held      (report) gpucr: from its cut (the application's GPU calls held) until the
                  driver objects were released (the suspend's release.held_ms);
    image complete  (report) gpucr: its own total_ms (GPU part + CRIU; a --leave-running dump
                  command then also waits for the reload); plain CRIU: the dump command;
    criu_stats    CRIU's own statistics (DIR/stats-dump, microseconds): freezing_time,
                  frozen_time (the process frozen), memdump_time, memwrite_time, pages_written;
    image_bytes   the image directory's files (apparent size, CRIU's log excluded), and of them
                  gpu_image_bytes (gpucr's GPU image, DIR/gpu-PID).

  Restores (the application dumped without --leave-running, i.e. killed by CRIU, then restored;
  each variant from its own dump of a fresh run):
    gpucr_ondemand  `gpucr restore -D DIR --json` (GPU memory loaded on demand, the default);
    gpucr_eager     `gpucr restore -D DIR --eager --json` (all loaded before the app continues);
    criu            `criu restore -D DIR --shell-job -d -v4 -o LOG` of a plain CRIU dump (as above,
                    without --leave-running).
  Metrics, all from the moment this script starts the restore command (t0, CLOCK_REALTIME):
    first_step_ms   the end of the first step completed after t0 (the restored process's own
                    `end_unix_ns`; steady_clock is not comparable across a restore: CRIU restores
                    the process into a time namespace). That step was in flight at the dump: after
                    a plain CRIU restore the driver's threads finish what remained of its work;
                    after a gpucr restore its GPU work had completed before the cut, so this is
                    about when the application runs again;
    second_step_ms  the end of the next step: the first step computed wholly after the restore
                    (it also waits for the sleep between steps);
    restore_ms      gpucr: until `gpucr restore` reports the GPU back (its --json total_ms: verify
                    of the whole GPU image, CRIU, then the wait for the agent's resume report, which
                    comes once the first GPU operation after the restore has completed), with
                    verify_ms, criu_ms, gpu_wait_ms and handback_ms (the agent's: from its resume's
                    start until the application's GPU calls run again); plain CRIU: the
                    `criu restore -d` command's wall time (the process runs when it returns);
    criu_restore_stats  CRIU's DIR/stats-restore (restore_time, forking_time, pages_restored);
    dump_wall_ms, image_bytes as above (dump without --leave-running).
    app runs        (report) when the application runs again: plain CRIU, when `criu restore -d`
                    returns; gpucr, verify_ms + criu_ms + handback_ms (a sum of gpucr's own figures).
  Every run's final checksum is compared with the CPU reference (example_ref; with --no-ref, with
  the runs without a dump).

  python3 bench/criu_bench.py --build build-bench --mib 1024 --repeat 3 \\
      --out bench/results/criu_lavapipe_pocl.json
Prints a Markdown report (pasted into docs/benchmarks.md: per-run tables, then the median and
range of each variant) and writes the raw results as JSON; `--report JSON` prints the report of
an earlier run again.
Needs root and CRIU 4.0 or newer (scripts/criu.sh) and gpucr's CRIU plugin built; exits 77 (skip)
without them, or when neither API has a device. Exits 1 when a checksum differs.
The image directories are written under --tmp (default: the system's temp dir) and deleted after
each run; a restore reads its image back from the page cache, as it was just written.
"""
import argparse
import ctypes
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import APIS, SKIP, Bench, choose_platform  # noqa: E402

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PR_SET_CHILD_SUBREAPER = 36
STALL_VARIANTS = ["none", "gpucr_dirty", "gpucr_stop", "criu"]
RESTORE_VARIANTS = ["gpucr_ondemand", "gpucr_eager", "criu"]
DEFAULT_STEPS = {"vulkan": 12, "opencl": 40}  # a few seconds of steps before and after a dump at 1 GiB
CRIU_DEFAULT_LIBDIR = "/usr/lib/criu"  # `criu --help`: "-L|--libdir  path to a plugin directory (by default /usr/lib/criu/)"


class BenchError(Exception):
    pass


def find_criu():
    """The CRIU gpucr uses: $GPUCR_CRIU, else scripts/criu.sh --print (the private one, else the system's)."""
    if os.environ.get("GPUCR_CRIU"):
        return os.environ["GPUCR_CRIU"]
    r = subprocess.run(["bash", os.path.join(SOURCE_ROOT, "scripts", "criu.sh"), "--print"], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def criu_version(criu):
    try:
        r = subprocess.run([criu, "--version"], capture_output=True, text=True)
    except OSError:
        return None
    m = re.search(r"Version:\s*(\S+)", r.stdout)
    return m.group(1) if m else None


def decode_varints(buf):
    """Top-level fields of a protobuf message: {field number: int or bytes}."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            out[field], i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            out[field] = buf[i:i + n]
            i += n
        elif wire == 1:
            out[field] = buf[i:i + 8]
            i += 8
        elif wire == 5:
            out[field] = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
    return out


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


DUMP_STATS = {1: "freezing_time", 2: "frozen_time", 3: "memdump_time", 4: "memwrite_time", 5: "pages_scanned",
              6: "pages_skipped_parent", 7: "pages_written", 8: "irmap_resolve", 9: "pages_lazy",
              10: "page_pipes", 11: "page_pipe_bufs"}
RESTORE_STATS = {1: "pages_compared", 2: "pages_skipped_cow", 3: "forking_time", 4: "restore_time",
                 5: "pages_restored"}


def criu_stats(path):
    """CRIU's stats-dump / stats-restore image (images/stats.proto: StatsEntry {dump = 1, restore = 2}):
    two magic words, the entry's size, the entry. Times in microseconds. None when absent or unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        (size,) = struct.unpack_from("<I", data, 8)
        entry = decode_varints(data[12:12 + size])
        for field, names in ((1, DUMP_STATS), (2, RESTORE_STATS)):
            if field in entry:
                return {names.get(k, str(k)): v for k, v in decode_varints(entry[field]).items()}
    except (OSError, ValueError, IndexError, struct.error):
        pass
    return None


def dir_bytes(path, exclude_logs=True):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            if exclude_logs and f.endswith(".log"):
                continue
            total += os.path.getsize(os.path.join(d, f))
    return total


def fsync_all(path):
    """fsyncs every file of the image directory; returns the time it took (ms): what the dump left
    in the page cache (CRIU writes its images without fsync; gpucr writes its GPU image durably)."""
    t0 = time.monotonic()
    for d, _, files in os.walk(path):
        for f in files:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return (time.monotonic() - t0) * 1000


def api_stats(stats):
    """The per-API statistics ("vulkan" or "opencl") inside a resume's statistics; {} when none."""
    for api in ("vulkan", "opencl"):
        if isinstance(stats.get(api), dict):
            return stats[api]
    return {}


def plugins_in_log(log):
    """Names of the CRIU plugins the log says were loaded (`Plugin "NAME" (version ...)`)."""
    try:
        with open(log, errors="replace") as f:
            return re.findall(r'Plugin "([^"]+)"', f.read())
    except OSError:
        return []


def stall(values):
    return max(values) - statistics.median(values) if values else None


class CriuBench(Bench):
    def __init__(self, a, criu):
        super().__init__(a)
        self.criu = criu
        self.live = set()  # process ids we started or restored, killed if we stop early

    def use_api(self, api):
        self.api = api
        self.examples = os.path.join(os.path.abspath(self.a.build), "examples", APIS[api]["dir"])
        self.platform_direct = self.platform_shim = None

    def paths(self):
        t = self.tmp
        return {k: os.path.join(t, k) for k in ("ready", "stats.json", "out", "err", "image")}

    def start(self, args):
        """Starts the stencil example under gpucr run, stdout/stderr to files (CRIU restores them by
        path), and waits until its steps run and its agent listens. Returns the Popen."""
        p = self.paths()
        for k in ("ready", "stats.json", "out", "err"):
            if os.path.exists(p[k]):
                os.remove(p[k])
        shutil.rmtree(p["image"], ignore_errors=True)
        cmd = self.command(self.name("stencil"), args + ["--stats", p["stats.json"], "--ready-file", p["ready"],
                                                          "--quiet"], layer=True)
        with open(p["out"], "w") as out, open(p["err"], "w") as err:
            proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.live.add(proc.pid)
        sock = os.path.join(self.env["GPUCR_RUNTIME_DIR"], f"{proc.pid}.sock")
        while not (os.path.exists(p["ready"]) and os.path.exists(sock)):
            if proc.poll() is not None:
                raise BenchError(f"{self.name('stencil')} exited ({proc.returncode}) before its steps: "
                                 f"{self.tail(p['err'])}")
            time.sleep(0.01)
        return proc

    @staticmethod
    def tail(path, n=1500):
        try:
            with open(path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def result_of_app(self):
        """The finished application's --stats and the last line of its stdout (its checksum)."""
        p = self.paths()
        with open(p["stats.json"]) as f:
            stats = json.load(f)
        with open(p["out"], errors="replace") as f:
            lines = f.read().strip().splitlines()
        stats["checksum"] = lines[-1] if lines else None
        return stats

    def dump(self, variant, pid, leave_running):
        """Runs the dump of `variant` into the image directory; returns its measurements."""
        image = self.paths()["image"]
        os.makedirs(image, exist_ok=True)
        if variant.startswith("gpucr"):
            mode = "stop" if variant == "gpucr_stop" else "dirty"
            cmd = [self.gpucr, "dump", str(pid), "-D", image, "--mode", mode, "--json"]
        else:
            cmd = [self.criu, "dump", "-t", str(pid), "-D", image, "--shell-job", "-v4", "-o", "criu-dump.log"]
        if leave_running:
            cmd.append("--leave-running")
        start_ns = time.time_ns()
        t0 = time.monotonic()
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=1800)
        wall = (time.monotonic() - t0) * 1000
        end_ns = time.time_ns()
        if r.returncode != 0:
            log = os.path.join(image, "criu-dump.log")
            raise BenchError(f"{variant} dump failed ({r.returncode}): {r.stderr[-2000:]} {self.tail(log, 1500)}")
        d = {"dump_wall_ms": wall, "dump_start_ns": start_ns, "dump_end_ns": end_ns, "sync_ms": fsync_all(image),
             "image_bytes": dir_bytes(image), "criu_stats": criu_stats(os.path.join(image, "stats-dump"))}
        gpu_dirs = glob.glob(os.path.join(image, "gpu-*"))
        d["gpu_image_bytes"] = sum(dir_bytes(g) for g in gpu_dirs)
        if variant.startswith("gpucr"):
            marker = json.loads(r.stdout)
            s = marker["stats"]
            d.update({"gpucr_total_ms": s.get("total_ms"), "criu_ms": s.get("criu_ms"),
                      "gpu_wall_ms": s.get("gpu", {}).get("wall_ms"),
                      "gpu_held_max_ms": s.get("gpu", {}).get("held_max_ms"),
                      "resume_ms": s.get("resume", {}).get("wall_ms"),
                      "resume_handback_ms": api_stats(s.get("resume", {})).get("handback_ms"),
                      "resume_verify_ms": s.get("resume", {}).get("verify_ms"), "gpucr_stats": s})
            if leave_running and "resume" not in s:
                raise BenchError(f"{variant}: the process did not report its GPU back after the dump")
        else:
            d["plugins"] = plugins_in_log(os.path.join(image, "criu-dump.log"))
            if d["plugins"] or gpu_dirs:
                raise BenchError(f"plain CRIU dump loaded plugins {d['plugins']} / wrote {gpu_dirs}")
        return d

    def finish_app(self, proc, timeout=3600):
        proc.wait(timeout=timeout)
        self.live.discard(proc.pid)
        return proc.returncode

    def delay_s(self, median_ms):
        return max(self.a.min_delay, self.a.dump_after * (median_ms + self.a.step_ms) / 1000.0)

    def stall_run(self, variant, args, median_ms, want):
        proc = self.start(args)
        d = None
        if variant != "none":
            time.sleep(self.delay_s(median_ms))
            d = self.dump(variant, proc.pid, leave_running=True)
            if proc.poll() is not None:
                raise BenchError(f"{variant}: the application ended during its dump (give it more --steps)")
        rc = self.finish_app(proc)
        if rc != 0:
            raise BenchError(f"{variant}: the application failed ({rc}): {self.tail(self.paths()['err'])}")
        stats = self.result_of_app()
        shutil.rmtree(self.paths()["image"], ignore_errors=True)
        steps, ends = stats["step_ms"], stats["end_unix_ns"]
        gaps = [(b - a) / 1e6 for a, b in zip(ends, ends[1:])]
        run = {"variant": variant, "stall_ms": stall(steps), "gap_stall_ms": stall(gaps),
               "median_step_ms": statistics.median(steps), "max_step_ms": max(steps),
               "median_gap_ms": statistics.median(gaps) if gaps else None, "max_gap_ms": max(gaps) if gaps else None,
               "checksum": stats["checksum"], "checksum_ok": want is None or stats["checksum"] == want,
               "step_ms": steps, "end_unix_ns": ends}
        if d:
            i = max(range(len(steps)), key=lambda k: steps[k])
            longest = (ends[i] - steps[i] * 1e6, ends[i])
            run["longest_in_dump"] = longest[0] <= d["dump_end_ns"] and longest[1] >= d["dump_start_ns"]
            run["steps_after_dump"] = sum(1 for e in ends if e > d["dump_end_ns"])
            run.update(d)
        return run

    def restore_run(self, variant, args, median_ms, want):
        proc = self.start(args)
        pid = proc.pid
        time.sleep(self.delay_s(median_ms))
        d = self.dump("criu" if variant == "criu" else "gpucr_dirty", pid, leave_running=False)
        rc = self.finish_app(proc, timeout=120)
        if rc != -signal.SIGKILL:
            raise BenchError(f"{variant}: the application was not killed by the dump (exit {rc}): give it more --steps")
        image = self.paths()["image"]
        run = {"variant": variant}
        run.update(d)
        t0 = time.time_ns()
        m0 = time.monotonic()
        if variant == "criu":
            log = os.path.join(self.tmp, "criu-restore.log")
            r = subprocess.run([self.criu, "restore", "-D", image, "--shell-job", "-d", "-v4", "-o", log],
                               env=self.env, capture_output=True, text=True, timeout=1800)
            run["restore_ms"] = (time.monotonic() - m0) * 1000
            if r.returncode != 0:
                raise BenchError(f"criu restore failed ({r.returncode}): {r.stderr[-1000:]} {self.tail(log)}")
            self.live.add(pid)
            run["plugins"] = plugins_in_log(log)
            # The restored process is our child (subreaper) once criu has exited.
            _, status = os.waitpid(pid, 0)
            self.live.discard(pid)
            app_rc = os.waitstatus_to_exitcode(status)
        else:
            cmd = [self.gpucr, "restore", "-D", image, "--json"] + (["--eager"] if variant == "gpucr_eager" else [])
            rp = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            self.live.update((rp.pid, pid))  # the restored process becomes ours if gpucr restore dies first
            _, err = rp.communicate(timeout=3600)
            self.live.difference_update((rp.pid, pid))
            app_rc = rp.returncode
            try:
                res, _ = json.JSONDecoder().raw_decode(err.lstrip())
            except ValueError:
                raise BenchError(f"gpucr restore ({rp.returncode}) printed no result: {err[-2000:]}")
            run.update({"restore_ms": res.get("total_ms"), "verify_ms": res.get("verify_ms"),
                        "handback_ms": api_stats(res.get("gpu", {}).get("stats", {})).get("handback_ms"),
                        "criu_ms": res.get("criu_ms"), "gpu_wait_ms": res.get("gpu_wait_ms"), "gpucr_restore": res})
        run["criu_restore_stats"] = criu_stats(os.path.join(image, "stats-restore"))
        if app_rc != 0:
            raise BenchError(f"{variant}: the restored application failed ({app_rc}): {self.tail(self.paths()['err'])}")
        stats = self.result_of_app()
        shutil.rmtree(image, ignore_errors=True)
        ends = stats["end_unix_ns"]
        after = [e for e in ends if e > t0]
        if not after:
            raise BenchError(f"{variant}: no step completed after the restore")
        run.update({"first_step_ms": (after[0] - t0) / 1e6,
                    "second_step_ms": (after[1] - t0) / 1e6 if len(after) > 1 else None,
                    "steps_before": len(ends) - len(after), "steps_after": len(after),
                    "median_step_ms": statistics.median(stats["step_ms"]),
                    "checksum": stats["checksum"], "checksum_ok": want is None or stats["checksum"] == want})
        return run

    def kill_live(self):
        for pid in list(self.live):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def rotate(seq, k):
    k %= len(seq)
    return seq[k:] + seq[:k]


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": cpu}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def mib(b):
    return "-" if b is None else f"{b / 2**20:.0f}"


def ms_of_us(stats, key):
    return None if not stats or key not in stats else stats[key] / 1000.0


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def image_complete_ms(run):
    """Until the image was complete: gpucr's own total (GPU part and CRIU; a --leave-running dump
    command also waits for the GPU's reload), plain CRIU's dump command."""
    return run.get("gpucr_total_ms") if run["variant"].startswith("gpucr") else run.get("dump_wall_ms")


def gpu_held_ms(run):
    """gpucr: how long the application's GPU calls were held, from the cut to the release of the
    driver objects (the suspend's release statistics)."""
    release = run.get("gpucr_stats", {}).get("gpu", {}).get("release", {})
    held = [v.get("held_ms") for v in release.values() if isinstance(v, dict)]
    return max(held) if held else None


def report(r):
    m = r["machine"]
    lines = [f"Run {r['date']} on {m['host']} ({m['cpus']} CPUs, {m['cpu_model']}, kernel {m['kernel']}), "
             f"CRIU {r['criu_version']} (`{r['criu']}`; default plugin directory {r['criu_default_libdir']}: "
             f"{r['criu_default_libdir_state']}).", f"Command: `{r['command']}`", ""]
    for w in r["apis"]:
        if w.get("skipped"):
            lines += [f"{w['api']}: skipped ({w['skipped']}).", ""]
            continue
        ref = "the runs without a dump" if r["reference"] == "run" else "the CPU reference"
        lines += [f"### {w['example']} `{w['args']}` on {w['device']}", "",
                  f"Dumps with `--leave-running` (stall: longest step − median step; gap stall: longest − median "
                  f"interval between step ends; checksums against {ref}):", "",
                  "| variant | rep | stall ms | gap stall ms | longest step in dump | dump wall ms | fsync after ms | "
                  "GPU part ms | CRIU part ms | GPU reload ms (of which verify) | CRIU frozen ms | "
                  "CRIU memdump / memwrite ms | image MiB (GPU) | checksum |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in w["stall"]:
            cs = s.get("criu_stats")
            reload = (None if s.get("resume_handback_ms") is None
                      else f"{s['resume_handback_ms']:.0f} ({fmt(s.get('resume_verify_ms'))})")
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                s["variant"], s["rep"], fmt(s["stall_ms"]), fmt(s["gap_stall_ms"]),
                {True: "yes", False: "no"}.get(s.get("longest_in_dump"), "-"), fmt(s.get("dump_wall_ms")),
                fmt(s.get("sync_ms")), fmt(s.get("gpu_wall_ms")), fmt(s.get("criu_ms")), reload or "-",
                fmt(ms_of_us(cs, "frozen_time")),
                "-" if not cs else f"{fmt(ms_of_us(cs, 'memdump_time'))} / {fmt(ms_of_us(cs, 'memwrite_time'))}",
                "-" if "image_bytes" not in s else f"{mib(s['image_bytes'])} ({mib(s['gpu_image_bytes'])})",
                "ok" if s["checksum_ok"] else "WRONG"))
        lines += ["", "Median (min–max) of the runs; image complete: gpucr's own total (GPU part + CRIU), plain "
                  "CRIU's dump command; GPU held: gpucr's gate closed at the cut until the driver objects were "
                  "released (the application's GPU calls wait); GPU reload: after CRIU, until the application's GPU "
                  "calls run again:", "",
                  "| variant | stall ms | gap stall ms | image complete ms | + fsync ms | dump command ms | "
                  "CRIU frozen ms | GPU held ms | CRIU part ms | GPU reload ms | image MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in STALL_VARIANTS:
            rs = [s for s in w["stall"] if s["variant"] == v]
            if rs:
                lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    v, spread(s["stall_ms"] for s in rs), spread(s["gap_stall_ms"] for s in rs),
                    spread(image_complete_ms(s) for s in rs), spread(s.get("sync_ms") for s in rs),
                    spread(s.get("dump_wall_ms") for s in rs),
                    spread(ms_of_us(s.get("criu_stats"), "frozen_time") for s in rs),
                    spread(gpu_held_ms(s) for s in rs), spread(s.get("criu_ms") for s in rs),
                    spread(s.get("resume_handback_ms") for s in rs), mib(med(s.get("image_bytes") for s in rs))))
        lines += ["", "Restores (the application killed by the dump, then restored; times from the start of the "
                  "restore command):", "",
                  "| variant | rep | dump wall ms | image MiB | verify ms | CRIU ms | GPU handback ms (agent) | "
                  "gpucr restore reports ms | first step done ms | second step done ms | CRIU restore_time ms | checksum |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in w["restore"]:
            gpucr = s["variant"] != "criu"
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                s["variant"], s["rep"], fmt(s["dump_wall_ms"]), mib(s["image_bytes"]), fmt(s.get("verify_ms")),
                fmt(s.get("criu_ms") if gpucr else s["restore_ms"]), fmt(s.get("handback_ms")),
                fmt(s["restore_ms"]) if gpucr else "-", fmt(s["first_step_ms"]), fmt(s["second_step_ms"]),
                fmt(ms_of_us(s.get("criu_restore_stats"), "restore_time")), "ok" if s["checksum_ok"] else "WRONG"))
        lines += ["", "Median (min–max) of the runs; restore: plain CRIU's `criu restore -d`, gpucr's CRIU step; "
                  "app runs: plain CRIU when `criu restore -d` returns, gpucr when the agent hands the GPU back "
                  "(verify + CRIU + hand-back):", "",
                  "| variant | dump (image complete) ms | verify ms | restore ms | app runs ms | first step done ms | "
                  "second step done ms | gpucr restore reports ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for v in RESTORE_VARIANTS:
            rs = [s for s in w["restore"] if s["variant"] == v]
            if not rs:
                continue
            gpucr = v != "criu"
            runs_at = [(s.get("verify_ms") or 0) + (s.get("criu_ms") or 0) + (s.get("handback_ms") or 0) if gpucr
                       else s["restore_ms"] for s in rs]
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                v, spread(image_complete_ms(s) for s in rs), spread(s.get("verify_ms") for s in rs) if gpucr else "-",
                spread((s.get("criu_ms") if gpucr else s["restore_ms"]) for s in rs), spread(runs_at),
                spread(s["first_step_ms"] for s in rs), spread(s["second_step_ms"] for s in rs),
                spread(s["restore_ms"] for s in rs) if gpucr else "-"))
        lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--apis", default="vulkan,opencl")
    p.add_argument("--platform", type=int, default=None, help="OpenCL platform index (see bench.py)")
    p.add_argument("--platform-name", default=None, help="OpenCL platform by name or vendor (see bench.py)")
    p.add_argument("--mib", type=int, default=1024, help="stencil state size")
    p.add_argument("--steps", type=int, default=None,
                   help=f"steps per run (default: {DEFAULT_STEPS}); the application must outlive its dump")
    p.add_argument("--step-ms", type=int, default=100, help="sleep between steps")
    p.add_argument("--dump-after", type=float, default=2.5, help="dump after this many steps (median step + sleep)")
    p.add_argument("--min-delay", type=float, default=0.5, help="but no sooner than this many seconds")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-ref", action="store_true", help="compare checksums with the runs without a dump, not example_ref")
    p.add_argument("--tmp", default=None, help="where images are written (default: system temp dir)")
    p.add_argument("--out", default=None, help="write raw results (JSON) here")
    p.add_argument("--report", default=None, metavar="JSON", help="only print the report of an earlier run's --out")
    a = p.parse_args()
    if a.report:
        with open(a.report) as f:
            print(report(json.load(f)))
        return
    a.background = "low"  # Bench's attribute; gpucr dump's default
    if os.geteuid() != 0:
        print("SKIP: process checkpoints need root (CRIU)", file=sys.stderr)
        sys.exit(SKIP)
    criu = find_criu()
    if not criu or not criu_version(criu):
        print("SKIP: no usable CRIU 4.0 or newer (bash scripts/criu.sh provides one)", file=sys.stderr)
        sys.exit(SKIP)
    if not os.path.exists(os.path.join(os.path.abspath(a.build), "tools", "criu", "gpucr_criu.so")):
        print("SKIP: gpucr's CRIU plugin is not built (run scripts/criu.sh, then build again)", file=sys.stderr)
        sys.exit(SKIP)
    if os.path.exists(os.path.join(CRIU_DEFAULT_LIBDIR, "gpucr_criu.so")):
        sys.exit(f"bench: {CRIU_DEFAULT_LIBDIR} holds gpucr's plugin: plain CRIU would load it")
    libdir_state = (f"holds {sorted(os.listdir(CRIU_DEFAULT_LIBDIR))}" if os.path.isdir(CRIU_DEFAULT_LIBDIR)
                    else "does not exist")
    # Restored processes (plain criu restore -d) are re-parented to us, so that we can wait for them.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")
    b = CriuBench(a, criu)
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(), "command": " ".join(["python3"] + sys.argv), "criu": criu,
               "criu_version": criu_version(criu), "criu_default_libdir": CRIU_DEFAULT_LIBDIR,
               "criu_default_libdir_state": libdir_state, "reference": "run" if a.no_ref else "cpu", "apis": []}
    wrong = 0
    try:
        apis = [x for x in a.apis.split(",") if x]
        works = []
        for api in apis:
            b.use_api(api)
            w = {"api": api, "example": b.name("stencil")}
            if api == "opencl":
                try:
                    w["platform"] = choose_platform(b, a)
                except SystemExit as e:
                    if e.code != SKIP:
                        raise
                    w["skipped"] = "no OpenCL platform has a device"
                    results["apis"].append(w)
                    continue
            w["device"] = b.device_line(b.name("stencil"), True)
            steps = a.steps or DEFAULT_STEPS[api]
            args = ["--mib", str(a.mib), "--steps", str(steps), "--step-ms", str(a.step_ms)]
            w["args"] = " ".join(args)
            w["want"] = None
            if not a.no_ref:
                w["want"] = subprocess.run([b.ref, "--example", "stencil", "--mib", str(a.mib), "--gpu-steps",
                                            str(steps), "--checksum"], capture_output=True, text=True,
                                           check=True).stdout.strip()
            # Calibration: the step time the dumps are placed against.
            b.finish_app(b.start(["--mib", str(a.mib), "--steps", "3", "--step-ms", str(a.step_ms)]))
            w["calibration_median_ms"] = statistics.median(b.result_of_app()["step_ms"])
            w["platform_state"] = (b.platform_direct, b.platform_shim)
            w["stall"], w["restore"] = [], []
            print(f"  {w['example']}: {w['device']}, median step {w['calibration_median_ms']:.0f} ms", file=sys.stderr)
            works.append(w)
            results["apis"].append(w)
        if not works:
            print("SKIP: no API has a device", file=sys.stderr)
            sys.exit(SKIP)
        for rep in range(a.repeat):
            for w in works:
                b.use_api(w["api"])
                b.platform_direct, b.platform_shim = w["platform_state"]
                args = w["args"].split()
                for v in rotate(STALL_VARIANTS, rep):
                    run = b.stall_run(v, args, w["calibration_median_ms"], w["want"])
                    run["rep"] = rep
                    w["stall"].append(run)
                    wrong += not run["checksum_ok"]
                    print(f"  {w['example']} rep {rep} {v}: stall {run['stall_ms']:.0f} ms, gap stall "
                          f"{run['gap_stall_ms']:.0f} ms, dump {fmt(run.get('dump_wall_ms'))} ms, image "
                          f"{mib(run.get('image_bytes'))} MiB", file=sys.stderr)
                for v in rotate(RESTORE_VARIANTS, rep):
                    run = b.restore_run(v, args, w["calibration_median_ms"], w["want"])
                    run["rep"] = rep
                    w["restore"].append(run)
                    wrong += not run["checksum_ok"]
                    print(f"  {w['example']} rep {rep} restore {v}: restore {fmt(run['restore_ms'])} ms, first step "
                          f"{run['first_step_ms']:.0f} ms, dump {run['dump_wall_ms']:.0f} ms, image "
                          f"{mib(run['image_bytes'])} MiB", file=sys.stderr)
        if a.no_ref:  # the reference: the runs without a dump, which must agree
            for w in works:
                base = {s["checksum"] for s in w["stall"] if s["variant"] == "none"}
                if len(base) != 1:
                    sys.exit(f"bench: runs without a dump disagree: {base}")
                w["want"] = base.pop()
                for s in w["stall"] + w["restore"]:
                    s["checksum_ok"] = s["checksum"] == w["want"]
                    wrong += not s["checksum_ok"]
    except BenchError as e:
        b.kill_live()
        sys.exit(f"bench: {e}")
    finally:
        b.kill_live()
        shutil.rmtree(b.tmp, ignore_errors=True)
    for w in results["apis"]:
        w.pop("platform_state", None)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    print(report(results))
    if wrong:
        sys.exit(f"bench: {wrong} run(s) ended with a checksum different from the reference")


if __name__ == "__main__":
    main()
