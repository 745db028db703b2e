#!/usr/bin/env python3
"""Turns one normalized benchmark result (schema "gpucr-bench-suite v1", written by bench/suite.py)
into a Markdown report and, with --plots, PNG plots.

  python3 bench/report.py bench/results/suite-X.json --md bench/results/suite-X.md \
      --plots bench/results/suite-X-plots

Markdown (stdout, or --md FILE): the run (command, date, host, kernel, CPUs, commit), its
devices, the metric definitions, then for each device and API: the application's stall against
state size (rows example x MiB, one column per gpucr mode or baseline, the median over repeats
and min-max when there are several), gpucr's longest hold of an application thread, capture
throughput against the device's measured copy bandwidth with image size and dump wall time,
resume (first step and fully loaded, on demand against eager), steady-state overhead; then the
goals and the errors. What the input lacks is shown as "-"; no figure is made up.

Plots (--plots DIR, matplotlib with the Agg backend), named <device>-<api>-<plot>.png and linked
from the Markdown relative to its directory: stall-<example> (stall against state size,
log-log, a line per mode), capture (throughput bars per size and mode, with the measured copy
bandwidth and 80% of it), resume (time to the first step against state size, on demand and
eager), overhead (per example, with the 3% line). Without matplotlib the plots are skipped (one
line on stderr) and the Markdown is still written. Where the interpreter has no matplotlib but
Debian's python3-matplotlib is installed (another python3 first on PATH, e.g. pyenv), that one
is used.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import warnings

SCHEMA = "gpucr-bench-suite v1"
# Display order; anything else sorts after these, alphabetically.
MODE_ORDER = ["cow", "dirty", "stop", "criu", "driver", "ondemand", "eager", "plain"]
STALL_MODES = ["cow", "dirty", "stop", "criu", "driver"]
EXAMPLE_ORDER = ["stencil", "serving", "manybuf", "torch_train"]
# The yardstick of capture throughput, by API: the first kind the device has a measurement of.
BANDWIDTH_PREF = {
    "cuda": ["pinned_d2h", "pageable_d2h", "memcpy"],
    "opencl": ["cl_read", "memcpy"],
    "vulkan": ["memcpy", "pinned_d2h", "cl_read"],
}
BANDWIDTH_DEFAULT = ["pinned_d2h", "cl_read", "memcpy", "pageable_d2h"]
OVERHEAD_GOAL_PCT = 3.0
DASH = "–"

METRICS = [
    ("stall_ms", "application's longest step during the dump/suspend window minus its median step "
                 "without one (ms)"),
    ("held_max_ms", "gpucr's longest hold of one application thread (ms)"),
    ("held_total_ms", "gpucr's holds of application threads, summed (ms)"),
    ("dump_wall_ms", "the whole dump command, start to end, image written (ms)"),
    ("capture_ms", "from the cut until every byte is captured in host memory (ms)"),
    ("capture_gbs", "captured bytes over capture_ms (GB/s, 10^9 bytes/s), next to the device's "
                    "measured copy bandwidth"),
    ("image_bytes", "size of the image on disk"),
    ("resume_first_step_ms", "resume command start -> end of the first step completed after it (ms)"),
    ("resume_loaded_ms", "resume command start -> everything loaded (ms)"),
    ("overhead_pct", "steady state, no dump: median step with gpucr vs without, in %"),
]


# ---------------------------------------------------------------- values and formatting

def number(v):
    """v as a float if it is a finite number, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def fmt(v):
    """A measured value with about three significant digits."""
    if v is None:
        return DASH
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_pct(v):
    return DASH if v is None else f"{v:+.1f}%"


def fmt_bytes(v):
    if v is None:
        return DASH
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {unit}"
    return f"{v:.0f} B"


def fmt_mib(mib):
    if mib is None:
        return DASH
    return str(int(mib)) if float(mib).is_integer() else f"{mib:g}"


def size_label(mib):
    if mib is None:
        return "?"
    if mib >= 1024 and float(mib / 1024).is_integer():
        return f"{int(mib / 1024)} GiB"
    return f"{fmt_mib(mib)} MiB"


