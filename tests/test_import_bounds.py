"""Importing through the installed executable: bounded by the real data, the format told
by content, and unit names checked against the unit file.

Every run is capped at 1.5 GB of address space, so a reader that walks a sheet's
whole grid fails here (MemoryError) instead of taking the machine with it.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import zipfile
from pathlib import Path

import pytest

import hostile_files as hostile
from gongkai_cli.inputs import plan_files as tables, plan_rows
from postgres import query
from processes import cron_env, in_process

ADDRESS_SPACE = 1536 * 1024 * 1024
HEADER = "序号,任务名称,任务内容,责任单位,时间节点\n"


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture
def gongkai(executable: str, tmp_path: Path, ledger_db: str):
    db = ledger_db
    env = cron_env(tmp_path, Path(db), today="2023-04-01", user="测试员") | {"GONGKAI_DB": db}

    def call(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
        # The timeout only keeps a runaway reader from hanging the suite; nothing asserts on time.
        result = subprocess.run(
            [executable, *args], check=False, capture_output=True, input=input, env=env,
            cwd=tmp_path, timeout=300, preexec_fn=_capped,
        )
        result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
        return result

    call.db = db
    # The empty ledger the imports go into, made in-process: the executable's part is the import.
    assert in_process(env)("init", "--empty").returncode == 0
    return call


def tasks_in(db: str, plan: str) -> list[tuple]:
    """Each task of `plan`: its id, content and units, in order, joined as the table cell had them."""
    tasks: dict[int, tuple[str, list[str]]] = {}
    for task_id, content, unit in query(
        db, """SELECT t.id, t.content, u.name FROM tasks t
               LEFT JOIN task_units tu ON tu.task = t.pk LEFT JOIN units u ON u.id = tu.unit
               WHERE t.plan = ? ORDER BY t.id, tu.position""", (plan,)):
        tasks.setdefault(task_id, (content, []))[1].extend([unit] if unit is not None else [])
    return [(task_id, content, "、".join(units) or None) for task_id, (content, units) in tasks.items()]


def unit_names(db: str) -> set[str]:
    return {name for (name,) in query(db, "SELECT name FROM units")}


def one_chinese_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("错误：") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr
    return result.stderr


def no_english(message: str) -> None:
    """No words of a Python or csv message: only the names of formats and programs we mean to show."""
    allowed = {"Excel", "WPS", "LibreOffice", "OpenDocument", "Word", "PDF", "HTML", "XML", "CSV", "UTF",
               "GBK", "GB18030", "NUL", "ZIP", "xlsx", "xls", "xlsb", "ods", "docx", "strict", "gongkai",
               "undo", "sharedStrings", "xml", "MB", "tsv", "csv"}
    words = set(re.findall(r"[A-Za-z]{2,}", message))
    assert words <= allowed | set(re.findall(r"[A-Za-z]{2,}", str(Path.cwd()))), words - allowed


# -- bounded by the real data -----------------------------------------------------------------


def test_a_cell_at_XFD1048576_does_not_make_import_walk_the_grid(gongkai, tmp_path):
    # 5 KB per sheet; the whole-sheet reader built a 16,384 × 1,048,576 grid for each.
    path = hostile.plan_workbook(tmp_path / "tasks_2024.xlsx", sheets=3, far_cell=True)
    assert path.stat().st_size < 20_000
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert tasks_in(gongkai.db, "2024") == [(1, "内容一", "区财政局")]


def _task_row(number: int, task_id: int) -> bytes:
    return (f'<row r="{number}"><c r="A{number}"><v>{task_id}</v></c>'.encode()
            + b"".join(hostile._inline(f"{c}{number}", t).encode()
                       for c, t in zip("BCDE", ("组", f"内容{task_id}", "区财政局", "全年"), strict=True))
            + b"</row>")


def test_content_far_below_the_table_is_refused_not_dropped(gongkai, tmp_path):
    """100 empty rows end the table; a row after them used to be dropped without a word."""
    rows = [hostile._header_row(), _task_row(2, 1), _task_row(5000, 2)]
    path = hostile.raw_workbook(tmp_path / "tasks_2024.xlsx", rows)
    one_chinese_error(gongkai("import", str(path)), "第 5000 行", f"{plan_rows.MAX_EMPTY_RUN} 个以上的空行")
    assert tasks_in(gongkai.db, "2024") == []


@pytest.mark.parametrize(("blank", "imported"), [(plan_rows.MAX_EMPTY_RUN - 1, [1, 2]), (plan_rows.MAX_EMPTY_RUN, [])])
def test_csv_task_rows_after_a_run_of_blank_lines(gongkai, tmp_path, blank, imported):
    text = HEADER + "1,组,内容一,区财政局,全年\n" + ",,,,\n" * blank + "2,组,内容二,区财政局,全年\n" + "\n" * 100_000
    path = tmp_path / "tasks_2024.csv"
    path.write_text(text, encoding="utf-8")
    result = gongkai("import", str(path))
    if imported:
        assert result.returncode == 0, result.stderr
    else:
        one_chinese_error(result, f"第 {blank + 3} 行")
    assert [task[0] for task in tasks_in(gongkai.db, "2024")] == imported


def test_a_sheet_of_a_million_rows_is_refused_from_the_zip_directory(gongkai, tmp_path):
    path = hostile.many_rows(tmp_path / "tasks_2024.xlsx", 1_048_575)
    one_chinese_error(gongkai("import", str(path)), "tasks_2024.xlsx", f"{tables.MAX_UNPACKED_BYTES // 2**20} MB")
    assert tasks_in(gongkai.db, "2024") == []


def test_a_zip_bomb_in_the_shared_strings_is_refused_before_it_is_unpacked(gongkai, tmp_path):
    path = hostile.huge_shared_string(tmp_path / "tasks_2024.xlsx", 100 * 2**20)
    assert path.stat().st_size < 2**20
    message = one_chinese_error(gongkai("import", str(path)), "sharedStrings.xml", "100.0 MB",
                                f"{tables.MAX_SHARED_STRINGS_BYTES // 2**20} MB")
    no_english(message.replace(str(path), ""))


def test_sizes_come_from_the_zip_directory_alone(gongkai, tmp_path):
    """A directory entry claiming 3 GB is refused although the bytes behind it are few."""
    path = hostile.plan_workbook(tmp_path / "tasks_2024.xlsx")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        claimed = {info.filename: info.file_size for info in archive.infolist()}
    directory = data.rindex(b"PK\x05\x06")
    entry = int.from_bytes(data[directory + 16:directory + 20], "little")
    while entry < directory:
        name_length = int.from_bytes(data[entry + 28:entry + 30], "little")
        extra, comment = (int.from_bytes(data[entry + o:entry + o + 2], "little") for o in (30, 32))
        name = data[entry + 46:entry + 46 + name_length].decode()
        if name == hostile.SHEET:
            data[entry + 24:entry + 28] = (3 * 2**30).to_bytes(4, "little")
        entry += 46 + name_length + extra + comment
    path.write_bytes(bytes(data))
    assert claimed[hostile.SHEET] < 10_000
    one_chinese_error(gongkai("import", str(path)), "3072.0 MB")


def test_a_cell_longer_than_excel_allows_is_refused(gongkai, tmp_path):
    path = hostile.long_cell(tmp_path / "tasks_2024.xlsx", plan_rows.MAX_CELL_CHARS + 1)
    one_chinese_error(gongkai("import", str(path)), "第 2 行", "任务内容", str(plan_rows.MAX_CELL_CHARS))
    csv = tmp_path / "tasks_2025.csv"
    csv.write_text(HEADER + "1,组," + "长" * 200_000 + ",区财政局,全年\n", encoding="utf-8")
    message = one_chinese_error(gongkai("import", str(csv)), "第 2 行", str(plan_rows.MAX_CELL_CHARS))
    no_english(message.replace(str(csv), ""))


@pytest.mark.slow  # builds and imports tables of the row limit, a workbook and a CSV: seconds
def test_more_task_rows_than_the_limit_are_refused(gongkai, tmp_path):
    path = hostile.many_rows(tmp_path / "tasks_2024.xlsx", plan_rows.MAX_ROWS + 1, tasks=True)
    one_chinese_error(gongkai("import", str(path)), f"{plan_rows.MAX_ROWS} 行")
    csv = tmp_path / "tasks_2025.csv"
    csv.write_text(HEADER + "".join(f"{n},组,内容{n},区财政局,全年\n" for n in range(1, plan_rows.MAX_ROWS + 2)))
    one_chinese_error(gongkai("import", str(csv)), f"{plan_rows.MAX_ROWS} 行")
    csv.write_text(HEADER + "".join(f"{n},组,内容{n},区财政局,全年\n" for n in range(1, plan_rows.MAX_ROWS + 1)))
    assert gongkai("import", str(csv)).returncode == 0


@pytest.mark.slow  # two workbooks of the merge limit, each read whole: seconds
def test_more_merged_cells_than_the_limit_are_refused(gongkai, tmp_path):
    # A few hundred kilobytes of <mergeCell> would otherwise build a dictionary entry per range.
    path = hostile.many_merges(tmp_path / "tasks_2024.xlsx", tables.MAX_MERGES + 1)
    one_chinese_error(gongkai("import", str(path)), "合并单元格", f"{tables.MAX_MERGES} 处")
    assert tasks_in(gongkai.db, "2024") == []
    path = hostile.many_merges(tmp_path / "tasks_2024.xlsx", tables.MAX_MERGES)
    assert gongkai("import", str(path)).returncode == 0
    assert tasks_in(gongkai.db, "2024") == [(1, "内容一", "区财政局")]


def test_merged_cells_are_still_spread_down_their_column(gongkai, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["2024年任务分解表"], hostile.HEADER, [1, "组", "同一段内容", "区财政局", "全年"], [2, None, None, None, None]):
        sheet.append(row)
    sheet.merge_cells("A1:E1")
    for column in "BCDE":
        sheet.merge_cells(f"{column}3:{column}4")
    path = tmp_path / "tasks_2024.xlsx"
    book.save(path)
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert tasks_in(gongkai.db, "2024") == [(1, "同一段内容", "区财政局"), (2, "同一段内容", "区财政局")]


# -- the format is told by content -----------------------------------------------------------


def _zip(path: Path, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


def test_a_workbook_named_xls_imports(gongkai, tmp_path):
    path = hostile.plan_workbook(tmp_path / "tasks_2024.xlsx").rename(tmp_path / "tasks_2024.xls")
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert tasks_in(gongkai.db, "2024") == [(1, "内容一", "区财政局")]


@pytest.mark.parametrize(
    ("name", "make", "needles"),
    [
        ("tasks_2024.xlsx", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)),
         ("旧版 Excel 文件（.xls）", "另存为 .xlsx")),
        ("tasks_2024.csv", lambda p: _zip(p, {"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                                               "content.xml": "<office:document-content/>"}),
         ("OpenDocument 电子表格（.ods）", "另存为 .xlsx")),
        ("tasks_2024.ods", lambda p: _zip(p, {"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                                               "content.xml": "<office:document-content/>"}),
         ("OpenDocument 电子表格（.ods）", "另存为 .xlsx")),
        ("tasks_2024.csv", lambda p: _zip(p, {"word/document.xml": "<w:document/>"}), ("Word 文档", "另存为 .docx")),
        ("tasks_2024.xlsx", lambda p: p.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), ("PDF",)),
        ("tasks_2024.xls", lambda p: p.write_text("<html><body><table><tr><td>序号</td></tr></table></body></html>"),
         ("网页（HTML）", "另存为 .xlsx")),
        ("tasks_2024.xlsx", lambda p: _zip(p, {"readme.txt": "not a workbook"}), ("ZIP 压缩包", "另存为 .xlsx")),
        ("tasks_2024.csv", lambda p: p.write_bytes(b""), ("是空的",)),
    ],
    ids=["xls-named-xlsx", "ods-named-csv", "ods", "docx-named-csv", "pdf-named-xlsx", "html-named-xls", "other-zip", "empty"],
)
def test_what_cannot_be_read_is_named_with_how_to_convert_it(gongkai, tmp_path, name, make, needles):
    path = tmp_path / name
    make(path)
    message = one_chinese_error(gongkai("import", str(path)), name, *needles)
    no_english(message.replace(str(path), ""))
    assert tasks_in(gongkai.db, "2024") == []


@pytest.mark.parametrize("delimiter", [",", "\t", ";"], ids=["comma", "tab", "semicolon"])
def test_csv_separated_by_commas_tabs_or_semicolons(gongkai, tmp_path, delimiter):
    # Excel quotes every cell in its tab-separated "Unicode text"; a comma reader saw one broken field.
    cells = [["序号", "任务名称", "任务内容", "责任单位", "时间节点"],
             ["1", "组", "内容，含逗号;与分号", "区财政局、马陆镇", "全年"],
             ["2", "", "第二项", "区经委", "4月20日前"]]
    text = "".join(delimiter.join(f'"{cell}"' for cell in row) + "\n" for row in cells)
    path = tmp_path / "tasks_2024.csv"
    path.write_text("2024年任务分解表\n" + text, encoding="utf-8")
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert tasks_in(gongkai.db, "2024") == [(1, "内容，含逗号;与分号", "区财政局、马陆镇"), (2, "第二项", "区经委")]


def test_a_csv_error_never_shows_csv_module_english(gongkai, tmp_path):
    path = tmp_path / "tasks_2024.csv"
    path.write_text(HEADER + '1,组,"内容"多余,区财政局,全年\n', encoding="utf-8")
    message = one_chinese_error(gongkai("import", str(path)), "第 2 行", "CSV 格式有误")
    no_english(message.replace(str(path), ""))


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_table_from_a_pipe_is_detected_and_read_from_the_same_bytes(gongkai, tmp_path, kind):
    if kind == "csv":
        data = (HEADER + "1,组,内容一,区财政局,全年\n").encode()
    else:
        data = hostile.plan_workbook(tmp_path / "plan.xlsx").read_bytes()
    result = gongkai("import", "/dev/stdin", "--plan", "2024", input=data)
    assert result.returncode == 0, result.stderr
    assert tasks_in(gongkai.db, "2024") == [(1, "内容一", "区财政局")]


# -- unit names -------------------------------------------------------------------------------


UNKNOWN = HEADER + "1,组,内容一,区财政厅、马陆镇,全年\n2,组,内容二,各街道,全年\n3,组,内容三,区财政厅,全年\n"


def test_unknown_units_are_listed_with_the_closest_known_name(gongkai, tmp_path):
    path = tmp_path / "tasks_2024.csv"
    path.write_text(UNKNOWN, encoding="utf-8")
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert "区财政厅 → 区财政局？（第 2、4 行）" in result.stderr
    assert "各街道 → 各街镇？（第 3 行）" in result.stderr
    assert "马陆镇" not in result.stderr
    assert "--strict" in result.stderr
    assert len(tasks_in(gongkai.db, "2024")) == 3


def test_strict_refuses_unknown_units_and_writes_nothing(gongkai, tmp_path):
    path = tmp_path / "tasks_2024.csv"
    path.write_text(UNKNOWN, encoding="utf-8")
    one_chinese_error(gongkai("import", str(path), "--strict"), "区财政厅 → 区财政局？", "各街道 → 各街镇？", "--strict")
    assert query(gongkai.db, "SELECT count(*) FROM events") == [(0,)]
    assert tasks_in(gongkai.db, "2024") == [] and unit_names(gongkai.db) == set()
    known = tmp_path / "tasks_2025.csv"
    known.write_text(HEADER + "1,组,内容,区财政局,全年\n", encoding="utf-8")
    assert gongkai("import", str(known), "--strict").returncode == 0


def test_undoing_an_import_removes_only_the_units_it_introduced(gongkai, tmp_path):
    first = tmp_path / "tasks_2023.csv"
    first.write_text(HEADER + "1,组,内容,区财政局、区财政厅,全年\n", encoding="utf-8")
    assert gongkai("import", str(first)).returncode == 0
    second = tmp_path / "tasks_2024.csv"
    second.write_text(UNKNOWN, encoding="utf-8")
    assert gongkai("import", str(second)).returncode == 0
    assert {"区财政厅", "各街道", "马陆镇"} <= unit_names(gongkai.db)
    undone = gongkai("undo", "--yes")
    assert undone.returncode == 0, undone.stderr
    # 区财政厅 came with the first import and is still named by its task; 各街道 and 马陆镇 came with the second.
    assert unit_names(gongkai.db) == {"区财政局", "区财政厅"}
    listed = json.loads(gongkai("--plan", "2023", "units", "--format", "json").stdout)
    assert "各街道" not in {unit["name"] for unit in listed}
    assert gongkai("undo", "--yes").returncode == 0
    assert unit_names(gongkai.db) == set()
