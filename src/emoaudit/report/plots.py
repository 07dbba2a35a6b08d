"""Inline SVG plots that draw the intervals the analysis already computed.

Each function takes result objects carrying ``{"value", "ci_low", "ci_high", "n"}`` and draws
them as they are: nothing here recomputes a statistic, so a plot can never disagree with the
table beside it (fairlearn's plots that ignore the intervals they hold are the cautionary tale).
No JavaScript, no fonts or scripts from a CDN: the report opens offline. Every string that comes
from data (labels, group values, file names) passes through ``markupsafe.escape``; a plot
returns ``Markup`` so Jinja2's autoescape leaves the already-escaped SVG alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

Interval = dict[str, Any]
WIDTH = 640
FONT = 12
ROW = 22
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
INK = "#222"
GRID = "#ddd"


CHAR_EM = 0.62  # generous mean advance of a sans-serif character, in ems: labels never clip


def text_width(text: Any, size: float = FONT) -> float:
    """Estimated rendered width of a label, so margins can be sized to the longest one."""
    return len(str(text)) * size * CHAR_EM


def _e(text: Any) -> str:
    return str(escape(str(text)))


def _f(x: float) -> str:
    return f"{x:.1f}"


def fmt_value(x: float | None, *, percent: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if percent else f"{x:.3g}"


def fmt_interval(iv: Interval | None, *, percent: bool = True) -> str:
    """'62.1% (59.0–65.3%)': the value with its interval, the way the report prints numbers."""
    if not iv or iv.get("value") is None:
        return "n/a"
    v = fmt_value(iv["value"], percent=percent)
    if iv.get("ci_low") is None or iv.get("ci_high") is None:
        return v
    lo = fmt_value(iv["ci_low"], percent=percent)
    hi = fmt_value(iv["ci_high"], percent=percent)
    return f"{v} ({lo} to {hi})"


def _svg(height: float, body: list[str], *, title: str, width: int = WIDTH) -> Markup:
    return Markup(
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{_f(height)}" viewBox="0 0 {width} {_f(height)}" '
        f'font-family="sans-serif" font-size="{FONT}">'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def _empty(title: str) -> Markup:
    return _svg(40, [f'<text x="8" y="24" fill="#666">{_e(title)}: no data</text>'], title=title)


def _ok(iv: Interval | None) -> bool:
    return bool(iv) and iv.get("value") is not None


def _axis_x(x0: float, x1: float, y: float, lo: float, hi: float, *, percent: bool) -> list[str]:
    """Ticks along the bottom of a horizontal scale from lo to hi."""
    out = [f'<line x1="{_f(x0)}" y1="{_f(y)}" x2="{_f(x1)}" y2="{_f(y)}" stroke="{INK}"/>']
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        x = x0 + (x1 - x0) * i / 5
        label = f"{100 * v:.0f}%" if percent else f"{v:.3g}"
        out.append(
            f'<line x1="{_f(x)}" y1="{_f(y)}" x2="{_f(x)}" y2="{_f(y + 4)}" stroke="{INK}"/>'
        )
        out.append(f'<text x="{_f(x)}" y="{_f(y + 16)}" text-anchor="middle">{label}</text>')
    return out


def confusion_heatmap(
    labels: Sequence[str],
    rows: Sequence[Sequence[float | None]],
    *,
    counts: Sequence[Sequence[int]] | None = None,
    title: str = "Confusion matrix (row-normalised)",
) -> Markup:
    """Rows are true labels, columns predictions; shade is the row share, text the share."""
    k = len(labels)
    if k == 0:
        return _empty(title)
    cell = max(28, min(56, (WIDTH - 140) // k))
    left, top = max(110, 12 + max(text_width(lab) for lab in labels)), 30
    width = max(WIDTH, int(left + k * cell + 10), int(16 + text_width(title)))
    body = [f'<text x="8" y="14" font-weight="bold">{_e(title)}</text>']
    body.append(
        f'<text x="{left + k * cell / 2}" y="{top + k * cell + 34}" text-anchor="middle">'
        "predicted</text>"
    )
    for j, lab in enumerate(labels):
        x = left + j * cell + cell / 2
        body.append(
            f'<text x="{_f(x)}" y="{top + k * cell + 16}" text-anchor="middle" '
            f'font-size="10">{_e(lab)}</text>'
        )
    for i, lab in enumerate(labels):
        y = top + i * cell
        body.append(
            f'<text x="{left - 6}" y="{_f(y + cell / 2 + 4)}" text-anchor="end">{_e(lab)}</text>'
        )
        for j in range(k):
            v = rows[i][j] if i < len(rows) and j < len(rows[i]) else None
            share = 0.0 if v is None or not math.isfinite(v) else max(0.0, min(1.0, v))
            shade = int(255 - 200 * share)
            fill = f"rgb({shade},{shade},255)" if i != j else f"rgb({shade},255,{shade})"
            n = f" (n={counts[i][j]})" if counts is not None else ""
            body.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{fill}" stroke="#fff"><title>true {_e(lab)}, predicted '
                f"{_e(labels[j])}: {fmt_value(v)}{n}</title></rect>"
            )
            colour = "#fff" if share > 0.6 else INK
            body.append(
                f'<text x="{_f(left + j * cell + cell / 2)}" y="{_f(y + cell / 2 + 4)}" '
                f'text-anchor="middle" font-size="10" fill="{colour}">'
                f"{'' if v is None else f'{100 * share:.0f}'}</text>"
            )
    return _svg(top + k * cell + 44, body, title=title, width=width)


def interval_bars(
    items: Sequence[tuple[str, Interval | None]],
    *,
    title: str,
    percent: bool = True,
    reference: float | None = None,
    reference_label: str = "",
) -> Markup:
    """Horizontal bars with CI whiskers (per-class recall, accuracy per condition...)."""
    items = list(items)
    if not items:
        return _empty(title)
    values = [fmt_interval(iv, percent=percent) if _ok(iv) else "" for _, iv in items]
    left = max(130, 14 + max(text_width(label) for label, _ in items))
    value_w = max(text_width(v) for v in values) + 16
    width = max(WIDTH, int(left + 220 + value_w), int(16 + text_width(title)))
    right, top = width - value_w, 26
    lo, hi = 0.0, 1.0
    if not percent:
        highs = [iv.get("ci_high") or iv["value"] for _, iv in items if _ok(iv)]
        hi = max(highs + [reference or 0.0, 1e-9])
    scale = (right - left) / (hi - lo)
    body = [f'<text x="8" y="14" font-weight="bold">{_e(title)}</text>']
    for i, (label, iv) in enumerate(items):
        y = top + i * ROW
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
        if not _ok(iv):
            body.append(f'<text x="{left + 4}" y="{y + 15}" fill="#666">n/a</text>')
            continue
        w = max(0.0, (iv["value"] - lo) * scale)
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{_f(w)}" height="{ROW - 8}" '
            f'fill="{PALETTE[0]}" opacity="0.75"><title>{_e(label)}: '
            f"{_e(fmt_interval(iv, percent=percent))}, n={iv.get('n')}</title></rect>"
        )
        if iv.get("ci_low") is not None and iv.get("ci_high") is not None:
            x0, x1 = left + (iv["ci_low"] - lo) * scale, left + (iv["ci_high"] - lo) * scale
            ym = y + ROW / 2
            body.append(
                f'<path d="M{_f(x0)},{_f(ym)}H{_f(x1)}M{_f(x0)},{_f(ym - 5)}V{_f(ym + 5)}'
                f'M{_f(x1)},{_f(ym - 5)}V{_f(ym + 5)}" stroke="{INK}" fill="none"/>'
            )
        body.append(
            f'<text x="{right + 6}" y="{y + 15}">{_e(fmt_interval(iv, percent=percent))}</text>'
        )
    bottom = top + len(items) * ROW
    if reference is not None:
        x = left + (reference - lo) * scale
        body.append(
            f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{bottom}" stroke="{PALETTE[1]}" '
            f'stroke-dasharray="4 3"><title>{_e(reference_label)}</title></line>'
        )
    body += _axis_x(left, right, bottom + 4, lo, hi, percent=percent)
    return _svg(bottom + 26, body, title=title, width=width)


def forest_plot(
    rows: Sequence[dict[str, Any]],
    *,
    title: str,
    reference: Interval | None = None,
    disparity: str | None = None,
) -> Markup:
    """One line per group: point and interval; small groups hollow and marked, per the analysis.

    ``rows`` items: ``{"label": str, "interval": Interval, "small": bool}``; ``reference`` is the
    overall value drawn as a vertical line; ``disparity`` a caption already formatted.
    """
    rows = list(rows)
    if not rows:
        return _empty(title)
    names = [f"{row['label']}{' (small)' if row.get('small') else ''}" for row in rows]
    notes = [
        f"{fmt_interval(row.get('interval'))} n={(row.get('interval') or {}).get('n')}"
        for row in rows
    ]
    left = max(150, 16 + max(text_width(n) for n in names))
    value_w = max(text_width(n) for n in notes) + 16
    width = max(
        WIDTH,
        int(left + 240 + value_w),
        int(16 + text_width(title)),
        int(16 + text_width(disparity or "")),
    )
    right, top = width - value_w, 26
    body = [f'<text x="8" y="14" font-weight="bold">{_e(title)}</text>']
    scale = right - left
    for i, row in enumerate(rows):
        y = top + i * ROW + ROW / 2
        iv, small = row.get("interval"), bool(row.get("small"))
        name = f"{row['label']}{' (small)' if small else ''}"
        body.append(f'<text x="{left - 8}" y="{_f(y + 4)}" text-anchor="end">{_e(name)}</text>')
        if not _ok(iv):
            body.append(f'<text x="{left + 4}" y="{_f(y + 4)}" fill="#666">n/a</text>')
            continue
        if iv.get("ci_low") is not None and iv.get("ci_high") is not None:
            body.append(
                f'<line x1="{_f(left + iv["ci_low"] * scale)}" y1="{_f(y)}" '
                f'x2="{_f(left + iv["ci_high"] * scale)}" y2="{_f(y)}" stroke="{INK}" '
                'stroke-width="2"/>'
            )
        fill = "#fff" if small else PALETTE[0]
        body.append(
            f'<rect class="point" x="{_f(left + iv["value"] * scale - 5)}" y="{_f(y - 5)}" '
            f'width="10" height="10" fill="{fill}" stroke="{PALETTE[0]}" stroke-width="2">'
            f"<title>{_e(name)}: {_e(fmt_interval(iv))}, n={iv.get('n')}</title></rect>"
        )
        body.append(
            f'<text x="{right + 8}" y="{_f(y + 4)}">{_e(fmt_interval(iv))} n={iv.get("n")}</text>'
        )
    bottom = top + len(rows) * ROW
    if _ok(reference):
        x = left + reference["value"] * scale
        body.append(
            f'<line x1="{_f(x)}" y1="{top - 4}" x2="{_f(x)}" y2="{bottom}" '
            f'stroke="{PALETTE[1]}" stroke-dasharray="4 3"><title>overall '
            f"{_e(fmt_interval(reference))}</title></line>"
        )
    body += _axis_x(left, right, bottom + 4, 0.0, 1.0, percent=True)
    height = bottom + 26
    if disparity:
        body.append(f'<text x="8" y="{height + 6}">{_e(disparity)}</text>')
        height += 16
    return _svg(height, body, title=title, width=width)


def reliability_diagram(
    bins: Sequence[dict[str, Any]],
    *,
    title: str = "Reliability",
    size: int = 300,
) -> Markup:
    """Accuracy per confidence bin with its interval against the diagonal of perfect calibration.

    ``bins`` items: ``{"confidence": float, "accuracy": Interval, "n": int}`` (mean confidence of
    the bin and the accuracy in it, as the analysis recorded them).
    """
    bins = [b for b in bins if b.get("n")]
    if not bins:
        return _empty(title)
    pad = 40
    plot = size - 2 * pad
    width = max(size, int(16 + text_width(title)))
    body = [
        f'<text x="8" y="16" font-weight="bold">{_e(title)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" stroke="{GRID}"/>',
        f'<line x1="{pad}" y1="{pad + plot}" x2="{pad + plot}" y2="{pad}" stroke="#999" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{pad + plot / 2}" y="{size - 6}" text-anchor="middle">confidence</text>',
        f'<text x="12" y="{pad + plot / 2}" transform="rotate(-90 12 {pad + plot / 2})" '
        'text-anchor="middle">accuracy</text>',
    ]
    for t in (0, 0.5, 1):
        body.append(
            f'<text x="{_f(pad + t * plot)}" y="{pad + plot + 14}" text-anchor="middle" '
            f'font-size="10">{t:g}</text>'
        )
        body.append(
            f'<text x="{pad - 4}" y="{_f(pad + plot - t * plot + 4)}" text-anchor="end" '
            f'font-size="10">{t:g}</text>'
        )
    for b in bins:
        conf, acc = b.get("confidence"), b.get("accuracy")
        if conf is None or not _ok(acc):
            continue
        x, y = pad + conf * plot, pad + plot - acc["value"] * plot
        if acc.get("ci_low") is not None and acc.get("ci_high") is not None:
            body.append(
                f'<line x1="{_f(x)}" y1="{_f(pad + plot - acc["ci_low"] * plot)}" x2="{_f(x)}" '
                f'y2="{_f(pad + plot - acc["ci_high"] * plot)}" stroke="{INK}"/>'
            )
        r = 2 + min(6, math.log10(1 + b["n"]) * 1.5)
        body.append(
            f'<circle class="point" cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" fill="{PALETTE[0]}">'
            f"<title>confidence {conf:.2f}: accuracy {_e(fmt_interval(acc))}, n={b['n']}"
            "</title></circle>"
        )
    return _svg(size, body, title=title, width=width)


def robustness_curves(
    families: dict[str, Sequence[tuple[float | str, Interval | None]]],
    *,
    clean: Interval | None = None,
    title: str = "Accuracy by severity",
    percent: bool = True,
) -> Markup:
    """Small multiples, one panel per family: the value with its CI band across severities."""
    if not families:
        return _empty(title)
    cols, pw, ph = 3, 200, 130
    names = sorted(families)
    n_rows = math.ceil(len(names) / cols)
    body = [f'<text x="8" y="14" font-weight="bold">{_e(title)}</text>']
    for idx, fam in enumerate(names):
        ox, oy = 10 + (idx % cols) * (pw + 10), 24 + (idx // cols) * (ph + 30)
        body += _panel(fam, list(families[fam]), clean, ox, oy, pw, ph, idx, percent)
    width = max(WIDTH, int(16 + text_width(title)))
    return _svg(24 + n_rows * (ph + 30), body, title=title, width=width)


def _panel(name, points, clean, ox, oy, pw, ph, idx, percent) -> list[str]:
    x0, x1, y0, y1 = ox + 30, ox + pw - 8, oy + 16, oy + ph - 14
    out = [
        f'<text x="{ox + 30}" y="{oy + 10}" font-weight="bold">{_e(name)}</text>',
        f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
        f'stroke="{GRID}"/>',
        f'<text x="{x0 - 3}" y="{y0 + 8}" text-anchor="end" font-size="9">100%</text>',
        f'<text x="{x0 - 3}" y="{y1}" text-anchor="end" font-size="9">0</text>',
    ]
    series = [(s, iv) for s, iv in ([("clean", clean)] if _ok(clean) else []) + points]
    if not series:
        return out
    step = (x1 - x0) / max(1, len(series) - 1)

    def yy(v: float) -> float:
        return y1 - max(0.0, min(1.0, v)) * (y1 - y0)

    xs = [x0 + i * step if len(series) > 1 else (x0 + x1) / 2 for i in range(len(series))]
    band = [
        (x, iv)
        for x, (_, iv) in zip(xs, series, strict=True)
        if _ok(iv) and iv.get("ci_low") is not None and iv.get("ci_high") is not None
    ]
    colour = PALETTE[idx % len(PALETTE)]
    if len(band) >= 2:
        upper = " ".join(f"{_f(x)},{_f(yy(iv['ci_high']))}" for x, iv in band)
        lower = " ".join(f"{_f(x)},{_f(yy(iv['ci_low']))}" for x, iv in reversed(band))
        out.append(
            f'<polygon class="band" points="{upper} {lower}" fill="{colour}" opacity="0.2"/>'
        )
    line = [(x, iv) for x, (_, iv) in zip(xs, series, strict=True) if _ok(iv)]
    if line:
        pts = " ".join(f"{_f(x)},{_f(yy(iv['value']))}" for x, iv in line)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for x, (sev, iv) in zip(xs, series, strict=True):
        out.append(
            f'<text x="{_f(x)}" y="{y1 + 11}" text-anchor="middle" font-size="9">{_e(sev)}</text>'
        )
        if _ok(iv):
            out.append(
                f'<circle class="point" cx="{_f(x)}" cy="{_f(yy(iv["value"]))}" r="3" '
                f'fill="{colour}"><title>{_e(name)} {_e(sev)}: '
                f"{_e(fmt_interval(iv, percent=percent))}, n={iv.get('n')}</title></circle>"
            )
    return out


def stability_summary(
    clips: Sequence[tuple[str, Interval | float | None]],
    *,
    title: str = "Label changes per second, per clip",
    unit: str = "/s",
) -> Markup:
    """Bars of a per-clip stability number (label changes per second), with CIs when present."""
    items = []
    for name, v in clips:
        iv = v if isinstance(v, dict) else {"value": v, "ci_low": None, "ci_high": None, "n": None}
        items.append((name, iv))
    return interval_bars(items, title=f"{title} ({unit})", percent=False)
