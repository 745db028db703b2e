#!/usr/bin/env python3
"""cl_gen.py — generates the OpenCL ICD shim's entry points and dispatch table from the installed headers.

Usage:
    cl_gen.py --include /usr/include --hooks hooks.json --rules gen/rules.json --outdir <builddir> [--parts 2]

Reads the member order of cl_icd_dispatch from CL/cl_icd.h and the prototypes of CL/cl.h, cl_ext.h, cl_gl.h
and cl_egl.h. Outputs (build products, never committed):
    cl_entry.h       declarations of every entry point (namespace gpucr::cl::entry), generated or hand-written
    cl_hooks.h       declarations of the hand-written Pre/Post hooks named in hooks.json
    cl_dispatch.cpp  FillDispatch() (the shim's cl_icd_dispatch) and the name -> entry point table
    cl_entry_<n>.cpp the generated entry points

A generated entry point finds the wrapper its first handle argument names (the loader dispatched on it), unwraps
every handle argument (scalars and counted arrays), calls the real ICD through that wrapper's dispatch table
(extension functions: through the platform's clGetExtensionFunctionAddressForPlatform), then wraps what comes
back: created objects (return value), events (cl_event* out argument), handles in clGet*Info results
(rules.json "info_handles"), and follows clRetain*/clRelease*. Anything the generic scheme cannot do correctly
(callbacks that receive handles, structs or property lists holding handles, output handle arrays) must be a
hand-written override in hooks.json; the generator stops with an error otherwise. Every generated entry point
enters the suspend gate (layers/opencl/gate.h) first, unless rules.json lists it as "ungated". Exceptions are
data (hooks.json, rules.json), never special cases here.
"""

import argparse
import json
import os
import re
import sys

HANDLE_TYPES = {
    "cl_platform_id": ("Platform", "CL_INVALID_PLATFORM"),
    "cl_device_id": ("Device", "CL_INVALID_DEVICE"),
    "cl_context": ("Context", "CL_INVALID_CONTEXT"),
    "cl_command_queue": ("CommandQueue", "CL_INVALID_COMMAND_QUEUE"),
    "cl_mem": ("Mem", "CL_INVALID_MEM_OBJECT"),
    "cl_program": ("Program", "CL_INVALID_PROGRAM"),
    "cl_kernel": ("Kernel", "CL_INVALID_KERNEL"),
    "cl_event": ("Event", "CL_INVALID_EVENT"),
    "cl_sampler": ("Sampler", "CL_INVALID_SAMPLER"),
}
PROTO_HEADERS = ["cl.h", "cl_ext.h", "cl_gl.h", "cl_egl.h"]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def split_top(s, sep=","):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


class Param:
    def __init__(self, decl, index):
        self.decl = " ".join(decl.split())
        m = re.search(r"\(\s*CL_CALLBACK\s*\*\s*(\w+)\s*\)\s*\((.*)\)\s*$", self.decl)
        if m:
            self.callback = True
            self.name = m.group(1)
            self.callback_params = m.group(2)
            self.base = None
            self.ptr = 0
            self.const = False
            return
        self.callback = False
        m = re.match(r"^(.*?)(\w+)\s*(\[\s*\])?$", self.decl)
        if not m or not m.group(1).strip():
            # Unnamed parameter (only in typedefs we do not read): give it a name.
            self.name = "arg%d" % index
            type_text = self.decl
        else:
            self.name = m.group(2)
            type_text = m.group(1) + ("*" if m.group(3) else "")
            if m.group(3):
                self.decl = m.group(1) + "* " + self.name
        self.ptr = type_text.count("*")
        self.const = type_text.strip().startswith("const")
        self.base = re.sub(r"\bconst\b|\*", " ", type_text).split()[-1]

    @property
    def handle(self):
        return self.base in HANDLE_TYPES


class Function:
    def __init__(self, name, ret, params, header):
        self.name = name
        self.ret = " ".join(ret.split())
        self.params = params
        self.header = header
        self.in_dispatch = False

    def sig(self, prefix=""):
        ps = ", ".join(p.decl for p in self.params) if self.params else "void"
        return "%s CL_API_CALL %s%s(%s) noexcept" % (self.ret, prefix, self.name, ps)

    def call_args(self, names=None):
        return ", ".join((names or {}).get(p.name, p.name) for p in self.params)

    @property
    def ret_handle(self):
        return self.ret in HANDLE_TYPES

    def param(self, name):
        for p in self.params:
            if p.name == name:
                return p
        return None


