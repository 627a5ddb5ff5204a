"""Registry integrity and search over HTTP: a title number belongs to one parcel, a loan officer finds
a family by part of its name (any case or accents, Latin or Khmer script), its parcel, title or
phone, exact matches first; a partner finds only the families visible to it; and an unknown query
parameter is refused on every endpoint instead of being ignored."""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, create_engine, select

from loansvc.db.models import Consent, Household, HouseholdLender
from loansvc.domain.text import search_text
from loansvc.migrate import ROOT, upgrade
from loansvc.registry import repository
from tests.api.helpers import (
    assert_problem,
    create_household,
    create_lender,
    create_site,
    household_body,
)
from tests.api.test_concurrency import Live, _live

# Titles -------------------------------------------------------------------------------------------


def test_a_second_household_with_a_taken_title_is_refused(client, officer, db_state):
    stung_mean_chey, boeung_kak = create_site(client, officer), create_site(client, officer)
    create_household(client, officer, stung_mean_chey["id"], title_number="PP-MC-2024-100007")
    before = db_state()

    # another parcel, even on another site, cannot carry the same title
    body = household_body(boeung_kak["id"], parcel_code="BK-001", title_number="PP-MC-2024-100007")
    problem = assert_problem(client.post("/v1/households", headers=officer, json=body), 409, "TITLE_TAKEN")
    assert "PP-MC-2024-100007" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "title_number"]
    assert db_state() == before

    # a parcel without a title yet is not a clash, however many there are
    for parcel in ("BK-002", "BK-003"):
        create_household(client, officer, boeung_kak["id"], parcel_code=parcel, title_number=None)


def test_a_patch_to_a_taken_title_is_refused(client, officer, db_state):
    site = create_site(client, officer)
    create_household(client, officer, site["id"], title_number="PP-MC-2024-100007")
    neighbour = create_household(client, officer, site["id"], title_number="PP-MC-2024-100014")
    before = db_state()

    taken = {"title_number": "PP-MC-2024-100007", "head_name": "Chan Dara"}
    response = client.patch(f"/v1/households/{neighbour['id']}", headers=officer, json=taken)
    assert_problem(response, 409, "TITLE_TAKEN")
    assert db_state() == before, "nothing of the patch is kept, not even the name"

    # its own title again is no clash; nor is clearing it
    own = client.patch(
        f"/v1/households/{neighbour['id']}", headers=officer, json={"title_number": "PP-MC-2024-100014"}
    )
    assert own.status_code == 200, own.text
    cleared = client.patch(f"/v1/households/{neighbour['id']}", headers=officer, json={"title_number": None})
    assert cleared.status_code == 200 and cleared.json()["title_number"] is None


def _checks_miss_once(monkeypatch) -> None:
    """The service's check misses the clash once, as it does when a concurrent request commits the
    same title between the check and the write: the unique index is then what refuses it."""
    real = repository.title_taken
    calls = Counter()

    def late(session, title_number, other_than=None):
        calls["n"] += 1
        return False if calls["n"] == 1 else real(session, title_number, other_than)

    monkeypatch.setattr(repository, "title_taken", late)


def test_a_title_the_index_refuses_is_the_same_409(client, officer, db_state, monkeypatch):
    site = create_site(client, officer)
    create_household(client, officer, site["id"], title_number="PP-MC-2024-100007")
    neighbour = create_household(client, officer, site["id"], title_number="PP-MC-2024-100014")
    before = db_state()

    _checks_miss_once(monkeypatch)
    body = household_body(site["id"], title_number="PP-MC-2024-100007")
    assert_problem(client.post("/v1/households", headers=officer, json=body), 409, "TITLE_TAKEN")
    assert db_state() == before

    _checks_miss_once(monkeypatch)
    patch = {"title_number": "PP-MC-2024-100007", "incomes": []}
    response = client.patch(f"/v1/households/{neighbour['id']}", headers=officer, json=patch)
    assert_problem(response, 409, "TITLE_TAKEN")
    assert db_state() == before


@pytest.fixture()
def live(engine: Engine, database_url: str) -> Iterator[Live]:
    yield from _live(engine, database_url)


