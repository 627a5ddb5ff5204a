"""The bulk path: vectorised (numpy) repayment schedules for what-if work over many loans at once.

It follows the exact engine's rules (`loansvc.domain.schedule`) and agrees with it within one
minor unit per installment; it is for analysis only, and nothing from it reaches a contract,
a ledger or a report figure about one family. `schedule` holds the schedules and the level
installment, `principal` the largest loan for an installment, `arrays` the terms as arrays.
"""

from loansvc.domain.fast.principal import max_principal_for_installment
from loansvc.domain.fast.schedule import (
    BulkSchedules,
    BulkSummary,
    level_installments,
    schedule_summary,
    schedules,
)

__all__ = [
    "BulkSchedules",
    "BulkSummary",
    "level_installments",
    "max_principal_for_installment",
    "schedule_summary",
    "schedules",
]
