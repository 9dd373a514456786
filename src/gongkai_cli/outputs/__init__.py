"""Writing what leaves the ledger: the columns each record shows (columns.py), one writer per
format (writers.py), what a command prints (render.py), whole-plan exports (exports.py), the
progress report (report.py), and files written atomically (files.py). Nothing here queries."""
