"""Helpers for gpucr's integration tests: run an example under gpucr, dump it, compare images.

Everything here drives real processes on the machine's real Vulkan driver (lavapipe in CI).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Tools:
    """Paths of the built programs, from the command line of a test."""

    def __init__(self, args):
        self.gpucr = args.gpucr
        self.examples = args.examples
        self.ref = args.ref
        self.extract = args.extract

    def example(self, name):
        """The built example: vk_* in --examples, cl_* and cu_* in the opencl and cuda directories beside it."""
        for prefix, directory in (("cl_", "opencl"), ("cu_", "cuda")):
            if name.startswith(prefix):
                return os.path.join(os.path.dirname(os.path.normpath(self.examples)), directory, name)
        return os.path.join(self.examples, name)


# Example prefix and `gpucr run --api` of each API the tests drive.
API_PREFIX = {"vulkan": "vk", "opencl": "cl", "cuda": "cu"}
RUN_API = {"cl": "opencl", "cu": "cuda"}


def skip_without_gpu(api):
    """CUDA tests need an NVIDIA GPU: exit 77 (skipped) with the reason where there is none."""
    if api != "cuda":
        return
    if not (os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi")):
        print("skipped: no NVIDIA GPU on this machine (CUDA tests run on the H200 machine)")
        sys.exit(77)


def add_api_arg(parser):
    parser.add_argument("--api", default="vulkan", choices=sorted(API_PREFIX),
                        help="the API of the example: vk_<example> on Vulkan, cl_<example> on OpenCL")


def example_name(api, example):
    return f"{API_PREFIX[api]}_{example}"


def add_tool_args(parser):
    parser.add_argument("--gpucr", required=True)
    parser.add_argument("--examples", required=True, help="directory of the built vk_* examples")
    parser.add_argument("--ref", required=True, help="example_ref")
    parser.add_argument("--extract", required=True, help="image_extract")


def test_env(tmp):
    env = dict(os.environ)
    env["GPUCR_RUNTIME_DIR"] = os.path.join(tmp, "run")
    env.setdefault("XDG_RUNTIME_DIR", tmp)
    env.pop("GPUCR_DISABLE", None)
    return env


class RunningApp:
    """An example started with `gpucr run`, waited for until its steps begin (cl_* examples through
    the OpenCL shim: `gpucr run --api opencl`)."""

    def __init__(self, tools, tmp, env, example, args, timeout=60, **popen):
        """`popen`: more arguments for subprocess.Popen (stdin, pass_fds, ...)."""
        self.ready = os.path.join(tmp, f"{example}.ready")
        self.stats = os.path.join(tmp, f"{example}.stats.json")
        run_api = RUN_API.get(example.split("_", 1)[0])
        api = ["--api", run_api] if run_api else []
        cmd = [tools.gpucr, "run"] + api + ["--", tools.example(example)] + args + [
            "--ready-file", self.ready, "--stats", self.stats, "--quiet"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     **popen)
        self.pid = self.proc.pid
        sock = os.path.join(env["GPUCR_RUNTIME_DIR"], f"{self.pid}.sock")
        deadline = time.time() + timeout
        while not (os.path.exists(self.ready) and os.path.exists(sock)):
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"{example} exited early ({self.proc.returncode}): {err[-2000:]}")
            if time.time() > deadline:
                self.kill()
                raise AssertionError(f"{example} did not become ready")
            time.sleep(0.02)

    def finish(self, timeout=300):
        out, err = self.proc.communicate(timeout=timeout)
        lines = [l for l in out.splitlines() if l.strip()]
        return self.proc.returncode, (lines[-1] if lines else ""), err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.communicate()


def reference_checksum(tools, example, mib, steps, extra=()):
    out = subprocess.run([tools.ref, "--example", example, "--mib", str(mib), "--gpu-steps", str(steps),
                          "--checksum"] + list(extra), check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def gpucr(tools, env, *args, timeout=300):
    return subprocess.run([tools.gpucr] + list(args), env=env, capture_output=True, text=True, timeout=timeout)


def extract_image(tools, image, out):
    os.makedirs(out, exist_ok=True)
    r = subprocess.run([tools.extract, image, out], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"image_extract failed: {r.stderr}")
    with open(os.path.join(out, "index.json")) as f:
        return json.load(f)


def read_u32(path, word=0):
    with open(path, "rb") as f:
        f.seek(word * 4)
        return int.from_bytes(f.read(4), "little")


def image_pattern(size):
    """What the cl_* examples write into their --image image (examples/opencl/common.cpp)."""
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


def written_before_cut(image, ahead):
    """Resources written by the last commands issued before the image's cut: walking back from the
    cut, every command that writes one of `ahead` (ids) counts, up to the first that writes none of
    them (a command of the previous, complete step). From the manifest's recorded DAG."""
    with open(os.path.join(image, "manifest.json")) as f:
        manifest = json.load(f)
    written = set()
    for section in manifest.get("sections", []):
        cut = {q["queue"]: q["seq"] for q in section.get("cut", {}).get("queues", [])}
        for queue, seq in cut.items():
            mine = sorted((op for op in section.get("dag", {}).get("ops", [])
                           if op.get("queue") == queue and op.get("seq", 0) <= seq), key=lambda op: op["seq"])
            for op in reversed(mine):
                writes = {w.get("resource") for w in op.get("writes", [])}
                if not writes & set(ahead):
                    break
                written |= writes
    return written


