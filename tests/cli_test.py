#!/usr/bin/env python3
"""Command-line behaviour of gpucr: exit codes, one-line errors, ps, dump, suspend, resume and migrate
against a stand-in agent.

Usage: cli_test.py PATH_TO_GPUCR [unittest args]

The stand-in agent is a Python Unix-socket server speaking docs/protocol.md; it checks the CLI's
side of the protocol only. The real agent is tested by dag/agent_test and the integration tests.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

GPUCR = None


class FakeAgent:
    """Serves <runtime>/<pid>.sock, answering each request with the given handler's lines."""

    def __init__(self, runtime_dir, pid, handler):
        self.path = os.path.join(runtime_dir, f"{pid}.sock")
        self.handler = handler
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    continue
                request = json.loads(data)
                self.requests.append(request)
                for line in self.handler(request):
                    conn.sendall((json.dumps(line) + "\n").encode())

    def close(self):
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def describe_ok(request):
    if request["cmd"] == "describe":
        yield {"ok": True, "result": {"pid": os.getpid(), "exe": "/usr/bin/fakeapp", "cmdline": ["fakeapp"],
                                      "apis": {"vulkan": {"devices": ["llvmpipe"], "objects": 5, "bytes": 4096}}}}
    elif request["cmd"] == "dump":
        yield {"event": "progress", "phase": "precopy", "done": 0, "total": 4096}
        yield {"event": "progress", "phase": "precopy", "done": 4096, "total": 4096}
        yield {"ok": True, "result": {"image": request["dir"], "mode": request["mode"], "apis": ["vulkan"],
                                      "stats": {"wall_ms": 12.5, "bytes_raw": 4096, "bytes_stored": 2048,
                                                "throughput_mib_s": 0.3, "held_max_ms": 1.5,
                                                "held_total_ms": 2.25}}}
    elif request["cmd"] == "suspend":
        yield {"event": "progress", "phase": "precopy", "done": 4096, "total": 4096}
        yield {"ok": True, "result": {"image": request["dir"], "mode": request["mode"], "apis": ["vulkan"],
                                      "stats": SUSPEND_STATS}}
    elif request["cmd"] == "resume":
        yield {"event": "progress", "phase": "verify", "done": 4096, "total": 4096}
        yield {"ok": True, "result": {"image": request.get("dir", "/remembered/img"), "device": request.get("device"),
                                      "eager": request["eager"], "apis": ["vulkan"], "stats": RESUME_STATS}}
    elif request["cmd"] == "migrate":
        result = {"device": request["device"], "mode": request["mode"], "eager": request["eager"], "apis": ["vulkan"],
                  "stats": {"suspend": SUSPEND_STATS, "resume": RESUME_STATS, "wall_ms": 40.0}}
        if "dir" in request:
            result["image"] = request["dir"]
        yield {"ok": True, "result": result}
    else:
        yield {"ok": False, "code": "invalid_argument", "error": "unknown command"}


SUSPEND_STATS = {"wall_ms": 20.5, "bytes_raw": 4096, "bytes_stored": 4096, "held_max_ms": 1.5, "held_total_ms": 2.25}
# The front-end reports only some of the keys gpucr shows; the others print as "-".
RESUME_STATS = {"verify_ms": 3.0, "wall_ms": 9.5,
                "vulkan": {"handback_ms": 4.25, "first_op_ms": 6.5, "waits": 2, "wait_ms_total": 1.0,
                           "bytes_loaded": 4096}}


def describe_suspended(request):
    yield {"ok": True, "result": {"pid": os.getpid(), "exe": "/usr/bin/fakeapp", "cmdline": ["fakeapp"],
                                  "apis": {"vulkan": {"devices": ["llvmpipe"], "objects": 5, "bytes": 4096}},
                                  "suspended": True, "image": "/img"}}


def migrate_failed(request):
    yield {"ok": False, "code": "unavailable",
           "error": "migrate to device 3 failed: vulkan: device 3 is lost; the process continues on its original device"}


