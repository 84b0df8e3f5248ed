#!/usr/bin/env python3
"""SVG line plots of bench/scale.sh's results (python3 standard library only).

Usage: bench/plot.py RESULTS.tsv OUTDIR

Writes into OUTDIR, for every section the TSV holds:
  scale-body-cpu-per-mb.svg        proxy CPU µs per MB of request body vs body size (log-log)
  scale-body-throughput.svg        MB/s of request body vs body size
  scale-routes-cpu-per-request.svg proxy CPU µs per keep-alive request vs number of routes
  scale-routes-startup.svg         start-up time vs number of routes
  scale-anchors-cpu-per-handshake.svg  proxy CPU µs per full mTLS handshake vs trust anchors
  scale-idle-bytes-per-connection.svg  bytes per idle connection vs connections

certgate and nginx as two colours; each plot is self-contained (no scripts, no external fonts).
"""

import math
import sys
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import escape

COLORS = {"certgate": "#1864ab", "nginx": "#d9480f"}
W, H = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 92, 36, 74, 82


def read_results(path):
    """{(section, variant, x, proxy, metric): value} (the median row, else round 1), meta lines."""
    vals, meta = {}, []
    rounds = defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                meta.append(line[1:].strip())
                continue
            parts = line.split("\t")
            if len(parts) != 7 or parts[0] == "section":
                continue
            section, variant, x, proxy, rnd, metric, value = parts
            try:
                v = float(value)
                xv = float(x)
            except ValueError:
                continue
            if math.isnan(v):
                continue
            rounds[(section, variant, xv, proxy, metric)][rnd] = v
    for key, by_round in rounds.items():
        if "median" in by_round:
            vals[key] = by_round["median"]
        elif "1" in by_round:
            vals[key] = by_round["1"]
    return vals, meta


def series(vals, section, variant, proxy, metric, scale=1.0):
    pts = sorted(
        (k[2], v * scale)
        for k, v in vals.items()
        if k[0] == section and k[1] == variant and k[3] == proxy and k[4] == metric
    )
    return pts


def nice_step(span, target=6):
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt_num(v):
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2g}"


def size_label(b):
    b = int(round(b))
    for unit, n in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if b >= n and b % n == 0:
            return f"{b // n} {unit}"
    return f"{b} B"


def count_label(v):
    return f"{v:,.0f}"


class Axis:
    def __init__(self, lo, hi, log, length, flip=False):
        self.log = log
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi <= lo:
            hi = lo + 1
        self.lo, self.hi, self.length, self.flip = lo, hi, length, flip

    def __call__(self, v):
        if self.log:
            v = math.log10(v)
        t = (v - self.lo) / (self.hi - self.lo)
        return self.length * (1 - t) if self.flip else self.length * t


def log_ticks(lo, hi):
    """Powers of ten (and 2x, 5x when the range is short) within [lo, hi]."""
    ticks = []
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1,) if e1 - e0 > 3 else (1, 2, 5)
    for e in range(e0, e1 + 1):
        for m in mults:
            v = m * 10**e
            if lo * 0.999 <= v <= hi * 1.001:
                ticks.append(v)
    return ticks


