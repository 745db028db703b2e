#!/usr/bin/env python3
"""bench/report.py on a tiny normalized result (two devices, a goal, an error, a record without a
value, a metric missing for one device): the Markdown's rows and values, the links to the plots,
the PNGs when matplotlib can be loaded, and the Markdown alone (exit 0) when it cannot."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")
sys.path.insert(0, HERE)
import report  # noqa: E402


def rec(device, api, example, mib, mode, metric, value, repeat=0):
    return {"device": device, "api": api, "example": example, "mib": mib, "mode": mode,
            "metric": metric, "value": value, "repeat": repeat, "source": "report_test"}


def sample():
    n, c, lv, vk = "nvidia", "cuda", "lavapipe", "vulkan"
    records = [
        rec(n, c, "stencil", 1024, "cow", "stall_ms", 9.0, 0),
        rec(n, c, "stencil", 1024, "cow", "stall_ms", 9.4, 1),
        rec(n, c, "stencil", 1024, "cow", "stall_ms", 9.2, 2),
        rec(n, c, "stencil", 1024, "stop", "stall_ms", 1549.0),
        rec(n, c, "stencil", 8192, "cow", "stall_ms", 12.5),
        rec(n, c, "stencil", 8192, "stop", "stall_ms", 8567.0),
        rec(n, c, "stencil", 8192, "driver", "stall_ms", 7765.3),
        rec(n, c, "stencil", 8192, "cow", "held_max_ms", 4.12),
        rec(n, c, "stencil", 8192, "cow", "capture_gbs", 44.0),
        rec(n, c, "stencil", 8192, "cow", "capture_ms", 195.0),
        rec(n, c, "stencil", 8192, "cow", "image_bytes", 8 * (1 << 30)),
        rec(n, c, "stencil", 8192, "cow", "dump_wall_ms", 12049.0),
        rec(n, c, "stencil", 8192, "ondemand", "resume_first_step_ms", 3464.3),
        rec(n, c, "stencil", 8192, "eager", "resume_first_step_ms", 3990.1),
        rec(n, c, "stencil", 8192, "ondemand", "resume_loaded_ms", 3454.7),
        rec(n, c, "stencil", 8192, "plain", "overhead_pct", 1.3),
        rec(n, c, "serving", 8192, "plain", "overhead_pct", 4.5),
        # lavapipe: no held_max_ms at all, no bandwidth, a record without a value.
        rec(lv, vk, "serving", 1024, "cow", "stall_ms", 16.6),
        rec(lv, vk, "serving", 1024, "stop", "stall_ms", 3261.0),
        rec(lv, vk, "serving", 1024, "cow", "capture_gbs", 5.37),
        rec(lv, vk, "serving", 1024, "dirty", "stall_ms", None),
    ]
    return {
        "schema": "gpucr-bench-suite v1", "date": "2026-11-29T00:10:00+00:00", "host": "testhost",
        "kernel": "6.18.0-test", "cpus": 16, "command": "python3 bench/suite.py --smoke", "commit": "abc1234",
        "smoke": True,
        "devices": [{"id": n, "api": c, "name": "NVIDIA H200", "driver": "580.159.04"},
                    {"id": lv, "api": vk, "name": "llvmpipe (LLVM 15.0.6)", "driver": "Mesa 22.3.6"}],
        "bandwidth": [{"device": n, "kind": "pinned_d2h", "gbs": 55.0},
                      {"device": n, "kind": "pageable_d2h", "gbs": 13.4}],
        "records": records,
        "errors": [{"source": "criu_bench.py", "device": n, "message": "criu: plugin | not found\nskipped"}],
        "goals": [{"name": "cow stall at 8 GiB", "target": "< 10 ms", "device": n, "api": c,
                   "example": "stencil", "measured": 12.5, "met": False, "gap": "+2.5 ms",
                   "cause": "one copy stream"}],
    }


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.json = os.path.join(self.dir, "suite.json")
        with open(self.json, "w") as f:
            json.dump(sample(), f)

    def tearDown(self):
        self.tmp.cleanup()

    def run_report(self, *args):
        p = subprocess.run([sys.executable, REPORT, self.json, *args], capture_output=True, text=True,
                           timeout=50)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def test_markdown(self):
        p = self.run_report("--title", "Test run")
        md = p.stdout
        for want in [
            "# Test run",
            "- Command: `python3 bench/suite.py --smoke`",
            "- Host: testhost", "- Kernel: 6.18.0-test", "- CPUs: 16", "- Commit: abc1234",
            "**Smoke run**",
            "| nvidia | cuda | NVIDIA H200 | 580.159.04 |",
            "| lavapipe | vulkan | llvmpipe (LLVM 15.0.6) | Mesa 22.3.6 |",
            "- **stall_ms**: application's longest step during the dump/suspend window minus its median",
            "- **overhead_pct**: steady state, no dump: median step with gpucr vs without, in %",
            "## nvidia / cuda (NVIDIA H200)",
            # Stall: median and min-max over 3 repeats; a mode without a value at a size is "-".
            "| example | MiB | cow | stop | driver |",
            "| stencil | 1024 | 9.20 (9.00–9.40) | 1549 | – |",
            "| stencil | 8192 | 12.5 | 8567 | 7765 |",
            "| stencil | 8192 | 4.12 |",
            # Capture against the pinned bandwidth: 44 / 55 = 80%.
            "pageable_d2h 13.4 GB/s, pinned_d2h 55.0 GB/s; capture is compared with pinned_d2h",
            "| stencil | 8192 | cow | 195 | 44.0 | 55.0 | 80% | 8.00 GiB | 12049 |",
            # Resume: eager loaded is missing.
            "| stencil | 8192 | 3464 | 3990 | 3455 | – |",
            "| stencil | 8192 | +1.3% | ✓ |", "| serving | 8192 | +4.5% | ✗ |",
            "## lavapipe / vulkan (llvmpipe (LLVM 15.0.6))",
            "| serving | 1024 | 16.6 | 3261 |",
            "Measured copy bandwidth: – (none in the input).",
            "| serving | 1024 | cow | – | 5.37 | – | – | – | – |",
            "| cow stall at 8 GiB | < 10 ms | nvidia/cuda, stencil | 12.5 | ✗ | +2.5 ms | one copy stream |",
            "| criu_bench.py | nvidia | criu: plugin \\| not found skipped |",
            "| report.py | – | 1 record(s) without a metric or a numeric value left out |",
        ]:
            self.assertIn(want, md)
        # lavapipe has no held_max_ms: its section says "-" instead of a table.
        lav = md.split("## lavapipe / vulkan")[1]
        self.assertIn("### Longest hold of an application thread, held_max (ms)\n\n–\n", lav)
        self.assertNotIn("![", md)  # no --plots, no links

    def test_plots_and_md_file(self):
        md_path = os.path.join(self.dir, "out", "report.md")
        plot_dir = os.path.join(self.dir, "out", "plots")
        p = self.run_report("--md", md_path, "--plots", plot_dir)
        self.assertEqual(p.stdout, "")
        with open(md_path) as f:
            md = f.read()
        self.assertIn("| stencil | 1024 | 9.20 (9.00–9.40) | 1549 | – |", md)
        if report.load_pyplot() is None:
            self.assertIn("plots skipped", p.stderr)
            self.skipTest("matplotlib cannot be loaded: PNGs not checked")
        want = ["nvidia-cuda-stall-stencil.png", "nvidia-cuda-capture.png", "nvidia-cuda-resume.png",
                "nvidia-cuda-overhead.png", "lavapipe-vulkan-stall-serving.png",
                "lavapipe-vulkan-capture.png"]
        self.assertEqual(sorted(os.listdir(plot_dir)), sorted(want))
        for name in want:
            with open(os.path.join(plot_dir, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)
            self.assertIn(f"](plots/{name})", md)  # linked relative to the Markdown's directory

    def test_without_matplotlib(self):
        # matplotlib made unimportable: one line on stderr, the Markdown still written, exit 0.
        md_path = os.path.join(self.dir, "r.md")
        code = ("import sys, runpy; sys.modules['matplotlib'] = None; "
                f"sys.argv = [{REPORT!r}, {self.json!r}, '--md', {md_path!r}, '--plots', "
                f"{os.path.join(self.dir, 'p')!r}]; runpy.run_path({REPORT!r}, run_name='__main__')")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("plots skipped", p.stderr)
        with open(md_path) as f:
            md = f.read()
        self.assertIn("## Goals", md)
        self.assertNotIn("![", md)

    def test_empty_input(self):
        # Nothing but an object: every section is "-", no crash.
        with open(self.json, "w") as f:
            json.dump({}, f)
        md = self.run_report().stdout
        self.assertIn("- Command: –", md)
        self.assertIn("## Goals\n\n–", md)
        self.assertIn("## Errors\n\nNone.", md)


if __name__ == "__main__":
    unittest.main()