def median(values):
    return statistics.median(values) if values else None


def cell(values, f=fmt):
    """Median, and min-max when there are several values."""
    if not values:
        return DASH
    m = f(median(values))
    if len(values) > 1:
        return f"{m} ({f(min(values))}{DASH}{f(max(values))})"
    return m


def md_text(v):
    """A value as Markdown table text: no pipes, no line breaks."""
    if v is None or v == "":
        return DASH
    s = str(v)
    return re.sub(r"\s*\n\s*", " ", s).replace("|", "\\|")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def order_key(value, order):
    return (order.index(value), "") if value in order else (len(order), str(value))


def safe_name(s):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(s)) or "_"


# ---------------------------------------------------------------- data

class Results:
    def __init__(self, data):
        self.data = data if isinstance(data, dict) else {}
        self.left_out = 0  # records without a usable value
        self.records = []
        for r in self.data.get("records") or []:
            if not isinstance(r, dict):
                self.left_out += 1
                continue
            v = number(r.get("value"))
            if v is None or not r.get("metric"):
                self.left_out += 1
                continue
            mib = number(r.get("mib"))
            self.records.append({
                "device": str(r.get("device") or "?"), "api": str(r.get("api") or "?"),
                "example": str(r.get("example") or "?"), "mib": mib,
                "mode": str(r.get("mode") or "?"), "metric": str(r["metric"]), "value": v,
                "repeat": r.get("repeat"),
            })
        self.devices = [d for d in self.data.get("devices") or [] if isinstance(d, dict)]
        self.bandwidth = [b for b in self.data.get("bandwidth") or [] if isinstance(b, dict)]

    def groups(self):
        """(device, api) pairs with records: the devices list's order first."""
        seen = []
        for d in self.devices:
            key = (str(d.get("id") or "?"), str(d.get("api") or "?"))
            if key not in seen and any((r["device"], r["api"]) == key for r in self.records):
                seen.append(key)
        for r in self.records:
            key = (r["device"], r["api"])
            if key not in seen:
                seen.append(key)
        return seen

    def device_info(self, dev, api):
        for d in self.devices:
            if str(d.get("id")) == dev and str(d.get("api")) == api:
                return d
        for d in self.devices:
            if str(d.get("id")) == dev:
                return d
        return {}

    def select(self, dev, api, metric=None, modes=None):
        return [r for r in self.records
                if r["device"] == dev and r["api"] == api
                and (metric is None or r["metric"] == metric)
                and (modes is None or r["mode"] in modes)]

    def bandwidths(self, dev, api):
        """{kind: median GB/s} measured on the device (entries of another API left out)."""
        by_kind = {}
        for b in self.bandwidth:
            if str(b.get("device")) != dev or (b.get("api") not in (None, api)):
                continue
            v = number(b.get("gbs"))
            if v is not None:
                by_kind.setdefault(str(b.get("kind") or "?"), []).append(v)
        return {k: median(v) for k, v in by_kind.items()}

    def reference_bandwidth(self, dev, api):
        """(kind, GB/s) of the yardstick for capture throughput, or (None, None)."""
        bw = self.bandwidths(dev, api)
        for kind in BANDWIDTH_PREF.get(api, BANDWIDTH_DEFAULT) + BANDWIDTH_DEFAULT:
            if kind in bw:
                return kind, bw[kind]
        if bw:
            kind = sorted(bw)[0]
            return kind, bw[kind]
        return None, None


def values(recs, **match):
    return [r["value"] for r in recs if all(r[k] == v for k, v in match.items())]


def rows_of(recs):
    """(example, mib) pairs, in display order."""
    keys = {(r["example"], r["mib"]) for r in recs}
    return sorted(keys, key=lambda k: (order_key(k[0], EXAMPLE_ORDER), k[1] if k[1] is not None else -1))


def modes_of(recs):
    return sorted({r["mode"] for r in recs}, key=lambda m: order_key(m, MODE_ORDER))