def line_plot(title, subtitle, xlabel, ylabel, lines, xlog=True, ylog=False, xticks=None,
              xfmt=count_label, note=None):
    """lines: [(label, colour, dashed, [(x, y), ...])]. Returns the SVG text."""
    pts = [p for _, _, _, ps in lines for p in ps]
    if not pts:
        return None
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    # x range: the data, padded a little on a log axis
    if xlog:
        xlo, xhi = min(xs) / 1.25, max(xs) * 1.25
    else:
        pad = (max(xs) - min(xs)) * 0.05 or 1
        xlo, xhi = min(xs) - pad, max(xs) + pad
    # y range: from 0 (linear) or the decade below (log), headroom for the legend
    if ylog:
        ylo = 10 ** math.floor(math.log10(max(min(ys), 1e-9)))
        yhi = 10 ** math.ceil(math.log10(max(ys) * 1.6))
        yt = log_ticks(ylo, yhi)
    else:
        ylo = 0.0
        step = nice_step(max(ys) * 1.25)
        yhi = step * math.ceil(max(ys) * 1.25 / step)
        yt = [i * step for i in range(int(round(yhi / step)) + 1)]
    ax = Axis(xlo, xhi, xlog, pw)
    ay = Axis(ylo, yhi, ylog, ph, flip=True)
    if xticks is None:
        xticks = sorted(set(xs))

    o = []
    o.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
    o.append(f'<title>{escape(title)}</title>')
    o.append(f'<rect width="{W}" height="{H}" fill="#ffffff"/>')
    o.append(f'<text x="{LEFT}" y="28" font-size="17" font-weight="bold" fill="#212529">{escape(title)}</text>')
    if subtitle:
        o.append(f'<text x="{LEFT}" y="48" font-size="11.5" fill="#495057">{escape(subtitle)}</text>')
    o.append(f'<g transform="translate({LEFT},{TOP})">')
    # grid and y ticks
    for v in yt:
        y = ay(v)
        o.append(f'<line x1="0" y1="{y:.1f}" x2="{pw}" y2="{y:.1f}" stroke="#e9ecef" stroke-width="1"/>')
        o.append(f'<text x="-8" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="#343a40">{escape(fmt_num(v))}</text>')
    for v in xticks:
        x = ax(v)
        o.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{ph}" stroke="#f1f3f5" stroke-width="1"/>')
        o.append(f'<line x1="{x:.1f}" y1="{ph}" x2="{x:.1f}" y2="{ph + 5}" stroke="#495057"/>')
        o.append(f'<text x="{x:.1f}" y="{ph + 20}" font-size="12" text-anchor="middle" fill="#343a40">{escape(xfmt(v))}</text>')
    # axes
    o.append(f'<line x1="0" y1="{ph}" x2="{pw}" y2="{ph}" stroke="#495057" stroke-width="1.2"/>')
    o.append(f'<line x1="0" y1="0" x2="0" y2="{ph}" stroke="#495057" stroke-width="1.2"/>')
    o.append(f'<text x="{pw / 2:.1f}" y="{ph + 44}" font-size="13" text-anchor="middle" fill="#212529">{escape(xlabel)}</text>')
    o.append(f'<text transform="translate({-LEFT + 20},{ph / 2:.1f}) rotate(-90)" font-size="13" '
             f'text-anchor="middle" fill="#212529">{escape(ylabel)}</text>')
    # lines, markers; value labels at the last point, pushed apart so that they do not overlap
    ends = []
    for label, colour, dashed, ps in lines:
        if not ps:
            continue
        d = " ".join(f"{'M' if i == 0 else 'L'}{ax(x):.1f},{ay(y):.1f}" for i, (x, y) in enumerate(ps))
        dash = ' stroke-dasharray="7,5"' if dashed else ""
        o.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2.4"{dash} stroke-linejoin="round"/>')
        for x, y in ps:
            fill = "#ffffff" if dashed else colour
            o.append(f'<circle cx="{ax(x):.1f}" cy="{ay(y):.1f}" r="4" fill="{fill}" stroke="{colour}" stroke-width="2"/>')
        x, y = ps[-1]
        ends.append([ay(y) + 4, ax(x) + 8, colour, fmt_num(y)])
    ends.sort()
    for i in range(1, len(ends)):
        if ends[i][0] - ends[i - 1][0] < 13 and abs(ends[i][1] - ends[i - 1][1]) < 40:
            ends[i][0] = ends[i - 1][0] + 13
    for ty, tx, colour, text in ends:
        o.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="11" fill="{colour}">{escape(text)}</text>')
    # legend, top left inside the plot
    lx, ly = 14, 14
    n = sum(1 for _, _, _, ps in lines if ps)
    lw = 60 + 7.2 * max((len(label) for label, _, _, ps in lines if ps), default=10)
    o.append(f'<rect x="{lx - 8}" y="{ly - 10}" width="{lw:.0f}" height="{n * 20 + 6}" fill="#ffffff" '
             f'fill-opacity="0.9" stroke="#dee2e6"/>')
    i = 0
    for label, colour, dashed, ps in lines:
        if not ps:
            continue
        y = ly + i * 20 + 4
        dash = ' stroke-dasharray="7,5"' if dashed else ""
        fill = "#ffffff" if dashed else colour
        o.append(f'<line x1="{lx}" y1="{y}" x2="{lx + 30}" y2="{y}" stroke="{colour}" stroke-width="2.4"{dash}/>')
        o.append(f'<circle cx="{lx + 15}" cy="{y}" r="3.5" fill="{fill}" stroke="{colour}" stroke-width="2"/>')
        o.append(f'<text x="{lx + 40}" y="{y + 4}" font-size="12.5" fill="#212529">{escape(label)}</text>')
        i += 1
    o.append("</g>")
    if note:
        o.append(f'<text x="{W - RIGHT}" y="{H - 8}" font-size="10.5" text-anchor="end" fill="#868e96">{escape(note)}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main(argv):
    if len(argv) != 3:
        print("usage: bench/plot.py RESULTS.tsv OUTDIR", file=sys.stderr)
        return 2
    vals, meta = read_results(argv[1])
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    smoke = any("smoke=1" in m for m in meta)
    head = meta[0].replace("bench/scale.sh ", "") if meta else ""
    note = "bench/scale.sh" + (", SMOKE run (not meaningful)" if smoke else "")
    rounds = [w for m in meta for w in m.split() if w.startswith("rounds=")]
    if rounds:
        r = rounds[0].split("=", 1)[1]
        note += f", {r} round{'s' if r != '1' else ''}"
    if head:
        note += f", {head}"
    warn = " (SMOKE)" if smoke else ""
    written = []

    def save(name, svg):
        if svg:
            (out / name).write_text(svg, encoding="utf-8")
            written.append(str(out / name))

    def pair(section, variant, metric, scale=1.0, dashed_variant=None, suffix=""):
        lines = []
        for p in ("certgate", "nginx"):
            lines.append((p + suffix, COLORS[p], False, series(vals, section, variant, p, metric, scale)))
            if dashed_variant:
                v2, s2 = dashed_variant
                lines.append((p + s2, COLORS[p], True, series(vals, section, v2, p, metric, scale)))
        return lines

    save("scale-body-cpu-per-mb.svg", line_plot(
        "Proxy CPU per MB of request body" + warn,
        "POST bodies streamed to the upstream over 4 keep-alive connections (log-log; lower is better)",
        "request body size", "proxy CPU per MB of body (µs)",
        pair("body", "post", "cpu_us_per_mb"), ylog=True, xfmt=size_label, note=note))
    save("scale-body-throughput.svg", line_plot(
        "Request body throughput" + warn,
        "MB/s of body through the proxy (load generator and upstream share one CPU; higher is better)",
        "request body size", "throughput (MB/s)",
        pair("body", "post", "mb_per_s"), xfmt=size_label, note=note))
    save("scale-routes-cpu-per-request.svg", line_plot(
        "Proxy CPU per keep-alive request vs number of routes" + warn,
        "one subject:/fingerprint: rule per route; the request hits the last (solid) or middle (dashed) route",
        "routes", "proxy CPU per request (µs)",
        pair("routes", "last", "cpu_us_per_req", dashed_variant=("mid", ", middle route"), suffix=", last route"),
        note=note))
    save("scale-routes-startup.svg", line_plot(
        "Start-up time vs number of routes" + warn,
        "from exec to accepting connections (one start per count)",
        "routes", "start-up time (ms)",
        pair("routes", "start", "start_ms"), note=note))
    save("scale-anchors-cpu-per-handshake.svg", line_plot(
        "Proxy CPU per full mTLS handshake vs trust anchors" + warn,
        "TLS 1.3, ECDSA P-256 client certificate, every CA named in the CertificateRequest; lower is better",
        "trust anchors (CA certificates)", "proxy CPU per handshake + request (µs)",
        pair("anchors", "hs", "cpu_us_per_hs")
        + [("certgate, --client-ca-hints none", COLORS["certgate"], True,
            series(vals, "anchors", "hs_nohints", "certgate", "cpu_us_per_hs"))],
        note=note))
    save("scale-idle-bytes-per-connection.svg", line_plot(
        "Memory per idle mTLS connection" + warn,
        "(RSS holding − RSS before) / connections; each connection completed one request; lower is better",
        "idle connections", "resident memory per connection (KB)",
        pair("idle", "held", "bytes_per_conn", scale=1 / 1024), note=note))
    for w in written:
        print(w)
    if not written:
        print("bench/plot.py: no plottable results in " + argv[1], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
