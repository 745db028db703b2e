#!/usr/bin/env python3
"""run_clinfo.py — integration test: clinfo runs through the gpucr OpenCL shim as it runs without it.

Usage: run_clinfo.py CLINFO VENDOR_DIR

VENDOR_DIR is the build tree's directory holding only gpucr.icd. Checks that `clinfo -l` through the
shim (OCL_ICD_VENDORS=VENDOR_DIR) lists the same platforms and devices as without it, that the shim
wrapped them (its info log line), and that the full `clinfo` report is the same except for what the
shim leaves out on purpose: extensions it cannot wrap (cl_khr_command_buffer) and what clinfo shows
about them.
"""
import os
import re
import subprocess
import sys

HIDDEN = ["cl_khr_command_buffer_mutable_dispatch", "cl_khr_command_buffer", "cl_khr_semaphore",
          "cl_khr_external_semaphore", "cl_intel_accelerator", "cl_intel_motion_estimation"]


def run(cmd, env):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    return p.returncode, p.stdout, p.stderr


def normalise(text):
    """Drops what the shim hides: hidden extension names and clinfo's lines about command buffers."""
    out = []
    skip_deeper = None  # indentation of a dropped section header: its deeper lines go too
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper is not None and indent > skip_deeper:
            continue
        skip_deeper = None
        if re.search(r"command buffer|mutable dispatch|semaphore", line, re.I):
            skip_deeper = indent
            continue
        if any(h in line for h in HIDDEN) and re.match(r"^\s+(cl_\w+)\s+0x", line):
            continue  # one entry of an "extensions with version" table
        for h in HIDDEN:
            line = re.sub(r"(?<![\w])%s(?![\w])\s?" % h, "", line)
        out.append(line.rstrip())
    return out


def real_icd_library():
    """The library of the first real .icd file of the system's vendor directory."""
    d = os.environ.get("OPENCL_VENDOR_PATH") or "/etc/OpenCL/vendors"
    for name in sorted(os.listdir(d)):
        if name.endswith(".icd") and "gpucr" not in name:
            with open(os.path.join(d, name)) as f:
                return f.readline().strip()
    return None


def check_vendor_selection(clinfo, vendors, base, list_direct):
    """GPUCR_OPENCL_ICD and GPUCR_OPENCL_VENDORS choose the real ICDs; the shim never loads itself."""
    ok = True
    shim = dict(base, OCL_ICD_VENDORS=vendors, GPUCR_LOG="warn")
    lib = real_icd_library()
    if lib:
        rc, out, err = run([clinfo, "-l"], dict(shim, GPUCR_OPENCL_ICD=lib))
        if rc != 0 or out != list_direct:
            print("GPUCR_OPENCL_ICD=%s: clinfo -l differs (rc %d):\n%s%s" % (lib, rc, out, err[-1000:]))
            ok = False
    rc, out, err = run([clinfo, "-l"], dict(shim, GPUCR_OPENCL_ICD="/nonexistent/libnothing.so"))
    if "Platform #" in out or "cannot load OpenCL ICD /nonexistent/libnothing.so" not in err:
        print("GPUCR_OPENCL_ICD naming a missing library: expected no platform and a warning, got:\n" + out + err)
        ok = False
    # The vendors named by GPUCR_OPENCL_VENDORS hold only the shim itself: it must skip itself.
    rc, out, err = run([clinfo, "-l"], dict(shim, GPUCR_OPENCL_VENDORS=vendors))
    if "Platform #" in out or "no OpenCL ICD found behind the gpucr shim" not in err:
        print("GPUCR_OPENCL_VENDORS naming gpucr's own vendor directory: expected no platform, got:\n" + out + err)
        ok = False
    return ok


def main():
    clinfo, vendors = sys.argv[1], sys.argv[2]
    base = {k: v for k, v in os.environ.items() if k not in ("OCL_ICD_VENDORS", "GPUCR_DISABLE", "GPUCR_LOG")}
    base.setdefault("XDG_RUNTIME_DIR", "/tmp")
    shim = dict(base, OCL_ICD_VENDORS=vendors, GPUCR_LOG="info")
    ok = True

    rc_d, list_direct, _ = run([clinfo, "-l"], base)
    rc_s, list_shim, err_shim = run([clinfo, "-l"], shim)
    if rc_d != 0 or "Platform #0" not in list_direct:
        print("clinfo -l without the shim found no platform; nothing to compare")
        return 77
    if rc_s != 0 or list_shim != list_direct:
        print("clinfo -l through the shim differs (rc %d):\n%s\nwithout:\n%s" % (rc_s, list_shim, list_direct))
        ok = False
    if "wrapped by gpucr" not in err_shim:
        print("the shim did not report wrapping a platform:\n" + err_shim[-2000:])
        ok = False
    errors = [l for l in err_shim.splitlines() if re.match(r"^gpucr [EW] ", l)]
    if errors:
        print("the shim logged warnings or errors:\n" + "\n".join(errors[:20]))
        ok = False

    rc_d, full_direct, _ = run([clinfo], base)
    rc_s, full_shim, err = run([clinfo], dict(shim, GPUCR_LOG="warn"))
    if rc_s != 0:
        print("clinfo through the shim exited with %d:\n%s" % (rc_s, err[-2000:]))
        ok = False
    a, b = normalise(full_direct), normalise(full_shim)
    if a != b:
        import difflib
        print("clinfo reports differ beyond the hidden extensions:")
        print("\n".join(list(difflib.unified_diff(a, b, "without shim", "through shim", lineterm=""))[:60]))
        ok = False
    ok &= check_vendor_selection(clinfo, vendors, base, list_direct)
    if not ok:
        return 1
    print("clinfo through the shim: %d lines, same as without it (hidden extensions aside)" % len(full_shim.splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
