#!/usr/bin/env python3
"""vk_gen.py — generates the Vulkan layer's dispatch tables and handle-wrapping entry points from vk.xml.

Usage:
    vk_gen.py --xml /usr/share/vulkan/registry/vk.xml --hooks hooks.json --rules gen/wrap_rules.json \
              --outdir <builddir> [--wrap-parts 2]

Outputs (build products, never committed): vk_dispatch.h/.cpp, vk_object_types.h, vk_hooks.h, vk_unwrap.h,
vk_unwrap.cpp, vk_log.h, vk_log.cpp, vk_entry.h, vk_wrap_<n>.cpp, vk_proc_table.cpp.

Every device-level entry point enters the suspend gate (gate.h) first, except those wrap_rules.json lists
as "ungated"; "gated" adds instance-level ones. Every vkCmd* entry point appends to the command buffer's
log (command_log.h, vk_log_gen.py).

Covered: Vulkan 1.0-1.3 and every extension that needs no platform header; video, provisional and
disabled extensions are left out, so are api="vulkansc"-only items. Exceptions live in hooks.json and
wrap_rules.json, never here.
"""

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

from vk_log_gen import LogGen

DISPATCHABLE = ["VkInstance", "VkPhysicalDevice", "VkDevice", "VkQueue", "VkCommandBuffer"]
INSTANCE_FIRST = ["VkInstance", "VkPhysicalDevice"]
DEVICE_FIRST = ["VkDevice", "VkQueue", "VkCommandBuffer"]


def api_ok(elem):
    api = elem.get("api")
    return api is None or "vulkan" in api.split(",")


class Member:
    """A struct member or command parameter."""

    def __init__(self, elem):
        self.type = elem.find("type").text
        self.name = elem.find("name").text
        # The declaration text without comments; comments' tails still belong to it.
        text = (elem.text or "")
        for child in elem:
            if child.tag != "comment":
                text += "".join(child.itertext())
            text += child.tail or ""
        self.decl = " ".join(text.split())
        # Split at the name as a whole word ("pInfo" also ends "VkCopyMicromapInfoEXT").
        parts = re.split(r"\b%s\b" % re.escape(self.name), self.decl, maxsplit=1)
        before_name = parts[0]
        self.ptr = before_name.count("*")
        self.const = before_name.strip().startswith("const")
        self.array = len(parts) > 1 and "[" in parts[1]
        self.len = elem.get("len")
        self.altlen = elem.get("altlen")
        self.optional = elem.get("optional")
        self.values = elem.get("values")
        self.stride = elem.get("stride")


class Registry:
    def __init__(self, path, rules):
        self.root = ET.parse(path).getroot()
        self.rules = rules
        self.handles = {}        # name -> dict(dispatchable, objtype)
        self.handle_alias = {}   # alias -> canonical
        self.structs = {}        # name -> dict(members, extends, returnedonly, stype, union)
        self.struct_alias = {}
        self.commands = {}       # name -> dict(ret, params)
        self.command_alias = {}  # alias -> canonical
        self.included_cmds = []  # ordered names (incl. aliases)
        self.included_types = set()
        self.device_extensions = []
        self.instance_extensions = []
        self.parse_types()
        self.parse_commands()
        self.parse_features()

    def parse_types(self):
        for t in self.root.find("types"):
            cat = t.get("category")
            if not api_ok(t):
                continue
            if cat == "handle":
                if t.get("alias"):
                    self.handle_alias[t.get("name")] = t.get("alias")
                    continue
                name = t.find("name").text
                self.handles[name] = {
                    "dispatchable": t.find("type").text == "VK_DEFINE_HANDLE",
                    "objtype": t.get("objtypeenum"),
                }
            elif cat in ("struct", "union"):
                name = t.get("name")
                if t.get("alias"):
                    self.struct_alias[name] = t.get("alias")
                    continue
                members = [Member(m) for m in t.findall("member") if api_ok(m)]
                stype = None
                for m in members:
                    if m.name == "sType" and m.values:
                        stype = m.values
                self.structs[name] = {
                    "members": members,
                    "extends": (t.get("structextends") or "").split(",") if t.get("structextends") else [],
                    "returnedonly": t.get("returnedonly") == "true",
                    "stype": stype,
                    "union": cat == "union",
                }

    def parse_commands(self):
        for c in self.root.find("commands"):
            if not api_ok(c):
                continue
            if c.get("alias"):
                self.command_alias[c.get("name")] = c.get("alias")
                continue
            proto = c.find("proto")
            name = proto.find("name").text
            ret = proto.find("type").text
            params = [Member(p) for p in c.findall("param") if api_ok(p)]
            self.commands[name] = {"ret": ret, "params": params}

    def ext_skipped(self, ext):
        if "vulkan" not in (ext.get("supported") or "").split(","):
            return True
        if ext.get("platform") or ext.get("provisional") == "true":
            return True
        return any(s in ext.get("name") for s in self.rules["skip_extension_substrings"])

    def parse_features(self):
        seen = set()

        def take(req):
            for item in req:
                if not api_ok(item):
                    continue
                if item.tag == "command":
                    n = item.get("name")
                    if n not in seen:
                        seen.add(n)
                        self.included_cmds.append(n)
                elif item.tag == "type":
                    self.included_types.add(item.get("name"))

        for f in self.root.findall("feature"):
            if not api_ok(f):
                continue
            for req in f.findall("require"):
                if api_ok(req):
                    take(req)
        for ext in self.root.find("extensions"):
            if self.ext_skipped(ext):
                continue
            for req in ext.findall("require"):
                if api_ok(req):
                    take(req)
            (self.device_extensions if ext.get("type") == "device" else self.instance_extensions).append(ext.get("name"))
        # Member types of included structs are available too (they are in the same header).
        changed = True
        while changed:
            changed = False
            for t in list(self.included_types):
                s = self.structs.get(self.struct_alias.get(t, t))
                if not s:
                    continue
                for m in s["members"]:
                    if m.type not in self.included_types:
                        self.included_types.add(m.type)
                        changed = True

    # ---- queries ----
    def canon_struct(self, n):
        return self.struct_alias.get(n, n)

    def canon_cmd(self, n):
        return self.command_alias.get(n, n)

    def is_handle(self, t):
        return t in self.handles or t in self.handle_alias

    def canon_handle(self, t):
        return self.handle_alias.get(t, t)

    def cmd(self, n):
        return self.commands[self.canon_cmd(n)]


