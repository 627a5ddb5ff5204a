"""The ledger: the one owner of a loan's terms, money and status."""
