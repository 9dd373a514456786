"""Use cases, grouped by what they own; each returns records or raises a typed error, and never prints.

- settings: what a command works with, read once from its options and the environment
- session: opening a ledger, the plan a command works on, who is writing
- queries: list, due, remind, summary, show, units, report, export
- progress: note, status, batch notes
- plans: the plans held, import
- history: log, undo
- assignments: which units a task is given to; assign, unassign
- edits: the office's changes to a plan's tasks during the year; task add, edit, drop, key
- unit_sheets: a unit's sheet of an export coming back
- copying: copy between ledgers
- team: who may write what on a shared server
- maintenance: backup, check, restore
"""