class StructInfo:
    """Which structs need unwrapping (contain handles at any depth or may chain such structs)."""

    def __init__(self, reg):
        self.reg = reg
        self.available = {n for n in reg.structs if n in reg.included_types}
        for a, c in reg.struct_alias.items():
            if a in reg.included_types:
                self.available.add(c)
        self.extenders = {}
        for n in sorted(self.available):
            for base in reg.structs[n]["extends"]:
                self.extenders.setdefault(reg.canon_struct(base), []).append(n)
        self.direct_memo = {}
        self.needs_memo = {}

    def has_handles_direct(self, name, stack=()):
        """Members (not pNext) carry handles, directly or in nested structs/arrays."""
        name = self.reg.canon_struct(name)
        if name in self.direct_memo:
            return self.direct_memo[name]
        if name in stack:
            return False
        s = self.reg.structs[name]
        result = False
        for m in s["members"]:
            if self.reg.is_handle(m.type):
                result = True
            elif self.reg.canon_struct(m.type) in self.reg.structs and m.ptr <= 1:
                if self.has_handles_direct(m.type, stack + (name,)) or self.chain_needs(m.type, stack + (name,)):
                    result = True
        self.direct_memo[name] = result
        return result

    def chain_needs(self, name, stack=()):
        name = self.reg.canon_struct(name)
        s = self.reg.structs[name]
        if not any(m.name == "pNext" for m in s["members"]):
            return False
        return any(self.has_handles_direct(e, stack) for e in self.extenders.get(name, []))

    def needs_unwrap(self, name):
        name = self.reg.canon_struct(name)
        if name not in self.reg.structs:
            return False
        if name not in self.needs_memo:
            self.needs_memo[name] = self.has_handles_direct(name) or self.chain_needs(name)
        return self.needs_memo[name]


def len_expr(lenattr, prefix, params=None):
    """C++ expression for a `len` attribute; None when it is not a countable expression."""
    if not lenattr:
        return "1"
    first = lenattr.split(",")[0]
    if first in ("null-terminated",) or first.startswith("latexmath"):
        return None
    if params is not None:
        byname = {p.name: p for p in params}
        root = re.split(r"->|\.", first)[0]
        if root in byname and byname[root].ptr >= 1 and "->" not in first:
            return "(*%s)" % first
        return "(%s)" % first
    return "(%s%s)" % (prefix, first)


