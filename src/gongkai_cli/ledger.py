"""Use cases. Each returns records or raises a typed error; nothing here prints."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

from . import dates
from .errors import NotFound, StoreError, UsageError
from .models import Event, Note, Plan, Status, Task
from .store import ImportCounts, NoteInput, Store, TaskInput, TaskQuery
from .units import Unit, UnitDirectory, load_directory, split_units

# The repository keeps the bundled table and unit file in its top-level data/; the wheel
# copies that folder into the package (pyproject's force-include), so an installed copy
# finds it next to this module and a source checkout (editable install) two levels up.
# A path is cheaper to get than importlib.resources, which every --unit command would pay.
BUNDLED_PLAN = "tasks_2023.csv"
_PACKAGE = Path(__file__).resolve().parent
DATA_DIR = _PACKAGE / "data" if (_PACKAGE / "data" / BUNDLED_PLAN).is_file() else _PACKAGE.parent.parent / "data"
UNIT_FILE = "units.csv"

_TASK_ID = re.compile(r"[1-9][0-9]{0,8}")

# A progress note is a few sentences; 64 KiB of UTF-8 is far beyond any real one
# and keeps a pasted file or a runaway script out of the ledger and its reports.
MAX_NOTE_BYTES = 64 * 1024


def default_db_path() -> Path:
    """GONGKAI_DB, else the per-user data directory."""
    if env := os.environ.get("GONGKAI_DB"):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("gongkai", appauthor=False)) / "gongkai.db"


def bundled_plan_path() -> Path:
    return DATA_DIR / BUNDLED_PLAN


def unit_file_for(db_path: Path) -> Path:
    """The office's own units.csv next to the database wins over the bundled one."""
    local = Path(db_path).parent / UNIT_FILE
    if local.is_file():
        return local
    return DATA_DIR / UNIT_FILE


def parse_task_id(text: str) -> int:
    """Task ids are the table's 序号: positive integers, typed by hand."""
    value = (text or "").strip()
    if not _TASK_ID.fullmatch(value):
        raise UsageError(f"无效的任务序号“{text}”，序号应为正整数，例如 40。")
    return int(value)


