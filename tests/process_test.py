"""Integration test: process checkpoints through CRIU (gpucr dump without --gpu-only, gpucr restore,
and plain criu with gpucr's plugin), on the real driver (vk_* on Vulkan, cl_* through the OpenCL
shim). Needs root and CRIU 4.0 or newer (`bash scripts/criu.sh --print`) and the plugin built;
without them it skips (exit 77) saying why.

Scenarios (--scenario):
  restore        dump mid-run (CRIU kills the process), restore: the GPU image equals the CPU
                 reference at its cut, final checksum equals an uninterrupted run's
  leave_running  dump --leave-running: the original finishes right, then the copy does too
  redump         restore --detach, dump the restored process again, restore that: right checksum
  eager          restore --eager: everything loaded before the application continues
  errors         refusals (no CRIU, CRIU too old, CRIU failing mid-dump, damaged image, no
                 completion marker, process id in use): one line, exit 1, nothing left behind,
                 the application unharmed
  criu_direct    plain `criu dump` / `criu restore` with gpucr's plugin directory
  criu_predump   `criu pre-dump` (the GPU is left alone), then an incremental `criu dump` and
                 `criu restore` (skips where the kernel has no soft-dirty tracking)

  process_test.py --gpucr build/tools/gpucr --examples ... --ref ... --extract ... --api vulkan
                  --example stencil --scenario restore
"""
import argparse
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpucr_testlib as lib  # noqa: E402

ARGS = None
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRIU = ""  # the CRIU gpucr uses (scripts/criu.sh --print), found in main()

PARAMS = {
    # example: (mib, step_ms, extra args for example and reference)
    "stencil": (32, 30, []),
    "serving": (32, 30, []),
    "manybuf": (32, 30, ["--buffers", "16"]),
}
# Steps of each example, for runs of a few seconds: a dump a moment after the start catches the
# application mid-run (a vk_stencil step on lavapipe takes ~150 ms, the others ~10 ms + step_ms).
STEPS = {"vk_stencil": 30, "vk_serving": 120, "vk_manybuf": 120, "cl_stencil": 80, "cl_serving": 120,
         "cl_manybuf": 120}

PR_SET_CHILD_SUBREAPER = 36


def plugin_dir(tools):
    """Where gpucr looks for its CRIU plugin first: `criu/` beside the gpucr executable."""
    return os.path.join(os.path.dirname(os.path.abspath(tools.gpucr)), "criu")


def skip_reason(tools):
    if os.geteuid() != 0:
        return "process checkpoints need root (CRIU)"
    if not CRIU:
        return "no CRIU 4.0 or newer (bash scripts/criu.sh provides one)"
    if not os.path.exists(os.path.join(plugin_dir(tools), "gpucr_criu.so")):
        return "gpucr's CRIU plugin is not built (run scripts/criu.sh, then build again)"
    check = subprocess.run([CRIU, "check"], capture_output=True, text=True)
    if check.returncode != 0:
        # The machine cannot checkpoint at all (a container without the capabilities CRIU needs).
        lines = (check.stderr + check.stdout).strip().splitlines()
        return "criu check fails here: " + (lines[-1] if lines else f"exit {check.returncode}")
    return ""


