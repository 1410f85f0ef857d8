"""The nightly reconciliation page (ledger.fiscal.report): `render` on its own, then the page
as headless Chromium renders it, with a screenshot kept as a build artifact.

Chromium is /usr/bin/chromium or `chromium` on PATH (`make install` adds Debian's package
when it runs as root with apt-get). Without it the browser test is skipped, or fails when
CI or LEDGER_REQUIRE_CHROMIUM is set. The screenshot goes to build/test-artifacts/report.png,
or to the folder LEDGER_TEST_ARTIFACTS names.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ledger.fiscal.report import (
    FINDING_TYPES,
    Item,
    PairTotal,
    RegionRow,
    RunReport,
    Stage,
    money,
    percent,
    render,
    write,
)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CHROMIUM_TIMEOUT_SECONDS = 60
SCREEN = (1280, 2400)
REGIONS = {
    "500101000": "万州区",
    "500102000": "涪陵区",
    "500103000": "渝中区",
    "500104000": "大渡口区",
    "500105000": "江北区",
    "500106000": "沙坪坝区",
}
PAIRS = {
    "R1": ("payment vouchers ↔ bank receipts", "payment vouchers issued", "agent-bank receipts"),
    "R4": ("treasury expenditure ↔ unit 6001", "treasury own-level expenditure", "unit 6001 per project"),
    "R5": ("indicator executed ↔ payments", "indicator executed", "Σ payments net of refunds"),
}
# (pair, type, amount A, amount B, age in days): every type at least once and a refinement
# (cross_year); R4's difference is left unexplained by ¥1
FINDINGS = [
    ("R1", "in_transit", 12_500_00, None, 0),
    ("R1", "in_transit", 38_000_00, None, 1),
    ("R1", "in_transit", 7_420_15, None, 3),
    ("R1", "in_transit", 560_00, None, 12),
    ("R1", "date_mismatch", 12_000_00, 12_000_00, 1),
    ("R1", "amount_mismatch", 5_300_00, 5_200_00, 2),
    ("R1", "missing_a", None, 880_00, 4),
    ("R1", "missing_b", 2_450_75, None, 6),
    ("R1", "duplicate_b", 990_00, 1_980_00, 1),
    ("R1", "cross_year", 700_00, 700_00, 35),
    ("R4", "key_mismatch", 64_000_00, 64_000_00, 9),
    ("R4", "amount_mismatch", 15_000_00, 14_999_99, 2),
    ("R5", "duplicate_a", 3_200_00, 1_600_00, 0),
    ("R5", "missing_b", 45_000_00, None, 3),
    ("R5", "in_transit", 9_999_99, None, 33),
]
BUCKETS = [("0–1 d", 0, 1), ("2–5 d", 2, 5), ("6–30 d", 6, 30), (">30 d", 31, 10_000)]


def realistic_report() -> RunReport:
    """A run over six Chongqing districts: three pairs, every finding type, in-transit items
    in each ageing bucket, ground truth one off for amount_mismatch. The totals follow from
    the items, as a reconciliation would count them."""
    regions = list(REGIONS)
    items = [
        Item(
            pair=pair,
            type=kind,
            key=f"PC2024120{index:05d}",
            region=regions[index % len(regions)],
            unit=f"{regions[index % len(regions)][:6]}{index % 3 + 101:03d}",
            project=f"50010{index:05d}",
            bgt_id=f"BGT-2024-{index:04d}",
            amount_a=a,
            amount_b=b,
            date_a=None if a is None else "2024-12-02",
            date_b=None if b is None else ("2023-12-29" if kind == "cross_year" else "2024-12-03"),
            age_days=age,
            first_seen="2024-11-28" if age > 1 else "2024-12-03",
        )
        for index, (pair, kind, a, b, age) in enumerate(FINDINGS)
    ]
    transit = [i for i in items if i.type == "in_transit"]
    ageing = [
        (label, len(inside), sum(_signed(i) for i in inside))
        for label, low, high in BUCKETS
        for inside in [[i for i in transit if low <= i.age_days <= high]]
    ]
    return RunReport(
        run_id="recon-2024-12-03-01",
        date="2024-12-03",
        scope="6 regions",
        created="2024-12-04T02:15:07+08:00",
        pairs=[_pair(code, items) for code in PAIRS],
        regions=[_region(index, code, items) for index, code in enumerate(regions)],
        ageing=ageing,
        items=items,
        total_items=len(items),
        closed_since_last=57,
        stages=[
            Stage("load vouchers", 1.84, 412_000),
            Stage("load bank receipts", 2.31, 409_876),
            Stage("match R1–R8", 4.02, 821_876),
            Stage("write findings", 0.27, len(items)),
        ],
        ground_truth={**Counter(i.type for i in items), "amount_mismatch": 3},
    )


def _signed(item: Item) -> int:
    return (item.amount_a or 0) - (item.amount_b or 0)


def _amounts(items: list[Item]) -> dict[str, int]:
    """Σ (A − B) per finding type."""
    out: dict[str, int] = {}
    for item in items:
        out[item.type] = out.get(item.type, 0) + _signed(item)
    return out


def _pair(code: str, items: list[Item]) -> PairTotal:
    mine = [i for i in items if i.pair == code]
    amounts = _amounts(mine)
    total_b = 9_876_543_21 * (3 + int(code[1]))
    difference = sum(amounts.values()) + (1_00 if code == "R4" else 0)
    title, side_a, side_b = PAIRS[code]
    return PairTotal(
        code, title, side_a, side_b, total_b + difference, total_b, difference, len(mine),
        dict(Counter(i.type for i in mine)), amounts,
    )  # fmt: skip


def _region(index: int, code: str, items: list[Item]) -> RegionRow:
    mine = [i for i in items if i.region == code]
    indicator = (480_000_000 + 37_000_000 * index) * 100
    executed = indicator * (41 + 9 * index) // 100
    return RegionRow(
        code, REGIONS[code], dict(Counter(i.type for i in mine)), _amounts(mine), indicator, executed,
        1_000 + 137 * index,
    )  # fmt: skip


def empty_report() -> RunReport:
    """A clean run: one pair with no difference, no regions, no items, nothing timed."""
    pair = PairTotal(
        "R1", "payment vouchers ↔ bank receipts", "vouchers", "receipts", 5_00, 5_00, 0, 0, {}, {}
    )
    return RunReport(
        "recon-empty", "2024-12-03", "0 regions", "2024-12-04T02:00:00+08:00", [pair], [], [], [], 0, 0, []
    )


# ---------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("minor", "text"),
    [
        (123_456_789, "1,234,567.89"),
        (0, "0.00"),
        (5, "0.05"),
        (-5, "-0.05"),
        (100, "1.00"),
        (-1_000_000_00, "-1,000,000.00"),
        (2**63 - 1, "92,233,720,368,547,758.07"),
    ],
)
def test_money_is_formatted_from_integers(minor, text):
    assert money(minor) == text


@pytest.mark.parametrize(
    ("part", "whole", "text"),
    [
        (1, 3, "33.3%"),
        (2, 3, "66.7%"),
        (1, 2000, "0.1%"),
        (1, 2001, "0.0%"),
        (3, 2, "150.0%"),
        (0, 7, "0.0%"),
    ],
)
def test_percent_rounds_half_up_from_integers(part, whole, text):
    assert percent(part, whole) == text


def test_pair_totals_and_grand_totals_are_formatted_from_integers():
    report = realistic_report()
    big = dataclasses.replace(report.pairs[0], total_a=123_456_789, total_b=-5)
    page = render(dataclasses.replace(report, pairs=[big, *report.pairs[1:]]))
    assert '<td class="num">1,234,567.89</td><td class="num">-0.05</td>' in page
    total_a = 123_456_789 + sum(p.total_a for p in report.pairs[1:])
    assert f'<td>Total 合计</td><td class="num">{money(total_a)}</td>' in page


def test_the_headline_tells_clean_from_findings():
    report = realistic_report()
    gross = sum(abs(v) for p in report.pairs for v in p.amount_by_type.values())
    assert f"{len(FINDINGS)} findings, ¥{money(gross)} in differences" in render(report)
    assert 'data-status="clean"' in render(empty_report())


def test_pairs_whose_items_explain_the_difference_are_marked():
    page = render(realistic_report())
    assert re.findall(r'data-pair="(R\d)" data-check="ok"', page) == ["R1", "R5"]
    assert re.findall(r'data-pair="(R\d)" data-check="off"', page) == ["R4"]


def test_hostile_strings_are_escaped():
    hostile = '<script>alert("x")</script>'
    report = realistic_report()
    item = dataclasses.replace(
        report.items[0], key=hostile, unit=hostile, type=hostile, project='"><img src=x>'
    )
    report = dataclasses.replace(
        report,
        run_id=hostile,
        scope=hostile,
        pairs=[dataclasses.replace(report.pairs[0], title=hostile, by_type={hostile: 1}), *report.pairs[1:]],
        regions=[dataclasses.replace(report.regions[0], name=hostile), *report.regions[1:]],
        items=[item, *report.items[1:]],
        stages=[Stage(hostile, 1.0, 1)],
        ground_truth={hostile: 1},
    )
    page = render(report)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'id="item-&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in page


def test_nothing_is_fetched_from_outside_the_page():
    page = render(realistic_report())
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?#)""", page), "only in-page anchors may be linked"
    assert "url(" not in page and "@import" not in page and "<script" not in page and "<link" not in page


