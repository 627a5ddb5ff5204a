"""Financing plans, worked by hand: how a family pays for a house design with its own money, a
partner loan, a materials-bank loan in kind, a grant, and what is left. The plan takes the credit
that leaves the least unpaid and, at that, costs the family least (interest and fees): here the
materials bank's 0 % loan before the partner's 18 % one.

Figures used below (18 % a year is 1.5 % a month):
  annuity factor over 48 months: 0.015 / (1 - 1.015^-48) = 0.02937499961
  a schedule's installments are rounded half-even to the minor unit and the last one clears the
  balance; the last installments quoted here were worked period by period (interest = balance x
  1.5 % rounded half-even, principal = level - interest), independently of the engine:
    2,000 USD over 48 months: level 2000 x 0.029375 = 58.75; the balance before the last is
      57.92, its interest 0.87, so the last installment is 58.79 (the largest); interest 820.04
    2,000,000 KHR over 48 months: level 58,750; last 57,884 + 868 = 58,752
    1,020.41 USD over 48 months: level 29.97; last 29.84 + 0.45 = 30.29
    1,200 USD over 48 months: level 35.25, last 34.76 + 0.52 = 35.28; interest 47 x 35.25 + 35.28
      - 1,200 = 492.03
    679 USD over 48 months: level 679 x 0.029375 = 19.95; last 19.35 + 0.29 = 19.64; interest
      47 x 19.95 + 19.64 - 679 = 278.29. 680: level 19.97, but last 20.01 + 0.30 = 20.31
    250 USD over 48 months: level 7.34, last 7.46 + 0.11 = 7.57; interest 47 x 7.34 + 7.57 - 250
      = 102.55. 1,000 USD: level 29.37, last 29.26 + 0.44 = 29.70; interest 410.09
  a loan's cost of credit is its interest plus its fees (none unless said).
  at 0 %, P over 36 months: level P / 36 rounded; last = P - 35 x level.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from loansvc.domain.affordability import AssessmentInput, CashLine, DebtLine, LoanRequest, Policy
from loansvc.domain.errors import InvalidInput
from loansvc.domain.financing import HouseCost, LoanProduct, PlanRequest, plan
from loansvc.domain.schedule import Fee

D = Decimal
AS_OF = date(2026, 3, 2)

# The core house: 1,800 of materials and 700 of labour.
CORE_HOUSE = HouseCost(total=D("2500.00"), materials=D("1800.00"), labour=D("700.00"))


def family(income: str, expenses: str, currency: str = "USD", idpoor: int = 0, debts=()) -> AssessmentInput:
    return AssessmentInput(
        currency=currency,
        household_size=4,
        idpoor_level=idpoor,
        incomes=(CashLine("garment wages", D(income), "monthly", "USD"),),
        expenses=(CashLine("food and utilities", D(expenses), "monthly", "USD"),),
        existing_debts=tuple(debts),
        loan=None,
        as_of=AS_OF,
    )


def mfi_loan(max_amount="5000", term=48, fees=(), min_amount="250") -> LoanProduct:
    """The partner MFI's home loan: 18 % a year, declining balance, monthly."""
    return LoanProduct(
        "mfi-home", LoanRequest(None, D("18"), term, "monthly", fees=fees), D(min_amount), D(max_amount)
    )


def materials_loan(max_amount="2000", min_amount="100") -> LoanProduct:
    """The materials bank's in-kind loan: 0 %, over 36 months."""
    return LoanProduct(
        "bank-materials", LoanRequest(None, D("0"), 36, "monthly"), D(min_amount), D(max_amount)
    )


def request(household, **kw) -> PlanRequest:
    kw.setdefault("cost", CORE_HOUSE)
    kw.setdefault("partner", mfi_loan())
    kw.setdefault("materials", materials_loan())
    kw.setdefault("grant_cap_usd", D("1000"))
    return PlanRequest(household=household, **kw)


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


