"""Unit funds (单位资金): what a unit receives into and pays from its own bank account, outside
the treasury, booked in its own dual-basis book (DOMAIN §6.4 R6, §8.3 path UNIT_OWN):

- a receipt: FA Dr 1002 bank deposits / Cr 4609 other revenue; BA Dr 800102 monetary funds /
  Cr 6609 other budget revenue;
- a payment: FA Dr 500102 goods and services / Cr 1002; BA Dr 7901 other expenditure / Cr
  800102 (not fiscal money: the year end closes it into 8201, beside 6609, never into 8101).

Each voucher (PAY_CERT_NO, per region and year) is one entry, idempotent by its key, and is
recorded in `fiscal_unit_vouchers` with its signed amount (+ in, − out). The bank sends each
account's day-D lines on D+1; the nightly reconciliation matches them to these vouchers (R6).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.codes import Code
from ledger.fiscal import tables as ft
from ledger.fiscal.domain import Fiscal, _columns, _days, _once, _reasons, event_keys

VOUCHER_COLUMNS = ("pay_cert_no", "region", "year", "unit", "amount", "date")
# (FA debit, FA credit, BA debit, BA credit) by direction
_RECEIPT = ("1002", "4609", "800102", "6609")
_PAYMENT = ("500102", "1002", "7901", "800102")


class UnitFunds:
    """The bulk path of unit-funds vouchers: columns in, one reason per voucher out (`ok`,
    `exists`, or why it was refused: unit_not_found, amount_invalid, and the core's)."""

    def __init__(self, fiscal: Fiscal) -> None:
        self.fiscal = fiscal

    def receive(self, vouchers: pa.Table) -> pa.Table:
        """Money into units' own bank accounts."""
        return self._post(vouchers, 1)

    def pay(self, vouchers: pa.Table) -> pa.Table:
        """Payments from units' own bank accounts."""
        return self._post(vouchers, -1)

    def _post(self, vouchers: pa.Table, sign: int) -> pa.Table:
        p = _columns(vouchers, VOUCHER_COLUMNS, "unit-funds vouchers")
        f = self.fiscal
        n = p.num_rows
        regions, units = f.table(ft.regions), f.table(ft.units)
        unit_keys = pc.binary_join_element_wise(
            regions.column("code").take(units.column("region")), units.column("code"), "|"
        )
        wanted = pc.binary_join_element_wise(p.column("region"), p.column("unit"), "|")
        unit = pc.fill_null(pc.index_in(wanted, value_set=unit_keys), -1).to_numpy().astype(np.int64)
        amount = p.column("amount").to_numpy().astype(np.int64)
        reason = np.full(n, "", dtype=object)
        reason[unit < 0] = "unit_not_found"
        reason[(reason == "") & (amount <= 0)] = "amount_invalid"
        go = np.flatnonzero(reason == "")
        keys = event_keys(p, "unit-in" if sign > 0 else "unit-out")
        if len(go):
            take = pa.array(go)
            book = pc.binary_join_element_wise(
                "U:", p.column("region").take(take), ":", p.column("unit").take(take), ""
            )
            codes = _RECEIPT if sign > 0 else _PAYMENT
            columns = [pc.binary_join_element_wise(book, "|" + code, "") for code in codes]
            accounts = np.stack([f.book.account_index(c.to_pylist()) for c in columns], axis=1)
            a = amount[go]
            posted = f.book.post_columns(
                keys[go],
                np.arange(0, 4 * len(go) + 1, 4, dtype=np.int64),
                accounts.reshape(-1).astype(np.int32),
                np.stack([a, -a, a, -a], axis=1).reshape(-1),
                dates=_days(p.column("date"))[go],
                books=f.book.book_index(book.to_pylist()).astype(np.int32),
            )
            reason[go] = _reasons(posted)
            fresh = go[posted == Code.ok]
            again = go[posted == Code.exists]  # posted before but not recorded (a call cut short)
            if len(again):
                recorded = pc.is_in(pa.array(keys[again]), value_set=f.table(ft.unit_vouchers).column("key"))
                unrecorded = again[~recorded.to_numpy(zero_copy_only=False)]
                fresh = np.sort(np.concatenate([fresh, _once(unrecorded, keys, fresh)]))
            if len(fresh):
                f._append_table(
                    ft.unit_vouchers,
                    pa.table(
                        {
                            "key": pa.array(keys[fresh]),
                            "pay_cert_no": p.column("pay_cert_no").take(pa.array(fresh)),
                            "region": pa.array(
                                units.column("region").to_numpy()[unit[fresh]].astype(np.int64)
                            ),
                            "year": p.column("year").take(pa.array(fresh)).cast(pa.int64()),
                            "unit": pa.array(unit[fresh]),
                            "amount": pa.array(sign * amount[fresh]),
                            "date": pa.array(_days(p.column("date"))[fresh].astype(np.int64)),
                        }
                    ),
                )
        return pa.table(
            {"pay_cert_no": p.column("pay_cert_no"), "code": pa.array(reason.tolist(), pa.string())}
        )