def test_render_is_deterministic_whatever_the_order_of_the_dicts():
    report = realistic_report()

    def backwards(value: dict[str, int]) -> dict[str, int]:
        return dict(reversed(value.items()))

    shuffled = dataclasses.replace(
        report,
        pairs=[
            dataclasses.replace(p, by_type=backwards(p.by_type), amount_by_type=backwards(p.amount_by_type))
            for p in report.pairs
        ],
        regions=[
            dataclasses.replace(r, findings_by_type=backwards(r.findings_by_type)) for r in report.regions
        ],
        ground_truth=backwards(report.ground_truth or {}),
    )
    assert render(report) == render(realistic_report()) == render(shuffled)


def test_a_key_seen_twice_gets_two_anchors():
    report = realistic_report()
    twice = [report.items[0], dataclasses.replace(report.items[0], pair="R5")]
    page = render(dataclasses.replace(report, items=twice))
    key = report.items[0].key
    assert page.count(f'id="item-{key}"') == 1 and page.count(f'id="item-{key}-2"') == 1


def test_the_empty_run_is_clean_with_empty_charts():
    page = render(empty_report())
    assert 'data-status="clean"' in page and "No open items" in page and "No stages recorded" in page
    assert page.count('<figure data-chart="') == 4
    assert page.count('class="bar"') == 0 and page.count('class="empty-text"') == 4
    assert 'id="truth"' not in page


