"""Test helpers that ship with ledger: an auditor model, batch generators, a state machine.

Each piece can be used on its own. The strategies and `LedgerMachine` need hypothesis (the
`testing` extra: pip install ledger[testing]); without it the module still imports, they raise
ImportError when used, and the rest works:

* `Auditor` is a deliberately plain model of posting (DESIGN.md §3): accounts are small
  dataclasses, accepted and pending entries live in dicts, money is Python ints. It restates
  the rules one by one in the precedence order of `ledger.Code`, so it predicts the code of
  every entry and every balance afterwards. It shares no code with the kernel or its
  pure-Python twin: a linked chain is undone by restoring a snapshot rather than by
  reversing entries, and "the same entry" is decided by comparing fields, not fingerprints.
  When the auditor and the engine disagree, the test names the entry and one of them is wrong.
* `random_batch` builds a batch of `EntrySpec` from the auditor's state, so that it can
  replay real keys, resolve real pending entries, build linked chains (and leave the last one
  open) and break one or two rules on purpose. It draws through a `Chooser`: `NumpyChooser`
  for seeded loops, `DrawChooser` inside hypothesis, where the same code is a shrinking
  strategy (`batches`).
* `LedgerMachine` is a hypothesis RuleBasedStateMachine that drives a `ledger.Ledger`
  through its public API (both posting paths) and checks every code and every balance against
  the auditor after every step. A store is plugged in by overriding `open_ledger` (and
  `reopen_ledger` where the store can be closed and opened again).
* `to_columns` and `KernelState` call the kernel functions directly, for the layout and
  differential tests.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Protocol

import numpy as np

from ledger import limits
from ledger.chain import entry_extra_hash
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_DTYPE,
    ACCOUNT_NORMAL_CREDIT,
    BALANCE_FIELDS,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDING_TOMBSTONES,
    COUNTER_PENDINGS,
    COUNTERS_COUNT,
    ENTRY_FLAGS_ALL,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_SLOT_DTYPE,
    ENTRY_VOID_PENDING,
    PENDING_SLOT_DTYPE,
    aligned_zeros,
)
from ledger.schemas import ACCOUNT_FLAG_BITS, ENTRY_FLAG_BITS, Account, AccountFlag, Entry, Line
from ledger.service import Ledger
from ledger.service import open as open_in_memory

# hypothesis is the `testing` extra. Without it this module still imports and the in-memory
# helpers work; the strategies and LedgerMachine raise ImportError when used.
_NEEDS_HYPOTHESIS = (
    "ledger.testing's strategies and LedgerMachine need hypothesis: pip install ledger[testing]"
)


def _needs_hypothesis(*args: object, **kwargs: object) -> NoReturn:
    raise ImportError(_NEEDS_HYPOTHESIS, name="hypothesis")


class _AbsentStrategy:
    """A strategy without hypothesis: it can be built (the class bodies below build some),
    and any use of it raises the ImportError."""

    __call__ = _needs_hypothesis

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        _needs_hypothesis()

    def __repr__(self) -> str:
        return "<strategy that needs hypothesis>"


class _AbsentStrategies:
    """hypothesis.strategies without hypothesis: every function builds an _AbsentStrategy."""

    def __getattr__(self, name: str) -> Callable[..., _AbsentStrategy]:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: _AbsentStrategy()


class _ClassNeedsHypothesis:
    def __get__(self, instance: object, owner: type) -> NoReturn:
        _needs_hypothesis()


class _AbsentStateMachine:
    """RuleBasedStateMachine without hypothesis: neither a machine nor its TestCase can be made."""

    TestCase = _ClassNeedsHypothesis()
    __init__ = _needs_hypothesis


def _unchanged(*args: object, **kwargs: object) -> Callable[[Any], Any]:
    """A decorator of hypothesis.stateful without hypothesis: it leaves the method as it is."""
    return lambda method: method


if TYPE_CHECKING:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
else:
    try:
        from hypothesis import strategies as st
        from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
    except ImportError:
        st, RuleBasedStateMachine = _AbsentStrategies(), _AbsentStateMachine
        initialize = invariant = precondition = rule = _unchanged

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INT32_MAX = 2**31 - 1
EPOCH = dt.date(1970, 1, 1)
DATE_DEFAULT = (dt.date(2024, 1, 1) - EPOCH).days

Dims = tuple[int, int, int, int]
NO_DIMS: Dims = (0, 0, 0, 0)

# The world every helper builds: balance groups (key, scale) and books, by index.
GROUPS: tuple[tuple[str, int], ...] = (("CNY", 2), ("BUD", 0), ("USD", 4))
BOOKS: tuple[str, ...] = ("B0", "B1", "B2")

_RESOLVING = ENTRY_POST_PENDING | ENTRY_VOID_PENDING


# --- entries as the kernel sees them -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One line as the kernel sees it: account index, signed minor units (debit > 0), dims."""

    account: int
    amount: int
    dims: Dims = NO_DIMS


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One entry as the kernel sees it: one row of the batch columns.

    `book` is the entry's book index, -1 for "the book of its first line" (the bulk path's
    default) or -2 for a book that does not exist. `extra` stands for the fields the kernel
    does not see (kind, reference) as the bulk path's `extra` column carries them:
    `entry_extra_hash(kind, reference)`, 0 for none. `period_closed` is the kernel's
    per-entry closed-period column.
    """

    key: int
    lines: tuple[LineSpec, ...]
    flags: int = 0
    pending: int = 0
    book: int = -1
    date: int = DATE_DEFAULT
    extra: int = 0
    period_closed: bool = False

    @property
    def linked(self) -> bool:
        return bool(self.flags & ENTRY_LINKED)


# The batch arguments of post_batch, in its order (fingerprints takes offsets..extra).
_KERNEL_ARGS: tuple[str, ...] = ("keys", "offsets", "accounts", "amounts", "dims", "flags", "dates")
_KERNEL_ARGS += ("pending", "books", "extra", "period_closed")


@dataclass(frozen=True, slots=True)
class Columns:
    """A batch as the kernel's columns. An empty optional column means "all default"."""

    keys: np.ndarray
    offsets: np.ndarray
    accounts: np.ndarray
    amounts: np.ndarray
    dims: np.ndarray
    flags: np.ndarray
    dates: np.ndarray
    pending: np.ndarray
    books: np.ndarray
    extra: np.ndarray
    period_closed: np.ndarray

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """The batch arguments of post_batch, in its order."""
        return tuple(getattr(self, name) for name in _KERNEL_ARGS)

    def fingerprint_args(self) -> tuple[np.ndarray, ...]:
        """The batch arguments of fingerprints, in its order."""
        return tuple(getattr(self, name) for name in _KERNEL_ARGS[1:-1])

    def post_columns_kwargs(self) -> dict[str, np.ndarray | None]:
        """Keyword arguments of Ledger.post_columns (which has no closed-period column)."""
        if len(self.period_closed) and self.period_closed.any():
            raise ValueError("Ledger.post_columns cannot carry the period_closed column")
        return {
            "keys": self.keys,
            "offsets": self.offsets,
            "accounts": self.accounts,
            "amounts": self.amounts,
            "flags": self.flags if len(self.flags) else None,
            "dates": self.dates,
            "pending": self.pending if len(self.pending) else None,
            "books": self.books if len(self.books) else None,
            "dims": self.dims if len(self.dims) else None,
            "extra": self.extra if len(self.extra) else None,
        }


