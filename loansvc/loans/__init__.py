"""Loans from application to last disbursement: four-eyes approval, tranches, inspections, history."""
