"""Bulk repayment files from partner MFIs: CSV with columns loan_id,paid_on,amount,reference.

Every row is validated and every rejected row reported with its line number. By default the file
is all-or-nothing; in `valid_rows` mode the good rows are recorded. A row whose reference is already
recorded for its loan (earlier, or higher in the same file) is a duplicate and skipped, so sending
the same file twice records nothing new.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.base import new_id
from loansvc.db.models import Loan
from loansvc.domain.errors import DomainError, InvalidInput
from loansvc.lending import ledger
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import check_collector
from loansvc.repayments import repository, service

COLUMNS = ("loan_id", "paid_on", "amount", "reference")


@dataclass
class ImportOutcome:
    recorded: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"recorded": self.recorded, "duplicates": self.duplicates, "rejected": self.rejected}


@dataclass
class _Row:
    line: int
    loan_id: str
    paid_on: date
    amount: Decimal
    reference: str


def parse(data: bytes, max_rows: int) -> tuple[list[_Row], list[dict]]:
    """Decode and parse the file; return the well-formed rows and the rejected lines."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 (byte {exc.start} cannot be decoded); save it as UTF-8",
            code="BAD_ENCODING",
            field="file",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InvalidInput(
            "the file is empty; expected a header loan_id,paid_on,amount,reference",
            code="EMPTY_FILE",
            field="file",
        )
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InvalidInput(
            f"missing columns: {', '.join(missing)} (expected {','.join(COLUMNS)})",
            code="MISSING_COLUMNS",
            field="file",
        )
    index = {c: names.index(c) for c in COLUMNS}
    rows, rejected = [], []
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) + len(rejected) >= max_rows:
            raise InvalidInput(
                f"the file has more than {max_rows} rows; split it into smaller files",
                code="TOO_MANY_ROWS",
                field="file",
            )
        try:
            cells = {c: record[i].strip() for c, i in index.items()}
        except IndexError:
            rejected.append({"line": line, "reason": f"expected {len(names)} columns, found {len(record)}"})
            continue
        reason = _row_problem(cells)
        if reason:
            rejected.append({"line": line, "reason": reason})
            continue
        rows.append(
            _Row(
                line,
                cells["loan_id"],
                date.fromisoformat(cells["paid_on"]),
                Decimal(cells["amount"]),
                cells["reference"],
            )
        )
    return rows, rejected


def _row_problem(cells: dict[str, str]) -> str | None:
    if not cells["loan_id"] or len(cells["loan_id"]) > 36:
        return "loan_id is missing or too long"
    try:
        date.fromisoformat(cells["paid_on"])
    except ValueError:
        return f"paid_on {cells['paid_on']!r} is not a date (YYYY-MM-DD)"
    try:
        amount = Decimal(cells["amount"])
    except InvalidOperation:
        return f"amount {cells['amount']!r} is not a number"
    if not amount.is_finite() or amount <= 0:
        return "amount must be greater than zero"
    if amount > Decimal("1e12"):
        return "amount is too large"
    if not cells["reference"] or len(cells["reference"]) > 100:
        return "reference is missing or longer than 100 characters"
    return None


def import_rows(
    session: Session,
    principal: Principal,
    rows: list[_Row],
    rejected: list[dict],
    today: date,
    *,
    valid_rows: bool,
    progress: Callable[[int], None] | None = None,
) -> ImportOutcome:
    """Record the rows, loan by loan (each loan locked), each payment through the ledger as if it
    came alone. All-or-nothing: a rejected row undoes the whole file (nothing is recorded)."""
    outcome = ImportOutcome(rejected=list(rejected))
    by_loan: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_loan[row.loan_id].append(row)
    known = repository.references(session, list(by_loan))
    batch = new_id()
    whole_file = session.begin_nested()
    for loan_id, loan_rows in by_loan.items():
        loan = _visible_loan(session, principal, loan_id, outcome, loan_rows)
        if loan is not None:
            for row in sorted(loan_rows, key=lambda r: (r.paid_on, r.line)):
                _record_row(session, principal, loan, row, known, batch, today, outcome)
        if progress:
            progress(len(loan_rows))
    outcome.rejected.sort(key=lambda r: r["line"])
    if outcome.rejected and not valid_rows:
        whole_file.rollback()
        outcome.recorded = 0
        return outcome
    whole_file.commit()
    return outcome


def _record_row(
    session, principal, loan: Loan, row: _Row, known: set, batch: str, today: date, outcome
) -> None:
    if (loan.id, row.reference) in known:
        outcome.duplicates += 1
        return
    try:
        service.validate_payment(loan, row.amount, row.paid_on, today)
        payment = ledger.PaymentIn(
            amount=row.amount,
            paid_on=row.paid_on,
            reference=row.reference,
            channel="file",
            created_by=principal.name,
            batch=batch,
        )
        with session.begin_nested():  # a refused row leaves the others as they were
            service.record_checked(session, principal, loan, payment)
    except DomainError as exc:
        reason = "more than everything the loan still owes" if exc.code == "OVERPAYMENT" else exc.message
        outcome.rejected.append({"line": row.line, "reason": reason})
        return
    known.add((loan.id, row.reference))
    outcome.recorded += 1


def import_file(
    session: Session,
    principal: Principal,
    data: bytes,
    today: date,
    *,
    valid_rows: bool,
    max_rows: int,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Parse and import a file; all-or-nothing with rejected rows is a 422 carrying the outcome."""
    rows, rejected = parse(data, max_rows)
    outcome = import_rows(session, principal, rows, rejected, today, valid_rows=valid_rows, progress=progress)
    if outcome.rejected and not valid_rows:
        error = InvalidInput(
            f"{len(outcome.rejected)} rows were rejected, so nothing was recorded", code="ROWS_REJECTED"
        )
        error.extra = outcome.as_dict()  # type: ignore[attr-defined]  (the same body as a success)
        raise error
    return outcome.as_dict()


def _visible_loan(
    session: Session, principal: Principal, loan_id: str, outcome: ImportOutcome, rows: list[_Row]
) -> Loan | None:
    loan = lending_repository.get(session, loan_id, lender_id=principal.lender_scope, lock=True)
    reason = None
    if loan is None:
        reason = f"unknown loan {loan_id}"
    else:
        try:
            check_collector(session, principal, loan)
            service.check_payable(loan)
        except DomainError as exc:  # Forbidden too: this caller does not collect on this loan
            reason = exc.message
    if reason is None:
        return loan
    outcome.rejected.extend({"line": r.line, "reason": reason} for r in rows)
    return None
