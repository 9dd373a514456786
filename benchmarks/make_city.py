"""Build a city-scale gongkai database for the benchmarks, through the package's own API.

    python benchmarks/make_city.py OUT.db [--districts 16] [--years 10] [--tasks-per-plan 625]
                                          [--notes 1000000] [--seed 1]

The default is a whole city: 16 districts × 10 years = 160 plans of 625 tasks
(100,000 tasks), about 2,000 units with groups, and 1,000,000 progress notes
skewed towards a few busy tasks. Import expands the groups each task names
(各街镇: 10–14 towns, 政府各部门: about 110 departments), which gives about
1.85 million assignments (seed 1: 1,852,618; the widest task has 127). Plans go through the real import path (one CSV
per plan, with merged cells left empty as Excel exports them); notes go through
Store.add_notes; the unit file is written as `units.csv` next to OUT.db, where
gongkai looks for an office's own units. Nothing here writes SQL, so the
database is exactly what gongkai itself would have made.

The same seed gives the same database (timestamps included).
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import csv
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gongkai_cli.domain.statuses import Status
from gongkai_cli.ledger import Ledger, bundled_plan_path
from gongkai_cli.store import NoteInput

# The newest plan year matches the bundled 2023 plan, so one GONGKAI_TODAY suits both.
LAST_YEAR = 2023
# Notes are committed in transactions of about this many rows: large enough that the
# generator is not bound by fsync, small enough to look like a busy office's batch jobs.
NOTES_PER_TRANSACTION = 20_000

DISTRICTS = (
    "嘉定区", "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区",
    "闵行区", "宝山区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区",
)

# Commonly named departments come first: task units are drawn with weights falling
# along this list, as in the real table where 区政府办公室 or 区财政局 appear far more
# often than 区档案馆.
DEPARTMENTS = (
    "政府办公室", "发展改革委", "财政局", "经委", "商务委", "科委", "教育局", "民政局",
    "人力资源社会保障局", "规划资源局", "生态环境局", "建设管理委", "住房保障房屋管理局", "交通委",
    "农业农村委", "水务局", "绿化市容局", "文化旅游局", "卫生健康委", "退役军人局", "应急管理局",
    "审计局", "国资委", "市场监管局", "体育局", "医保局", "信访办", "司法局", "统计局", "城运中心",
    "行政服务中心", "门户网站管理中心", "气象局", "新城推进办", "公安分局", "税务局", "档案局",
    "民防办", "机管局", "合作交流办", "侨办", "民宗办", "金融办", "投资促进中心", "融媒体中心",
    "公共资源交易中心", "土地储备中心", "房屋征收事务中心", "住房公积金管理中心", "疾病预防控制中心",
    "卫生健康监督所", "妇幼保健所", "图书馆", "文化馆", "博物馆", "档案馆", "青少年活动中心", "残联",
    "妇联", "团委", "总工会", "红十字会", "科协", "工商联", "地方志办", "粮食和物资储备局",
    "数据局", "网信办", "外办", "编办", "农业技术推广中心", "动物疫病预防控制中心", "环境监测站",
    "劳动保障监察大队", "就业促进中心", "社会保险事业管理中心", "医疗保障事务中心", "教育学院",
    "招生考试中心", "急救中心", "精神卫生中心", "中心医院", "中医医院", "殡葬管理所", "社会福利院",
    "救助管理站", "老龄办", "双拥办", "军休所", "建筑业管理中心", "建设工程安全质量监督站",
    "市政工程管理所", "公路管理所", "交通执法大队", "绿化管理所", "环境卫生管理所", "河道管理所",
    "供排水管理所", "城管执法局", "消防救援支队", "规划资源执法大队", "生态环境执法大队",
    "市场监管执法大队", "文化市场行政执法大队", "农业综合执法大队", "知识产权局", "人才服务中心",
    "企业服务中心", "社区事务受理服务中心", "征兵办", "爱卫办", "食品安全办", "安全生产委员会办公室",
    "科技创业中心", "政务服务办",
)
# One department per district has a second, shorter name, as 区行政服务中心（区大数据中心）
# has in the real unit file; task tables use either spelling.
ALIASED = "行政服务中心"

# Characters of real Shanghai town names; two of them and a suffix make a town.
TOWN_PARTS = "".join(dict.fromkeys(
    "安亭南翔马陆徐行华外冈江桥真新菊园成朱泾枫林张堰吕巷廊下漕山阳金卫石湖泗佘车墩洞九泖港小昆方松"
    "永丰广富岳中家角练塘泽赵白鹤重固奉城庄汇四团青村柘海湾西渡浦堡河庙竖向化三星沿兴陈东平长罗店"
    "月杨顾大场淞高境友谊吴淞七宝莘梅陇虹颛漕古美川"
))
TOWN_SUFFIXES = ("镇", "镇", "镇", "镇", "街道", "街道", "街道", "新区", "工业区")

TOWNS_GROUP = "各街镇"
DEPARTMENTS_GROUP = "政府各部门"
# Groups a task may name but nobody can expand: shown as written, never expanded.
VAGUE_GROUPS = ("各相关部门", "各相关单位")

# (deadline template, weight); 全年 dominates as in the real table (85 of 91 tasks).
DEADLINES = (
    ("全年", 78), ("年底前", 3), ("{m}月{d}日前", 7), ("{m}月底前", 5), ("{m}月份", 3),
    ("第{q}季度", 2), ("上半年", 1), ("下半年", 1),
)
QUARTERS = "一二三四"

OPENERS = ("", "", "", "进一步", "持续", "全面", "扎实", "认真", "积极")
NOTE_TOPICS = (
    "政策文件", "重大项目", "财政预决算", "政策解读", "依申请公开", "政府开放活动", "政务新媒体", "民生实事",
    "重大行政决策", "审计整改", "公共资源交易", "营商环境政策", "政府网站", "政策问答", "基层政务公开",
)
NOTE_TEMPLATES = (
    "已在政府门户网站发布{topic}相关信息{n}条。",
    "召开{topic}专题会议，部署下一阶段工作。",
    "完成{month}月份{topic}工作进展报送。",
    "{topic}工作按计划推进，已完成阶段任务的{pct}%。",
    "对照要点梳理{topic}公开清单，共{n}项，已逐项落实责任人。",
    "组织开展{topic}培训，参训{n}人次。",
    "配合牵头单位完成{topic}材料汇总。",
    "{topic}相关内容已在政务公开专区集中公开。",
    "收到群众关于{topic}的意见建议{n}条，已全部答复。",
    "因上级政策调整，{topic}公开时间顺延，已报备。",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱马胡郭林何高罗"
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞")


@dataclass(frozen=True)
class District:
    name: str
    departments: tuple[str, ...]
    towns: tuple[str, ...]

    @property
    def stem(self) -> str:
        """嘉定 for 嘉定区, 浦东 for 浦东新区: the district as the task texts name it."""
        return re.sub(r"(新区|区)$", "", self.name)

    @property
    def towns_group(self) -> str:
        return self.name + TOWNS_GROUP

    @property
    def departments_group(self) -> str:
        return self.name + DEPARTMENTS_GROUP

    @property
    def aliased(self) -> tuple[str, str]:
        """(unit name, alias) of the department with two spellings."""
        return f"{self.name}{ALIASED}（{self.name}大数据中心）", f"{self.name}大数据中心"


@dataclass(frozen=True)
class PlanTask:
    id: int
    group: str
    content: str
    units: tuple[str, ...]
    deadline: str
    target: bool  # the content asks for a count (不少于N次), so notes may count towards it


def district_names(count: int) -> list[str]:
    """Shanghai's 16 districts first; beyond them, invented ones so any size can be built."""
    return [*DISTRICTS[:count], *(f"示范{n}区" for n in range(len(DISTRICTS) + 1, count + 1))]