def dump_refused(request):
    yield {"ok": False, "code": "failed_precondition", "error": "process does not use opencl"}


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpucr-cli-test-")
        self.runtime = os.path.join(self.tmp.name, "rt")
        os.mkdir(self.runtime, 0o700)
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ, GPUCR_RUNTIME_DIR=self.runtime)
        self.env.pop("GPUCR_DISABLE", None)
        self.agents = []

    def tearDown(self):
        for agent in self.agents:
            agent.close()
        self.tmp.cleanup()

    def gpucr(self, *args, cwd=None):
        return subprocess.run([GPUCR, *args], env=self.env, cwd=cwd, capture_output=True, text=True, timeout=60)

    def agent(self, handler=describe_ok):
        a = FakeAgent(self.runtime, os.getpid(), handler)
        self.agents.append(a)
        return a

    def assert_one_line_failure(self, r, contains):
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("gpucr: "), lines[0])
        self.assertIn(contains, lines[0])
        self.assertEqual(r.stdout, "")

    def test_usage_errors_exit_2(self):
        for args in ([], ["bogus"], ["dump"], ["dump", "1"], ["dump", "1", "-D", "x", "--mode", "fast"],
                     ["dump", "1", "-D", "x", "--nope"], ["run"], ["run", "--api", "metal", "--", "true"]):
            r = self.gpucr(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertTrue(r.stderr.startswith("gpucr: "), r.stderr)

    def test_suspend_resume_migrate_usage_errors_exit_2(self):
        for args in (["suspend", "1"], ["suspend", "-D", "x"], ["suspend", "1", "-D", "x", "--mode", "fast"],
                     ["suspend", "1", "-D", "x", "--backend", "metal"], ["resume"], ["resume", "1", "--device", "-1"],
                     ["resume", "1", "--device", "one"], ["migrate", "1"], ["migrate", "1", "-D", "x"],
                     ["migrate", "--device", "1"], ["migrate", "1", "--device", "x"],
                     ["migrate", "1", "--device", "1", "--mode", "fast"]):
            r = self.gpucr(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
            self.assertTrue(r.stderr.startswith("gpucr: "), r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_suspend_cow_is_refused_with_its_reason(self):
        agent = self.agent()
        for args in (["suspend", str(os.getpid()), "-D", os.path.join(self.tmp.name, "img"), "--mode", "cow"],
                     ["migrate", str(os.getpid()), "--device", "1", "--mode", "cow"]):
            r = self.gpucr(*args)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(r.stderr, "gpucr: suspend needs the image to show the moment the process stops: "
                                       "use --mode dirty (default) or stop\n")
        self.assertEqual(agent.requests, [])

    def test_suspend_resume_migrate_bad_pid(self):
        img = os.path.join(self.tmp.name, "img")
        for args in (["suspend", "abc", "-D", img], ["resume", "abc"], ["migrate", "0", "--device", "1"]):
            self.assert_one_line_failure(self.gpucr(*args), "invalid process id")
        for args in (["suspend", "999999", "-D", img], ["resume", "999999", "--device", "1"],
                     ["migrate", "999999", "--device", "1"]):
            self.assert_one_line_failure(self.gpucr(*args), "no gpucr agent for process 999999 (start it with gpucr run)")

    def test_suspend_into_non_empty_dir(self):
        agent = self.agent()
        img = os.path.join(self.tmp.name, "full")
        os.mkdir(img)
        open(os.path.join(img, "x"), "w").close()
        self.assert_one_line_failure(self.gpucr("suspend", str(os.getpid()), "-D", img),
                                     f"{img}: exists and is not empty")
        self.assert_one_line_failure(self.gpucr("migrate", str(os.getpid()), "--device", "1", "-D", img),
                                     f"{img}: exists and is not empty")
        self.assertEqual(agent.requests, [])

    def test_suspend_round_trip(self):
        agent = self.agent()
        r = self.gpucr("suspend", str(os.getpid()), "-D", "img", cwd=self.tmp.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        req = agent.requests[0]
        self.assertEqual(req["cmd"], "suspend")
        self.assertEqual(os.path.realpath(req["dir"]), os.path.join(os.path.realpath(self.tmp.name), "img"))
        self.assertTrue(os.path.isabs(req["dir"]))
        self.assertEqual(req["mode"], "dirty")
        self.assertEqual(req["backend"], "auto")
        self.assertTrue(r.stdout.startswith(f"suspend: {req['dir']}\n"), r.stdout)
        self.assertIn("  mode: dirty\n", r.stdout)
        self.assertIn("  application held: max 1.50 ms, total 2.25 ms\n", r.stdout)
        self.assertIn("  bytes: 4096 (stored 4096)\n", r.stdout)
        self.assertIn(f"gpucr resume {os.getpid()}\n", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_resume_round_trip(self):
        agent = self.agent()
        r = self.gpucr("resume", str(os.getpid()))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(agent.requests[0], {"cmd": "resume", "eager": False})
        self.assertIn("resume: /remembered/img\n", r.stdout)
        self.assertIn("  device: original\n", r.stdout)
        self.assertIn("  loading: on demand\n", r.stdout)
        self.assertIn("  verify: 3.00 ms\n", r.stdout)
        self.assertIn("  vulkan:\n", r.stdout)
        self.assertIn("    hand-back: 4.25 ms\n", r.stdout)
        self.assertIn("    first operation: 6.50 ms\n", r.stdout)
        self.assertIn("    fully loaded: -\n", r.stdout)
        self.assertIn("    waits: 2, total 1.00 ms, max -\n", r.stdout)
        self.assertIn("    bytes loaded: 4.0 KiB\n", r.stdout)
        self.assertIn("  wall: 9.50 ms\n", r.stdout)

        r = self.gpucr("resume", str(os.getpid()), "-D", "img", "--device", "2", "--eager", "--json",
                       cwd=self.tmp.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        req = agent.requests[1]
        self.assertEqual(req["device"], 2)
        self.assertEqual(req["eager"], True)
        self.assertEqual(os.path.realpath(req["dir"]), os.path.join(os.path.realpath(self.tmp.name), "img"))
        result = json.loads(r.stdout)
        self.assertEqual(result["device"], 2)
        self.assertEqual(result["stats"]["vulkan"]["handback_ms"], 4.25)

    def test_migrate_round_trip(self):
        agent = self.agent()
        r = self.gpucr("migrate", str(os.getpid()), "--device", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(agent.requests[0], {"cmd": "migrate", "device": 1, "mode": "dirty", "eager": False})
        self.assertIn("migrate: to device 1\n", r.stdout)
        self.assertIn("  image: (in memory)\n", r.stdout)
        self.assertIn("  suspend:\n    application held: max 1.50 ms, total 2.25 ms\n", r.stdout)
        self.assertIn("  resume:\n    verify: 3.00 ms\n    vulkan:\n      hand-back: 4.25 ms\n", r.stdout)
        self.assertTrue(r.stdout.endswith("  wall: 40.00 ms\n"), r.stdout)

        r = self.gpucr("migrate", str(os.getpid()), "--device", "0", "-D", os.path.join(self.tmp.name, "m"),
                       "--mode", "stop", "--eager", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(agent.requests[1]["dir"], os.path.join(self.tmp.name, "m"))
        self.assertEqual(agent.requests[1]["mode"], "stop")
        self.assertEqual(json.loads(r.stdout)["stats"]["wall_ms"], 40.0)

    def test_migrate_failure_is_one_line(self):
        self.agent(migrate_failed)
        r = self.gpucr("migrate", str(os.getpid()), "--device", "3")
        self.assert_one_line_failure(r, "the process continues on its original device")

    def test_ps_shows_suspended(self):
        self.agent(describe_suspended)
        r = self.gpucr("ps")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("STATE", r.stdout.splitlines()[0])
        self.assertEqual(r.stdout.splitlines()[1].split()[-1], "suspended")
        self.assertEqual(json.loads(self.gpucr("ps", "--json").stdout)[0]["image"], "/img")

    def test_help_and_version_exit_0(self):
        self.assertEqual(self.gpucr("--help").returncode, 0)
        self.assertEqual(self.gpucr("dump", "--help").returncode, 0)
        r = self.gpucr("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.strip(), r"^\d+\.\d+\.\d+$")

    def test_dump_pid_without_agent(self):
        r = self.gpucr("dump", "999999", "-D", os.path.join(self.tmp.name, "img"), "--gpu-only")
        self.assert_one_line_failure(r, "no gpucr agent for process 999999 (start it with gpucr run)")

    def test_dump_pid_not_a_number(self):
        r = self.gpucr("dump", "abc", "-D", os.path.join(self.tmp.name, "img"), "--gpu-only")
        self.assert_one_line_failure(r, "invalid process id")

    def test_dump_into_non_empty_dir(self):
        agent = self.agent()
        img = os.path.join(self.tmp.name, "full")
        os.mkdir(img)
        open(os.path.join(img, "x"), "w").close()
        r = self.gpucr("dump", str(os.getpid()), "-D", img, "--gpu-only")
        self.assert_one_line_failure(r, f"{img}: exists and is not empty")
        self.assertEqual(agent.requests, [])

    def test_process_dump_without_criu(self):
        # Without --gpu-only a dump goes through CRIU; none usable: one line, the agent untouched.
        agent = self.agent()
        self.env["GPUCR_CRIU"] = os.path.join(self.tmp.name, "no-such-criu")
        r = self.gpucr("dump", str(os.getpid()), "-D", os.path.join(self.tmp.name, "img"))
        self.assert_one_line_failure(r, "no-such-criu is not an executable file")
        self.assertEqual(agent.requests, [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "img")))

    def test_process_dump_refuses_cow(self):
        agent = self.agent()
        r = self.gpucr("dump", str(os.getpid()), "-D", os.path.join(self.tmp.name, "img"), "--mode", "cow")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--mode dirty", r.stderr)
        self.assertEqual(agent.requests, [])

    def test_restore_refuses_incomplete_image(self):
        img = os.path.join(self.tmp.name, "img")
        os.mkdir(img)
        open(os.path.join(img, "inventory.img"), "w").close()
        r = self.gpucr("restore", "-D", img)
        self.assert_one_line_failure(r, "is not a complete gpucr process image")
        r = self.gpucr("restore", "-D", os.path.join(self.tmp.name, "none"))
        self.assert_one_line_failure(r, "no such image directory")
        self.assertEqual(self.gpucr("restore").returncode, 2)

    def test_dump_round_trip(self):
        agent = self.agent()
        r = self.gpucr("dump", str(os.getpid()), "-D", "img", "--gpu-only", "--mode", "dirty", cwd=self.tmp.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        img = os.path.join(os.path.realpath(self.tmp.name), "img")
        self.assertEqual(len(agent.requests), 1)
        req = agent.requests[0]
        self.assertEqual(req["cmd"], "dump")
        self.assertTrue(os.path.isabs(req["dir"]))
        self.assertEqual(os.path.realpath(req["dir"]), img)
        self.assertEqual(req["mode"], "dirty")
        self.assertEqual(req["backend"], "auto")
        self.assertIn("dump: ", r.stdout)
        self.assertIn("  mode: dirty\n", r.stdout)
        self.assertIn("  application held: max 1.5 ms, total 2.2 ms\n", r.stdout)
        self.assertIn("  bytes: 4096 (stored 2048)\n", r.stdout)
        self.assertIn("  throughput: 0.3 MiB/s\n", r.stdout)
        self.assertEqual(r.stderr, "")  # not a terminal: no progress line

    def test_dump_json(self):
        self.agent()
        r = self.gpucr("dump", str(os.getpid()), "-D", os.path.join(self.tmp.name, "img"), "--gpu-only", "--json",
                       "--backend", "vulkan", "--compress")
        self.assertEqual(r.returncode, 0, r.stderr)
        result = json.loads(r.stdout)
        self.assertEqual(result["stats"]["bytes_raw"], 4096)

    def test_dump_error_from_agent(self):
        self.agent(dump_refused)
        r = self.gpucr("dump", str(os.getpid()), "-D", os.path.join(self.tmp.name, "img"), "--gpu-only",
                       "--backend", "opencl")
        self.assert_one_line_failure(r, "process does not use opencl")

    def test_ps_no_agents(self):
        r = self.gpucr("ps")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        for column in ("PID", "EXE", "APIS", "DEVICES", "OBJECTS", "BYTES", "STATE"):
            self.assertIn(column, lines[0])
        r = self.gpucr("ps", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [])

    def test_ps_lists_agent_and_removes_dead_sockets(self):
        self.agent()
        dead = subprocess.Popen(["true"])
        dead.wait()
        dead_sock = os.path.join(self.runtime, f"{dead.pid}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(dead_sock)
        s.close()
        r = self.gpucr("ps")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = r.stdout.splitlines()[1:]
        self.assertEqual(len(rows), 1, r.stdout)
        self.assertEqual(rows[0].split()[:3], [str(os.getpid()), "fakeapp", "vulkan"])
        self.assertIn("llvmpipe", rows[0])
        self.assertEqual(rows[0].split()[-1], "running")
        self.assertFalse(os.path.exists(dead_sock))
        listed = json.loads(self.gpucr("ps", "--json").stdout)
        self.assertEqual(listed[0]["apis"]["vulkan"]["objects"], 5)

    def test_ps_refuses_open_runtime_dir(self):
        os.chmod(self.runtime, 0o755)
        self.assert_one_line_failure(self.gpucr("ps"), "expected 0700")

    def test_run_unknown_api(self):
        r = self.gpucr("run", "--api", "metal", "--", "true")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("metal not in {vulkan,opencl,cuda}", r.stderr)

    def test_run_cuda_preloads_the_interposer(self):
        lib = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(GPUCR)), "..", "layers", "cuda",
                                            "libgpucr_cuda.so"))
        if not os.path.exists(lib):
            self.skipTest("CUDA interposer not built (no cuda.h)")
        self.env["LD_PRELOAD"] = "/opt/other.so"
        r = self.gpucr("run", "--api", "cuda", "--", "sh", "-c", 'echo "$LD_PRELOAD"')
        self.assertEqual(r.returncode, 0, r.stderr)
        # The interposer first, the application's own preload kept; a process without CUDA is untouched.
        self.assertEqual(r.stdout.strip(), lib + ":/opt/other.so")

    def opencl_vendor_dir(self):
        vendors = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(GPUCR)), "..", "layers", "opencl",
                                                "vendors"))
        if not os.path.exists(os.path.join(vendors, "gpucr.icd")):
            self.skipTest("OpenCL shim vendor file not built")
        return vendors

    def test_run_opencl_points_the_loader_at_the_shim(self):
        vendors = self.opencl_vendor_dir()
        self.env.pop("GPUCR_OPENCL_VENDORS", None)
        self.env["OCL_ICD_VENDORS"] = "/opt/my/vendors"
        show = 'echo "$OCL_ICD_VENDORS|$GPUCR_OPENCL_VENDORS|$VK_LOADER_LAYERS_ENABLE"'
        r = self.gpucr("run", "--api", "opencl", "--", "sh", "-c", show)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().split("|")[:2], [vendors, "/opt/my/vendors"])
        # Both front-ends at once; the loader variable that pointed at gpucr is not passed on as the real vendors.
        self.env["OCL_ICD_VENDORS"] = vendors
        self.env.pop("VK_LOADER_LAYERS_ENABLE", None)
        r = self.gpucr("run", "--api", "vulkan,opencl", "--", "sh", "-c", show)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().split("|"), [vendors, "", "VK_LAYER_GPUCR_checkpoint"])

    def test_run_opencl_program_goes_through_the_shim(self):
        self.opencl_vendor_dir()
        clinfo = shutil.which("clinfo")
        if clinfo is None:
            self.skipTest("clinfo not installed")
        self.env.pop("OCL_ICD_VENDORS", None)
        self.env["GPUCR_LOG"] = "info"
        r = self.gpucr("run", "--api", "opencl", "--", clinfo, "-l")
        self.assertEqual(r.returncode, 0, r.stderr)
        if "Platform #0" not in r.stdout:
            self.skipTest("no OpenCL platform on this machine")
        self.assertIn("wrapped by gpucr", r.stderr)

    def test_run_execs_with_layer_environment(self):
        layer_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(GPUCR)), "..", "layers", "vulkan"))
        if not os.path.exists(os.path.join(layer_dir, "VkLayer_gpucr.json")):
            self.skipTest("Vulkan layer manifest not built")
        self.env["VK_LOADER_LAYERS_ENABLE"] = "VK_LAYER_other"
        r = self.gpucr("run", "--", "sh", "-c", 'echo "$VK_ADD_LAYER_PATH|$VK_LOADER_LAYERS_ENABLE"')
        self.assertEqual(r.returncode, 0, r.stderr)
        path, layers = r.stdout.strip().split("|")
        self.assertEqual(path.split(":")[0], layer_dir)
        self.assertEqual(layers, "VK_LAYER_other,VK_LAYER_GPUCR_checkpoint")

    def test_run_missing_program(self):
        layer_dir = os.path.join(os.path.dirname(os.path.realpath(GPUCR)), "..", "layers", "vulkan")
        if not os.path.exists(os.path.join(layer_dir, "VkLayer_gpucr.json")):
            self.skipTest("Vulkan layer manifest not built")
        self.assert_one_line_failure(self.gpucr("run", "--", "/nonexistent/prog"), "/nonexistent/prog")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: cli_test.py PATH_TO_GPUCR [unittest args]")
    GPUCR = os.path.abspath(sys.argv.pop(1))
    unittest.main()
