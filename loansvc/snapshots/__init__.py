"""Month-end snapshots of the portfolio: taken once per month end, read by the trends and by a
past month-end report (issue 13). See service.py."""