def to_columns(entries: Sequence[EntrySpec], *, omit_defaults: bool = True) -> Columns:
    """The kernel columns of `entries`.

    With `omit_defaults`, an optional column whose every value is its default is passed as
    an empty array (the kernel then reads the default without touching memory); without,
    every column is materialised. Both must give the same results.
    """
    n = len(entries)
    lines = [line for entry in entries for line in entry.lines]
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(entry.lines) for entry in entries], dtype=np.int64)

    def optional(values: list[Any], default: object, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        if omit_defaults and all(value == default for value in values):
            return np.zeros(shape, dtype)
        return np.asarray(values, dtype).reshape((len(values), *shape[1:]))

    return Columns(
        keys=np.asarray([entry.key for entry in entries], np.int64),
        offsets=offsets,
        accounts=np.asarray([line.account for line in lines], np.int32),
        amounts=np.asarray([line.amount for line in lines], np.int64),
        dims=optional([line.dims for line in lines], NO_DIMS, np.int32, (0, limits.dims_count)),
        flags=optional([entry.flags for entry in entries], 0, np.uint16, (0,)),
        dates=np.asarray([entry.date for entry in entries], np.int32),
        pending=optional([entry.pending for entry in entries], 0, np.int64, (0,)),
        books=optional([entry.book for entry in entries], -1, np.int32, (0,)),
        extra=optional([entry.extra for entry in entries], 0, np.uint64, (0,)),
        period_closed=optional([int(entry.period_closed) for entry in entries], 0, np.uint8, (0,)),
    )


# --- the auditor -------------------------------------------------------------------------------


@dataclass(slots=True)
class AuditAccount:
    """One account of the model: where it belongs, its flags and its four balances."""

    book: int
    group: int
    flags: int
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def closed(self) -> bool:
        return bool(self.flags & ACCOUNT_CLOSED)

    def balances(self) -> tuple[int, int, int, int]:
        """(debits_posted, credits_posted, debits_pending, credits_pending)."""
        return (self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending)


@dataclass(frozen=True, slots=True)
class AuditPending:
    """A pending entry: the lines it reserved, its book, and "open", "posted" or "voided"."""

    lines: tuple[tuple[int, int], ...]
    book: int
    state: str


class Auditor:
    """A plain model of the ledger that predicts every result code and balance.

    The rules, in the order they are checked (the first broken one is the entry's code):
    a linked entry that is last in its batch leaves its chain open; the key must be positive;
    a key already accepted gives `exists` when every field agrees and
    `exists_with_different_fields` otherwise; at most one of pending / post / void and no
    unknown flag bits, and a pending key exactly on the entries that resolve one; at least two
    lines (none is fine for a resolving entry) and at most `lines_max`; every amount non-zero
    and not INT64_MIN; every account known; no account closed (a void may touch closed ones);
    a known book; every line in the entry's book. A resolving entry then needs an open pending
    entry of its book, whose lines it repeats exactly if it gives any, whose accounts are not
    closed when it posts, and an open period. Any other entry needs an open period, each
    balance group netting to zero, every balance column and every side's posted + pending
    within int64, and after the entry, on each constrained account, debits posted + pending
    <= credits posted (or the mirror image). Accepted entries move balances; rejected ones
    change nothing and leave their key free. In a linked chain the first failure keeps its
    code and every other member gets `linked_event_failed`; the chain changes nothing.
    """

    def __init__(self, lines_max: int = limits.lines_max) -> None:
        self.lines_max = lines_max
        self.accounts: list[AuditAccount] = []
        self.entries: dict[int, EntrySpec] = {}
        self.pendings: dict[int, AuditPending] = {}

    # --- state -----------------------------------------------------------------------------------

    def add_account(
        self, book: int, group: int, flags: int = 0, balances: Sequence[int] = (0, 0, 0, 0)
    ) -> int:
        """Add an account (optionally with starting balances); returns its index."""
        dp, cp, dq, cq = (int(value) for value in balances)
        self.accounts.append(AuditAccount(book, group, flags, dp, cp, dq, cq))
        return len(self.accounts) - 1

    def balance_rows(self) -> np.ndarray:
        """All balances as an int64 array of shape (accounts, 4), columns as BALANCE_FIELDS."""
        return np.array([account.balances() for account in self.accounts], np.int64).reshape(-1, 4)

    def copy(self) -> Auditor:
        return copy.deepcopy(self)

    def _snapshot(self) -> tuple[list[AuditAccount], dict[int, EntrySpec], dict[int, AuditPending]]:
        return ([dataclasses.replace(a) for a in self.accounts], dict(self.entries), dict(self.pendings))

    def _restore(
        self, saved: tuple[list[AuditAccount], dict[int, EntrySpec], dict[int, AuditPending]]
    ) -> None:
        self.accounts, self.entries, self.pendings = saved

    # --- posting ---------------------------------------------------------------------------------

    def post(self, batch: Sequence[EntrySpec]) -> list[Code]:
        """Post a batch in order; returns one code per entry (and updates the model)."""
        codes: list[Code] = []
        chain_start: int | None = None
        chain_failed = False
        saved = None
        for position, entry in enumerate(batch):
            if chain_start is None and entry.linked:
                chain_start, chain_failed, saved = position, False, self._snapshot()
            if chain_failed:
                code = Code.linked_event_failed
            else:
                code = self._post_one(entry, last=position == len(batch) - 1)
                if code != Code.ok and chain_start is not None:
                    assert saved is not None
                    self._restore(saved)
                    codes[chain_start:position] = [Code.linked_event_failed] * (position - chain_start)
                    chain_failed = True
            codes.append(code)
            if chain_start is not None and not entry.linked:
                chain_start, chain_failed = None, False
        return codes

    def book_of(self, entry: EntrySpec) -> int:
        """The book an entry names, or (bulk default -1) the book of its first line's account,
        or for an entry without lines the book of the pending entry it names."""
        if entry.book == -1 and not entry.lines and entry.pending in self.pendings:
            return self.pendings[entry.pending].book
        if entry.book != -1 or not entry.lines:
            return entry.book
        first = entry.lines[0].account
        return self.accounts[first].book if 0 <= first < len(self.accounts) else -1

    def same_entry(self, stored: EntrySpec, entry: EntrySpec) -> bool:
        """Whether `entry` repeats `stored` field for field (the key aside)."""
        return self._fields(stored) == self._fields(entry)

    def _fields(self, entry: EntrySpec) -> tuple[object, ...]:
        return (entry.flags, entry.date, self.book_of(entry), entry.pending, entry.extra, entry.lines)

    def _post_one(self, entry: EntrySpec, last: bool) -> Code:
        code = self._check_header(entry, last)
        if code is None:
            code = self._check_lines(entry)
        if code is not None:
            return code
        if entry.flags & _RESOLVING:
            return self._resolve(entry)
        return self._transfer(entry)

    def _check_header(self, entry: EntrySpec, last: bool) -> Code | None:
        flags = entry.flags
        if entry.linked and last:
            return Code.linked_chain_open
        if entry.key <= 0:
            return Code.key_invalid
        if entry.key in self.entries:
            same = self.same_entry(self.entries[entry.key], entry)
            return Code.exists if same else Code.exists_with_different_fields
        kinds = [bit for bit in (ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING) if flags & bit]
        if flags & ~ENTRY_FLAGS_ALL or len(kinds) > 1:
            return Code.flags_invalid
        resolving = bool(flags & _RESOLVING)
        if (resolving and entry.pending <= 0) or (not resolving and entry.pending != 0):
            return Code.flags_invalid
        if len(entry.lines) < 2 and not (resolving and not entry.lines):
            return Code.no_lines
        if len(entry.lines) > self.lines_max:
            return Code.too_many_lines
        return None

    def _check_lines(self, entry: EntrySpec) -> Code | None:
        lines = entry.lines
        if any(line.amount in (0, INT64_MIN) for line in lines):
            return Code.amount_invalid
        if any(not 0 <= line.account < len(self.accounts) for line in lines):
            return Code.account_not_found
        voiding = bool(entry.flags & ENTRY_VOID_PENDING)
        if not voiding and any(self.accounts[line.account].closed for line in lines):
            return Code.account_closed
        if entry.book < -1:
            return Code.book_not_found
        book = self.book_of(entry)
        if any(self.accounts[line.account].book != book for line in lines):
            return Code.cross_book
        return None

    def _resolve(self, entry: EntrySpec) -> Code:
        pending = self.pendings.get(entry.pending)
        if pending is None:
            return Code.pending_not_found
        if pending.state != "open":
            return Code.pending_already_resolved
        book = self.book_of(entry)
        if book >= 0 and book != pending.book:
            return Code.cross_book
        if entry.lines and tuple((line.account, line.amount) for line in entry.lines) != pending.lines:
            return Code.pending_lines_differ
        post = bool(entry.flags & ENTRY_POST_PENDING)
        if post and any(self.accounts[account].closed for account, _ in pending.lines):
            return Code.account_closed
        if entry.period_closed:
            return Code.period_closed
        for account_index, amount in pending.lines:
            account = self.accounts[account_index]
            if amount > 0:
                account.debits_pending -= amount
                account.debits_posted += amount if post else 0
            else:
                account.credits_pending += amount
                account.credits_posted -= amount if post else 0
        self.pendings[entry.pending] = dataclasses.replace(pending, state="posted" if post else "voided")
        self.entries[entry.key] = entry
        return Code.ok

    def _transfer(self, entry: EntrySpec) -> Code:
        if entry.period_closed:
            return Code.period_closed
        group_sums: dict[int, int] = {}
        for line in entry.lines:
            group = self.accounts[line.account].group
            group_sums[group] = group_sums.get(group, 0) + line.amount
        if any(group_sums.values()):
            return Code.unbalanced
        pending = bool(entry.flags & ENTRY_PENDING)
        after = self._balances_after(entry.lines, pending)
        for dp, cp, dq, cq in after.values():
            if max(dp, cp, dq, cq, dp + dq, cp + cq) > INT64_MAX:
                return Code.overflow
        for index, (dp, cp, dq, _) in after.items():
            if self.accounts[index].flags & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dq > cp:
                return Code.exceeds_credits
        for index, (dp, cp, _, cq) in after.items():
            if self.accounts[index].flags & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cq > dp:
                return Code.exceeds_debits
        for index, (dp, cp, dq, cq) in after.items():
            account = self.accounts[index]
            account.debits_posted, account.credits_posted = dp, cp
            account.debits_pending, account.credits_pending = dq, cq
        if pending:
            book = self.book_of(entry)
            reserved = tuple((line.account, line.amount) for line in entry.lines)
            self.pendings[entry.key] = AuditPending(reserved, book, "open")
        self.entries[entry.key] = entry
        return Code.ok

    def _balances_after(self, lines: Sequence[LineSpec], pending: bool) -> dict[int, list[int]]:
        """Each touched account's four balances after the lines (nothing is changed)."""
        after: dict[int, list[int]] = {}
        column = 2 if pending else 0
        for line in lines:
            row = after.setdefault(line.account, list(self.accounts[line.account].balances()))
            if line.amount > 0:
                row[column] += line.amount
            else:
                row[column + 1] -= line.amount
        return after


# --- the record path ---------------------------------------------------------------------------


def minor_or_invalid(value: Decimal, scale: int) -> int:
    """The exact minor units of a positive amount at `scale` places, or 0 when it has none.

    0 is what the kernel reads as amount_invalid: more places than the scale, or a value
    whose minor units are not a valid int64 magnitude.
    """
    if not value.is_finite() or value.adjusted() > 40 or value.adjusted() < -40:
        return 0
    minor = Fraction(value) * 10**scale
    if minor.denominator != 1 or not 0 < minor.numerator <= INT64_MAX:
        return 0
    return minor.numerator


def spec_from_record(
    entry: Entry,
    account_index: Mapping[str, int],
    book_index: Mapping[str, int],
    account_scale: Sequence[int],
) -> EntrySpec:
    """What the kernel sees of a record-path entry, derived from the rules of the edge.

    Unknown accounts and books get index -1 and -2. An amount is judged at the scale of its
    account's balance group; a line on an unknown account has no scale, so its amount is not
    judged (the entry is account_not_found). The fields the kernel does not see (kind,
    reference) become `extra` as the bulk path would carry them.
    """
    lines = []
    for line in entry.lines:
        account = account_index.get(line.account, -1)
        value = line.debit if line.debit is not None else line.credit
        assert value is not None
        magnitude = 1 if account < 0 else minor_or_invalid(value, account_scale[account])
        amount = magnitude if line.debit is not None else -magnitude
        dims = tuple(line.dims) + (0,) * (limits.dims_count - len(line.dims))
        lines.append(LineSpec(account, amount, (dims[0], dims[1], dims[2], dims[3])))
    flags = 0
    for flag in entry.flags:
        flags |= ENTRY_FLAG_BITS[flag]
    return EntrySpec(
        key=entry.key,
        lines=tuple(lines),
        flags=flags,
        pending=entry.pending or 0,
        book=book_index.get(entry.book, -2),
        date=(entry.date - EPOCH).days,
        extra=entry_extra_hash(entry.kind, entry.reference),
    )


def record_from_spec(
    spec: EntrySpec,
    account_keys: Sequence[str],
    account_books: Sequence[int],
    account_scale: Sequence[int],
    *,
    texts: Mapping[int, tuple[str | None, str | None]] | None = None,
    padded: bool = False,
) -> Entry:
    """A record-path entry that means `spec`, as far as a record can say it.

    An invalid amount (0, INT64_MIN) becomes one with a place more than the scale allows;
    flag bits without an EntryFlag are dropped; an unknown book becomes a key no book has;
    -1 (first line's book) becomes that book's key. `texts` maps an `extra` hash back to its
    (kind, reference); an `extra` it does not know is dropped. With `padded`, valid amounts
    carry two extra trailing zeros (1.5 at scale 2 as "1.5000"), which must not change anything.
    """
    lines = []
    for line in spec.lines:
        known = 0 <= line.account < len(account_keys)
        account = account_keys[line.account] if known else "no-such-account"
        scale = account_scale[line.account] if known else 2
        if line.amount in (0, INT64_MIN):
            value, debit = Decimal(1).scaleb(-(scale + 1)), True
        else:
            value, debit = Decimal(abs(line.amount)).scaleb(-scale), line.amount > 0
            if padded:
                value = value.quantize(Decimal(1).scaleb(-(scale + 2)))
        dims = line.dims if line.dims != NO_DIMS else ()
        lines.append(
            Line(account=account, debit=value, dims=dims)
            if debit
            else Line(account=account, credit=value, dims=dims)
        )
    if spec.book >= 0:
        book = BOOKS[spec.book] if spec.book < len(BOOKS) else "no-such-book"
    elif spec.book < -1:
        book = "no-such-book"
    else:
        first = spec.lines[0].account if spec.lines else -1
        book = BOOKS[account_books[first]] if 0 <= first < len(account_keys) else BOOKS[0]
    kind, reference = (texts or {}).get(spec.extra, (None, None))
    return Entry(
        key=spec.key,
        book=book,
        date=EPOCH + dt.timedelta(days=spec.date),
        lines=tuple(lines),
        flags=frozenset(flag for flag, bit in ENTRY_FLAG_BITS.items() if spec.flags & bit),
        pending=spec.pending or None,
        kind=kind,
        reference=reference,
    )


# --- random batches ------------------------------------------------------------------------------


class Chooser(Protocol):
    """Where a generator gets its randomness from."""

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]."""
        ...

    def chance(self, probability: float) -> bool:
        """True with roughly `probability`."""
        ...


class NumpyChooser:
    """Randomness from a seeded numpy Generator (reproducible loops, no shrinking)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high, endpoint=True))

    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)


