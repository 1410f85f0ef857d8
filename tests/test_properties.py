"""Properties of posting that hold after any batch, checked through the public API.

Each example builds fresh ledgers over a drawn set of accounts (ledger.testing.populate),
posts a drawn history batch and then the batch under test (ledger.testing.batches: good and
bad entries, pending entries and their posts and voids, chains, repeated keys, huge
amounts). The auditor only keeps track of what exists so the batches can refer to it; the
properties are checked on what the ledger itself reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ledger
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    BALANCE_FIELDS,
    ENTRY_LINKED,
)
from ledger.testing import (
    AccountLayout,
    Auditor,
    EntrySpec,
    LineSpec,
    Mix,
    account_layouts,
    account_model,
    batches,
    group_totals,
    populate,
    to_columns,
)

MIX = Mix(bad=0.25, huge=0.08)
NO_CHAINS = dataclasses.replace(MIX, linked=0.0)
# Two plain accounts added to every drawn world (B0, CNY).
PROBES: list[AccountLayout] = [(0, 0, 0), (0, 0, 0)]


@contextlib.contextmanager
def world(layouts: list[AccountLayout], copies: int = 1) -> Iterator[tuple[list[ledger.Ledger], Auditor]]:
    """`copies` fresh ledgers over the same accounts, and an auditor tracking the first."""
    books = [ledger.open() for _ in range(copies)]
    try:
        auditor = Auditor()
        populate(books[0], auditor, layouts + PROBES)
        for book in books[1:]:
            populate(book, Auditor(), layouts + PROBES)
        yield books, auditor
    finally:
        for book in books:
            book.close()


def post(book: ledger.Ledger, batch: list[EntrySpec]) -> list[Code]:
    return [Code(int(c)) for c in book.post_columns(**to_columns(batch).post_columns_kwargs())]


def rows(book: ledger.Ledger) -> np.ndarray:
    balances = book.balances()
    return np.stack([balances[field] for field in BALANCE_FIELDS], axis=1).reshape(-1, 4)


def unlinked(batch: list[EntrySpec]) -> list[EntrySpec]:
    return [dataclasses.replace(entry, flags=entry.flags & ~ENTRY_LINKED) for entry in batch]


def chains(batch: list[EntrySpec]) -> list[range]:
    """Positions of each unit of work: a single entry, or a linked chain with its last member."""
    units, start = [], 0
    for position, entry in enumerate(batch):
        if not entry.linked or position == len(batch) - 1:
            units.append(range(start, position + 1))
            start = position + 1
    return units


def history_and_batch(
    data: st.DataObject, auditor: Auditor, book: ledger.Ledger, mix: Mix
) -> list[EntrySpec]:
    """Post a drawn history batch, then draw the batch under test (not yet posted)."""
    history = data.draw(batches(auditor, size_max=8, mix=mix), label="history")
    auditor.post(history)
    post(book, history)
    return data.draw(batches(auditor, size_min=1, size_max=12, mix=mix), label="batch")


@given(account_layouts(), st.data())
def test_debits_equal_credits_per_group_after_any_batch(layouts, data):
    with world(layouts) as ([book], auditor):
        post(book, history_and_batch(data, auditor, book, MIX))
        groups = [group for _, group, _ in layouts + PROBES]
        for group, (dp, cp, dq, cq) in group_totals(rows(book), groups).items():
            assert dp == cp, f"group {group}: posted debits {dp}, credits {cp}"
            assert dq == cq, f"group {group}: pending debits {dq}, credits {cq}"


@given(account_layouts(), st.data())
def test_no_constraint_is_ever_violated(layouts, data):
    with world(layouts) as ([book], auditor):
        post(book, history_and_batch(data, auditor, book, MIX))
        for (dp, cp, dq, cq), (_, _, flags) in zip(rows(book).tolist(), layouts + PROBES, strict=True):
            if flags & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS:
                assert dp + dq <= cp
            if flags & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS:
                assert cp + cq <= dp
            assert min(dp, cp, dq, cq) >= 0


@given(account_layouts(), st.data())
def test_a_rejected_entry_changes_nothing_and_leaves_its_key_free(layouts, data):
    with world(layouts) as ([book], auditor):
        batch = unlinked(history_and_batch(data, auditor, book, NO_CHAINS))
        accepted, rejected = set(), set()
        for entry in batch:
            before = rows(book)
            [code] = post(book, [entry])
            if code == Code.ok:
                accepted.add(entry.key)
                continue
            assert np.array_equal(rows(book), before), f"{code.name} changed balances"
            if code not in (Code.exists, Code.exists_with_different_fields, Code.key_invalid):
                rejected.add(entry.key)
        # A known-good entry between two accounts no drawn entry could touch shows whether
        # a key is free (the batch may have filled the PROBES accounts to the limit).
        keys = ["fresh-0", "fresh-1"]
        assert all(r.ok for r in book.create_accounts([account_model(k, (0, 0, 0)) for k in keys]))
        first, second = book.account_index(keys).tolist()
        free = sorted(rejected - accepted - set(auditor.entries))
        probes = [EntrySpec(key, (LineSpec(first, 1), LineSpec(second, -1))) for key in free]
        assert post(book, probes) == [Code.ok] * len(free)


@given(account_layouts(), st.data())
def test_a_batch_equals_its_entries_posted_one_by_one(layouts, data):
    with world(layouts, copies=2) as ([whole, single], auditor):
        history = data.draw(batches(auditor, size_max=8, mix=NO_CHAINS), label="history")
        auditor.post(history)
        post(whole, unlinked(history))
        post(single, unlinked(history))
        batch = unlinked(data.draw(batches(auditor, size_min=1, size_max=12, mix=NO_CHAINS), label="batch"))
        codes = post(whole, batch)
        assert [post(single, [entry])[0] for entry in batch] == codes
        assert np.array_equal(rows(whole), rows(single))


@given(account_layouts(), st.data())
def test_replaying_accepted_entries_changes_nothing(layouts, data):
    """Each accepted entry reports exists; in a replayed chain that first `exists` fails the
    chain, so its other members report linked_event_failed (all-or-nothing)."""
    with world(layouts) as ([book], auditor):
        batch = history_and_batch(data, auditor, book, MIX)
        codes = post(book, batch)
        replay = [entry for entry, code in zip(batch, codes, strict=True) if code == Code.ok]
        before = rows(book)
        expected = []
        for unit in chains(replay):
            expected += [Code.exists] + [Code.linked_event_failed] * (len(unit) - 1)
        assert post(book, replay) == expected
        assert np.array_equal(rows(book), before)


@given(account_layouts(), st.data())
def test_a_failed_chain_leaves_no_trace(layouts, data):
    """Posting a batch equals posting it without the chains that failed."""
    with world(layouts, copies=2) as ([full, pruned], auditor):
        history = data.draw(batches(auditor, size_max=8, mix=MIX), label="history")
        auditor.post(history)
        assert post(full, history) == post(pruned, history)
        batch = data.draw(batches(auditor, size_min=1, size_max=12, mix=MIX), label="batch")
        codes = post(full, batch)
        kept = [
            p
            for unit in chains(batch)
            if all(codes[p] == Code.ok for p in unit) or len(unit) == 1
            for p in unit
        ]
        assert post(pruned, [batch[p] for p in kept]) == [codes[p] for p in kept]
        assert np.array_equal(rows(full), rows(pruned))


@given(account_layouts(), st.data())
def test_the_same_batches_give_the_same_results(layouts, data):
    """Determinism: two ledgers given the same batches agree on every code and balance."""
    with world(layouts, copies=2) as ([first, second], auditor):
        history = data.draw(batches(auditor, size_max=8, mix=MIX), label="history")
        auditor.post(history)
        batch = data.draw(batches(auditor, size_min=1, size_max=12, mix=MIX), label="batch")
        assert post(first, history) == post(second, history)
        assert post(first, batch) == post(second, batch)
        assert np.array_equal(rows(first), rows(second))
