"""What a run leaves for people: a text summary (operations, faults,
anomalies by kind, unavailability per fault kind) and an SVG timeline of
faults against acknowledged records and errors per second."""

import collections
import html
import json

COLORS = {
    "kill": "#d62728", "power-loss": "#8c1c13", "power-loss-all": "#4a0d08",
    "pause": "#ff7f0e", "partition-isolate": "#1f77b4", "partition-bridge": "#17becf",
    "partition-oneway": "#6baed6", "partition-clients": "#9467bd", "loss": "#bcbd22",
    "wipe": "#7f7f7f", "pause-isolate": "#e377c2", "partition-majority": "#08519c",
    "clock": "#8c564b", "leader-drain": "#2ca02c", "delay": "#fdae6b", "fsync-error": "#636363",
    "reshard": "#31a354", "transfer": "#756bb1",
}


def unavailability_by_kind(rep):
    """{fault kind: {faults, stalled (faults that stalled a shard), worst
    (longest shard stall, s), mean (mean of each fault's longest stall),
    cluster_s (seconds without any acknowledged put)}}."""
    out = collections.OrderedDict()
    for f in sorted(rep.faults, key=lambda f: f["kind"]):
        k = out.setdefault(f["kind"], {"faults": 0, "stalled": 0, "worst": 0.0, "sum": 0.0,
                                       "cluster_s": 0.0})
        worst = max((f.get("shards_stalled") or {}).values(), default=0.0)
        k["faults"] += 1
        k["stalled"] += 1 if worst else 0
        k["worst"] = max(k["worst"], worst)
        k["sum"] += worst
    for w in rep.windows:
        for kind in sorted({x.split(" ")[0] for x in w["faults"]}) or ["(none)"]:
            k = out.setdefault(kind, {"faults": 0, "stalled": 0, "worst": 0.0, "sum": 0.0,
                                      "cluster_s": 0.0})
            k["cluster_s"] += w["seconds"]
    for k in out.values():
        k["mean"] = k["sum"] / k["faults"] if k["faults"] else 0.0
    return out


def summary(rep, meta, paths):
    lines = []
    lines.append("chaos run: seed %s, %s nodes, stream %s (%s shards), eddyd %s" % (
        meta.get("seed"), meta.get("nodes"), meta.get("stream"), meta.get("shards"),
        meta.get("eddyd")))
    lines.append("replay: %s" % meta.get("replay"))
    lines.append("")
    lines.append("operations:")
    width = max([len(k) for k in rep.stats] + [10])
    for k, v in rep.stats.items():
        lines.append("  %-*s %s" % (width, k, v))
    lines.append("")
    kinds = collections.Counter(f["kind"] for f in rep.faults)
    lines.append("faults (%d): %s" % (len(rep.faults), ", ".join(
        "%s x%d" % (k, n) for k, n in sorted(kinds.items())) or "none"))
    for f in rep.faults:
        d = f.get("detail") or {}
        stalls = f.get("shards_stalled") or {}
        lines.append("  t=%7.2f..%7.2f  %-18s %-4s %-22s %s%s" % (
            f["t0"], f["t1"], f["kind"], f.get("target") or "", f.get("how") or "",
            ("stalled " + " ".join("%s:%.1fs" % (s.replace("shardId-", "s").lstrip("s0") or "0",
                                                    v) for s, v in sorted(stalls.items())))
            if stalls else "no shard stalled",
            "  " + json.dumps(d, sort_keys=True) if d else ""))
    lines.append("")
    lines.append("unavailability: %d windows without any acknowledged put (>= 1.5 s), %.1f s"
                 % (len(rep.windows), sum(w["seconds"] for w in rep.windows)))
    lines.append("  %-18s %6s %8s %10s %10s %10s" % ("per fault kind", "faults", "stalled",
                                                     "worst (s)", "mean (s)", "cluster (s)"))
    for kind, k in unavailability_by_kind(rep).items():
        lines.append("  %-18s %6d %8d %10.1f %10.1f %10.1f" % (
            kind, k["faults"], k["stalled"], k["worst"], k["mean"], k["cluster_s"]))
    lines.append("  (stalled: faults during which some shard had no acknowledged put for >= "
                 "1.5 s while producers tried, up to 10 s after the heal or the next fault; worst/mean: "
                 "that stall's length; cluster: seconds without any acknowledged put)")
    lines.append("")
    if rep.valid:
        lines.append("anomalies: none")
    else:
        lines.append("anomalies (%d kinds):" % len(rep.anomalies))
        for kind, a in rep.anomalies.items():
            lines.append("  %s: %d" % (kind, a["count"]))
            for ex in a["examples"]:
                lines.append("    - %s" % str(ex).replace("\n", "\n      "))
    lines.append("")
    for label, p in paths:
        lines.append("%-9s %s" % (label + ":", p))
    lines.append("RESULT: %s" % ("PASS (no anomalies)" if rep.valid else
                                 "FAIL (%d anomalies)" % sum(a["count"] for a in
                                                            rep.anomalies.values())))
    return "\n".join(lines) + "\n"