def test_twenty_officers_recording_one_title_at_once_record_it_once(live):
    # real commits on parallel connections: SQLite queues the writers (BEGIN IMMEDIATE); on
    # PostgreSQL the later ones meet the unique index and get the same 409
    officer = live.key("title race officer", "loan_officer")
    site = create_site(live.client, officer)
    bodies = [household_body(site["id"], title_number="PP-MC-2024-RACE") for _ in range(20)]
    responses = live.at_once(lambda i: live.client.post("/v1/households", headers=officer, json=bodies[i]))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 19}, [r.text for r in responses if r.status_code not in (201, 409)]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"TITLE_TAKEN"}
    listed = live.ok("GET", "/v1/households", officer, status=200)
    assert [h["title_number"] for h in listed["items"] if h["site_id"] == site["id"]] == ["PP-MC-2024-RACE"]


# Search -------------------------------------------------------------------------------------------


@pytest.fixture()
def families(client, officer) -> dict[str, dict]:
    """Six families of one site: Latin names with and without accents, a Khmer name, phones written
    with and without spaces, and parcel SMC-10 beside SMC-101 to SMC-103."""
    site = create_site(client, officer)

    def family(parcel: str, title: str | None, name: str, phone: str | None, idpoor: int = 0) -> dict:
        return create_household(
            client,
            officer,
            site["id"],
            parcel_code=parcel,
            title_number=title,
            head_name=name,
            phone=phone,
            idpoor_level=idpoor,
        )

    return {
        "site": site,
        "sok": family("SMC-101", "PP-MC-2024-100101", "Sok Sreymom", "012 345 678"),
        "chan": family("SMC-102", "PP-MC-2024-100102", "Chan Dàra", "097 555 0102", idpoor=2),
        "khmer": family("SMC-103", "PP-MC-2024-100103", "សុខ ស្រីមុំ", "012345999", idpoor=1),
        "keo": family("SMC-104", None, "Keo Sreymom", None, idpoor=2),
        "sreymom": family("SMC-105", None, "Sreymom", "088 700 105"),
        "yim": family("SMC-10", "PP-MC-2024-100010", "Yim Sophal", None),
    }


