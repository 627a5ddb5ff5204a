"""loansvc: housing-loan service for the settlement-upgrading programme."""

__version__ = "0.1.0"
