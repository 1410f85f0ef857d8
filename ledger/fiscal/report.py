"""The nightly reconciliation report (DOMAIN §6.4–6.5) as one self-contained HTML page.

A run of the reconciliation hands over a `RunReport`: plain, immutable data, every amount
an integer of minor units (fen). `render` turns it into one HTML5 document a finance officer
opens offline or prints: the pairs' totals, four charts drawn here as inline SVG, the top
open items (each anchored by its payment's key), ground truth beside what was found when the
data is synthetic, and the time each stage took.

Invariants the page keeps:

* Money is formatted from integers (`money`): thousands separators and exactly two places,
  never through a float. Rates are integer basis points, rounded half up (`percent`).
* Every string of the input is escaped, and the page refers to nothing outside itself: no
  scripts, no fonts, images or styles fetched from anywhere.
* The same RunReport renders byte-identical HTML: nothing reads the clock or the order of a
  dict (finding types come in `type_order`: the eight of `FINDING_TYPES`, DOMAIN's
  refinements, then any other type, sorted), and each type keeps one colour throughout.

A signed amount is A − B: `PairTotal.difference` is `total_a − total_b`, and
`amount_by_type` holds, per finding type, the sum of A − B over that type's items, so a pair
whose items explain its whole difference has `difference == sum(amount_by_type.values())`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.match import TYPES

# The finding types in reading order (the kernel's); their look is fixed across every chart and table.
FINDING_TYPES = TYPES


@dataclass(frozen=True)
class _Style:
    """How a finding type is named and drawn."""

    label: str
    short: str  # a column head
    chinese: str
    fill: str
    ink: str  # text on the fill


_TYPE_STYLE = {
    "in_transit": _Style("in transit", "in transit", "在途", "#4e79a7", "#fff"),
    "date_mismatch": _Style("date mismatch", "date", "日期不符", "#76b7b2", "#10302e"),
    "amount_mismatch": _Style("amount mismatch", "amount", "金额不符", "#f28e2b", "#2b1600"),
    "key_mismatch": _Style("key mismatch", "key", "要素不符", "#edc948", "#2e2600"),
    "missing_a": _Style("missing on A", "missing A", "A方漏记", "#e15759", "#fff"),
    "missing_b": _Style("missing on B", "missing B", "B方漏记", "#ff9da7", "#3a0a10"),
    "duplicate_a": _Style("duplicate on A", "dupl. A", "A方重复", "#b07aa1", "#fff"),
    "duplicate_b": _Style("duplicate on B", "dupl. B", "B方重复", "#9c755f", "#fff"),
    # the fiscal refinements of DOMAIN §6.5, shown after the eight when a run has them
    "failure_not_reversed": _Style("failure not reversed", "fail not rev.", "退票未冲回", "#79706e", "#fff"),
    "refund_not_reflected": _Style("refund not reflected", "refund", "退款未记", "#d37295", "#fff"),
    "cross_year": _Style("cross-year", "cross-year", "跨年", "#59a14f", "#fff"),
    "unexplained_flow": _Style("unexplained flow", "unexplained", "资金异常流出", "#2f4b7c", "#fff"),
}
_OTHER_FILL, _OTHER_INK = "#8c8c8c", "#fff"  # a type this page does not know yet, e.g. wrong_payee
REGIONS_CHART_MAX = 42  # bars of the per-region charts (the regions of a province)
_ACCENT = "#1f4e79"
_AMOUNT = "#2c5d8a"  # the ageing chart's amount bars, beside in-transit blue for counts


@dataclass(frozen=True)
class PairTotal:
    """One reconciliation pair (R1–R8) of the run: both sides' totals and its open items."""

    pair: str
    title: str
    side_a: str
    side_b: str
    total_a: int
    total_b: int
    difference: int
    items: int
    by_type: dict[str, int]
    amount_by_type: dict[str, int]


@dataclass(frozen=True)
class RegionRow:
    """One fiscal region: its findings by type and its budget execution."""

    region: str
    name: str
    findings_by_type: dict[str, int]
    amount_by_type: dict[str, int]
    indicator_total: int
    executed: int
    payments: int


@dataclass(frozen=True)
class Item:
    """One open item, traceable to its payment (`key` is its pay_cert_no, or the group key)."""

    pair: str
    type: str
    key: str
    region: str
    unit: str
    project: str
    bgt_id: str
    amount_a: int | None
    amount_b: int | None
    date_a: str | None
    date_b: str | None
    age_days: int
    first_seen: str | None


