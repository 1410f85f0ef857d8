"""A small ledger for rollup tests, built from a seed, and what its rollups must say.

Books B0, B1, B2 (B2 not placed), organisation R → D1 → n0 (B0) and R → n1 (B1), two balance
groups; accounts on chart codes that sit on headings and below them, some in project
sub-ledgers; entries dated over five months, backdated among them, with pending entries
later posted or voided, reversals and a closed month. `World.posted` is every posted effect
(account, month, signed amount) as the ledger's own results say it happened.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import numpy as np

import ledger
from ledger.trees import parse_layout

CODES = ("1001", "1002", "100201", "100202", "2001", "4001", "5001", "500101", "50010101", "6001")
GROUPS = (("CNY", 2), ("IND", 0))
BOOKS = ("B0", "B1", "B2")
LAYOUT = "4-2-2"
DIMENSION_CODES = (0, 0, 2010101, 2010102, 2050101, 2080201)  # functional classification, 3-2-2
FIRST_DAY = dt.date(2025, 11, 1)
DAYS = 150  # to the end of March 2026


@dataclass
class World:
    accounts: list[tuple[str, str, str, str, str | None]] = field(
        default_factory=list
    )  # key, book, group, code, sub
    # account index, yyyymm, signed amount, dimension 1 code (0: none)
    posted: list[tuple[int, int, int, int]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def account_book(self, i: int) -> str:
        return self.accounts[i][1]


def month(day: dt.date) -> int:
    return day.year * 100 + day.month


def build(book: ledger.Ledger, seed: int, entries: int = 60) -> World:
    rng = random.Random(seed)
    world = World()
    book.create_groups([ledger.Group(key=key, scale=scale) for key, scale in GROUPS])
    book.create_books([ledger.Book(key=key) for key in BOOKS])
    book.create_nodes(
        [
            ledger.Node(key="R", name="region", layout=LAYOUT),
            ledger.Node(key="D1", parent="R", name="department"),
            ledger.Node(key="n0", parent="D1", book="B0"),
            ledger.Node(key="n1", parent="R", book="B1"),
        ]
    )
    for b in BOOKS:
        for code in CODES:
            for group, _ in GROUPS:
                if rng.random() < 0.7:
                    sub = rng.choice([None, "P1", "P2"])
                    world.accounts.append((f"{b}:{code}:{group}", b, group, code, sub))
    book.create_accounts(
        [
            ledger.Account(key=k, book=b, group=g, code=c, subledger=s, name=f"name {c}")
            for k, b, g, c, s in world.accounts
        ]
    )
    keys = [a[0] for a in world.accounts]
    world.index = dict(zip(keys, book.account_index(keys).tolist(), strict=True))
    lines_of: dict[int, list[tuple[int, int, int]]] = {}  # entry key -> (account, signed amount, dim1)
    pending: list[tuple[int, str]] = []
    posted_entries: list[int] = []
    closed: set[tuple[str, int]] = set()
    key = 0
    for _ in range(entries):
        key += 1
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        roll = rng.random()
        if roll < 0.1 and pending:  # resolve a pending entry
            pending_key, b = pending.pop(rng.randrange(len(pending)))
            post = rng.random() < 0.6
            flag = ledger.EntryFlag.post_pending if post else ledger.EntryFlag.void_pending
            entry = ledger.Entry(key=key, book=b, date=day, flags={flag}, pending=pending_key)
            if book.post([entry])[0].ok and post:
                for account, amount, code in lines_of[pending_key]:
                    world.posted.append((account, month(day), amount, code))
                lines_of[key] = lines_of[pending_key]
                posted_entries.append(key)
            continue
        if roll < 0.18 and posted_entries:  # reverse a posted entry
            original = rng.choice(posted_entries)
            result = book.reverse(original, key, day)
            if result.ok:
                lines_of[key] = [(a, -amount, code) for a, amount, code in lines_of[original]]
                world.posted += [(a, month(day), amount, code) for a, amount, code in lines_of[key]]
                posted_entries.append(key)
            continue
        if roll < 0.22:  # close a month of a book
            b = rng.choice(BOOKS)
            m = month(day)
            book.close_period(b, f"{m // 100:04d}-{m % 100:02d}")
            closed.add((b, m))
            continue
        b = rng.choice(BOOKS)
        group = rng.choice(GROUPS)[0]
        mine = [a for a in world.accounts if a[1] == b and a[2] == group]
        if len(mine) < 2:
            continue
        chosen = rng.sample(mine, min(len(mine), rng.randint(2, 4)))
        amounts = [rng.randint(1, 10**6) for _ in chosen[:-1]]
        signs = [rng.choice((1, -1)) for _ in amounts]
        signed = [a * s for a, s in zip(amounts, signs, strict=True)]
        last = -sum(signed)
        if last == 0:
            continue
        signed.append(last)
        scale = dict(GROUPS)[group]
        codes = [rng.choice(DIMENSION_CODES) for _ in chosen]
        lines = [
            ledger.Line(
                account=a[0],
                dims=(c,) if c else (),
                **{"debit" if v > 0 else "credit": ledger_amount(abs(v), scale)},  # type: ignore[arg-type]
            )
            for a, v, c in zip(chosen, signed, codes, strict=True)
        ]
        is_pending = rng.random() < 0.15
        flags = {ledger.EntryFlag.pending} if is_pending else set()
        result = book.post([ledger.Entry(key=key, book=b, date=day, lines=lines, flags=flags)])[0]
        if (b, month(day)) in closed:
            assert result.code == ledger.Code.period_closed
            continue
        assert result.ok, result
        lines_of[key] = [(world.index[a[0]], v, c) for a, v, c in zip(chosen, signed, codes, strict=True)]
        if is_pending:
            pending.append((key, b))
        else:
            world.posted += [(account, month(day), v, c) for account, v, c in lines_of[key]]
            posted_entries.append(key)
    return world


def ledger_amount(minor: int, scale: int) -> str:
    text = str(minor).rjust(scale + 1, "0")
    return f"{text[:-scale]}.{text[-scale:]}" if scale else text


def account_figures(world: World, first: int, last: int) -> dict[int, list[int]]:
    """Per account: debits and credits up to the end of `last`, debit and credit turnover."""
    out: dict[int, list[int]] = {}
    for account, m, amount, _ in world.posted:
        figures = out.setdefault(account, [0, 0, 0, 0])
        if m <= last:
            figures[0 if amount > 0 else 1] += abs(amount)
            if m >= first:
                figures[2 if amount > 0 else 3] += abs(amount)
    return out


def chart_ancestors(code: str, layout: str = LAYOUT) -> list[str]:
    """The chart nodes a code counts at: itself and its boundary prefixes."""
    bounds = np.cumsum(parse_layout(layout)).tolist()
    return [code] + [code[:b] for b in bounds if b < len(code)]


def sides(debits: int, credits: int) -> tuple[int, int]:
    net = debits - credits
    return max(net, 0), max(-net, 0)


def expected_rows(
    world: World, accounts: list[int], first: int, last: int
) -> dict[tuple[str, str], tuple[int, ...]]:
    """(code, group) -> the six figures, for the accounts taken together."""
    figures = account_figures(world, first, last)
    sums: dict[tuple[str, str], list[int]] = {}
    for i in accounts:
        _, _, group, code, _ = world.accounts[i]
        f = figures.get(i, [0, 0, 0, 0])
        for node in chart_ancestors(code):
            total = sums.setdefault((node, group), [0, 0, 0, 0])
            for j in range(4):
                total[j] += f[j]
    return {
        key: (*sides(t[0] - t[2], t[1] - t[3]), t[2], t[3], *sides(t[0], t[1])) for key, t in sums.items()
    }
