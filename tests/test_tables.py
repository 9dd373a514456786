from __future__ import annotations

import datetime
import zipfile

import openpyxl
import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.inputs.plan_files import read_plan_table
from gongkai_cli.inputs.plan_rows import PlanTable, Row, clean_text

pytestmark = pytest.mark.no_ledger

ENGLISH = "id,group,content,units,deadline\n"
CHINESE = "序号,任务名称,任务内容,责任单位,时间节点\n"


def write(tmp_path, text: str, name: str = "plan.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def error_of(path) -> str:
    with pytest.raises(UsageError) as info:
        read_plan_table(path)
    assert info.value.exit_code == 2
    return info.value.message


# --- clean_text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("政策文件体 量大", "政策文件体量大"),
        ("不少于 4 次", "不少于4次"),
        ("决策出台后的10 个工作日", "决策出台后的10个工作日"),
        ("政策推送 “接力”机制", "政策推送“接力”机制"),
        ("全量覆盖、 要素齐全", "全量覆盖、要素齐全"),
        ("使用 Word Excel 办公", "使用Word Excel办公"),
        ("版本 v2 3", "版本v2 3"),
        ("Word  Excel", "Word  Excel"),
        ("公\u3000开", "公开"),
        ("公\u00a0开", "公开"),
        ("公\n\t 开", "公开"),
        ("  \u3000全年\n", "全年"),
        ("精准度,实现", "精准度,实现"),
        ("", ""),
        (" \t\n", ""),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


# --- reading good files -----------------------------------------------------


def test_english_header(tmp_path):
    path = write(tmp_path, ENGLISH + "1,信息公开,做好公开。,区财政局、马陆镇,全年\n2,解读,做好解读。,区政府办公室,4月20日前\n")
    table = read_plan_table(path)
    assert table == PlanTable(
        rows=(
            Row(line=2, id=1, group="信息公开", content="做好公开。", units="区财政局、马陆镇", deadline="全年"),
            Row(line=3, id=2, group="解读", content="做好解读。", units="区政府办公室", deadline="4月20日前"),
        ),
        encoding="utf-8",
        path=str(path),
    )


def test_chinese_header_reordered_with_extra_column(tmp_path):
    text = " 时间节点 ,责任单位,备注,任务内容,序号,任务名称\n8月份,区政府办公室,无,开放活动。,68,扩大影响力\n"
    (row,) = read_plan_table(write(tmp_path, text)).rows
    assert row == Row(line=2, id=68, group="扩大影响力", content="开放活动。", units="区政府办公室", deadline="8月份")


def test_utf8_bom(tmp_path):
    path = write(tmp_path, ENGLISH + "1,组,内容,区财政局,全年\n", encoding="utf-8-sig")
    table = read_plan_table(path)
    assert table.encoding == "utf-8-sig"
    assert table.rows[0].id == 1


def test_gbk_bytes(tmp_path):
    path = write(tmp_path, CHINESE + "1,财政信息公开,推进政府债务信息公开。,区财政局,11月底前\n", encoding="gbk")
    table = read_plan_table(path)
    assert table.encoding == "gb18030"
    assert table.rows[0].content == "推进政府债务信息公开。"
    assert table.rows[0].deadline == "11月底前"


def test_fill_down_of_merged_cells(tmp_path):
    text = (
        ENGLISH
        + "4,扩大投资,内容四,区发展改革委、各街镇,全年\n"
        + "\n"
        + "5,,内容五,,\n"
        + "6,,内容六,区经委,8月份\n"
        + "7,新组,内容七,,\n"
    )
    rows = read_plan_table(write(tmp_path, text)).rows
    assert [(r.line, r.group, r.units, r.deadline) for r in rows] == [
        (2, "扩大投资", "区发展改革委、各街镇", "全年"),
        (4, "扩大投资", "区发展改革委、各街镇", "全年"),
        (5, "扩大投资", "区经委", "8月份"),
        (6, "新组", "区经委", "8月份"),
    ]


def test_cells_are_cleaned_and_multiline_cells_keep_their_start_line(tmp_path):
    text = ENGLISH + '1, 组 名 ,"政策文件体\n量大",区财政局 、 马陆镇, 全年 \n2,组,内容,区财政局,全年\n'
    rows = read_plan_table(write(tmp_path, text)).rows
    assert rows[0] == Row(line=2, id=1, group="组名", content="政策文件体量大", units="区财政局、马陆镇", deadline="全年")
    assert rows[1].line == 4


def test_content_is_never_filled_down(tmp_path):
    message = error_of(write(tmp_path, ENGLISH + "1,组,内容,单位,全年\n2,,,,\n"))
    assert "第 3 行" in message
    assert "任务内容为空" in message


# --- bad input ----------------------------------------------------------------


def test_missing_columns_are_named(tmp_path):
    message = error_of(write(tmp_path, "序号,任务名称,任务内容\n1,组,内容\n"))
    assert "缺少列" in message
    assert "责任单位（units）" in message
    assert "时间节点（deadline）" in message
    assert "序号" not in message.split("缺少列")[1]


def test_duplicate_id_names_both_lines(tmp_path):
    text = ENGLISH + "1,组,甲,单位,全年\n2,组,乙,单位,全年\n1,组,丙,单位,全年\n"
    message = error_of(write(tmp_path, text))
    assert "第 4 行" in message
    assert "第 2 行" in message
    assert "“1”" in message


@pytest.mark.parametrize("bad", ["abc", "1.5", "0", "-1", "一"])
def test_id_not_positive_integer(tmp_path, bad):
    text = ENGLISH + f"1,组,甲,单位,全年\n{bad},组,乙,单位,全年\n"
    message = error_of(write(tmp_path, text))
    assert f"第 3 行：序号“{bad}”不是正整数" in message


def test_empty_id(tmp_path):
    message = error_of(write(tmp_path, ENGLISH + ",组,甲,单位,全年\n"))
    assert "第 2 行：序号为空" in message


def test_empty_content(tmp_path):
    message = error_of(write(tmp_path, ENGLISH + "1,组,甲,单位,全年\n2,组, ,单位,全年\n"))
    assert "第 3 行" in message
    assert "任务内容为空" in message


@pytest.mark.parametrize(
    ("column", "line"),
    [("责任单位", "1,组,内容,,全年"), ("任务名称", "1,,内容,单位,全年"), ("时间节点", "1,组,内容,单位,")],
)
def test_first_row_has_nothing_to_fill_down_from(tmp_path, column, line):
    message = error_of(write(tmp_path, ENGLISH + line + "\n"))
    assert f"第 2 行：{column}为空" in message


@pytest.mark.parametrize("text", ["", "\n\n", ENGLISH, CHINESE + ",,,,\n"])
def test_no_tasks(tmp_path, text):
    assert "没有任何任务" in error_of(write(tmp_path, text))


def test_undecodable_bytes(tmp_path):
    garbage = b"\xff\xfe\xfa"
    for encoding in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            garbage.decode(encoding)
    path = tmp_path / "garbage.csv"
    path.write_bytes(ENGLISH.encode() + garbage)
    message = error_of(path)
    assert "garbage.csv" in message
    assert "GB18030" in message


def test_nul_byte_names_line(tmp_path):
    message = error_of(write(tmp_path, ENGLISH + "1,组,内容,单位,全年\n2,组,内\0容,单位,全年\n"))
    assert "第 3 行" in message
    assert "NUL" in message


def test_unclosed_quote_is_a_csv_error(tmp_path):
    text = ENGLISH + '1,组,内容,单位,全年\n2,组,"内容,单位,全年\n3,组,内容,单位,全年\n'
    message = error_of(write(tmp_path, text))
    assert "第 3 行" in message
    assert "CSV 格式有误" in message


def test_missing_path(tmp_path):
    path = tmp_path / "nope.csv"
    assert error_of(path) == f"找不到文件“{path}”。"


def test_directory(tmp_path):
    assert error_of(tmp_path) == f"“{tmp_path}”是目录，不是文件。"


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # how every .xls (and .doc) begins


def test_old_excel_file_is_refused_with_advice(tmp_path):
    path = tmp_path / "plan.xls"
    path.write_bytes(OLE2)
    message = error_of(path)
    assert "plan.xls" in message
    assert ".xlsx" in message and "CSV UTF-8" in message


# --- xlsx -------------------------------------------------------------------------

TITLE = "2023年嘉定区政务公开工作要点任务分解表"
HEADER = ["序号", "任务名称", "任务内容", "责任单位", "时间节点"]


def workbook(tmp_path, rows, *, merges=(), name="plan.xlsx", before=()):
    """An .xlsx whose first sheet holds `rows` from A1; `before` adds (title, rows) sheets in front."""
    book = openpyxl.Workbook()
    sheets = [*before, ("任务", rows)]
    book.active.title = sheets[0][0]
    for title, _ in sheets[1:]:
        book.create_sheet(title)
    for (_, sheet_rows), sheet in zip(sheets, book.worksheets, strict=True):
        for row in sheet_rows:
            sheet.append(row)
    for cells in merges:
        book.worksheets[-1].merge_cells(cells)
    path = tmp_path / name
    book.save(path)
    return path


def test_xlsx_title_row_chinese_header_and_merged_cells(tmp_path):
    path = workbook(
        tmp_path,
        [
            [TITLE],
            [],
            HEADER,
            [1, "推进政策集中发布", "内容一", "区政府办公室、区财政局", "4月20日前"],
            [2, None, "内容二", None, "全年"],
            [3, "财政信息公开", "内容三", None, "11月底前"],
            [4, None, "内容四", "区经委", None],
        ],
        # As in the real document: the title spans the table, and group and
        # units cells span several task rows.
        merges=("A1:E1", "B4:B5", "D4:D6"),
    )
    table = read_plan_table(path)
    assert table.encoding == "xlsx"
    assert [(r.line, r.id, r.group, r.content, r.units, r.deadline) for r in table.rows] == [
        (4, 1, "推进政策集中发布", "内容一", "区政府办公室、区财政局", "4月20日前"),
        (5, 2, "推进政策集中发布", "内容二", "区政府办公室、区财政局", "全年"),
        (6, 3, "财政信息公开", "内容三", "区政府办公室、区财政局", "11月底前"),
        (7, 4, "财政信息公开", "内容四", "区经委", "11月底前"),
    ]


def test_xlsx_merged_cell_value_is_not_spread_across_columns(tmp_path):
    path = workbook(
        tmp_path,
        [HEADER, [1, "组", "内容一", "区财政局", "全年"], [2, "组", "内容二", "区审计局", None]],
        merges=("D3:E3",),
    )
    # E3 is covered by the merge but not a copy of D3: it is empty and filled down from row 2.
    assert read_plan_table(path).rows[1].deadline == "全年"


def test_xlsx_english_header_cleaned_text_and_numbers(tmp_path):
    path = workbook(
        tmp_path,
        [["ID", "Group", "Content", "Units", "Deadline"], [40.0, " 组 名 ", "政策文件体\n量大", "区财政局", "全年"]],
    )
    (row,) = read_plan_table(path).rows
    assert (row.id, row.group, row.content) == (40, "组名", "政策文件体量大")


def test_xlsx_deadline_typed_as_a_date(tmp_path):
    path = workbook(tmp_path, [HEADER, [1, "组", "内容", "区财政局", datetime.datetime(2023, 4, 20)]])
    assert read_plan_table(path).rows[0].deadline == "2023年4月20日"


@pytest.mark.parametrize(("bad", "shown"), [(40.5, "40.5"), ("四十", "四十"), (-3, "-3")])
def test_xlsx_bad_id_names_the_excel_row(tmp_path, bad, shown):
    path = workbook(tmp_path, [[TITLE], HEADER, [1, "组", "甲", "单位", "全年"], [bad, "组", "乙", "单位", "全年"]])
    assert f"第 4 行：序号“{shown}”不是正整数" in error_of(path)


def test_xlsx_duplicate_id_and_empty_content_use_excel_rows(tmp_path):
    rows = [[TITLE], HEADER, [1, "组", "甲", "单位", "全年"], [1.0, "组", "乙", "单位", "全年"]]
    message = error_of(workbook(tmp_path, rows))
    assert "第 4 行" in message and "第 3 行" in message and "“1”" in message
    rows = [[TITLE], HEADER, [1, "组", "甲", "单位", "全年"], [2, "组", None, "单位", "全年"]]
    assert "第 4 行：序号 2 的任务内容为空" in error_of(workbook(tmp_path, rows))


def test_xlsx_missing_columns_are_named(tmp_path):
    message = error_of(workbook(tmp_path, [[TITLE], ["序号", "任务名称", "任务内容"], [1, "组", "内容"]]))
    assert "plan.xlsx" in message
    assert "责任单位（units）" in message and "时间节点（deadline）" in message


def test_xlsx_header_is_looked_for_only_near_the_top(tmp_path):
    rows = [[f"说明第 {n} 行"] for n in range(1, 11)] + [HEADER, [1, "组", "内容", "单位", "全年"]]
    assert "缺少列" in error_of(workbook(tmp_path, rows))
    assert read_plan_table(workbook(tmp_path, rows[1:])).rows[0].line == 11


def test_xlsx_sheet_with_the_header_is_chosen_and_named_in_errors(tmp_path):
    notes = ("填表说明", [["请按序号填写"], ["责任单位之间用顿号分隔"]])
    path = workbook(tmp_path, [[TITLE], HEADER, [7, "组", "内容", "单位", "全年"]], before=[notes])
    assert [row.id for row in read_plan_table(path).rows] == [7]
    broken = workbook(tmp_path, [HEADER, ["x", "组", "内容", "单位", "全年"]], before=[notes], name="b.xlsx")
    assert "工作表“任务”第 2 行" in error_of(broken)


def test_xlsx_without_any_task(tmp_path):
    assert "没有任何任务" in error_of(workbook(tmp_path, [[TITLE], HEADER]))
    assert "没有任何任务" in error_of(workbook(tmp_path, []))


def test_files_named_xlsx_are_read_by_what_they_contain(tmp_path):
    text = write(tmp_path, ENGLISH + "1,组,内容,单位,全年\n", name="text.xlsx")
    assert read_plan_table(text).rows[0].content == "内容"
    other_zip = tmp_path / "other.xlsx"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    broken = tmp_path / "broken.xlsm"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    for path in (other_zip, broken):
        message = error_of(path)
        assert path.name in message and "不是有效的 Excel 工作簿" in message
    assert "是空的" in error_of(write(tmp_path, "", name="empty.xlsm"))
