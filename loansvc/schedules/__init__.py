"""Simulating repayment schedules and the true cost of any offer (APR/EIR)."""