class DrawChooser:
    """Randomness from hypothesis's `draw`: every choice shrinks towards the simple case.

    Probabilities have a resolution of 1%.
    """

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return int(self.draw(st.integers(low, high)))

    def chance(self, probability: float) -> bool:
        if probability <= 0:
            return False
        if probability >= 1:
            return True
        # A percentile: hypothesis draws 0..99 about uniformly (wider ranges lean towards
        # small values, which would make rare events rarer still), and shrinks it to 0: False.
        return bool(self.draw(st.integers(0, 99)) >= round(100 * (1 - probability)))


@dataclass(frozen=True, slots=True)
class Mix:
    """How often `random_batch` makes each kind of entry (probabilities per entry)."""

    bad: float = 0.2  # break a rule on purpose (a quarter of those break two)
    pending: float = 0.15
    resolve: float = 0.15
    linked: float = 0.15
    duplicate: float = 0.08
    huge: float = 0.05  # an amount near INT64_MAX
    dims: float = 0.2
    given_book: float = 0.5  # the entry names its book (else the first line's book applies)
    extra: float = 0.1
    period_closed: float = 0.0  # only a direct kernel call can carry this column
    multi_group: float = 0.3
    lines_per_group_max: int = 3


def random_batch(chooser: Chooser, auditor: Auditor, size: int, mix: Mix | None = None) -> list[EntrySpec]:
    """A batch of `size` entries over the auditor's accounts, good and bad mixed.

    Reads the auditor (accounts, accepted keys, pending entries) but does not change it.
    """
    generator = _Generator(chooser, auditor, mix or Mix())
    return [generator.entry() for _ in range(size)]


