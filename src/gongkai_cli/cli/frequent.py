"""What the most frequent commands do (list, due, note; a unit's name completed by Tab), without
the framework: the commands of commands/ run these, and so does cli/quick.py, which answers the
plainest command lines of them without building the app at all. One body each, whoever parses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..domain.errors import GongkaiError, UsageError
from ..domain.statuses import Status
from ..inputs.typed import MAX_NOTE_BYTES, parse_count, parse_key, parse_status, parse_task_id
from ..outputs import render
from ..outputs.writers import CONFIRMATION_FORMATS, FORMATS, check_format
from ..usecases import progress, queries
from ..usecases.session import Session
from .streams import say

if TYPE_CHECKING:
    from ..domain.records import Commit
    from ..usecases.settings import Settings

# How a command gets its ledger: open, its commits recorded for the report of a failed output.
Opener = Callable[..., Session]


def open_session(settings: Settings, commits: Callable[[list[Commit]], None], created: Callable[[object], None],
                 *, bootstrap: bool = True, announce: bool = True, **how: bool) -> Session:
    """The command's ledger. One this command had to create is announced on stderr, unless the
    command confirms the creation itself (`announce=False`: `init`)."""
    ledger = Session.open_for(settings, bootstrap=bootstrap, **how)
    # Commits are recorded from here on, so an output failure after one is reported as such.
    commits(ledger.store.commits)
    if ledger.created:
        created(ledger.database)
        if announce:
            say(created_notice(ledger), err=True)
    return ledger


def created_notice(ledger: Session) -> str:
    """The line that says a ledger was made on first use. Without it a cron job run with another
    HOME, or without GONGKAI_DB, works on a brand-new ledger and succeeds without a word; on
    stderr, so a pipe or a JSON reader of stdout gets only what it asked for."""
    loaded = ledger.loaded
    what = f"并载入内置的 {loaded.year} 年计划（{loaded.tasks} 项任务）" if loaded else "其中还没有任何计划"
    hint = ("如本想用已有的台账，请检查 GONGKAI_DB 或 --db 指向的位置" if ledger.settings.database_named
            else "如要用已有的台账，请设置环境变量 GONGKAI_DB 或使用 --db 指明它")
    return f"注意：已新建台账“{ledger.database}”，{what}；{hint}。"


def statuses(values: Iterable[str] | None) -> tuple[Status, ...]:
    return tuple(parse_status(value) for value in values or ())


def render_format(fmt: str, *, confirmation: bool = False) -> str:
    return check_format(fmt, CONFIRMATION_FORMATS if confirmation else FORMATS)


def list_tasks(opener: Opener, *, units: list[str] | None, direct: bool, lead: bool, status: list[str] | None,
               group: str | None, search: str | None, overdue: bool, key: bool, fmt: str) -> None:
    fmt = render_format(fmt)
    wanted = statuses(status)
    with opener() as ledger:
        items = queries.list_tasks(
            ledger, units=tuple(units or ()), statuses=wanted, group=group, search=search, overdue=overdue,
            direct=direct, lead=lead, key=key,
        )
    render.tasks(items, fmt)


def due_tasks(opener: Opener, *, before: str | None, after: str | None, within: str | None, overdue: bool,
              units: list[str] | None, direct: bool, lead: bool, include_closed: bool, fmt: str) -> None:
    fmt = render_format(fmt)
    with opener() as ledger:
        items = queries.due(
            ledger, before=before, after=after, within=within, overdue=overdue,
            units=tuple(units or ()), include_closed=include_closed, direct=direct, lead=lead,
        )
    render.tasks(items, fmt)


def add_note(opener: Opener, *, task_id: str, text: str, by: str | None, status: str | None, count: str | None,
             key: str | None, unit: str | None, quiet: bool, fmt: str) -> None:
    """One note (`note 40 "试点完成"`); `fmt` already checked."""
    number = parse_task_id(task_id)
    new_status = parse_status(status) if status is not None else None
    amount, idempotency_key = parse_count(count), parse_key(key)
    body = _read_text(text)
    with opener() as ledger:
        written = progress.add_note(
            ledger, number, body, by=by, status=new_status, count=amount, key=idempotency_key, unit=unit
        )
        plan = None if quiet else ledger.plan().name
    render.repeated_notes([written])
    if not quiet:
        render.note_saved(written, fmt, plan=plan)


def _read_text(text: str) -> str:
    if text != "-":
        return text
    # Bounded, so `note 40 - < /dev/zero` fails instead of eating memory; the room
    # above the note limit is for whitespace around the text, which is trimmed.
    limit = 4 * MAX_NOTE_BYTES
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"标准输入中的进展说明超过 {limit} 字节，上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError("标准输入中的进展说明不是有效的 UTF-8 文本。") from None


def unit_names(opener: Opener, incomplete: str) -> list[str]:
    """Shell completion for --unit: unit names and aliases known to this ledger."""
    try:
        with opener(must_exist=True) as ledger:
            names = queries.unit_spellings(ledger)
    except GongkaiError:
        return []
    return [name for name in names if name.startswith(incomplete)]
