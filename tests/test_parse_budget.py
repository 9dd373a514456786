"""Untrusted documents parsed under a budget (issue 26): each file of the hostile round, small on
disk, is refused with one Chinese line that names the limit, exit 2, nothing written.

Every run of the installed executable is held by the kernel to the budget docs/reliability.md
promises for any file within the size limits, 512 MB of address space and 30 s of CPU time, so a
reader that overspends fails here (a MemoryError, or SIGXCPU) instead of taking the machine.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

import hostile_documents as hostile
from gongkai_cli.domain.errors import UsageError
from gongkai_cli.inputs import budget, documents, note_batches, plan_files, plan_rows
from postgres import query
from processes import cron_env, in_process

BUDGET_BYTES = 512 * 1024 * 1024
BUDGET_SECONDS = 30


def _budget() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BUDGET_BYTES, BUDGET_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (BUDGET_SECONDS, BUDGET_SECONDS))


@pytest.fixture
def gongkai(executable: str, tmp_path: Path, ledger_db: str):
    env = cron_env(tmp_path, ledger_db, today="2023-04-01", user="测试员") | {"GONGKAI_DB": ledger_db}

    def start(*args: str) -> subprocess.Popen[str]:
        # _budget only calls setrlimit, which takes no lock another thread could hold at the fork.
        return subprocess.Popen([executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                encoding="utf-8", env=env, cwd=tmp_path,
                                preexec_fn=_budget)  # noqa: PLW1509

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        process = start(*args)
        # The timeout only keeps a runaway reader from hanging the suite; nothing asserts on time.
        stdout, stderr = process.communicate(timeout=300)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    call.start = start
    call.db = ledger_db
    # The ledger, with the bundled 2023 plan, made in-process: the executable's part is the file.
    assert in_process(env)("init").returncode == 0
    return call


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def plans(db: str) -> list[str]:
    return [name for (name,) in query(db, "SELECT name FROM plans ORDER BY name")]


def note_count(db: str) -> int:
    return query(db, "SELECT count(*) FROM notes")[0][0]


# -- xlsx ------------------------------------------------------------------------------------


def test_a_workbook_with_millions_of_cell_formats_is_refused_before_openpyxl_builds_them(gongkai, tmp_path):
    # 42 KB; openpyxl spent 188 s and 3.7 GB on its style sheet.
    path = hostile.xlsx_many_styles(tmp_path / "tasks_2024.xlsx", 5_500_000)
    assert path.stat().st_size < 100_000
    refused(gongkai("import", str(path)), "styles.xml", f"{plan_files.MAX_STYLE_ELEMENTS} 个的上限")
    assert plans(gongkai.db) == ["2023"]


def test_a_workbook_listing_a_hundred_thousand_sheets_is_refused_before_openpyxl_opens_them(gongkai, tmp_path):
    path = hostile.xlsx_many_sheets(tmp_path / "tasks_2024.xlsx", 100_000)
    assert path.stat().st_size < 1_000_000
    refused(gongkai("import", str(path)), "workbook.xml", f"{plan_files.MAX_WORKBOOK_ELEMENTS} 个的上限")


def test_a_workbook_with_formats_under_the_limit_imports(gongkai, tmp_path):
    path = hostile.xlsx_many_styles(tmp_path / "tasks_2024.xlsx", 1_000)
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert plans(gongkai.db) == ["2023", "2024"]


# -- Word ------------------------------------------------------------------------------------


def test_a_row_starting_a_trillion_grid_columns_in_is_refused_without_building_it(gongkai, tmp_path):
    # <w:gridBefore w:val="999999999999"/> was a list of that many cells: MemoryError.
    path = hostile.docx_grid_before(tmp_path / "tasks_2024.docx", 999_999_999_999)
    refused(gongkai("import", str(path)), f"{documents.MAX_GRID_COLUMNS} 列")


def test_a_document_part_unpacking_to_72_mb_is_refused_from_the_zip_directory(gongkai, tmp_path):
    # 141 KB; python-docx parsed it into 1.5 GB.
    path = hostile.docx_huge_body(tmp_path / "tasks_2024.docx", 72 * 2**20)
    assert path.stat().st_size < 200_000
    refused(gongkai("import", str(path)), "XML", f"{documents.MAX_XML_BYTES // 2**20} MB 的上限")


def test_a_table_of_twenty_thousand_rows_of_64_cells_is_refused_before_it_is_parsed(gongkai, tmp_path):
    # 130 KB; 51 s and 0.9 GB before the row limit refused it.
    path = hostile.docx_huge_table(tmp_path / "tasks_2024.docx", 19_999, 64)
    assert path.stat().st_size < 300_000
    refused(gongkai("import", str(path)), "上限")


def test_table_cells_are_counted_before_python_docx_parses_the_document(gongkai, tmp_path):
    # Within the XML limit, 100,010 cells ahead of the plan's table (10 more) were all read first.
    path = hostile.docx_huge_table(tmp_path / "tasks_2024.docx", 10_001, 10)
    refused(gongkai("import", str(path)), "100020 个单元格", f"{documents.MAX_TABLE_CELLS} 个的上限")
    assert plans(gongkai.db) == ["2023"]


def test_a_real_document_under_the_limits_still_imports(gongkai, tmp_path):
    path = hostile.plan_document(tmp_path / "tasks_2024.docx", rows=200)
    result = gongkai("import", str(path))
    assert result.returncode == 0, result.stderr
    assert query(gongkai.db, "SELECT count(*) FROM tasks WHERE plan = '2024'")[0][0] == 200


# -- PDF -------------------------------------------------------------------------------------


def test_form_xobjects_nested_four_wide_and_twelve_deep_are_refused_before_they_are_drawn(gongkai, tmp_path):
    # 3 KB; pdfminer drew 16 million forms and was killed after 300 s holding 3 GB.
    path = hostile.pdf_nested_forms(tmp_path / "tasks_2024.pdf", wide=4, deep=12)
    assert path.stat().st_size < 4_000
    refused(gongkai("import", str(path)), "第 1 页", f"{documents.MAX_PAGE_DRAWINGS} 次的上限")


def test_a_form_that_draws_itself_is_refused(gongkai, tmp_path):
    path = hostile.pdf_nested_forms(tmp_path / "tasks_2024.pdf", wide=1, deep=2, self_drawing=True)
    refused(gongkai("import", str(path)), "嵌套绘制")


@pytest.mark.parametrize("pages", [1, 20])
def test_a_page_ruled_into_a_150_by_150_grid_is_refused_before_its_cells_are_found(gongkai, tmp_path, pages):
    # 13 s for one page, growing with the fourth power of the grid; 20 pages did not end in 300 s.
    path = hostile.pdf_ruled_grid(tmp_path / "tasks_2024.pdf", 150, pages=pages)
    refused(gongkai("import", str(path)), "第 1 页", "22801 个交点", f"{documents.MAX_PAGE_CROSSINGS} 个的上限")


@pytest.mark.no_ledger
def test_crossings_are_also_bounded_over_the_whole_document(tmp_path, monkeypatch):
    path = hostile.pdf_ruled_grid(tmp_path / "tasks_2024.pdf", 10, pages=3)
    monkeypatch.setattr(documents, "MAX_PDF_CROSSINGS", 250)
    with pytest.raises(UsageError, match="共超过 250 个"):
        documents.pdf_records(path)


@pytest.mark.slow
def test_a_content_stream_inflating_to_800_mb_is_refused_at_the_memory_limit(gongkai, tmp_path):
    # 816 KB; pdfminer inflated it whole: 1.6 GB.
    path = hostile.pdf_huge_stream(tmp_path / "tasks_2024.pdf", 800 * 2**20)
    assert path.stat().st_size < 1_000_000
    refused(gongkai("import", str(path)), f"需要的内存超过 {budget.MAX_PARSE_BYTES // 2**20} MB 的上限")


def test_pdfminer_warnings_do_not_precede_the_error_line(gongkai, tmp_path):
    # A font descriptor pdfminer cannot read made it log "Could not get FontBBox…" to stderr.
    path = hostile.pdf_broken_font(tmp_path / "tasks_2024.pdf")
    refused(gongkai("import", str(path)), "表格")


# -- rows after the end of a table --------------------------------------------------------------


def test_a_returned_progress_row_after_100_empty_rows_is_refused_not_dropped(gongkai, tmp_path):
    import openpyxl

    from gongkai_cli.outputs.columns import ASSIGNMENT_SHEET_TITLE

    exported = tmp_path / "马陆镇.xlsx"
    assert gongkai("export", "--unit", "马陆镇", "-o", str(exported)).returncode == 0
    book = openpyxl.load_workbook(exported)
    sheet = book[ASSIGNMENT_SHEET_TITLE]
    last = sheet.max_row
    header = [cell.value for cell in sheet[1]]
    moved = last + 1 + plan_rows.MAX_EMPTY_RUN
    for column in range(1, sheet.max_column + 1):
        sheet.cell(moved, column).value = sheet.cell(last, column).value
        sheet.cell(last, column).value = None
    sheet.cell(moved, header.index("最新进展") + 1).value = "空行之后的进展"
    book.save(tmp_path / "填好.xlsx")
    refused(gongkai("import", str(tmp_path / "填好.xlsx")), f"第 {moved} 行")
    assert note_count(gongkai.db) == 0


# -- note batches ----------------------------------------------------------------------------


def test_a_batch_of_two_million_notes_is_refused_before_anything_is_written(gongkai, tmp_path):
    # 8 MB; 74 s and 2.3 GB, and at the 50 MB limit a MemoryError at 5.8 GB.
    path = hostile.note_batch(tmp_path / "notes.csv", 2_000_000)
    refused(gongkai("note", "--from", str(path)), f"{note_batches.MAX_BATCH_NOTES} 条进展的上限")
    assert note_count(gongkai.db) == 0


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_a_batch_at_the_size_limit_is_refused_within_the_budget(gongkai, tmp_path, kind):
    path = tmp_path / f"notes.{kind}"
    line = b"1,a\n" if kind == "csv" else b'{"id": 1, "text": "a"}\n'
    count = note_batches.MAX_BATCH_BYTES // len(line)
    with path.open("wb") as out:
        out.write(b"id,text\n" if kind == "csv" else b"")
        for _ in range(count // 100_000):
            out.write(line * 100_000)
    refused(gongkai("note", "--from", str(path)), f"{note_batches.MAX_BATCH_NOTES} 条进展的上限")
    assert note_count(gongkai.db) == 0


@pytest.mark.slow
def test_a_batch_at_the_note_limit_is_written(gongkai, tmp_path):
    path = hostile.note_batch(tmp_path / "notes.csv", note_batches.MAX_BATCH_NOTES)
    result = gongkai("note", "--from", str(path), "-q")
    assert result.returncode == 0, result.stderr
    assert note_count(gongkai.db) == note_batches.MAX_BATCH_NOTES


@pytest.mark.slow
def test_notes_written_while_the_largest_batch_is_written_are_not_refused(gongkai, tmp_path, request):
    """The batch holds the write lock while it writes; at the note limit, for seconds, not the 30 s
    after which a concurrent note gives up."""
    if gongkai.db.startswith("postgres"):
        # Seen twice in the whole suite on the merged tree (2026-12-08), never alone: the server
        # logged a deadlock between a writer holding the write lock and one that had locked a
        # task row before asking for it. Open: the closing note of that stop says what is known.
        request.applymarker(pytest.mark.xfail(reason="a concurrent note on the server can meet a deadlock "
                                                     "during the largest batch", strict=False))
    path = hostile.note_batch(tmp_path / "notes.csv", note_batches.MAX_BATCH_NOTES)
    batch = gongkai.start("note", "--from", str(path), "-q")
    singles = []
    while batch.poll() is None:
        singles.append(gongkai("note", "40", f"同时记录的进展 {len(singles)}"))
    assert batch.returncode == 0, batch.communicate()[1]
    assert all(single.returncode == 0 for single in singles), [
        (single.returncode, single.stderr) for single in singles if single.returncode != 0]
    assert note_count(gongkai.db) == note_batches.MAX_BATCH_NOTES + len(singles)


# -- the budget itself -----------------------------------------------------------------------


@pytest.mark.no_ledger
def test_the_parse_child_returns_the_result_and_raises_what_the_reader_raised(tmp_path):
    assert budget.within_budget(lambda: {"rows": [1, 2]}, tmp_path / "x") == {"rows": [1, 2]}

    def refuse() -> None:
        raise UsageError("文件有误。")

    with pytest.raises(UsageError, match=r"^文件有误。$"):
        budget.within_budget(refuse, tmp_path / "x")


@pytest.mark.no_ledger
def test_a_parse_over_the_memory_limit_is_refused_with_the_limit_named(tmp_path):
    def spend() -> bytes:
        return bytes(2 * budget.MAX_PARSE_BYTES)

    with pytest.raises(UsageError, match=f"需要的内存超过 {budget.MAX_PARSE_BYTES // 2**20} MB 的上限"):
        budget.within_budget(spend, tmp_path / "x.xlsx")


@pytest.mark.slow
@pytest.mark.no_ledger
def test_a_parse_over_the_cpu_limit_is_refused_with_the_limit_named(tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "MAX_PARSE_SECONDS", 2)

    def spin() -> None:
        while True:
            pass

    with pytest.raises(UsageError, match="超过 2 秒处理时间的上限"):
        budget.within_budget(spin, tmp_path / "x.pdf")