@dataclass(frozen=True)
class Stage:
    """One stage of the run: its wall time and the rows it handled."""

    name: str
    seconds: float
    rows: int


@dataclass(frozen=True)
class RunReport:
    """Everything the page shows about one reconciliation run."""

    run_id: str
    date: str
    scope: str
    created: str
    pairs: list[PairTotal]
    regions: list[RegionRow]
    ageing: list[tuple[str, int, int]]  # bucket label, items, amount
    items: list[Item]  # the top items, in the order to show them
    total_items: int
    closed_since_last: int
    stages: list[Stage]
    ground_truth: dict[str, int] | None = None  # injected faults by type (synthetic data)


# ---------------------------------------------------------------------------- formatting


def money(minor: int) -> str:
    """Fen as yuan with thousands separators and two places: 123456789 → "1,234,567.89"."""
    yuan, fen = divmod(abs(minor), 100)
    return f"{'-' if minor < 0 else ''}{yuan:,}.{fen:02d}"


def percent(part: int, whole: int) -> str:
    """`part / whole` (whole > 0) as a percentage with one place, rounded half up from integers."""
    tenths = (part * 2000 + whole) // (2 * whole)
    sign, tenths = ("-", -tenths) if tenths < 0 else ("", tenths)
    return f"{sign}{tenths // 10:,}.{tenths % 10}%"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(value: float) -> str:
    """A coordinate: one place, so the markup is stable and short."""
    return f"{value:.1f}"


def _axis_money(minor: int) -> str:
    """An axis tick in yuan, short: 2,500 → "2.5k", -20,000,000 → "-20M". Ticks are round
    numbers, so the short form is still exact."""
    if minor % 100:
        return money(minor)
    sign, yuan = ("-" if minor < 0 else ""), abs(minor) // 100
    for unit, suffix in ((10**9, "bn"), (10**6, "M"), (10**3, "k")):
        if yuan >= unit:
            whole, part = divmod(yuan, unit)
            fraction = f"{part:0{len(str(unit)) - 1}d}".rstrip("0")
            return f"{sign}{whole:,}{'.' if fraction else ''}{fraction}{suffix}"
    return f"{sign}{yuan:,}"


def type_order(*counts: Mapping[str, int]) -> list[str]:
    """The eight finding types, then the refinements found in `counts`, then any other type
    found there, sorted."""
    present = {kind for c in counts for kind in c}
    refined = [kind for kind in _TYPE_STYLE if kind not in FINDING_TYPES and kind in present]
    return [*FINDING_TYPES, *refined, *sorted(present - _TYPE_STYLE.keys())]


def _style(kind: str) -> _Style:
    """How a finding type looks; a type the page does not know is grey, named as it is."""
    known = _TYPE_STYLE.get(kind)
    return known or _Style(kind.replace("_", " "), kind.replace("_", " "), kind, _OTHER_FILL, _OTHER_INK)


def _badge(kind: str) -> str:
    style = _style(kind)
    return (
        f'<span class="badge" style="background:{style.fill};color:{style.ink}" title="{_e(style.chinese)}">'
        f"{_e(style.label)}</span>"
    )


