"""The family's documents over the API: a loan's or a simulation's repayment schedule and key facts
statement as PDF, read back with pypdf. Every figure printed is the JSON endpoint's figure."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from loansvc.config import Settings
from loansvc.main import create_app
from tests.api.helpers import assert_problem, create_lender, create_product
from tests.api.lending import apply, approve, business_day, lending_world, named_key, release

D = Decimal
KHMER = re.compile(r"[\u1780-\u17ff]")
HOTLINE = "1288 (free)"
LABEL = '<img src="file:///etc/hostname"> Offer B'


def usd(value: str | Decimal) -> str:
    """Dollars as the documents print them: "$1,234.50" (the test's own formatting)."""
    return f"${Decimal(value):,.2f}"


def day(value: str) -> str:
    return date.fromisoformat(value).strftime("%-d %b %Y")


def shown(rate: str) -> str:
    """A rate as people see it: 2 decimals, half-even, then " %"."""
    return f"{Decimal(rate).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)} %"


def read_pdf(response, filename: str) -> tuple[PdfReader, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"\s+", " ", text)


def embedded_font_names(reader: PdfReader) -> set[str]:
    """The family names inside the font programs the PDF embeds (their `name` tables)."""
    names = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                program = descriptor.get("/FontFile2")
                if program is not None:
                    names.add(TTFont(io.BytesIO(program.get_object().get_data()))["name"].getDebugName(1))
    return names


@pytest.fixture()
def world(client, session, monkeypatch):
    """The lending world, and an 18 % product of its MFI with a 2 % upfront fee and a 5.00 late fee
    charged once an installment is more than 7 days late."""
    world = lending_world(client, session)
    world["product"] = create_product(
        client,
        world["admin"],
        world["mfi"]["id"],
        fees=[{"name": "Processing fee", "timing": "upfront", "percent": "2"}],
        late_fee="5",
        late_fee_after_days=7,
    )
    business_day(monkeypatch, date(2025, 4, 7))
    loan = apply(client, world["partner_1"], world["household"]["id"], world["product"]["id"], "3000", 24)
    business_day(monkeypatch, date(2025, 4, 10))
    # the fee takes the APR past the 18 % cap: the approval acknowledges it in writing
    world["loan"] = approve(
        client,
        world["partner_2"],
        loan["id"],
        acknowledge_apr_above_cap=True,
        note="fee agreed with the family",
    )
    return world


def test_a_disbursed_loans_schedule_pdf_prints_the_ledgers_installments_and_the_loans_apr(
    client, world, monkeypatch
):
    loan_id = world["loan"]["id"]
    business_day(monkeypatch, date(2025, 4, 15))
    release(client, world["partner_1"], loan_id, "3000", "foundation", date(2025, 4, 15))
    schedule = client.get(f"/v1/loans/{loan_id}/schedule", headers=world["partner_1"]).json()
    loan = client.get(f"/v1/loans/{loan_id}", headers=world["partner_1"]).json()
    # 3,000 at 18 %/12 = 1.5 % a month over 24: PMT = 3000 x 0.015 / (1 - 1.015^-24) = 149.772 -> 149.77;
    # the 2 % fee (60.00) is withheld from the disbursement, so no installment carries it
    assert schedule["installments"][0]["total"] == "149.77"
    assert D(schedule["fees"]["upfront"]) == D("60.00")

    response = client.get(
        f"/v1/loans/{loan_id}/schedule.pdf", headers=world["partner_1"], params={"lang": "en"}
    )
    _, text = read_pdf(response, f"loan-{loan_id}-schedule-en.pdf")
    for i in schedule["installments"]:
        row = " ".join(
            [str(i["number"]), day(i["due_date"])]
            + [usd(i[part]) for part in ("principal", "interest", "fees", "total", "balance")]
        )
        assert row in text, row
    # the loan's fee-inclusive APR (above the 18 % rate: the fee counts) and EIR, as the API shows them
    assert D(loan["apr_percent"]) > D("18")
    assert f"{loan['apr_percent']} %" in text
    assert "The APR, fees included, is above the legal cap of 18.00 % a year." in text
    assert f"{loan['eir_percent']} %" in text
    interest = sum(D(i["interest"]) for i in schedule["installments"])
    assert f"Total interest {usd(interest)}" in text
    assert f"Total fees {usd(schedule['fees']['total'])}" in text
    assert "Processing fee" not in text  # fee names belong to the key facts

    # a finance lead reads a loan's schedule on the JSON endpoint, so on the PDF too
    as_finance = client.get(f"/v1/loans/{loan_id}/schedule.pdf", headers=world["finance"])
    assert read_pdf(as_finance, f"loan-{loan_id}-schedule-km.pdf")  # Khmer unless told otherwise


def test_the_key_facts_before_signing_are_one_khmer_page_in_the_packaged_font(
    world, db, database_url, monkeypatch
):
    settings = Settings(database_url=database_url, complaints_hotline=HOTLINE, title_return_days=30)
    loan_id = world["loan"]["id"]
    business_day(monkeypatch, date(2025, 4, 10))
    with TestClient(create_app(settings, database=db)) as client:
        loan = client.get(f"/v1/loans/{loan_id}", headers=world["partner_1"]).json()
        empty = client.get(f"/v1/loans/{loan_id}/schedule", headers=world["partner_1"]).json()
        # the same offer simulated: the product's terms, the whole amount on the submission day
        offer = {"principal": "3000", "currency": "USD", "annual_rate_percent": "18", "term": 24}
        offer |= {"disbursement_date": "2025-04-07", "fees": [{"name": "fee", "percent": "2"}]}
        simulated = client.post("/v1/schedules/simulate", headers=world["officer_1"], json=offer).json()
        response = client.get(
            f"/v1/loans/{loan_id}/key-facts.pdf", headers=world["partner_1"], params={"lang": "km"}
        )
    assert empty["installments"] == []  # approved, not disbursed: the ledger has no schedule yet
    reader, text = read_pdf(response, f"loan-{loan_id}-key-facts-km.pdf")
    assert len(reader.pages) == 1
    assert len(KHMER.findall(text)) > 300
    assert "ប្រាក់កម្ចី" in text  # "loan", a word pypdf reads back whole
    assert embedded_font_names(reader) == {"Khmer OS"}
    # the projection the loan was priced on: 3,000 disbursed on 7 April, PMT 149.77 (see above)
    assert usd("149.77") in text
    assert shown(simulated["apr_percent"]) == f"{loan['apr_percent']} %"
    last = simulated["installments"][-1]["total"]  # the last installment clears the rounding
    assert last != "149.77" and usd(last) in text
    assert usd("3000") in text
    assert f"{loan['apr_percent']} %" in text and f"{loan['eir_percent']} %" in text
    assert "2.00 %" in text  # the upfront fee, as its terms state it
    assert usd("5") in text and " 7 " in text  # the late fee and its days of grace
    assert " 30 " in text  # the title comes back within 30 days
    assert HOTLINE in text


def test_a_simulation_answers_a_pdf_when_asked_and_json_otherwise(client, officer):
    # 1,000 at 12 %/year over 12 months: 1 % a month, PMT = 1000 x 0.01 / (1 - 1.01^-12) = 88.8488 -> 88.85;
    # no fee, so the APR is the rate, 12.00 %, and the EIR (1.01^12 - 1) = 12.68 %
    body = {"principal": "1000", "currency": "USD", "annual_rate_percent": "12", "term": 12}
    body["disbursement_date"] = "2026-01-05"
    as_json = client.post("/v1/schedules/simulate", headers=officer, json=body)
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    result = as_json.json()
    assert result["installment_amount"] == "88.85"
    prefers_json = {**officer, "Accept": "application/pdf;q=0.5, application/json"}
    assert client.post("/v1/schedules/simulate", headers=prefers_json, json=body).json() == result

    asked = {**officer, "Accept": "application/pdf"}
    response = client.post("/v1/schedules/simulate", headers=asked, json=body, params={"lang": "en"})
    _, text = read_pdf(response, "simulation-schedule-en.pdf")
    for i in result["installments"]:
        assert f"{i['number']} {day(i['due_date'])} {usd(i['principal'])} {usd(i['interest'])}" in text
        assert f"{usd(i['fees'])} {usd(i['total'])} {usd(i['balance'])}" in text
    assert shown(result["apr_percent"]) == "12.00 %" and "12.00 %" in text
    assert shown(result["eir_percent"]) == "12.68 %" and "12.68 %" in text
    assert "not an offer" in text


def test_a_simulated_offers_key_facts_warn_of_a_flat_rate(client, officer):
    # 2 % flat a month (24 % a year) on 1,000 over 12 months: interest 240 whatever is repaid, so its
    # APR is far above the 18 % cap (about 41.7 %, see the domain notes); a 10.00 fee comes upfront
    body = {"principal": "1000", "currency": "USD", "annual_rate_percent": "24", "term": 12}
    body |= {"interest_method": "flat", "disbursement_date": "2026-01-05", "label": LABEL}
    body["fees"] = [{"name": "File fee", "timing": "upfront", "amount": "10"}]
    result = client.post("/v1/schedules/simulate", headers=officer, json=body).json()
    assert {w["code"] for w in result["warnings"]} >= {"APR_ABOVE_CAP", "FLAT_RATE_PROHIBITED"}

    response = client.post("/v1/schedules/key-facts.pdf", headers=officer, json=body, params={"lang": "en"})
    reader, text = read_pdf(response, "simulation-key-facts-en.pdf")
    assert len(reader.pages) == 1
    assert shown(result["apr_percent"]) in text
    assert "Flat-rate interest is not allowed" in text
    assert "above the legal cap of 18.00 %" in text
    assert f"File fee: {usd('10')}" in text
    assert LABEL in text  # markup from a request is printed as text, and loads nothing
    assert "ask the loan officer before you sign" in text  # no lender's late-fee rule yet
    assert f"Total interest {usd(result['totals']['interest'])}" in text

    km = client.post("/v1/schedules/key-facts.pdf", headers=officer, json=body)
    reader, text = read_pdf(km, "simulation-key-facts-km.pdf")
    assert KHMER.search(text) and len(reader.pages) == 1


def test_another_lenders_partner_gets_404_on_the_pdfs_as_on_the_json(client, session, world):
    other = create_lender(client, world["admin"])
    stranger = named_key(session, "other MFI", "partner", lender_id=other["id"])
    loan_id = world["loan"]["id"]
    for path in ("schedule", "schedule.pdf", "key-facts.pdf"):
        hidden = assert_problem(
            client.get(f"/v1/loans/{loan_id}/{path}", headers=stranger), 404, "LOAN_NOT_FOUND"
        )
        assert world["mfi"]["name"] not in str(hidden)
    assert_problem(client.get("/v1/loans/no-such-loan/key-facts.pdf", headers=world["admin"]), 404)


def test_a_language_other_than_khmer_or_english_is_422(client, world, officer):
    loan_id = world["loan"]["id"]
    for path in ("schedule.pdf", "key-facts.pdf"):
        response = client.get(f"/v1/loans/{loan_id}/{path}", headers=officer, params={"lang": "fr"})
        problem = assert_problem(response, 422, "VALIDATION_ERROR")
        assert problem["errors"][0]["loc"] == ["query", "lang"]
    body = {"principal": "1000", "currency": "USD", "annual_rate_percent": "12", "term": 12}
    body["disbursement_date"] = "2026-01-05"
    pdf = {**officer, "Accept": "application/pdf"}
    assert_problem(client.post("/v1/schedules/simulate", headers=pdf, json=body, params={"lang": "th"}), 422)
    assert_problem(client.post("/v1/schedules/key-facts.pdf", headers=officer, json={}), 422)


def test_the_openapi_document_describes_the_pdfs(app):
    paths = app.openapi()["paths"]
    for path, method in (
        ("/v1/loans/{loan_id}/schedule.pdf", "get"),
        ("/v1/loans/{loan_id}/key-facts.pdf", "get"),
        ("/v1/schedules/key-facts.pdf", "post"),
    ):
        ok = paths[path][method]["responses"]["200"]["content"]
        assert ok == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}, path
        lang = next(p for p in paths[path][method]["parameters"] if p["name"] == "lang")
        assert lang["schema"]["enum"] == ["km", "en"] and lang["schema"]["default"] == "km"
    simulate = paths["/v1/schedules/simulate"]["post"]["responses"]["200"]["content"]
    assert set(simulate) == {"application/json", "application/pdf"}


