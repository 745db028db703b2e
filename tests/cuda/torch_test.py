"""Integration test: gpucr on a real PyTorch workload (tests/cuda/torch_loop.py) under the CUDA
interposer (`gpucr run --api cuda`), on an NVIDIA GPU.

Scenarios (--scenario):
  dump_cow, dump_dirty  gpucr dump --gpu-only --mode cow|dirty mid-run
  suspend               gpucr suspend mid-run, 0.5 s later gpucr resume
  migrate               gpucr migrate --device N mid-run, a few steps later back to device 0
  overhead              median step latency with and without the interposer (3 runs each,
                        alternating, --step-ms 0); prints it, asserts only equal results

Every scenario but overhead compares the run under gpucr with an uninterrupted run without it:
exit 0, the same final checksum and the same checksum after every step. Dump and suspend also
check the image: the bytes of every parameter (train) or of the state (infer), read from the image
at the tensor's device address, hash to the uninterrupted run's checksum after some step k,
0 < k < steps (the image is the state at its cut).

  torch_test.py --gpucr build/tools/gpucr --extract build/tests/image_extract --scenario dump_cow --mode train

Exit 77 (skipped) without PyTorch, without a CUDA device, or for migrate with fewer than 2 GPUs.
"""
import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gpucr_testlib as lib  # noqa: E402

LOOP = os.path.join(HERE, "torch_loop.py")
TIMEOUT = 300
ARGS = None


def probe_torch(python):
    """The number of CUDA devices PyTorch sees, or exit 77 when it has none (checked in a child so
    that this process never loads CUDA)."""
    code = ("import sys\ntry:\n import torch\nexcept Exception as e:\n print('no torch: %s' % e); sys.exit(3)\n"
            "if not torch.cuda.is_available():\n print('torch.cuda.is_available() is False'); sys.exit(4)\n"
            "print(torch.cuda.device_count())\n")
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"skipped: cannot run {python}: {e}")
        sys.exit(77)
    out = (r.stdout.strip().splitlines() or [""])[-1]
    if r.returncode != 0:
        print(f"skipped: {out or r.stderr.strip()[-500:]}")
        sys.exit(77)
    return int(out)


def read_log(path):
    """The complete JSON lines of a torch_loop log (a line being written is left out)."""
    rows = []
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break
    except FileNotFoundError:
        pass
    return rows


def last_line(path):
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip()]
    return lines[-1] if lines else ""


