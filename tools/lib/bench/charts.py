"""SVG charts for tools/lib/bench/compare.py, written by hand (no plotting
library on the build machine): grouped horizontal bars for throughput, and
latency CDFs from the histograms eddy-bench reports (latency_ms.buckets_us:
[bucket high value in us, count] pairs). The CDF's x axis is the latency
on a log scale; its y axis is the share of calls at or below it on a
"nines" scale (0, 90, 99, 99.9 %...: -log10(1 - share)), so that the tail
is as visible as the median."""

import html
import math

COLORS = {"eddy": "#1f77b4", "kinesalite": "#9a9a9a", "kinesis-mock": "#ff7f0e"}
FALLBACK = ["#2ca02c", "#d62728", "#9467bd", "#8c564b"]
FONT = 'font-family="sans-serif" font-size="12"'


def color(target, i):
    return COLORS.get(target, FALLBACK[i % len(FALLBACK)])


def _svg(width, height, body, title):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'viewBox="0 0 %d %d">\n<rect width="100%%" height="100%%" fill="white"/>\n'
            '<text x="10" y="20" %s font-weight="bold">%s</text>\n%s</svg>\n'
            % (width, height, width, height, FONT, html.escape(title), "\n".join(body)))


def fmt_value(v, unit):
    if v >= 100:
        s = "{:,.0f}".format(v)
    elif v >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return "%s %s" % (s, unit)


def bars(rows, targets, title):
    """rows: [(label, unit, {target: value or None})]. Each row is scaled to
    its own largest value (units differ between rows); the value is
    written at the end of each bar."""
    label_w, bar_w, right = 330, 300, 150
    bar_h, gap = 16, 14
    top = 40
    width = label_w + bar_w + right
    body = []
    y = top
    for label, unit, values in rows:
        vmax = max([v for v in values.values() if v] or [1])
        body.append('<text x="10" y="%d" %s>%s</text>'
                    % (y + bar_h * len(targets) / 2 + 4, FONT, html.escape(label)))
        for i, t in enumerate(targets):
            v = values.get(t)
            w = 0 if not v else max(1, bar_w * v / vmax)
            body.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                        % (label_w, y, w, bar_h - 2, color(t, i)))
            text = "n/a" if v is None else fmt_value(v, unit)
            body.append('<text x="%.1f" y="%d" %s>%s</text>'
                        % (label_w + w + 4, y + bar_h - 5, FONT, html.escape(text)))
            y += bar_h
        y += gap
    y += 4
    for i, t in enumerate(targets):
        x = 10 + i * 150
        body.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (x, y, color(t, i)))
        body.append('<text x="%d" y="%d" %s>%s</text>' % (x + 16, y + 11, FONT, html.escape(t)))
    return _svg(width, y + 24, body, title)


def cdf_points(latency):
    """[(ms, fraction <= ms)] from an eddy-bench latency_ms object."""
    buckets = (latency or {}).get("buckets_us") or []
    total = float(sum(c for _, c in buckets)) or 1.0
    pts, seen = [], 0
    for v, c in buckets:
        seen += c
        pts.append((max(v, 1) / 1000.0, seen / total))
    return pts


def nines(f, top):
    """-log10(1 - f), capped at top (f = 1 is the top of the axis)."""
    if f >= 1:
        return top
    return min(top, -math.log10(1 - f))


def cdf(series, title):
    """series: [(target, latency_ms object)]. x: latency in ms, log scale;
    y: share of calls (or records) at or below it, nines scale."""
    left, right, top, bottom = 60, 20, 40, 50
    pw, ph = 560, 300
    width, height = left + pw + right, top + ph + bottom
    pts_by = [(t, cdf_points(lat)) for t, lat in series]
    xs = [x for _, pts in pts_by for x, _ in pts]
    if not xs:
        return _svg(width, 80, ['<text x="10" y="50" %s>no data</text>' % FONT], title)
    lo = 10 ** math.floor(math.log10(min(xs)))
    hi = 10 ** math.ceil(math.log10(max(xs)))
    if hi <= lo:
        hi = lo * 10
    count = max(sum(c for _, c in (lat or {}).get("buckets_us") or []) for _, lat in series)
    ytop = max(2, min(5, math.ceil(math.log10(max(count, 10)))))

    def px(x):
        return left + pw * (math.log10(x) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    def py(f):
        return top + ph * (1 - nines(f, ytop) / ytop)

    body = ['<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>'
            % (left, top, pw, ph)]
    decade = lo
    while decade <= hi * 1.0001:
        x = px(decade)
        body.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>'
                    % (x, top, x, top + ph))
        label = ("%g ms" % decade) if decade >= 0.001 else ("%g us" % (decade * 1000))
        body.append('<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>'
                    % (x, top + ph + 16, FONT, label))
        decade *= 10
    for k in range(ytop + 1):
        f = 1 - 10 ** -k
        y = py(f) if k < ytop else top
        body.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>'
                    % (left, y, left + pw, y))
        body.append('<text x="%d" y="%.1f" %s text-anchor="end">%s%%</text>'
                    % (left - 4, y + 4, FONT, ("%.4f" % (f * 100)).rstrip("0").rstrip(".")))
    for i, (t, pts) in enumerate(pts_by):
        lx = left + pw - 150
        ly = top + ph - 20 - 18 * (len(pts_by) - 1 - i)
        body.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                    % (lx, ly, color(t, i)))
        n = pts and sum(c for _, c in (series[i][1] or {}).get("buckets_us", []))
        body.append('<text x="%d" y="%d" %s>%s (n=%s)</text>'
                    % (lx + 16, ly + 11, FONT, html.escape(t), "{:,}".format(n or 0)))
        if not pts:
            continue
        path = ["M %.1f %.1f" % (px(pts[0][0]), py(0))]
        prev = 0.0
        for x, f in pts:
            path.append("L %.1f %.1f L %.1f %.1f" % (px(x), py(prev), px(x), py(f)))
            prev = f
        body.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>'
                    % (" ".join(path), color(t, i)))
    body.append('<text x="%d" y="%d" %s text-anchor="middle">latency (log scale); '
                'y: share at or below it</text>' % (left + pw / 2, height - 10, FONT))
    return _svg(width, height, body, title)
