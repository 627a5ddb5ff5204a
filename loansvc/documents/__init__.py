"""Documents for the family, as PDF (WeasyPrint): a repayment schedule and the key facts
statement, in Khmer or English, set in the packaged Khmer OS font (`fonts/`).

Callers fill the content (`content.py`) from the API's own answers; nothing here computes a
figure. The words are the gettext domain `documents` (loansvc/i18n/locale/<lang>/LC_MESSAGES).
"""

from loansvc.documents.content import FeeTerm, KeyFacts, Row, ScheduleDoc
from loansvc.documents.render import key_facts_pdf, schedule_pdf
from loansvc.documents.text import LANGUAGES

__all__ = ["LANGUAGES", "FeeTerm", "KeyFacts", "Row", "ScheduleDoc", "key_facts_pdf", "schedule_pdf"]