def test_a_two_earner_family_with_savings_borrows_its_materials_at_0_percent():
    # income 600, expenses 180: surplus 420; capacity min(70 % x 420 = 294, 50 % x 600 = 300) = 294.00
    # the house costs 2,500, the family puts in 1,300, which pays the 700 of labour and 600 of the
    # materials: 1,200 to borrow, all of it materials
    #   materials bank first: 1,200 in kind at 0 %, level 1200 / 36 = 33.33, last 1200 - 35 x 33.33
    #     = 33.45; interest 0, nothing left unpaid
    #   partner first: 1,200 at 18 %, interest 492.03 (see the header), nothing left unpaid
    # both pay the whole house, so the cheaper wins: the materials loan alone, 492.03 less
    result = plan(request(family("600", "180"), contribution=D("1300")))
    assert result.partner_loan is None
    loan = result.materials_loan
    assert (loan.product_id, loan.amount, loan.installment_amount, loan.monthly_installment) == (
        "bank-materials",
        D("1200.00"),
        D("33.33"),
        D("33.45"),
    )
    assert (loan.total_interest, loan.total_fees, loan.cost_of_credit) == (D("0.00"), D("0.00"), D("0.00"))
    assert result.credit_order == ("materials_loan",)
    assert (result.total_interest, result.total_fees, result.total_cost_of_credit) == (
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )
    assert (result.grant, result.funding_gap) == (D("0.00"), D("0.00"))
    assert "USD 0.00 in interest and fees" in result.explanation
    assert "against USD 492.03 for a partner loan of USD 1,200.00" in result.explanation
    # DSTI after: 33.45 / 600 = 5.575 -> 5.58 %; stress: 480 - 180 - 33.45 = 266.55 >= 0
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("33.45"), D("5.58"))
    assert (result.decision, codes(result)) == ("eligible", [])


def test_without_a_materials_bank_the_family_borrows_from_the_partner():
    # the same family where no materials bank lends in its currency
    # largest loan over 48 months: 294 / 0.0293750 = 10008.5; 10,008 has level 293.98 but last
    #   294.31; 10,007 has level 293.96 and last 293.64: the largest that fits is 10,007
    # 1,200 over 48 months: level 1200 x 0.0293750 = 35.25, last 35.28, interest 492.03
    result = plan(request(family("600", "180"), contribution=D("1300"), materials=None))
    assert (result.max_installment, result.max_loan_amount) == (D("294.00"), D("10007.00"))
    loan = result.partner_loan
    assert (loan.amount, loan.term, loan.finances, loan.installment_amount, loan.monthly_installment) == (
        D("1200.00"),
        48,
        D("1200.00"),
        D("35.25"),
        D("35.28"),
    )
    assert (loan.total_interest, loan.cost_of_credit) == (D("492.03"), D("492.03"))
    assert result.materials_loan is None
    assert (result.credit_order, result.total_cost_of_credit) == (("partner_loan",), D("492.03"))
    assert (result.grant, result.funding_gap) == (D("0.00"), D("0.00"))
    # DSTI after: 35.28 / 600 = 5.88 %
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("35.28"), D("5.88"))
    # stress: 480 - 180 - 35.28 = 264.72 >= 0, DSTI 7.35 %: nothing fires
    assert (result.decision, codes(result)) == ("eligible", [])