def tail(path, n=3000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except FileNotFoundError:
        return ""


class Loop:
    """One run of torch_loop.py, with or without gpucr; stdout and stderr go to files."""

    def __init__(self, tmp, env, name, loop_args, under_gpucr):
        self.name = name
        self.log = os.path.join(tmp, f"{name}.log.jsonl")
        self.layout = os.path.join(tmp, f"{name}.layout.json")
        self.ready = os.path.join(tmp, f"{name}.ready")
        self.out = os.path.join(tmp, f"{name}.stdout")
        self.err = os.path.join(tmp, f"{name}.stderr")
        self.env = env
        cmd = [ARGS.python, LOOP] + loop_args + ["--log", self.log, "--layout", self.layout,
                                                 "--ready-file", self.ready]
        if under_gpucr:
            cmd = [ARGS.gpucr, "run", "--api", "cuda", "--"] + cmd
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid  # gpucr run execs the program: the agent's pid is this one

    def wait_ready(self, timeout=TIMEOUT):
        """Until the first step is done and (under gpucr) the agent's socket exists."""
        sock = os.path.join(self.env["GPUCR_RUNTIME_DIR"], f"{self.pid}.sock")
        deadline = time.time() + timeout
        while not (os.path.exists(self.ready) and os.path.exists(sock)):
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited early ({self.proc.returncode}): {tail(self.err)}")
            if time.time() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} did not become ready in {timeout} s: {tail(self.err)}")
            time.sleep(0.02)

    def wait_step(self, step, timeout=TIMEOUT):
        """Until the log shows `step` completed; returns right after its line appears (the loop then
        sleeps --step-ms: the quiet moment to act in). Fails if the run ends first."""
        deadline = time.time() + timeout
        while True:
            rows = read_log(self.log)
            if rows and rows[-1]["step"] >= step:
                return rows[-1]["step"]
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} ended (rc {self.proc.returncode}) before step {step}: "
                                     f"{tail(self.err)}")
            if time.time() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} did not reach step {step} in {timeout} s")
            time.sleep(0.002)

    def next_step(self):
        """Waits for the next step's line to appear; returns its number."""
        rows = read_log(self.log)
        return self.wait_step((rows[-1]["step"] if rows else 0) + 1)

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout=TIMEOUT):
        """(exit status, last stdout line, log rows)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not finish in {timeout} s")
        return self.proc.returncode, last_line(self.out), read_log(self.log)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass


class TorchTest(unittest.TestCase):
    def setUp(self):
        self.tmp_ctx = lib.TempDir()
        self.tmp = self.tmp_ctx.__enter__()
        self.env = lib.test_env(self.tmp)
        self.apps = []

    def tearDown(self):
        for app in self.apps:
            app.kill()
        if ARGS.keep:
            print(f"kept {self.tmp}")
        else:
            self.tmp_ctx.__exit__(None, None, None)

    def loop_args(self, step_ms=None, device=0):
        return ["--mode", ARGS.mode, "--steps", str(ARGS.steps), "--width", str(ARGS.width),
                "--step-ms", str(ARGS.step_ms if step_ms is None else step_ms), "--device", str(device)]

    def start(self, name, under_gpucr, step_ms=None):
        app = Loop(self.tmp, self.env, name, self.loop_args(step_ms), under_gpucr)
        self.apps.append(app)
        return app

    def run_to_end(self, name, under_gpucr, step_ms=0):
        app = self.start(name, under_gpucr, step_ms)
        rc, last, rows = app.finish()
        self.assertEqual(rc, 0, f"{name} failed ({rc}): {tail(app.err)}")
        self.assertTrue(last.startswith("checksum: "), f"{name}: last line {last!r}")
        self.assertEqual([r["step"] for r in rows], list(range(1, ARGS.steps + 1)), f"{name}: incomplete log")
        return last, rows

    def reference(self):
        """An uninterrupted run without gpucr: (final checksum line, {step: checksum})."""
        last, rows = self.run_to_end("reference", under_gpucr=False)
        return last, {r["step"]: r["checksum"] for r in rows}

    def gpucr(self, *args):
        r = subprocess.run([ARGS.gpucr] + list(args), env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, f"gpucr {' '.join(args)} failed: {r.stderr.strip()[-2000:]}")
        try:
            return json.loads(r.stdout)
        except ValueError:
            self.fail(f"gpucr {' '.join(args)}: no JSON on stdout: {r.stdout[-2000:]!r}")

    def finish_and_compare(self, app, want, ref_steps):
        rc, last, rows = app.finish()
        self.assertEqual(rc, 0, f"the application failed ({rc}): {tail(app.err)}")
        self.assertEqual(last, want, "final checksum differs from an uninterrupted run")
        self.assertEqual([r["step"] for r in rows], list(range(1, ARGS.steps + 1)), "incomplete log")
        for r in rows:
            self.assertEqual(r["checksum"], ref_steps[r["step"]],
                             f"step {r['step']}: checksum differs from an uninterrupted run")

    def image_step(self, app, image, ref_steps):
        """The step k whose state the image holds (checked: 0 < k < steps)."""
        with open(app.layout) as f:
            layout = json.load(f)
        out = os.path.join(self.tmp, "extracted-" + os.path.basename(image))
        os.makedirs(out, exist_ok=True)
        r = subprocess.run([ARGS.extract, image, out], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, f"image_extract failed: {r.stderr.strip()[-2000:]}")
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        if index and any("address" not in e for e in index):
            # An image_extract that does not copy every field: addresses from the manifest, by id.
            manifest = self.gpucr("inspect", "-D", image, "--json")
            address = {r["id"]: r.get("address") for s in manifest["sections"] if s.get("api") == "cuda"
                       for r in s["resources"]}
            for e in index:
                e.setdefault("address", address.get(e["id"]))
        index = [e for e in index if e.get("address") is not None]
        self.assertTrue(index, "image_extract wrote no CUDA resources with an address")
        h = hashlib.sha256()
        for t in layout:
            ptr, n = t["data_ptr"], t["nbytes"]
            e = next((e for e in index if e["address"] <= ptr and ptr + n <= e["address"] + e["size"]), None)
            self.assertIsNotNone(e, f"tensor {t['name']} at {ptr:#x} (+{n}) is in no resource of the image")
            with open(os.path.join(out, f"res{e['index']}.bin"), "rb") as f:
                f.seek(ptr - e["address"])
                data = f.read(n)
            self.assertEqual(len(data), n, f"tensor {t['name']}: resource file too short")
            h.update(data)
        got = h.hexdigest()
        ks = [k for k, c in sorted(ref_steps.items()) if c == got]
        self.assertTrue(ks, "the image's tensors match the state after no step of an uninterrupted run")
        k = ks[0]
        self.assertGreater(k, 0)
        self.assertLess(k, ARGS.steps, "the image was taken at the end of the run, not mid-run")
        print(f"image holds the state after step {k} of {ARGS.steps}" + (f" (also {ks[1:]})" if len(ks) > 1 else ""))
        return k

    def act_step(self):
        return max(2, ARGS.steps // 4)

    # ---- scenarios ----
    def test_scenario(self):
        getattr(self, "scenario_" + ARGS.scenario)()

    def run_dump(self, mode):
        want, ref_steps = self.reference()
        app = self.start("app", under_gpucr=True)
        app.wait_ready()
        app.wait_step(self.act_step() - 1)
        at = app.next_step()
        image = os.path.join(self.tmp, "image")
        stats = self.gpucr("dump", str(app.pid), "-D", image, "--gpu-only", "--mode", mode, "--json")
        print("dump:", json.dumps(stats))
        self.assertTrue(app.running(), "the application finished before the dump completed: not mid-run")
        self.finish_and_compare(app, want, ref_steps)
        k = self.image_step(app, image, ref_steps)
        self.assertGreaterEqual(k, at)
        print(json.dumps({"scenario": ARGS.scenario, "mode": ARGS.mode, "image_step": k, "acted_after_step": at}))

    def scenario_dump_cow(self):
        self.run_dump("cow")

    def scenario_dump_dirty(self):
        self.run_dump("dirty")

    def scenario_suspend(self):
        want, ref_steps = self.reference()
        app = self.start("app", under_gpucr=True)
        app.wait_ready()
        app.wait_step(self.act_step() - 1)
        at = app.next_step()
        image = os.path.join(self.tmp, "image")
        sus = self.gpucr("suspend", str(app.pid), "-D", image, "--json")
        print("suspend:", json.dumps(sus))
        # While suspended the application makes no progress (a step's line needs the GPU).
        time.sleep(0.1)
        held_at = read_log(app.log)[-1]["step"]
        time.sleep(0.4)
        self.assertTrue(app.running(), "the application exited while suspended")
        self.assertEqual(read_log(app.log)[-1]["step"], held_at, "the application made progress while suspended")
        res = self.gpucr("resume", str(app.pid), "--json")
        print("resume:", json.dumps(res))
        k = self.image_step(app, image, ref_steps)
        self.assertGreaterEqual(k, at)
        self.finish_and_compare(app, want, ref_steps)
        print(json.dumps({"scenario": "suspend", "mode": ARGS.mode, "image_step": k, "acted_after_step": at}))

    def scenario_migrate(self):
        want, ref_steps = self.reference()
        app = self.start("app", under_gpucr=True)
        app.wait_ready()
        app.wait_step(self.act_step() - 1)
        app.next_step()
        there = self.gpucr("migrate", str(app.pid), "--device", str(ARGS.device), "--json")
        print(f"migrate to {ARGS.device}:", json.dumps(there))
        self.assertTrue(app.running(), "the application finished before the migration: not mid-run")
        app.wait_step(app.next_step() + 2)
        back = self.gpucr("migrate", str(app.pid), "--device", "0", "--json")
        print("migrate to 0:", json.dumps(back))
        self.assertTrue(app.running(), "the application finished before the migration back: not mid-run")
        self.finish_and_compare(app, want, ref_steps)

    def scenario_overhead(self):
        ms = {"plain": [], "gpucr": []}
        finals = []
        for i in range(3):
            for kind in ("plain", "gpucr"):
                last, rows = self.run_to_end(f"{kind}{i}", under_gpucr=(kind == "gpucr"), step_ms=0)
                finals.append((f"{kind}{i}", last))
                ms[kind] += [r["ms"] for r in rows if r["step"] > 1]  # step 1: warm-up
        self.assertEqual(len({f for _, f in finals}), 1, f"runs disagree: {finals}")
        plain, with_gpucr = statistics.median(ms["plain"]), statistics.median(ms["gpucr"])
        print(json.dumps({"mode": ARGS.mode, "steps": ARGS.steps, "width": ARGS.width,
                          "median_ms_plain": round(plain, 4), "median_ms_gpucr": round(with_gpucr, 4),
                          "overhead_pct": round((with_gpucr - plain) / plain * 100, 2) if plain > 0 else None}))


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--gpucr", required=True)
    p.add_argument("--extract", required=True, help="image_extract")
    p.add_argument("--python", default=sys.executable, help="the Python that has PyTorch")
    p.add_argument("--scenario", required=True, choices=["dump_cow", "dump_dirty", "suspend", "migrate", "overhead"])
    p.add_argument("--mode", default="train", choices=["train", "infer"])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--step-ms", type=int, default=100)
    p.add_argument("--width", type=int, default=2048, help="torch_loop --width (train: ~8*width^2 bytes of parameters)")
    p.add_argument("--device", type=int, default=1, help="migrate: the target device (and back to 0)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ARGS, rest = p.parse_known_args()
    ARGS.gpucr = os.path.abspath(ARGS.gpucr)
    ARGS.extract = os.path.abspath(ARGS.extract)
    if ARGS.steps < 8:
        p.error("--steps must be at least 8 (the test acts mid-run)")
    count = probe_torch(ARGS.python)
    if ARGS.scenario == "migrate" and count < 2:
        print(f"skipped: migrate needs 2 GPUs, PyTorch sees {count}")
        sys.exit(77)
    if ARGS.scenario == "migrate" and not 0 <= ARGS.device < count:
        p.error(f"--device {ARGS.device}: PyTorch sees {count} devices")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