def batches(
    auditor: Auditor, *, size_min: int = 0, size_max: int = 8, mix: Mix | None = None
) -> st.SearchStrategy[list[EntrySpec]]:
    """A hypothesis strategy of `random_batch` batches (the auditor is read at draw time)."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> list[EntrySpec]:
        chooser = DrawChooser(draw)
        return random_batch(chooser, auditor, chooser.integer(size_min, size_max), mix)

    return build()


class _Generator:
    """One batch's worth of choices; remembers its own entries for duplicates and resolves."""

    def __init__(self, chooser: Chooser, auditor: Auditor, mix: Mix) -> None:
        self.ch = chooser
        self.auditor = auditor
        self.mix = mix
        self.batch: list[EntrySpec] = []
        # Sequential keys continue after the largest small key (random large keys also occur).
        self.next_key = max((key for key in auditor.entries if key < 2**40), default=0) + 1

    def pick(self, items: Sequence[Any]) -> Any:
        return items[self.ch.integer(0, len(items) - 1)]

    def entry(self) -> EntrySpec:
        ch, mix = self.ch, self.mix
        if ch.chance(mix.duplicate) and (self.auditor.entries or any(s.key > 0 for s in self.batch)):
            spec = self.duplicate()
        elif ch.chance(mix.resolve):
            spec = self.resolve()
        else:
            spec = self.transfer(pending=ch.chance(mix.pending))
        if ch.chance(mix.bad):
            spec = self.break_rule(spec)
            if ch.chance(0.25):
                spec = self.break_rule(spec)
        if ch.chance(mix.linked):
            spec = dataclasses.replace(spec, flags=spec.flags | ENTRY_LINKED)
        if ch.chance(mix.period_closed):
            spec = dataclasses.replace(spec, period_closed=True)
        self.batch.append(spec)
        return spec

    def fresh_key(self) -> int:
        if self.ch.chance(0.05):
            return self.ch.integer(1, INT64_MAX)
        self.next_key += 1
        return self.next_key - 1

    def amount(self) -> int:
        ch = self.ch
        if ch.chance(self.mix.huge):
            magnitude = INT64_MAX - ch.integer(0, 1000)
        elif ch.chance(0.1):
            magnitude = ch.integer(1, 10**15)
        elif ch.chance(0.3):
            magnitude = ch.integer(1, 100)  # small: lands next to constraint limits
        else:
            magnitude = ch.integer(1, 10**6)
        return -magnitude if ch.chance(0.5) else magnitude

    def dims(self) -> Dims:
        ch = self.ch
        if not ch.chance(self.mix.dims):
            return NO_DIMS
        low, high = (-(2**31), INT32_MAX) if ch.chance(0.2) else (0, 999)
        return (ch.integer(low, high), ch.integer(low, high), ch.integer(low, high), ch.integer(low, high))

    def extra(self) -> int:
        return self.ch.integer(1, INT64_MAX) if self.ch.chance(self.mix.extra) else 0

    def transfer(self, pending: bool) -> EntrySpec:
        """A balanced entry in one book over one or two balance groups."""
        ch, accounts = self.ch, self.auditor.accounts
        key = self.fresh_key()
        flags = ENTRY_PENDING if pending else 0
        if not accounts:
            return EntrySpec(key, (LineSpec(0, 1), LineSpec(1, -1)), flags=flags)
        book = accounts[ch.integer(0, len(accounts) - 1)].book
        pool = [i for i, a in enumerate(accounts) if a.book == book and (not a.closed or ch.chance(0.1))]
        pool = pool or [i for i, a in enumerate(accounts) if a.book == book]
        groups = sorted({accounts[i].group for i in pool})
        chosen = [self.pick(groups)]
        if len(groups) > 1 and ch.chance(self.mix.multi_group):
            chosen.append(self.pick([g for g in groups if g != chosen[0]]))
        lines: list[LineSpec] = []
        for group in chosen:
            members = [i for i in pool if accounts[i].group == group]
            total = 0
            for _ in range(ch.integer(1, self.mix.lines_per_group_max)):
                amount = self.amount()
                total += amount
                lines.append(LineSpec(self.pick(members), amount, self.dims()))
            while total != 0:
                chunk = max(-INT64_MAX, min(INT64_MAX, -total))
                total += chunk
                lines.append(LineSpec(self.pick(members), chunk, self.dims()))
        given = book if ch.chance(self.mix.given_book) else -1
        return EntrySpec(
            key,
            tuple(lines),
            flags=flags,
            book=given,
            date=DATE_DEFAULT + ch.integer(0, 3),
            extra=self.extra(),
        )

    def resolve(self) -> EntrySpec:
        """A post or void of a pending entry: open, resolved, of this batch, or unknown."""
        ch = self.ch
        known: list[tuple[int, tuple[tuple[int, int], ...], int]] = [
            (key, p.lines, p.book) for key, p in self.auditor.pendings.items()
        ]
        known += [
            (s.key, tuple((line.account, line.amount) for line in s.lines), self.auditor.book_of(s))
            for s in self.batch
            if s.flags & ENTRY_PENDING and s.key > 0
        ]
        flags = ENTRY_POST_PENDING if ch.chance(0.5) else ENTRY_VOID_PENDING
        if not known or ch.chance(0.1):
            return EntrySpec(self.fresh_key(), (), flags=flags, pending=ch.integer(1, INT64_MAX))
        pending_key, reserved, book = self.pick(known)
        lines: tuple[LineSpec, ...] = ()
        shape = ch.integer(0, 9)
        if shape >= 5:
            lines = tuple(LineSpec(account, amount) for account, amount in reserved)
        if shape >= 8 and lines:
            changed = ch.integer(0, len(lines) - 1)
            line = lines[changed]
            altered = LineSpec(line.account, line.amount + (1 if line.amount < INT64_MAX else -1))
            lines = (*lines[:changed], altered, *lines[changed + 1 :]) if shape == 8 else lines[:-1]
        given = book if ch.chance(self.mix.given_book) else -1
        return EntrySpec(self.fresh_key(), lines, flags=flags, pending=pending_key, book=given)

    def duplicate(self) -> EntrySpec:
        """An entry whose key is taken: the same entry again (its book named or not), or one
        field changed."""
        ch = self.ch
        candidates = [s for s in self.batch if s.key > 0]
        if self.auditor.entries and (not candidates or ch.chance(0.7)):
            candidates = list(self.auditor.entries.values())
        spec: EntrySpec = self.pick(candidates)
        change = ch.integer(0, 6)
        if change == 6:  # the book named or left to be resolved: the same entry either way
            return dataclasses.replace(spec, book=-1 if spec.book != -1 else self.auditor.book_of(spec))
        if change == 3:
            return dataclasses.replace(spec, date=spec.date + 1)
        if change == 4 and spec.lines:
            first = spec.lines[0]
            return dataclasses.replace(
                spec, lines=(dataclasses.replace(first, dims=(1, 2, 3, 4)), *spec.lines[1:])
            )
        if change == 5:
            return dataclasses.replace(spec, extra=spec.extra ^ 7)
        return spec

    def _group(self, account: int) -> int:
        accounts = self.auditor.accounts
        return accounts[account].group if 0 <= account < len(accounts) else -1

    def break_rule(self, spec: EntrySpec) -> EntrySpec:
        """`spec` with one rule broken on purpose (the auditor predicts what wins)."""
        ch, replace = self.ch, dataclasses.replace
        accounts = self.auditor.accounts
        lines = list(spec.lines)
        which = ch.integer(0, 12)
        if which == 0:
            return replace(spec, key=self.pick([0, -1, INT64_MIN, -ch.integer(1, INT64_MAX)]))
        if which == 1:
            bad = self.pick(
                [16, 0x8000, ENTRY_PENDING | ENTRY_POST_PENDING, ENTRY_POST_PENDING | ENTRY_VOID_PENDING]
            )
            return replace(spec, flags=spec.flags | bad)
        if which == 2:
            pending = 0 if spec.flags & _RESOLVING else ch.integer(1, 50)
            return replace(spec, pending=self.pick([pending, -ch.integer(1, 50)]))
        if which == 3:
            return replace(spec, lines=spec.lines[: ch.integer(0, 1)])
        if which == 4 and self.auditor.lines_max <= 64 and spec.lines:
            return replace(
                spec, lines=spec.lines + spec.lines[:1] * (self.auditor.lines_max + 1 - len(lines))
            )
        if not lines:  # a post or void without lines: its book can be unknown or another one
            return replace(spec, book=self.pick([-2, 0, 1, 2]))
        at = ch.integer(0, len(lines) - 1)
        line = lines[at]
        if which == 5:
            lines[at] = replace(line, amount=self.pick([0, INT64_MIN]))
        elif which == 6:
            missing = self.pick([-1, len(accounts), len(accounts) + 7, INT32_MAX, -(2**31)])
            lines[at] = replace(line, account=missing)
        elif which == 7 and any(a.closed for a in accounts):
            lines[at] = replace(line, account=self.pick([i for i, a in enumerate(accounts) if a.closed]))
        elif which == 8:
            return replace(spec, book=self.pick([-2, -3, -(2**31)]))
        elif which == 9:  # a line in another book, or another book named
            own = self.auditor.book_of(spec)
            other = [i for i, a in enumerate(accounts) if a.book != own and not a.closed]
            if other and ch.chance(0.7):
                lines[at] = replace(line, account=self.pick(other))
            else:
                return replace(spec, book=self.pick([book for book in (0, 1, 2, 99) if book != own]))
        elif which == 10 and line.amount not in (-1, INT64_MAX):
            lines[at] = replace(line, amount=line.amount + 1)
            group = self._group(line.account)
            others = [i for i, other in enumerate(lines) if self._group(other.account) != group]
            if others and ch.chance(0.5):  # nets to zero overall, but not in each group
                partner = lines[others[0]]
                if partner.amount != 1 and partner.amount - 1 > INT64_MIN:  # still an int64, not INT64_MIN
                    lines[others[0]] = replace(partner, amount=partner.amount - 1)
        elif which == 11:
            return replace(spec, period_closed=self.mix.period_closed > 0)
        else:
            big = INT64_MAX - ch.integer(0, 5)
            lines[at] = replace(line, amount=big if line.amount > 0 else -big)
            lines.append(replace(line, amount=-(big if line.amount > 0 else -big) + line.amount))
        return replace(spec, lines=tuple(lines))


