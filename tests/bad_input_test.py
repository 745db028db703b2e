"""Integration tests of refusals: each gives one clear line on stderr and a non-zero exit, the
application runs on unharmed (its final checksum is that of an uninterrupted run), and no
image that looks complete is left behind. Real processes on the real Vulkan driver.
"""
import argparse
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpucr_testlib as lib  # noqa: E402

ARGS = None
MIB, STEPS, STEP_MS = 4, 40, 20


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.tools = lib.Tools(ARGS)
        self.tmpdir = lib.TempDir()
        self.tmp = self.tmpdir.__enter__()
        self.env = lib.test_env(self.tmp)

    def tearDown(self):
        self.tmpdir.__exit__(None, None, None)

    def assertOneLineFailure(self, r, *needles):
        self.assertEqual(r.returncode, 1, f"expected exit 1, got {r.returncode}: {r.stderr}")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one line on stderr, got: {r.stderr!r}")
        self.assertTrue(lines[0].startswith("gpucr: "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertEqual(r.stdout, "")

    def start(self, extra=()):
        return lib.RunningApp(self.tools, self.tmp, self.env, "vk_serving",
                              ["--mib", str(MIB), "--steps", str(STEPS), "--step-ms", str(STEP_MS)] + list(extra))

    def assertAppUnharmed(self, app):
        rc, last, err = app.finish()
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(last, lib.reference_checksum(self.tools, "serving", MIB, STEPS))

    def assertNoImage(self, image):
        parent = os.path.dirname(image)
        leftovers = [n for n in os.listdir(parent) if n.startswith(os.path.basename(image))]
        for n in leftovers:
            self.assertFalse(os.path.exists(os.path.join(parent, n, "COMPLETE")), f"{n} looks complete")
        self.assertEqual([n for n in leftovers if ".partial" in n], [], "temporary image left behind")

    def test_dump_of_a_process_without_agent(self):
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            image = os.path.join(self.tmp, "img")
            r = lib.gpucr(self.tools, self.env, "dump", str(sleeper.pid), "-D", image, "--gpu-only")
            self.assertOneLineFailure(r, str(sleeper.pid))
            self.assertIsNone(sleeper.poll(), "the process was harmed")
            self.assertFalse(os.path.exists(image))
        finally:
            sleeper.kill()
            sleeper.wait()

    def test_dump_into_a_non_empty_directory(self):
        image = os.path.join(self.tmp, "img")
        os.makedirs(image)
        with open(os.path.join(image, "keep.txt"), "w") as f:
            f.write("user data")
        app = self.start()
        try:
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertOneLineFailure(r, "not empty")
        finally:
            self.assertAppUnharmed(app)
        self.assertEqual(os.listdir(image), ["keep.txt"])
        with open(os.path.join(image, "keep.txt")) as f:
            self.assertEqual(f.read(), "user data")

    def test_dump_of_an_app_using_an_unsupported_object(self):
        image = os.path.join(self.tmp, "img")
        app = self.start(["--render-pass"])
        try:
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertOneLineFailure(r, "VkRenderPass")
        finally:
            self.assertAppUnharmed(app)
        self.assertNoImage(image)

    def test_opencl_app_using_shared_virtual_memory(self):
        """OpenCL: SVM is not captured; dump and suspend refuse, naming it."""
        image = os.path.join(self.tmp, "img")
        app = lib.RunningApp(self.tools, self.tmp, self.env, "cl_serving",
                             ["--mib", str(MIB), "--steps", str(STEPS), "--step-ms", str(STEP_MS), "--svm"])
        try:
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertOneLineFailure(r, "clSVMAlloc")
            r = lib.gpucr(self.tools, self.env, "suspend", str(app.pid), "-D", image)
            self.assertOneLineFailure(r, "clSVMAlloc")
        finally:
            self.assertAppUnharmed(app)
        self.assertNoImage(image)

    def test_opencl_suspend_with_a_mapping_held(self):
        """OpenCL: a suspend needs every mapping closed; one held for good is refused, naming the
        buffer, and the application continues. A dump of it works (the mapping is only read)."""
        app = lib.RunningApp(self.tools, self.tmp, self.env, "cl_serving",
                             ["--mib", str(MIB), "--steps", "400", "--step-ms", str(STEP_MS), "--hold-map"])
        image = os.path.join(self.tmp, "img")
        try:
            r = lib.gpucr(self.tools, self.env, "suspend", str(app.pid), "-D", image)
            self.assertOneLineFailure(r, "cl_mem", "mapped")
            self.assertNoImage(image)
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            rc, last, err = app.finish()
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(last, lib.reference_checksum(self.tools, "serving", MIB, 400))

    def test_opencl_dump_of_an_unknown_pid(self):
        image = os.path.join(self.tmp, "img")
        r = lib.gpucr(self.tools, self.env, "dump", "999999999", "-D", image, "--gpu-only")
        self.assertOneLineFailure(r, "999999999")
        self.assertFalse(os.path.exists(image))

    def test_app_exiting_during_a_dump_leaves_nothing(self):
        image = os.path.join(self.tmp, "img")
        self.env["GPUCR_TEST_DELAY_AFTER_CUT_MS"] = "3000"  # the app's last steps end inside the dump
        app = lib.RunningApp(self.tools, self.tmp, self.env, "vk_serving",
                             ["--mib", str(MIB), "--steps", "20", "--step-ms", "20"])
        try:
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertOneLineFailure(r, "exited during the dump")
        finally:
            rc, last, err = app.finish()
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(last, lib.reference_checksum(self.tools, "serving", MIB, 20))
        self.assertFalse(os.path.exists(image))
        self.assertNoImage(image)

    def good_image(self):
        image = os.path.join(self.tmp, "img")
        app = self.start()
        try:
            time.sleep(0.2)
            r = lib.gpucr(self.tools, self.env, "dump", str(app.pid), "-D", image, "--gpu-only")
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            self.assertAppUnharmed(app)
        self.assertEqual(lib.gpucr(self.tools, self.env, "verify", "-D", image).returncode, 0)
        return image

    def chunks(self, image):
        out = []
        for root, _, files in os.walk(os.path.join(image, "chunks")):
            out += [os.path.join(root, f) for f in files]
        return sorted(out, key=os.path.getsize)

    def test_truncated_chunk_is_refused_naming_it(self):
        image = self.good_image()
        chunk = self.chunks(image)[-1]
        with open(chunk, "r+b") as f:
            f.truncate(os.path.getsize(chunk) // 2)
        r = lib.gpucr(self.tools, self.env, "verify", "-D", image)
        self.assertOneLineFailure(r, os.path.basename(chunk), "truncated")

    def test_flipped_byte_in_a_chunk_is_refused_naming_it(self):
        image = self.good_image()
        chunk = self.chunks(image)[-1]
        with open(chunk, "r+b") as f:
            f.seek(os.path.getsize(chunk) - 100)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        r = lib.gpucr(self.tools, self.env, "verify", "-D", image)
        self.assertOneLineFailure(r, os.path.basename(chunk))

    def test_flipped_byte_in_the_manifest_is_refused_naming_it(self):
        image = self.good_image()
        manifest = os.path.join(image, "manifest.json")
        with open(manifest, "r+b") as f:
            data = bytearray(f.read())
            i = data.index(b'"mode"')
            data[i + 2] ^= 0x01
            f.seek(0)
            f.write(data)
        for cmd in ("verify", "inspect"):
            r = lib.gpucr(self.tools, self.env, cmd, "-D", image)
            self.assertOneLineFailure(r, "manifest.json")

    def test_truncated_image_without_completion_marker_is_refused(self):
        image = self.good_image()
        os.remove(os.path.join(image, "COMPLETE"))
        for cmd in ("verify", "inspect"):
            r = lib.gpucr(self.tools, self.env, cmd, "-D", image)
            self.assertOneLineFailure(r, "incomplete")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    lib.add_tool_args(p)
    ARGS, rest = p.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