def make_districts(count: int, rng: random.Random) -> list[District]:
    districts, used_towns = [], set()
    for name in district_names(count):
        # Each district lacks a few departments, as real ones differ; the benchmarks ask
        # for every district's 财政局, and the aliased one is there to exercise aliases.
        bases = [base for base in DEPARTMENTS if base in ("财政局", ALIASED) or rng.random() < 0.95]
        aliased = District(name, (), ()).aliased[0]
        departments = [aliased if base == ALIASED else f"{name}{base}" for base in bases]
        towns: list[str] = []
        wanted = rng.randint(10, 14)
        while len(towns) < wanted:
            town = "".join(rng.sample(TOWN_PARTS, 2)) + rng.choice(TOWN_SUFFIXES)
            if town not in used_towns:
                used_towns.add(town)
                towns.append(town)
        districts.append(District(name, tuple(departments), tuple(towns)))
    return districts


def write_units_csv(path: Path, districts: list[District]) -> int:
    """The office's unit file (name,kind,aliases,members; lists joined by 、). Returns the row count."""
    rows = []
    for district in districts:
        aliased, alias = district.aliased
        rows += [(d, "department", alias if d == aliased else "", "") for d in district.departments]
        rows += [(t, "town", "", "") for t in district.towns]
        rows.append((district.towns_group, "group", "", "、".join(district.towns)))
        rows.append((district.departments_group, "group", "", "、".join(district.departments)))
    rows += [(name, "group", "", "") for name in VAGUE_GROUPS]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("name", "kind", "aliases", "members"))
        writer.writerows(rows)
    return len(rows)