# --- kernel state for direct calls ----------------------------------------------------------------


class KernelState:
    """The arrays the posting kernel works on, for calling it (or its twin) directly.

    The entry and pending tables start small and grow through the kernel module's own
    rehash functions, keeping the kernel's precondition (at most half full after a batch),
    so a test sees probing, wrap-around, tombstones and rehashing.
    """

    def __init__(
        self,
        accounts: Sequence[tuple[int, int, int]],
        *,
        groups_count: int,
        lines_max: int = limits.lines_max,
        balances: Sequence[Sequence[int]] | None = None,
        capacity: int = 16,
    ) -> None:
        self.rows = aligned_zeros(len(accounts), ACCOUNT_DTYPE)
        for position, field in enumerate(("book", "group", "flags")):
            self.rows[field] = [account[position] for account in accounts]
        for position, field in enumerate(BALANCE_FIELDS):
            self.rows[field] = [values[position] for values in balances or [(0, 0, 0, 0)] * len(accounts)]
        self.entry_table = np.zeros(capacity, ENTRY_SLOT_DTYPE)
        self.pending_table = np.zeros(capacity, PENDING_SLOT_DTYPE)
        self.pending_accounts = np.zeros(capacity, np.int32)
        self.pending_amounts = np.zeros(capacity, np.int64)
        self.counters = np.zeros(COUNTERS_COUNT, np.int64)
        self.groups_count = groups_count
        self.lines_max = lines_max

    def copy(self) -> KernelState:
        twin = copy.copy(self)
        twin.rows = aligned_zeros(len(self.rows), ACCOUNT_DTYPE)
        twin.rows[:] = self.rows
        for name, array in self.arrays().items():
            if name != "rows":
                setattr(twin, name, array.copy())
        return twin

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the state, by name (what two twins must agree on byte for byte)."""
        names = ("rows", "entry_table", "pending_table", "pending_accounts", "pending_amounts", "counters")
        return {name: getattr(self, name) for name in names}

    def balance_rows(self) -> np.ndarray:
        return np.stack([self.rows[field] for field in BALANCE_FIELDS], axis=1).reshape(-1, 4)

    def post(self, kernel: ModuleType, columns: Columns) -> np.ndarray:
        """Run `kernel.post_batch` (native or reference) over the columns; returns the codes."""
        self._make_room(kernel, columns)
        codes = np.full(len(columns.keys), 255, np.uint8)
        kernel.post_batch(
            *columns.kernel_args(),
            self.rows,
            self.entry_table,
            self.pending_table,
            self.pending_accounts,
            self.pending_amounts,
            self.counters,
            self.groups_count,
            self.lines_max,
            codes,
        )
        return codes

    def _make_room(self, kernel: ModuleType, columns: Columns) -> None:
        n = len(columns.keys)
        counters = self.counters
        live = int(counters[COUNTER_ENTRIES])
        if 2 * (live + int(counters[COUNTER_ENTRY_TOMBSTONES]) + n) > len(self.entry_table):
            self.entry_table = _rehashed(self.entry_table, live + n, kernel.rehash_entries)
            counters[COUNTER_ENTRY_TOMBSTONES] = 0
        flags = columns.flags if len(columns.flags) else np.zeros(n, np.uint16)
        reserving = (flags & ENTRY_PENDING) != 0
        live = int(counters[COUNTER_PENDINGS])
        if 2 * (live + int(counters[COUNTER_PENDING_TOMBSTONES]) + int(reserving.sum())) > len(
            self.pending_table
        ):
            self.pending_table = _rehashed(
                self.pending_table, live + int(reserving.sum()), kernel.rehash_pending
            )
            counters[COUNTER_PENDING_TOMBSTONES] = 0
        needed = int(counters[COUNTER_PENDING_LINES]) + int(np.diff(columns.offsets)[reserving].sum())
        if needed > len(self.pending_accounts):
            size = max(needed, 2 * len(self.pending_accounts))
            self.pending_accounts = np.concatenate(
                [self.pending_accounts, np.zeros(size - len(self.pending_accounts), np.int32)]
            )
            self.pending_amounts = np.concatenate(
                [self.pending_amounts, np.zeros(size - len(self.pending_amounts), np.int64)]
            )


def _rehashed(table: np.ndarray, needed: int, rehash: Callable[[np.ndarray, np.ndarray], None]) -> np.ndarray:
    capacity = 16
    while capacity < 2 * needed:
        capacity *= 2
    grown = np.zeros(capacity, table.dtype)
    rehash(table, grown)
    return grown


# --- building ledgers ------------------------------------------------------------------------------

AccountLayout = tuple[int, int, int]  # (book index, group index, account flag bits)


def account_layouts(*, min_size: int = 2, max_size: int = 10) -> st.SearchStrategy[list[AccountLayout]]:
    """Lists of (book, group, flags) over BOOKS and GROUPS: a ledger's accounts to create."""
    plain, closed = 0, ACCOUNT_CLOSED
    constrained = (ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS, ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS)
    flags = st.sampled_from([plain, plain, plain, closed, *constrained])
    return st.lists(
        st.tuples(st.integers(0, len(BOOKS) - 1), st.integers(0, len(GROUPS) - 1), flags),
        min_size=min_size,
        max_size=max_size,
    )


