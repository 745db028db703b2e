#!/usr/bin/env python3
"""Embeds an OpenCL C source file in a C++ header, as a string constant (a build step of examples/opencl).

    embed_cl.py kernels/stencil.cl stencil_cl.h kStencilCl
"""
import os
import sys

DELIMITER = "gpucr_cl"


def main():
    src, out, name = sys.argv[1:4]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    if f"){DELIMITER}\"" in text:
        sys.exit(f"embed_cl.py: {src} contains the raw-string delimiter {DELIMITER}")
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"// Generated from {os.path.basename(src)} by embed_cl.py; do not edit.\n")
        f.write("#pragma once\n\n")
        f.write(f"inline constexpr char {name}[] = R\"{DELIMITER}(")
        f.write(text)
        f.write(f"){DELIMITER}\";\n")


if __name__ == "__main__":
    main()
