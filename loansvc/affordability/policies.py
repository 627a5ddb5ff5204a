"""Versioned affordability policies: the default one, a named version, new versions, reads.

A version is never changed; a new one is created instead. The default policy is created on first
use from the code's defaults and the app's riel rate (`khr_per_usd`, passed in from the settings
by the caller, never read from a global), so the rate in force is recorded with the version.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loansvc.affordability import repository
from loansvc.affordability.schemas import PolicyCreate
from loansvc.auth.principal import Principal
from loansvc.db.models import Policy as PolicyRecord
from loansvc.db.models import Product
from loansvc.db.query import page
from loansvc.domain import affordability as policy_engine
from loansvc.domain.errors import Conflict, InvalidInput, NotFound

DEFAULT_VERSION = policy_engine.DEFAULT_POLICY.version


def _default_record(khr_per_usd: Decimal | None) -> PolicyRecord:
    rate = khr_per_usd if khr_per_usd is not None else policy_engine.DEFAULT_POLICY.khr_per_usd
    policy = policy_engine.Policy(khr_per_usd=rate)
    return PolicyRecord(
        version=policy.version,
        parameters=policy.to_dict(),
        is_default=True,
        created_by="system",
        notes="the programme's default policy",
    )


def policy_record(
    session: Session, version: str | None = None, *, khr_per_usd: Decimal | None = None
) -> PolicyRecord:
    """The named policy version, or the default one (created on first use from the code's defaults
    and `khr_per_usd`, the app's setting; without it, the code's default rate)."""
    if version is not None:
        record = session.get(PolicyRecord, version)
        if record is None:
            raise InvalidInput(f"no policy version {version}", code="UNKNOWN_POLICY", field="policy_version")
        return record
    record = repository.default_policy(session)
    if record is None:
        try:
            with session.begin_nested():
                session.add(_default_record(khr_per_usd))
        except IntegrityError:  # another request created it first
            pass
        record = repository.default_policy(session)
    return record


def product_policy(
    session: Session, product: Product | None, *, khr_per_usd: Decimal | None = None
) -> PolicyRecord:
    """The policy a product is assessed under: its own version, or the default."""
    version = product.policy_version if product is not None else None
    return policy_record(session, version, khr_per_usd=khr_per_usd)


def engine_policy(record: PolicyRecord) -> policy_engine.Policy:
    return policy_engine.Policy.from_dict(record.parameters)


def create_policy(
    session: Session, principal: Principal, body: PolicyCreate, *, khr_per_usd: Decimal | None = None
) -> PolicyRecord:
    if session.get(PolicyRecord, body.version) is not None:
        raise Conflict(
            f"policy version {body.version} exists and is never changed; choose a new version",
            code="POLICY_VERSION_EXISTS",
        )
    base = policy_record(session, body.base_version, khr_per_usd=khr_per_usd)
    parameters = {**base.parameters, **body.parameters, "version": body.version}
    try:
        policy = policy_engine.Policy.from_dict(parameters)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, code="INVALID_POLICY", field=f"parameters.{exc.field or 'version'}"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"invalid policy parameters: {exc}", code="INVALID_POLICY", field="parameters"
        ) from exc
    if body.make_default:
        for record in session.scalars(repository.policies_query()):
            record.is_default = False
    record = PolicyRecord(
        version=body.version,
        parameters=policy.to_dict(),
        is_default=body.make_default,
        created_by=principal.name,
        notes=body.notes,
    )
    session.add(record)
    session.flush()
    return record


def list_policies(
    session: Session, limit: int, offset: int, *, khr_per_usd: Decimal | None = None
) -> tuple[list[PolicyRecord], int]:
    """A page of every version, oldest first; the default exists from the first read on."""
    policy_record(session, khr_per_usd=khr_per_usd)
    return page(session, repository.policies_query(), limit, offset)


def get_policy(session: Session, version: str, *, khr_per_usd: Decimal | None = None) -> PolicyRecord:
    policy_record(session, khr_per_usd=khr_per_usd)  # the default version is readable from the start
    record = session.get(PolicyRecord, version)
    if record is None:
        raise NotFound(f"no policy version {version}", code="POLICY_NOT_FOUND")
    return record