def examples_of(recs):
    return sorted({r["example"] for r in recs}, key=lambda e: order_key(e, EXAMPLE_ORDER))


# ---------------------------------------------------------------- Markdown

def pivot(recs, f=fmt):
    """Rows example x MiB, a column per mode, cells median (min-max)."""
    modes = modes_of(recs)
    rows = []
    for ex, mib in rows_of(recs):
        rows.append([md_text(ex), fmt_mib(mib)] + [cell(values(recs, example=ex, mib=mib, mode=m), f)
                                                   for m in modes])
    return md_table(["example", "MiB"] + modes, rows)


def link(plots, name, alt, md_dir):
    path = plots.get(name)
    if not path:
        return []
    rel = os.path.relpath(path, md_dir).replace(os.sep, "/")
    return ["", f"![{alt}]({rel})"]


def group_section(res, dev, api, plots, md_dir):
    info = res.device_info(dev, api)
    title = f"{dev} / {api}"
    if info.get("name"):
        title += f" ({md_text(info.get('name'))})"
    out = ["", f"## {title}"]
    recs = res.select(dev, api)

    # Stall.
    stall = [r for r in recs if r["metric"] == "stall_ms"]
    out += ["", "### Stall (ms) against state size", ""]
    if stall:
        out += pivot(stall)
        for ex in examples_of(stall):
            out += link(plots, f"stall-{ex}", f"stall against state size, {dev}/{api}, {ex}", md_dir)
    else:
        out.append(DASH)

    # Holds.
    held = [r for r in recs if r["metric"] == "held_max_ms"]
    out += ["", "### Longest hold of an application thread, held_max (ms)", ""]
    out += pivot(held) if held else [DASH]
    held_total = [r for r in recs if r["metric"] == "held_total_ms"]
    if held_total:
        out += ["", "All holds summed, held_total (ms):", ""] + pivot(held_total)

    # Capture.
    cap_metrics = ("capture_ms", "capture_gbs", "image_bytes", "dump_wall_ms")
    cap = [r for r in recs if r["metric"] in cap_metrics]
    kind, ref = res.reference_bandwidth(dev, api)
    bw = res.bandwidths(dev, api)
    out += ["", "### Capture throughput, image, dump wall", ""]
    if bw:
        listed = ", ".join(f"{k} {fmt(v)} GB/s" for k, v in sorted(bw.items()))
        out += [f"Measured copy bandwidth: {listed}; capture is compared with {kind}.", ""]
    else:
        out += ["Measured copy bandwidth: " + DASH + " (none in the input).", ""]
    if cap:
        pct_head = f"% of {kind}" if kind else "% of bandwidth"
        rows = []
        keys = sorted({(r["example"], r["mib"], r["mode"]) for r in cap},
                      key=lambda k: (order_key(k[0], EXAMPLE_ORDER), k[1] if k[1] is not None else -1,
                                     order_key(k[2], MODE_ORDER)))
        for ex, mib, mode in keys:
            sel = dict(example=ex, mib=mib, mode=mode)
            gbs = values(cap, metric="capture_gbs", **sel)
            pct = f"{100.0 * median(gbs) / ref:.0f}%" if gbs and ref else DASH
            rows.append([md_text(ex), fmt_mib(mib), md_text(mode),
                         cell(values(cap, metric="capture_ms", **sel)), cell(gbs),
                         fmt(ref) if ref else DASH, pct,
                         fmt_bytes(median(values(cap, metric="image_bytes", **sel))),
                         cell(values(cap, metric="dump_wall_ms", **sel))])
        out += md_table(["example", "MiB", "mode", "capture (ms)", "capture (GB/s)",
                         f"{kind or 'bandwidth'} (GB/s)", pct_head, "image", "dump wall (ms)"], rows)
        out += link(plots, "capture", f"capture throughput against copy bandwidth, {dev}/{api}", md_dir)
    else:
        out.append(DASH)

    # Resume.
    res_recs = [r for r in recs if r["metric"] in ("resume_first_step_ms", "resume_loaded_ms")]
    out += ["", "### Resume (ms): on demand against eager", ""]
    if res_recs:
        rows = []
        for ex, mib in rows_of(res_recs):
            sel = dict(example=ex, mib=mib)
            rows.append([md_text(ex), fmt_mib(mib)] + [
                cell(values(res_recs, metric=m, mode=mode, **sel))
                for m in ("resume_first_step_ms", "resume_loaded_ms") for mode in ("ondemand", "eager")])
        out += md_table(["example", "MiB", "first step, on demand", "first step, eager",
                         "loaded, on demand", "loaded, eager"], rows)
        out += link(plots, "resume", f"resume time to first step, {dev}/{api}", md_dir)
    else:
        out.append(DASH)

    # Overhead.
    ovh = [r for r in recs if r["metric"] == "overhead_pct"]
    out += ["", f"### Steady-state overhead (no dump; goal within {OVERHEAD_GOAL_PCT:g}%)", ""]
    if ovh:
        modes = modes_of(ovh)
        rows = []
        for ex, mib in rows_of(ovh):
            cells, meds = [], []
            for m in modes:
                v = values(ovh, example=ex, mib=mib, mode=m)
                cells.append(cell(v, fmt_pct))
                if v:
                    meds.append(median(v))
            within = DASH if not meds else ("✓" if max(meds) <= OVERHEAD_GOAL_PCT else "✗")
            rows.append([md_text(ex), fmt_mib(mib)] + cells + [within])
        head = ["overhead"] if modes == ["plain"] or len(modes) == 1 else [f"overhead, {m}" for m in modes]
        out += md_table(["example", "MiB"] + head + [f"≤ {OVERHEAD_GOAL_PCT:g}%"], rows)
        out += link(plots, "overhead", f"steady-state overhead, {dev}/{api}", md_dir)
    else:
        out.append(DASH)

    # Metrics the sections above do not show.
    shown = {"stall_ms", "held_max_ms", "held_total_ms", "resume_first_step_ms", "resume_loaded_ms",
             "overhead_pct"} | set(cap_metrics)
    other = [r for r in recs if r["metric"] not in shown]
    if other:
        out += ["", "### Other metrics", ""]
        for metric in sorted({r["metric"] for r in other}):
            out += ["", f"{md_text(metric)}:", ""] + pivot([r for r in other if r["metric"] == metric])
    return out


