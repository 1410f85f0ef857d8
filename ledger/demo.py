"""A small end-to-end job on the embedded default (SQLite): `python -m ledger.demo`.

It writes a groups, an accounts and an entries file for one budget unit's dual-basis books
(a financial leg and a budget leg per voucher, each balancing on its own, DOMAIN.md §3.4 E1),
then runs the CLI on them — init, post, balances, verify — exactly as a nightly job would.
One voucher spends from a fund balance (8001) that may not go below zero, so the run also shows a
rejected entry and its code.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ledger.cli import EXIT_REJECTED, app

GROUPS = """group,scale
CNY-FA,2
CNY-BA,2
"""

ACCOUNTS = """account,book,group,code,subledger,normal,flags,name
U001-5001,U001,CNY-FA,5001,,debit,,业务活动费用
U001-1601,U001,CNY-FA,1601,,debit,,固定资产
U001-4001,U001,CNY-FA,4001,,credit,,财政拨款收入
U001-7201-P01,U001,CNY-BA,7201,P01,debit,,事业支出—项目支出
U001-6001-P01,U001,CNY-BA,6001,P01,credit,,财政拨款预算收入
U001-8001,U001,CNY-BA,8001,,debit,credits_must_not_exceed_debits,资金结存
U001-6609,U001,CNY-BA,6609,,credit,,其他预算收入
"""

ENTRIES = """entry,book,date,account,debit,credit,kind,reference
1,U001,2026-03-02,U001-5001,300000.00,,direct_payment,ZF2026030001
1,U001,2026-03-02,U001-4001,,300000.00,direct_payment,ZF2026030001
1,U001,2026-03-02,U001-7201-P01,300000.00,,direct_payment,ZF2026030001
1,U001,2026-03-02,U001-6001-P01,,300000.00,direct_payment,ZF2026030001
2,U001,2026-03-09,U001-1601,200000.00,,direct_payment,ZF2026030002
2,U001,2026-03-09,U001-4001,,200000.00,direct_payment,ZF2026030002
2,U001,2026-03-09,U001-7201-P01,200000.00,,direct_payment,ZF2026030002
2,U001,2026-03-09,U001-6001-P01,,200000.00,direct_payment,ZF2026030002
3,U001,2026-03-20,U001-7201-P01,1000.00,,own_funds,ZF2026030003
3,U001,2026-03-20,U001-8001,,1000.00,own_funds,ZF2026030003
"""


def main(argv: list[str] | None = None) -> int:
    """Run the demo in a fresh directory (or the one given) and return the worst exit code."""
    folder = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="ledger-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("groups.csv", GROUPS), ("accounts.csv", ACCOUNTS), ("entries.csv", ENTRIES)):
        (folder / name).write_text(text, encoding="utf-8")
    url = f"sqlite:///{folder / 'ledger.db'}"
    print(f"demo ledger: {url}")
    worst = 0
    for args in (
        ["init", "--db", url],
        [
            "post",
            "--db",
            url,
            str(folder / "groups.csv"),
            str(folder / "accounts.csv"),
            str(folder / "entries.csv"),
        ],
        ["balances", "--db", url],
        ["verify", "--db", url],
    ):
        print(f"\n$ ledger {' '.join(args)}")
        try:
            app(args, prog_name="ledger", standalone_mode=False)
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
        except Exception as exit_:  # typer.Exit under standalone_mode=False
            code = int(getattr(exit_, "exit_code", 1))
        worst = max(worst, code)
    # The overspending voucher (entry 3) is expected to be rejected: that is exit code 2.
    return 0 if worst in (0, EXIT_REJECTED) else worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