def svg(events, rep, title):
    """Faults as bands on top, then acknowledged records/s (green), put
    errors/s (red) and records read/s (blue) per second of the run."""
    end = max([ev.get("t1", 0) for ev in events] + [1.0])
    secs = int(end) + 1
    acked = [0] * secs
    errors = [0] * secs
    reads = [0] * secs
    for ev in events:
        b = min(int(ev.get("t1", 0)), secs - 1)
        f = ev.get("f")
        if f in ("put_record", "put_records"):
            if ev.get("type") == "ok":
                acked[b] += sum(1 for x in ev.get("res") or [] if x[0] not in ("fail", "info"))
            else:
                errors[b] += 1
        elif f == "get_records" and ev.get("type") == "ok":
            reads[b] += len(ev.get("recs") or [])
    width, left, right = 1100, 60, 20
    lanes = max(1, len({f["kind"] for f in rep.faults}) + 1)
    fault_h = 16 * lanes + 10
    plot_top = 40 + fault_h
    plot_h = 220
    height = plot_top + plot_h + 60
    sx = (width - left - right) / float(secs)
    # Catch-up bursts of the readers after a stall would flatten the rest:
    # the scale stops at 1.5 times the 98th percentile, higher values clip.
    vals = sorted(acked + reads)
    ymax = max(int(vals[int(len(vals) * 0.98)] * 1.5) if vals else 1, max(errors + [1]), 1)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">%s</text>' % (left, html.escape(title))]
    lane_of = {}
    for f in rep.faults:
        lane = lane_of.setdefault(f["kind"], len(lane_of))
        y = 30 + 16 * lane
        x0 = left + f["t0"] * sx
        w = max(2.0, (f["t1"] - f["t0"]) * sx)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="12" fill="%s" opacity="0.8">'
                   '<title>%s %s t=%.1f..%.1f</title></rect>' % (
                       x0, y, w, COLORS.get(f["kind"], "#333"), html.escape(f["kind"]),
                       html.escape(f.get("target") or ""), f["t0"], f["t1"]))
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.08"/>'
                   % (x0, plot_top, w, plot_h, COLORS.get(f["kind"], "#333")))
    # The control thread's reshards (invoked to ACTIVE again) and leader
    # transfers, as ticks on a lane of their own.
    ops = [ev for ev in events if ev.get("f") in ("reshard", "reshard_active", "transfer")]
    if ops:
        lane = lane_of.setdefault("control", len(lane_of))
        for ev in ops:
            kind = "transfer" if ev["f"] == "transfer" else "reshard"
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="12" fill="%s" opacity="0.8">'
                       '<title>%s %s t=%.1f..%.1f</title></rect>' % (
                           left + ev["t0"] * sx, 30 + 16 * lane,
                           max(2.0, (ev["t1"] - ev["t0"]) * sx), COLORS[kind],
                           html.escape(ev.get("op") or ev.get("node") or kind),
                           html.escape(str(ev.get("type"))), ev["t0"], ev["t1"]))
    for kind, lane in lane_of.items():
        out.append('<text x="4" y="%d">%s</text>' % (40 + 16 * lane, html.escape(kind[:9])))
    for w in rep.windows:
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="6" fill="black">'
                   '<title>unavailable %.1fs</title></rect>' % (
                       left + w["from"] * sx, plot_top + plot_h + 4, w["seconds"] * sx,
                       w["seconds"]))

    def poly(vals, color):
        pts = " ".join("%.1f,%.1f" % (left + (i + 0.5) * sx,
                                      plot_top + plot_h - plot_h * min(v, ymax) / float(ymax))
                       for i, v in enumerate(vals))
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'
                   % (color, pts))

    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (
        left, plot_top + plot_h, width - right, plot_top + plot_h))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (
        left, plot_top, left, plot_top + plot_h))
    out.append('<text x="4" y="%d">%d/s</text>' % (plot_top + 10, ymax))
    for t in range(0, secs, max(10, (secs // 10) // 10 * 10 or 10)):
        out.append('<text x="%.1f" y="%d">%ds</text>' % (left + t * sx, plot_top + plot_h + 24,
                                                         t))
    poly(reads, "#1f77b4")
    poly(acked, "#2ca02c")
    poly(errors, "#d62728")
    ly = plot_top + plot_h + 44
    for i, (label, color) in enumerate((("records acknowledged/s", "#2ca02c"),
                                        ("put attempts failed/s", "#d62728"),
                                        ("records read/s", "#1f77b4"),
                                        ("unavailable", "black"))):
        x = left + i * 200
        out.append('<rect x="%d" y="%d" width="12" height="8" fill="%s"/>' % (x, ly - 8, color))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 16, ly, label))
    out.append("</svg>")
    return "\n".join(out) + "\n"