def account_model(key: str, layout: AccountLayout, code: str = "1001") -> Account:
    """The Account model of a layout row."""
    book, group, bits = layout
    flags = frozenset(flag for flag, bit in ACCOUNT_FLAG_BITS.items() if bits & bit)
    return Account(
        key=key,
        book=BOOKS[book],
        group=GROUPS[group][0],
        code=code,
        normal="credit" if bits & ACCOUNT_NORMAL_CREDIT else "debit",
        flags=flags,
    )


def account_bits(account: Account) -> int:
    """The kernel's flag bits of an Account model."""
    bits = ACCOUNT_NORMAL_CREDIT if account.normal == "credit" else 0
    for flag in account.flags:
        bits |= ACCOUNT_FLAG_BITS[flag]
    return bits


def populate(ledger: Ledger, auditor: Auditor, layouts: Sequence[AccountLayout]) -> list[str]:
    """Create GROUPS, BOOKS and one account per layout (keys A0, A1, …) in both.

    Returns the account keys, whose position is the account's index in both.
    """
    assert all(r.ok for r in ledger.create_groups([{"key": key, "scale": scale} for key, scale in GROUPS]))
    assert all(r.ok for r in ledger.create_books([{"key": key} for key in BOOKS]))
    start = len(auditor.accounts)
    keys = [f"A{start + i}" for i in range(len(layouts))]
    results = ledger.create_accounts(
        [account_model(k, layout) for k, layout in zip(keys, layouts, strict=True)]
    )
    assert all(r.ok for r in results), results
    for layout in layouts:
        auditor.add_account(*layout)
    assert ledger.account_index(keys).tolist() == list(range(start, start + len(keys)))
    return keys