def _found(client, headers, **params) -> list[str]:
    response = client.get("/v1/households", headers=headers, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"]), "every test here fits on one page"
    return [h["head_name"] for h in page["items"]]


def test_a_family_is_found_by_part_of_its_name_whatever_the_case_or_accents(client, officer, families):
    site = families["site"]["id"]
    # "Sreymom" on its own is an exact match of a name: first; then the others by name
    for q in ("sreymom", "SREYMOM", " Sreymom  "):
        assert _found(client, officer, site_id=site, q=q) == ["Sreymom", "Keo Sreymom", "Sok Sreymom"]
    assert _found(client, officer, site_id=site, q="sok srey") == ["Sok Sreymom"]
    # the accent is ignored on either side
    for q in ("Dara", "dàra", "DÀRA", "chan dara"):
        assert _found(client, officer, site_id=site, q=q) == ["Chan Dàra"]


def test_a_khmer_name_is_found_by_part_of_it(client, officer, families):
    site = families["site"]["id"]
    # the vowel signs and the coeng (ស្រី) are part of the word: they are kept, not stripped as accents
    assert _found(client, officer, site_id=site, q="ស្រីមុំ") == ["សុខ ស្រីមុំ"]
    assert _found(client, officer, site_id=site, q="សុខ") == ["សុខ ស្រីមុំ"]
    assert _found(client, officer, site_id=site, q="សុខ ស្រីមុំ") == ["សុខ ស្រីមុំ"]
    # the zero-width space written between Khmer words reads as a space
    assert _found(client, officer, site_id=site, q="សុខ\u200bស្រីមុំ") == ["សុខ ស្រីមុំ"]
    # without its vowel sign it is another word (ស្រមុំ), not the same name
    assert _found(client, officer, site_id=site, q="ស្រមុំ") == []


def test_a_family_is_found_by_parcel_title_or_phone(client, officer, families):
    site = families["site"]["id"]
    assert _found(client, officer, site_id=site, q="smc-102") == ["Chan Dàra"]
    assert _found(client, officer, site_id=site, q="PP-MC-2024-100103") == ["សុខ ស្រីមុំ"]
    assert _found(client, officer, site_id=site, q="100101") == ["Sok Sreymom"]
    # the phone as written, without its spaces, or with spaces where it was written without
    assert _found(client, officer, site_id=site, q="012 345 678") == ["Sok Sreymom"]
    assert _found(client, officer, site_id=site, q="012345678") == ["Sok Sreymom"]
    assert _found(client, officer, site_id=site, q="012 345 999") == ["សុខ ស្រីមុំ"]
    assert _found(client, officer, site_id=site, q="0123") == ["Sok Sreymom", "សុខ ស្រីមុំ"]


def test_an_exact_parcel_comes_before_the_parcels_it_is_part_of(client, officer, families):
    site = families["site"]["id"]
    # SMC-10 is Yim Sophal's parcel: first, though his name sorts last; then SMC-101 ... 105 by name
    assert _found(client, officer, site_id=site, q="SMC-10") == [
        "Yim Sophal",
        "Chan Dàra",
        "Keo Sreymom",
        "Sok Sreymom",
        "Sreymom",
        "សុខ ស្រីមុំ",
    ]


def test_like_wildcards_in_a_search_are_plain_characters(client, officer, families):
    site = families["site"]["id"]
    for q in ("%", "_", "SMC_101", "S%m"):
        assert _found(client, officer, site_id=site, q=q) == []
    # a blank search is no search
    assert len(_found(client, officer, site_id=site, q="   ")) == 6


def test_parcel_code_and_idpoor_level_filter_and_combine(client, officer, families):
    site = families["site"]["id"]
    assert _found(client, officer, site_id=site, parcel_code="SMC-102") == ["Chan Dàra"]
    assert _found(client, officer, site_id=site, parcel_code="SMC-1") == [], "a parcel code is exact"
    level_2 = _found(client, officer, site_id=site, idpoor_level=2)
    assert sorted(level_2) == ["Chan Dàra", "Keo Sreymom"]
    assert _found(client, officer, site_id=site, idpoor_level=2, q="sreymom") == ["Keo Sreymom"]
    assert _found(client, officer, site_id=site, idpoor_level=1, parcel_code="SMC-103") == ["សុខ ស្រីមុំ"]
    assert _found(client, officer, site_id=site, idpoor_level=0, parcel_code="SMC-103") == []
    other_site = create_site(client, officer)
    assert _found(client, officer, site_id=other_site["id"], q="sreymom") == []
    for bad in ({"idpoor_level": 3}, {"idpoor_level": "poor"}, {"parcel_code": "x" * 51}, {"q": "x" * 201}):
        assert_problem(client.get("/v1/households", headers=officer, params=bad), 422, "VALIDATION_ERROR")


def test_a_patch_is_searchable_at_once(client, officer, families):
    site = families["site"]["id"]
    chan = families["chan"]
    patch = {"head_name": "Chan Sôphéap", "phone": "011 222 333", "title_number": "PP-MC-2024-200102"}
    assert client.patch(f"/v1/households/{chan['id']}", headers=officer, json=patch).status_code == 200
    assert _found(client, officer, site_id=site, q="sopheap") == ["Chan Sôphéap"]
    assert _found(client, officer, site_id=site, q="011222333") == ["Chan Sôphéap"]
    assert _found(client, officer, site_id=site, q="200102") == ["Chan Sôphéap"]
    assert _found(client, officer, site_id=site, q="dara") == [], "the old name is no longer found"
    assert _found(client, officer, site_id=site, q="100102") == [], "nor the old title"


def _share_with(session, household_id: str, lender_id: str) -> None:
    """The family applied to the lender and consented to share its file with it."""
    session.add(HouseholdLender(household_id=household_id, lender_id=lender_id))
    session.add(
        Consent(
            household_id=household_id,
            lender_id=lender_id,
            given_on=date(2026, 1, 5),
            method="signed_form",
            recorded_by="tests",
        )
    )
    session.commit()


def test_a_partner_never_finds_another_lenders_families(client, session, admin, officer, make_key, families):
    site = families["site"]["id"]
    mfi, fund = create_lender(client, admin), create_lender(client, admin, kind="ngo_fund")
    _share_with(session, families["sok"]["id"], mfi["id"])
    _share_with(session, families["keo"]["id"], fund["id"])
    _share_with(session, families["khmer"]["id"], fund["id"])
    mfi_key, fund_key = make_key("partner", mfi["id"]), make_key("partner", fund["id"])

    assert _found(client, mfi_key, q="sreymom") == ["Sok Sreymom"]
    assert _found(client, fund_key, q="sreymom") == ["Keo Sreymom"]
    assert _found(client, mfi_key, q="012 345") == ["Sok Sreymom"], "Sok's phone, not the fund's family's"
    assert _found(client, mfi_key, q="ស្រីមុំ") == []
    assert _found(client, mfi_key, q="Dara") == [], "a family shared with no lender"
    assert _found(client, fund_key, site_id=site, idpoor_level=2) == ["Keo Sreymom"]
    assert _found(client, mfi_key, parcel_code="SMC-104") == []
    assert sorted(_found(client, officer, site_id=site, q="sreymom")) == [
        "Keo Sreymom",
        "Sok Sreymom",
        "Sreymom",
    ]


# Existing households get their search text --------------------------------------------------------


def _migration_0007():
    path = ROOT / "alembic" / "versions" / "0007_lending_rules.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLES = [
    ("Sok Sreymom", "SMC-001", "PP-MC-2024-100007", "012 345 678"),
    ("Chan Dàra", "SMC-002", None, "012345678"),
    ("សុខ\u200bស្រីមុំ", "SMC-០០៣", "PP-MC-2024-100021", None),
    ("Nguyễn Thị Đức", "smc 004", None, "(+855) 97-555-0102"),
]


