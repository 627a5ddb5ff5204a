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

from loansvc.audit.service import record as audit
from loansvc.auth.principal import Principal
from loansvc.db.base import new_id
from loansvc.db.models import Loan, Product, Repayment
from loansvc.domain.errors import DomainError, InvalidInput
from loansvc.loans import repository as loans_repository
from loansvc.repayments import repository, service

COLUMNS = ("loan_id", "paid_on", "amount", "reference")
MAX_ROWS = 20_000


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


def parse(data: bytes, max_rows: int = MAX_ROWS) -> tuple[list[_Row], list[dict]]:
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
    outcome = ImportOutcome(rejected=list(rejected))
    by_loan: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_loan[row.loan_id].append(row)
    known = repository.references(session, list(by_loan))
    batch = new_id()
    pending: list[tuple[Loan, list[Repayment]]] = []
    for loan_id, loan_rows in by_loan.items():
        loan = _visible_loan(session, principal, loan_id, outcome, loan_rows)
        if loan is None:
            continue
        new: list[Repayment] = []
        for row in sorted(loan_rows, key=lambda r: (r.paid_on, r.line)):
            if (loan_id, row.reference) in known:
                outcome.duplicates += 1
                continue
            try:
                service.validate_payment(loan, row.amount, row.paid_on, today)
            except DomainError as exc:
                outcome.rejected.append({"line": row.line, "reason": exc.message})
                continue
            candidate = Repayment(
                id=new_id(),
                loan_id=loan.id,
                amount=row.amount,
                paid_on=row.paid_on,
                reference=row.reference,
                channel="file",
                created_by=principal.name,
                batch=batch,
            )
            candidate.line = row.line  # type: ignore[attr-defined]
            if _overpays(session, loan, [*new, candidate], today):
                outcome.rejected.append(
                    {"line": row.line, "reason": "more than everything the loan still owes"}
                )
                continue
            known.add((loan_id, row.reference))
            new.append(candidate)
        if new:
            pending.append((loan, new))
        if progress:
            progress(len(loan_rows))
    outcome.rejected.sort(key=lambda r: r["line"])
    if outcome.rejected and not valid_rows:
        return outcome
    for loan, new in pending:
        session.add_all(new)
        session.flush()
        service.rebuild(session, loan, today)
        outcome.recorded += len(new)
        audit(
            session,
            principal,
            entity_type="loan",
            entity_id=loan.id,
            loan_id=loan.id,
            action="repaid_from_file",
            after={"batch": batch, "payments": len(new), "amount": str(sum(r.amount for r in new))},
        )
    return outcome


def _visible_loan(
    session: Session, principal: Principal, loan_id: str, outcome: ImportOutcome, rows: list[_Row]
) -> Loan | None:
    lender = principal.lender_id if principal.is_partner else None
    loan = loans_repository.get(session, loan_id, lender_id=lender, lock=True)
    reason = None
    if loan is None:
        reason = f"unknown loan {loan_id}"
    else:
        try:
            service.check_collector(session, principal, loan)
            service.check_payable(loan)
        except DomainError as exc:  # Forbidden too: this caller does not collect on this loan
            reason = exc.message
    if reason is None:
        return loan
    outcome.rejected.extend({"line": r.line, "reason": reason} for r in rows)
    return None


def _overpays(session: Session, loan: Loan, new: list[Repayment], today: date) -> bool:
    product = session.get(Product, loan.product_id)
    if product.allow_credit_balance:
        return False
    payments = service.active_payments(session, loan, new)
    _, result = service.allocate(session, loan, product, payments, today)
    return result.credit_balance > 0
