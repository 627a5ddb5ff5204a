"""Bulk repayment files from partner MFIs: CSV with columns loan_id,paid_on,amount,reference.

Every row is validated and every rejected row reported with its line number. By default the file
is all-or-nothing; in `valid_rows` mode the good rows are recorded. A row whose reference is already
recorded for its loan (earlier, or higher in the same file) is a duplicate and skipped, so sending
the same file twice records nothing new, even twice at once: the second waits for the first's locks
and then finds its references (and the unique index on (loan, reference) backs that).

Fast, and holding little: every row is checked before anything is locked or written; then only the
loans the file names are locked, and each loan's installments are loaded once and its payments
allocated with the ledger's own step (`ledger.record_preloaded`), then written in one flush.
"""

from __future__ import annotations

import csv
import gc
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.db.base import new_id
from loansvc.db.models import AuditEntry, Loan, RepaymentAllocation
from loansvc.db.models.notify import EventOutbox
from loansvc.domain.errors import DomainError, InvalidInput
from loansvc.fields import EARLIEST_DATE, LATEST_DATE
from loansvc.lending import ledger
from loansvc.lending import repository as lending_repository
from loansvc.lending.access import check_collector, snapshot
from loansvc.lending.terms import terms_of
from loansvc.repayments import repository, service

COLUMNS = ("loan_id", "paid_on", "amount", "reference")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


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
    for line, record in enumerate(_records(reader), start=2):
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


