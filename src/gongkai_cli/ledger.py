"""Use cases. Each returns records or raises a typed error; nothing here prints."""

from __future__ import annotations

import itertools
import math
import os
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Callable, NamedTuple

from . import dates
from .errors import NotFound, StoreError, UsageError
from .inputs import parse_count, parse_key, parse_status, parse_task_id
from .models import Commit, Event, Note, Plan, Status, Task
from .store import BUSY_TIMEOUT_SECONDS, ImportCounts, NoteInput, Store, TaskInput, TaskQuery
from .text import check_text, os_reason
from .units import Unit, UnitDirectory, load_directory, split_units, unit_name

# The repository keeps the bundled table and unit file in its top-level data/; the wheel
# copies that folder into the package (pyproject's force-include), so an installed copy
# finds it next to this module and a source checkout (editable install) two levels up.
# A path is cheaper to get than importlib.resources, which every --unit command would pay.
BUNDLED_PLAN = "tasks_2023.csv"
_PACKAGE = Path(__file__).resolve().parent
DATA_DIR = _PACKAGE / "data" if (_PACKAGE / "data" / BUNDLED_PLAN).is_file() else _PACKAGE.parent.parent / "data"
UNIT_FILE = "units.csv"

# A progress note is a few sentences; 64 KiB of UTF-8 is far beyond any real one
# and keeps a pasted file or a runaway script out of the ledger and its reports.
MAX_NOTE_BYTES = 64 * 1024
# Unknown unit names listed one by one after an import; a file full of them is
# the wrong unit file, and a hundred warning lines would hide that.
MAX_UNKNOWN_UNITS_LISTED = 20

# An hour: beyond that a queued cron job is better failed and reported than left hanging.
MAX_BUSY_TIMEOUT = 3600


def default_db_path() -> Path:
    """GONGKAI_DB, else the per-user data directory."""
    if env := os.environ.get("GONGKAI_DB"):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("gongkai", appauthor=False)) / "gongkai.db"


def bundled_plan_path() -> Path:
    return DATA_DIR / BUNDLED_PLAN


def busy_timeout() -> float:
    """Seconds to wait for another process's write lock: GONGKAI_BUSY_TIMEOUT, else the default."""
    text = os.environ.get("GONGKAI_BUSY_TIMEOUT", "").strip()
    if not text:
        return BUSY_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_BUSY_TIMEOUT:  # also refuses nan
        raise UsageError(
            f"环境变量 GONGKAI_BUSY_TIMEOUT 的值“{text}”无效，应为 0 到 {MAX_BUSY_TIMEOUT} 之间的秒数，例如 30。"
        )
    return seconds


def _database_path(db_path: Path | None, *, create_parents: bool = False, must_exist: bool = False) -> Path:
    explicit = db_path is not None or "GONGKAI_DB" in os.environ
    path = Path(db_path).expanduser() if db_path is not None else default_db_path()
    if not path.exists():
        if must_exist:
            raise StoreError(f"数据库“{path}”不存在。")
        if explicit and not create_parents and not path.parent.is_dir():
            raise StoreError(
                f"数据库所在目录“{path.parent}”不存在；请先创建该目录，或用 gongkai init 创建数据库。"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"无法创建数据库所在目录“{path.parent}”：{os_reason(err)}。") from err
    return path


def _load_bundled_plan(ledger: Ledger) -> ImportResult:
    return ledger.import_file(bundled_plan_path())


def _link_new(temp: Path, path: Path) -> bool:
    """Give the finished database `temp` the name `path`, unless that name is taken already."""
    from .files import link_new

    try:
        # Two processes creating the same database: the second finds the name taken.
        link_new(temp, path)
    except FileExistsError:
        return False
    # No fsync of the directory here: the first write creates the -wal beside the new name,
    # and SQLite syncs the directory then, before anything but the first plan depends on it.
    return True


def unit_file_for(db_path: Path) -> Path:
    """The office's own units.csv next to the database wins over the bundled one."""
    local = Path(db_path).parent / UNIT_FILE
    if local.is_file():
        return local
    return DATA_DIR / UNIT_FILE


def current_user() -> str:
    if name := os.environ.get("GONGKAI_USER", "").strip():
        return name
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        # No login name at all happens in containers and some cron setups.
        return "unknown"


class ImportResult(NamedTuple):
    plan: str
    year: int
    source: str
    tasks: int
    counts: ImportCounts
    warnings: tuple[str, ...]
    default: Plan  # the default plan after the import: this plan or the one that stays default


