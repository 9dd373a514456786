"""Use cases, grouped by what they own; each returns records or raises a typed error, and never prints.

- session: opening a ledger, the plan a command works on, who is writing
- reading: list, due, remind, summary, show, units, report, export
- progress: note, status, batch notes
- plans: the plans held, import
- history: log, undo
- maintenance: backup, check, restore
"""
