import os
import re
import subprocess
from pathlib import Path

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.domain.units import split_units
from gongkai_cli.inputs.unit_file import load_directory, read_to_store
from gongkai_cli.ledger import unit_file_for

pytestmark = pytest.mark.no_ledger


def test_split_keeps_order_so_the_first_unit_leads():
    assert split_units("区政府办公室、区财政局、各街镇") == ("区政府办公室", "区财政局", "各街镇")


def test_split_accepts_commas_and_drops_blanks_and_repeats():
    assert split_units("区财政局，区审计局,区财政局、 、区 教育局") == ("区财政局", "区审计局", "区教育局")


def test_unit_names_with_brackets_stay_whole():
    assert split_units("区行政服务中心（区大数据中心）、区城运中心") == (
        "区行政服务中心（区大数据中心）",
        "区城运中心",
    )


def test_empty_cell_has_no_units():
    assert split_units("") == ()


# -- the unit directory ---------------------------------------------------------------

TOWNS = ["嘉定镇街道", "新成路街道", "真新街道", "菊园新区", "南翔镇", "安亭镇",
         "马陆镇", "徐行镇", "华亭镇", "外冈镇", "江桥镇", "嘉定工业区"]


@pytest.fixture(scope="module")
def bundled():
    return load_directory(unit_file_for(Path("/nonexistent/gongkai.db")))


def test_bundled_towns_group_has_the_twelve_towns(bundled):
    assert bundled.get("各街镇").members == tuple(TOWNS)
    assert all(bundled.get(town).kind == "town" for town in TOWNS)


def test_government_departments_exclude_the_party_department(bundled):
    members = bundled.get("区政府各部门").members
    assert "区财政局" in members
    assert "区委组织部" not in members
    assert bundled.get("区委组织部").kind == "other"


NOT_DEPARTMENTS = ("区气象局", "区城运中心", "区行政服务中心（区大数据中心）", "区门户网站管理中心", "区新城推进办", "北虹办")


def test_government_departments_are_the_departments_and_only_they(bundled):
    """Issue 23: six members were no government departments, and departments the plan never
    names were missing, so tasks given to 区政府各部门 never reached them (docs/units.md)."""
    members = bundled.get("区政府各部门").members
    assert not set(NOT_DEPARTMENTS) & set(members)
    assert {"区司法局", "区统计局", "区城管执法局", "区公安分局"} <= set(members)
    assert len(members) == 31
    assert all(bundled.get(name).kind == "department" for name in members)
    # Still units a plan may name directly, only no longer departments.
    assert all(bundled.get(name).kind == "other" for name in NOT_DEPARTMENTS)


def test_vague_groups_have_no_members(bundled):
    for name in ("各相关部门", "区政府相关部门", "区政府各相关部门", "各相关单位"):
        unit = bundled.get(name)
        assert unit.kind == "group" and unit.members == ()


def test_aliases_resolve_to_the_canonical_name(bundled):
    assert bundled.canonical("区大数据中心") == "区行政服务中心（区大数据中心）"
    assert bundled.canonical("区教委") == "区教育局"
    assert bundled.canonical("不认识的单位") == "不认识的单位"


def test_groups_of_a_town_and_a_department(bundled):
    assert bundled.groups_of("马陆镇") == ("各街镇",)
    assert bundled.groups_of("区财政局") == ("区政府各部门",)
    assert bundled.groups_of("区大数据中心") == ()
    assert bundled.groups_of("区委组织部") == ()


def test_groups_inside_groups_are_followed(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("单位,类型,别名,成员\n甲镇,街镇,,\n北片,集合,,甲镇\n全区,集合,,北片\n", encoding="utf-8")
    assert load_directory(path).groups_of("甲镇") == ("北片", "全区")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name,kind\n甲,planet\n", "planet"),
        ("name,kind,aliases\n甲,department,乙\n乙,department,\n", "乙"),
        ("name,kind,members\n甲,department,乙\n", "group"),
        ("kind\ndepartment\n", "name"),
        ("name,kind\n,department\n", "第 2 行"),
        ("", "空"),
    ],
)
def test_bad_unit_files_name_the_problem(tmp_path, text, needle):
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=needle):
        load_directory(path)


@pytest.mark.parametrize(
    ("rows", "chain"),
    [
        ("甲,group,,乙\n乙,group,,甲\n", "甲 → 乙 → 甲"),
        ("全区,group,,北片\n北片,group,,甲镇、北片\n甲镇,town,,\n", "北片 → 北片"),
        # A member named by its alias is the same unit.
        ("甲,group,丁,乙\n乙,group,,丙\n丙,group,,丁\n", "甲 → 乙 → 丙 → 甲"),
    ],
)
def test_a_group_that_contains_itself_is_refused_naming_the_chain(tmp_path: Path, rows: str, chain: str):
    path = tmp_path / "units.csv"
    path.write_text("name,kind,aliases,members\n" + rows, encoding="utf-8")
    with pytest.raises(UsageError, match=chain):
        load_directory(path)