def goals_section(res):
    goals = [g for g in res.data.get("goals") or [] if isinstance(g, dict)]
    out = ["", "## Goals", ""]
    if not goals:
        return out + [DASH]
    rows = []
    for g in goals:
        where = "/".join(md_text(g.get(k)) for k in ("device", "api") if g.get(k) is not None) or DASH
        if g.get("example"):
            where += f", {md_text(g.get('example'))}"
        measured = g.get("measured")
        measured = fmt(number(measured)) if number(measured) is not None else md_text(measured)
        met = g.get("met")
        met = "✓" if met is True else "✗" if met is False else DASH
        rows.append([md_text(g.get("name")), md_text(g.get("target")), where, measured, met,
                     md_text(g.get("gap")), md_text(g.get("cause"))])
    return out + md_table(["goal", "target", "device/api", "measured", "met", "gap", "cause"], rows)


def errors_section(res):
    errors = res.data.get("errors") or []
    out = ["", "## Errors", ""]
    rows = []
    for e in errors:
        if isinstance(e, dict):
            rows.append([md_text(e.get("source")), md_text(e.get("device")), md_text(e.get("message"))])
        else:
            rows.append([DASH, DASH, md_text(e)])
    if res.left_out:
        rows.append(["report.py", DASH, f"{res.left_out} record(s) without a metric or a numeric value "
                                         "left out"])
    return out + (md_table(["source", "device", "message"], rows) if rows else ["None."])


