#!/usr/bin/env python3
"""run_vulkaninfo.py — integration test: vulkaninfo runs through VK_LAYER_GPUCR_checkpoint without errors.

Usage: run_vulkaninfo.py VULKANINFO MANIFEST_DIR
Checks that the loader inserted the layer, vulkaninfo exits 0, and the loader reports no error.
"""
import os
import subprocess
import sys


def main():
    vulkaninfo, manifest_dir = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "GPUCR_DISABLE"):
        env.pop(var, None)
    env.update({
        "VK_ADD_LAYER_PATH": manifest_dir,
        "VK_LOADER_LAYERS_ENABLE": "VK_LAYER_GPUCR_checkpoint",
        "VK_DRIVER_FILES": "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
        "VK_LOADER_DEBUG": "error,layer",
        "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp"),
    })
    p = subprocess.run([vulkaninfo], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=100)
    log = p.stderr + p.stdout
    ok = True
    if p.returncode != 0:
        print("vulkaninfo exited with %d" % p.returncode)
        ok = False
    if "Insert instance layer \"VK_LAYER_GPUCR_checkpoint\"" not in log and "VK_LAYER_GPUCR_checkpoint" not in p.stderr:
        print("the loader did not insert VK_LAYER_GPUCR_checkpoint")
        ok = False
    errors = [l for l in log.splitlines() if l.startswith("ERROR") or "[gpucr" in l and "error" in l.lower()]
    if errors:
        print("errors:\n" + "\n".join(errors[:20]))
        ok = False
    if "VK_LAYER_GPUCR_checkpoint" not in p.stdout:
        print("vulkaninfo does not list the layer")
        ok = False
    if not ok:
        print(p.stderr[-4000:])
        return 1
    print("vulkaninfo ran through the layer: %d lines of output" % len(p.stdout.splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