def test_every_word_of_the_documents_has_its_khmer_translation():
    """The templates' messages (Babel's Jinja extraction) are the catalogs' messages, each
    translated into Khmer with the same placeholders; the English catalog is the source text."""
    from pathlib import Path

    from babel.messages.pofile import read_po
    from jinja2.ext import babel_extract

    from loansvc.documents.render import HERE
    from loansvc.documents.text import LOCALE_DIR

    used = set()
    for template in (HERE / "templates").glob("*.html"):
        with template.open("rb") as f:
            for _, _, message, _ in babel_extract(f, ["_"], [], {"extensions": "jinja2.ext.i18n"}):
                used.add(message[0] if isinstance(message, tuple) else message)
    catalogs = {}
    for lang in ("km", "en"):
        with Path(LOCALE_DIR / lang / "LC_MESSAGES" / "documents.po").open("rb") as po:
            catalogs[lang] = {m.id: m.string for m in read_po(po) if m.id}
    assert set(catalogs["km"]) == used == set(catalogs["en"])
    for message, khmer in catalogs["km"].items():
        assert KHMER.search(khmer), message
        placeholders = sorted(re.findall(r"%\(\w+\)s", message))
        assert sorted(re.findall(r"%\(\w+\)s", khmer)) == placeholders, message