def cut_summary(image):
    """The cut and the last commands before it, from the manifest (for failure messages)."""
    with open(os.path.join(image, "manifest.json")) as f:
        manifest = json.load(f)
    out = []
    for section in manifest.get("sections", []):
        cut = {q["queue"]: q["seq"] for q in section.get("cut", {}).get("queues", [])}
        ops = [op for op in section.get("dag", {}).get("ops", []) if op.get("queue") in cut]
        before = [op for op in ops if op["seq"] <= cut[op["queue"]]][-4:]
        out.append(f"cut {cut}, last commands before it: " +
                   ", ".join(f"{op['seq']}:{op.get('label')}->{[w.get('resource') for w in op.get('writes', [])]}"
                             for op in before) + f"; {len(ops)} commands recorded")
    return "; ".join(out)


def compare_with_reference(tc, tools, example, mib, image, tmp, extra=()):
    """Asserts that every memory object in the image equals the CPU reference at the image's cut.

    The cut's number of completed GPU steps is read from the image's meta buffer (word 0), and
    for vk_serving the host's write count from the input buffer's header word.
    Returns the number of GPU steps at the cut.
    """
    got = os.path.join(tmp, "got")
    index = extract_image(tools, image, got)
    # cl_* --image: a 2D image beside the buffers, holding IMAGE_PATTERN for the whole run.
    for e in [e for e in index if e.get("kind") == "image"]:
        with open(os.path.join(got, f"res{e['index']}.bin"), "rb") as f:
            tc.assertEqual(f.read(), image_pattern(e["size"]), f"image object {e['id']} differs from its contents")
    # The example's memory objects, in creation order: layout entry i is the image's got(i).
    index = [e for e in index if e.get("kind") != "image"]

    def got_file(i):
        return os.path.join(got, f"res{index[i]['index']}.bin")

    # Layout of the example (roles in creation order), from the reference at step 0.
    layout_dir = os.path.join(tmp, "layout")
    subprocess.run([tools.ref, "--example", example, "--mib", str(mib), "--gpu-steps", "0", "--out", layout_dir]
                   + list(extra), check=True, capture_output=True)
    with open(os.path.join(layout_dir, "index.json")) as f:
        layout = json.load(f)
    tc.assertEqual(len(index), len(layout), f"image has {len(index)} memory objects, example has {len(layout)}")
    roles = {e["role"]: e["index"] for e in layout}
    gpu_steps = read_u32(got_file(roles['meta']))
    ref_args = ["--gpu-steps", str(gpu_steps)]
    if example == "serving":
        ref_args += ["--host-steps", str(read_u32(got_file(roles['input'])))]
    want = os.path.join(tmp, "want")
    subprocess.run([tools.ref, "--example", example, "--mib", str(mib), "--out", want] + ref_args + list(extra),
                   check=True, capture_output=True)
    # A step of the OpenCL and CUDA examples is several commands, each numbered on its own: the cut
    # can fall between two of them. Then an object written by the commands of the next step issued
    # before the cut (the image's DAG says which) holds its state after `gpu_steps + 1` steps, every
    # other one its state after `gpu_steps`, and meta (written last) says `gpu_steps`. A write after
    # the cut that copy-on-write missed would look the same, but its command is not before the cut.
    nxt = os.path.join(tmp, "want_next")
    if example != "serving":
        subprocess.run([tools.ref, "--example", example, "--mib", str(mib), "--out", nxt,
                        "--gpu-steps", str(gpu_steps + 1)] + list(extra), check=True, capture_output=True)
    mid_step = []
    failures = []
    for e in layout:
        i = e["index"]
        with open(got_file(i), "rb") as f:
            g = f.read()
        with open(os.path.join(want, f"mem{i}.bin"), "rb") as f:
            w = f.read()
        tc.assertGreaterEqual(len(g), len(w), f"memory object {i} ({e['role']}) is smaller in the image")
        tc.assertEqual(g[len(w):], bytes(len(g) - len(w)), f"memory object {i}: tail past the buffer not zero")
        if g[:len(w)] == w:
            continue
        n = None
        if example != "serving" and e["role"] != "meta":
            with open(os.path.join(nxt, f"mem{i}.bin"), "rb") as f:
                n = f.read()
        first = next(k for k in range(len(w)) if g[k] != w[k])
        if n is not None and g[:len(n)] == n:
            mid_step.append((e["role"], index[i]["id"], first))
        else:
            failures.append(f"memory object {i} ({e['role']}, id {index[i]['id']}) differs from the reference after "
                            f"{gpu_steps} steps at byte {first}" + ("" if n is None else f" and from the state after {gpu_steps + 1}"))
    if failures:
        tc.fail("; ".join(failures))
    if mid_step:
        written = written_before_cut(image, [m[1] for m in mid_step])
        for role, rid, first in mid_step:
            if rid not in written:
                tc.fail(f"memory object {role} (id {rid}) differs from the reference after {gpu_steps} steps at byte "
                        f"{first}; it equals the state after {gpu_steps + 1} steps, but none of the last commands "
                        f"before the cut wrote it (written: {sorted(written)}; {cut_summary(image)})")
        mid_step = [m[0] for m in mid_step]
    if mid_step:
        print(f"the cut fell inside step {gpu_steps}: {', '.join(mid_step)} already written by it")
    return gpu_steps


class TempDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="gpucr-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def section_stats(tools, env, image, api="vulkan"):
    """The engine's statistics of one API section of an image (from gpucr inspect --json)."""
    r = gpucr(tools, env, "inspect", "-D", image, "--json")
    if r.returncode != 0:
        raise AssertionError(f"inspect failed: {r.stderr}")
    manifest = json.loads(r.stdout)
    for section in manifest["sections"]:
        if section.get("api") == api:
            return section["stats"]
    raise AssertionError(f"image has no {api} section")