def test_cheapest_credit_first_the_order_matters():
    # The worked example. The core house costs 2,500: 1,800 of materials and 700 of labour; the
    # family saves nothing. Income 300, expenses 200: surplus 100; capacity min(70, 150) = 70.00.
    # The MFI lends up to 2,000 at 18 % over 48 months; the bank up to 2,000 at 0 % over 36.
    # Partner first (the plan before issue 10):
    #   partner: 2,000 (the product's maximum; the largest fitting is 2,375), largest installment
    #     58.79; capacity left 70.00 - 58.79 = 11.21
    #   materials: cash paid the 700 of labour, so 500 of materials is unpaid; 402 is the largest
    #     0 % loan within 11.21 (level 11.17, last 11.05; 403's last is 11.35, 404's level 11.22)
    #   unpaid 2,500 - 2,000 - 402 = 98; cost 820.04 + 0 = 820.04
    # Materials first:
    #   materials: all 1,800 of materials (within the bank's 2,000): 1800 / 36 = 50.00 a month,
    #     every installment the same; capacity left 70.00 - 50.00 = 20.00
    #   partner: 700 unpaid, but 679 is the largest within 20.00 (level 19.95, last 19.64; 680's
    #     last is 20.31); unpaid 2,500 - 1,800 - 679 = 21; cost 0 + 278.29 = 278.29
    # Materials first leaves 98 - 21 = 77 less unpaid and costs 820.04 - 278.29 = 541.75 less.
    result = plan(request(family("300", "200"), partner=mfi_loan(max_amount="2000")))
    assert result.credit_order == ("materials_loan", "partner_loan")
    materials, partner = result.materials_loan, result.partner_loan
    assert (materials.amount, materials.installment_amount, materials.monthly_installment) == (
        D("1800.00"),
        D("50.00"),
        D("50.00"),
    )
    assert (materials.total_interest, materials.cost_of_credit) == (D("0.00"), D("0.00"))
    assert (partner.amount, partner.installment_amount, partner.monthly_installment) == (
        D("679.00"),
        D("19.95"),
        D("19.95"),
    )
    assert (partner.total_interest, partner.total_fees, partner.cost_of_credit) == (
        D("278.29"),
        D("0.00"),
        D("278.29"),
    )
    assert (result.total_interest, result.total_fees, result.total_cost_of_credit) == (
        D("278.29"),
        D("0.00"),
        D("278.29"),
    )
    # not ID Poor and no vulnerability: no grant, 21 unpaid
    assert (result.grant, result.funding_gap) == (D("0.00"), D("21.00"))
    # the sentence names the order, the cost, and the plan it beat
    assert result.explanation.startswith("The materials bank's loan of USD 1,800.00 at 0.00 % APR pays")
    assert "first and the partner loan of USD 679.00 at 18.00 % APR the rest" in result.explanation
    assert "costing the family USD 278.29 in interest and fees" in result.explanation
    assert (
        "against USD 820.04 for a partner loan of USD 2,000.00 and a materials loan of USD 402.00, "
        "which would leave USD 77.00 more unpaid."
    ) in result.explanation
    # after: 50.00 + 19.95 = 69.95, DSTI 69.95 / 300 = 23.32 %; income down 20 %: 240 - 200 - 69.95
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("69.95"), D("23.32"))
    assert (result.decision, codes(result)) == ("refer", ["STRESS_FAILS", "FUNDING_GAP"])
    assert "USD 21.00" in result.reasons[-1].message


def test_the_0_percent_loan_gives_way_only_as_far_as_the_partners_minimum_needs():
    # a 1,500 house (800 materials, 700 labour); the family saves 500 (the labour's first 500):
    # 1,000 to borrow. Materials first: 800 in kind, then 200 left, below the MFI's 250 minimum.
    # The plan lends 50 less in kind so the MFI can lend its minimum: 750 + 250 = 1,000.
    #   750 at 0 %: level 20.83, last 750 - 35 x 20.83 = 20.95; 250 at 18 %: interest 102.55
    # against the partner alone for the whole 1,000: interest 410.09 (see the header)
    house = HouseCost(total=D("1500.00"), materials=D("800.00"), labour=D("700.00"))
    result = plan(request(family("600", "180"), cost=house, contribution=D("500")))
    assert (result.materials_loan.amount, result.partner_loan.amount) == (D("750.00"), D("250.00"))
    assert (result.materials_loan.monthly_installment, result.partner_loan.monthly_installment) == (
        D("20.95"),
        D("7.57"),
    )
    assert (result.total_cost_of_credit, result.funding_gap) == (D("102.55"), D("0.00"))
    assert "against USD 410.09 for a partner loan of USD 1,000.00" in result.explanation