def test_the_migrations_frozen_fold_agrees_with_the_service_today():
    frozen = _migration_0007()
    for name, parcel, title, phone in SAMPLES:
        expected = search_text(head_name=name, parcel_code=parcel, title_number=title, phone=phone)
        assert frozen._search_text(name, parcel, title, phone) == expected


def test_households_recorded_before_0007_are_found(tmp_path):
    # a database at 0006 with families in it, then upgraded: 0007 writes each one's search text
    url = f"sqlite:///{tmp_path / 'before_0007.db'}"
    upgrade(url, "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sites (id, name, district, city, created_at)"
            " VALUES ('site-1', 'Stung Mean Chey', 'Mean Chey', 'Phnom Penh', '2025-01-01 00:00:00')"
        )
        for k, (name, parcel, title, phone) in enumerate(SAMPLES):
            conn.exec_driver_sql(
                "INSERT INTO households (id, site_id, parcel_code, title_number, head_name, phone,"
                " household_size, idpoor_level, vulnerabilities, temporary_shelter, created_at, updated_at)"
                " VALUES (?, 'site-1', ?, ?, ?, ?, 4, 0, '[]', 0, ?, ?)",
                (f"household-{k}", parcel, title, name, phone, "2025-01-01 00:00:00", "2025-01-01 00:00:00"),
            )
    upgrade(url, "head")
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Household.id, Household.search_text)).all())
    engine.dispose()
    for k, (name, parcel, title, phone) in enumerate(SAMPLES):
        expected = search_text(head_name=name, parcel_code=parcel, title_number=title, phone=phone)
        assert stored[f"household-{k}"] == expected
    assert "\nsmc-003\n" in stored["household-2"], "Khmer digits read as 0-9"
    assert "\nnguyen thi duc\n" in stored["household-3"]


# Unknown query parameters -------------------------------------------------------------------------


def test_an_unknown_query_parameter_is_refused_not_ignored(client, admin, officer, finance, db_state):
    site = create_site(client, officer)
    create_household(client, officer, site["id"], idpoor_level=2)
    before = db_state()
    lists = [
        ("/v1/households", officer, {"idpor_level": "2"}),  # a typo that would list every family
        ("/v1/households", officer, {"site_id": site["id"], "name": "Sok", "sort": "name"}),
        ("/v1/loans", finance, {"household": "x"}),
        ("/v1/reports/portfolio", finance, {"as_of": "2026-06-30", "groupby": "site"}),
        ("/v1/lenders", admin, {"page": "2"}),
        (f"/v1/households/{site['id']}", officer, {"expand": "loans"}),
    ]
    for path, headers, params in lists:
        problem = assert_problem(
            client.get(path, headers=headers, params=params), 422, "UNKNOWN_QUERY_PARAMETER"
        )
        known = {"site_id", "as_of"}
        unknown = sorted(set(params) - known)
        assert [e["loc"] for e in problem["errors"]] == [["query", name] for name in unknown], problem
        assert all(name in problem["detail"] for name in unknown)

    # on a write too: nothing is recorded
    body = household_body(site["id"])
    response = client.post("/v1/households", headers=officer, json=body, params={"dry_run": "true"})
    assert_problem(response, 422, "UNKNOWN_QUERY_PARAMETER")
    assert db_state() == before


def test_known_parameters_of_dependencies_still_pass(client, officer, finance):
    # limit/offset come from the page dependency, as_of from the report date's: they are declared
    assert client.get("/v1/households", headers=officer, params={"limit": 1, "offset": 0}).status_code == 200
    report = client.get("/v1/reports/portfolio", headers=finance, params={"as_of": "2026-06-30"})
    assert report.status_code == 200, report.text
    assert client.get("/health").status_code == 200
    assert_problem(client.get("/health", params={"verbose": "1"}), 422, "UNKNOWN_QUERY_PARAMETER")
    # the documentation pages are not API routes
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
