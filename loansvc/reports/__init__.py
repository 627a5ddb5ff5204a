"""Portfolio reports: queries aggregate in SQL (queries.py); frames.py and charts.py turn the
aggregated rows into figures, tables and pictures; service.py holds the calendar and the scoping."""