def _sum_by_type(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        for kind, value in row.items():
            out[kind] = out.get(kind, 0) + value
    return out


def _explained(pair: PairTotal) -> bool:
    """The pair's items account for its whole difference."""
    return pair.difference == sum(pair.amount_by_type.values())


# ---------------------------------------------------------------------------- svg parts


def _ticks(top: int, count: int = 5) -> list[int]:
    """Round ticks 0, step, 2·step … up to at least `top`; step is 1, 2 or 5 × 10^k."""
    if top <= 0:
        return [0, 1]
    raw = -(-top // count)
    power = 10 ** (len(str(raw)) - 1)
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return list(range(0, -(-top // step) * step + 1, step))


def _svg(name: str, label: str, width: int, height: int, body: Iterable[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{_e(label)}" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        + "".join(body)
        + "</svg>"
    )


def _bar(x: float, y: float, width: float, height: float, fill: str, tip: str) -> str:
    return (
        f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" '
        f'fill="{fill}"><title>{_e(tip)}</title></rect>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{css}>{_e(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"/>'


def _legend(entries: Sequence[tuple[str, str]], width: int, columns: int) -> list[str]:
    """Swatches and labels in rows of `columns`, from the top of the chart."""
    cell = width / columns
    out = []
    for index, (fill, text) in enumerate(entries):
        x, y = 8 + (index % columns) * cell, 6 + (index // columns) * 18
        out.append(f'<rect class="swatch" x="{_n(x)}" y="{_n(y)}" width="11" height="11" fill="{fill}"/>')
        out.append(_text(x + 16, y + 10, text, cls="legend"))
    return out


def _x_axis(
    x0: float,
    plot: float,
    top: float,
    y: float,
    ticks: Sequence[int],
    label: Callable[[int], str],
    title: str,
) -> list[str]:
    """Grid lines from `top` down to the axis at `y`, tick labels and the axis title under it."""
    out = []
    for tick in ticks:
        x = x0 + plot * tick / ticks[-1]
        out.append(_line(x, top - 4, x, y, "grid" if tick else "zero"))
        out.append(_text(x, y + 14, label(tick), "middle", "tick"))
    out.append(_text(x0 + plot / 2, y + 32, title, "middle", "axis-title"))
    return out


def _empty(name: str, label: str, message: str) -> str:
    return _svg(
        name,
        f"{label}: {message}",
        560,
        110,
        [
            '<rect class="frame" x="1" y="1" width="558" height="108" rx="6"/>',
            _text(280, 60, message, "middle", "empty-text"),
        ],
    )


def _figure(name: str, caption: str, note: str, svg: str) -> str:
    return (
        f'<figure data-chart="{name}"><figcaption>{_e(caption)}'
        f'<span class="note">{_e(note)}</span></figcaption>{svg}</figure>'
    )


# ---------------------------------------------------------------------------- charts


def _chart_regions(report: RunReport) -> str:
    """(a) Findings per region, stacked by type, the regions with the most findings first."""
    label = "Findings per region, stacked by finding type"
    totals = {r.region: sum(r.findings_by_type.values()) for r in report.regions}
    rows = sorted(
        (r for r in report.regions if totals[r.region] > 0), key=lambda r: (-totals[r.region], r.region)
    )
    if not rows:
        return _empty("regions", label, "No findings in any region — clean")
    rows = rows[:REGIONS_CHART_MAX]
    kinds = type_order(*(r.findings_by_type for r in rows))
    legend = _legend([(_style(k).fill, _style(k).label) for k in kinds], 560, 4)
    top = 8 + -(-len(kinds) // 4) * 18 + 8
    x0, plot, row_height = 150.0, 340.0, 18
    ticks = _ticks(max(totals[r.region] for r in rows))
    axis_y = top + len(rows) * row_height + 4
    body = [*legend, *_x_axis(x0, plot, top, axis_y, ticks, lambda t: f"{t:,}", "findings (count)")]
    for index, row in enumerate(rows):
        y = top + index * row_height
        body.append(_text(x0 - 6, y + 12, f"{row.region} {row.name}", "end", "cat"))
        x = x0
        for kind in kinds:
            count = row.findings_by_type.get(kind, 0)
            if count > 0:
                width, tip = plot * count / ticks[-1], f"{row.name} · {_style(kind).label}: {count:,}"
                body.append(_bar(x, y + 3, width, 12, _style(kind).fill, tip))
                x += width
        body.append(_text(552, y + 12, f"{totals[row.region]:,}", "end", "value"))
    summary = f"{label}: {len(rows)} regions, {sum(totals[r.region] for r in rows):,} findings"
    return _svg("regions", summary, 560, int(axis_y + 40), body)


def _chart_amounts(report: RunReport) -> str:
    """(b) The signed difference (A − B) of each finding type, summed over the pairs."""
    label = "Difference amount by finding type"
    amounts = _sum_by_type(p.amount_by_type for p in report.pairs)
    if not any(amounts.values()):
        return _empty("amounts", label, "No differences — clean")
    kinds = type_order(amounts)
    low, high = -min(0, *amounts.values()), max(0, *amounts.values())
    step = _ticks(max(low, high))[1]  # the same step on both sides of zero
    low, high = -(-low // step) * step, -(-high // step) * step
    x0, plot, row_height, top = 130.0, 320.0, 22, 30

    def x_of(value: int) -> float:
        return x0 + plot * (value + low) / (low + high)

    axis_y = top + len(kinds) * row_height + 4
    body = [_text(8, 16, "◀ B exceeds A", cls="legend"), _text(552, 16, "A exceeds B ▶", "end", "legend")]
    for tick in range(-low, high + 1, step):
        body.append(_line(x_of(tick), top - 4, x_of(tick), axis_y, "zero" if tick == 0 else "grid"))
        body.append(_text(x_of(tick), axis_y + 14, _axis_money(tick), "middle", "tick"))
    body.append(_text(x0 + plot / 2, axis_y + 32, "difference A − B (yuan ¥)", "middle", "axis-title"))
    for index, kind in enumerate(kinds):
        y, value = top + index * row_height, amounts.get(kind, 0)
        body.append(_text(x0 - 6, y + 14, _style(kind).label, "end", "cat"))
        if value:
            left, right = sorted((x_of(0), x_of(value)))
            tip = f"{_style(kind).label}: ¥{money(value)}"
            body.append(_bar(left, y + 4, right - left, 14, _style(kind).fill, tip))
        body.append(_text(552, y + 14, money(value), "end", "value"))
    return _svg(
        "amounts",
        f"{label}: {len(kinds)} types, net ¥{money(sum(amounts.values()))}",
        560,
        int(axis_y + 40),
        body,
    )


def _ageing_panel(
    values: Sequence[int],
    buckets: Sequence[str],
    x0: float,
    plot: float,
    style: tuple[str, Callable[[int], str], Callable[[int], str], str],
    value_x: float | None,
) -> list[str]:
    """One panel of the ageing chart: a bar per bucket from `x0`, `plot` wide, as long as the
    value's magnitude. `style` is the fill, the value and tick formats and the axis title;
    values stand at the end of each bar, or right-aligned at `value_x`."""
    fill, fmt, tick_fmt, title = style
    ticks = _ticks(max(abs(v) for v in values), 3)  # a narrow panel: few ticks
    top, row_height = 44, 26
    body = _x_axis(x0, plot, top, top + len(values) * row_height + 4, ticks, tick_fmt, title)
    for index, (bucket, value) in enumerate(zip(buckets, values, strict=True)):
        y, width = top + index * row_height, plot * abs(value) / ticks[-1]
        if value:
            body.append(_bar(x0, y + 5, width, 16, fill, f"{bucket}: {fmt(value)}"))
        if value_x is None:
            body.append(_text(x0 + width + 4, y + 17, fmt(value), "start", "value"))
        else:
            body.append(_text(value_x, y + 17, fmt(value), "end", "value"))
    return body


def _chart_ageing(report: RunReport) -> str:
    """(c) In-transit items by age: how many, and how much, in each bucket."""
    label = "Ageing of in-transit items"
    if not report.ageing or not any(count for _, count, _ in report.ageing):
        return _empty("ageing", label, "No items in transit")
    buckets = [bucket for bucket, _, _ in report.ageing]
    counts = [count for _, count, _ in report.ageing]
    amounts = [amount for _, _, amount in report.ageing]
    in_transit = _style("in_transit").fill
    body = _legend([(in_transit, "items (count)"), (_AMOUNT, "amount (yuan ¥)")], 280, 2)
    body.append(_text(54, 38, "age", "end", "axis-title"))
    body += [_text(54, 44 + index * 26 + 17, bucket, "end", "cat") for index, bucket in enumerate(buckets)]
    body += _ageing_panel(counts, buckets, 62, 140, (in_transit, "{:,}".format, "{:,}".format, "items"), None)
    body += _ageing_panel(amounts, buckets, 262, 170, (_AMOUNT, money, _axis_money, "amount (¥)"), 552)
    summary = f"{label}: {sum(counts):,} items, ¥{money(sum(amounts))} in {len(buckets)} buckets"
    return _svg("ageing", summary, 560, 44 + len(buckets) * 26 + 48, body)


def _chart_execution(report: RunReport) -> str:
    """(d) Budget execution rate per region (executed / indicator total), by region code."""
    label = "Budget execution rate per region"
    if not report.regions:
        return _empty("execution", label, "No regions in this run")
    rows = sorted(report.regions, key=lambda r: r.region)[:REGIONS_CHART_MAX]
    points = {
        r.region: max(0, r.executed * 10_000 // r.indicator_total) for r in rows if r.indicator_total > 0
    }
    ticks = _ticks(max(10_000, *points.values()) if points else 10_000)
    x0, plot, row_height, top = 150.0, 340.0, 18, 30
    axis_y = top + len(rows) * row_height + 4
    body = _legend([(_ACCENT, "executed ÷ indicator total")], 560, 1)
    body += _x_axis(x0, plot, top, axis_y, ticks, lambda t: f"{t // 100}%", "execution rate (%)")
    full = x0 + plot * 10_000 / ticks[-1]
    body.append(_line(full, top - 4, full, axis_y, "target"))
    for index, row in enumerate(rows):
        y = top + index * row_height
        body.append(_text(x0 - 6, y + 12, f"{row.region} {row.name}", "end", "cat"))
        if row.region not in points:
            body.append(_text(552, y + 12, "—", "end", "value"))
            continue
        rate = percent(row.executed, row.indicator_total)
        tip = f"{row.name}: ¥{money(row.executed)} of ¥{money(row.indicator_total)} ({rate})"
        tip += f", {row.payments:,} payments"
        body.append(_bar(x0, y + 3, plot * points[row.region] / ticks[-1], 12, _ACCENT, tip))
        body.append(_text(552, y + 12, rate, "end", "value"))
    return _svg("execution", f"{label}: {len(rows)} regions", 560, int(axis_y + 40), body)


# ---------------------------------------------------------------------------- sections

_CSS = """
:root { --ink: #1f2933; --muted: #66717d; --line: #dde2e7; --bg: #f3f5f7; --card: #fff;
  --ok: #1b7f3b; --warn: #a84b00; --accent: #1f4e79; }
* { box-sizing: border-box; }
html { font-size: 14px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 1rem/1.45 system-ui, "Segoe UI",
  "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "DejaVu Sans", sans-serif; }
main { max-width: 1360px; margin: 0 auto; padding: 0 20px 32px; }
header.top { background: var(--accent); color: #fff; padding: 18px 20px 14px; }
header.top .inner { max-width: 1320px; margin: 0 auto; display: flex; gap: 24px; align-items: flex-start;
  justify-content: space-between; }
h1 { font-size: 1.571rem; margin: 0 0 4px; font-weight: 650; }
.meta { font-size: 0.929rem; opacity: .9; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.meta b { font-weight: 600; }
.status { font-size: 1.143rem; font-weight: 650; padding: 8px 14px; border-radius: 8px; white-space: nowrap; }
.status.clean { background: #e3f4e8; color: var(--ok); }
.status.findings { background: #fff1e0; color: var(--warn); }
nav { font-size: 0.929rem; margin: 10px auto 0; max-width: 1320px; display: flex; gap: 16px; }
nav a { color: #dbe7f3; text-decoration: none; }
.kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 16px 0; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.kpi .k { font-size: 0.857rem; color: var(--muted); }
.kpi .v { font-size: 1.429rem; font-weight: 650; font-variant-numeric: tabular-nums; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px;
  margin: 16px 0; }
h2 { font-size: 1.143rem; margin: 0 0 10px; }
h2 small, .note { color: var(--muted); font-weight: normal; font-size: 0.857rem; margin-left: 8px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 0.929rem; }
th, td { padding: 4px 6px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 0.857rem; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
.num { text-align: right; white-space: nowrap; }
.zero { color: #b5bcc3; }
.strong { font-weight: 650; }
tfoot td { font-weight: 650; border-top: 2px solid var(--ink); border-bottom: none; }
tbody tr:nth-child(even) { background: #fafbfc; }
.check { text-align: center; }
tr[data-check="ok"] .check { color: var(--ok); }
tr[data-check="off"] .check { color: var(--warn); font-weight: 650; }
.side { display: block; color: var(--muted); font-size: 0.857rem; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 0.821rem;
  white-space: nowrap; }
.scroll { overflow-x: auto; }
th.type { white-space: normal; line-height: 1.2; }
th .dot { display: block; margin: 0 0 3px auto; }
th.group { text-align: center; border-bottom: 1px solid var(--line); padding-bottom: 2px; }
td.what { min-width: 170px; }
table.pairs { font-size: 0.893rem; }
table.items { font-size: 0.857rem; }
.key { white-space: nowrap; font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 0.857rem; }
a.key { color: var(--accent); text-decoration: none; }
tr:target { background: #fff6c8; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px 24px; align-items: start; }
figure { margin: 0; break-inside: avoid; }
figcaption { font-weight: 650; font-size: 1rem; margin-bottom: 6px; }
figcaption .note { display: block; margin: 0; }
svg.chart { display: block; max-width: 640px; font-family: inherit; }
svg text { font-size: 11px; fill: var(--ink); }
svg .tick, svg .legend { fill: var(--muted); }
svg .value { font-weight: 600; font-variant-numeric: tabular-nums; }
svg .axis-title { font-size: 11px; fill: var(--muted); font-style: italic; }
svg .grid { stroke: #e6e9ed; stroke-width: 1; }
svg .zero { stroke: #8a949e; stroke-width: 1; }
svg .target { stroke: var(--warn); stroke-width: 1.2; stroke-dasharray: 4 3; }
svg .frame { fill: #f7f9fa; stroke: var(--line); }
svg .empty-text { font-size: 14px; fill: var(--muted); }
.ok { color: var(--ok); font-weight: 650; }
.off { color: var(--warn); font-weight: 650; }
.duo { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 0 16px; }
td.share { width: 30%; vertical-align: middle; }
.meter { display: block; height: 8px; min-width: 1px; background: var(--accent); border-radius: 2px; }
footer { color: var(--muted); font-size: 0.857rem; margin-top: 12px; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  html { font-size: 7.5pt; }
  body { background: #fff; }
  header.top { background: none; color: var(--ink); border-bottom: 2px solid var(--ink); padding: 0 0 6px; }
  nav { display: none; }
  main { max-width: none; padding: 0; }
  section, .kpi { border: none; padding: 0; margin: 8px 0; }
  .kpi { border-left: 3px solid var(--line); padding-left: 8px; }
  thead { display: table-header-group; }
  tr, figure { break-inside: avoid; }
  h2 { break-after: avoid; }
  tbody tr:nth-child(even) { background: none; }
  a.key { color: inherit; }
  .scroll { overflow: visible; }
}
@media screen and (max-width: 900px) { .grid, .kpis { grid-template-columns: 1fr; } }
"""


def _status(report: RunReport) -> tuple[str, str]:
    """The headline: ("clean", …) or ("findings", "N findings, ¥X in differences").

    X is the gross amount: the absolute type totals of every pair, so differences of opposite
    sign do not hide each other."""
    gross = sum(abs(v) for p in report.pairs for v in p.amount_by_type.values())
    if report.total_items == 0 and gross == 0 and not any(p.difference for p in report.pairs):
        return "clean", "clean · 无差异"
    noun = "finding" if report.total_items == 1 else "findings"
    return "findings", f"{report.total_items:,} {noun}, ¥{money(gross)} in differences"


def _header(report: RunReport) -> str:
    status, headline = _status(report)
    meta = [
        ("run", report.run_id),
        ("date", report.date),
        ("scope", report.scope),
        ("created", report.created),
    ]
    links = [("pairs", "Pairs"), ("charts", "Charts"), ("items", "Items"), ("stages", "Stages")]
    if report.ground_truth is not None:
        links.insert(3, ("truth", "Ground truth"))
    return (
        '<header class="top"><div class="inner"><div>'
        f"<h1>Reconciliation report 对账报告 · {_e(report.date)}</h1>"
        '<div class="meta">'
        + "".join(f'<span>{k} <b data-field="{k}">{_e(v)}</b></span>' for k, v in meta)
        + "</div></div>"
        f'<div class="status {status}" data-status="{status}">{_e(headline)}</div></div>'
        "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in links) + "</nav></header>"
    )


def _kpis(report: RunReport) -> str:
    """The run in five figures, under the header."""
    explained = sum(_explained(p) for p in report.pairs)
    flagged = sum(1 for r in report.regions if any(r.findings_by_type.values()))
    gross = sum(abs(v) for p in report.pairs for v in p.amount_by_type.values())
    tiles = [
        ("open items 未达/差异", f"{report.total_items:,}"),
        ("gross differences", f"¥{money(gross)}"),
        ("pairs explained", f"{explained} / {len(report.pairs)}"),
        ("closed since last run", f"{report.closed_since_last:,}"),
        ("regions with findings", f"{flagged} / {len(report.regions)}"),
    ]
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
            for k, v in tiles
        )
        + "</div>"
    )


def _cell(value: int) -> str:
    """A count, its zero greyed."""
    return f'<td class="{"num zero" if value == 0 else "num"}">{value:,}</td>'


def _pair_row(pair: PairTotal, kinds: Sequence[str]) -> str:
    ok = _explained(pair)
    return (
        f'<tr data-pair="{_e(pair.pair)}" data-check="{"ok" if ok else "off"}">'
        f'<td><b>{_e(pair.pair)}</b></td><td class="what">{_e(pair.title)}'
        f'<span class="side">A: {_e(pair.side_a)} · B: {_e(pair.side_b)}</span></td>'
        f'<td class="num">{money(pair.total_a)}</td><td class="num">{money(pair.total_b)}</td>'
        f'<td class="num strong">{money(pair.difference)}</td>{_cell(pair.items)}'
        + "".join(_cell(pair.by_type.get(k, 0)) for k in kinds)
        + f'<td class="check" title="difference = Σ items">{"✓" if ok else "≠"}</td></tr>'
    )


def _pairs_table(report: RunReport) -> str:
    """The pairs' totals, their counts per type, and whether the items explain the difference."""
    kinds = type_order(*(p.by_type for p in report.pairs))
    rows = [_pair_row(p, kinds) for p in report.pairs] or [
        f'<tr><td colspan="{len(kinds) + 7}">No pairs were reconciled in this run.</td></tr>'
    ]
    counts = _sum_by_type(p.by_type for p in report.pairs)
    foot = (
        '<tr data-row="total"><td></td><td>Total 合计</td>'
        f'<td class="num">{money(sum(p.total_a for p in report.pairs))}</td>'
        f'<td class="num">{money(sum(p.total_b for p in report.pairs))}</td>'
        f'<td class="num">{money(sum(p.difference for p in report.pairs))}</td>'
        + _cell(sum(p.items for p in report.pairs))
        + "".join(_cell(counts.get(k, 0)) for k in kinds)
        + "<td></td></tr>"
    )
    types = "".join(
        f'<th class="num type" title="{_e(_style(k).label)} {_e(_style(k).chinese)}">'
        f'<span class="dot" style="background:{_style(k).fill}"></span>{_e(_style(k).short)}</th>'
        for k in kinds
    )
    head = (
        '<tr><th rowspan="2">Pair</th><th rowspan="2">What is matched</th>'
        '<th rowspan="2" class="num">A total</th><th rowspan="2" class="num">B total</th>'
        '<th rowspan="2" class="num">Difference</th><th rowspan="2" class="num">Items</th>'
        f'<th class="group" colspan="{len(kinds)}">open items by finding '
        f'type 差异笔数</th><th rowspan="2" class="check">Σ</th></tr><tr>{types}</tr>'
    )
    return (
        '<section id="pairs"><h2>Reconciliation pairs 对账<small>amounts in yuan (¥); difference = A − B; '
        "✓ when the open items explain the whole difference</small></h2>"
        f'<div class="scroll"><table class="pairs"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
        f"<tfoot>{foot}</tfoot></table></div></section>"
    )


def _charts(report: RunReport) -> str:
    """The four charts, two by two (one below the other on a narrow screen)."""
    shown = min(sum(1 for r in report.regions if any(r.findings_by_type.values())), REGIONS_CHART_MAX)
    count = len(report.regions)
    order = (
        f"the first {REGIONS_CHART_MAX} of {count} by region code"
        if count > REGIONS_CHART_MAX
        else "by region code"
    )
    figures = [
        _figure(
            "regions",
            "Findings per region 各地区差异",
            f"stacked by type; the {shown} regions with the most findings, most first"
            if shown
            else "stacked by type",
            _chart_regions(report),
        ),
        _figure(
            "execution",
            "Budget execution per region 预算执行率",
            f"executed ÷ indicator total, {order}; dashed line at 100 %",
            _chart_execution(report),
        ),
        _figure(
            "amounts",
            "Difference amount by type 差异金额",
            "Σ (A − B) of each type over all pairs, yuan",
            _chart_amounts(report),
        ),
        _figure(
            "ageing",
            "Ageing of in-transit items 在途账龄",
            "count and amount per age bucket",
            _chart_ageing(report),
        ),
    ]
    return f'<section id="charts"><h2>Charts 图表</h2><div class="grid">{"".join(figures)}</div></section>'


_ITEM_COLUMNS = (
    "Type",
    "Key (pay_cert_no)",
    "Pair",
    "Region",
    "Unit",
    "Project",
    "bgt_id",
    "Amount A",
    "Amount B",
    "A − B",
    "Date A",
    "Date B",
    "Age (d)",
    "First seen",
)


def _heads(columns: Sequence[str], numbers_from: int) -> str:
    """Header cells; the columns from index `numbers_from` on hold numbers (right-aligned)."""
    return "".join(
        f'<th class="num">{_e(c)}</th>' if index >= numbers_from else f"<th>{_e(c)}</th>"
        for index, c in enumerate(columns)
    )


def _optional(value: int | None) -> str:
    return money(value) if value is not None else "—"


def _items_table(report: RunReport) -> str:
    """The top open items, each row anchored `item-<key>` (a second row of a key gets `-2` …)."""
    seen: dict[str, int] = {}
    rows = []
    for item in report.items:
        seen[item.key] = seen.get(item.key, 0) + 1
        anchor = f"item-{item.key}" + (f"-{seen[item.key]}" if seen[item.key] > 1 else "")
        diff = (item.amount_a or 0) - (item.amount_b or 0)
        rows.append(
            f'<tr id="{_e(anchor)}" data-type="{_e(item.type)}"><td>{_badge(item.type)}</td>'
            f'<td><a class="key" href="#{_e(anchor)}">{_e(item.key)}</a></td><td>{_e(item.pair)}</td>'
            f"<td>{_e(item.region)}</td><td>{_e(item.unit)}</td><td>{_e(item.project)}</td>"
            f'<td class="key">{_e(item.bgt_id)}</td>'
            f'<td class="num">{_optional(item.amount_a)}</td><td class="num">{_optional(item.amount_b)}</td>'
            f'<td class="num strong">{money(diff)}</td>'
            f'<td class="num">{_e(item.date_a or "—")}</td><td class="num">{_e(item.date_b or "—")}</td>'
            f'<td class="num">{item.age_days:,}</td><td class="num">{_e(item.first_seen or "—")}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="14">No open items — clean.</td></tr>')
    return (
        f'<section id="items"><h2>Top items 差异明细<small>{len(report.items):,} of {report.total_items:,} '
        f"open items; {report.closed_since_last:,} closed since the last run</small></h2>"
        f'<div class="scroll"><table class="items"><thead><tr>{_heads(_ITEM_COLUMNS, 7)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _ground_truth(report: RunReport) -> str:
    """Found beside injected, per type, for a run on synthetic data (empty otherwise)."""
    if report.ground_truth is None:
        return ""
    found = _sum_by_type(p.by_type for p in report.pairs)
    rows, matched = [], 0
    for kind in type_order(found, report.ground_truth):
        got, injected = found.get(kind, 0), report.ground_truth.get(kind, 0)
        matched += got == injected
        mark = (
            '<span class="ok">✓</span>'
            if got == injected
            else f'<span class="off">{got - injected:+,}</span>'
        )
        rows.append(
            f'<tr data-type="{_e(kind)}" data-match="{"ok" if got == injected else "off"}">'
            f'<td>{_badge(kind)}</td>{_cell(got)}{_cell(injected)}<td class="num">{mark}</td></tr>'
        )
    return (
        '<section id="truth"><h2>Ground truth 注入故障<small>synthetic data: the faults injected beside '
        f"those found; {matched} of {len(rows)} types match</small></h2>"
        f'<table class="truth"><thead><tr>{_heads(("Type", "Found", "Injected", "Found − injected"), 1)}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _stages(report: RunReport) -> str:
    """Each stage's time, rows and throughput, with its share of the run's time."""
    seconds = sum(s.seconds for s in report.stages)
    rows = []
    for stage in report.stages:
        rate = f"{stage.rows / stage.seconds:,.0f}" if stage.seconds > 0 else "—"
        share = 100 * stage.seconds / seconds if seconds > 0 else 0.0
        rows.append(
            f'<tr><td>{_e(stage.name)}</td><td class="num">{stage.seconds:,.2f}</td>{_cell(stage.rows)}'
            f'<td class="num">{rate}</td><td class="share"><span class="meter" style="width:{share:.1f}%">'
            "</span></td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="5">No stages recorded.</td></tr>')
    heads = _heads(("Stage", "Seconds", "Rows", "Rows / s"), 1) + "<th>Share of time</th>"
    return (
        f'<section id="stages"><h2>Stages 运行阶段</h2><table class="stages"><thead><tr>{heads}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody><tfoot><tr><td>Total</td><td class="num">{seconds:,.2f}</td>'
        "<td></td><td></td><td></td></tr></tfoot></table></section>"
    )


def render(report: RunReport) -> str:
    """The report as one self-contained HTML5 document (the same report, the same bytes)."""
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Reconciliation {_e(report.run_id)} · {_e(report.date)}</title>"
            f"<style>{_CSS}</style></head><body>",
            _header(report),
            "<main>",
            _kpis(report),
            _pairs_table(report),
            _charts(report),
            _items_table(report),
            f'<div class="duo">{_ground_truth(report)}{_stages(report)}</div>',
            f"<footer>Run {_e(report.run_id)} · created {_e(report.created)} · amounts in yuan from integer "
            "fen · 金额单位：元</footer>",
            "</main></body></html>\n",
        ]
    )


def write(report: RunReport, path: Path) -> Path:
    """Write the page to `path` (UTF-8) through a temporary file, so a reader never sees half of
    it; the folder is created if needed. Returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render(report), encoding="utf-8")
    os.replace(partial, path)
    return path


__all__ = [
    "FINDING_TYPES",
    "REGIONS_CHART_MAX",
    "Item",
    "PairTotal",
    "RegionRow",
    "RunReport",
    "Stage",
    "money",
    "percent",
    "render",
    "type_order",
    "write",
]
