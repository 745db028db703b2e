"""Integration test: suspend, resume and migrate a running example on the real driver (vk_* on
Vulkan, or with --api opencl cl_* through the OpenCL shim).

Scenarios (--scenario):
  cycle     suspend mid-run (the image must equal the CPU reference at the moment of suspension),
            resume with on-demand loading; final checksum equals an uninterrupted run
  eager     the same with resume --eager (the baseline)
  migrate   gpucr migrate --device N mid-run (everything destroyed and created again; N=0 by
            default, else to N and back to 0)
  cycles    several suspend/resume and migrate rounds in one run, then a dump whose image must
            equal the CPU reference at its cut
  damaged   resume from an image with an altered chunk is refused before anything is touched,
            the process stays suspended, and resumes from the repaired image
  errors    resume of a process that is not suspended, suspend of one already suspended, dump of a
            suspended process, resume or migrate to a device that does not exist
  crossvendor  OpenCL: migrate mid-run from the device of one platform (--from-platform, a name
            part) to one of another (--to-platform) and back; final checksum equals an uninterrupted run
  ondemand  manybuf with a large idle memory object: the first operation after the resume
            does not wait for it, and it is loaded intact in the background

  suspend_test.py --gpucr build/tools/gpucr --examples ... --ref ... --extract ... --example stencil --scenario cycle
"""
import argparse
import glob
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpucr_testlib as lib  # noqa: E402

ARGS = None

PARAMS = {
    # example: (mib, steps, step_ms, extra args for example and reference)
    "stencil": (8, 40, 25, []),
    "serving": (8, 60, 15, []),
    "manybuf": (8, 60, 15, ["--buffers", "16"]),
}


API_NAME = {"vulkan": "Vulkan", "opencl": "OpenCL", "cuda": "CUDA"}


def resume_stats(reply):
    """The provider's resume statistics from a resume/migrate reply."""
    stats = reply.get("stats", reply)
    if "resume" in stats and isinstance(stats["resume"], dict):
        stats = stats["resume"].get("stats", stats["resume"])
    if ARGS.api in stats and isinstance(stats[ARGS.api], dict):
        stats = stats[ARGS.api]
    return stats


