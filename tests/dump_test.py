"""Integration test: dump a running example mid-run, in one mode, on the real driver (vk_* on
Vulkan, or with --api opencl cl_* through the OpenCL shim).

Checks (i) the application's final checksum equals an uninterrupted run's, and (ii) every
memory object in the image equals the CPU reference state at the image's cut, byte for byte.

  dump_test.py --gpucr build/tools/gpucr --examples build/examples/vulkan --ref ... --extract ...
               --example stencil --mode cow
"""
import argparse
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpucr_testlib as lib  # noqa: E402

ARGS = None

# With --stress the app submits back to back for long enough to outlast a held dump.
STRESS_STEPS = {"stencil": 500, "serving": 4000, "manybuf": 2000}

PARAMS = {
    # example: (mib, steps, step_ms, extra args for example and reference)
    "stencil": (8, 40, 25, []),
    "serving": (8, 60, 15, []),
    "manybuf": (8, 60, 15, ["--buffers", "16"]),
}


class DumpTest(unittest.TestCase):
    def test_dump_mid_run(self):
        tools = lib.Tools(ARGS)
        example, mode = ARGS.example, ARGS.mode
        mib, steps, step_ms, extra = PARAMS[example]
        if ARGS.stress:
            step_ms = ARGS.stress_step_ms  # submit (nearly) back to back while the dump is held after its cut
            # cl_* steps are shorter (no per-step fence wait): twice as many outlast the dump.
            steps = ARGS.stress_steps or STRESS_STEPS[example] * (2 if ARGS.api in ("opencl", "cuda") else 1)
        want = lib.reference_checksum(tools, example, mib, steps, extra)
        with lib.TempDir() as tmp:
            env = lib.test_env(tmp)
            if ARGS.stress:
                env["GPUCR_TEST_DELAY_AFTER_CUT_MS"] = str(ARGS.stress)
            if ARGS.capture:
                env["GPUCR_VK_CAPTURE"] = ARGS.capture
            app = lib.RunningApp(tools, tmp, env, lib.example_name(ARGS.api, example),
                                 ["--mib", str(mib), "--steps", str(steps), "--step-ms", str(step_ms)] + extra
                                 + ARGS.app_arg)
            try:
                time.sleep(ARGS.delay)
                image = os.path.join(tmp, "image")
                r = lib.gpucr(tools, env, "dump", str(app.pid), "-D", image, "--gpu-only", "--mode", mode,
                             "--background", "normal", "--json")
                self.assertEqual(r.returncode, 0, f"dump failed: {r.stderr}")
                stats = json.loads(r.stdout)
                rc, last, err = app.finish()
            finally:
                app.kill()
            self.assertEqual(rc, 0, f"application failed after the dump: {err[-2000:]}")
            self.assertEqual(last, want, "final checksum differs from an uninterrupted run")
            v = lib.gpucr(tools, env, "verify", "-D", image)
            self.assertEqual(v.returncode, 0, v.stderr)
            k = lib.compare_with_reference(self, tools, example, mib, image, tmp, extra)
            self.assertGreater(k, 0, "the cut fell before the first step: not a mid-run dump")
            self.assertLess(k, steps, "the cut fell after the last step: not a mid-run dump")
            engine = lib.section_stats(tools, env, image, ARGS.api)
            if "--use-host-ptr" in ARGS.app_arg:
                manifest = json.loads(lib.gpucr(tools, env, "inspect", "-D", image, "--json").stdout)
                section = next(s for s in manifest["sections"] if s.get("api") == ARGS.api)
                self.assertEqual(len(section["host_backed"]), len(section["resources"]),
                                 "not every buffer was created over the application's memory")
            if ARGS.stress and mode == "cow":
                self.assertGreater(engine["cow_blocks"] + engine["fault_copied_blocks"], 0,
                                   "no write after the cut was copied first: the test did not exercise copy-on-write")
            if ARGS.stress and mode == "dirty":
                self.assertGreater(sum(engine["dirty_blocks_per_round"][1:]) + engine["final_recopied_blocks"], 0,
                                   "nothing was re-copied: the test did not exercise dirty tracking")
            print(f"{example} {mode}: cut after {k} of {steps} steps; stats {json.dumps(stats)[:300]}; "
                  f"engine {json.dumps({k2: engine[k2] for k2 in ('cow_blocks', 'fault_copied_blocks', 'host_faults', 'dirty_blocks_per_round', 'final_recopied_blocks', 'held_max_ms')})}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    lib.add_tool_args(p)
    lib.add_api_arg(p)
    p.add_argument("--example", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--delay", type=float, default=0.3, help="seconds between ready and dump")
    p.add_argument("--app-arg", action="append", default=[],
                   help="an argument for the application only (not the reference), e.g. --use-host-ptr")
    p.add_argument("--capture", default="",
                   help="GPUCR_VK_CAPTURE for the app: 'copy' reads memory through copies on the device")
    p.add_argument("--stress-steps", type=int, default=0, help="steps of the app in stress mode (default per example)")
    p.add_argument("--stress-step-ms", type=int, default=0, help="pause between steps in stress mode")
    p.add_argument("--stress", type=int, default=0,
                   help="hold the dump this many ms after its cut while the app submits back to back")
    ARGS, rest = p.parse_known_args()
    lib.skip_without_gpu(ARGS.api)
    unittest.main(argv=[sys.argv[0]] + rest)