def markdown(res, title, plots, md_dir):
    d = res.data
    out = [f"# {md_text(title)}", ""]
    if d.get("schema") not in (None, SCHEMA):
        out += [f"Schema: `{md_text(d.get('schema'))}` (this report reads `{SCHEMA}`).", ""]
    cmd = d.get("command")
    out.append(f"- Command: `{cmd}`" if cmd else f"- Command: {DASH}")
    for key, label in (("date", "Date"), ("host", "Host"), ("kernel", "Kernel"), ("cpus", "CPUs"),
                       ("commit", "Commit")):
        out.append(f"- {label}: {md_text(d.get(key))}")
    if d.get("smoke"):
        out += ["", "**Smoke run**: tiny sizes and few steps; it checks the harness, its figures are "
                    "not measurements."]
    out += ["", "Devices:", ""]
    rows = [[md_text(x.get(k)) for k in ("id", "api", "name", "driver")] for x in res.devices]
    out += md_table(["id", "api", "name", "driver"], rows) if rows else [DASH]
    out += ["", "Metrics (median over repeats; min–max in parentheses when there are several):", ""]
    out += [f"- **{name}**: {text}" for name, text in METRICS]
    for dev, api in res.groups():
        out += group_section(res, dev, api, plots.get((dev, api), {}), md_dir)
    out += goals_section(res)
    out += errors_section(res)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- plots