class Gen:
    def __init__(self, reg, hooks, rules, outdir, parts):
        self.reg = reg
        self.hooks = hooks
        self.rules = rules
        self.outdir = outdir
        self.parts = parts
        self.si = StructInfo(reg)
        self.warnings = []
        self.cmds = [c for c in reg.included_cmds if c in reg.commands or c in reg.command_alias]
        for lst in ("overrides", "pre", "post"):
            for n in hooks.get(lst, []):
                if n not in self.cmds:
                    sys.exit("vk_gen: hooks.json %s lists unknown or uncovered command %s" % (lst, n))
        for lst in ("layer_impl", "ungated", "gated", "unreplayable"):
            for n in rules[lst]:
                if n not in self.cmds:
                    sys.exit("vk_gen: wrap_rules.json %s lists unknown command %s" % (lst, n))
        self.log = LogGen(reg, self.si, rules, self.warnings)

    # ---- helpers ----
    def level(self, name):
        params = self.reg.cmd(name)["params"]
        if not params or params[0].type not in DISPATCHABLE:
            return "global"
        return "instance" if params[0].type in INSTANCE_FIRST else "device"

    def hook_name(self, kind, name):
        """Hook applied to command `name`: its own listing, else its canonical command's listing."""
        lst = self.hooks.get(kind, [])
        if name in lst:
            return name
        canon = self.reg.canon_cmd(name)
        if canon in lst:
            return canon
        for alias, target in self.reg.command_alias.items():
            if target == canon and alias in lst:
                return alias
        return None

    def override_of(self, name):
        return self.hook_name("overrides", name)

    def gated(self, name):
        """Entry points that reach driver objects pass the suspend gate (gate.h)."""
        if name in self.rules["ungated"]:
            return False
        return self.level(name) == "device" or name in self.rules["gated"]

    def logged(self, name):
        return self.log.is_logged(name)

    def params_decl(self, name):
        return ", ".join(p.decl for p in self.reg.cmd(name)["params"])

    def args(self, name):
        return ", ".join(p.name for p in self.reg.cmd(name)["params"])

    def write(self, fname, text):
        path = os.path.join(self.outdir, fname)
        old = None
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
        if old != text:
            with open(path, "w") as f:
                f.write(text)

    # ---- vk_dispatch ----
    def gen_dispatch(self):
        inst = [c for c in self.cmds if self.level(c) in ("instance", "global")]
        dev = [c for c in self.cmds if self.level(c) == "device"]
        h = ["// vk_dispatch.h — generated by vk_gen.py from vk.xml: the next layer's entry points.",
             "//", "//   DeviceDispatch d; FillDeviceDispatch(&d, next_gdpa, driver_device);",
             "//   d.CreateBuffer(driver_device, &info, nullptr, &buffer);",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "", "namespace gpucr::vk {", "",
             "struct InstanceDispatch {"]
        h += ["    PFN_%s %s = nullptr;" % (c, c[2:]) for c in inst]
        h += ["};", "", "struct DeviceDispatch {"]
        h += ["    PFN_%s %s = nullptr;" % (c, c[2:]) for c in dev]
        h += ["};", "",
              "void FillInstanceDispatch(InstanceDispatch* d, PFN_vkGetInstanceProcAddr gipa, VkInstance instance);",
              "void FillDeviceDispatch(DeviceDispatch* d, PFN_vkGetDeviceProcAddr gdpa, VkDevice device);",
              "", "}  // namespace gpucr::vk", ""]
        self.write("vk_dispatch.h", "\n".join(h))
        c = ["// vk_dispatch.cpp — generated by vk_gen.py.", '#include "vk_dispatch.h"', "",
             "namespace gpucr::vk {", "",
             "void FillInstanceDispatch(InstanceDispatch* d, PFN_vkGetInstanceProcAddr gipa, VkInstance instance) {"]
        c += ['    d->%s = reinterpret_cast<PFN_%s>(gipa(instance, "%s"));' % (n[2:], n, n) for n in inst]
        c += ["}", "", "void FillDeviceDispatch(DeviceDispatch* d, PFN_vkGetDeviceProcAddr gdpa, VkDevice device) {"]
        c += ['    d->%s = reinterpret_cast<PFN_%s>(gdpa(device, "%s"));' % (n[2:], n, n) for n in dev]
        c += ["}", "", "}  // namespace gpucr::vk", ""]
        self.write("vk_dispatch.cpp", "\n".join(c))

    # ---- vk_object_types ----
    def gen_object_types(self):
        names = sorted(h for h in self.reg.handles if h in self.reg.included_types)
        h = ["// vk_object_types.h — generated by vk_gen.py: VkObjectType of every handle type, and type names.",
             "//", "//   VkObjectType t = ObjectTypeOf<VkBuffer>();   // VK_OBJECT_TYPE_BUFFER",
             "//   const char* n = ObjectTypeName(t);            // \"VkBuffer\"",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "", '#include "layers/vulkan/objects.h"', "",
             "namespace gpucr::vk {", ""]
        for n in names:
            h.append("template <>\ninline VkObjectType ObjectTypeOf<%s>() { return %s; }" % (n, self.reg.handles[n]["objtype"]))
        h += ["", "struct ObjectTypeNameEntry {", "    VkObjectType type;", "    const char* name;", "};", "",
              "inline constexpr ObjectTypeNameEntry kObjectTypeNames[] = {"]
        h += ['    {%s, "%s"},' % (self.reg.handles[n]["objtype"], n) for n in names]
        h += ["};", "", "inline const char* ObjectTypeName(VkObjectType type) {",
              "    for (const auto& e : kObjectTypeNames) {", "        if (e.type == type) return e.name;", "    }",
              '    return "VkUnknownObject";', "}", "", "}  // namespace gpucr::vk", ""]
        self.write("vk_object_types.h", "\n".join(h))

    # ---- vk_hooks.h ----
    def gen_hooks(self):
        h = ["// vk_hooks.h — generated by vk_gen.py from hooks.json: hooks the hand-written code defines.",
             "//", "// PreCall_vkX(app params) runs before the call goes down (VkResult commands may return a",
             "// non-VK_SUCCESS result to skip the call); PostCall_vkX([result,] app params) runs after output",
             "// handles are wrapped and before freed handles' wrappers are deleted. Override_vkX replaces the",
             "// generated entry point entirely.",
             "//", "//   VkResult PreCall_vkCreateBuffer(VkDevice, const VkBufferCreateInfo*, ...);",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "#include <vulkan/vk_layer.h>", "",
             "namespace gpucr::vk::hooks {", ""]
        for n in self.hooks.get("pre", []):
            ret = "VkResult" if self.reg.cmd(n)["ret"] == "VkResult" else "void"
            h.append("%s PreCall_%s(%s);" % (ret, n, self.params_decl(n)))
        for n in self.hooks.get("post", []):
            r = self.reg.cmd(n)["ret"]
            pd = self.params_decl(n)
            first = "" if r == "void" else "%s result%s" % (r, ", " if pd else "")
            h.append("void PostCall_%s(%s%s);" % (n, first, pd))
        for n in self.hooks.get("overrides", []):
            h.append("VKAPI_ATTR %s VKAPI_CALL Override_%s(%s);" % (self.reg.cmd(n)["ret"], n, self.params_decl(n)))
        h += ["", "}  // namespace gpucr::vk::hooks", "", "namespace gpucr::vk::layer {", "",
              "// Entry points implemented by hand in layers/vulkan (wrap_rules.json layer_impl).",
              "bool Disabled();"]
        for n in self.rules["layer_impl"]:
            h.append("%s Layer_%s(%s);" % (self.reg.cmd(n)["ret"], n, self.params_decl(n)))
        for n in self.rules["layer_finish"]:
            h.append("void LayerFinish_%s(%s);" % (n, self.params_decl(n)))
        h += ["", "}  // namespace gpucr::vk::layer", ""]
        self.write("vk_hooks.h", "\n".join(h))

    # ---- unwrap / wrap of structs ----
    def member_unwrap(self, sname, m, lines, indent="    "):
        """Statements that rewrite member m of copy `s` so that it carries driver handles."""
        key = "%s.%s" % (sname, m.name)
        cond = self.rules["member_conditions"].get(key)
        custom = self.rules["custom_members"].get(key)
        body = []
        if custom:
            body.append(custom)
        elif m.name == "pNext":
            if not self.si.chain_needs(sname):
                return
            body.append("s.pNext = UnwrapChain(a, s.pNext);")
        elif self.reg.is_handle(m.type):
            if m.ptr == 0 and not m.array:
                body.append("s.%s = Unwrap(s.%s);" % (m.name, m.name))
            elif m.array and m.ptr == 0:
                size = m.decl.split("[", 1)[1].split("]")[0]
                body.append("for (size_t i = 0; i < %s; ++i) s.%s[i] = Unwrap(s.%s[i]);" % (size, m.name, m.name))
            elif m.ptr == 1 and m.const:
                ln = len_expr(m.len, "s.")
                if ln is None:
                    self.warnings.append("no length for %s" % key)
                    return
                body.append("s.%s = UnwrapArray(a, s.%s, %s);" % (m.name, m.name, ln))
            else:
                self.warnings.append("unhandled handle member %s (%s)" % (key, m.decl))
                return
        elif self.reg.canon_struct(m.type) in self.reg.structs and self.si.needs_unwrap(m.type):
            t = self.reg.canon_struct(m.type)
            if self.reg.structs[t]["union"]:
                self.warnings.append("union with handles %s not unwrapped" % key)
                return
            if m.ptr == 0 and not m.array:
                body.append("UnwrapFields(a, s.%s);" % m.name)
            elif m.ptr == 0 and m.array:
                size = m.decl.split("[", 1)[1].split("]")[0]
                body.append("for (size_t i = 0; i < %s; ++i) UnwrapFields(a, s.%s[i]);" % (size, m.name))
            elif m.ptr == 1 and m.const:
                ln = len_expr(m.len, "s.")
                if ln is None:
                    self.warnings.append("no length for %s" % key)
                    return
                body.append("s.%s = UnwrapCopy(a, s.%s, %s);" % (m.name, m.name, ln))
            else:
                self.warnings.append("unhandled struct member %s (%s)" % (key, m.decl))
                return
        else:
            return
        if cond:
            lines.append("%sif (%s) {" % (indent, cond))
            lines += [indent + "    " + b for b in body]
            lines.append("%s} else {" % indent)
            lines.append("%s    s.%s = nullptr;" % (indent, m.name))
            lines.append("%s}" % indent)
        else:
            lines += [indent + b for b in body]

    def unwrap_structs(self):
        return sorted(n for n in self.si.available if self.si.needs_unwrap(n) and not self.reg.structs[n]["union"])

    def output_structs(self):
        """Structs the driver fills that carry handles: their handles are wrapped as retrieved."""
        out = []
        for n in sorted(self.si.available):
            s = self.reg.structs[n]
            if s["returnedonly"] and not s["union"] and self.si.has_handles_direct(n):
                out.append(n)
        return out

    def gen_unwrap(self):
        structs = self.unwrap_structs()
        outs = self.output_structs()
        h = ["// vk_unwrap.h — generated by vk_gen.py: copies of input structs with driver handles, and",
             "// wrapping of handles in output structs.",
             "//", "//   Arena a;", "//   const VkSubmitInfo* d = UnwrapCopy(a, pSubmits, submitCount);",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "#include <vulkan/vk_layer.h>", "",
             '#include "layers/vulkan/arena.h"', '#include "layers/vulkan/wrap.h"', "",
             "namespace gpucr::vk {", "",
             "// Copies a pNext chain into the arena when an element carries handles; returns the original otherwise.",
             "const void* UnwrapChain(Arena& a, const void* next);", ""]
        for n in structs:
            h.append("void UnwrapFields(Arena& a, %s& s);" % n)
            h.append("const %s* UnwrapCopy(Arena& a, const %s* src, size_t count);" % (n, n))
        h.append("")
        for n in outs:
            h.append("void WrapOutput(%s& s, DeviceData* d);" % n)
            h.append("void WrapOutput(%s& s, InstanceData* d);" % n)
        h += ["", "}  // namespace gpucr::vk", ""]
        self.write("vk_unwrap.h", "\n".join(h))

        c = ["// vk_unwrap.cpp — generated by vk_gen.py.", '#include "vk_unwrap.h"', "", "#include <cstring>", "",
             '#include "dag/log.h"', '#include "layers/vulkan/unwrap_custom.h"', "",
             "namespace gpucr::vk {", "", "namespace {", ""]
        # sType tables.
        stypes = []
        for n in sorted(self.si.available):
            s = self.reg.structs[n]
            if s["stype"] and not s["union"]:
                stypes.append((s["stype"], n))
        extra = self.rules["extra_chain_structs"]
        c += ["size_t StructSize(VkStructureType t) {", "    switch (t) {"]
        for st, n in stypes:
            c.append("        case %s: return sizeof(%s);" % (st, n))
        for st, n in extra.items():
            c.append("        case %s: return sizeof(%s);" % (st, n))
        c += ["        default: return 0;", "    }", "}", "",
              "bool ChainElementHasHandles(VkStructureType t) {", "    switch (t) {"]
        chain_handle = [(st, n) for st, n in stypes if self.si.has_handles_direct(n) and self.reg.structs[n]["extends"]]
        for st, n in chain_handle:
            c.append("        case %s:" % st)
        if chain_handle:
            c.append("            return true;")
        c += ["        default: return false;", "    }", "}", "",
              "// Members other than pNext of one chain element.",
              "void UnwrapChainElement(Arena& a, void* p) {",
              "    switch (static_cast<VkBaseOutStructure*>(p)->sType) {"]
        for st, n in chain_handle:
            c.append("        case %s: UnwrapMembers(a, *static_cast<%s*>(p)); break;" % (st, n))
        c += ["        default: break;", "    }", "}", "", "}  // namespace", ""]
        # Forward declarations of member helpers (defined below, used by the chain code above).
        fwd = ["void UnwrapMembers(Arena& a, %s& s);" % n for n in structs]
        c = c[:c.index("namespace {")] + fwd + [""] + c[c.index("namespace {"):]
        c += ["const void* UnwrapChain(Arena& a, const void* next) {",
              "    bool needed = false;",
              "    for (auto* p = static_cast<const VkBaseInStructure*>(next); p; p = p->pNext) {",
              "        if (ChainElementHasHandles(p->sType)) needed = true;",
              "    }",
              "    if (!needed) return next;",
              "    VkBaseOutStructure* head = nullptr;",
              "    VkBaseOutStructure* tail = nullptr;",
              "    for (auto* p = static_cast<const VkBaseInStructure*>(next); p; p = p->pNext) {",
              "        size_t size = StructSize(p->sType);",
              "        if (size == 0) {",
              '            GPUCR_LOG_WARN_ONCE("vk", "pNext chain holds unknown sType {}; handles after it stay wrapped",',
              "                                static_cast<int>(p->sType));",
              "            auto* rest = const_cast<VkBaseOutStructure*>(reinterpret_cast<const VkBaseOutStructure*>(p));",
              "            if (tail) tail->pNext = rest; else head = rest;",
              "            return head;",
              "        }",
              "        auto* copy = static_cast<VkBaseOutStructure*>(a.AllocBytes(size));",
              "        std::memcpy(copy, p, size);",
              "        copy->pNext = nullptr;",
              "        UnwrapChainElement(a, copy);",
              "        if (tail) tail->pNext = copy; else head = copy;",
              "        tail = copy;",
              "    }",
              "    return head;",
              "}", ""]
        for n in structs:
            s = self.reg.structs[n]
            body = []
            for m in s["members"]:
                if m.name == "pNext":
                    continue
                self.member_unwrap(n, m, body)
            c.append("void UnwrapMembers(Arena& a, %s& s) {" % n)
            c += body if body else ["    (void)a;", "    (void)s;"]
            c.append("}")
            c.append("")
            c.append("void UnwrapFields(Arena& a, %s& s) {" % n)
            if any(m.name == "pNext" for m in s["members"]) and self.si.chain_needs(n):
                c.append("    s.pNext = const_cast<decltype(s.pNext)>(UnwrapChain(a, s.pNext));")
            c.append("    UnwrapMembers(a, s);")
            c.append("}")
            c.append("")
            c += ["const %s* UnwrapCopy(Arena& a, const %s* src, size_t count) {" % (n, n),
                  "    if (src == nullptr || count == 0) return src;",
                  "    auto* dst = a.Alloc<%s>(count);" % n,
                  "    std::memcpy(static_cast<void*>(dst), src, sizeof(%s) * count);" % n,
                  "    for (size_t i = 0; i < count; ++i) UnwrapFields(a, dst[i]);",
                  "    return dst;", "}", ""]
        for n in outs:
            for data in ("DeviceData", "InstanceData"):
                c.append("void WrapOutput(%s& s, %s* d) {" % (n, data))
                body = []
                for m in self.reg.structs[n]["members"]:
                    if self.reg.is_handle(m.type) and m.ptr == 0:
                        if m.array:
                            size = m.decl.split("[", 1)[1].split("]")[0]
                            body.append("    for (size_t i = 0; i < %s; ++i) s.%s[i] = WrapRetrieved(s.%s[i], d);" % (size, m.name, m.name))
                        else:
                            body.append("    s.%s = WrapRetrieved(s.%s, d);" % (m.name, m.name))
                    elif m.type in outs and m.ptr == 0 and not m.array:
                        body.append("    WrapOutput(s.%s, d);" % m.name)
                    elif self.reg.is_handle(m.type):
                        self.warnings.append("output handle pointer %s.%s not wrapped" % (n, m.name))
                c += body if body else ["    (void)s;", "    (void)d;"]
                c += ["}", ""]
        c += ["}  // namespace gpucr::vk", ""]
        self.write("vk_unwrap.cpp", "\n".join(c))

    # ---- command wrappers ----
    def is_create(self, name):
        return any(name.startswith(p) for p in self.rules["create_prefixes"])

    def freed_param(self, name):
        if name in self.rules["not_destroy"]:
            return None
        if not (name.startswith("vkDestroy") or name.startswith("vkFree") or name in self.rules["extra_destroy"]):
            return None
        params = self.reg.cmd(name)["params"]
        for p in reversed(params[1:]):
            if self.reg.is_handle(p.type) and (p.ptr == 0 or p.const):
                return p
        return None

    def gen_command(self, name):
        info = self.reg.cmd(name)
        params = info["params"]
        ret = info["ret"]
        level = self.level(name)
        pre = self.hook_name("pre", name)
        post = self.hook_name("post", name)
        is_vkresult = ret == "VkResult"
        out = ["VKAPI_ATTR %s VKAPI_CALL %s(%s) noexcept {" % (ret, name, self.params_decl(name)), "    try {"]
        I = "        "
        if self.gated(name):
            out.append(I + "GateScope gate;")
        log_lines, log_call = self.log.command_code(name) if self.logged(name) else ([], None)
        has_result = ret != "void"
        layer_impl = name in self.rules["layer_impl"]
        arg_list = self.args(name)

        def pre_call(lines):
            if not pre:
                return
            if is_vkresult:
                lines.append(I + "if (VkResult pre = hooks::PreCall_%s(%s); pre != VK_SUCCESS) return pre;" % (pre, arg_list))
            else:
                lines.append(I + "hooks::PreCall_%s(%s);" % (pre, arg_list))

        def post_call(lines):
            if not post:
                return
            if has_result:
                lines.append(I + "hooks::PostCall_%s(result%s);" % (post, (", " + arg_list) if arg_list else ""))
            else:
                lines.append(I + "hooks::PostCall_%s(%s);" % (post, arg_list))

        if layer_impl:
            hooked = bool(pre or post)
            if hooked:
                out.append(I + "const bool hooked = !layer::Disabled();")
            if pre:
                if is_vkresult:
                    out.append(I + "if (hooked) {")
                    out.append(I + "    if (VkResult pre = hooks::PreCall_%s(%s); pre != VK_SUCCESS) return pre;" % (pre, arg_list))
                    out.append(I + "}")
                else:
                    out.append(I + "if (hooked) hooks::PreCall_%s(%s);" % (pre, arg_list))
            call = "layer::Layer_%s(%s)" % (name, arg_list)
            out.append(I + ("%s result = %s;" % (ret, call) if has_result else call + ";"))
            if post:
                pl = []
                post_call(pl)
                out.append(I + "if (hooked) " + pl[0].strip())
            if name in self.rules["layer_finish"]:
                out.append(I + "layer::LayerFinish_%s(%s);" % (name, arg_list))
            if log_call:
                out.append(I + log_call)
            if has_result:
                out.append(I + "return result;")
        else:
            first = params[0]
            data = "d"
            if level == "device":
                out.append(I + "DeviceData* d = DeviceDataOf(%s);" % first.name)
            else:
                out.append(I + "InstanceData* d = InstanceDataOf(%s);" % first.name)
            pre_call(out)
            arena_at = len(out)
            down_args = []
            post_wrap = []
            for p in params:
                arg = p.name
                if self.reg.is_handle(p.type):
                    if p.ptr == 0:
                        arg = "Unwrap(%s)" % p.name
                    elif p.ptr == 1 and p.const:
                        ln = len_expr(p.len, "", params)
                        arg = "UnwrapArray(a, %s, %s)" % (p.name, ln)
                    elif p.ptr == 1 and not p.const:
                        ln = len_expr(p.len, "", params)
                        post_wrap.append((p, ln))
                    else:
                        self.warnings.append("%s: unhandled handle param %s" % (name, p.decl))
                elif self.reg.canon_struct(p.type) in self.reg.structs and p.ptr == 1:
                    t = self.reg.canon_struct(p.type)
                    if p.const and self.si.needs_unwrap(t) and not self.reg.structs[t]["union"]:
                        ln = len_expr(p.len, "", params)
                        if ln is None:
                            self.warnings.append("%s: no length for %s" % (name, p.name))
                        else:
                            arg = "UnwrapCopy(a, %s, %s)" % (p.name, ln)
                    elif not p.const and t in self.output_structs():
                        post_wrap.append((p, len_expr(p.len, "", params)))
                    elif not p.const and self.si.needs_unwrap(t):
                        self.warnings.append("%s: output struct %s carries handles in and out" % (name, p.name))
                down_args.append(arg)
            call = "d->dispatch.%s(%s)" % (name[2:], ", ".join(down_args))
            if "(a, " in call:
                out.insert(arena_at, I + "Arena a;")
            out.append(I + ("%s result = %s;" % (ret, call) if has_result else call + ";"))
            # Wrap outputs.
            if post_wrap:
                retrieved = not self.is_create(name)
                wrapfn = "WrapRetrieved" if retrieved else "Wrap"
                parent = self.rules["pool_children"].get(name)
                ok = "result >= 0" if is_vkresult else "true"
                for p, ln in post_wrap:
                    if self.reg.is_handle(p.type):
                        item = "%s[i]" % p.name
                        stmt = "%s = %s(%s, d);" % (item, wrapfn, item)
                        if parent:
                            stmt = "%s = %s(%s, d, Get(%s)->id);" % (item, wrapfn, item, parent)
                    else:
                        stmt = "WrapOutput(%s[i], d);" % p.name
                    # Some commands leave valid objects beside null ones when they fail (pipelines).
                    cond = "true" if name in self.rules["wrap_outputs_on_failure"] else ok
                    out.append(I + "if (%s && %s != nullptr) {" % (cond, p.name))
                    out.append(I + "    for (size_t i = 0; i < static_cast<size_t>(%s); ++i) %s" % (ln, stmt))
                    out.append(I + "}")
            post_call(out)
            if log_call:
                out.append(I + log_call)
            freed = self.freed_param(name)
            implicit = self.rules["implicit_free"].get(name)
            if implicit:
                out.append(I + "FreeChildren(%s, d);" % implicit["pool"])
            if freed is not None:
                if freed.ptr == 0:
                    out.append(I + "DestroyWrapper(%s);" % freed.name)
                else:
                    ln = len_expr(freed.len, "", params)
                    out.append(I + "if (%s != nullptr) {" % freed.name)
                    out.append(I + "    for (size_t i = 0; i < static_cast<size_t>(%s); ++i) DestroyWrapper(%s[i]);" % (ln, freed.name))
                    out.append(I + "}")
            if has_result:
                out.append(I + "return result;")
        out += self.catch_lines(name, ret)
        return log_lines + out

    def catch_lines(self, name, ret):
        return ["    } catch (const std::bad_alloc&) {",
                '        GPUCR_LOG_ERROR("vk", "%s: out of host memory");' % name,
                self.failure_return(ret, "VK_ERROR_OUT_OF_HOST_MEMORY"),
                "    } catch (...) {",
                '        GPUCR_LOG_ERROR("vk", "%s: unexpected exception");' % name,
                self.failure_return(ret, "VK_ERROR_INITIALIZATION_FAILED"),
                "    }", "}", ""]

    def gen_override(self, name):
        """The entry point of a hand-written override (hooks.json): the gate, then the override."""
        ret = self.reg.cmd(name)["ret"]
        arg_list = self.args(name)
        I = "        "
        out = ["VKAPI_ATTR %s VKAPI_CALL %s(%s) noexcept {" % (ret, name, self.params_decl(name)), "    try {"]
        if self.gated(name):
            out.append(I + "GateScope gate;")
        log_lines, log_call = self.log.command_code(name) if self.logged(name) else ([], None)
        call = "hooks::Override_%s(%s)" % (self.override_of(name), arg_list)
        if ret == "void":
            out.append(I + call + ";")
            if log_call:
                out.append(I + log_call)
        elif log_call:
            out += [I + "%s result = %s;" % (ret, call), I + log_call, I + "return result;"]
        else:
            out.append(I + "return %s;" % call)
        out += self.catch_lines(name, ret)
        return log_lines + out

    def failure_return(self, ret, code):
        if ret == "void":
            return "        return;"
        if ret == "VkResult":
            return "        return %s;" % code
        return "        return {};"

    def generated_cmds(self):
        """Every covered command gets an entry point; an override's is a thin one (gen_override)."""
        return list(self.cmds)

    def gen_wraps(self):
        cmds = self.generated_cmds()
        chunks = [cmds[i::self.parts] for i in range(self.parts)]
        for idx, chunk in enumerate(chunks):
            c = ["// vk_wrap_%d.cpp — generated by vk_gen.py: the layer's entry points (part %d of %d)." % (idx, idx + 1, self.parts),
                 "#include <new>", "", '#include "dag/log.h"', '#include "layers/vulkan/arena.h"',
                 '#include "layers/vulkan/command_log.h"', '#include "layers/vulkan/device_data.h"',
                 '#include "layers/vulkan/gate.h"', '#include "layers/vulkan/instance_data.h"',
                 '#include "layers/vulkan/wrap.h"', '#include "vk_entry.h"', '#include "vk_hooks.h"',
                 '#include "vk_log.h"', '#include "vk_unwrap.h"', "",
                 "namespace gpucr::vk::entry {", ""]
            for n in chunk:
                lines = self.gen_override(n) if self.override_of(n) else self.gen_command(n)
                # Argument packs, replay and log functions stay local to this file.
                first = next(i for i, l in enumerate(lines) if l.startswith("VKAPI_ATTR"))
                if first:
                    c += ["namespace {", ""] + lines[:first] + ["}  // namespace", ""]
                c += lines[first:]
            c += ["}  // namespace gpucr::vk::entry", ""]
            self.write("vk_wrap_%d.cpp" % idx, "\n".join(c))

    def gen_entry_header(self):
        h = ["// vk_entry.h — generated by vk_gen.py: the layer's own entry points (namespace gpucr::vk::entry).",
             "//", "// Calling one is calling the layer as the application does: handles are the application's",
             "// (wrapped) ones, the gate is entered and the hooks run (command-buffer replay uses this).",
             "//", "//   entry::vkCmdDispatch(app_command_buffer, 1, 1, 1);",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "", "namespace gpucr::vk::entry {", ""]
        for n in self.generated_cmds():
            h.append("VKAPI_ATTR %s VKAPI_CALL %s(%s) noexcept;" % (self.reg.cmd(n)["ret"], n, self.params_decl(n)))
        h += ["", "}  // namespace gpucr::vk::entry", ""]
        self.write("vk_entry.h", "\n".join(h))

    def gen_log(self):
        self.log.gen_files(self.cmds, self.write)

    def gen_proc_table(self):
        c = ["// vk_proc_table.cpp — generated by vk_gen.py: name -> layer entry point.", "#include <cstddef>",
             "#include <cstring>", "", '#include "layers/vulkan/proc_table.h"', '#include "vk_dispatch.h"',
             '#include "vk_entry.h"', "", "namespace gpucr::vk {", "",
             "namespace {", "", "const ProcEntry kProcs[] = {"]
        entries = []
        for n in self.cmds:
            fn = "entry::%s" % n
            level = self.level(n)
            lv = {"global": "ProcLevel::kGlobal", "instance": "ProcLevel::kInstance", "device": "ProcLevel::kDevice"}[level]
            if level == "device":
                off = "offsetof(DeviceDispatch, %s)" % n[2:]
            else:
                off = "offsetof(InstanceDispatch, %s)" % n[2:]
            entries.append((n, '    {"%s", reinterpret_cast<PFN_vkVoidFunction>(&%s), %s, %s},' % (n, fn, lv, off)))
        entries.sort(key=lambda e: e[0])
        c += [e[1] for e in entries]
        c += ["};", "", "constexpr const char* kDeviceExtensions[] = {"]
        c += ['    "%s",' % e for e in sorted(self.reg.device_extensions)]
        c += ["};", "", "}  // namespace", "",
              "const ProcEntry* FindProc(const char* name) {",
              "    size_t lo = 0, hi = sizeof(kProcs) / sizeof(kProcs[0]);",
              "    while (lo < hi) {",
              "        size_t mid = (lo + hi) / 2;",
              "        int c = std::strcmp(kProcs[mid].name, name);",
              "        if (c == 0) return &kProcs[mid];",
              "        if (c < 0) lo = mid + 1; else hi = mid;",
              "    }",
              "    return nullptr;",
              "}", "",
              "bool IsCoveredDeviceExtension(const char* name) {",
              "    for (const char* e : kDeviceExtensions) {",
              "        if (std::strcmp(e, name) == 0) return true;",
              "    }",
              "    return false;",
              "}", "", "}  // namespace gpucr::vk", ""]
        self.write("vk_proc_table.cpp", "\n".join(c))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xml", required=True)
    ap.add_argument("--hooks", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--wrap-parts", type=int, default=2)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    with open(a.hooks) as f:
        hooks = json.load(f)
    with open(a.rules) as f:
        rules = json.load(f)
    reg = Registry(a.xml, rules)
    g = Gen(reg, hooks, rules, a.outdir, a.wrap_parts)
    g.gen_dispatch()
    g.gen_object_types()
    g.gen_hooks()
    g.gen_unwrap()
    g.gen_log()
    g.gen_entry_header()
    g.gen_wraps()
    g.gen_proc_table()
    if a.verbose:
        for w in sorted(set(g.warnings)):
            print("vk_gen: warning: " + w, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