def test_an_idpoor_family_gets_a_materials_loan_a_partner_loan_and_a_grant():
    # the worked example's family (see above), ID Poor: the 21 that the credit leaves is granted,
    # within the 1,000 cap of an ID Poor household: no gap
    result = plan(request(family("300", "200", idpoor=2), partner=mfi_loan(max_amount="2000")))
    partner, materials = result.partner_loan, result.materials_loan
    assert (materials.product_id, materials.amount, materials.term, materials.monthly_installment) == (
        "bank-materials",
        D("1800.00"),
        36,
        D("50.00"),
    )
    assert (partner.amount, partner.installment_amount, partner.monthly_installment) == (
        D("679.00"),
        D("19.95"),
        D("19.95"),
    )
    assert (partner.total_interest, partner.installments, partner.term) == (D("278.29"), 48, 48)
    assert (result.grant, result.funding_gap) == (D("21.00"), D("0.00"))
    # debt service after: 50.00 + 19.95 = 69.95; DSTI 69.95 / 300 = 23.32 %
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("69.95"), D("23.32"))
    # refer: IDPoor; and with income down 20 % (240): 240 - 200 - 50.00 - 19.95 = -29.95
    assert (result.decision, codes(result)) == ("refer", ["IDPOOR_REVIEW", "STRESS_FAILS"])
    assert [(s.scenario, s.surplus_after_loan, s.dsti_after_percent) for s in result.stress] == [
        ("income_minus_20pct", D("-29.95"), D("29.15"))  # 69.95 / 240 = 29.146 -> 29.15 %
    ]


def test_without_idpoor_or_vulnerability_there_is_no_grant_and_the_gap_is_said():
    # the same family, not ID Poor and with no vulnerability: the 21 stays unpaid
    result = plan(request(family("300", "200"), partner=mfi_loan(max_amount="2000")))
    assert (result.grant, result.funding_gap) == (D("0.00"), D("21.00"))
    assert (result.decision, codes(result)) == ("refer", ["STRESS_FAILS", "FUNDING_GAP"])
    assert "USD 21.00" in result.reasons[-1].message


def test_a_vulnerable_household_gets_the_grant_up_to_the_cap():
    # a widow's household with no surplus (income 250, expenses 260): capacity 0, no loan at all
    # grant: min(2,500 unpaid, cap 1,000) = 1,000; gap 1,500
    result = plan(request(family("250", "260"), vulnerabilities=("female_headed",)))
    assert (result.partner_loan, result.materials_loan) == (None, None)
    assert (result.grant, result.funding_gap) == (D("1000.00"), D("1500.00"))
    # the policy calls the household ineligible (surplus -10); stress fails too (200 - 260 < 0)
    assert (result.decision, codes(result)) == ("ineligible", ["NO_SURPLUS", "STRESS_FAILS", "FUNDING_GAP"])
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("0.00"), D("0.00"))


def test_the_partner_loan_is_capped_by_the_largest_affordable_loan():
    # capacity 70.00 (income 300, expenses 200); 18 % over 48 months, 5,000 allowed by the product:
    # 70 / 0.0293750 = 2383.0; 2,383 has level 70.00 but last 70.04, and every amount from 2,376
    # (level 69.79, last 70.09) to 2,382 (69.97, 70.08) has a last installment above 70.00;
    # 2,375: level 69.77, last 69.45. So the largest loan is 2,375 and, with no materials bank,
    # the partner loan takes it (interest 973.64, worked period by period)
    result = plan(request(family("300", "200"), materials=None))
    assert result.max_loan_amount == D("2375.00")
    assert result.partner_loan.amount == D("2375.00")
    assert result.partner_loan.monthly_installment == D("69.77")
    assert result.total_cost_of_credit == D("973.64")
    assert result.materials_loan is None
    # 2,500 - 2,375 = 125 unpaid, and no grant for this household
    assert (result.grant, result.funding_gap) == (D("0.00"), D("125.00"))


def test_a_loan_below_the_products_minimum_is_not_proposed():
    # the family contributes 2,400 of 2,500: 100 to borrow, below the MFI's minimum of 250;
    # the materials bank lends the 100 of materials in kind instead (its minimum is 100)
    # 100 / 36 = 2.78; last 100 - 35 x 2.78 = 2.70
    result = plan(request(family("600", "180"), contribution=D("2400")))
    assert result.partner_loan is None
    assert (result.materials_loan.amount, result.materials_loan.monthly_installment) == (
        D("100.00"),
        D("2.78"),
    )
    assert result.funding_gap == D("0.00")


