"""vk_log_gen.py — the command-log part of vk_gen.py: deep copies of vkCmd* arguments (command_log.h).

For every vkCmd* entry point the generator emits an argument pack (a struct of the parameters, pointers
re-pointed at copies in the log's arena), a replay function that calls the layer's own entry point with
it, and a Log_ function that fills the pack and collects the ids of every handle it references. Struct
copies are generated from vk.xml into vk_log.h / vk_log.cpp:

    LogCopier c(log);
    const VkDependencyInfo* copy = LogCopy(c, pDependencyInfo, 1);   // pNext chains and arrays included

A struct is "plain" (copied by memcpy), "fixup" (memcpy plus LogFields for its pointers, handles and
pNext chain) or not copyable (None: a union holding pointers, a pointer without a length, a non-const
pointer...). A command with an argument that is not copyable is logged as unreplayable; so is one whose
pNext chain holds a structure gpucr does not know at run time.
"""

import re


class LogGen:
    def __init__(self, reg, si, rules, warnings):
        self.reg = reg
        self.si = si
        self.rules = rules
        self.warnings = warnings
        self.kind_memo = {}
        self.why = {}  # struct -> why it cannot be copied

    # ---- which commands ----
    def is_logged(self, name):
        params = self.reg.cmd(name)["params"]
        return name.startswith("vkCmd") and params and params[0].type == "VkCommandBuffer"

    # ---- struct analysis ----
    def kind(self, name, stack=()):
        """'plain', 'fixup' or None (cannot be copied)."""
        name = self.reg.canon_struct(name)
        if name in self.kind_memo:
            return self.kind_memo[name]
        if name in stack:
            # A cycle through pointers: assume copyable; were the outer struct not, the functions that
            # refer to it would not compile (a build error, never a wrong copy).
            return "fixup"
        if name in self.rules["log_plain_unions"]:
            self.kind_memo[name] = "plain"
            return "plain"
        s = self.reg.structs[name]
        result = "plain"
        for m in s["members"]:
            k = self.member_kind(name, m, stack + (name,))
            if k is None:
                result = None
                self.why.setdefault(name, "%s.%s (%s)" % (name, m.name, m.decl))
                break
            if k == "fixup":
                result = "fixup"
        if s["union"] and result == "fixup":
            self.why.setdefault(name, "union %s holds pointers or handles" % name)
            result = None
        self.kind_memo[name] = result
        return result

    def is_struct(self, t):
        return self.reg.canon_struct(t) in self.reg.structs

    def member_kind(self, sname, m, stack):
        key = "%s.%s" % (sname, m.name)
        if m.name == "sType":
            return "plain"
        if m.name == "pNext":
            return "fixup"
        if key in self.rules["log_custom_members"]:
            return "fixup"
        if key in self.rules["custom_members"]:
            return None  # unwrapped by hand: no generic copy either
        if self.reg.is_handle(m.type):
            if m.ptr == 0 or (m.ptr == 1 and m.const and self.length(m, sname) is not None):
                return "fixup"
            return None
        if m.ptr == 0:
            return self.kind(m.type, stack) if self.is_struct(m.type) else "plain"
        return "fixup" if self.pointer_copy(m, sname, stack) is not None else None

    def length(self, m, sname=None, params=None):
        """C++ expression for the element count of pointer `m`; None when the registry cannot say."""
        if not m.len:
            return None if m.type == "void" else "1"
        return self.count_expr(m.len.split(",")[0], m.altlen, sname, params)

    def count_expr(self, first, altlen, sname=None, params=None):
        """A `len` attribute (its first part) as C++: struct members prefixed with `s.`, params as they are."""
        if first == "null-terminated":
            return None
        if first.startswith("latexmath"):
            if not altlen:
                return None
            first = altlen
        if sname is not None:
            names = {x.name for x in self.reg.structs[self.reg.canon_struct(sname)]["members"]}
            return "(%s)" % re.sub(r"\b([A-Za-z_]\w*)\b",
                                   lambda g: "s." + g.group(1) if g.group(1) in names else g.group(1), first)
        names = {p.name for p in params}
        root = re.split(r"->|\.|\[", first)[0]
        if root not in names and not all(i in names or i.startswith("VK_") for i in re.findall(r"\b[A-Za-z_]\w*", first)):
            return None
        return "(%s)" % first

    def pointer_copy(self, m, sname, stack=(), params=None, value=None):
        """Expression that copies pointer member/param m (value: its C++ expression); None if impossible."""
        if not m.const:
            return None
        value = value or ("s.%s" % m.name)
        lens = (m.len or "").split(",")
        if m.type == "char" and m.ptr == 1 and lens[0] == "null-terminated":
            return "c.CopyString(%s)" % value
        if m.type == "char" and m.ptr == 2 and len(lens) == 2 and lens[1] == "null-terminated":
            n = self.count_expr(lens[0], None, sname, params)
            return None if n is None else "c.CopyStrings(%s, %s)" % (value, n)
        if m.ptr != 1 or len(lens) > 1:
            return None
        n = self.length(m, sname, params)
        if n is None:
            return None
        stride = m.stride
        if m.type == "void":
            return "c.CopyBytes(%s, %s)" % (value, n)
        if stride:
            if self.is_struct(m.type) and self.kind(m.type, stack) != "plain":
                return None
            s = ("s.%s" % stride) if sname is not None else stride
            return "c.CopyStrided(%s, %s, %s)" % (value, n, s)
        if self.reg.is_handle(m.type):
            return "c.CopyHandles(%s, %s)" % (value, n)
        if self.is_struct(m.type):
            k = self.kind(m.type, stack)
            if k is None:
                return None
            return "LogCopy(c, %s, %s)" % (value, n) if k == "fixup" else "c.CopyArray(%s, %s)" % (value, n)
        return "c.CopyArray(%s, %s)" % (value, n)

    def member_statements(self, sname, m):
        key = "%s.%s" % (sname, m.name)
        if m.name in ("sType", "pNext"):
            return []
        custom = self.rules["log_custom_members"].get(key)
        if custom:
            body = [custom]
        elif self.reg.is_handle(m.type) and m.ptr == 0:
            if m.array:
                size = m.decl.split("[", 1)[1].split("]")[0]
                body = ["for (size_t i = 0; i < %s; ++i) c.Ref(s.%s[i]);" % (size, m.name)]
            else:
                body = ["c.Ref(s.%s);" % m.name]
        elif m.ptr == 0:
            if not (self.is_struct(m.type) and self.kind(m.type) == "fixup"):
                return []
            if m.array:
                size = m.decl.split("[", 1)[1].split("]")[0]
                body = ["for (size_t i = 0; i < %s; ++i) LogFields(c, s.%s[i]);" % (size, m.name)]
            else:
                body = ["LogFields(c, s.%s);" % m.name]
        else:
            body = ["s.%s = %s;" % (m.name, self.pointer_copy(m, sname))]
        cond = self.rules["member_conditions"].get(key)
        if not cond:
            return ["    " + b for b in body]
        return ["    if (%s) {" % cond] + ["        " + b for b in body] + ["    } else {", "        s.%s = nullptr;" % m.name, "    }"]

    # ---- the structs the log needs ----
    def reachable(self, cmds):
        roots = []
        for c in cmds:
            if self.reg.cmd(c)["params"][0].type != "VkCommandBuffer":
                continue
            for p in self.reg.cmd(c)["params"]:
                if self.is_struct(p.type):
                    roots.append(self.reg.canon_struct(p.type))
        seen = set()
        pending = list(roots)
        while pending:
            n = pending.pop()
            if n in seen or n not in self.si.available:
                continue
            seen.add(n)
            s = self.reg.structs[n]
            for m in s["members"]:
                if self.is_struct(m.type) and m.name != "pNext":
                    pending.append(self.reg.canon_struct(m.type))
            if any(m.name == "pNext" for m in s["members"]):
                pending += self.si.extenders.get(n, [])
        return sorted(seen)

    def gen_files(self, cmds, write):
        structs = self.reachable(cmds)
        fixup = [n for n in structs if self.kind(n) == "fixup"]
        chain = [(self.reg.structs[n]["stype"], n) for n in structs
                 if self.reg.structs[n]["stype"] and self.kind(n) is not None and not self.reg.structs[n]["union"]]
        h = ["// vk_log.h — generated by vk_gen.py: deep copies of the structs vkCmd* commands take, for the",
             "// command log (layers/vulkan/command_log.h); every handle met is recorded by id.",
             "//", "//   LogCopier c(log);", "//   const VkDependencyInfo* copy = LogCopy(c, pDependencyInfo, 1);",
             "#pragma once", "", "#include <vulkan/vulkan.h>", "", '#include "layers/vulkan/command_log.h"', "",
             "namespace gpucr::vk {", "",
             "// A copy of a pNext chain; a structure gpucr does not know makes the copy fail (c.ok() == false).",
             "const void* LogChain(LogCopier& c, const void* next);", ""]
        for n in fixup:
            h.append("void LogFields(LogCopier& c, %s& s);" % n)
            h.append("const %s* LogCopy(LogCopier& c, const %s* src, size_t count);" % (n, n))
        h += ["", "}  // namespace gpucr::vk", ""]
        write("vk_log.h", "\n".join(h))

        c = ["// vk_log.cpp — generated by vk_gen.py.", '#include "vk_log.h"', "", "#include <cstring>", "",
             '#include "layers/vulkan/unwrap_custom.h"', "", "namespace gpucr::vk {", "", "namespace {", ""]
        c += ["void LogMembers(LogCopier& c, %s& s);" % n for n in fixup]
        c += ["", "size_t LogStructSize(VkStructureType t) {", "    switch (t) {"]
        c += ["        case %s: return sizeof(%s);" % (st, n) for st, n in chain]
        c += ["        default: return 0;", "    }", "}", "",
              "void LogChainElement(LogCopier& c, void* p) {",
              "    switch (static_cast<VkBaseOutStructure*>(p)->sType) {"]
        c += ["        case %s: LogMembers(c, *static_cast<%s*>(p)); break;" % (st, n) for st, n in chain
              if self.kind(n) == "fixup"]
        c += ["        default: break;", "    }", "}", ""]
        for n in fixup:
            body = []
            for m in self.reg.structs[n]["members"]:
                body += self.member_statements(n, m)
            c.append("void LogMembers(LogCopier& c, %s& s) {" % n)
            c += body if body else ["    (void)c;", "    (void)s;"]
            c += ["}", ""]
        c += ["}  // namespace", "",
              "const void* LogChain(LogCopier& c, const void* next) {",
              "    VkBaseOutStructure* head = nullptr;",
              "    VkBaseOutStructure* tail = nullptr;",
              "    for (auto* p = static_cast<const VkBaseInStructure*>(next); p != nullptr; p = p->pNext) {",
              "        const size_t size = LogStructSize(p->sType);",
              "        if (size == 0) {",
              '            c.Fail("a pNext chain holds a structure gpucr cannot copy", static_cast<int>(p->sType));',
              "            return nullptr;",
              "        }",
              "        auto* copy = static_cast<VkBaseOutStructure*>(c.AllocBytes(size));",
              "        std::memcpy(copy, p, size);",
              "        copy->pNext = nullptr;",
              "        LogChainElement(c, copy);",
              "        if (tail != nullptr) tail->pNext = copy; else head = copy;",
              "        tail = copy;",
              "    }",
              "    return head;",
              "}", ""]
        for n in fixup:
            s = self.reg.structs[n]
            c.append("void LogFields(LogCopier& c, %s& s) {" % n)
            if any(m.name == "pNext" for m in s["members"]):
                c.append("    s.pNext = const_cast<decltype(s.pNext)>(LogChain(c, s.pNext));")
            c += ["    LogMembers(c, s);", "}", "",
                  "const %s* LogCopy(LogCopier& c, const %s* src, size_t count) {" % (n, n),
                  "    if (src == nullptr || count == 0) return nullptr;",
                  "    auto* dst = c.Alloc<%s>(count);" % n,
                  "    std::memcpy(static_cast<void*>(dst), src, sizeof(%s) * count);" % n,
                  "    for (size_t i = 0; i < count; ++i) LogFields(c, dst[i]);",
                  "    return dst;", "}", ""]
        c += ["}  // namespace gpucr::vk", ""]
        write("vk_log.cpp", "\n".join(c))

    # ---- per command, in vk_wrap_<n>.cpp ----
    def field_decl(self, p):
        if p.array:
            base = re.split(r"\b%s\b" % re.escape(p.name), p.decl, maxsplit=1)[0].strip()
            return "%s* %s" % (base, p.name)
        return p.decl

    def arg_copy(self, p, params):
        """(statements before, expression) that copy parameter p into the pack; None if impossible."""
        if self.reg.is_handle(p.type) and p.ptr == 0 and not p.array:
            return (["c.Ref(%s);" % p.name], p.name)
        if p.array:
            size = p.decl.split("[", 1)[1].split("]")[0]
            if self.reg.is_handle(p.type):
                return ([], "c.CopyHandles(%s, %s)" % (p.name, size))
            if self.is_struct(p.type) and self.kind(p.type) != "plain":
                return None
            return ([], "c.CopyArray(%s, %s)" % (p.name, size))
        if p.ptr == 0:
            if self.is_struct(p.type) and self.kind(p.type) is None:
                return None
            if self.is_struct(p.type) and self.kind(p.type) == "fixup":
                return None  # structs by value with pointers: none in vk.xml
            return ([], p.name)
        e = self.pointer_copy(p, None, params=params, value=p.name)
        return None if e is None else ([], e)

    def command_code(self, name):
        """(lines before the entry point, the statement that logs inside it)."""
        params = self.reg.cmd(name)["params"]
        rest = params[1:]
        cb = params[0].name
        call_args = ", ".join(p.name for p in rest)
        log_call = "if (CommandLog* log = Get(%s)->log.get(); log != nullptr && log->appending()) Log_%s(*log%s);" % (
            cb, name, (", " + call_args) if call_args else "")
        copies = [self.arg_copy(p, params) for p in rest]
        if name in self.rules["unreplayable"] or any(x is None for x in copies):
            bad = [p.decl for p, x in zip(rest, copies) if x is None]
            self.warnings.append("%s is logged as unreplayable%s" % (name, (": " + ", ".join(bad)) if bad else ""))
            call = "if (CommandLog* log = Get(%s)->log.get(); log != nullptr && log->appending()) log->AddUnreplayable(\"%s\");" % (cb, name)
            return [], call
        out = []
        if rest:
            out.append("struct Args_%s {" % name)
            out += ["    %s;" % self.field_decl(p) for p in rest]
            out += ["};", ""]
        out.append("void Replay_%s(VkCommandBuffer %s, const void* p) {" % (name, cb))
        if rest:
            out.append("    const auto& a = *static_cast<const Args_%s*>(p);" % name)
            out.append("    entry::%s(%s, %s);" % (name, cb, ", ".join("a.%s" % p.name for p in rest)))
        else:
            out.append("    (void)p;")
            out.append("    entry::%s(%s);" % (name, cb))
        out += ["}", ""]
        decl = ", ".join(["CommandLog& log"] + [p.decl for p in rest])
        out.append("void Log_%s(%s) noexcept {" % (name, decl))
        out.append("    try {")
        if rest:
            out.append("        LogCopier c(log);")
            for (before, _), p in zip(copies, rest):
                out += ["        " + b for b in before]
            out.append("        auto* args = new (c.Alloc<Args_%s>()) Args_%s{" % (name, name))
            exprs = [e for _, e in copies]
            out += ["            %s%s" % (e, "," if i + 1 < len(exprs) else "") for i, e in enumerate(exprs)]
            out.append("        };")
            out.append('        c.Finish("%s", &Replay_%s, args);' % (name, name))
        else:
            out.append('        log.Add("%s", &Replay_%s, nullptr);' % (name, name))
        out += ["    } catch (...) {", '        log.AddUnreplayable("%s");' % name, "    }", "}", ""]
        return out, log_call