def bundled_texts() -> tuple[list[str], list[str]]:
    """Clauses of the bundled plan's task contents, and its task group names."""
    path = bundled_plan_path()
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    clauses = [
        clause
        for row in rows
        for clause in re.split(r"[，；。]", row["content"])
        if len(clause) >= 6
    ]
    groups = list(dict.fromkeys(row["group"] for row in rows))
    return clauses, groups


def make_deadline(rng: random.Random, year: int) -> str:
    template = rng.choices([t for t, _ in DEADLINES], weights=[w for _, w in DEADLINES])[0]
    month = rng.randint(1, 12)
    return template.format(
        m=month, d=rng.randint(1, calendar.monthrange(year, month)[1]), q=rng.choice(QUARTERS)
    )


def make_units(rng: random.Random, district: District, weights: list[float]) -> tuple[str, ...]:
    """1–6 units of the district, lead first; often a group among them."""
    lead = rng.choices(district.departments, weights=weights)[0]
    units = [lead]
    wanted = rng.choices((1, 2, 3, 4, 5, 6), weights=(20, 20, 25, 15, 12, 8))[0]
    while len(units) < wanted:
        roll = rng.random()
        if roll < 0.12 and district.towns_group not in units:
            unit = district.towns_group
        elif roll < 0.17 and district.departments_group not in units:
            unit = district.departments_group
        elif roll < 0.22:
            unit = rng.choice(VAGUE_GROUPS)
        elif roll < 0.35:
            unit = rng.choice(district.towns)
        else:
            unit = rng.choices(district.departments, weights=weights)[0]
        if unit not in units:
            units.append(unit)
    aliased, alias = district.aliased
    # Some tables use the short spelling; import must fold it into the one unit.
    return tuple(alias if u == aliased and rng.random() < 0.5 else u for u in units)


def make_plan(
    rng: random.Random, district: District, year: int, count: int, clauses: list[str], groups: list[str]
) -> list[PlanTask]:
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(district.departments))]
    tasks: list[PlanTask] = []
    group = ""
    left_in_group = 0
    for task_id in range(1, count + 1):
        if left_in_group == 0:
            group = rng.choice(groups).replace("嘉定", district.stem)
            left_in_group = rng.randint(1, 6)
        left_in_group -= 1
        parts = rng.sample(clauses, rng.choice((1, 2, 2, 3)))
        content = rng.choice(OPENERS) + "，".join(parts).replace("嘉定", district.stem)
        if rng.random() < 0.2:
            content = f"围绕{year}年度重点工作，{content}"
        target = rng.random() < 0.08
        if target:
            content += f"，全年不少于{rng.randint(2, 6)}次"
        tasks.append(PlanTask(task_id, group, content + "。", make_units(rng, district, weights),
                              make_deadline(rng, year), target))
    return tasks


