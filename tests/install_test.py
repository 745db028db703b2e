"""`meson install` puts the layer library, its manifest (pointing at the installed library), the
OpenCL shim and its gpucr.icd (naming the installed shim), and the gpucr command where the loaders and
users find them.

  install_test.py BUILD_DIR PREFIX LIBDIR DATADIR
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    build, prefix, libdir, datadir = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest, "--quiet"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        root = lambda p: os.path.join(dest, p.lstrip("/"))  # noqa: E731
        lib = os.path.join(prefix, libdir, "libVkLayer_gpucr.so")
        manifest = os.path.join(prefix, datadir, "vulkan", "explicit_layer.d", "VkLayer_gpucr.json")
        tool = os.path.join(prefix, "bin", "gpucr")
        cl_lib = os.path.join(prefix, libdir, "libgpucr_opencl.so")
        cl_icd = os.path.join(prefix, datadir, "gpucr", "opencl", "vendors", "gpucr.icd")
        for p in (lib, manifest, tool, cl_lib, cl_icd):
            if not os.path.isfile(root(p)):
                print(f"not installed: {p}")
                return 1
        with open(root(manifest)) as f:
            m = json.load(f)
        if m["layer"]["name"] != "VK_LAYER_GPUCR_checkpoint" or m["layer"]["library_path"] != lib:
            print(f"manifest does not name the installed library: {m}")
            return 1
        with open(root(cl_icd)) as f:
            named = f.readline().strip()
        if named != cl_lib:
            print(f"gpucr.icd names {named!r}, not the installed shim {cl_lib}")
            return 1
        if not os.access(root(tool), os.X_OK):
            print("gpucr is not executable")
            return 1
    print("installed: layer, manifest, OpenCL shim, gpucr.icd, gpucr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
