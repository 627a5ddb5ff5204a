"""Words the pages show for the API's codes: enum labels, decisions, and the affordability reasons
and simulation warnings in two versions, the officer's and the family's plain words.

The codes come from the engines (loansvc.domain.affordability, loansvc.domain.schedule); this
module only says them in words. Every text is an English gettext id (marked with `N_` so the
catalog check finds it); the Khmer is in loansvc/i18n/locale/km.
"""

from __future__ import annotations

from typing import Any

from loansvc.i18n import translations


def N_(text: str) -> str:
    """Mark a text for the catalog; it is translated where it is shown."""
    return text


ROLES = {
    "admin": N_("Administrator"),
    "loan_officer": N_("Loan officer"),
    "finance_lead": N_("Finance lead"),
    "partner": N_("Partner lender"),
}

LABELS: dict[str, dict[str, str]] = {
    "role": ROLES,
    "loan_status": {
        "submitted": N_("Submitted"),
        "approved": N_("Approved"),
        "rejected": N_("Rejected"),
        "withdrawn": N_("Withdrawn"),
        "active": N_("Active"),
        "closed": N_("Closed"),
        "written_off": N_("Written off"),
    },
    "installment_status": {
        "paid": N_("Paid"),
        "overdue": N_("Overdue"),
        "due": N_("Due today"),
        "partly_paid": N_("Partly paid"),
        "upcoming": N_("Upcoming"),
    },
    "stage_status": {
        "not_started": N_("Not started"),
        "funded": N_("Funded, waiting for inspection"),
        "inspected_passed": N_("Inspection passed"),
        "inspected_failed": N_("Inspection failed"),
    },
    "milestone": {
        "foundation": N_("Foundation"),
        "structure": N_("Structure"),
        "roof": N_("Roof"),
        "finishing": N_("Finishing"),
    },
    "frequency": {
        "daily": N_("daily"),
        "weekly": N_("weekly"),
        "biweekly": N_("every 2 weeks"),
        "every_4_weeks": N_("every 4 weeks"),
        "monthly": N_("monthly"),
        "quarterly": N_("quarterly"),
        "yearly": N_("yearly"),
    },
    "vulnerability": {
        "female_headed": N_("Woman head of household"),
        "elderly_head": N_("Elderly head of household"),
        "disability": N_("Disability"),
        "chronic_illness": N_("Chronic illness"),
    },
    "consent_method": {
        "signed_form": N_("Signed form"),
        "thumbprint": N_("Thumbprint"),
        "verbal_witnessed": N_("Verbal, witnessed"),
    },
    "decision": {
        "eligible": N_("Eligible"),
        "refer": N_("Refer for review"),
        "ineligible": N_("Ineligible"),
    },
    "family_decision": {
        "eligible": N_("This loan fits your family's budget."),
        "refer": N_("This loan may fit, but it needs a closer look with the loan officer."),
        "ineligible": N_("This loan does not fit your family's budget now."),
    },
    "interest_method": {
        "declining_balance": N_("Declining balance"),
        "flat": N_("Flat (not allowed for lending)"),
    },
    "amortization": {
        "equal_installments": N_("Equal installments"),
        "equal_principal": N_("Equal principal"),
    },
    "fee_timing": {"upfront": N_("Upfront"), "per_installment": N_("With each installment")},
    "disbursement_kind": {"cash": N_("Cash"), "materials": N_("Materials")},
    "bucket": {
        "current": N_("Current"),
        "1-30": N_("1–30 days"),
        "31-60": N_("31–60 days"),
        "61-90": N_("61–90 days"),
        "91-180": N_("91–180 days"),
        "181-365": N_("181–365 days"),
        "365+": N_("Over 365 days"),
    },
    "loan_class": {
        "normal": N_("Normal"),
        "special_mention": N_("Special mention"),
        "substandard": N_("Substandard"),
        "doubtful": N_("Doubtful"),
        "loss": N_("Loss"),
    },
    "group_by": {
        "lender": N_("By lender"),
        "site": N_("By site"),
        "product": N_("By product"),
        "currency": N_("By currency"),
    },
    "repayment_kind": {"repayment": N_("Repayment"), "recovery": N_("Recovery")},
}

