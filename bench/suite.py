#!/usr/bin/env python3
"""gpucr's benchmark suite: every API and device present, the baselines side by side, one
normalized JSON ("gpucr-bench-suite v1", read by bench/report.py).

It measures nothing itself: it runs the existing harnesses as subprocesses, with sizes and
options per device, and converts their JSON into one set of records.

Devices: lavapipe (Vulkan) and PoCL (OpenCL) wherever they are installed; on a machine with an
NVIDIA GPU (nvidia-smi lists one) also NVIDIA's Vulkan driver, NVIDIA's OpenCL platform and CUDA.
Parts (--only):
  vulkan   bench/bench.py --api vulkan on lavapipe and NVIDIA (VK_DRIVER_FILES picks the driver):
           dumps of vk_stencil and vk_serving in stop (the stop-the-world baseline), cow and dirty
           mode at each size; steady-state overhead (vk_stencil/serving/manybuf) once per device;
           host memcpy bandwidth;
  opencl   bench/bench.py --api opencl, the same on PoCL and NVIDIA's platform (--platform-name);
           also the device-to-host read bandwidth (cl_read_bw);
  suspend  bench/suspend_bench.py on the Vulkan devices: resume of vk_serving and of vk_manybuf
           beside an idle object of each size, on demand against --eager (the baseline);
  criu     bench/criu_bench.py on lavapipe and PoCL: process checkpoints through CRIU with gpucr
           (dirty, stop; restores on demand and eager) against plain CRIU (the baseline); needs
           root, CRIU 4.0 or newer and gpucr's CRIU plugin, else skipped with the reason;
  cuda     bench/cuda_bench.py: cu_stencil and cu_serving dumps (cow, stop), suspend/resume (on
           demand, eager) against NVIDIA's driver checkpoint, pinned/pageable D2H bandwidth.

  python3 bench/suite.py --build build                       # everything present, default sizes
  python3 bench/suite.py --build build --only cuda --sizes-mib nvidia=1024,8192
  python3 bench/suite.py --smoke --build build --out /tmp/suite-smoke.json   # CI: does it work?

Default sizes (MiB): lavapipe and PoCL 64,256,1024; NVIDIA 1024,8192,32768 (--sizes-mib
[CLASS=]LIST, CLASS one of cpu (lavapipe and PoCL), lavapipe, pocl, nvidia; without CLASS, all).
--smoke: 8 MiB (CUDA: cuda_bench.py --quick, 64 MiB), one repetition, few steps: it checks that
the harnesses and this conversion work, its figures are not measurements.

Output: --out (default bench/results/suite-<host>-<YYYYMMDD>.json), written after every part,
and beside it <out without .json>.raw/: each harness run's own JSON (PART.json), stdout (its
Markdown report, PART.stdout) and stderr (PART.stderr). Progress on stderr. Exit status: 0 when every part ran or was skipped for a recorded
reason; 1 when one failed (its error is in "errors"; the run goes on with the next part), and
with --smoke also when no record at all was produced.

Records (one number each; "repeat" is the repetition index within its harness run):
  bench.py         per dump: stall_ms (longest step - median step), held_max_ms, held_total_ms
                   (gpucr's holds of application threads), dump_wall_ms, capture_ms, capture_gbs,
                   image_bytes; mode "plain" stall_ms: the run without a dump (its longest - median
                   step: the noise floor); overhead_pct (mode "plain": median of the pair ratios).
  suspend_bench.py resume_first_step_ms (gpucr's first_op_ms: from the resume request to the
                   first step completed after it), resume_loaded_ms; example "serving" (weights of
                   the size) or "manybuf" (8 MiB used, an idle object of the size beside it).
  criu_bench.py    example "stencil_process" (a whole-process checkpoint, not comparable with
                   bench.py's GPU-only dumps of "stencil"): modes dirty/stop (gpucr through CRIU),
                   criu (plain CRIU), plain (no dump: the noise floor): stall_ms, dump_wall_ms,
                   image_bytes; restores ondemand/eager/criu: resume_first_step_ms (restore
                   command start -> end of the first step completed after it).
  cuda_bench.py    dumps cow/stop: stall_ms, held_max_ms, held_total_ms, dump_wall_ms, capture_ms,
                   capture_gbs, image_bytes; mode plain stall_ms (noise of the dump run's quiet
                   period); resumes ondemand/eager: resume_first_step_ms, resume_loaded_ms; NVIDIA's
                   driver checkpoint, mode driver: stall_ms, capture_ms (its checkpoint_ms),
                   resume_first_step_ms, resume_loaded_ms (its resume command: restore + unlock).
Bandwidth (GB/s = 1e9 bytes/s): memcpy (host, prefaulted), cl_read (OpenCL device-to-host into
pageable memory), pinned_d2h / pageable_d2h (CUDA).
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SCHEMA = "gpucr-bench-suite v1"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(BENCH_DIR)
PARTS = ["vulkan", "opencl", "suspend", "criu", "cuda"]
DEVICES = ["lavapipe", "pocl", "nvidia"]
DEFAULT_SIZES = {"lavapipe": [64, 256, 1024], "pocl": [64, 256, 1024], "nvidia": [1024, 8192, 32768]}
SIZE_CLASSES = {"cpu": ["lavapipe", "pocl"], "lavapipe": ["lavapipe"], "pocl": ["pocl"], "nvidia": ["nvidia"]}
SKIP = 77  # the harnesses' exit status for "skipped"
GIB_S = 2**30 / 1e9  # GiB/s -> GB/s
MIB_S = 2**20 / 1e9  # MiB/s -> GB/s
PROCESS_EXAMPLE = "stencil_process"  # criu_bench.py's whole-process checkpoints of the stencil example

# The smoke sizes: those of the former bench_smoke_{vulkan,opencl,criu} meson tests (CRIU: 80 steps, not 150:
# enough for the application to outlive its dump at 8 MiB, and 40 s less).
SMOKE_BENCH = ["--mib", "8", "--steps", "100", "--step-ms", "20", "--repeat", "1", "--pairs", "1",
               "--modes", "stop,cow,dirty", "--serving-modes", "cow", "--serving-steps", "400"]
SMOKE_SUSPEND = ["--sizes", "8", "--repeat", "1", "--migrate-mib", "8"]
SMOKE_CRIU = ["--mib", "8", "--steps", "80", "--step-ms", "20", "--repeat", "1"]

VK_ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
               "/usr/local/nvidia/share/vulkan/icd.d"]
NVIDIA_OPENCL_LIBS = ["/usr/local/nvidia/lib64/libnvidia-opencl.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1",
                      "/usr/lib64/libnvidia-opencl.so.1"]


def number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def tail(text, n=800):
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


def mib_of_args(args):
    m = re.search(r"--mib\s+(\d+)", args or "")
    return int(m.group(1)) if m else None


def strip_prefix(example):
    return re.sub(r"^(vk|cl|cu)_", "", example or "")


def run_quiet(cmd, env=None, timeout=60):
    """(returncode, stdout, stderr); (None, '', why) when it cannot run."""
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)


def parse_sizes(values, p):
    sizes = {d: list(s) for d, s in DEFAULT_SIZES.items()}
    for v in values or []:
        cls, _, lst = v.rpartition("=")
        classes = SIZE_CLASSES.get(cls) if cls else DEVICES
        if classes is None:
            p.error(f"--sizes-mib {v}: unknown class {cls!r} (have: {', '.join(SIZE_CLASSES)})")
        try:
            mibs = sorted({int(x) for x in lst.split(",") if x.strip()})
        except ValueError:
            p.error(f"--sizes-mib {v}: not a list of integers")
        if not mibs or mibs[0] < 1:
            p.error(f"--sizes-mib {v}: sizes must be positive")
        for d in classes:
            sizes[d] = mibs
    return sizes


class Suite:
    def __init__(self, a, argv):
        self.a = a
        self.t0 = time.monotonic()
        self.build = os.path.abspath(a.build)
        self.out = os.path.abspath(a.out)
        self.raw = os.path.splitext(self.out)[0] + ".raw"
        self.tmp = tempfile.mkdtemp(prefix="gpucr-suite-")
        self.env = dict(os.environ)
        self.env.setdefault("XDG_RUNTIME_DIR", self.tmp)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.current = None  # the harness running now (Popen)
        self.parts = []
        now = datetime.datetime.now(datetime.timezone.utc)
        self.r = {
            "schema": SCHEMA, "date": now.isoformat(timespec="seconds"), "host": platform.node(),
            "kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": cpu_model(),
            "command": " ".join(shlex.quote(x) for x in ["python3"] + argv), "commit": git_commit(),
            "smoke": bool(a.smoke), "build": self.build, "raw": self.raw,
            "devices": [], "bandwidth": [], "records": [], "errors": [], "goals": [], "parts": self.parts,
        }

    # -- progress, results ----------------------------------------------------------------
    def log(self, msg):
        print(f"[suite {time.monotonic() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def error(self, source, device, message, api=None):
        e = {"source": source, "device": device, "message": message}
        if api:
            e["api"] = api
        self.r["errors"].append(e)
        self.log(f"ERROR {source} {device or ''}: {tail(message, 400)}")

    def add(self, device, api, example, mib, mode, metric, value, repeat, source):
        v = number(value)
        if v is None:
            return
        if isinstance(value, int) or (metric == "image_bytes" and v.is_integer()):
            v = int(v)
        self.r["records"].append({"device": device, "api": api, "example": example, "mib": mib, "mode": mode,
                                  "metric": metric, "value": v, "repeat": repeat if repeat is not None else 0,
                                  "source": source})

    def bandwidth(self, device, api, kind, gbs, source, nbytes=None):
        v = number(gbs)
        if v is None:
            return
        b = {"device": device, "api": api, "kind": kind, "gbs": round(v, 4), "source": source}
        if nbytes:
            b["bytes"] = nbytes
        if b not in self.r["bandwidth"]:
            self.r["bandwidth"].append(b)

    def write(self):
        self.r["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        self.r["goals"] = goals(self.r["records"], self.r["bandwidth"])
        if self.a.dry_run:
            return
        os.makedirs(os.path.dirname(self.out) or ".", exist_ok=True)
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.r, f, indent=1)
        os.replace(tmp, self.out)

    # -- devices --------------------------------------------------------------------------
    def probe(self, parts, devices):
        """What is present: fills self.targets {(device, api): env or None} with the reason of
        each absent one in self.absent {(device, api): why}, and the devices list."""
        self.targets, self.absent = {}, {}
        want_vk = {"vulkan", "suspend", "criu"} & set(parts)
        want_cl = {"opencl", "criu"} & set(parts)
        # lavapipe
        if "lavapipe" in devices and want_vk:
            icd = find_icd("lvp_icd")
            if icd:
                self.targets[("lavapipe", "vulkan")] = vk_env(self.env, icd)
                name, driver, src = self.vk_device(self.targets[("lavapipe", "vulkan")])
                self.device_entry("lavapipe", "vulkan", name, driver, src)
            else:
                self.absent[("lavapipe", "vulkan")] = f"no lavapipe ICD (lvp_icd*.json) in {', '.join(VK_ICD_DIRS)}"
        # NVIDIA
        nvidia = None
        if "nvidia" in devices:
            nvidia = self.nvidia_smi()
        # OpenCL platforms (PoCL; NVIDIA's, registered by hand where the system lacks its ICD file)
        cl_tool = os.path.join(self.build, "bench", "cl_read_bw")
        platforms = None
        if want_cl and ({"pocl", "nvidia"} & set(devices)):
            if not os.access(cl_tool, os.X_OK):
                why = f"{cl_tool} is not built (no OpenCL ICD loader at configure time?)"
                for d in ("pocl", "nvidia"):
                    self.absent[(d, "opencl")] = why
            else:
                platforms = self.cl_platforms(cl_tool, self.env)
        if "pocl" in devices and want_cl and platforms is not None:
            p = pick_platform(platforms, "pocl")
            if p:
                self.targets[("pocl", "opencl")] = dict(self.env)
                self.device_entry("pocl", "opencl", p["devices"][0]["name"],
                                  "PoCL " + p["devices"][0].get("driver", "?"), "cl_read_bw --list",
                                  platform=p["name"], platform_version=p.get("version"))
            else:
                self.absent[("pocl", "opencl")] = "no OpenCL platform named like 'pocl' has a device"
        if nvidia is None:
            if "nvidia" in devices:
                for api in ("vulkan", "opencl", "cuda"):
                    self.absent[("nvidia", api)] = "no NVIDIA GPU (nvidia-smi not found)"
            return
        if "error" in nvidia:
            for api in ("vulkan", "opencl", "cuda"):
                self.absent[("nvidia", api)] = nvidia["error"]
            self.error("suite.py", "nvidia", nvidia["error"])
            return
        if want_vk:
            icd = find_icd("nvidia_icd")
            if icd:
                env = vk_env(self.env, icd)
                self.targets[("nvidia", "vulkan")] = env
                name, driver, src = self.vk_device(env)
                self.device_entry("nvidia", "vulkan", name or nvidia["name"], driver or nvidia["driver"], src)
            else:
                self.absent[("nvidia", "vulkan")] = f"no NVIDIA Vulkan ICD (nvidia_icd*.json) in {', '.join(VK_ICD_DIRS)}"
        if want_cl and platforms is not None:
            env = dict(self.env)
            p = pick_platform(platforms, "nvidia")
            if not p:
                lib = next((x for x in NVIDIA_OPENCL_LIBS if os.path.exists(x)), None)
                if lib:  # the system registers no ICD file for it: a vendors directory with it added
                    vendors = os.path.join(self.tmp, "vendors")
                    os.makedirs(vendors, exist_ok=True)
                    for f in glob.glob("/etc/OpenCL/vendors/*.icd"):
                        shutil.copy(f, vendors)
                    with open(os.path.join(vendors, "nvidia-suite.icd"), "w") as f:
                        f.write(lib + "\n")
                    env["OCL_ICD_VENDORS"] = vendors
                    listed = self.cl_platforms(cl_tool, env)
                    p = pick_platform(listed or [], "nvidia")
            if p:
                self.targets[("nvidia", "opencl")] = env
                self.device_entry("nvidia", "opencl", p["devices"][0]["name"], p["devices"][0].get("driver"),
                                  "cl_read_bw --list", platform=p["name"], platform_version=p.get("version"))
            else:
                self.absent[("nvidia", "opencl")] = "no OpenCL platform named like 'NVIDIA' has a device"
        if "cuda" in parts:
            missing = [x for x in (os.path.join(self.build, "examples", "cuda", "cu_stencil"),
                                   os.path.join(self.build, "layers", "cuda", "gpucr-cuda-checkpoint"))
                       if not os.access(x, os.X_OK)]
            if missing:
                self.absent[("nvidia", "cuda")] = (f"CUDA parts not built in {self.build} (meson -Dcuda=enabled, "
                                                   f"nvcc): {', '.join(missing)}")
            else:
                self.targets[("nvidia", "cuda")] = dict(self.env)
            self.device_entry("nvidia", "cuda", nvidia["name"], nvidia["driver"], "nvidia-smi")

    def device_entry(self, dev, api, name, driver, source, **extra):
        entry = {"id": dev, "api": api, "name": name, "driver": driver, "source": source}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.r["devices"] = [d for d in self.r["devices"] if (d["id"], d["api"]) != (dev, api)] + [entry]

    def nvidia_smi(self):
        if not shutil.which("nvidia-smi"):
            return None
        rc, out, err = run_quiet(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
        gpus = [line.split(",") for line in out.splitlines() if line.strip()] if rc == 0 else []
        if not gpus:
            return {"error": f"nvidia-smi is present but lists no GPU ({rc}): {tail(err or out, 300)}"}
        i = min(self.a.cuda_device, len(gpus) - 1)
        return {"name": gpus[i][0].strip(), "driver": gpus[i][-1].strip(), "count": len(gpus)}

    def cl_platforms(self, tool, env):
        rc, out, err = run_quiet([tool, "--list"], env=env)
        if rc != 0:
            self.log(f"cl_read_bw --list failed ({rc}): {tail(err, 300)}")
            return []
        try:
            return json.loads(out)["platforms"]
        except (ValueError, KeyError):
            return []

    def vk_device(self, env):
        """(name, driver, source) of the Vulkan device the env selects: vulkaninfo --summary, else
        the example's own setup line (no driver version then)."""
        if shutil.which("vulkaninfo"):
            rc, out, _ = run_quiet(["vulkaninfo", "--summary"], env=env)
            if rc == 0:
                fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.*?)\s*$", out.split("Devices:", 1)[-1], re.M))
                if fields.get("deviceName"):
                    return fields["deviceName"], fields.get("driverInfo") or fields.get("driverVersion"), \
                        "vulkaninfo --summary"
        ex = os.path.join(self.build, "examples", "vulkan", "vk_stencil")
        rc, _, err = run_quiet([ex, "--mib", "1", "--steps", "0"], env=env)
        for line in (err or "").splitlines():
            if line.startswith("vk_stencil: ") and "memory objects" in line:
                return line[len("vk_stencil: "):].rsplit(", ", 4)[0], None, "vk_stencil"
        return None, None, None

    # -- running a harness ------------------------------------------------------------------
    def run_part(self, pid, source, device, api, args, env, convert):
        """Runs bench/<source> with args (+ --out), converts what it wrote; one entry in parts."""
        os.makedirs(self.raw, exist_ok=True)
        base = os.path.join(self.raw, pid)
        out_json = base + ".json"
        for p in (out_json, base + ".stdout", base + ".stderr"):
            if os.path.exists(p):
                os.remove(p)
        cmd = [sys.executable, os.path.join(BENCH_DIR, source)] + args + ["--out", out_json]
        part = {"id": pid, "source": source, "device": device, "api": api,
                "command": " ".join(shlex.quote(x) for x in ["python3", "bench/" + source] + args +
                                    ["--out", shown_path(out_json)]),
                "status": "running", "raw": os.path.relpath(out_json, os.path.dirname(self.out))}
        self.parts.append(part)
        self.log(f"{pid}: {part['command']}")
        if self.a.dry_run:
            part["status"] = "planned"
            return
        t0 = time.monotonic()
        timeout = self.a.part_timeout_s or None
        lines = []
        with open(base + ".stdout", "w") as md, open(base + ".stderr", "w") as log:
            proc = subprocess.Popen(cmd, cwd=SOURCE_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=md,
                                    stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
            self.current = proc

            def pump():
                for line in proc.stderr:
                    log.write(line)
                    log.flush()
                    lines.append(line.rstrip("\n"))
                    print(f"    {pid}| {line.rstrip()}", file=sys.stderr, flush=True)

            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.stop(proc)
            except KeyboardInterrupt:  # SIGTERM or ^C: the harness goes too
                self.stop(proc)
                part["status"] = "failed"
                raise
            self.current = None
            reader.join(timeout=30)
        rc = proc.returncode
        part["rc"] = rc
        part["wall_s"] = round(time.monotonic() - t0, 1)
        data = None
        if os.path.exists(out_json):
            try:
                with open(out_json) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                self.error(source, device, f"{pid}: its JSON is unreadable: {e}", api)
        n0, e0 = len(self.r["records"]), len(self.r["errors"])
        if data is not None:
            try:
                convert(data, part)
            except Exception as e:  # noqa: BLE001 -- a conversion bug is recorded, the run goes on
                self.error("suite.py", device, f"{pid}: converting {source}'s JSON failed: "
                                               f"{type(e).__name__}: {e}", api)
        part["records"] = len(self.r["records"]) - n0
        if timed_out:
            self.error(source, device, f"{pid}: stopped after --part-timeout-s {self.a.part_timeout_s:g} s", api)
        elif rc == SKIP:
            reasons = [ln.split("SKIP:", 1)[1].strip() for ln in lines if "SKIP:" in ln]
            part["status"] = "skipped"
            part["reason"] = reasons[-1] if reasons else f"{source} exited {SKIP} (skipped)"
            self.log(f"{pid}: skipped: {part['reason']}")
        elif rc != 0:
            msg = "\n".join(ln for ln in lines[-8:] if ln.strip())
            self.error(source, device, f"{pid}: exit status {rc}: {tail(msg)}", api)
        elif data is None:
            self.error(source, device, f"{pid}: wrote no JSON", api)
        if part["status"] == "running":
            part["status"] = "failed" if len(self.r["errors"]) > e0 else "ok"
        self.log(f"{pid}: {part['status']} in {part['wall_s']:.0f} s, {part['records']} records")
        self.write()

    def skip(self, pid, source, device, api, reason):
        self.parts.append({"id": pid, "source": source, "device": device, "api": api, "status": "skipped",
                           "reason": reason})
        self.log(f"{pid}: skipped: {reason}")

    @staticmethod
    def stop(proc):
        """SIGTERM to the harness's process group (it started it; cuda_bench.py writes what it has),
        then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- the parts ----------------------------------------------------------------------------
    def common(self):
        return ["--build", self.build] + (["--tmp", self.a.tmp] if self.a.tmp else [])

    def bench_args(self, dev, api, mib, first):
        a = self.a
        if a.smoke:
            args = list(SMOKE_BENCH)
        else:
            if dev == "nvidia":
                steps, serving = max(60, math.ceil(30 * mib / 1024)), max(2000, math.ceil(800 * mib / 1024))
            else:
                steps, serving = (16 if api == "vulkan" else 30), 2000
            args = ["--mib", str(mib), "--steps", str(steps), "--step-ms", "100", "--repeat", str(a.repeat),
                    "--pairs", str(a.pairs), "--modes", "stop,cow,dirty", "--serving-modes", "stop,cow,dirty",
                    "--serving-steps", str(serving)]
            if not first:
                args.append("--skip-overhead")
            if dev == "nvidia":
                args.append("--no-ref")  # the CPU reference takes minutes at these sizes
        if api == "opencl":
            args += ["--platform-name", "pocl" if dev == "pocl" else "NVIDIA"]
        return ["--api", api] + args

    def run(self, parts, devices):
        a = self.a
        self.probe(parts, devices)
        self.write()
        plan = []  # (part, device, api)
        for dev in devices:
            if dev == "lavapipe":
                plan += [("vulkan", "lavapipe", "vulkan"), ("suspend", "lavapipe", "vulkan")]
            elif dev == "pocl":
                plan += [("opencl", "pocl", "opencl")]
            else:
                plan += [("cuda", "nvidia", "cuda"), ("vulkan", "nvidia", "vulkan"), ("opencl", "nvidia", "opencl"),
                         ("suspend", "nvidia", "vulkan")]
            if dev == "pocl" or (dev == "lavapipe" and "pocl" not in devices):
                plan.append(("criu", "lavapipe+pocl", None))
        for part, dev, api in plan:
            if part not in parts:
                continue
            if part == "criu":
                self.run_criu(devices)
                continue
            pid_base = f"{part}-{dev}"
            if (dev, api) not in self.targets:
                self.skip(pid_base, source_of(part), dev, api, self.absent.get((dev, api), "not present"))
                continue
            env = self.targets[(dev, api)]
            sizes = [8] if a.smoke else a.sizes[dev]
            if part in ("vulkan", "opencl"):
                for i, mib in enumerate(sizes):
                    self.run_part(f"{pid_base}-{mib}", "bench.py", dev, api, self.common() +
                                  self.bench_args(dev, api, mib, i == 0), env,
                                  lambda d, p, dev=dev, api=api, mib=mib: self.from_bench(d, p, dev, api, mib))
            elif part == "suspend":
                args = list(SMOKE_SUSPEND) if a.smoke else [
                    "--sizes", ",".join(map(str, sizes)), "--repeat", str(a.repeat),
                    "--migrate-mib", "32" if dev == "nvidia" else "64"]
                self.run_part(pid_base, "suspend_bench.py", dev, api, self.common() + args, env,
                              lambda d, p, dev=dev: self.from_suspend(d, p, dev))
            elif part == "cuda":
                args = ["--build", self.build, "--examples", "stencil,serving", "--device", str(a.cuda_device)]
                if a.smoke:
                    args += ["--quick", "--budget-s", "150"]
                else:
                    args += ["--sizes-gib", ",".join(f"{m / 1024:g}" for m in sizes), "--repeat", str(a.repeat),
                             "--modes", "cow,stop"]
                    if a.cuda_budget_s is not None:
                        args += ["--budget-s", f"{a.cuda_budget_s:g}"]
                if a.tmp:
                    args += ["--image-dir", os.path.join(a.tmp, "gpucr-bench-images")]
                self.run_part(pid_base, "cuda_bench.py", dev, api, args, env, self.from_cuda)

    def run_criu(self, devices):
        a = self.a
        apis, why = [], []
        for dev, api in (("lavapipe", "vulkan"), ("pocl", "opencl")):
            if dev not in devices:
                continue
            if (dev, api) in self.targets:
                apis.append(api)
            else:
                why.append(f"{dev}: {self.absent.get((dev, api), 'not present')}")
        if not apis:
            self.skip("criu", "criu_bench.py", "lavapipe+pocl", None, "; ".join(why) or "no device selected")
            return
        env = dict(self.targets.get(("lavapipe", "vulkan")) or self.env)
        if a.smoke:
            args = list(SMOKE_CRIU)
        else:
            mib = a.criu_mib or max(a.sizes["lavapipe"] + a.sizes["pocl"])
            args = ["--mib", str(mib), "--repeat", str(a.repeat)]
        args += ["--apis", ",".join(apis)] + (["--platform-name", "pocl"] if "opencl" in apis else [])
        self.run_part("criu", "criu_bench.py", "lavapipe+pocl", None, self.common() + args, env, self.from_criu)
        if why:
            self.parts[-1]["notes"] = why

    # -- conversions: one harness's JSON -> records ---------------------------------------------
    def from_bench(self, d, part, dev, api, mib):
        src = "bench.py"
        mc = d.get("memcpy") or {}
        self.bandwidth(dev, api, "memcpy", number(mc.get("prefaulted_gib_s")) and mc["prefaulted_gib_s"] * GIB_S,
                       src, mc.get("bytes"))
        bw = d.get("cl_read_bw") or {}
        self.bandwidth(dev, api, "cl_read", number(bw.get("pageable_gib_s")) and bw["pageable_gib_s"] * GIB_S,
                       src, bw.get("bytes"))
        if api == "opencl" and d.get("device", {}).get("direct"):
            part["device_line"] = d["device"]["direct"]
        for w in d.get("workloads", []):
            ex = w.get("example")
            wm = mib_of_args(w.get("args")) or mib
            if number(w.get("max_ms")) is not None and number(w.get("median_ms")) is not None:
                self.add(dev, api, ex, wm, "plain", "stall_ms", w["max_ms"] - w["median_ms"], 0, src)
            if w.get("base_checksum_ok") is False:
                self.error(src, dev, f"{part['id']}: {ex} without a dump ended with a wrong checksum", api)
            for run in w.get("dumps", []):
                mode, rep = run.get("mode"), run.get("rep")
                st = (run.get("dump") or {}).get("stats") or {}
                eng = run.get("engine") or {}
                for metric, value in (("stall_ms", run.get("stall_ms")), ("held_max_ms", st.get("held_max_ms")),
                                      ("held_total_ms", st.get("held_total_ms")), ("dump_wall_ms", st.get("wall_ms")),
                                      ("capture_ms", eng.get("capture_ms")),
                                      ("capture_gbs", number(eng.get("capture_mib_s")) and eng["capture_mib_s"] * MIB_S),
                                      ("image_bytes", (run.get("dump") or {}).get("image_bytes"))):
                    self.add(dev, api, ex, wm, mode, metric, value, rep, src)
                if run.get("checksum_ok") is False:
                    self.error(src, dev, f"{part['id']}: {ex} {mode} rep {rep}: wrong final checksum", api)
        for o in d.get("overhead", []):
            self.add(dev, api, strip_prefix(o.get("example")), mib_of_args(o.get("args")), "plain", "overhead_pct",
                     o.get("overhead_pct"), 0, src)

    def from_suspend(self, d, part, dev):
        src, api = "suspend_bench.py", "vulkan"
        reps = {}
        for r in d.get("resume", []):
            ex = "serving" if r.get("workload", "serving") == "serving" else "manybuf"
            key = (ex, r.get("mib"), r.get("mode"))
            rep = reps.get(key, 0)
            reps[key] = rep + 1
            st = provider_stats(r.get("resume") or {})
            self.add(dev, api, ex, r.get("mib"), r.get("mode"), "resume_first_step_ms", st.get("first_op_ms"), rep, src)
            self.add(dev, api, ex, r.get("mib"), r.get("mode"), "resume_loaded_ms", st.get("loaded_ms"), rep, src)
        part["migrate_runs"] = len(d.get("migrate", []))  # no metric of the schema: raw JSON only

    def from_criu(self, d, part):
        src = "criu_bench.py"
        devs = {"vulkan": "lavapipe", "opencl": "pocl"}
        stall_modes = {"none": "plain", "gpucr_dirty": "dirty", "gpucr_stop": "stop", "criu": "criu"}
        restore_modes = {"gpucr_ondemand": "ondemand", "gpucr_eager": "eager", "criu": "criu"}
        part["criu_version"] = d.get("criu_version")
        for w in d.get("apis", []):
            api = w.get("api")
            dev = devs.get(api, api)
            if w.get("skipped"):
                part.setdefault("notes", []).append(f"{api}: skipped ({w['skipped']})")
                continue
            mib = mib_of_args(w.get("args"))
            for s in w.get("stall", []):
                mode = stall_modes.get(s.get("variant"), s.get("variant"))
                self.add(dev, api, PROCESS_EXAMPLE, mib, mode, "stall_ms", s.get("stall_ms"), s.get("rep"), src)
                if mode != "plain":
                    self.add(dev, api, PROCESS_EXAMPLE, mib, mode, "dump_wall_ms", s.get("dump_wall_ms"), s.get("rep"),
                             src)
                    self.add(dev, api, PROCESS_EXAMPLE, mib, mode, "image_bytes", s.get("image_bytes"), s.get("rep"), src)
                if s.get("checksum_ok") is False:
                    self.error(src, dev, f"criu: {w.get('example')} {s.get('variant')} rep {s.get('rep')}: wrong "
                                         "final checksum", api)
            for s in w.get("restore", []):
                mode = restore_modes.get(s.get("variant"), s.get("variant"))
                self.add(dev, api, PROCESS_EXAMPLE, mib, mode, "resume_first_step_ms", s.get("first_step_ms"),
                         s.get("rep"), src)
                if s.get("checksum_ok") is False:
                    self.error(src, dev, f"criu: {w.get('example')} restore {s.get('variant')} rep {s.get('rep')}: "
                                         "wrong final checksum", api)

    def from_cuda(self, d, part):
        src, dev, api = "cuda_bench.py", "nvidia", "cuda"
        d2h = d.get("d2h") or {}
        if "error" in d2h:
            self.error(src, dev, f"cu_d2h_bw: {d2h['error']}", api)
        self.bandwidth(dev, api, "pinned_d2h", d2h.get("pinned_d2h_gbs"), src, d2h.get("bytes"))
        self.bandwidth(dev, api, "pageable_d2h", d2h.get("pageable_d2h_gbs"), src, d2h.get("bytes"))
        if d2h.get("device_name"):
            for e in self.r["devices"]:
                if (e["id"], e["api"]) == (dev, api) and not e.get("name"):
                    e["name"] = d2h["device_name"]
        notes = []

        def problem(msg):
            if "skipped" in msg:  # a measurement the disk, memory or time budget did not allow
                notes.append(msg)
            else:
                self.error(src, dev, msg, api)

        for msg in d.get("errors", []):
            problem(str(msg))
        for it in d.get("items", []):
            ex, mib = it.get("example"), it.get("mib")
            name = f"cu_{ex} {mib} MiB"
            for msg in it.get("errors", []):
                problem(f"{name}: {msg}")
            notes += [f"{name}: {n}" for n in it.get("notes", [])]
            noise = ((it.get("runs") or {}).get("dump") or {}).get("noise_ms")
            self.add(dev, api, ex, mib, "plain", "stall_ms", noise, 0, src)
            for e in it.get("dumps", []):
                if "error" in e:
                    problem(f"{name} dump {e.get('mode')} rep {e.get('rep')}: {e['error']}")
                eng = e.get("engine") or {}
                for metric, value in (("stall_ms", None if "error" in e else e.get("stall_ms")),
                                      ("held_max_ms", e.get("held_max_ms")), ("held_total_ms", eng.get("held_total_ms")),
                                      ("dump_wall_ms", e.get("dump_wall_ms")), ("capture_ms", eng.get("capture_ms")),
                                      ("capture_gbs", e.get("capture_gbs")), ("image_bytes", e.get("image_bytes"))):
                    self.add(dev, api, ex, mib, e.get("mode"), metric, value, e.get("rep"), src)
            for e in it.get("resumes", []):
                if "error" in e:
                    problem(f"{name} resume {e.get('mode')} rep {e.get('rep')}: {e['error']}")
                self.add(dev, api, ex, mib, e.get("mode"), "resume_first_step_ms", e.get("first_step_after_resume_ms"),
                         e.get("rep"), src)
                self.add(dev, api, ex, mib, e.get("mode"), "resume_loaded_ms", e.get("loaded_ms"), e.get("rep"), src)
            for e in it.get("driver", []):
                if "error" in e:
                    problem(f"{name} driver checkpoint rep {e.get('rep')}: {e['error']}")
                    continue
                self.add(dev, api, ex, mib, "driver", "stall_ms", e.get("stall_ms"), e.get("rep"), src)
                self.add(dev, api, ex, mib, "driver", "capture_ms", (e.get("suspend") or {}).get("checkpoint_ms"),
                         e.get("rep"), src)
                self.add(dev, api, ex, mib, "driver", "resume_first_step_ms", e.get("first_step_after_resume_ms"),
                         e.get("rep"), src)
                self.add(dev, api, ex, mib, "driver", "resume_loaded_ms", e.get("resume_client_ms"), e.get("rep"), src)
        if notes:
            part["notes"] = notes


def shown_path(path):
    """path relative to the source tree when it is inside it (commands run from there), else as is."""
    rel = os.path.relpath(path, SOURCE_ROOT)
    return path if rel.startswith("..") else rel


def source_of(part):
    return {"vulkan": "bench.py", "opencl": "bench.py", "suspend": "suspend_bench.py", "criu": "criu_bench.py",
            "cuda": "cuda_bench.py"}[part]


def provider_stats(reply):
    """The per-API statistics inside a resume reply (as suspend_bench.py reads them)."""
    st = reply.get("stats", reply) if isinstance(reply, dict) else {}
    for api in ("vulkan", "opencl", "cuda"):
        if isinstance(st.get(api), dict):
            return st[api]
    return st


def pick_platform(platforms, like):
    for p in platforms:
        if p.get("devices") and (like in p.get("name", "").lower() or like in p.get("vendor", "").lower()):
            return p
    return None


def find_icd(prefix):
    for d in VK_ICD_DIRS:
        found = sorted(glob.glob(os.path.join(d, prefix + "*.json")))
        if found:
            return found[0]
    return None


def vk_env(env, icd):
    e = dict(env)
    e["VK_DRIVER_FILES"] = icd  # loader 1.3.207 and newer
    e["VK_ICD_FILENAMES"] = icd  # older loaders
    return e


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def git_commit():
    rc, out, _ = run_quiet(["git", "-C", SOURCE_ROOT, "rev-parse", "--short", "HEAD"], timeout=10)
    return out.strip() if rc == 0 and out.strip() else None


# -- goals --------------------------------------------------------------------------------------
YARDSTICK = {"cuda": ["pinned_d2h", "pageable_d2h", "memcpy"], "opencl": ["cl_read", "memcpy"],
             "vulkan": ["memcpy", "pinned_d2h", "cl_read"]}
STALL_GOAL_MS, STALL_GOAL_MIB = 10.0, 8192
CAPTURE_GOAL_PCT = 80.0
RESUME_GOAL_MS = 50.0
OVERHEAD_GOAL_PCT = 3.0
NOT_MEASURED = "not measured in this run"


def goals(records, bandwidth):
    def sel(**match):
        return [r for r in records if all(r.get(k) == v if not callable(v) else v(r.get(k)) for k, v in match.items())]

    def groups(recs, with_example=True):
        keys = []
        for r in recs:
            k = (r["device"], r["api"], r["example"] if with_example else None)
            if k not in keys:
                keys.append(k)
        return keys

    def med(recs, **match):
        return median([r["value"] for r in recs if all(r.get(k) == v for k, v in match.items())])

    out = []
    gpu_examples = lambda ex: ex != PROCESS_EXAMPLE  # noqa: E731

    # 1. cow stall under 10 ms at 8 GiB
    name, target = "cow stall at 8 GiB", f"< {STALL_GOAL_MS:g} ms"
    cow = sel(mode="cow", metric="stall_ms", example=gpu_examples)
    for dev, api, ex in groups(cow):
        recs = [r for r in cow if (r["device"], r["api"], r["example"]) == (dev, api, ex)]
        at = med(recs, mib=STALL_GOAL_MIB)
        g = {"name": name, "target": target, "device": dev, "api": api, "example": ex}
        if at is None:
            biggest = max(r["mib"] for r in recs)
            g.update(measured=None, met=None, gap=NOT_MEASURED,
                     cause=f"largest size measured {biggest} MiB: cow stall {med(recs, mib=biggest):.1f} ms")
        else:
            met = at < STALL_GOAL_MS
            g.update(measured=round(at, 3), met=met, gap="" if met else f"{at - STALL_GOAL_MS:.1f} ms over",
                     cause="" if met else stall_cause(records, dev, api, ex, STALL_GOAL_MIB, at))
        out.append(g)
    if not cow:
        out.append({"name": name, "target": target, "device": None, "api": None, "example": None, "measured": None,
                    "met": None, "gap": NOT_MEASURED, "cause": ""})

    # 2. capture at >= 80% of the measured copy bandwidth (cow, largest size measured)
    name, target = "capture throughput", f">= {CAPTURE_GOAL_PCT:g}% of the measured copy bandwidth"
    cap = sel(mode="cow", metric="capture_gbs", example=gpu_examples)
    for dev, api, ex in groups(cap):
        recs = [r for r in cap if (r["device"], r["api"], r["example"]) == (dev, api, ex)]
        biggest = max(r["mib"] for r in recs)
        gbs = med(recs, mib=biggest)
        kind, ref = yardstick(bandwidth, dev, api)
        g = {"name": name, "target": target, "device": dev, "api": api, "example": ex, "mib": biggest}
        if ref is None:
            g.update(measured=None, met=None, gap=NOT_MEASURED, cause=f"capture {gbs:.2f} GB/s; no copy bandwidth measured")
        else:
            pct = 100.0 * gbs / ref
            met = pct >= CAPTURE_GOAL_PCT
            stop = med(sel(device=dev, api=api, example=ex, mib=biggest, mode="stop", metric="capture_gbs"))
            g.update(measured=round(pct, 1), met=met,
                     gap="" if met else f"{CAPTURE_GOAL_PCT - pct:.0f} points below",
                     cause=(f"cow capture {gbs:.2f} GB/s at {biggest} MiB against {kind} {ref:.2f} GB/s"
                            + (f"; stop mode {stop:.2f} GB/s ({100 * stop / ref:.0f}%)" if stop is not None else "")))
        out.append(g)
    if not cap:
        out.append({"name": name, "target": target, "device": None, "api": None, "example": None, "measured": None,
                    "met": None, "gap": NOT_MEASURED, "cause": ""})

    # 3. resume to the first step under 50 ms, independent of state size (in-place resume on demand)
    name, target = "resume to first step", f"< {RESUME_GOAL_MS:g} ms at every size"
    res = sel(mode="ondemand", metric="resume_first_step_ms", example=gpu_examples)
    for dev, api, ex in groups(res):
        recs = [r for r in res if (r["device"], r["api"], r["example"]) == (dev, api, ex)]
        per = {m: med(recs, mib=m) for m in sorted({r["mib"] for r in recs})}
        worst_mib = max(per, key=per.get)
        worst = per[worst_mib]
        met = worst < RESUME_GOAL_MS
        eager = med(sel(device=dev, api=api, example=ex, mib=worst_mib, mode="eager", metric="resume_first_step_ms"))
        sizes = ", ".join(f"{v:.0f} ms at {m} MiB" for m, v in per.items())
        cause = f"on demand: {sizes}"
        if len(per) > 1 and per[max(per)] > 2 * max(per[min(per)], 1.0):
            cause += " (grows with the state size)"
        if eager is not None:
            cause += f"; eager {eager:.0f} ms at {worst_mib} MiB"
        out.append({"name": name, "target": target, "device": dev, "api": api, "example": ex,
                    "measured": round(worst, 2), "met": met,
                    "gap": "" if met else f"{worst - RESUME_GOAL_MS:.0f} ms over at {worst_mib} MiB",
                    "cause": "" if met else cause, "detail": cause})
    if not res:
        out.append({"name": name, "target": target, "device": None, "api": None, "example": None, "measured": None,
                    "met": None, "gap": NOT_MEASURED, "cause": ""})

    # 4. steady-state overhead within 3%
    name, target = "steady-state overhead", f"<= {OVERHEAD_GOAL_PCT:g}%"
    ovh = sel(metric="overhead_pct")
    for dev, api, ex in groups(ovh):
        recs = [r for r in ovh if (r["device"], r["api"], r["example"]) == (dev, api, ex)]
        v = median([r["value"] for r in recs])
        met = v <= OVERHEAD_GOAL_PCT
        cause = ""
        if v < 0:
            cause = "negative: faster with gpucr than without, i.e. within the machine's noise"
        elif not met:
            cause = "median step with gpucr over without it, with no dump running"
        out.append({"name": name, "target": target, "device": dev, "api": api, "example": ex,
                    "measured": round(v, 2), "met": met, "gap": "" if met else f"{v - OVERHEAD_GOAL_PCT:.1f} points over",
                    "cause": cause})
    if not ovh:
        out.append({"name": name, "target": target, "device": None, "api": None, "example": None, "measured": None,
                    "met": None, "gap": NOT_MEASURED, "cause": ""})
    return out


def stall_cause(records, dev, api, ex, mib, stall):
    """What the records say about a missed stall goal: the noise floor, gpucr's holds."""
    def med(mode, metric):
        return median([r["value"] for r in records if (r["device"], r["api"], r["example"], r["mib"], r["mode"],
                                                       r["metric"]) == (dev, api, ex, mib, mode, metric)])
    parts = []
    noise = med("plain", "stall_ms")
    if noise is not None:
        parts.append(f"the run without a dump varies by {noise:.1f} ms (noise floor)")
    held = med("cow", "held_max_ms")
    if held is not None:
        parts.append(f"gpucr's longest hold of an application thread {held:.1f} ms")
    stop = med("stop", "stall_ms")
    if stop is not None:
        parts.append(f"stop mode stalls {stop:.0f} ms")
    return "; ".join(parts)


def yardstick(bandwidth, dev, api):
    by = {}
    for b in bandwidth:
        if b.get("device") == dev and b.get("api") in (None, api) and number(b.get("gbs")) is not None:
            by.setdefault(b["kind"], []).append(b["gbs"])
    for kind in YARDSTICK.get(api, []):
        if kind in by:
            return kind, median(by[kind])
    return None, None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--build", default="build", help="build directory (default: build)")
    p.add_argument("--out", default=None,
                   help="results JSON (default: bench/results/suite-<host>-<YYYYMMDD>.json); raw harness "
                        "outputs go to <out without .json>.raw/")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, one repetition: checks that the harnesses work (CI), measures nothing")
    p.add_argument("--sizes-mib", action="append", metavar="[CLASS=]LIST",
                   help="state sizes per device class (cpu = lavapipe and PoCL, lavapipe, pocl, nvidia), e.g. "
                        "cpu=64,256 nvidia=1024,8192; repeatable (default: cpu=64,256,1024 nvidia=1024,8192,32768)")
    p.add_argument("--only", default=",".join(PARTS), help=f"parts to run (default: {','.join(PARTS)})")
    p.add_argument("--devices", default=",".join(DEVICES),
                   help=f"devices to use among those present (default: {','.join(DEVICES)})")
    p.add_argument("--repeat", type=int, default=2, help="repetitions of each measurement (--smoke: 1)")
    p.add_argument("--pairs", type=int, default=5, help="bench.py's with/without-gpucr pairs for the overhead")
    p.add_argument("--criu-mib", type=int, default=None,
                   help="criu_bench.py's state size (default: the largest lavapipe/PoCL size)")
    p.add_argument("--cuda-device", type=int, default=0, help="CUDA device ordinal (cuda_bench.py --device)")
    p.add_argument("--cuda-budget-s", type=float, default=None,
                   help="cuda_bench.py --budget-s (default: its own, 470 s; 0: no limit)")
    p.add_argument("--part-timeout-s", type=float, default=None,
                   help="stop a harness run after this many seconds (default: none; --smoke: 300)")
    p.add_argument("--tmp", default=None, help="where the harnesses write images (default: the system temp dir)")
    p.add_argument("--dry-run", action="store_true",
                   help="probe the devices and print the harness commands without running them")
    p.add_argument("--report", action="store_true",
                   help="then run bench/report.py (Markdown and plots beside --out), if it exists")
    p.add_argument("--docs", default=None, metavar="MD",
                   help="with --report: also put the report into MD (e.g. docs/benchmarks.md) between the lines "
                        "'<!-- suite:begin -->' and '<!-- suite:end -->' (appended with them when absent), its "
                        "plots in docs/bench/")
    a = p.parse_args()
    parts = [x.strip() for x in a.only.split(",") if x.strip()]
    for x in parts:
        if x not in PARTS:
            p.error(f"--only: unknown part {x!r} (have: {', '.join(PARTS)})")
    devices = [x.strip().lower() for x in a.devices.split(",") if x.strip()]
    for x in devices:
        if x not in DEVICES:
            p.error(f"--devices: unknown device {x!r} (have: {', '.join(DEVICES)})")
    devices = [d for d in DEVICES if d in devices]
    a.sizes = parse_sizes(a.sizes_mib, p)
    if a.smoke:
        a.repeat, a.pairs = 1, 1
        if a.part_timeout_s is None:
            a.part_timeout_s = 300
    if a.repeat < 1 or a.pairs < 1:
        p.error("--repeat and --pairs must be at least 1")
    if a.out is None:
        day = datetime.date.today().strftime("%Y%m%d")
        a.out = os.path.join(BENCH_DIR, "results", f"suite-{platform.node()}-{day}.json")

    suite = Suite(a, sys.argv)

    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    suite.log(f"{suite.r['host']} ({suite.r['cpus']} CPUs, kernel {suite.r['kernel']}), commit {suite.r['commit']}, "
              f"build {suite.build}; parts {','.join(parts)}; devices {','.join(devices)}"
              f"{'; smoke' if a.smoke else ''}")
    try:
        suite.run(parts, devices)
    except KeyboardInterrupt:
        if suite.current is not None:
            suite.stop(suite.current)
        for part in suite.parts:
            if part.get("status") == "running":
                part["status"] = "failed"
        suite.error("suite.py", None, f"interrupted after {time.monotonic() - suite.t0:.0f} s: the results are partial")
    finally:
        shutil.rmtree(suite.tmp, ignore_errors=True)
    suite.write()
    r = suite.r
    for d in r["devices"]:
        suite.log(f"device {d['id']}/{d['api']}: {d.get('name')} (driver {d.get('driver')})")
    for g in r["goals"]:
        if g.get("measured") is not None:
            suite.log(f"goal {g['name']} {g['device']}/{g['api']} {g['example']}: {g['measured']} "
                      f"({g['target']}): {'met' if g['met'] else 'NOT met'}")
    counts = {s: sum(1 for x in r["parts"] if x.get("status") == s) for s in ("ok", "skipped", "failed")}
    suite.log(f"{len(r['records'])} records, {len(r['errors'])} errors; parts: {counts['ok']} ok, "
              f"{counts['skipped']} skipped, {counts['failed']} failed; {r['elapsed_s']:.0f} s -> {suite.out}")
    report_failed = False
    if a.report:
        report = os.path.join(BENCH_DIR, "report.py")
        if os.path.exists(report):
            stem = os.path.splitext(suite.out)[0]
            rc = subprocess.run([sys.executable, report, suite.out, "--md", stem + ".md", "--plots",
                                 stem + "-plots"]).returncode
            suite.log(f"report: {stem}.md" if rc == 0 else f"report.py failed ({rc})")
            report_failed = rc != 0
            if rc == 0 and a.docs:
                report_failed = not update_docs(a.docs, report, suite.out)
        else:
            suite.log("--report: bench/report.py does not exist, no report written")
    failed = bool(r["errors"]) or counts["failed"] > 0 or report_failed
    if a.dry_run:
        sys.exit(0)
    if a.smoke and not r["records"]:
        suite.log("smoke: no record at all was produced")
        failed = True
    sys.exit(1 if failed else 0)


DOCS_BEGIN = "<!-- suite:begin -->"
DOCS_END = "<!-- suite:end -->"


def update_docs(md_path, report, results):
    """Renders the report again with its plots in docs/bench/ (beside `md_path`) and puts it between
    the suite markers of `md_path`. True on success."""
    plots = os.path.join(os.path.dirname(os.path.abspath(md_path)), "bench")
    tmp_md = os.path.join(os.path.dirname(os.path.abspath(md_path)), ".suite-report.md")
    rc = subprocess.run([sys.executable, report, results, "--md", tmp_md, "--plots", plots,
                         "--title", "Benchmark suite (bench/suite.py)"]).returncode
    if rc != 0:
        return False
    with open(tmp_md) as f:
        body = f.read()
    os.unlink(tmp_md)
    # The report's headings go one level down inside the document.
    body = "\n".join(("#" + line) if line.startswith("#") else line for line in body.splitlines())
    text = open(md_path).read() if os.path.exists(md_path) else ""
    block = f"{DOCS_BEGIN}\n{body}\n{DOCS_END}"
    if DOCS_BEGIN in text and DOCS_END in text:
        head, rest = text.split(DOCS_BEGIN, 1)
        tail = rest.split(DOCS_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(md_path, "w") as f:
        f.write(text)
    return True


if __name__ == "__main__":
    main()