class UnitSummary(NamedTuple):
    """One row of `gongkai units`: a unit and its direct tasks in the current plan."""

    name: str
    kind: str
    aliases: tuple[str, ...]
    members: tuple[str, ...]
    tasks: int
    led: int
    done: int
    overdue: int

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "members": list(self.members),
            "tasks": self.tasks,
            "led": self.led,
            "done": self.done,
            "overdue": self.overdue,
        }


class _UnitMatch(NamedTuple):
    """What `--unit X` looks for: X under any spelling, and the groups X belongs to."""

    direct: frozenset[str]
    groups: tuple[str, ...]


class Reminder(NamedTuple):
    """What one reader should hear about: overdue tasks, then tasks due soon."""

    unit: str | None
    overdue: tuple[Task, ...]
    due_soon: tuple[Task, ...]


class ReminderReport(NamedTuple):
    plan: str
    today: date
    until: date
    sections: tuple[Reminder, ...]  # one per unit with --by-unit, else exactly one

    @property
    def empty(self) -> bool:
        return not any(section.overdue or section.due_soon for section in self.sections)


class StatusChange(NamedTuple):
    task_id: int
    before: Status
    after: Status
    note: Note | None  # None when the task already had that status


class PlanTasks(NamedTuple):
    """A whole plan as an export sees it: the plan and all its tasks by id, with notes."""

    plan: Plan
    tasks: list[Task]


class ProgressReport(NamedTuple):
    """What a unit (or the whole office) reports upward for a period."""

    plan: Plan
    today: date
    unit: str | None
    since: date | None
    tasks: tuple[Task, ...]  # with notes, and `via` when matched through a group
    period_notes: tuple[tuple[Task, Note], ...]  # notes written since `since`, oldest first
    # The whole-plan report's per-unit completion (as `summary --by unit` counts it), worst first.
    per_unit: tuple = ()

    @property
    def overdue(self) -> tuple[Task, ...]:
        return tuple(task for task in self.tasks if task.overdue)