def test_upfront_fees_are_borrowed_too_so_the_loan_pays_what_is_needed():
    # a 2 % administration fee withheld at disbursement; 1,000 to finance (1,500 house, 500 saved)
    # amount a with a - round(2 % of a) >= 1,000: 1,020.40 -> fee 20.408 -> 20.41, net 999.99: short;
    # 1,020.41 -> fee 20.4082 -> 20.41, net 1,000.00: the smallest that pays for the house
    house = HouseCost(total=D("1500.00"), materials=D("800.00"), labour=D("700.00"))
    fee = Fee("administration", "upfront", percent=D("2"))
    result = plan(
        request(
            family("600", "180"),
            cost=house,
            contribution=D("500"),
            partner=mfi_loan(fees=(fee,)),
            materials=None,
        )
    )
    loan = result.partner_loan
    assert (loan.amount, loan.upfront_fees, loan.finances) == (D("1020.41"), D("20.41"), D("1000.00"))
    # the fee is a cost of credit beside the interest
    assert (loan.total_fees, loan.cost_of_credit) == (D("20.41"), loan.total_interest + D("20.41"))
    assert (result.total_fees, result.total_cost_of_credit) == (D("20.41"), loan.cost_of_credit)
    # level 29.97, last 30.29 (see the header); the fee lifts the APR above the 18 % nominal rate
    assert (loan.installment_amount, loan.monthly_installment) == (D("29.97"), D("30.29"))
    assert loan.apr_percent > D("18")
    assert (result.materials_loan, result.funding_gap) == (None, D("0.00"))


def test_a_plan_never_proposes_a_loan_the_policy_calls_ineligible():
    # a strict policy: DSTI at most 20 %. Both loans, either order (materials 50.00 + partner 19.95,
    # or partner 58.79 + materials 11.17), take about 70 of 300: 23.32 % > 20, ineligible. Alone:
    # the partner's 2,000 (58.79 / 300 = 19.60 %) or the bank's 1,800 (50.00 / 300 = 16.67 %) fit;
    # the partner loan pays 200 more of the house, so the plan keeps it; the ID Poor grant covers
    # the 500 of materials, up to its 1,000 cap
    strict = Policy(version="strict-dsti-20", max_dsti_percent=D("20"))
    result = plan(request(family("300", "200", idpoor=1), partner=mfi_loan(max_amount="2000")), strict)
    assert result.policy_version == "strict-dsti-20"
    assert (result.partner_loan.amount, result.materials_loan) == (D("2000.00"), None)
    assert (result.grant, result.funding_gap) == (D("500.00"), D("0.00"))
    assert result.dsti_after_percent == D("19.60")
    # stress: 240 - 200 - 58.79 < 0 and 58.79 / 240 = 24.50 % > 20: fails
    assert (result.decision, codes(result)) == ("refer", ["IDPOOR_REVIEW", "STRESS_FAILS", "PLAN_REDUCED"])
    assert "DSTI_ABOVE_MAX" in result.reasons[-1].message
    assert "against USD 0.00 for a materials loan of USD 1,800.00, which would leave USD 200.00" in (
        result.explanation
    )


def test_existing_debts_count_before_and_after():
    # income 600, expenses 180, 45 a month to an MFI outside the programme:
    # surplus 375; capacity min(262.50, 300 - 45 = 255) = 255.00
    debt = DebtLine("MFI X", D("45"), "monthly", D("800"))
    # the 1,200 to borrow is materials: the bank's 0 % loan, 33.45 at most a month (see above)
    result = plan(request(family("600", "180", debts=(debt,)), contribution=D("1300")))
    assert (result.monthly_debt_service_before, result.max_installment) == (D("45.00"), D("255.00"))
    assert result.monthly_debt_service_after == D("45.00") + D("33.45")


