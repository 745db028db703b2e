#!/usr/bin/env python3
"""Checks example_ref --out: index.json and mem<index>.bin files, and vk_serving's host_steps header.

    check_ref_out.py build/examples/example_ref
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def dump(ref, tmp, name, *args):
    out = os.path.join(tmp, name)
    subprocess.run([ref, "--out", out, *args], check=True, timeout=50)
    with open(os.path.join(out, "index.json")) as f:
        index = json.load(f)
    mems = []
    for i, entry in enumerate(index):
        if entry["index"] != i:
            sys.exit(f"FAIL: index.json entry {i} has index {entry['index']}")
        with open(os.path.join(out, f"mem{i}.bin"), "rb") as f:
            data = f.read()
        if len(data) != entry["size"]:
            sys.exit(f"FAIL: mem{i}.bin has {len(data)} bytes, index says {entry['size']}")
        mems.append((entry["role"], data))
    return mems


def main():
    ref = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        same = dump(ref, tmp, "same", "--example", "serving", "--mib", "1", "--gpu-steps", "3")
        ahead = dump(ref, tmp, "ahead", "--example", "serving", "--mib", "1", "--gpu-steps", "3", "--host-steps", "4")
        roles = [r for r, _ in same]
        if roles != ["weights", "activations", "input", "meta"]:
            sys.exit(f"FAIL: serving roles {roles}")
        word0 = lambda data: struct.unpack_from("<I", data)[0]
        if word0(same[3][1]) != 3 or word0(ahead[3][1]) != 3:
            sys.exit("FAIL: meta[0] != gpu steps")
        if word0(same[2][1]) != 3 or word0(ahead[2][1]) != 4:
            sys.exit("FAIL: input header != host steps")
        if same[1][1] != ahead[1][1] or same[0][1] != ahead[0][1]:
            sys.exit("FAIL: host steps changed more than the input")
        many = dump(ref, tmp, "many", "--example", "manybuf", "--mib", "1", "--buffers", "5", "--gpu-steps", "2")
        if [r for r, _ in many] != [f"buf{b}" for b in range(5)] + ["meta"]:
            sys.exit("FAIL: manybuf roles")
    print("ok")


if __name__ == "__main__":
    main()
