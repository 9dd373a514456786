"""Importing the plan from the documents an office exchanges: Word (.docx) and PDF.

The fixtures were written by LibreOffice (tools/make_document_fixtures.py): the
2023 table as a .docx with merged cells and as the PDF LibreOffice printed of it,
a small hand-drawn table with cells merged across (and its PDF, and that PDF
locked with a password), and a notice without a task table. The 2023 imports must equal the bundled plan field by field."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.inputs import documents
from gongkai_cli.inputs.plan_files import read_plan_table
from processes import in_process

FIXTURES = Path(__file__).parent / "fixtures"
FIELDS = ("id", "plan", "group", "content", "units", "lead_unit", "deadline", "start", "due")


@pytest.fixture
def gongkai(executable: str, tmp_path: Path, ledger_db: str):
    """Run the installed executable against the test's ledger (or a file named `db`), in a bare environment."""

    def environment(db: str | None) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                "GONGKAI_DB": ledger_db if db is None else str(tmp_path / db),
                "GONGKAI_TODAY": "2023-04-01", "GONGKAI_USER": "测试员"}

    def call(*args: str, db: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                              env=environment(db), cwd=tmp_path, timeout=120)

    def read(*args: str, db: str | None = None) -> subprocess.CompletedProcess:
        """What the ledger holds after the executable's import, read in-process."""
        return in_process(environment(db))(*args)

    call.read = read
    return call


def copy_fixture(name: str, tmp_path: Path, as_name: str) -> Path:
    target = tmp_path / as_name
    shutil.copyfile(FIXTURES / name, target)
    return target


def assert_one_error_line(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误："), result.stderr
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("fixture", "name"),
    [("plan_2023.docx", "2023年政务公开工作要点任务分解表.docx"), ("plan_2023.pdf", "分解表.pdf")],
)
def test_the_2023_document_imports_equal_to_the_bundled_plan(gongkai, tmp_path, fixture, name):
    document = copy_fixture(fixture, tmp_path, name)
    imported = gongkai("import", str(document))
    assert imported.returncode == 0, imported.stderr
    assert "共 91 项" in imported.stdout
    assert imported.stderr == ""  # every 时间节点 understood, no unknown task kept
    bundled = json.loads(gongkai.read("list", "--format", "json", db="bundled.db").stdout)
    mine = json.loads(gongkai.read("list", "--format", "json").stdout)
    assert len(bundled) == 91
    assert [[task[field] for field in FIELDS] for task in mine] == [
        [task[field] for field in FIELDS] for task in bundled
    ]


@pytest.mark.no_ledger
def test_the_docx_fixture_has_what_the_reader_must_handle():
    with zipfile.ZipFile(FIXTURES / "plan_2023.docx") as package:
        xml = package.read("word/document.xml").decode("utf-8")
        application = package.read("docProps/app.xml").decode("utf-8")
    assert "LibreOffice" in application
    assert xml.count('<w:vMerge w:val="continue"/>') > 100
    assert "<w:br/>" in xml  # manual line breaks inside cells
    assert "附件" in xml and "注：" in xml  # text above and below the table


@pytest.mark.no_ledger
def test_the_pdf_fixture_repeats_its_header_and_breaks_rows_across_pages():
    import pdfplumber

    with pdfplumber.open(FIXTURES / "plan_2023.pdf") as pdf:
        assert "LibreOffice" in pdf.metadata.get("Producer", "")
        first_rows = [page.find_tables()[0].extract()[:2] for page in pdf.pages]
    assert len(first_rows) > 5
    assert all(rows[0] == ["序号", "任务名称", "任务内容", "责任单位", "时间节点"] for rows in first_rows)
    # A page whose first row has no 序号 continues a row the page break cut.
    assert any(rows[1][0] == "" for rows in first_rows[1:])


@pytest.mark.no_ledger
def test_a_split_row_is_one_task_and_its_halves_are_joined():
    rows = read_plan_table(FIXTURES / "plan_2023.pdf").rows
    assert [row.id for row in rows] == list(range(1, 92))
    task_14 = rows[13]
    assert task_14.content.endswith("“城中村”改造计划及工作进展情况。")
    assert task_14.units == "区住房保障房屋管理局、区建设管理委"


@pytest.mark.no_ledger
@pytest.mark.parametrize("fixture", ["merged_columns.docx", "merged_columns.pdf"])
def test_cells_merged_across_land_in_their_columns_and_text_outside_the_table_is_ignored(fixture):
    rows = read_plan_table(FIXTURES / fixture).rows
    assert [(r.id, r.group, r.content, r.units, r.deadline) for r in rows] == [
        (1, "推进政策集中发布", "做好规范性文件集中统一公开，及时更新现行有效文件目录。", "区司法局、区政府办公室", "全年"),
        # A line break between two English words leaves one space; inside Chinese, none.
        (2, "推进政策集中发布", "在“上海Open Data”平台开放政府数据集。", "区政府办公室", "6月底前"),
        (3, "优化政务服务信息公开", "发布“一网通办”办事指南，持续更新。", "区行政服务中心（区大数据中心）", "第三季度"),
        (4, "优化政务服务信息公开", "编制主动公开基本目录。", "区司法局", "第三季度"),
    ]


