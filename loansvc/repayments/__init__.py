"""Repayments: recording, allocating and reversing payments, bulk files, arrears and write-offs."""