def parse_prototypes(include_dir):
    funcs = {}
    other_handles = set()
    for h in PROTO_HEADERS:
        path = os.path.join(include_dir, "CL", h)
        if not os.path.exists(path):
            continue
        text = strip_comments(open(path).read())
        for m in re.finditer(r"typedef\s+struct\s+_\w+\s*\*\s*(\w+)\s*;", text):
            if m.group(1) not in HANDLE_TYPES:
                other_handles.add(m.group(1))
        pat = re.compile(r"extern\s+CL_API_ENTRY\s+(.*?)\bCL_API_CALL\s+(\w+)\s*\((.*?)\)\s*(?:\w+\s*)*;", re.S)
        for m in pat.finditer(text):
            ret = re.sub(r"\bCL_\w*(PREFIX|DEPRECATED)\w*\b", " ", m.group(1))
            name = m.group(2)
            raw = m.group(3).strip()
            params = [] if raw in ("", "void") else [Param(p, i) for i, p in enumerate(split_top(raw))]
            if name not in funcs:
                funcs[name] = Function(name, ret, params, h)
    return funcs, other_handles


def parse_dispatch(include_dir):
    text = strip_comments(open(os.path.join(include_dir, "CL", "cl_icd.h")).read())
    m = re.search(r"typedef\s+struct\s+_cl_icd_dispatch\s*\{(.*?)\}\s*cl_icd_dispatch\s*;", text, re.S)
    if not m:
        sys.exit("cl_gen.py: cl_icd_dispatch not found in cl_icd.h")
    return re.findall(r"cl_api_(\w+)\s+(\w+)\s*;", m.group(1))