class Ledger:
    """The ledger of one database, with the plan a command works on."""

    def __init__(self, store: Store, *, plan: str | None = None, today: date | None = None):
        self.store = store
        self._plan_name = plan
        self.today = today or dates.today()
        self._directory: UnitDirectory | None = None
        # Whether this process made the database (and, unless --empty, loaded its first plan).
        self.created = False

    @property
    def directory(self) -> UnitDirectory:
        if self._directory is None:
            self._directory = load_directory(unit_file_for(self.store.path))
        return self._directory

    @classmethod
    def open(
        cls,
        db_path: Path | None = None,
        *,
        plan: str | None = None,
        bootstrap: bool = True,
        create_parents: bool = False,
        must_exist: bool = False,
    ) -> Ledger:
        """Open the ledger at `db_path` (default location when None).

        A database that does not exist yet is created; with `bootstrap` it is
        also filled with the bundled 2023 plan, so a fresh install answers
        `gongkai list` straight away. An explicit path in a missing directory is
        refused (a typo should not scatter databases) unless `create_parents`
        (`init`); `must_exist` creates, upgrades and writes nothing: the file
        must already be a ledger, and is read as it is (`backup`, `check`).
        """
        path = _database_path(db_path, create_parents=create_parents, must_exist=must_exist)
        fill = _load_bundled_plan if bootstrap else None
        ledger, _ = cls._open(path, fill=fill, create=not must_exist, plan=plan)
        return ledger

    @classmethod
    def import_into(
        cls, db_path: Path | None, table: str | os.PathLike, *, plan: str | None = None, year: int | None = None,
        strict: bool = False,
    ) -> tuple[ImportResult, list[Commit]]:
        """`gongkai import`: a missing database is created holding only this plan, and only if
        the import succeeds, so a bad file leaves no database behind. Also returns what was
        committed, for a confirmation that cannot be printed to report as saved."""

        def load(ledger: Ledger) -> ImportResult:
            return ledger.import_file(table, plan=plan, year=year, strict=strict)

        ledger, first = cls._open(_database_path(db_path), fill=load, create=True)
        if ledger.created:
            # This import made the ledger, so its first plan is the change the import committed.
            ledger.store.adopt_history()
        with ledger:
            result = first if first is not None else load(ledger)
        return result, ledger.store.commits

    @classmethod
    def _open(
        cls, path: Path, *, fill: Callable[[Ledger], object] | None, create: bool, plan: str | None = None
    ) -> tuple[Ledger, object]:
        """The ledger at `path`, and what `fill` returned if this process created it."""
        timeout = busy_timeout()
        created: list[object] = []

        def on_create(store: Store) -> None:
            created.append(fill(cls(store)) if fill else None)

        if create and not path.exists() and not cls._create(path, on_create, timeout=timeout):
            created.clear()  # another process linked its ledger first; ours was thrown away
        store = Store.open(path, create=create, upgrade=create, timeout=timeout, on_create=on_create)
        ledger = cls(store, plan=plan or os.environ.get("GONGKAI_PLAN") or None)
        ledger.created = bool(created)
        return ledger, (created[0] if created else None)

    @staticmethod
    def _create(path: Path, on_create: Callable[[Store], None], *, timeout: float) -> bool:
        """Build a complete ledger beside `path` and link it into place in one step.

        Several processes meeting a missing database each build one and the first
        link wins; the others open the winner's. So no process ever sees a ledger
        without its first plan, and a failed first import leaves no file at all.
        False when another process's ledger won.
        """
        import secrets

        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
        try:
            # The mode SQLite itself gives a new database.
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except OSError as err:
            raise StoreError(f"无法在“{path.parent}”中创建数据库：{os_reason(err)}。") from err
        try:
            store = Store.open(temp, timeout=timeout, on_create=on_create)
            try:
                store.checkpoint()
            finally:
                store.close()
            return _link_new(temp, path)
        except OSError as err:
            raise StoreError(f"无法创建数据库“{path}”：{os_reason(err)}。") from err
        finally:
            for leftover in (temp, Path(f"{temp}-wal"), Path(f"{temp}-shm")):
                leftover.unlink(missing_ok=True)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- plans ----------------------------------------------------------------

    def plans(self) -> list[Plan]:
        """Every plan: the default one first, marked with why it is the default, then the rest
        newest year first. The default is not always the newest (next year's table loaded early)."""
        default = self.default_plan()
        if default is None:
            return []
        return [default] + [plan for plan in self.store.plans() if plan.name != default.name]

    def default_plan(self) -> Plan | None:
        """This year's plan (in the office's time zone), else the newest; None in an empty ledger.

        Tying the default to the calendar, not to the last import, keeps it still when next
        year's table is loaded in advance: writes keep landing in this year's plan.
        """
        this_year = self.store.plan(year=self.today.year)
        if this_year is not None:
            return this_year._replace(default="current_year")
        newest = self.store.plan()
        return newest._replace(default="newest") if newest is not None else None

    def plan(self) -> Plan:
        """The plan this command works on: the one asked for, else the default one."""
        plan = self.store.plan(self._plan_name) if self._plan_name is not None else self.default_plan()
        if plan is None:
            names = self.store.plan_names()
            if not names:
                raise NotFound("台账中还没有任何计划，请先用 gongkai import 导入任务分解表。")
            raise NotFound(f"没有名为“{self._plan_name}”的计划；已有计划：{'、'.join(names)}。")
        return plan

    # -- reading --------------------------------------------------------------

    def list_tasks(
        self,
        *,
        units: tuple[str, ...] = (),
        statuses: tuple[Status, ...] = (),
        group: str | None = None,
        search: str | None = None,
        overdue: bool = False,
        direct: bool = False,
        lead: bool = False,
    ) -> list[Task]:
        """Tasks by id. A unit also matches tasks given to a group it belongs to (marked `via`)."""
        matches = self._unit_matches(units, direct=direct or lead)
        query = TaskQuery(
            units=_names(matches),
            lead_only=lead,
            statuses=statuses,
            group=group or None,
            search=search or None,
            overdue_only=overdue,
        )
        return _mark_via(self.store.tasks(self.plan().name, query, today=self.today), matches)

    def due(
        self,
        *,
        before: str | None = None,
        after: str | None = None,
        within: str | None = None,
        overdue: bool = False,
        units: tuple[str, ...] = (),
        include_closed: bool = False,
        direct: bool = False,
        lead: bool = False,
    ) -> list[Task]:
        """Tasks with a due date, soonest first; `before`/`after` are inclusive."""
        plan = self.plan()
        due_before = self.parse_date(before, plan) if before is not None else None
        due_after = self.parse_date(after, plan) if after is not None else None
        if within is not None:
            horizon = dates.parse_within(within, today=self.today, year=plan.year)
            due_before = min(horizon, due_before) if due_before else horizon
            due_after = max(self.today, due_after) if due_after else self.today
        if due_before and due_after and due_after > due_before:
            raise UsageError(
                f"日期范围为空：起始日期 {due_after.isoformat()} 晚于截止日期 {due_before.isoformat()}。"
            )
        matches = self._unit_matches(units, direct=direct or lead)
        query = TaskQuery(
            units=_names(matches),
            lead_only=lead,
            due_before=due_before,
            due_after=due_after,
            with_due_only=True,
            overdue_only=overdue,
            open_only=not include_closed,
            order_by_due=True,
        )
        return _mark_via(self.store.tasks(plan.name, query, today=self.today), matches)

    def remind(
        self, *, within: str = "7d", units: tuple[str, ...] = (), by_unit: bool = False
    ) -> ReminderReport:
        """Open tasks that are overdue or due by `within`, optionally one section per responsible unit."""
        plan = self.plan()
        until = dates.parse_within(within, today=self.today, year=plan.year)
        matches = self._unit_matches(units, direct=False)
        query = TaskQuery(
            units=_names(matches), due_before=until, with_due_only=True, open_only=True, order_by_due=True
        )
        tasks = _mark_via(self.store.tasks(plan.name, query, today=self.today), matches)
        if not by_unit:
            sections = (_reminder(None, tasks),)
        else:
            wanted = {self.directory.canonical(unit_name(u)) for u in units}
            sections = tuple(
                _reminder(unit, unit_tasks)
                for unit, unit_tasks in self._tasks_per_unit(tasks).items()
                if not wanted or unit in wanted
            )
        return ReminderReport(plan=plan.name, today=self.today, until=until, sections=sections)

    def _tasks_per_unit(self, tasks: list[Task]) -> dict[str, list[Task]]:
        """Each task under every unit that has to act on it: groups are expanded to their members,
        vague groups stay as written. Sections follow the unit file's order."""
        per_unit: dict[str, list[Task]] = {}
        for task in tasks:
            for unit in dict.fromkeys(u for name in task.units for u in self.directory.responsible(name)):
                per_unit.setdefault(unit, []).append(task)
        order = {unit.name: index for index, unit in enumerate(self.directory)}
        return dict(sorted(per_unit.items(), key=lambda item: order.get(item[0], len(order))))

    def summary(self, *, by: str | None = None):
        """The plan at a glance, optionally broken down by unit, task group or due month."""
        from .progress import BREAKDOWNS, summarize

        if by is not None and by not in BREAKDOWNS:
            raise UsageError(f"无效的分组方式“{by}”，可选：unit（单位）、group（任务名称）、month（截止月份）。")
        plan = self.plan()
        tasks = self.store.tasks(plan.name, TaskQuery(), today=self.today)
        return summarize(plan.name, tasks, self.today, by=by, directory=self.directory if by == "unit" else None)

    def show(self, task_id: int) -> Task:
        plan = self.plan()
        task = self.store.task(plan.name, task_id, today=self.today)
        if task is None:
            raise NotFound(f"计划“{plan.name}”中没有序号为 {task_id} 的任务。")
        return task

    def export_tasks(self) -> PlanTasks:
        plan = self.plan()
        return PlanTasks(plan, self.store.tasks_with_notes(plan.name, today=self.today))

    def report(self, *, unit: str | None = None, since: str | None = None) -> ProgressReport:
        """A unit's tasks (as `list --unit` finds them) with their notes, and the notes of the period."""
        plan = self.plan()
        start = self.parse_date(since, plan) if since is not None else None
        everything = {task.id: task for task in self.store.tasks_with_notes(plan.name, today=self.today)}
        if unit is None:
            tasks = list(everything.values())
            name = None
        else:
            mine = self.list_tasks(units=(unit,))
            tasks = [everything[task.id]._replace(via=task.via) for task in mine]
            name = self.directory.canonical(unit_name(unit))
        zone = dates.tz()
        period = tuple(
            (task, note)
            for task in tasks
            for note in task.notes
            if start is None or datetime.fromisoformat(note.at).astimezone(zone).date() >= start
        )
        per_unit: tuple = ()
        if unit is None:
            from .progress import summarize

            per_unit = summarize(plan.name, tasks, self.today, by="unit", directory=self.directory).rows
        return ProgressReport(
            plan=plan, today=self.today, unit=name, since=start, tasks=tuple(tasks),
            period_notes=tuple(sorted(period, key=lambda pair: (pair[1].at, pair[1].id))),
            per_unit=per_unit,
        )

    def parse_date(self, text: str, plan: Plan | None = None) -> date:
        year = (plan or self.plan()).year
        return dates.parse_user_date(text, today=self.today, year=year)

    def _unit_matches(self, units: tuple[str, ...], *, direct: bool) -> list[_UnitMatch]:
        """Resolve --unit values; a unit nobody has heard of is an error, never an empty list."""
        if not units:
            return []
        directory = self.directory
        stored = self.store.unit_names()
        matches = []
        for typed in units:
            cleaned = unit_name(typed)
            if not (directory.known(cleaned) or cleaned in stored):
                spellings = list(dict.fromkeys([*directory.spellings(), *stored]))
                import difflib

                close = difflib.get_close_matches(cleaned, spellings, n=3, cutoff=0.5)
                hint = f"您是否要找：{'、'.join(close)}？" if close else "可用 gongkai units 查看所有单位。"
                raise UsageError(f"未知的责任单位“{typed}”。{hint}")
            name = directory.canonical(cleaned)
            # Aliases too: a task imported before an alias was added still names the old spelling.
            spellings = frozenset({name, cleaned, *directory.aliases_of(name)})
            matches.append(_UnitMatch(spellings, () if direct else directory.groups_of(name)))
        return matches

    def unit_spellings(self) -> list[str]:
        """Every unit name and alias the ledger knows, for shell completion."""
        return list(dict.fromkeys([*self.directory.spellings(), *self.store.unit_names()]))

    def units(self) -> list[UnitSummary]:
        """Every known unit with its direct tasks in the current plan; unit-file order first."""
        plan = self.plan()
        stats = self.store.unit_stats(plan.name, today=self.today)
        listed: list[Unit] = list(self.directory)
        named = {unit.name for unit in listed}
        listed += [Unit(name, "other") for name in self.store.unit_names() if name not in named]
        order = {kind: index for index, kind in enumerate(("department", "town", "group", "other"))}
        listed.sort(key=lambda unit: order.get(unit.kind, len(order)))
        rows = []
        for unit in listed:
            spellings = (unit.name, *unit.aliases)
            counts = [sum(stats.get(s, (0, 0, 0, 0))[i] for s in spellings) for i in range(4)]
            rows.append(UnitSummary(unit.name, unit.kind, unit.aliases, unit.members, *counts))
        return rows

    # -- writing --------------------------------------------------------------

    def add_note(
        self, task_id: int, text: str, *, by: str | None = None, status: Status | None = None,
        count: int | None = None, key: str | None = None,
    ) -> Note:
        """Append a note; with `key`, a retry of an earlier call returns that call's note unwritten."""
        text = _checked_note(text)
        if not text:
            raise UsageError("进展说明不能为空。")
        note, _ = self._write_note(task_id, text, by=by, status=status, count=count, key=key)
        return note

    def add_notes_from(self, data: bytes, source: str, *, by: str | None = None) -> list[Note]:
        """Record a whole batch (CSV or JSON lines) in one transaction: every note, or none.

        Every line is checked before anything is written, and an error names its line.
        """
        from .batch import read_note_batch

        plan = self.plan()
        lines = read_note_batch(data, source)
        if not lines:
            return []
        default_author = _author(by)
        entries = []
        keyed: dict[str, int] = {}
        for line in lines:
            values = line.values
            try:
                task_id = parse_task_id(values["id"] or "")
                text = _checked_note(values["text"])
                if not text:
                    raise UsageError("进展说明不能为空。")
                status = parse_status(values["status"]) if (values["status"] or "").strip() else None
                count = parse_count(values["count"]) if (values["count"] or "").strip() else None
                key = parse_key(values["key"]) if (values["key"] or "").strip() else None
                if key is not None and key in keyed:
                    raise UsageError(f"键“{key}”与第 {keyed[key]} 行重复，一个键只能对应一条进展。")
                author = check_text((values["by"] or "").strip(), "记录人") or default_author
            except UsageError as err:
                raise UsageError(f"“{source}”第 {line.line} 行：{err.message}整批未写入。") from None
            if key is not None:
                keyed[key] = line.line
            entries.append(NoteInput(task_id, text, author, status, count, key))
        known = self.store.existing_task_ids(plan.name, [entry.task_id for entry in entries])
        for line, entry in zip(lines, entries):
            if entry.task_id not in known:
                raise NotFound(
                    f"“{source}”第 {line.line} 行：计划“{plan.name}”中没有序号为 {entry.task_id} 的任务；整批未写入。"
                )
        written = self.store.add_notes(plan.name, entries, at=dates.timestamp())
        if written is None:
            raise NotFound(f"写入时“{source}”中的某项任务已不在计划“{plan.name}”中；整批未写入。")
        return [note for note, _ in written]

    def set_status(
        self, task_id: int, status: Status, *, note: str | None = None, by: str | None = None
    ) -> StatusChange:
        """Change a task's status; the change is kept as a note so the history is complete."""
        text = _checked_note(note)
        if not text and self.show(task_id).status == status:
            return StatusChange(task_id, status, status, None)
        written, before = self._write_note(task_id, text, by=by, status=status)
        return StatusChange(task_id, before, status, written)

    def _write_note(
        self, task_id: int, text: str, *, by: str | None, status: Status | None, count: int | None = None,
        key: str | None = None,
    ) -> tuple[Note, Status]:
        plan = self.plan()
        author = _author(by)
        written = self.store.add_note(
            plan.name, task_id, at=dates.timestamp(), by=author, text=text, status=status, count=count, key=key
        )
        if written is None:
            raise NotFound(f"计划“{plan.name}”中没有序号为 {task_id} 的任务。")
        return written

    def import_file(
        self, path: str | os.PathLike, *, plan: str | None = None, year: int | None = None, strict: bool = False
    ) -> ImportResult:
        """Load a plan table; the whole file lands or nothing does.

        Unit names the unit file does not know are imported as written and
        reported with the closest known name; with `strict` they refuse the file.
        """
        from .tables import read_plan_table

        table = read_plan_table(path)
        source = Path(path).name
        if year is None:
            year = (dates.year_from_name(plan) if plan else None) or dates.year_from_name(source)
        year = year or self.today.year
        name = check_text(plan or str(year), "计划名称")
        check_text(source, "文件名")
        warnings = []
        tasks = []
        for row in table.rows:
            start, due = dates.parse_deadline(row.deadline, year)
            if due is None:
                warnings.append(
                    f"第 {row.line} 行（序号 {row.id}）：无法识别时间节点“{_shortened(row.deadline)}”，已保留原文，截止日期留空。"
                )
            tasks.append(
                TaskInput(
                    id=row.id,
                    group=row.group,
                    content=row.content,
                    units=tuple(dict.fromkeys(
                        self.directory.canonical(unit) for unit in split_units(row.units)
                    )),
                    deadline=row.deadline,
                    start=start,
                    due=due,
                )
            )
        unknown = self._unknown_units(table.rows)
        if unknown and strict:
            raise UsageError(
                f"文件中有 {len(unknown)} 个责任单位不在单位数据文件中："
                f"{'、'.join(_listed(unknown, MAX_UNKNOWN_UNITS_LISTED))}；因为指定了 --strict，未导入任何内容。"
            )
        counts = self.store.import_plan(
            name, year=year, source=source, at=dates.timestamp(), by=_author(None), tasks=tasks
        )
        if unknown:
            warnings += [f"责任单位不在单位数据文件中：{entry}" for entry in _listed(unknown, MAX_UNKNOWN_UNITS_LISTED)]
            unit_file = Path(self.directory.source)
            if unit_file == DATA_DIR / UNIT_FILE:
                # The bundled file is replaced by an upgrade; the office's own copy lives by the database.
                unit_file = self.store.path.parent / UNIT_FILE
                add = f"请复制内置的“{self.directory.source}”到“{unit_file}”并加入这些单位"
            else:
                add = f"请加入单位数据文件“{unit_file}”"
            warnings.append(
                f"以上 {len(unknown)} 个单位已按原样导入。若是笔误，可用 gongkai undo 撤销本次导入，改正文件后重新导入；"
                f"若是新单位，{add}。加 --strict 可拒绝含未知单位的文件。"
            )
        return ImportResult(
            plan=name,
            year=year,
            source=source,
            tasks=len(tasks),
            counts=counts,
            warnings=tuple(warnings),
            default=self.default_plan(),
        )

    def _unknown_units(self, rows) -> dict[str, tuple[list[int], str | None]]:
        """Unit names the unit file does not know: {name: (table lines, closest known spelling)}."""
        import difflib

        lines: dict[str, list[int]] = {}
        for row in rows:
            for unit in split_units(row.units):
                if not self.directory.known(unit):
                    lines.setdefault(unit, []).append(row.line)
        spellings = self.directory.spellings()
        unknown = {}
        for index, (unit, found) in enumerate(lines.items()):
            # A suggestion costs a comparison with every known name: only for the names shown.
            close = difflib.get_close_matches(unit, spellings, n=1, cutoff=0.5) if index < MAX_UNKNOWN_UNITS_LISTED else []
            unknown[unit] = (found, close[0] if close else None)
        return unknown

    # -- history --------------------------------------------------------------

    def history(self, task_id: int | None = None, *, since: str | None = None) -> list[Event]:
        """Changes, oldest first: of one task of the plan, else of the plan asked for, else all."""
        plan = self.plan() if task_id is not None or self._plan_name else None
        since_day = None
        if since is not None:
            year = plan.year if plan else self.today.year
            since_day = dates.parse_user_date(since, today=self.today, year=year)
        events = self.store.events(plan=plan.name if plan else None, task=task_id, since=since_day)
        if task_id is not None and not events and self.store.task(plan.name, task_id, today=self.today) is None:
            raise NotFound(f"计划“{plan.name}”中没有序号为 {task_id} 的任务。")
        return events

    def last_change(self) -> Event:
        """The change `undo` would revert now: the newest of the plan asked for, else of the ledger."""
        event = self.store.last_undoable(self._plan_name)
        if event is None:
            where = f"计划“{self._plan_name}”中" if self._plan_name else ""
            raise NotFound(f"{where}没有可以撤销的更改。")
        return event

    def change(self, event_id: int) -> Event:
        """Change `event_id`, which a script names so that a retried undo never undoes a second one.

        Returns it when it is still the one `undo` would revert now, or already undone
        (the caller reports that and writes nothing); anything else is refused.
        """
        event = self.store.event(event_id)
        if event is None:
            raise NotFound(f"没有编号为 #{event_id} 的更改。")
        if self._plan_name and event.plan != self._plan_name:
            raise UsageError(f"更改 #{event_id} 属于计划“{event.plan}”，不属于计划“{self._plan_name}”；未撤销任何内容。")
        if event.action == "undo":
            raise UsageError(f"#{event_id} 本身是一次撤销，撤销不能再被撤销；未做任何更改。")
        if event.undone_by is not None:
            return event
        newest = self.store.last_undoable(self._plan_name)
        if newest.id != event_id:
            raise UsageError(
                f"更改 #{event_id} 不是最近一次尚未撤销的更改（最近的是 #{newest.id}），"
                "只能从最近的更改开始撤销；未撤销任何内容。"
            )
        return event

    def undo(self, event: Event, *, by: str | None = None) -> Event:
        """Revert `event`, which must still be the last change (of the plan asked for);
        returns the undo's own event."""
        author = _author(by)
        return self.store.undo(event.id, at=dates.timestamp(), by=author, plan=self._plan_name)

    # -- maintenance ----------------------------------------------------------

    def backup(self, target: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Copy the live database to `target`; a crash never leaves a half-written file under that name."""
        from . import files

        target = Path(target).expanduser()
        if target.is_dir():
            raise UsageError(f"备份目标“{target}”是一个目录，请指定文件名，例如 {target / 'gongkai-backup.db'}。")
        if not target.parent.is_dir():
            raise UsageError(f"备份目标所在目录“{target.parent}”不存在。")
        files.refuse_ledger_files(target, self.store.path, what="备份")
        if target.exists() and not overwrite:
            raise UsageError(_backup_exists(target))
        try:
            # The copy holds the same data, so it gets the same readers as the live file, never more;
            # applied once the copy is complete, so a read-only ledger still gets its backup.
            files.write_atomically(
                target, lambda handle, temp: self.store.copy_to(temp, shown_as=target),
                mode=stat.S_IMODE(self.store.path.stat().st_mode), overwrite=overwrite,
            )
        except FileExistsError:
            raise UsageError(_backup_exists(target)) from None
        except OSError as err:
            raise StoreError(f"无法写入备份文件“{target}”：{os_reason(err)}。") from err
        return target

    def check(self) -> Path:
        """SQLite's integrity and foreign-key checks, then whether every value can be read.

        StoreError naming the first problem found.
        """
        # Content is read only from a file SQLite itself finds sound.
        problems = self.store.problems() or self.store.content_problems()
        if problems:
            count = f"共 {len(problems)} 个问题，" if len(problems) > 1 else ""
            raise StoreError(
                f"数据库“{self.store.path}”检查未通过：{count}第一个是“{problems[0]}”；请从备份恢复。"
            )
        return self.store.path


class BackupSummary(NamedTuple):
    """What a backup holds, shown before it replaces the ledger."""

    path: Path
    tasks: int
    notes: int
    newest_note: str | None


class Restored(NamedTuple):
    database: Path
    backup: BackupSummary
    aside: Path  # the replaced database, kept as it was


def resolve_db_path(db_path: Path | None) -> Path:
    """The database a command works on: `--db`, else GONGKAI_DB, else the default location."""
    return Path(db_path).expanduser() if db_path is not None else default_db_path()


def inspect_backup(backup: str | os.PathLike, database: Path) -> BackupSummary:
    """Check that `backup` is a whole gongkai ledger that may replace `database`; what it holds."""
    from . import files

    backup = Path(backup).expanduser()
    files.refuse_ledger_files(backup, database, what="恢复来源")
    _check_replaceable(database)
    source = Store.open_backup(backup)
    try:
        return _checked_backup(source)
    finally:
        source.close()


def restore(backup: str | os.PathLike, database: Path) -> Restored:
    """Replace the ledger at `database` by the content of `backup`, keeping the replaced one aside.

    Under one exclusive lock on the live database (no reader or writer in
    between): the backup is checked again, the live content is copied to a
    timestamped file next to it, and the backup's pages are written into the
    live database through SQLite, which keeps its WAL consistent.
    """
    from . import files

    backup = Path(backup).expanduser()
    files.refuse_ledger_files(backup, database, what="恢复来源")
    _check_replaceable(database)
    source = Store.open_backup(backup)
    try:
        with Store.exclusive(database) as live:
            summary = _checked_backup(source)
            stamp = datetime.now(dates.tz()).strftime("%Y%m%dT%H%M%S")
            aside = database.with_name(f"{database.name}.before-restore-{stamp}.db")
            try:
                files.write_atomically(
                    aside, lambda handle, temp: live.copy_to(temp, shown_as=aside),
                    mode=stat.S_IMODE(database.stat().st_mode), overwrite=False,
                )
            except FileExistsError:
                raise UsageError(f"“{aside}”已存在（同一秒内的另一次恢复？），本次未做任何更改，请稍后重试。") from None
            except OSError as err:
                raise StoreError(f"无法保存被替换的数据库副本“{aside}”：{os_reason(err)}；本次未做任何更改。") from err
            live.replace_with(source)
    finally:
        source.close()
    return Restored(database=database, backup=summary, aside=aside)


def _check_replaceable(database: Path) -> None:
    """StoreError unless `database` is an existing gongkai ledger: another program's
    SQLite file is left as every other command leaves it, untouched."""
    if database.is_dir():
        raise StoreError(f"数据库路径“{database}”是一个目录，请指定文件。")
    if not database.is_file():
        raise StoreError(f"数据库“{database}”不存在；恢复只替换已有的台账，新建请先运行 gongkai init --empty。")
    # Opened as `check` opens it: the file is recognised, nothing is written.
    Store.open(database, create=False, upgrade=False).close()


def _checked_backup(source: Store) -> BackupSummary:
    problems = source.backup_problems()
    if problems:
        raise StoreError(
            f"备份“{source.path}”检查未通过：第一个问题是“{problems[0]}”；它不能用来恢复，本次未做任何更改。"
        )
    tasks, notes, newest = source.backup_contents()
    return BackupSummary(path=source.path, tasks=tasks, notes=notes, newest_note=newest)


def _listed(unknown: dict[str, tuple[list[int], str | None]], limit: int) -> list[str]:
    """"区财政厅 → 区财政局？（第 3、7 行）" per unknown unit, at most `limit` and a count of the rest."""
    entries = []
    for unit, (lines, closest) in itertools.islice(unknown.items(), limit):
        where = f"第 {'、'.join(str(line) for line in lines[:5])} 行" + (f"等 {len(lines)} 处" if len(lines) > 5 else "")
        if closest:
            entries.append(f"{unit} → {closest}？（{where}）")
        else:
            entries.append(f"{unit}（{where}，没有相近的已知单位）")
    if len(unknown) > limit:
        entries.append(f"另有 {len(unknown) - limit} 个未列出")
    return entries


def _shortened(text: str, limit: int = 40) -> str:
    """A cell quoted in a message: enough to find it, never a screenful."""
    return text if len(text) <= limit else f"{text[:limit]}…（共 {len(text)} 个字符）"


def _checked_note(text: str | None) -> str:
    # Checked first: it also refuses the lone surrogates that stand for bytes which are not UTF-8.
    text = check_text((text or "").strip(), "进展说明")
    size = len(text.encode("utf-8"))
    if size > MAX_NOTE_BYTES:
        raise UsageError(f"进展说明过长（{size} 字节），上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    return text


def _author(by: str | None) -> str:
    """Who made a change: --by, else GONGKAI_USER or the login name. It is stored, so it obeys the text rule too."""
    return check_text((by or "").strip() or current_user(), "记录人")


def _backup_exists(target: Path) -> str:
    return f"备份文件“{target}”已存在；确需覆盖请加 --force。"


def _reminder(unit: str | None, tasks: list[Task]) -> Reminder:
    return Reminder(
        unit=unit,
        overdue=tuple(task for task in tasks if task.overdue),
        due_soon=tuple(task for task in tasks if not task.overdue),
    )


def _names(matches: list[_UnitMatch]) -> tuple[str, ...]:
    names: list[str] = []
    for match in matches:
        names += [*sorted(match.direct), *match.groups]
    return tuple(dict.fromkeys(names))


def _mark_via(tasks: list[Task], matches: list[_UnitMatch]) -> list[Task]:
    """Say which group brought a task in, unless some --unit is named on it directly."""
    if not matches:
        return tasks
    marked = []
    for task in tasks:
        named = set(task.units)
        if any(match.direct & named for match in matches):
            marked.append(task)
            continue
        via = next((g for match in matches for g in match.groups if g in named), None)
        marked.append(task._replace(via=via))
    return marked