MODE_STYLE = {
    "cow": ("tab:blue", "o"), "dirty": ("tab:green", "s"), "stop": ("tab:red", "v"),
    "criu": ("tab:purple", "D"), "driver": ("black", "x"), "ondemand": ("tab:blue", "o"),
    "eager": ("tab:orange", "s"), "plain": ("tab:gray", "o"),
}
EXTRA_COLORS = ["tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
EXAMPLE_LINES = ["-", "--", ":", "-."]


def style(mode, i=0):
    return MODE_STYLE.get(mode, (EXTRA_COLORS[i % len(EXTRA_COLORS)], "^"))


def load_pyplot():
    """matplotlib.pyplot with the Agg backend, or None."""
    # Debian's matplotlib under another interpreter warns about that one's newer pyparsing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _load_pyplot()


def _load_pyplot():
    try:
        import matplotlib
    except Exception:
        # Debian's python3-matplotlib, when another python3 (pyenv, a venv) runs this script.
        deb = "/usr/lib/python3/dist-packages"
        if not os.path.isdir(deb) or deb in sys.path:
            return None
        sys.path.append(deb)
        try:
            import matplotlib
        except Exception:
            sys.path.remove(deb)
            return None
    try:
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except Exception:
        return None


def size_axis(ax, mibs):
    from matplotlib.ticker import FixedLocator, NullLocator
    mibs = sorted({m for m in mibs if m})
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(mibs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([size_label(m) for m in mibs])
    if len(mibs) == 1:
        ax.set_xlim(mibs[0] / 2, mibs[0] * 2)
    ax.set_xlabel("state size")


def log_y(ax, ys):
    """Log y axis with plain numbers; minor ticks labelled too when the data span less than a decade
    and a half (matplotlib's default would print 6x10^0 and the like)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ys = [y for y in ys if y > 0]
    narrow = ys and max(ys) / min(ys) < 30
    ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())
    ax.tick_params(axis="y", which="minor", labelsize=7)


def errbars(vals):
    """(median, lower, upper) for asymmetric error bars."""
    m = median(vals)
    return m, m - min(vals), max(vals) - m


def save(plt, fig, path):
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    fig.text(0.005, 0.005, "points and bars: median over repeats; whiskers: min–max", ha="left",
             va="bottom", fontsize=7, color="gray")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_stall(plt, recs, dev, api, ex, path):
    recs = [r for r in recs if r["example"] == ex and r["mib"] and r["value"] > 0]
    if not recs:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, mode in enumerate(modes_of(recs)):
        mibs = sorted({r["mib"] for r in recs if r["mode"] == mode})
        pts = [errbars(values(recs, mode=mode, mib=m)) for m in mibs]
        color, marker = style(mode, i)
        ax.errorbar(mibs, [p[0] for p in pts], yerr=[[p[1] for p in pts], [p[2] for p in pts]],
                    color=color, marker=marker, capsize=3, label=mode)
        for m, p in zip(mibs, pts):
            ax.annotate(fmt(p[0]), (m, p[0]), textcoords="offset points", xytext=(7, 3 - 9 * (i % 3)),
                        fontsize=7, color=color)
    log_y(ax, [r["value"] for r in recs])
    size_axis(ax, [r["mib"] for r in recs])
    ax.set_ylabel("stall (ms, log)")
    ax.set_title(f"Application stall during dump/suspend — {dev}/{api}, {ex}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="mode / baseline", fontsize=8)
    return save(plt, fig, path)


def plot_capture(plt, recs, kind, ref, dev, api, path):
    recs = [r for r in recs if r["metric"] == "capture_gbs"]
    if not recs:
        return None
    groups = rows_of(recs)
    modes = modes_of(recs)
    fig, ax = plt.subplots(figsize=(min(16.0, max(7.0, 0.8 * len(groups) * len(modes) + 3.5)), 4.8))
    width = 0.8 / len(modes)
    top = 0.0
    for i, mode in enumerate(modes):
        xs, hs, lo, hi = [], [], [], []
        for j, (ex, mib) in enumerate(groups):
            v = values(recs, mode=mode, example=ex, mib=mib)
            if not v:
                continue
            m, a, b = errbars(v)
            xs.append(j - 0.4 + width * (i + 0.5))
            hs.append(m)
            lo.append(a)
            hi.append(b)
            top = max(top, m + b)
        color, _ = style(mode, i)
        bars = ax.bar(xs, hs, width=width * 0.9, color=color, label=mode,
                      yerr=[lo, hi] if any(lo) or any(hi) else None, capsize=3)
        for bar, h, b in zip(bars, hs, hi):
            pct = f"\n{100 * h / ref:.0f}%" if ref else ""
            ax.annotate(fmt(h) + pct, (bar.get_x() + bar.get_width() / 2, h + b), ha="center",
                        va="bottom", fontsize=7, textcoords="offset points", xytext=(0, 2))
    if ref:
        ax.axhline(ref, color="black", linestyle="-", linewidth=1.2, label=f"{kind}: {fmt(ref)} GB/s")
        ax.axhline(0.8 * ref, color="black", linestyle="--", linewidth=1,
                   label=f"80% of {kind}: {fmt(0.8 * ref)} GB/s")
        top = max(top, ref)
    ax.set_ylim(0, top * 1.2 if top > 0 else 1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{ex}\n{size_label(mib)}" for ex, mib in groups])
    ax.set_ylabel("capture throughput (GB/s)")
    ax.set_title(f"Capture throughput against copy bandwidth — {dev}/{api}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save(plt, fig, path)


def plot_resume(plt, recs, dev, api, path):
    recs = [r for r in recs if r["metric"] == "resume_first_step_ms" and r["mib"] and r["value"] > 0]
    if not recs:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for k, ex in enumerate(examples_of(recs)):
        for i, mode in enumerate(modes_of(recs)):
            mibs = sorted({r["mib"] for r in recs if r["mode"] == mode and r["example"] == ex})
            if not mibs:
                continue
            pts = [errbars(values(recs, mode=mode, example=ex, mib=m)) for m in mibs]
            color, marker = style(mode, i)
            ax.errorbar(mibs, [p[0] for p in pts], yerr=[[p[1] for p in pts], [p[2] for p in pts]],
                        color=color, marker=marker, linestyle=EXAMPLE_LINES[k % len(EXAMPLE_LINES)],
                        capsize=3, label=f"{ex}, {'on demand' if mode == 'ondemand' else mode}")
    log_y(ax, [r["value"] for r in recs])
    size_axis(ax, [r["mib"] for r in recs])
    ax.set_ylabel("resume start → first step done (ms, log)")
    ax.set_title(f"Resume: time to the first step — {dev}/{api}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save(plt, fig, path)


def plot_overhead(plt, recs, dev, api, path):
    recs = [r for r in recs if r["metric"] == "overhead_pct"]
    if not recs:
        return None
    groups = rows_of(recs)
    modes = modes_of(recs)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 2.5), 4.5))
    width = 0.8 / len(modes)
    lo_lim, hi_lim = 0.0, OVERHEAD_GOAL_PCT
    for i, mode in enumerate(modes):
        xs, hs, lo, hi = [], [], [], []
        for j, (ex, mib) in enumerate(groups):
            v = values(recs, mode=mode, example=ex, mib=mib)
            if not v:
                continue
            m, a, b = errbars(v)
            xs.append(j - 0.4 + width * (i + 0.5))
            hs.append(m)
            lo.append(a)
            hi.append(b)
            lo_lim, hi_lim = min(lo_lim, m - a), max(hi_lim, m + b)
        color, _ = style(mode, i)
        bars = ax.bar(xs, hs, width=width * 0.9, color=color, label=mode if len(modes) > 1 else None,
                      yerr=[lo, hi] if any(lo) or any(hi) else None, capsize=3)
        for bar, h, a, b in zip(bars, hs, lo, hi):
            ax.annotate(f"{h:+.1f}%", (bar.get_x() + bar.get_width() / 2, h + b if h >= 0 else h - a),
                        ha="center", va="bottom" if h >= 0 else "top", fontsize=8,
                        textcoords="offset points", xytext=(0, 2 if h >= 0 else -2))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(OVERHEAD_GOAL_PCT, color="tab:red", linestyle="--", linewidth=1.2,
               label=f"{OVERHEAD_GOAL_PCT:g}% goal")
    span = hi_lim - lo_lim
    ax.set_ylim(lo_lim - 0.15 * span, hi_lim + 0.15 * span)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{ex}\n{size_label(mib)}" for ex, mib in groups])
    ax.set_ylabel("overhead (%): median step, gpucr vs without")
    ax.set_title(f"Steady-state overhead (no dump) — {dev}/{api}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return save(plt, fig, path)


def make_plots(plt, res, plot_dir):
    """{(device, api): {plot name: path}} of the PNGs written."""
    os.makedirs(plot_dir, exist_ok=True)
    made = {}
    for dev, api in res.groups():
        recs = res.select(dev, api)
        base = os.path.join(plot_dir, f"{safe_name(dev)}-{safe_name(api)}-")
        got = {}
        stall = [r for r in recs if r["metric"] == "stall_ms"]
        for ex in examples_of(stall):
            got[f"stall-{ex}"] = plot_stall(plt, stall, dev, api, ex, base + f"stall-{safe_name(ex)}.png")
        kind, ref = res.reference_bandwidth(dev, api)
        got["capture"] = plot_capture(plt, recs, kind, ref, dev, api, base + "capture.png")
        got["resume"] = plot_resume(plt, recs, dev, api, base + "resume.png")
        got["overhead"] = plot_overhead(plt, recs, dev, api, base + "overhead.png")
        made[(dev, api)] = {k: v for k, v in got.items() if v}
    return made


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="normalized results JSON (bench/suite.py)")
    ap.add_argument("--md", help="write the Markdown here (default: stdout)")
    ap.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR and link them")
    ap.add_argument("--title", default="gpucr benchmark results", help="the report's heading")
    args = ap.parse_args(argv)

    try:
        with open(args.results) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"report.py: cannot read {args.results}: {e}", file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print(f"report.py: {args.results}: not a JSON object", file=sys.stderr)
        return 2
    res = Results(data)
    if data.get("schema") not in (None, SCHEMA):
        print(f"report.py: schema {data.get('schema')!r}, expected {SCHEMA!r}; reading it anyway",
              file=sys.stderr)

    plots = {}
    if args.plots:
        plt = load_pyplot()
        if plt is None:
            print("report.py: matplotlib is not available, plots skipped "
                  "(Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                plots = make_plots(plt, res, args.plots)
    md_dir = os.path.dirname(os.path.abspath(args.md)) if args.md else os.getcwd()
    text = markdown(res, args.title, plots, md_dir)
    if args.md:
        os.makedirs(md_dir, exist_ok=True)
        with open(args.md, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