@pytest.mark.no_ledger
def test_docx_records_keep_one_cell_per_grid_column():
    records = documents.docx_records(FIXTURES / "merged_columns.docx")
    title, header, *_ = records
    assert title == (1, ["2024年某区政务公开工作要点任务分解表", "", "", "", "", ""])
    assert header == (2, ["序号", "任务名称", "任务内容", "", "责任单位", "时间节点"])
    assert records[5][1][1] == ""  # the merged-down 任务名称 of task 4


@pytest.mark.no_ledger
def test_a_cell_continuing_a_vertical_merge_counts_as_empty_whatever_it_holds(tmp_path):
    from lxml import etree

    # Word shows only the first cell of a vertical merge; text left in the cells it
    # covers (some generators write it) is invisible and must not become a new value.
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    edited = tmp_path / "stale.docx"
    with zipfile.ZipFile(FIXTURES / "merged_columns.docx") as package, zipfile.ZipFile(edited, "w") as out:
        for info in package.infolist():
            data = package.read(info)
            if info.filename == "word/document.xml":
                root = etree.fromstring(data)
                (merge,) = [m for m in root.iter(f"{w}vMerge") if m.get(f"{w}val") != "restart"]
                paragraph = merge.getparent().getparent().find(f"{w}p")
                run = etree.SubElement(paragraph, f"{w}r")
                etree.SubElement(run, f"{w}t").text = "看不见的旧文字"
                data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
            out.writestr(info, data)
    rows = read_plan_table(edited).rows
    assert rows[3].group == "优化政务服务信息公开"


def test_the_merged_columns_document_imports_through_the_executable(gongkai, tmp_path):
    document = copy_fixture("merged_columns.docx", tmp_path, "2024年任务分解表.docx")
    result = gongkai("import", str(document))
    assert result.returncode == 0, result.stderr
    shown = json.loads(gongkai.read("show", "3", "--format", "json").stdout)
    assert shown["units"] == ["区行政服务中心（区大数据中心）"]
    assert shown["due"] == "2024-09-30"


@pytest.mark.no_ledger
def test_a_document_without_a_task_table_is_refused(gongkai, tmp_path):
    document = copy_fixture("no_task_table.docx", tmp_path, "通知.docx")
    assert_one_error_line(gongkai("import", str(document)), "没有任务分解表")


@pytest.mark.no_ledger
def test_a_document_without_any_table_is_refused(gongkai, tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("2024年政务公开工作要点")
    document.save(tmp_path / "要点.docx")
    assert_one_error_line(gongkai("import", str(tmp_path / "要点.docx")), "没有表格")


@pytest.mark.no_ledger
@pytest.mark.parametrize("fixture", ["plan_2023.docx", "plan_2023.pdf"])
def test_a_truncated_document_is_refused(gongkai, tmp_path, fixture):
    data = (FIXTURES / fixture).read_bytes()
    broken = tmp_path / f"broken{Path(fixture).suffix}"
    broken.write_bytes(data[: len(data) // 3])
    result = gongkai("import", str(broken))
    assert_one_error_line(result, "不是有效的")
    assert result.stderr.count("broken") == 1


@pytest.mark.no_ledger
def test_an_old_word_file_named_docx_says_how_to_convert_it(gongkai, tmp_path):
    old = tmp_path / "分解表.docx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024)
    assert_one_error_line(gongkai("import", str(old)), "另存为 .docx")


@pytest.mark.no_ledger
def test_a_scanned_pdf_has_no_text_layer(gongkai, tmp_path):
    import pdfplumber

    # What a scanner makes of the printed table: the page as an image, no text.
    with pdfplumber.open(FIXTURES / "plan_2023.pdf") as pdf:
        image = pdf.pages[0].to_image(resolution=40).original
    scanned = tmp_path / "扫描件.pdf"
    image.convert("L").save(scanned, "PDF")
    assert_one_error_line(gongkai("import", str(scanned)), "没有文字层")


@pytest.mark.no_ledger
def test_a_pdf_that_needs_a_password_says_so(gongkai, tmp_path):
    locked = copy_fixture("encrypted.pdf", tmp_path, "分解表.pdf")
    assert_one_error_line(gongkai("import", str(locked)), "已加密")


@pytest.mark.no_ledger
def test_a_pdf_with_text_but_no_ruled_table_is_refused(gongkai, tmp_path):
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(minimal_text_pdf("2024 work plan, no table"))
    assert_one_error_line(gongkai("import", str(plain)), "没有找到带表格线的表格")


@pytest.mark.no_ledger
def test_a_cell_spanning_a_billion_columns_is_refused_without_building_it(tmp_path):
    source = FIXTURES / "merged_columns.docx"
    hostile = tmp_path / "wide.docx"
    with zipfile.ZipFile(source) as package, zipfile.ZipFile(hostile, "w") as out:
        for info in package.infolist():
            data = package.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b'<w:gridSpan w:val="6"/>', b'<w:gridSpan w:val="1000000000"/>')
            out.writestr(info, data)
    with pytest.raises(UsageError, match="列"):
        read_plan_table(hostile)


@pytest.mark.no_ledger
def test_the_rows_read_from_a_document_are_bounded(monkeypatch):
    monkeypatch.setattr(documents, "MAX_TABLE_ROWS", 50)
    for name in ("plan_2023.docx", "plan_2023.pdf"):
        with pytest.raises(UsageError, match="超过 50 行"):
            read_plan_table(FIXTURES / name)


def minimal_text_pdf(text: str) -> bytes:
    """A one-page PDF with a line of text and nothing else, written by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >>"
        b" /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()