def assert_matches(ledger: Ledger, auditor: Auditor) -> None:
    """The ledger's balances equal the auditor's, account by account (AssertionError if not)."""
    balances = ledger.balances()
    actual = np.stack([balances[field] for field in BALANCE_FIELDS], axis=1).reshape(-1, 4)
    expected = auditor.balance_rows()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    wrong = np.flatnonzero((actual != expected).any(axis=1))
    assert not len(wrong), f"account {wrong[0]}: ledger {actual[wrong[0]]}, auditor {expected[wrong[0]]}"


def group_totals(rows: np.ndarray, groups: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
    """Σ of each balance column per balance group (Python ints: no overflow)."""
    totals: dict[int, list[int]] = {}
    for row, group in zip(rows.tolist(), groups, strict=True):
        sums = totals.setdefault(group, [0, 0, 0, 0])
        for column, value in enumerate(row):
            sums[column] += value
    return {group: (s[0], s[1], s[2], s[3]) for group, s in totals.items()}


def assert_invariants(rows: np.ndarray, accounts: Sequence[AuditAccount]) -> None:
    """Double entry per group (posted and pending apart) and every constraint, on `rows`."""
    for group, (dp, cp, dq, cq) in group_totals(rows, [a.group for a in accounts]).items():
        assert dp == cp, f"group {group}: posted debits {dp} != credits {cp}"
        assert dq == cq, f"group {group}: pending debits {dq} != credits {cq}"
    for index, ((dp, cp, dq, cq), account) in enumerate(zip(rows.tolist(), accounts, strict=True)):
        assert min(dp, cp, dq, cq) >= 0 and dp + dq <= INT64_MAX and cp + cq <= INT64_MAX, index
        if account.flags & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS:
            assert dp + dq <= cp, f"account {index}: debits {dp} + {dq} exceed credits {cp}"
        if account.flags & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS:
            assert cp + cq <= dp, f"account {index}: credits {cp} + {cq} exceed debits {dp}"


# --- the state machine ------------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    """Random work against a Ledger, every code and balance checked against the Auditor.

    Each step creates accounts (good ones, duplicates, unknown books and groups), posts a
    random batch through the bulk path or the record path, replays the last batch, or
    resolves pending entries; after every step the balances must equal the auditor's and
    keep double entry and every constraint. `steps_run` counts the steps of this class in
    this process, so a test can show how much work it did.

    A store is plugged in by a subclass: `open_ledger` makes the ledger under test, and
    `reopen_ledger` (with `reopenable = True`) closes it and opens the same one again, after
    which the state must be unchanged.
    """

    batch_size_max: ClassVar[int] = 8
    account_keys_max: ClassVar[int] = 24
    reopenable: ClassVar[bool] = False
    mix: ClassVar[Mix] = Mix()
    steps_run: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.ledger = self.open_ledger()
        self.auditor = Auditor()
        self.account_keys: list[str] = []
        self.accounts: dict[str, Account] = {}
        self.last_batch: list[EntrySpec] = []
        self.texts: dict[int, tuple[str | None, str | None]] = {}

    def open_ledger(self) -> Ledger:
        """The ledger under test (an in-memory one here)."""
        return open_in_memory()

    def reopen_ledger(self) -> Ledger:
        """Close the ledger and open the same one again (only when `reopenable`)."""
        raise NotImplementedError("an in-memory ledger cannot be reopened")

    def teardown(self) -> None:
        self.ledger.close()

    def _count_step(self) -> None:
        type(self).steps_run += 1

    # --- rules ------------------------------------------------------------------------------------

    @initialize(layouts=account_layouts(min_size=2, max_size=8))
    def create_world(self, layouts: list[AccountLayout]) -> None:
        self.account_keys = populate(self.ledger, self.auditor, layouts)
        for key, layout in zip(self.account_keys, layouts, strict=True):
            self.accounts[key] = account_model(key, layout)
        self._count_step()

    @rule(data=st.data())
    def create_accounts(self, data: st.DataObject) -> None:
        """Accounts that may exist already, or name an unknown group or book."""
        books = [*BOOKS, "no-such-book"]
        groups = [*(key for key, _ in GROUPS), "no-such-group"]
        drafts = data.draw(
            st.lists(
                st.builds(
                    lambda k, b, g, f, c: Account(key=f"A{k}", book=b, group=g, flags=f, code=c),
                    st.integers(0, self.account_keys_max - 1),
                    st.sampled_from(books),
                    st.sampled_from(groups),
                    st.sampled_from(
                        [frozenset(), frozenset({AccountFlag.closed})]
                        + [frozenset({flag}) for flag in ACCOUNT_FLAG_BITS if flag != AccountFlag.closed]
                    ),
                    st.sampled_from(["1001", "1002"]),
                ),
                max_size=4,
            )
        )
        expected = []
        for account in drafts:
            known = self.accounts.get(account.key)
            if known is not None:
                expected.append(Code.exists if known == account else Code.exists_with_different_fields)
            elif account.book not in BOOKS:
                expected.append(Code.book_not_found)
            elif account.group not in dict(GROUPS):
                expected.append(Code.group_not_found)
            else:
                expected.append(Code.ok)
                self.accounts[account.key] = account
                self.account_keys.append(account.key)
                groups_index = [key for key, _ in GROUPS].index(account.group)
                self.auditor.add_account(BOOKS.index(account.book), groups_index, account_bits(account))
        assert [r.code for r in self.ledger.create_accounts(drafts)] == expected
        assert self.ledger.account_index(self.account_keys).tolist() == list(range(len(self.account_keys)))
        self._count_step()

    @rule(data=st.data())
    def post_columns(self, data: st.DataObject) -> None:
        """A random batch through the bulk path (`Ledger.post_columns`)."""
        batch = data.draw(batches(self.auditor, size_max=self.batch_size_max, mix=self.mix))
        self._post_columns(batch)
        self._count_step()

    @rule(data=st.data())
    def post_records(self, data: st.DataObject) -> None:
        """A random batch through the record path (`Ledger.post` with Entry models)."""
        batch = data.draw(batches(self.auditor, size_max=self.batch_size_max, mix=self.mix))
        padded = data.draw(st.booleans())
        kinds = data.draw(
            st.lists(st.sampled_from([None, "payment"]), min_size=len(batch), max_size=len(batch))
        )
        scales = self._scales()
        books = [a.book for a in self.auditor.accounts]
        records = []
        for spec, kind in zip(batch, kinds, strict=True):
            if kind is not None:
                self.texts[entry_extra_hash(kind, None)] = (kind, None)
                spec = dataclasses.replace(spec, extra=entry_extra_hash(kind, None))
            records.append(
                record_from_spec(spec, self.account_keys, books, scales, texts=self.texts, padded=padded)
            )
        account_index = {key: i for i, key in enumerate(self.account_keys)}
        book_index = {key: i for i, key in enumerate(BOOKS)}
        specs = [spec_from_record(entry, account_index, book_index, scales) for entry in records]
        expected = self.auditor.post(specs)
        actual = [r.code for r in self.ledger.post(records)]
        _assert_codes(actual, expected, specs)
        self._count_step()

    @precondition(lambda self: bool(self.last_batch))
    @rule()
    def replay_last_batch(self) -> None:
        """The last bulk batch again: accepted entries report exists and change nothing."""
        self._post_columns(self.last_batch)
        self._count_step()

    @rule(data=st.data())
    def resolve_pendings(self, data: st.DataObject) -> None:
        """Pending entries and posts and voids of them (open, resolved and unknown ones)."""
        mix = dataclasses.replace(self.mix, resolve=0.5, pending=0.8, duplicate=0.02, bad=0.1)
        batch = data.draw(batches(self.auditor, size_min=1, size_max=self.batch_size_max, mix=mix))
        self._post_columns(batch)
        self._count_step()

    @rule(data=st.data())
    def read_balance(self, data: st.DataObject) -> None:
        """One account's balance through `Ledger.balance`: Decimals at its group's scale."""
        index = data.draw(st.integers(0, len(self.account_keys) - 1))
        balance = self.ledger.balance(self.account_keys[index])
        scale = self._scales()[index]
        values = (
            balance.debits_posted,
            balance.credits_posted,
            balance.debits_pending,
            balance.credits_pending,
        )
        minors = tuple(int(value.scaleb(scale)) for value in values)
        assert minors == self.auditor.accounts[index].balances()
        assert all(value.as_tuple().exponent == -scale for value in values)
        self._count_step()

    @precondition(lambda self: self.reopenable)
    @rule()
    def reopen(self) -> None:
        self.ledger = self.reopen_ledger()
        self._count_step()

    @invariant()
    def balances_agree(self) -> None:
        assert_matches(self.ledger, self.auditor)
        assert_invariants(self.auditor.balance_rows(), self.auditor.accounts)

    # --- helpers ----------------------------------------------------------------------------------

    def _scales(self) -> list[int]:
        return [GROUPS[a.group][1] for a in self.auditor.accounts]

    def _post_columns(self, batch: list[EntrySpec]) -> None:
        expected = self.auditor.post(batch)
        actual = self.ledger.post_columns(**to_columns(batch).post_columns_kwargs())
        _assert_codes([Code(int(c)) for c in actual], expected, batch)
        self.last_batch = batch


def _assert_codes(actual: Sequence[Code], expected: Sequence[Code], batch: Sequence[EntrySpec]) -> None:
    for position, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert got == want, f"entry {position} ({batch[position]}): ledger {got.name}, auditor {want.name}"


__all__ = [
    "AccountLayout",
    "AuditAccount",
    "AuditPending",
    "Auditor",
    "BOOKS",
    "Chooser",
    "Columns",
    "DrawChooser",
    "EntrySpec",
    "GROUPS",
    "KernelState",
    "LedgerMachine",
    "LineSpec",
    "Mix",
    "NumpyChooser",
    "account_bits",
    "account_layouts",
    "account_model",
    "assert_invariants",
    "assert_matches",
    "batches",
    "group_totals",
    "minor_or_invalid",
    "populate",
    "random_batch",
    "record_from_spec",
    "spec_from_record",
    "to_columns",
]