class Gen:
    def __init__(self, args):
        self.hooks = json.load(open(args.hooks))
        self.rules = json.load(open(args.rules))
        self.funcs, self.other_handles = parse_prototypes(args.include)
        self.dispatch = parse_dispatch(args.include)
        self.overrides = set(self.hooks.get("overrides", []))
        self.pre = set(self.hooks.get("pre", []))
        self.post = set(self.hooks.get("post", []))
        # Enqueues bracketed for the checkpoint: a hand-written PreCall_X builds the op, and
        # hooks::EndEnqueue runs after the real call (also when it failed, and on an internal error).
        self.enqueue = set(self.hooks.get("enqueue", []))
        self.pre |= self.enqueue
        self.hook_alias = self.hooks.get("hook_alias", {})
        self.ungated = set(self.rules.get("ungated", []))
        self.errors = []
        for typ, member in self.dispatch:
            if member in self.funcs:
                self.funcs[member].in_dispatch = True
        self.skipped = []
        self.entries = []  # generated or overridden, in a stable order
        for f in self.dispatch_functions() + self.extension_functions():
            self.entries.append(f)
        for name in self.overrides | self.pre | self.post:
            if name not in self.funcs:
                self.errors.append("hooks.json names %s, which no header declares" % name)
        for name in self.ungated - set(self.funcs):
            self.errors.append("rules.json \"ungated\" names %s, which no header declares" % name)
        if self.errors:
            sys.exit("cl_gen.py:\n  " + "\n  ".join(self.errors))

    def dispatch_functions(self):
        return [self.funcs[m] for _, m in self.dispatch if m in self.funcs]

    def extension_functions(self):
        out = []
        skip = set(self.rules.get("skip_functions", []))
        for name in sorted(self.funcs):
            f = self.funcs[name]
            if f.in_dispatch or name in skip or f.header == "cl.h":
                continue
            bad = [p.base for p in f.params if not p.callback and p.base in self.other_handles]
            bad += [f.ret] if f.ret in self.other_handles else []
            bad += [p.name for p in f.params if p.callback and any(
                t in p.callback_params for t in self.other_handles)]
            if bad:
                self.skipped.append((name, "uses %s" % ", ".join(sorted(set(bad)))))
                continue
            out.append(f)
        return out

    # --- classification ---------------------------------------------------------------------------------
    def counted_by(self, f, p):
        rule = self.rules.get("array_counts", {}).get("%s.%s" % (f.name, p.name))
        if rule:
            return rule
        idx = f.params.index(p)
        if idx > 0 and f.params[idx - 1].base == "cl_uint" and f.params[idx - 1].ptr == 0 and \
                f.params[idx - 1].name.startswith("num_"):
            return f.params[idx - 1].name
        return None

    def needs_override(self, f):
        """A reason why the generic scheme cannot wrap f, or None."""
        handles = [p for p in f.params if p.handle and p.ptr == 0 and not p.callback]
        if not handles:
            return "no handle argument to dispatch on"
        for p in f.params:
            if p.callback:
                if any(t in p.callback_params for t in HANDLE_TYPES):
                    return "callback %s receives handles" % p.name
                continue
            if p.base in self.rules.get("handle_holders", []):
                return "%s (%s) may hold handles" % (p.name, p.base)
            if p.handle and p.ptr == 1 and p.const and self.counted_by(f, p) is None:
                return "handle array %s has no count" % p.name
            if p.handle and p.ptr >= 1 and not p.const and not (p.base == "cl_event" and p.ptr == 1):
                return "output handle array %s" % p.name
            if p.handle and p.ptr > 1:
                return "handle pointer %s" % p.name
        return None

    def is_retain_release(self, f):
        m = re.match(r"^cl(Retain|Release)(\w+?)(EXT|KHR)?$", f.name)
        if not m or len(f.params) != 1 or not f.params[0].handle or f.params[0].ptr != 0:
            return None
        return m.group(1)

    # --- emit -----------------------------------------------------------------------------------------
    def emit_entry_h(self):
        out = ["// cl_entry.h — generated by cl_gen.py from the OpenCL headers; do not edit.",
               "#pragma once", "", '#include "layers/opencl/cl_api.h"', "",
               "namespace gpucr::cl::entry {", ""]
        for f in self.entries:
            out.append("%s;" % f.sig())
        out += ["", "}  // namespace gpucr::cl::entry", ""]
        return "\n".join(out)

    def hook_name(self, name):
        return self.hook_alias.get(name, name)

    def emit_hooks_h(self):
        out = ["// cl_hooks.h — generated by cl_gen.py: the hand-written hooks hooks.json names; do not edit.",
               "//", "// PreCall_X(self, args...) runs before the real call and may refuse it with an error code;",
               "// PostCall_X(self, result, args...) runs after it, with the application's (wrapped) handles;",
               "// for functions that create an object it runs only when the object was created.",
               "// EndEnqueue(self, ok, waits, event) closes what an enqueue's PreCall_X opened (self null: aborted).",
               "#pragma once", "", '#include "layers/opencl/cl_api.h"', '#include "layers/opencl/objects.h"', "",
               "namespace gpucr::cl::hooks {", ""]
        done = set()
        for f in self.entries:
            ps = "".join(", " + p.decl for p in f.params)
            hn = self.hook_name(f.name)
            if f.name in self.pre and ("pre", hn) not in done:
                done.add(("pre", hn))
                out.append("cl_int PreCall_%s(Object* self%s) noexcept;" % (hn, ps))
            if f.name in self.post and ("post", hn) not in done:
                done.add(("post", hn))
                res = "" if f.ret == "void" else ", %s result" % f.ret
                out.append("void PostCall_%s(Object* self%s%s) noexcept;" % (hn, res, ps))
        if self.enqueue:
            out.append("void EndEnqueue(Object* self, bool ok, cl_uint num_waits, const cl_event* waits, "
                       "const cl_event* event) noexcept;")
        out += ["", "}  // namespace gpucr::cl::hooks", ""]
        return "\n".join(out)

    def enqueue_events(self, f):
        """EndEnqueue's arguments after `ok`: the wait list (count, events) and the event out-parameter."""
        count = next((n for n in ("num_events_in_wait_list", "num_events") if f.param(n)), None)
        waits = next((n for n in ("event_wait_list", "event_list") if f.param(n)), None)
        event = "event" if f.param("event") else "nullptr"
        return "%s, %s, %s" % (count or "0", waits or "nullptr", event)

    def fail_value(self, f, code):
        """Statements returning error `code` from f."""
        if f.ret == "cl_int":
            return "return %s;" % code
        if f.ret == "void":
            return "return;"
        if not f.param("errcode_ret"):
            return "return nullptr;"
        return "{ if (errcode_ret != nullptr) *errcode_ret = %s; return nullptr; }" % code

    def emit_function(self, f):
        reason = self.needs_override(f)
        if reason:
            self.errors.append("%s needs a hand-written override in hooks.json: %s" % (f.name, reason))
            return ""
        L = []
        ps = f.params
        disp = next(p for p in ps if p.handle and p.ptr == 0 and not p.callback)
        kind, invalid = HANDLE_TYPES[disp.base]
        L.append("%s {" % f.sig())
        L.append("    try {")
        if f.name not in self.ungated:
            L.append("        GateScope gate;")
        L.append("        Object* self = Lookup(%s);" % disp.name)
        L.append("        if (self == nullptr) %s" % self.fail_value(f, invalid))
        if f.in_dispatch:
            L.append("        auto fn = self->next->%s;" % f.name)
        else:
            L.append("        auto fn = reinterpret_cast<decltype(&::%s)>(ExtensionFunction(self, \"%s\"));"
                     % (f.name, f.name))
        L.append("        if (fn == nullptr) %s" % self.fail_value(f, "CL_INVALID_OPERATION"))
        names = {}
        for p in ps:
            if p.callback or not p.handle:
                continue
            if p is disp:
                L.append("        auto r_%s = static_cast<%s>(self->real);" % (p.name, p.base))
                names[p.name] = "r_" + p.name
            elif p.ptr == 0:
                L.append("        %s r_%s = UnwrapAs(%s);" % (p.base, p.name, p.name))
                names[p.name] = "r_" + p.name
            elif p.const:
                L.append("        UnwrappedArray<%s> r_%s(%s, %s);" % (p.base, p.name, p.name, self.counted_by(f, p)))
                names[p.name] = "r_%s.data()" % p.name
        info = self.rules.get("info_handles", {}).get(f.name)
        if info:
            L.append("        size_t own_size_ret = 0;")
            L.append("        if (param_value_size_ret == nullptr) param_value_size_ret = &own_size_ret;")
        if f.name in self.pre:
            args = "".join(", " + p.name for p in ps)
            L.append("        if (cl_int pre = hooks::PreCall_%s(self%s); pre != CL_SUCCESS) %s" % (
                self.hook_name(f.name), args, self.fail_value(f, "pre")))
        call = "fn(%s)" % f.call_args(names)
        if f.ret == "void":
            L.append("        %s;" % call)
        else:
            L.append("        %s result = %s;" % (f.ret, call))
        ok = {"cl_int": "result == CL_SUCCESS", "void": "true"}.get(f.ret, "result != nullptr")
        rr = self.is_retain_release(f)
        if rr:
            L.append("        if (%s) %sApp(self);" % (ok, rr))
        for p in ps:
            if p.handle and p.base == "cl_event" and p.ptr == 1 and not p.const:
                L.append("        if (%s && %s != nullptr) *%s = WrapEvent(*%s, self, \"%s\");" % (
                    ok, p.name, p.name, p.name, f.name))
        if info:
            L.append("        if (result == CL_SUCCESS && param_value != nullptr) {")
            L.append("            switch (param_name) {")
            for pname, htype in info.items():
                L.append("                case %s:" % pname)
                L.append("                    WrapInfoHandles(ObjectType::k%s, self, param_value, "
                         "std::min(param_value_size, *param_value_size_ret));" % HANDLE_TYPES[htype][0])
                L.append("                    break;")
            L.append("                default:")
            L.append("                    break;")
            L.append("            }")
            L.append("        }")
        reason_nc = self.rules.get("not_capturable", {}).get(f.name)
        if reason_nc:
            L.append("        if (%s) MarkProcessNotCapturable(\"%s\", %s);" % (ok, f.name, json.dumps(reason_nc)))
        if f.ret_handle:
            L.append("        if (result != nullptr) {")
            L.append("            result = WrapCreated(result, self, \"%s\");" % f.name)
            if f.name not in self.post:
                L.append("            MarkUnsupported(Lookup(result), \"created by %s, which gpucr does not record\");"
                         % f.name)
            L.append("        }")
        if f.name in self.post:
            args = "".join(", " + p.name for p in ps)
            res = "" if f.ret == "void" else ", result"
            cond = "result != nullptr" if f.ret_handle else "true"
            L.append("        if (%s) hooks::PostCall_%s(self%s%s);" % (cond, self.hook_name(f.name), res, args))
        if f.name in self.enqueue:
            L.append("        hooks::EndEnqueue(self, %s, %s);" % (ok, self.enqueue_events(f)))
        if f.ret != "void":
            L.append("        return result;")
        L.append("    } catch (...) {")
        if f.name in self.enqueue:
            L.append("        hooks::EndEnqueue(nullptr, false, 0, nullptr, nullptr);")
        L.append("        GPUCR_LOG_ERROR_ONCE(\"cl\", \"%s: internal error\");" % f.name)
        L.append("        %s" % self.fail_value(f, "CL_OUT_OF_HOST_MEMORY"))
        L.append("    }")
        L.append("}")
        L.append("")
        return "\n".join(L)

    def emit_parts(self, nparts):
        bodies = []
        for f in self.entries:
            if f.name in self.overrides:
                continue
            bodies.append(self.emit_function(f))
        if self.errors:
            sys.exit("cl_gen.py:\n  " + "\n  ".join(self.errors))
        parts = []
        per = (len(bodies) + nparts - 1) // nparts
        for i in range(nparts):
            chunk = bodies[i * per:(i + 1) * per]
            head = ["// cl_entry_%d.cpp — generated by cl_gen.py from the OpenCL headers; do not edit." % i,
                    "#include <algorithm>", "",
                    '#include "cl_entry.h"', '#include "cl_hooks.h"', '#include "dag/log.h"',
                    '#include "layers/opencl/gate.h"', '#include "layers/opencl/wrap.h"', "",
                    "namespace gpucr::cl::entry {", ""]
            parts.append("\n".join(head + chunk + ["}  // namespace gpucr::cl::entry", ""]))
        return parts

    def emit_dispatch(self):
        out = ["// cl_dispatch.cpp — generated by cl_gen.py from CL/cl_icd.h; do not edit.",
               '#include "cl_entry.h"', '#include "layers/opencl/dispatch.h"', '#include "layers/opencl/info_filter.h"', "",
               "namespace gpucr::cl {", "",
               "void FillDispatch(cl_icd_dispatch* d) {"]
        for _, member in self.dispatch:
            if member in self.funcs:
                out.append("    d->%s = &entry::%s;" % (member, member))
        out.append("}")
        out.append("")
        out.append("// Every entry point the shim has, for clGetExtensionFunctionAddress[ForPlatform].")
        out.append("const EntryPoint kEntryPoints[] = {")
        for f in self.entries:
            out.append("    {\"%s\", reinterpret_cast<void*>(&entry::%s), %s}," % (
                f.name, f.name, "true" if f.in_dispatch else "false"))
        out.append("};")
        out.append("const size_t kEntryPointCount = sizeof(kEntryPoints) / sizeof(kEntryPoints[0]);")
        out.append("")
        hidden = self.rules.get("hidden_extensions", [])
        out.append("// Extensions whose entry points the shim does not wrap: not advertised (info_filter.h).")
        out.append("const char* const kHiddenExtensions[] = {%s};" % ", ".join(json.dumps(h) for h in hidden + [""]))
        out.append("const size_t kHiddenExtensionCount = %d;" % len(hidden))
        out.append("")
        out.append("// Extension functions left out (types the shim does not wrap):")
        for name, why in self.skipped:
            out.append("//   %s: %s" % (name, why))
        out += ["", "}  // namespace gpucr::cl", ""]
        return "\n".join(out)


def write(path, text):
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        with open(path, "w") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", default="/usr/include")
    ap.add_argument("--hooks", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--parts", type=int, default=2)
    args = ap.parse_args()
    g = Gen(args)
    parts = g.emit_parts(args.parts)
    write(os.path.join(args.outdir, "cl_entry.h"), g.emit_entry_h())
    write(os.path.join(args.outdir, "cl_hooks.h"), g.emit_hooks_h())
    write(os.path.join(args.outdir, "cl_dispatch.cpp"), g.emit_dispatch())
    for i, text in enumerate(parts):
        write(os.path.join(args.outdir, "cl_entry_%d.cpp" % i), text)


if __name__ == "__main__":
    main()