def write_plan_csv(path: Path, tasks: list[PlanTask]) -> None:
    """The plan as an office exports it from Excel: a repeated group is left empty (merged cell)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "group", "content", "units", "deadline"))
        previous = None
        for task in tasks:
            writer.writerow((task.id, "" if task.group == previous else task.group,
                             task.content, "、".join(task.units), task.deadline))
            previous = task.group


@contextlib.contextmanager
def frozen_clock(moment: datetime, user: str) -> Iterator[None]:
    """Let gongkai stamp an import with `moment` (GONGKAI_NOW), so a seed fixes every byte."""
    saved = {name: os.environ.get(name) for name in ("GONGKAI_NOW", "GONGKAI_USER")}
    os.environ.update(GONGKAI_NOW=moment.isoformat(), GONGKAI_USER=user)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES) + (rng.choice(GIVEN_NAMES) if rng.random() < 0.6 else "")


def note_calls(
    rng: random.Random, year: int, tasks: list[PlanTask], count: int
) -> Iterator[tuple[str, list[NoteInput]]]:
    """A plan's notes as (timestamp, notes) per day, oldest first.

    A few tasks collect most notes (Pareto weights). A task's first note usually
    starts it, its last usually closes it (more often in older plans), and a few
    get stuck on the way.
    """
    # Most tasks get a handful of notes, the busiest of a plan a few hundred; the cap keeps
    # Pareto's unbounded tail from handing one task most of a plan's notes.
    weights = [min(rng.paretovariate(1.5), 100.0) for _ in tasks]
    picks = rng.choices(range(len(tasks)), weights=weights, k=count)
    days = 366 if calendar.isleap(year) else 365
    dated = sorted((rng.randrange(days), seq, index) for seq, index in enumerate(picks))
    first, last = {}, {}
    for position, (_, _, index) in enumerate(dated):
        first.setdefault(index, position)
        last[index] = position
    done_share = 0.9 if year < LAST_YEAR else 0.45
    by_day: dict[int, list[NoteInput]] = {}
    for position, (day, _, index) in enumerate(dated):
        task = tasks[index]
        status = None
        if position == last[index] and position != first[index]:
            roll = rng.random()
            status = Status.DONE if roll < done_share else Status.CANCELLED if roll < done_share + 0.03 else None
        elif position == first[index]:
            status = Status.DOING if rng.random() < 0.7 else None
        elif rng.random() < 0.005:
            status = Status.BLOCKED
        text = rng.choice(NOTE_TEMPLATES).format(
            topic=rng.choice(NOTE_TOPICS), n=rng.randint(1, 40), pct=rng.randrange(10, 100, 10),
            month=rng.randint(1, 12),
        )
        count_towards = 1 if task.target and rng.random() < 0.5 else None
        by_day.setdefault(day, []).append(NoteInput(task.id, text, person(rng), status, count_towards,
                                                        all_units=status is not None))
    for day, entries in by_day.items():
        moment = datetime(year, 1, 1, rng.randint(8, 18), rng.randrange(60), rng.randrange(60)) + timedelta(days=day)
        yield f"{moment.isoformat()}+08:00", entries


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def build(
    out: Path, *, districts: int = 16, years: int = 10, tasks_per_plan: int = 625,
    notes: int = 1_000_000, seed: int = 1,
) -> dict[str, int]:
    """Create the database at `out` (which must not exist) and units.csv beside it; returns counts."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; remove it first")
    rng = random.Random(seed)
    clauses, groups = bundled_texts()
    city = make_districts(districts, rng)
    unit_rows = write_units_csv(out.parent / "units.csv", city)
    plan_years = list(range(LAST_YEAR - years + 1, LAST_YEAR + 1))
    note_shares = iter(spread(notes, districts * years))
    written = 0
    with Ledger.open(out, bootstrap=False) as ledger, tempfile.TemporaryDirectory() as tmp:
        pending: list[tuple[str, str, list[NoteInput]]] = []
        pending_notes = 0
        for year in plan_years:
            for index, district in enumerate(city):
                plan = f"{district.name}{year}"
                tasks = make_plan(rng, district, year, tasks_per_plan, clauses, groups)
                csv_path = Path(tmp) / f"{plan}.csv"
                write_plan_csv(csv_path, tasks)
                # Imported in early January, a minute apart: the newest plan is well defined.
                with frozen_clock(datetime.fromisoformat(f"{year}-01-04T09:00:00+08:00")
                                  + timedelta(minutes=index), "make_city"):
                    ledger.import_file(csv_path, plan=plan, year=year)
                csv_path.unlink()
                for at, entries in note_calls(rng, year, tasks, next(note_shares)):
                    pending.append((plan, at, entries))
                    pending_notes += len(entries)
                    if pending_notes >= NOTES_PER_TRANSACTION:
                        written += commit_notes(ledger, pending)
                        pending, pending_notes = [], 0
        written += commit_notes(ledger, pending)
        plans = ledger.plans()
        used_units = len(ledger.store.tasks.unit_names())
    return {
        "plans": len(plans),
        "tasks": sum(plan.tasks for plan in plans),
        "units in units.csv": unit_rows,
        "units named on tasks": used_units,
        "notes": written,
    }


def commit_notes(ledger: Ledger, calls: list[tuple[str, str, list[NoteInput]]]) -> int:
    """Many days' notes in one transaction; each day is its own add_notes call with its own time."""
    with ledger.store.transaction():
        for plan, at, entries in calls:
            if ledger.store.notes.add_notes(plan, entries, at=at) is None:
                raise RuntimeError(f"a note names a task missing from plan {plan}")
    return sum(len(entries) for _, _, entries in calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="database file to create (must not exist)")
    parser.add_argument("--districts", type=int, default=16)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--tasks-per-plan", type=int, default=625)
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if min(args.districts, args.years, args.tasks_per_plan) < 1 or args.notes < 0:
        parser.error("sizes must be positive (notes may be 0)")
    started = time.perf_counter()
    try:
        counts = build(args.out, districts=args.districts, years=args.years,
                       tasks_per_plan=args.tasks_per_plan, notes=args.notes, seed=args.seed)
    except FileExistsError as err:
        sys.exit(str(err))
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{value:,} {name}" for name, value in counts.items())
    size = args.out.stat().st_size / 2**20
    print(f"built {args.out} ({size:,.0f} MiB, seed {args.seed}) in {seconds:.1f} s: {summary}")


if __name__ == "__main__":
    main()