class SuspendTest(unittest.TestCase):
    def setUp(self):
        self.tools = lib.Tools(ARGS)
        self.tmp_ctx = lib.TempDir()
        self.tmp = self.tmp_ctx.__enter__()
        self.env = lib.test_env(self.tmp)
        if ARGS.capture:
            self.env["GPUCR_VK_CAPTURE"] = ARGS.capture
        self.app = None

    def tearDown(self):
        if self.app is not None:
            self.app.kill()
        self.tmp_ctx.__exit__(None, None, None)

    def start(self, example, mib, steps, step_ms, extra):
        self.app = lib.RunningApp(self.tools, self.tmp, self.env, lib.example_name(ARGS.api, example),
                                  ["--mib", str(mib), "--steps", str(steps), "--step-ms", str(step_ms)] + extra
                                  + ARGS.app_arg)
        time.sleep(ARGS.delay)
        return self.app

    def start_example(self, steps_factor=1):
        """Starts --example with its parameters; returns the checksum of an uninterrupted run."""
        mib, steps, step_ms, extra = PARAMS[ARGS.example]
        steps *= steps_factor
        want = lib.reference_checksum(self.tools, ARGS.example, mib, steps, extra)
        self.start(ARGS.example, mib, steps, step_ms, extra)
        return want

    def gpucr(self, *args, ok=True):
        r = lib.gpucr(self.tools, self.env, *args)
        if ok:
            self.assertEqual(r.returncode, 0, f"gpucr {' '.join(args)} failed: {r.stderr}")
        return r

    def suspend(self, image, *more):
        r = self.gpucr("suspend", str(self.app.pid), "-D", image, "--json", *more)
        return json.loads(r.stdout)

    def resume(self, *more):
        r = self.gpucr("resume", str(self.app.pid), "--json", *more)
        return json.loads(r.stdout)

    def suspended(self):
        r = self.gpucr("ps", "--json")
        for p in json.loads(r.stdout):
            if p.get("pid") == self.app.pid:
                return bool(p.get("suspended", False))
        self.fail(f"gpucr ps does not list {self.app.pid}")

    def finish(self, want):
        rc, last, err = self.app.finish()
        self.assertEqual(rc, 0, f"application failed after the resume: {err[-2000:]}")
        self.assertEqual(last, want, "final checksum differs from an uninterrupted run")

    def cpu_ticks(self):
        with open(f"/proc/{self.app.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def assert_held(self):
        """While suspended the application makes no progress: its threads wait at the gate."""
        self.assertTrue(self.suspended(), "gpucr ps does not show the process as suspended")
        before = self.cpu_ticks()
        time.sleep(0.5)
        self.assertIsNone(self.app.proc.poll(), "the application exited while suspended")
        used = self.cpu_ticks() - before
        self.assertLessEqual(used, 5, f"the suspended application used {used} ticks of CPU in 0.5 s")

    # ---- scenarios ----
    def run_cycle(self, eager):
        want = self.start_example()
        mib, steps, _, extra = PARAMS[ARGS.example]
        image = os.path.join(self.tmp, "image")
        self.suspend(image)
        self.assert_held()
        # The image is the state at the moment of suspension, bit for bit.
        gpu_steps = lib.compare_with_reference(self, self.tools, ARGS.example, mib, image, self.tmp, extra)
        self.assertGreater(gpu_steps, 0)
        self.assertLess(gpu_steps, steps)
        reply = self.resume(*(["--eager"] if eager else []))
        st = resume_stats(reply)
        self.assertGreater(st["objects_created"], 0)
        if eager:
            self.assertEqual(st["waits"], 0, "eager resume: nothing may wait for loading")
        self.assertIsNotNone(st["first_op_ms"], "no operation completed after the resume")
        self.assertGreater(st.get("command_buffers_rerecorded", 0) + st["resources_loaded"], 0)
        self.finish(want)

    def test_scenario(self):
        getattr(self, "scenario_" + ARGS.scenario)()

    def scenario_cycle(self):
        self.run_cycle(eager=False)

    def scenario_eager(self):
        self.run_cycle(eager=True)

    def scenario_migrate(self):
        want = self.start_example()
        r = self.gpucr("migrate", str(self.app.pid), "--device", str(ARGS.device), "--json")
        st = resume_stats(json.loads(r.stdout))
        self.assertGreater(st["objects_created"], 0)
        self.assertEqual(st["device"], ARGS.device)
        self.assertFalse(self.suspended())
        if ARGS.device != 0:  # and back
            time.sleep(0.2)
            r = self.gpucr("migrate", str(self.app.pid), "--device", "0", "--json")
            self.assertEqual(resume_stats(json.loads(r.stdout))["device"], 0)
        leftovers = glob.glob(f"/dev/shm/gpucr-migrate-{self.app.pid}-*")
        self.assertEqual(leftovers, [], "migrate left its in-memory image behind")
        self.finish(want)

    def scenario_cycles(self):
        want = self.start_example(steps_factor=2)
        for i in range(3):
            self.suspend(os.path.join(self.tmp, f"image{i}"), *(["--mode", "stop"] if i == 1 else []))
            self.assertTrue(self.suspended())
            self.resume(*(["--eager"] if i == 2 else []))
            self.assertFalse(self.suspended())
            time.sleep(0.1)
            self.gpucr("migrate", str(self.app.pid), "--device", "0")
            time.sleep(0.1)
        # A process that was suspended and migrated can be dumped again, and the image is right.
        mib, _, _, extra = PARAMS[ARGS.example]
        image = os.path.join(self.tmp, "dump")
        self.gpucr("dump", str(self.app.pid), "-D", image, "--gpu-only", "--background", "normal")
        lib.compare_with_reference(self, self.tools, ARGS.example, mib, image, self.tmp, extra)
        self.finish(want)

    def scenario_damaged(self):
        want = self.start_example()
        image = os.path.join(self.tmp, "image")
        self.suspend(image)
        chunks = sorted(glob.glob(os.path.join(image, "chunks", "**", "*"), recursive=True),
                        key=lambda p: -os.path.getsize(p) if os.path.isfile(p) else 0)
        victim = next(p for p in chunks if os.path.isfile(p))
        with open(victim, "rb") as f:
            good = f.read()
        bad = bytearray(good)
        bad[len(bad) - 1] ^= 0x5A
        os.chmod(victim, 0o644)
        with open(victim, "wb") as f:
            f.write(bad)
        r = self.gpucr("resume", str(self.app.pid), ok=False)
        self.assertEqual(r.returncode, 1)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one line: {r.stderr}")
        self.assertIn(os.path.basename(victim)[:12], lines[0], "the error does not name the damaged chunk")
        self.assert_held()
        with open(victim, "wb") as f:
            f.write(good)
        self.resume()
        self.finish(want)

    def scenario_errors(self):
        want = self.start_example()
        r = self.gpucr("resume", str(self.app.pid), ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not suspended", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.suspend(os.path.join(self.tmp, "image"))
        r = self.gpucr("suspend", str(self.app.pid), "-D", os.path.join(self.tmp, "image2"), ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already suspended", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "image2", "COMPLETE")))
        r = self.gpucr("dump", str(self.app.pid), "-D", os.path.join(self.tmp, "image3"), "--gpu-only", ok=False)
        self.assertEqual(r.returncode, 1)
        r = self.gpucr("resume", str(self.app.pid), "--device", "7", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"no {API_NAME[ARGS.api]} device 7", r.stderr)
        self.assertTrue(self.suspended())
        self.resume()
        # A migration to a device that does not exist is refused before anything is touched.
        r = self.gpucr("migrate", str(self.app.pid), "--device", "7", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"no {API_NAME[ARGS.api]} device 7", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertFalse(self.suspended())
        self.finish(want)

    def platform_index(self, name):
        """The application's platform index (through the shim) whose name contains `name`."""
        for p in range(16):
            r = lib.gpucr(self.tools, self.env, "run", "--api", "opencl", "--",
                          self.tools.example(lib.example_name("opencl", ARGS.example)),
                          "--mib", "1", "--steps", "0", "--platform", str(p))
            if r.returncode == 2:
                break
            first = (r.stderr.splitlines() or [""])[0]
            if r.returncode == 0 and name in first:
                return p
        self.skipTest(f"no OpenCL platform named like {name!r} with a device")

    def scenario_crossvendor(self):
        self.assertEqual(ARGS.api, "opencl", "crossvendor is an OpenCL scenario")
        mib, steps, step_ms, extra = PARAMS[ARGS.example]
        steps *= 4
        want = lib.reference_checksum(self.tools, ARGS.example, mib, steps, extra)
        self.start(ARGS.example, mib, steps, step_ms, extra + ["--platform", str(self.platform_index(ARGS.from_platform))])
        r = self.gpucr("ps", "--json")
        entry = next(p for p in json.loads(r.stdout) if p.get("pid") == self.app.pid)
        targets = entry["apis"]["opencl"]["targets"]
        to = next((i for i, t in enumerate(targets) if ARGS.to_platform in t), None)
        back = next((i for i, t in enumerate(targets) if ARGS.from_platform in t), None)
        if to is None or back is None:
            self.skipTest(f"devices of both platforms are needed: {targets}")
        for device in (to, back):
            r = self.gpucr("migrate", str(self.app.pid), "--device", str(device), "--json")
            st = resume_stats(json.loads(r.stdout))
            self.assertEqual(st["device"], device)
            print(f"migrated to {targets[device]}: {json.dumps({k: st.get(k) for k in ('recreate_ms', 'handback_ms', 'first_op_ms', 'loaded_ms', 'bytes_loaded')})}")
            self.assertIsNone(self.app.proc.poll(), "the application finished before the migrations: not mid-run")
            time.sleep(0.2)
        self.finish(want)

    def scenario_ondemand(self):
        mib, steps, step_ms = 8, 80, 15
        extra = ["--buffers", "16"]
        idle_mib = ARGS.idle_mib
        want = lib.reference_checksum(self.tools, "manybuf", mib, steps, extra)
        self.start("manybuf", mib, steps, step_ms, extra + ["--idle-mib", str(idle_mib)])
        image = os.path.join(self.tmp, "image")
        self.suspend(image)
        manifest = json.loads(self.gpucr("inspect", "-D", image, "--json").stdout)
        resources = next(s for s in manifest["sections"] if s.get("api") == ARGS.api)["resources"]
        idle = [r["id"] for r in resources if r["size"] == idle_mib << 20]
        self.assertEqual(len(idle), 1, "the idle memory object is not in the image")
        st = resume_stats(self.resume())
        self.assertNotIn(idle[0], st["waited_for"], "an operation waited for the idle memory object")
        self.assertIsNotNone(st["first_op_ms"])
        self.assertLess(st["first_op_ms"], st["loaded_ms"],
                        "the first operation completed only after everything was loaded")
        self.assertEqual(st["load_order"][-1], idle[0])
        out, err = self.app.proc.communicate(timeout=300)
        self.assertEqual(self.app.proc.returncode, 0, err[-2000:])
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(lines[-1], "idle: ok")
        self.assertEqual(lines[-2], want)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    lib.add_tool_args(p)
    lib.add_api_arg(p)
    p.add_argument("--example", default="stencil", choices=sorted(PARAMS))
    p.add_argument("--scenario", required=True,
                   choices=["cycle", "eager", "migrate", "cycles", "damaged", "errors", "ondemand", "crossvendor"])
    p.add_argument("--app-arg", action="append", default=[],
                   help="an argument for the application only (not the reference), e.g. --use-host-ptr")
    p.add_argument("--capture", default="", help="GPUCR_VK_CAPTURE for the application (copy: device path)")
    p.add_argument("--delay", type=float, default=0.25, help="seconds after the steps start")
    p.add_argument("--idle-mib", type=int, default=256)
    p.add_argument("--device", type=int, default=0, help="migrate: the target device (and back to 0)")
    p.add_argument("--from-platform", default="NVIDIA", help="crossvendor: where the application starts")
    p.add_argument("--to-platform", default="Portable Computing Language", help="crossvendor: where it goes")
    ARGS, rest = p.parse_known_args()
    lib.skip_without_gpu(ARGS.api)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
