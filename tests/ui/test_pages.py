"""The pages in a real browser (headless Chromium) on a real server: what each kind of user sees,
and that the figures on a page are the API's own for the same question.

The programme is the package's world (tests/ui/conftest.py), read on 20 March 2026.
"""

from __future__ import annotations

from decimal import Decimal

import httpx

from tests.ui.conftest import sign_in


def _value(page, selector: str) -> str | None:
    return page.locator(selector).first.get_attribute("data-value")


def test_an_officer_finds_a_family_edits_an_income_and_checks_a_loan_in_english_and_khmer(
    page, server, world
):
    family = world["family_1"]
    sign_in(page, server, world["keys"]["officer"])
    assert page.url.endswith("/ui/households")

    # the family, found by its parcel code in the search field `q`
    page.fill("input[name=q]", family["parcel_code"])
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/ui/households?q=*")
    page.click(f"tr[data-household-id='{family['id']}'] a")
    page.wait_for_url(f"**/ui/households/{family['id']}")
    assert page.locator("h1 [data-field=parcel_code]").get_attribute("data-value") == family["parcel_code"]

    # the garment wage goes from 360 to 400 a month
    page.click("#finances-edit summary")
    page.fill("input[name='incomes[0].amount']", "400")
    page.click("#finances-edit button[type=submit]")
    page.wait_for_url(f"**/ui/households/{family['id']}#finances")
    assert page.locator("p.flash").is_visible()
    assert _value(page, "[data-field='incomes[0].amount']") == "400.00"
    recorded = server.api.get(f"/v1/households/{family['id']}", headers=world["headers"]["officer"]).json()
    assert [i["amount"] for i in recorded["incomes"]] == ["400.00", "240.00"]

    # the check on the recorded finances: income 400 + 240 = 640.00 a month
    page.click("a[href$='/affordability']")
    page.wait_for_url("**/affordability")
    assert _value(page, "#recorded [data-field=monthly_income]") == "640.00"
    page.select_option("select[name='loan.product_id']", world["product_a"]["id"])
    page.fill("input[name='loan.amount']", "1200")
    page.fill("input[name='loan.term']", "24")
    page.click("button[name=action][value=check]")
    page.wait_for_selector("#result [data-field=decision]")

    api = server.api.post(
        "/v1/affordability/assess",
        headers=world["headers"]["officer"],
        json={
            "household_id": family["id"],
            "currency": "USD",
            "loan": {"product_id": world["product_a"]["id"], "amount": "1200", "term": 24},
        },
    )
    assert api.status_code == 200, api.text
    expected = api.json()
    assert _value(page, "#result [data-field=decision]") == expected["decision"]
    assert _value(page, "#result [data-field=max_loan_amount]") == expected["max_loan_amount"]
    assert _value(page, "#result [data-field=loan_installment]") == expected["loan_installment"]
    codes = [r.get_attribute("data-value") for r in page.locator("#result [data-field='reasons.code']").all()]
    assert codes == [r["code"] for r in expected["reasons"]]
    # shown for people: USD with 2 decimals and a thousands separator
    shown = page.locator("#result [data-field=max_loan_amount]").inner_text()
    assert shown == f"${Decimal(expected['max_loan_amount']):,.2f}"

    # in Khmer: the page and the check's words, the figures the same
    page.click("a[hreflang=km]")
    page.wait_for_url("**/affordability")
    assert page.locator("html").get_attribute("lang") == "km"
    assert page.locator("h1").inner_text() == "ការពិនិត្យលទ្ធភាពសង"
    page.select_option("select[name='loan.product_id']", world["product_a"]["id"])
    page.fill("input[name='loan.amount']", "1200")
    page.fill("input[name='loan.term']", "24")
    page.click("button[name=action][value=check]")
    page.wait_for_selector("#result [data-field=decision]")
    decision = page.locator("#result [data-field=decision]")
    assert decision.get_attribute("data-value") == expected["decision"]
    khmer = {"eligible": "អាចខ្ចីបាន", "refer": "បញ្ជូនទៅពិនិត្យបន្ថែម", "ineligible": "មិនអាចខ្ចីបាន"}
    assert decision.inner_text() == khmer[expected["decision"]]
    assert page.locator("#result h2").inner_text() == "លទ្ធផល"


def test_a_partner_reaches_its_own_lenders_family_and_loan_only(page, server, world):
    sign_in(page, server, world["keys"]["partner_a"])
    own = page.goto(f"{server.url}/ui/households/{world['family_1']['id']}")
    assert own.status == 200
    loan = page.goto(f"{server.url}/ui/loans/{world['loan_a']['id']}")
    assert loan.status == 200
    assert page.locator("h1").is_visible()

    for path in (f"/ui/households/{world['family_2']['id']}", f"/ui/loans/{world['loan_b']['id']}"):
        other = page.goto(server.url + path)
        assert other.status == 404, path
        assert world["family_2"]["head_name"] not in page.content()
    listed = page.goto(f"{server.url}/ui/households?q={world['family_2']['parcel_code']}")
    assert listed.status == 200
    assert page.locator(f"tr[data-household-id='{world['family_2']['id']}']").count() == 0