def test_write_replaces_the_page_whole(tmp_path):
    path = write(empty_report(), tmp_path / "nightly" / "report.html")
    assert write(realistic_report(), path) == path
    assert path.read_text(encoding="utf-8") == render(realistic_report())
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


# ---------------------------------------------------------------------------- chromium


def find_chromium() -> str:
    """The browser's path; without one a skip, or a failure when CI / LEDGER_REQUIRE_CHROMIUM
    is set (a CI machine must run the browser test, not quietly skip it)."""
    found = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed (/usr/bin/chromium or on PATH); `make install` as root adds it"
    required = bool(os.environ.get("CI") or os.environ.get("LEDGER_REQUIRE_CHROMIUM"))
    if required:
        pytest.fail(reason)
    else:
        pytest.skip(reason)


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({}, pytest.skip.Exception),
        ({"CI": "true"}, pytest.fail.Exception),
        ({"LEDGER_REQUIRE_CHROMIUM": "1"}, pytest.fail.Exception),
    ],
)
def test_a_missing_chromium_skips_but_fails_under_ci(monkeypatch, env, outcome):
    for name in ("CI", "LEDGER_REQUIRE_CHROMIUM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(outcome, match="chromium is not installed"):
        find_chromium()


def run_chromium(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium with a fresh profile; its stdout (the DOM for --dump-dom)."""
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=CHROMIUM_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dataclasses.dataclass
class Row:
    """A table row of the rendered DOM: its attributes and the text of each cell."""

    attrs: dict[str, str | None]
    cells: list[str] = dataclasses.field(default_factory=list)


class Dom(HTMLParser):
    """The DOM as Chromium serialised it after rendering: the bars of each chart, the ids,
    the table rows with their cells, and all the text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.chart: str | None = None
        self.bars: dict[str, int] = {}
        self.ids: set[str] = set()
        self.rows: list[Row] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg" and attributes.get("data-chart"):
            self.chart = attributes["data-chart"]
            self.bars[self.chart] = 0
        elif tag == "rect" and attributes.get("class") == "bar" and self.chart:
            self.bars[self.chart] += 1
        elif tag == "tr":
            self.rows.append(Row(attributes))
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].cells.append("")
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.rows and self.rows[-1].cells:
            self.rows[-1].cells[-1] += data.strip()

    def row(self, attribute: str, value: str) -> Row:
        return next(r for r in self.rows if r.attrs.get(attribute) == value)


def test_chromium_renders_the_page(tmp_path):
    chromium = find_chromium()
    report = realistic_report()
    kinds = [*FINDING_TYPES, "cross_year"]
    page = write(report, tmp_path / "report.html")
    dom = Dom(run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", page.as_uri()))
    text = " ".join(dom.text)

    assert f"Reconciliation {report.run_id}" in text and f"{len(FINDINGS)} findings, ¥" in text
    for pair in report.pairs:
        row = dom.row("data-pair", pair.pair)
        assert row.cells[2:5] == [money(pair.total_a), money(pair.total_b), money(pair.difference)]
        assert row.cells[6:-1] == [str(pair.by_type.get(k, 0)) for k in kinds]
        assert row.attrs["data-check"] == ("off" if pair.pair == "R4" else "ok")
    assert dom.row("data-row", "total").cells[5] == str(len(FINDINGS))
    assert {f"item-{i.key}" for i in report.items} <= dom.ids and "渝中区" in text
    truth = [r for r in dom.rows if r.attrs.get("data-match")]
    assert [r.attrs["data-type"] for r in truth] == kinds
    assert [r.attrs["data-type"] for r in truth if r.attrs["data-match"] == "off"] == ["amount_mismatch"]
    assert dom.row("data-match", "off").cells[1:] == ["2", "3", "-1"]

    segments = sum(1 for r in report.regions for count in r.findings_by_type.values() if count)
    differing = sum(1 for k in kinds if sum(p.amount_by_type.get(k, 0) for p in report.pairs))
    assert dom.bars == {"regions": segments, "execution": len(REGIONS), "amounts": differing, "ageing": 8}

    artifacts = Path(os.environ.get("LEDGER_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    size = f"--window-size={SCREEN[0]},{SCREEN[1]}"
    run_chromium(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", size, page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == SCREEN
    assert len(data) > 100_000, "a page of tables and charts, not a blank screen"