def _records(reader) -> Iterator[list[str]]:
    """The file's records; a malformed one (a cell past the CSV reader's limit of 131,072
    characters, a quote left open) refuses the whole file, with its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(
                f"line {reader.line_num} cannot be read as CSV ({exc}); no cell of this file holds"
                " more than a loan id, a date, an amount or a reference",
                code="MALFORMED_CSV",
                field="file",
            ) from None


def _row_problem(cells: dict[str, str]) -> str | None:
    if not cells["loan_id"] or len(cells["loan_id"]) > 36:
        return "loan_id is missing or too long"
    try:
        paid_on = date.fromisoformat(cells["paid_on"]) if _ISO_DATE.fullmatch(cells["paid_on"]) else None
    except ValueError:
        paid_on = None
    if paid_on is None:
        return f"paid_on {cells['paid_on'][:20]!r} is not a date (YYYY-MM-DD)"
    if not EARLIEST_DATE <= paid_on <= LATEST_DATE:
        return f"paid_on {paid_on} is not between {EARLIEST_DATE} and {LATEST_DATE}"
    if not _PLAIN_AMOUNT.fullmatch(cells["amount"]):
        return f"amount {cells['amount'][:30]!r} is not a plain decimal number (ASCII digits, e.g. 12.50)"
    try:
        amount = Decimal(cells["amount"])
    except InvalidOperation:
        return f"amount {cells['amount'][:30]!r} is not a number"
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
    """Record the rows. First every row is checked against its loan with nothing locked and
    nothing written (a refused file costs a read); then only the loans the file touches are locked
    (in id order), checked again, and their payments allocated by the ledger on state loaded once,
    and written together. All-or-nothing: a rejected row records nothing."""
    with _gc_paused():
        return _import_rows(session, principal, rows, rejected, today, valid_rows, progress)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A large file makes about ten objects a row that live until the end of the request; the cyclic
    garbage collector would walk them again and again (a third of the import's time). It is paused
    for the import (process-wide, so only while one runs) and left to run as usual after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_rows(session, principal, rows, rejected, today, valid_rows, progress) -> ImportOutcome:
    outcome = ImportOutcome(rejected=list(rejected))
    by_loan: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_loan[row.loan_id].append(row)
    # 1. nothing locked, nothing written: a file with a bad row is refused here
    first = _Checked(session, principal, by_loan, today, lock=False)
    if first.rejected and not valid_rows:
        outcome.rejected = sorted(outcome.rejected + first.rejected, key=lambda r: r["line"])
        outcome.duplicates = first.duplicates
        return outcome
    # 2. the touched loans locked, checked again (another request may have changed them), recorded
    checked = _Checked(session, principal, by_loan, today, lock=True)
    outcome.rejected.extend(checked.rejected)
    outcome.duplicates = checked.duplicates
    whole_file = session.begin_nested()
    _record(session, principal, checked, new_id(), outcome, valid_rows, progress)
    outcome.rejected.sort(key=lambda r: r["line"])
    if outcome.rejected and not valid_rows:
        whole_file.rollback()
        outcome.recorded = 0
        return outcome
    _write_pending(session)
    whole_file.commit()
    return outcome


# Appended history, written in bulk: no row of these tables is read back or changed in the request,
# so they are inserted as rows (one executemany each), not as tracked objects (one by one with their
# generated ids): most of a large file's cost was there.
BULK = (RepaymentAllocation, AuditEntry, EventOutbox)


def _write_pending(session: Session) -> None:
    pending = [obj for obj in session.new if isinstance(obj, BULK)]
    for obj in pending:
        session.expunge(obj)
    session.flush()  # the repayments first: the allocations refer to them
    for model in BULK:
        columns = {attr.key: attr.columns[0].key for attr in sa_inspect(model).column_attrs}
        by_keys: dict[frozenset, list[dict]] = defaultdict(list)  # one executemany per set of columns
        for obj in pending:
            if type(obj) is model:
                row = {columns[k]: v for k, v in obj.__dict__.items() if k in columns}
                by_keys[frozenset(row)].append(row)
        for rows in by_keys.values():  # Core: the columns' own defaults (ids, created_at) fill the rest
            session.connection().execute(insert(model.__table__), rows)


class _Checked:
    """The file's rows checked against their loans: per loan, the rows to record in ledger order
    (paid_on, then line), and the rows rejected or already recorded (duplicates)."""

    def __init__(self, session: Session, principal: Principal, by_loan: dict, today: date, *, lock: bool):
        self.loans = repository.loans_of_file(session, list(by_loan), principal.lender_scope, lock=lock)
        self.rejected: list[dict] = []
        self.duplicates = 0
        self.to_record: dict[str, list[_Row]] = {}
        known = repository.references(session, list(self.loans))
        for loan_id, loan_rows in by_loan.items():
            loan = self.loans.get(loan_id)
            reason = f"unknown loan {loan_id}" if loan is None else _unpayable(session, principal, loan)
            if reason:
                self.rejected.extend({"line": r.line, "reason": reason} for r in loan_rows)
                continue
            keep = []
            for row in sorted(loan_rows, key=lambda r: (r.paid_on, r.line)):
                if (loan_id, row.reference) in known:  # recorded before, or higher in this file
                    self.duplicates += 1
                    continue
                try:
                    service.validate_payment(loan, row.amount, row.paid_on, today)
                except DomainError as exc:
                    self.rejected.append({"line": row.line, "reason": exc.message})
                    continue
                known.add((loan_id, row.reference))
                keep.append(row)
            if keep:
                self.to_record[loan_id] = keep


def _unpayable(session: Session, principal: Principal, loan: Loan) -> str | None:
    try:
        check_collector(session, principal, loan)
        service.check_payable(loan)
    except DomainError as exc:  # Forbidden too: this caller does not collect on this loan
        return exc.message
    return None


def _record(session, principal, checked: _Checked, batch: str, outcome, valid_rows: bool, progress) -> None:
    """Allocate every kept row with the ledger on each loan's installments loaded once, and add the
    repayments, allocations, history and events for one flush. A payment the batch step does not
    take (a prepayment, a backdated or restructured case) goes through `record_payment` itself."""
    loans = [checked.loans[loan_id] for loan_id in checked.to_record]
    installments = lending_repository.installments_of(session, loans)
    last_paid = repository.last_paid_on_of(session, [loan.id for loan in loans])
    stale_from: dict[str, date] = {}  # per lender: the snapshots already made stale from that day
    for loan in loans:
        rows, terms = installments[loan.id], terms_of(loan)
        for row in checked.to_record[loan.id]:
            payment = ledger.PaymentIn(
                amount=row.amount,
                paid_on=row.paid_on,
                reference=row.reference,
                channel="file",
                created_by=principal.name,
                batch=batch,
            )
            if outcome.rejected and not valid_rows:
                return  # the file is refused already: the rest would be undone anyway
            before = snapshot(loan)
            try:
                done = ledger.record_preloaded(loan, payment, rows, last_paid.get(loan.id), terms)
                if done is None:
                    with session.begin_nested():  # a refused row leaves the others as they were
                        repayment = ledger.record_payment(session, loan, payment)
                    rows = lending_repository.installments(session, loan)  # its version may be new
                    terms = terms_of(loan)
                else:
                    repayment, lines = done
                    if payment.paid_on < stale_from.get(loan.lender_id, date.max):  # once per day back
                        ledger.moved(session, loan.lender_id, payment.paid_on)
                        stale_from[loan.lender_id] = payment.paid_on
                    session.add(repayment)
                    session.add_all(lines)
            except DomainError as exc:
                overpaid = exc.code == "OVERPAYMENT"
                reason = "more than everything the loan still owes" if overpaid else exc.message
                outcome.rejected.append({"line": row.line, "reason": reason})
                continue
            service.payment_recorded(session, principal, loan, repayment, payment, before)
            last_paid[loan.id] = max(last_paid.get(loan.id, payment.paid_on), payment.paid_on)
            outcome.recorded += 1
        if progress:
            progress(len(checked.to_record[loan.id]))


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