def parse_count(value: str | int | None) -> int | None:
    """How much a note counts towards a task's target (第二次列席: --count 1)."""
    if value is None:
        return None
    text = str(value).strip()
    if not _TASK_ID.fullmatch(text):
        raise UsageError(f"无效的次数“{value}”，应为正整数，例如 --count 1。")
    return int(text)


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
        (`init`); `must_exist` refuses to create anything (`backup`, `check`).
        """
        explicit = db_path is not None or "GONGKAI_DB" in os.environ
        path = Path(db_path).expanduser() if db_path is not None else default_db_path()
        is_new = not path.exists()
        if is_new:
            if must_exist:
                raise StoreError(f"数据库“{path}”不存在。")
            if explicit and not create_parents and not path.parent.is_dir():
                raise StoreError(
                    f"数据库所在目录“{path.parent}”不存在；请先创建该目录，或用 gongkai init 创建数据库。"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"无法创建数据库所在目录“{path.parent}”：{err.strerror}。") from err
        ledger = cls(Store.open(path), plan=plan or os.environ.get("GONGKAI_PLAN") or None)
        if is_new and bootstrap:
            ledger.import_file(bundled_plan_path())
        return ledger

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- plans ----------------------------------------------------------------

    def plans(self) -> list[Plan]:
        """Every plan, newest year first, the default one marked with why it is the default."""
        items = self.store.plans()
        default = self.default_plan()
        return [plan._replace(default=default.default) if default and plan.name == default.name else plan
                for plan in items]

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
            horizon = self.parse_date(within, plan)
            if horizon < self.today:
                raise UsageError(f"--within 的范围“{within}”应指向今天之后，例如 7d、2w、1m。")
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
        until = self.parse_date(within, plan)
        if until < self.today:
            raise UsageError(f"--within 的范围“{within}”应指向今天之后，例如 7d、2w、1m。")
        matches = self._unit_matches(units, direct=False)
        query = TaskQuery(
            units=_names(matches), due_before=until, with_due_only=True, open_only=True, order_by_due=True
        )
        tasks = _mark_via(self.store.tasks(plan.name, query, today=self.today), matches)
        if not by_unit:
            sections = (_reminder(None, tasks),)
        else:
            wanted = {self.directory.canonical("".join(u.split())) for u in units}
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
            name = self.directory.canonical("".join(unit.split()))
        zone = dates.tz()
        period = tuple(
            (task, note)
            for task in tasks
            for note in task.notes
            if start is None or datetime.fromisoformat(note.at).astimezone(zone).date() >= start
        )
        return ProgressReport(
            plan=plan, today=self.today, unit=name, since=start, tasks=tuple(tasks),
            period_notes=tuple(sorted(period, key=lambda pair: (pair[1].at, pair[1].id))),
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
            cleaned = "".join(typed.split())
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
        count: str | int | None = None,
    ) -> Note:
        text = _checked_note(text)
        if not text:
            raise UsageError("进展说明不能为空。")
        note, _ = self._write_note(task_id, text, by=by, status=status, count=parse_count(count))
        return note

    def add_notes_from(self, data: bytes, source: str, *, by: str | None = None) -> list[Note]:
        """Record a whole batch (CSV or JSON lines) in one transaction: every note, or none.

        Every line is checked before anything is written, and an error names its line.
        """
        from .batch import read_note_batch

        plan = self.plan()
        lines = read_note_batch(data, source)
        default_author = (by or "").strip() or current_user()
        entries = []
        for line in lines:
            values = line.values
            try:
                task_id = parse_task_id(values["id"] or "")
                text = _checked_note(values["text"])
                if not text:
                    raise UsageError("进展说明不能为空。")
                status = Status.parse(values["status"]) if (values["status"] or "").strip() else None
                count = parse_count(values["count"]) if (values["count"] or "").strip() else None
            except UsageError as err:
                raise UsageError(f"“{source}”第 {line.line} 行：{err.message}整批未写入。") from None
            author = (values["by"] or "").strip() or default_author
            entries.append(NoteInput(task_id, text, author, status, count))
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
        self, task_id: int, text: str, *, by: str | None, status: Status | None, count: int | None = None
    ) -> tuple[Note, Status]:
        plan = self.plan()
        author = (by or "").strip() or current_user()
        written = self.store.add_note(
            plan.name, task_id, at=dates.timestamp(), by=author, text=text, status=status, count=count
        )
        if written is None:
            raise NotFound(f"计划“{plan.name}”中没有序号为 {task_id} 的任务。")
        return written

    def import_file(
        self, path: str | os.PathLike, *, plan: str | None = None, year: int | None = None
    ) -> ImportResult:
        """Load a plan table; the whole file lands or nothing does."""
        from .tables import read_plan_table

        table = read_plan_table(path)
        source = Path(path).name
        if year is None:
            year = (dates.year_from_name(plan) if plan else None) or dates.year_from_name(source)
        year = year or self.today.year
        name = plan or str(year)
        warnings = []
        tasks = []
        for row in table.rows:
            start, due = dates.parse_deadline(row.deadline, year)
            if due is None:
                warnings.append(
                    f"第 {row.line} 行（序号 {row.id}）：无法识别时间节点“{row.deadline}”，已保留原文，截止日期留空。"
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
        counts = self.store.import_plan(
            name, year=year, source=source, at=dates.timestamp(), by=current_user(), tasks=tasks
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
        """The change `undo` would revert now."""
        event = self.store.last_undoable()
        if event is None:
            raise NotFound("没有可以撤销的更改。")
        return event

    def undo(self, event: Event, *, by: str | None = None) -> Event:
        """Revert `event`, which must still be the last change; returns the undo's own event."""
        author = (by or "").strip() or current_user()
        return self.store.undo(event.id, at=dates.timestamp(), by=author)

    # -- maintenance ----------------------------------------------------------

    def backup(self, target: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Copy the live database to `target`; a crash never leaves a half-written file under that name."""
        target = Path(target).expanduser()
        if target.is_dir():
            raise UsageError(f"备份目标“{target}”是一个目录，请指定文件名，例如 {target / 'gongkai-backup.db'}。")
        if not target.parent.is_dir():
            raise UsageError(f"备份目标所在目录“{target.parent}”不存在。")
        if target.exists():
            if not overwrite:
                raise UsageError(_backup_exists(target))
            if target.samefile(self.store.path):
                raise UsageError(f"备份目标“{target}”就是正在使用的数据库，不能覆盖。")
        try:
            import tempfile

            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(handle)
        except OSError as err:
            raise StoreError(f"无法在“{target.parent}”中写入备份：{err.strerror}。") from err
        temp = Path(name)
        try:
            # mkstemp's private 0600 would surprise whoever restores the copy; mirror the live file.
            os.chmod(temp, self.store.path.stat().st_mode & 0o7777)
            self.store.copy_to(temp)
            _move_into_place(temp, target, overwrite=overwrite)
        except OSError as err:
            raise StoreError(f"无法写入备份文件“{target}”：{err.strerror}。") from err
        finally:
            temp.unlink(missing_ok=True)
        return target

    def check(self) -> Path:
        """Run SQLite's integrity and foreign-key checks; StoreError naming the first problem."""
        problems = self.store.problems()
        if problems:
            count = f"共 {len(problems)} 个问题，" if len(problems) > 1 else ""
            raise StoreError(
                f"数据库“{self.store.path}”检查未通过：{count}第一个是“{problems[0]}”；请从备份恢复。"
            )
        return self.store.path


def _checked_note(text: str | None) -> str:
    text = (text or "").strip()
    # surrogateescape: bytes that are not UTF-8 are refused at the CLI edge, not here.
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_NOTE_BYTES:
        raise UsageError(f"进展说明过长（{size} 字节），上限为 {MAX_NOTE_BYTES} 字节（64 KiB）。")
    return text


def _backup_exists(target: Path) -> str:
    return f"备份文件“{target}”已存在；确需覆盖请加 --force。"


def _move_into_place(temp: Path, target: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, target)
    else:
        try:
            # Unlike a rename, a hard link fails if the name was taken in the meantime.
            os.link(temp, target)
        except FileExistsError:
            raise UsageError(_backup_exists(target)) from None
        except OSError:
            # File systems without hard links (FAT on a USB stick): check, then rename.
            if target.exists():
                raise UsageError(_backup_exists(target)) from None
            os.replace(temp, target)
    if os.name == "posix":
        # The rename itself is durable only once the directory is on disk.
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


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
