"""What the rules mean, said once: the records (records.py), statuses and what follows from them,
units and which one a name means, deadlines and today (dates.py), targets, summary figures, the
text policy, spreadsheet cells, errors and exit codes. No storage and no output here; the only
outside world read is the clock and its time zone (dates.py)."""