def test_a_finance_lead_sees_the_apis_par30_no_names_or_phones_and_no_household_page(page, server, world):
    sign_in(page, server, world["keys"]["finance"])
    assert page.url.endswith("/ui/dashboard")
    report = server.api.get("/v1/reports/portfolio", headers=world["headers"]["finance"])
    assert report.status_code == 200, report.text
    usd = next(t for t in report.json()["totals"] if t["currency"] == "USD")
    # family 1's loan is 43 days late (PAR30), family 2's is current: 0 < PAR30 < 100
    assert 0 < Decimal(usd["par30_percent"]) < 100
    for field in (
        "par30_percent",
        "par1_percent",
        "par90_percent",
        "gross_loan_portfolio",
        "collection_rate_percent",
    ):
        assert _value(page, f"#figures [data-field={field}]") == usd[field], field
    assert page.locator("#figures [data-field=par30_percent]").inner_text() == f"{usd['par30_percent']}%"
    for chart in page.locator("img[src^='/ui/dashboard/']").all():
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0")

    people = [world[f]["head_name"] for f in ("family_1", "family_2")] + [
        world[f]["phone"] for f in ("family_1", "family_2")
    ]
    for path in (
        "/ui/dashboard",
        f"/ui/loans/{world['loan_a']['id']}",
        f"/ui/loans/{world['loan_b']['id']}",
        "/ui/simulate",
        "/ui/dashboard?group_by=site",
    ):
        response = page.goto(server.url + path)
        assert response.status == 200, path
        html = page.content()
        assert not [p for p in people if p in html], path
        assert "tel:" not in html
    for path in (
        f"/ui/households/{world['family_1']['id']}",
        "/ui/households",
        f"/ui/households/{world['family_1']['id']}/affordability",
        "/ui/visits",
    ):
        assert page.goto(server.url + path).status == 404, path


def _token(response: httpx.Response) -> str:
    """The CSRF token in a page's forms."""
    return response.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _signed_in_client(server, key: str) -> tuple[httpx.Client, str]:
    """A client holding a signed-in session, and the session's CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=60)
    done = client.post("/ui/login", data={"csrf_token": _token(client.get("/ui/login")), "api_key": key})
    assert done.status_code == 303, done.text
    return client, _token(client.get("/ui/households"))


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(server, world):
    family = world["family_2"]
    client, token = _signed_in_client(server, world["keys"]["officer"])
    before = server.api.get(f"/v1/households/{family['id']}", headers=world["headers"]["officer"]).json()
    form = {"incomes[0].source": "garment wage", "incomes[0].amount": "999"}
    try:
        for sent in ({}, {"csrf_token": "not-the-token"}):
            refused = client.post(f"/ui/households/{family['id']}/finances", data={**form, **sent})
            assert refused.status_code == 403
            assert 'data-value="CSRF_TOKEN_MISSING"' in refused.text
        # the login form too
        assert client.post("/ui/login", data={"api_key": world["keys"]["officer"]}).status_code == 403
        after = server.api.get(f"/v1/households/{family['id']}", headers=world["headers"]["officer"]).json()
        assert after["incomes"] == before["incomes"]
        assert after["updated_at"] == before["updated_at"]
        # with the token, the same form is accepted
        accepted = client.post(f"/ui/households/{family['id']}/finances", data={**form, "csrf_token": token})
        assert accepted.status_code == 303
    finally:
        client.close()
    changed = server.api.get(f"/v1/households/{family['id']}", headers=world["headers"]["officer"]).json()
    assert [i["amount"] for i in changed["incomes"]] == ["999.00"]


def test_a_page_without_a_session_goes_to_the_login_and_back(server, world):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        path = f"/ui/households/{world['family_1']['id']}"
        first = client.get(path)
        assert first.status_code == 303
        assert first.headers["location"] == f"/ui/login?next={path}"
        assert client.get("/ui/dashboard").headers["location"] == "/ui/login?next=/ui/dashboard"
        token = _token(client.get(first.headers["location"]))
        back = client.post(
            "/ui/login", data={"csrf_token": token, "api_key": world["keys"]["officer"], "next": path}
        )
        assert back.status_code == 303 and back.headers["location"] == path
        cookie = back.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert client.get(path).status_code == 200
        # signing out ends the session
        assert client.get("/ui/logout").status_code == 303
        assert client.get(path).status_code == 303
        # a wrong key: the login again, 401
        wrong = client.post(
            "/ui/login", data={"csrf_token": _token(client.get("/ui/login")), "api_key": "lsk_x"}
        )
        assert wrong.status_code == 401
        assert 'data-value="UNAUTHORIZED"' in wrong.text


def test_the_loan_and_simulation_documents_download_from_the_pages(server, world):
    client, token = _signed_in_client(server, world["keys"]["partner_a"])
    try:
        for path in (
            f"/ui/loans/{world['loan_a']['id']}/schedule.pdf?lang=km",
            f"/ui/loans/{world['loan_a']['id']}/key-facts.pdf?lang=en",
        ):
            pdf = client.get(path)
            assert pdf.status_code == 200, path
            assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        assert client.get(f"/ui/loans/{world['loan_b']['id']}/schedule.pdf").status_code == 404
        offer = {
            "principal": "1000",
            "currency": "USD",
            "annual_rate_percent": "18",
            "term": "12",
            "disbursement_date": "2026-03-20",
        }
        pdf = client.post("/ui/simulate/schedule.pdf", data={**offer, "csrf_token": token})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert client.post("/ui/simulate/key-facts.pdf", data=offer).status_code == 403  # no token
    finally:
        client.close()
