"""Issuing, checking and revoking API keys.

A key is 32 random bytes (urlsafe base64, prefixed `lsk_`). Only its SHA-256 hash is stored;
the clear key is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from loansvc.auth import repository
from loansvc.auth.principal import Principal
from loansvc.db.base import utcnow
from loansvc.db.models import ApiKey, Lender
from loansvc.domain.errors import Conflict, InvalidInput, NotFound

ROLES = ("admin", "loan_officer", "finance_lead", "partner")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str


class _RecentKeys:
    """Keys verified in the last few seconds, so a burst of requests does not query the database for
    each one. Revoking a key evicts it here at once; another worker process forgets it within `ttl`."""

    def __init__(self) -> None:
        self.ttl = 5.0
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic() + self.ttl)

    def evict(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)


recent_keys = _RecentKeys()


def cached_principal(key: str) -> Principal | None:
    return recent_keys.get(hash_key(key)) if recent_keys.ttl > 0 else None


def authenticate(session: Session, key: str) -> Principal | None:
    key_hash = hash_key(key)
    record = repository.by_hash(session, key_hash)
    if record is None:
        return None
    principal = Principal(key_id=record.id, name=record.name, role=record.role, lender_id=record.lender_id)
    if recent_keys.ttl > 0:
        recent_keys.put(key_hash, principal)
    return principal


def authenticate_hash(session: Session, key_hash: str) -> Principal | None:
    """The caller of a key known by its hash: the pages' session cookie keeps the hash, never the
    key. A revoked key is None (read from the database each time: a session outlives the cache)."""
    record = repository.by_hash(session, key_hash)
    if record is None:
        return None
    return Principal(key_id=record.id, name=record.name, role=record.role, lender_id=record.lender_id)


def create_key(
    session: Session, *, name: str, role: str, lender_id: str | None, created_by: str | None
) -> IssuedKey:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="UNKNOWN_ROLE", field="role")
    if role == "partner" and not lender_id:
        raise InvalidInput(
            "a partner key needs the lender it acts for", code="LENDER_REQUIRED", field="lender_id"
        )
    if role != "partner" and lender_id:
        raise InvalidInput(
            "only partner keys are tied to a lender", code="LENDER_NOT_ALLOWED", field="lender_id"
        )
    if lender_id and session.get(Lender, lender_id) is None:
        raise InvalidInput(f"no lender {lender_id}", code="UNKNOWN_LENDER", field="lender_id")
    if repository.by_name(session, name) is not None:
        raise Conflict(f"an API key named {name!r} already exists", code="KEY_NAME_TAKEN")
    key = "lsk_" + secrets.token_urlsafe(32)
    record = ApiKey(
        name=name,
        role=role,
        lender_id=lender_id,
        key_hash=hash_key(key),
        prefix=key[:10],
        created_by=created_by,
    )
    session.add(record)
    session.flush()
    return IssuedKey(record=record, key=key)


def revoke_key(session: Session, name: str) -> ApiKey:
    record = repository.by_name(session, name)
    if record is None:
        raise NotFound(f"no API key named {name!r}", code="KEY_NOT_FOUND")
    if record.revoked_at is None:
        if record.role == "admin" and repository.active_admin_ids(session) == [record.id]:
            raise Conflict(
                "this is the last active admin key: create another admin key before revoking it",
                code="LAST_ADMIN_KEY",
            )
        record.revoked_at = utcnow()
        session.flush()
    recent_keys.evict(record.key_hash)
    return record


def list_keys(session: Session) -> list[ApiKey]:
    return repository.all_keys(session)
