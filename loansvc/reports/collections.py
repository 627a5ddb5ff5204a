"""The collections report, and what the delinquent list shows of the follow-up.

Collections, as of a day, per site and officer:
- loans_in_arrears: loans active at as_of and at least 1 day past due, each under the officer
  (`by`) of its latest contact made by as_of (null: never contacted), at its household's site;
- contacted_last_7_days: of those, the ones whose latest contact is in [as_of - 6, as_of];
- promises_kept / promises_broken: promises due in the 30 days up to as_of ((as_of - 30, as_of]),
  under the officer who took them; promises_open: made by as_of, due after it, not yet kept.
A partner sees its own lender's loans only. Everything is counted in SQL (few rows come back).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from loansvc.auth.principal import Principal
from loansvc.protection import collateral, contacts
from loansvc.protection import contacts_repository as contact_rows
from loansvc.protection.contacts_schemas import CollectionsCounts, CollectionsReportOut, CollectionsRow
from loansvc.reports import queries
from loansvc.reports.queries import Scope

CONTACT_DAYS = 7
PROMISE_DAYS = 30
COUNTS = ("loans_in_arrears", "contacted_last_7_days", "promises_kept", "promises_broken", "promises_open")


def _arrears_rows(session: Session, scope: Scope) -> list[dict]:
    """Per site and officer of the latest contact: loans in arrears, and those contacted lately."""
    day = scope.as_of
    loans = queries.positions(scope, detail=True).subquery()
    latest = contact_rows.latest_contacts(day)
    recent = and_(
        latest.c.contacted_on.is_not(None), latest.c.contacted_on > day - timedelta(days=CONTACT_DAYS)
    )
    query = (
        select(
            loans.c.site_id,
            loans.c.site_name,
            latest.c.contacted_by.label("officer"),
            func.count().label("loans_in_arrears"),
            func.sum(case((recent, 1), else_=0)).label("contacted_last_7_days"),
        )
        .select_from(loans)
        .outerjoin(latest, latest.c.loan_id == loans.c.loan_id)
        .where(loans.c.oldest_due <= day - timedelta(days=1))
        .group_by(loans.c.site_id, loans.c.site_name, latest.c.contacted_by)
    )
    return [dict(r) for r in session.execute(query).mappings()]


def collections(session: Session, principal: Principal, as_of: date) -> CollectionsReportOut:
    scope = Scope(as_of=as_of, lender_id=principal.lender_scope)
    merged: dict[tuple, dict] = {}
    promises = contact_rows.promise_counts(
        session, as_of, as_of - timedelta(days=PROMISE_DAYS), principal.lender_scope
    )
    for row in _arrears_rows(session, scope) + promises:
        key = (row["site_id"], row["officer"])
        line = merged.setdefault(
            key,
            {"site_id": row["site_id"], "site_name": row["site_name"], "officer": row["officer"]}
            | dict.fromkeys(COUNTS, 0),
        )
        for name in COUNTS:
            line[name] += int(row.get(name) or 0)
    lines = sorted(merged.values(), key=lambda r: (r["site_name"], r["officer"] is None, r["officer"] or ""))
    totals = {name: sum(line[name] for line in lines) for name in COUNTS}
    return CollectionsReportOut(
        as_of=as_of, rows=[CollectionsRow(**line) for line in lines], totals=CollectionsCounts(**totals)
    )


def follow_up_of(session: Session, principal: Principal, loans: dict, as_of: date) -> dict[str, dict]:
    """Per loan ({id: Loan}) of the delinquent list: what is held, the last contact and the latest
    promise with its state, as of as_of (three statements whatever the number of loans)."""
    held = collateral.held_on_loans(session, list(loans), as_of, personal=principal.role != "finance_lead")
    last, promise = contacts.follow_up_of_loans(session, loans, as_of)
    return {
        loan_id: {
            "collateral_held": held.get(loan_id, []),
            "last_contact": last.get(loan_id),
            "latest_promise": promise.get(loan_id),
        }
        for loan_id in loans
    }