def pid_runs(pid, name):
    """Whether process `pid` exists and runs `name` (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return name.encode() in f.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class ProcessTest(unittest.TestCase):
    def setUp(self):
        self.tools = lib.Tools(ARGS)
        self.tmp_ctx = lib.TempDir()
        self.tmp = self.tmp_ctx.__enter__()
        self.env = lib.test_env(self.tmp)
        self.apps = []  # RunningApp or Popen, killed at the end
        self.pids = []  # restored processes (our children through the subreaper), killed at the end
        self.example = lib.example_name(ARGS.api, ARGS.example)

    def tearDown(self):
        for app in self.apps:
            proc = getattr(app, "proc", app)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in self.pids:
            running = pid_runs(pid, self.example)  # still the restored example, not a reused id
            if running:
                os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0 if running else os.WNOHANG)
            except ChildProcessError:  # not ours (gpucr restore waited for it)
                pass
        self.tmp_ctx.__exit__(None, None, None)

    # ---- helpers ----
    def start(self, steps_factor=1, **popen):
        """Starts --example under gpucr run; returns (app, checksum of an uninterrupted run)."""
        mib, step_ms, extra = PARAMS[ARGS.example]
        steps = self.steps = STEPS[self.example] * steps_factor
        want = lib.reference_checksum(self.tools, ARGS.example, mib, steps, extra)
        stale = os.path.join(self.tmp, f"{self.example}.ready")  # from an earlier start in this test
        if os.path.exists(stale):
            os.remove(stale)
        app = lib.RunningApp(self.tools, self.tmp, self.env, self.example,
                             ["--mib", str(mib), "--steps", str(steps), "--step-ms", str(step_ms)] + extra,
                             stdin=subprocess.DEVNULL, **popen)
        self.apps.append(app)
        time.sleep(ARGS.delay)
        return app, want

    def gpucr(self, *args, ok=True, env=None):
        r = lib.gpucr(self.tools, env or self.env, *args, timeout=240)
        if ok:
            self.assertEqual(r.returncode, 0, f"gpucr {' '.join(args)} failed: {r.stderr}")
        return r

    def assertOneLineFailure(self, r, *needles, start="gpucr: "):
        self.assertEqual(r.returncode, 1, f"expected exit 1, got {r.returncode}: {r.stderr}")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one line on stderr, got: {r.stderr!r}")
        self.assertTrue(lines[0].startswith(start), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        print(f"refused as expected: {lines[0]}")
        return lines[0]

    def dump(self, pid, image, *more):
        """gpucr dump (process) --json; returns gpucr-dump.json as printed."""
        r = self.gpucr("dump", str(pid), "-D", image, "--json", *more)
        marker = json.loads(r.stdout)
        self.assertEqual(marker["pid"], pid)
        self.assertEqual(marker["gpu_images"], [f"gpu-{pid}"], "the dump holds no GPU image")
        self.assertTrue(os.path.isfile(os.path.join(image, "gpucr-dump.json")), "gpucr-dump.json is missing")
        with open(os.path.join(image, "gpucr-dump.json")) as f:
            self.assertEqual(json.load(f)["pid"], pid)
        self.gpucr("verify", "-D", os.path.join(image, f"gpu-{pid}"))
        return marker

    def assertKilledByDump(self, app):
        """Without --leave-running CRIU kills the process after the dump: it was still running."""
        _, err = app.proc.communicate(timeout=60)
        rc = app.proc.returncode
        self.assertEqual(rc, -signal.SIGKILL, f"the application was not killed by the dump (exit {rc}): {err[-2000:]}")

    def assertFinishes(self, app, want):
        rc, last, err = app.finish()
        self.assertEqual(rc, 0, f"application failed: {err[-2000:]}")
        self.assertEqual(last, want, "final checksum differs from an uninterrupted run")

    def wait_child(self, pid, timeout=240):
        """The wait status of `pid` (restored: our child through the subreaper) once it ends."""
        deadline = time.time() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                self.pids.remove(pid)
                return status
            self.assertLess(time.time(), deadline, f"restored process {pid} did not end in {timeout} s")
            time.sleep(0.05)

    def restore(self, image, want, *more):
        """gpucr restore (waiting for the process): exit 0 and the right checksum on its stdout."""
        with open(os.path.join(image, "gpucr-dump.json")) as f:
            self.pids.append(json.load(f)["pid"])  # killed at the end should gpucr restore time out
        r = self.gpucr("restore", "-D", image, *more, ok=False)
        self.assertEqual(r.returncode, 0, f"gpucr restore failed ({r.returncode}): {r.stderr[-3000:]}")
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(lines[-1:], [want], "checksum of the restored process differs from an uninterrupted run")
        return r

    def assertMidRunImage(self, gpu_image):
        """The GPU image equals the CPU reference at its cut, taken mid-run."""
        mib, _, extra = PARAMS[ARGS.example]
        gpu_steps = lib.compare_with_reference(self, self.tools, ARGS.example, mib, gpu_image,
                                               os.path.join(self.tmp, "compare"), extra)
        self.assertGreater(gpu_steps, 0)
        self.assertLess(gpu_steps, self.steps)

    def listed_by_ps(self, pid):
        r = self.gpucr("ps", "--json")
        for p in json.loads(r.stdout):
            if p.get("pid") == pid:
                return p
        return None

    # ---- scenarios ----
    def test_scenario(self):
        getattr(self, "scenario_" + ARGS.scenario)()

    def scenario_restore(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "image")
        marker = self.dump(app.pid, image)
        self.assertFalse(marker["leave_running"])
        self.assertKilledByDump(app)
        self.assertMidRunImage(os.path.join(image, f"gpu-{app.pid}"))
        self.restore(image, want)
        self.assertFalse(pid_runs(app.pid, self.example), "the restored process outlived gpucr restore")

    def scenario_leave_running(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "image")
        marker = self.dump(app.pid, image, "--leave-running")
        self.assertTrue(marker["leave_running"])
        self.assertIn("resume", marker["stats"], "the original did not report its GPU back")
        self.assertIsNone(app.proc.poll(), "the original ended at the dump")
        self.assertFinishes(app, want)
        self.restore(image, want)

    def scenario_eager(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "image")
        self.dump(app.pid, image)
        self.assertKilledByDump(app)
        r = self.restore(image, want, "--eager", "--json")
        result, _ = json.JSONDecoder().raw_decode(r.stderr.lstrip())  # stderr: the result, then the app's
        self.assertTrue(result["eager"])
        self.assertEqual(result["pid"], app.pid)
        self.assertTrue(result["gpu"]["eager"], "the agent did not resume eagerly")
        stats = result["gpu"]["stats"][ARGS.api]
        self.assertGreater(stats["resources_loaded"], 0)
        self.assertEqual(stats["waits"], 0, "eager restore: an operation waited for loading")

    def scenario_redump(self):
        app, want = self.start(steps_factor=2)
        pid = app.pid
        first = os.path.join(self.tmp, "first")
        self.dump(pid, first)
        self.assertKilledByDump(app)
        # --detach: gpucr restore returns while the process runs; the process, re-parented to us
        # (subreaper), writes to the stdout pipe of that gpucr restore.
        restore1 = subprocess.Popen([self.tools.gpucr, "restore", "-D", first, "--detach"], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.apps.append(restore1)
        rc = restore1.wait(timeout=300)
        self.pids.append(pid)
        if rc != 0:  # (its stderr pipe ends only with the restored process: read it on failure alone)
            restore1.kill()
            self.fail(f"gpucr restore --detach failed ({rc}): {restore1.stderr.read1(4000).decode()}")
        self.assertTrue(pid_runs(pid, self.example), "the restored process does not run after restore --detach")
        entry = self.listed_by_ps(pid)
        self.assertIsNotNone(entry, f"gpucr ps does not list the restored process {pid}")
        self.assertFalse(entry.get("suspended", False), "the restored process is still suspended")
        time.sleep(ARGS.delay)
        second = os.path.join(self.tmp, "second")
        self.dump(pid, second)
        status = self.wait_child(pid, timeout=60)
        self.assertTrue(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
                        f"the restored process was not killed by the second dump (status {status})")
        out1 = restore1.stdout.read().decode()
        restore1.stdout.close()
        restore1.stderr.close()
        self.assertNotIn("checksum", out1, "the restored process finished before the second dump")
        self.assertMidRunImage(os.path.join(second, f"gpu-{pid}"))
        self.restore(second, want)

    # ---- errors ----
    def scenario_errors(self):
        for case in ("criu_missing", "criu_too_old", "criu_fails_mid_dump", "damaged_image", "pid_in_use"):
            with self.subTest(case=case):
                getattr(self, "error_" + case)()
            for app in self.apps:  # each case leaves nothing running for the next
                if app.proc.poll() is None:
                    app.kill()
            self.apps = []

    def assertNoImage(self, image):
        if os.path.exists(image):
            self.assertFalse(os.path.exists(os.path.join(image, "gpucr-dump.json")), "gpucr-dump.json left behind")
            self.assertEqual(glob.glob(os.path.join(image, "gpu-*")), [], "a GPU image left behind")

    def error_criu_missing(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "missing")
        env = dict(self.env, GPUCR_CRIU="/nonexistent/criu")
        r = self.gpucr("dump", str(app.pid), "-D", image, ok=False, env=env)
        self.assertIn("CRIU", self.assertOneLineFailure(r, "/nonexistent/criu"))
        self.assertNoImage(image)
        self.assertFinishes(app, want)

    def error_criu_too_old(self):
        old = os.path.join(self.tmp, "criu-3.17")
        with open(old, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = --version ] && { echo "Version: 3.17"; exit 0; }\n'
                    'echo "this stand-in only answers --version" >&2\nexit 1\n')
        os.chmod(old, 0o755)
        app, want = self.start()
        image = os.path.join(self.tmp, "old")
        r = self.gpucr("dump", str(app.pid), "-D", image, ok=False, env=dict(self.env, GPUCR_CRIU=old))
        self.assertOneLineFailure(r, "3.17", "4.0")
        self.assertNoImage(image)
        self.assertFinishes(app, want)

    def error_criu_fails_mid_dump(self):
        # One end of a socket pair whose other end stays here: a connection to the outside, which
        # CRIU refuses to dump, after the plugin has suspended the GPU state.
        ours, theirs = socket.socketpair()
        try:
            app, want = self.start(pass_fds=[theirs.fileno()])
            theirs.close()
            image = os.path.join(self.tmp, "failing")
            r = self.gpucr("dump", str(app.pid), "-D", image, ok=False)
            line = self.assertOneLineFailure(r, start="gpucr: CRIU dump failed")
            self.assertIn("continues", line)
            self.assertIsNone(app.proc.poll(), "the application ended at the failed dump")
            self.assertNoImage(image)
            # CRIU's log is kept, in a scratch directory of its own; it shows the plugin had suspended
            # the GPU state before CRIU failed (else the case would test nothing).
            self.assertIn("(log: ", line)
            log = line.split("(log: ", 1)[1].split(")", 1)[0]
            self.assertTrue(os.path.isfile(log), f"the CRIU log {log} named in the error is missing")
            with open(log, errors="replace") as f:
                self.assertIn("GPU state suspended into", f.read(), "CRIU failed before the plugin suspended the GPU")
            shutil.rmtree(os.path.dirname(log), ignore_errors=True)
            entry = self.listed_by_ps(app.pid)
            self.assertIsNotNone(entry)
            self.assertFalse(entry.get("suspended", False), "the GPU did not come back after the failed dump")
            self.assertFinishes(app, want)
        finally:
            ours.close()
            theirs.close()

    def error_damaged_image(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "damaged")
        self.dump(app.pid, image)
        self.assertKilledByDump(app)
        gpu = os.path.join(image, f"gpu-{app.pid}")
        chunks = sorted((p for p in glob.glob(os.path.join(gpu, "chunks", "**", "*"), recursive=True)
                         if os.path.isfile(p)), key=os.path.getsize)
        self.assertTrue(chunks, f"no chunk files in {gpu}")
        victim = chunks[-1]
        with open(victim, "rb") as f:
            good = f.read()
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0x5A
        os.chmod(victim, 0o644)
        with open(victim, "wb") as f:
            f.write(bad)
        r = self.gpucr("restore", "-D", image, ok=False)
        self.assertOneLineFailure(r, os.path.basename(victim)[:12])
        self.assertEqual(r.stdout, "")
        self.assertFalse(pid_runs(app.pid, self.example), "a process was started from the damaged image")
        # Without its completion marker the directory is not an image.
        marker = os.path.join(image, "gpucr-dump.json")
        os.rename(marker, marker + ".aside")
        r = self.gpucr("restore", "-D", image, ok=False)
        self.assertOneLineFailure(r, "gpucr-dump.json")
        self.assertFalse(pid_runs(app.pid, self.example))
        # Repaired, the same image restores: the refusals were for the damage alone.
        os.rename(marker + ".aside", marker)
        with open(victim, "wb") as f:
            f.write(good)
        self.restore(image, want)

    def error_pid_in_use(self):
        app, want = self.start()
        image = os.path.join(self.tmp, "inuse")
        self.dump(app.pid, image, "--leave-running")
        r = self.gpucr("restore", "-D", image, ok=False)
        self.assertOneLineFailure(r, f"process id {app.pid} is in use")
        self.assertEqual(r.stdout, "")
        self.assertFinishes(app, want)

    # ---- plain CRIU ----
    def criu(self, *args):
        r = subprocess.run([CRIU] + list(args), env=self.env, capture_output=True, text=True, timeout=300)
        log = os.path.join(self.tmp, "criu.log")
        if "-o" in args:
            log = args[args.index("-o") + 1]
            log = log if os.path.isabs(log) else os.path.join(args[args.index("-D") + 1], log)
        tail = ""
        if r.returncode != 0 and os.path.exists(log):
            with open(log, errors="replace") as f:
                tail = "".join(l for l in f if "Error" in l)[-3000:]
        self.assertEqual(r.returncode, 0, f"criu {args[0]} failed: {r.stderr[-2000:]} {tail}")
        return r

    def start_to_file(self, name):
        """The example under gpucr run with stdout and stderr to files, which CRIU reopens."""
        mib, step_ms, extra = PARAMS[ARGS.example]
        steps = self.steps = STEPS[self.example]
        want = lib.reference_checksum(self.tools, ARGS.example, mib, steps, extra)
        ready = os.path.join(self.tmp, f"{name}.ready")
        out = os.path.join(self.tmp, f"{name}.out")
        api = ["--api", "opencl"] if ARGS.api == "opencl" else []
        with open(out, "w") as o, open(out + ".err", "w") as e:
            proc = subprocess.Popen([self.tools.gpucr, "run"] + api + ["--", self.tools.example(self.example),
                                    "--mib", str(mib), "--steps", str(steps), "--step-ms", str(step_ms),
                                    "--ready-file", ready, "--quiet"] + extra,
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        self.apps.append(proc)
        sock = os.path.join(self.env["GPUCR_RUNTIME_DIR"], f"{proc.pid}.sock")
        deadline = time.time() + 60
        while not (os.path.exists(ready) and os.path.exists(sock)):
            self.assertIsNone(proc.poll(), f"{self.example} exited early")
            self.assertLess(time.time(), deadline, f"{self.example} did not become ready")
            time.sleep(0.02)
        time.sleep(ARGS.delay)
        return proc, out, want

    def criu_restore_and_wait(self, image, pid, out, want):
        """criu restore -d; the process (our child through the subreaper) finishes right."""
        self.assertFalse(pid_runs(pid, self.example))
        self.criu("restore", "-D", image, "--libdir", plugin_dir(self.tools), "--shell-job", "-d",
                  "-o", "restore.log", "-v4")
        self.pids.append(pid)
        status = self.wait_child(pid)
        with open(out + ".err") as f:
            err = f.read()
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                        f"the restored process failed (status {status}): {err[-2000:]}")
        with open(out) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        self.assertEqual(lines[-1:], [want], "checksum of the restored process differs from an uninterrupted run")

    def scenario_criu_direct(self):
        plugins = plugin_dir(self.tools)
        # criu dump / criu restore on their own, with gpucr's plugin directory.
        proc, out, want = self.start_to_file("direct")
        image = os.path.join(self.tmp, "direct")
        os.makedirs(image)
        self.criu("dump", "-t", str(proc.pid), "-D", image, "--libdir", plugins, "--shell-job", "--timeout", "120",
                  "-o", "dump.log", "-v4")
        self.assertEqual(proc.wait(timeout=60), -signal.SIGKILL, "criu dump did not stop the process mid-run")
        gpu = os.path.join(image, f"gpu-{proc.pid}")
        self.assertTrue(os.path.isfile(os.path.join(gpu, "manifest.json")), "the plugin wrote no GPU image")
        self.gpucr("verify", "-D", gpu)
        self.assertMidRunImage(gpu)
        self.criu_restore_and_wait(image, proc.pid, out, want)

    def scenario_criu_predump(self):
        """A pre-dump leaves the GPU alone; the incremental dump on top of it captures it."""
        plugins = plugin_dir(self.tools)
        proc, out, want = self.start_to_file("incremental")
        pre, final = os.path.join(self.tmp, "inc", "pre"), os.path.join(self.tmp, "inc", "final")
        os.makedirs(pre)
        os.makedirs(final)
        self.criu("pre-dump", "-t", str(proc.pid), "-D", pre, "--libdir", plugins, "--shell-job", "-o", "pre.log",
                  "-v4")
        self.assertIsNone(proc.poll(), "the process ended at the pre-dump")
        self.assertEqual(glob.glob(os.path.join(pre, "gpu-*")), [], "the pre-dump wrote a GPU image")
        entry = self.listed_by_ps(proc.pid)
        self.assertIsNotNone(entry, "gpucr ps does not list the process after the pre-dump")
        self.assertFalse(entry.get("suspended", False), "the pre-dump suspended the GPU state")
        self.criu("dump", "-t", str(proc.pid), "-D", final, "--prev-images-dir", "../pre", "--track-mem",
                  "--libdir", plugins, "--shell-job", "--timeout", "120", "-o", "dump.log", "-v4")
        self.assertEqual(proc.wait(timeout=60), -signal.SIGKILL, "criu dump did not stop the process mid-run")
        self.assertTrue(os.path.islink(os.path.join(final, "parent")), "the dump is not incremental")
        self.gpucr("verify", "-D", os.path.join(final, f"gpu-{proc.pid}"))
        self.criu_restore_and_wait(final, proc.pid, out, want)


def main():
    global ARGS, CRIU
    p = argparse.ArgumentParser()
    lib.add_tool_args(p)
    lib.add_api_arg(p)
    p.add_argument("--example", default="stencil", choices=sorted(PARAMS))
    p.add_argument("--scenario", required=True,
                   choices=["restore", "leave_running", "redump", "eager", "errors", "criu_direct", "criu_predump"])
    p.add_argument("--delay", type=float, default=0.8, help="seconds after the steps start before a dump")
    ARGS, rest = p.parse_known_args()
    CRIU = subprocess.run(["bash", os.path.join(SOURCE_ROOT, "scripts", "criu.sh"), "--print"],
                          capture_output=True, text=True).stdout.strip()
    reason = skip_reason(lib.Tools(ARGS))
    if not reason and ARGS.scenario == "criu_predump" and subprocess.run(
            [CRIU, "check", "--feature", "mem_dirty_track"], capture_output=True).returncode != 0:
        reason = "the kernel has no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY), which criu pre-dump needs"
    if reason:
        print(f"skipped: {reason}")
        sys.exit(77)
    # Processes restored detached (criu restore -d, gpucr restore --detach) become our children.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
