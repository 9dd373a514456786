"""Every use case under one name, for scripts, tests and benchmarks that drive a ledger from Python.

The CLI calls the groups in `usecases` directly; this facade only binds their
functions as methods and reads the settings from the environment, as the CLI
would with no options given. It holds no logic of its own.
"""

from __future__ import annotations

from pathlib import Path

from .usecases import (
    assignments as _assignments,
    history as _history,
    maintenance,
    plans as _plans,
    progress,
    queries,
    settings as _settings,
)
from .usecases.session import Session, bundled_plan_path, unit_file_for

__all__ = ["Ledger", "bundled_plan_path", "unit_file_for"]


class Ledger(Session):
    @classmethod
    def open(cls, db_path: Path | str | None = None, *, plan: str | None = None, **how: bool) -> Ledger:
        """The ledger at `db_path` (else GONGKAI_DB, else the default location); see `Session.open_for`."""
        return cls.open_for(_settings.from_environment(db_path, plan), **how)

    plans = _plans.plans
    import_file = _plans.import_file

    list_tasks = queries.list_tasks
    due = queries.due
    remind = queries.remind
    summary = queries.summary
    show = queries.show
    export_tasks = queries.export_tasks
    report = queries.report
    units = queries.units
    unit_spellings = queries.unit_spellings

    add_note = progress.add_note
    add_notes_from = progress.add_notes_from
    set_status = progress.set_status
    assign = _assignments.assign
    unassign = _assignments.unassign

    history = _history.history
    last_change = _history.last_change
    change = _history.change
    undo = _history.undo

    backup = maintenance.backup
    check = maintenance.check