def test_a_riel_plan_converts_the_grant_cap_at_the_policy_rate():
    # incomes in dollars, the house in riel (4,100 KHR per USD):
    #   income 300 USD = 1,230,000 KHR; expenses 200 USD = 820,000; surplus 410,000
    #   capacity min(70 % x 410,000 = 287,000, 50 % x 1,230,000 = 615,000) = 287,000
    # the house: 8,000,000 of materials and 2,000,000 of labour
    # partner loan: the product's maximum, 2,000,000 (level 58,750, last 58,752: see the header)
    # materials: 8,000,000 unpaid of materials; the bank lends at most 2,000,000 (over 36 months,
    #   level 55,556, last 2,000,000 - 35 x 55,556 = 55,540), within 287,000 - 58,752 = 228,248
    # grant: ID Poor level 1, cap 1,000 USD x 4,100 = 4,100,000; gap 6,000,000 - 4,100,000 = 1,900,000
    house = HouseCost(total=D("10000000"), materials=D("8000000"), labour=D("2000000"))
    partner = LoanProduct("mfi-riel", LoanRequest(None, D("18"), 48, "monthly"), D("1000000"), D("2000000"))
    bank = LoanProduct("bank-riel", LoanRequest(None, D("0"), 36, "monthly"), D("100000"), D("2000000"))
    result = plan(
        request(family("300", "200", currency="KHR", idpoor=1), cost=house, partner=partner, materials=bank)
    )
    assert (result.monthly_income, result.max_installment) == (D("1230000"), D("287000"))
    assert (result.partner_loan.amount, result.partner_loan.monthly_installment) == (D("2000000"), D("58752"))
    assert (result.materials_loan.amount, result.materials_loan.monthly_installment) == (
        D("2000000"),
        D("55556"),
    )
    assert (result.grant, result.funding_gap) == (D("4100000"), D("1900000"))
    # debt service after: 58,752 + 55,556 = 114,308; DSTI 114,308 / 1,230,000 = 9.29 %
    assert (result.monthly_debt_service_after, result.dsti_after_percent) == (D("114308"), D("9.29"))
    # stress, income x 0.8: 984,000 - 820,000 - 114,308 = 49,692 >= 0 (DSTI 11.62 %): passes;
    # FX stress: dollar income worth 10 % less in riel: 1,107,000 - 820,000 - 114,308 = 172,692: passes
    assert [(s.scenario, s.passes) for s in result.stress] == [
        ("income_minus_20pct", True),
        ("fx_10pct_adverse", True),
    ]
    assert (result.decision, codes(result)) == ("refer", ["IDPOOR_REVIEW", "FUNDING_GAP"])


def test_a_contribution_covering_the_house_needs_no_loan():
    result = plan(request(family("600", "180"), contribution=D("2500")))
    assert (result.partner_loan, result.materials_loan, result.grant, result.funding_gap) == (
        None,
        None,
        D("0.00"),
        D("0.00"),
    )
    assert (result.decision, result.dsti_after_percent) == ("eligible", D("0.00"))
    assert (result.credit_order, result.total_cost_of_credit) == ((), D("0.00"))
    assert result.explanation == (
        "The household's contribution pays for the whole house, so the plan needs no credit."
    )


@pytest.mark.parametrize(
    ("contribution", "code"),
    [(D("-1"), "INVALID_AMOUNT"), (D("10.005"), "INVALID_AMOUNT"), (D("2500.01"), "CONTRIBUTION_ABOVE_COST")],
)
def test_a_bad_contribution_names_the_field(contribution, code):
    with pytest.raises(InvalidInput) as caught:
        plan(request(family("600", "180"), contribution=contribution))
    assert (caught.value.code, caught.value.field) == (code, "household_contribution")


def test_the_plan_serialises_to_json_friendly_values():
    result = plan(request(family("300", "200", idpoor=2), partner=mfi_loan(max_amount="2000")))
    out = result.to_dict()
    assert out["cost"] == {"total": "2500.00", "materials": "1800.00", "labour": "700.00"}
    assert out["partner_loan"]["first_due_date"] == "2026-04-02"
    assert out["grant"] == "21.00"
    assert out["credit_order"] == ["materials_loan", "partner_loan"]
    assert (out["total_cost_of_credit"], out["partner_loan"]["cost_of_credit"]) == ("278.29", "278.29")
    assert isinstance(out["explanation"], str)