# The officer's version in Khmer (in English the page shows the engine's own message, the API's).
OFFICER_REASONS = {
    "INCOME_NOT_POSITIVE": N_(
        "The household's income comes to {income} a month: nothing to repay a loan from."
    ),
    "NO_SURPLUS": N_(
        "Income {income}, expenses {expenses} and existing debt payments {debt} a month leave {surplus}: "
        "nothing to repay a loan from."
    ),
    "DSTI_ABOVE_MAX": N_("Debt payments would take {dsti} of income; the policy allows at most {max_dsti}."),
    "INSTALLMENT_EXCEEDS_SURPLUS": N_(
        "The installment of {installment} a month is more than the {surplus} left each month."
    ),
    "INSTALLMENT_ABOVE_CAPACITY": N_(
        "The installment of {installment} a month is above the {max_installment} the household can safely "
        "pay. The largest loan on these terms that fits: {max_loan}."
    ),
    "IDPOOR_REVIEW": N_(
        "ID Poor household: the code of conduct asks for a thorough check of repayment capacity; a loan "
        "officer must review the loan."
    ),
    "TOO_MANY_LENDERS": N_(
        "The household already has loans with several lenders; the policy refers every household with "
        "{max_lenders} or more."
    ),
    "STRESS_FAILS": N_(
        "In a stress test (lower income) the household could not carry its payments: see the stress test."
    ),
    "RATE_ABOVE_LEGAL_CAP": N_("The interest rate is above the legal cap of {rate_cap} a year."),
}

# The family's version, in plain words, in both languages.
FAMILY_REASONS = {
    "INCOME_NOT_POSITIVE": N_(
        "We have no regular income written down for your family, so a loan cannot be repaid."
    ),
    "NO_SURPLUS": N_(
        "After your family's spending and the debts you already pay, no money is left each month for a loan."
    ),
    "DSTI_ABOVE_MAX": N_("Your debt payments would take too much of your income each month."),
    "INSTALLMENT_EXCEEDS_SURPLUS": N_(
        "The monthly payment of {installment} is more than the {surplus} your family has left each month."
    ),
    "INSTALLMENT_ABOVE_CAPACITY": N_(
        "The monthly payment of {installment} is more than your family can safely pay ({max_installment}). "
        "A smaller loan, up to {max_loan}, would fit."
    ),
    "IDPOOR_REVIEW": N_(
        "Because your family has an ID Poor card, the loan officer will check with you carefully that you "
        "can repay before the loan goes ahead."
    ),
    "TOO_MANY_LENDERS": N_(
        "Your family already borrows from several lenders. Another loan could be hard to carry; the loan "
        "officer will talk it through with you."
    ),
    "STRESS_FAILS": N_(
        "If your income fell for a while, the payments could become too hard. A smaller loan or a longer "
        "term would be safer."
    ),
    "RATE_ABOVE_LEGAL_CAP": N_(
        "The interest on this loan is above the legal limit. It cannot be offered to you."
    ),
}

WARNINGS = {
    "NOMINAL_RATE_ABOVE_CAP": N_(
        "The nominal rate is above the legal cap for microfinance loans (NBC Prakas B7-017-109)."
    ),
    "APR_ABOVE_CAP": N_("The true cost (APR, with fees and flat interest) is above the legal cap."),
    "FLAT_RATE_PROHIBITED": N_(
        "Flat-rate interest is not allowed for microfinance loans in Cambodia: this only shows what a flat "
        "offer really costs."
    ),
}

STRESS = {
    "income": N_("If all income fell by {cut}%"),
    "fx": N_("If incomes in other currencies lost {cut}% of their value"),
}


class Figures(dict):
    """Formatting values: a figure the page does not have reads as a dash, never an error."""

    def __missing__(self, key: str) -> str:
        return "—"


def stress_label(scenario: str, gettext) -> str:
    """`income_minus_20pct` / `fx_10pct_adverse` (the engine's names) in words."""
    digits = "".join(ch for ch in scenario if ch.isdigit() or ch == ".")
    kind = "fx" if scenario.startswith("fx_") else "income"
    return gettext(STRESS[kind]).format(cut=digits or "?")


def reason_texts(result: dict[str, Any], figures: dict[str, str], lang: str, gettext) -> list[dict[str, str]]:
    """Each reason of an assessment result: its code, the officer's text and the family's.

    `result` is the API's JSON result; `figures` the amounts and limits already formatted for
    people. In English the officer reads the engine's message itself (the API's `message`)."""
    out = []
    for reason in result.get("reasons", []):
        code = reason["code"]
        if lang == "en" or code not in OFFICER_REASONS:
            officer = reason["message"]
        else:
            officer = gettext(OFFICER_REASONS[code]).format_map(Figures(figures))
        family = gettext(FAMILY_REASONS[code]).format_map(Figures(figures)) if code in FAMILY_REASONS else ""
        out.append({"code": code, "officer": officer, "family": family})
    return out


def warning_text(warning: dict[str, str], lang: str) -> str:
    """A simulation warning: the engine's message in English, its Khmer by code."""
    if lang == "en" or warning["code"] not in WARNINGS:
        return warning["message"]
    return translations(lang).gettext(WARNINGS[warning["code"]])