def test_groups_shared_by_two_groups_are_no_cycle(tmp_path: Path):
    path = tmp_path / "units.csv"
    path.write_text("name,kind,members\n全区,group,北片、南片\n北片,group,甲镇\n南片,group,甲镇\n甲镇,town,\n",
                    encoding="utf-8")
    assert load_directory(path).responsible("全区") == ("甲镇",)


def test_a_unit_file_saved_by_excel_on_chinese_windows_loads(tmp_path: Path):
    """Excel's plain "CSV" on Chinese Windows is GBK with CRLF line ends."""
    path = tmp_path / "units.csv"
    path.write_bytes("单位,类型,别名,成员\r\n区财政局,部门,财政局,\r\n各部门,集合,,区财政局\r\n".encode("gbk"))
    directory = load_directory(path)
    assert directory.canonical("财政局") == "区财政局"
    assert directory.get("各部门").members == ("区财政局",)
    assert directory.get("区财政局").kind == "department"


def test_a_tab_separated_unit_file_loads(tmp_path: Path):
    path = tmp_path / "units.csv"
    path.write_text("名称\t类型\t别名\n区财政局\tdepartment\t财政局、区财政\n", encoding="utf-8-sig")
    assert load_directory(path).aliases_of("区财政局") == ("财政局", "区财政")


def test_a_unit_file_in_neither_utf8_nor_gb18030_is_refused_by_name(tmp_path: Path):
    path = tmp_path / "units.csv"
    path.write_bytes("name,kind\n区财政局,department\n".encode("utf-16"))
    with pytest.raises(UsageError) as caught:
        load_directory(path)
    assert caught.value.message == (
        f"单位数据文件“{path}”既不是 UTF-8 也不是 GBK/GB18030 编码，请另存为“CSV UTF-8”后再导入。"
    )


@pytest.mark.slow
def test_a_unit_sheet_that_libreoffice_saved_as_gbk_csv_loads(tmp_path: Path):
    """LibreOffice's own CSV filter writing GBK, as a clerk's office suite saves the sheet.

    Character set 85 is GBK in LibreOffice 7.4 (25, which some guides give, writes "?" for every
    Chinese character there); the asserts below prove the bytes are GBK whatever the number means.
    """
    import openpyxl

    from libreoffice import convert

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (("单位", "类型", "别名", "成员"), ("区财政局", "部门", "财政局、区财政", None),
                ("北片", "集合", None, "区财政局")):
        sheet.append(row)
    source = tmp_path / "sheet" / "units.xlsx"
    source.parent.mkdir()
    book.save(source)
    saved = convert(source, "csv:Text - txt - csv (StarCalc):44,34,85", tmp_path)
    assert "区财政局" in saved.read_bytes().decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        saved.read_bytes().decode("utf-8")
    directory = load_directory(saved)
    assert directory.canonical("区财政") == "区财政局"
    assert directory.groups_of("财政局") == ("北片",)


# -- a server's ledger keeps the office's file; a SQLite ledger's is beside it -----------------


@pytest.mark.parametrize("args", [["server", "units", "单位.csv"], ["server", "units"]])
def test_server_units_on_a_sqlite_ledger_says_to_put_units_csv_beside_the_file(executable: str, tmp_path: Path,
                                                                               args: list[str]):
    (tmp_path / "单位.csv").write_text("name\n甲\n", encoding="utf-8")
    env = {**os.environ, "GONGKAI_DB": str(tmp_path / "gongkai.db"), "GONGKAI_TODAY": "2023-03-01"}
    result = subprocess.run([executable, *args], check=False, capture_output=True, text=True, encoding="utf-8",
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"错误：SQLite 台账不把单位数据文件存进数据库：请把它命名为 units.csv，放在数据库文件所在的目录“{tmp_path}”中。"
        "gongkai server units 只用于 PostgreSQL 台账。\n"
    )
    assert not (tmp_path / "gongkai.db").exists()


def test_a_unit_file_to_store_is_read_as_every_command_reads_one(tmp_path: Path):
    path = tmp_path / "单位.csv"
    path.write_bytes("单位,类型,别名\r\n区财政局,部门,财政\r\n".encode("gbk"))
    assert read_to_store(path) == ("单位,类型,别名\r\n区财政局,部门,财政\r\n", 1)


@pytest.mark.parametrize(("text", "needle"), [
    ("name\n甲\x1b乙\n", "第 2 行的第 2 个字符 U+001B 是控制字符"),
    ("name\n甲\n\x0c\n", "第 3 行的第 1 个字符 U+000C 是控制字符"),
    ("name,kind\n", "中没有任何单位"),
    ("name,kind\n甲,衙门\n", "未知的类型“衙门”"),
])
def test_a_unit_file_to_store_is_refused_naming_the_problem(tmp_path: Path, text: str, needle: str):
    path = tmp_path / "单位.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=re.escape(needle)) as raised:
        read_to_store(path)
    assert raised.value.message.startswith(f"单位数据文件“{path}”")
