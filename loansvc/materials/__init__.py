"""The materials bank: its catalog, stock receipts and valuation."""
