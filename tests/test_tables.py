from __future__ import annotations

import pytest

from gongkai_cli.errors import UsageError
from gongkai_cli.tables import PlanTable, Row, clean_text, read_plan_table

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


def test_excel_file_is_refused_with_advice(tmp_path):
    message = error_of(write(tmp_path, "", name="plan.xlsx"))
    assert "plan.xlsx" in message
    assert "CSV UTF-8" in message
