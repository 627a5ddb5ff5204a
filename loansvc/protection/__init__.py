"""Protecting the family before a loan: consent to share its file with a lender, and the loan
officer's review an assessment asks for."""
