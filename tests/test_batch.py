"""note --from FILE: many notes in one process and one transaction, all or nothing."""

from __future__ import annotations

import json
import subprocess

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.inputs.note_batches import read_note_batch
from postgres import query


def note_count(db) -> int:
    return query(db, "SELECT count(*) FROM notes")[0][0]


def test_csv_batch_with_status_count_and_author(gk, tmp_path, db_path):
    batch = tmp_path / "notes.csv"
    batch.write_text("id,text,status,count,by,unit\n40,试点完成,done,,张三,区教委\n60,第一次列席,,1,,\n"
                     "60,第二次列席,,1,李四,\n", encoding="utf-8")
    result = gk("note", "--from", str(batch))
    assert result.exit_code == 0, result.output
    assert "已记录 3 条进展，涉及 2 项任务" in result.stdout
    forty = json.loads(gk("show", "40", "-f", "json").stdout)
    own = {a["unit"]: a for a in forty["assignments"]}["区教育局"]  # 区教委 is its alias
    assert forty["status"] == "doing" and own["status"] == "done" and own["notes"][0]["by"] == "张三"
    sixty = json.loads(gk("show", "60", "-f", "json").stdout)
    assert sixty["progress"] == 2 and [n["by"] for n in sixty["notes"]] == ["测试员", "李四"]
    assert len(json.loads(gk("log", "-f", "json").stdout)) == 1 + 3  # the bootstrap import, then one per note


def test_json_lines_from_stdin_and_chinese_csv_header(gk, tmp_path):
    lines = '{"id": 28, "text": "预算公开"}\n\n{"id": 29, "text": "债务公开", "status": "进行中"}\n'
    result = gk("note", "--from", "-", "--format", "json", input=lines)
    notes = json.loads(result.stdout)
    assert [(n["task"], n["status"]) for n in notes] == [(28, None), (29, "doing")]
    chinese = tmp_path / "进展.csv"
    chinese.write_text("序号,内容,次数\n84,专题听取汇报,1\n", encoding="utf-8-sig")
    assert gk("note", "--from", str(chinese)).exit_code == 0
    assert json.loads(gk("show", "84", "-f", "json").stdout)["progress"] == 1


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ("id,text\n40,好\nabc,坏\n41,好\n", 2, "第 3 行"),
        ("id,text\n40,好\n41,\n", 2, "第 3 行"),
        ("id,text,status\n40,好,\n41,坏,finished\n", 2, "finished"),
        ("id,text,count\n40,好,1\n41,坏,0\n", 2, "第 3 行"),
        ("id,text\n40,好\n99999,坏\n", 3, "99999"),
        ('{"id": 40, "text": "好"}\n{"id": 41, "text": "坏"\n', 2, "第 2 行"),
        ('{"id": 40, "text": "好", "colour": "red"}\n', 2, "colour"),
        ("text\n好\n", 2, "id"),
        ('id,text\n40,"未闭合的引号\n', 2, "CSV"),
    ],
)
def test_a_bad_line_anywhere_writes_nothing(gk, tmp_path, db_path, body, code, needle):
    gk("init")
    batch = tmp_path / "notes.csv"
    batch.write_text(body, encoding="utf-8")
    result = gk("note", "--from", str(batch))
    assert result.exit_code == code
    assert needle in result.stderr
    assert note_count(db_path) == 0


@pytest.mark.no_ledger
def test_batch_rejects_mixing_with_single_note_arguments(gk, tmp_path):
    batch = tmp_path / "n.csv"
    batch.write_text("id,text\n40,x\n", encoding="utf-8")
    assert gk("note", "40", "x", "--from", str(batch)).exit_code == 2
    assert gk("note", "--from", str(tmp_path / "missing.csv")).exit_code == 2
    assert gk("note").exit_code == 2


@pytest.mark.no_ledger
def test_neither_utf8_nor_gb18030_is_refused():
    # UTF-16 (Excel's "Unicode text") starts with FF FE, which neither encoding allows.
    with pytest.raises(UsageError, match="既不是 UTF-8 也不是 GBK/GB18030 编码") as caught:
        read_note_batch("id,text\n40,进展\n".encode("utf-16"), "x.csv")
    assert caught.value.message.startswith("“x.csv”")


@pytest.mark.parametrize(
    "data",
    [
        "序号,进展,状态\r\n40,已完成自查,完成\r\n".encode("gbk"),
        "序号,进展,状态\r\n40,已完成自查,完成\r\n".encode("utf-8-sig"),
        "id\ttext\tstatus\n40\t已完成自查\tdone\n".encode("gb18030"),
        "序号;内容;状态\n40;已完成自查;完成\n".encode(),
    ],
    ids=["gbk-crlf", "utf8-bom", "gb18030-tabs", "semicolons"],
)
def test_batch_csv_in_the_encodings_and_separators_plan_tables_accept(data):
    [line] = read_note_batch(data, "x.csv")
    assert (line.line, line.values["id"], line.values["text"]) == (2, "40", "已完成自查")
    assert line.values["status"] in ("完成", "done")


def test_ten_thousand_notes_in_one_process(executable, tmp_path, ledger_db):
    """The size the issue names, through the installed executable (correctness, not timing),
    on the backend under test; `check` then finds the ledger whole."""
    db = ledger_db
    # Statuses on tasks with one responsible unit: a status needs no unit there.
    single = (8, 9, 13, 15, 21, 25, 28, 29, 30, 31, 34, 52, 74, 87, 88, 89, 91)
    lines = ["id,text,status"] + [f"{i % 91 + 1},第{i}条,{'doing' if i % 7 == 0 and i % 91 + 1 in single else ''}"
                                  for i in range(10_000)]
    batch = tmp_path / "10k.csv"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "GONGKAI_DB": db, "GONGKAI_USER": "脚本"}
    result = subprocess.run([executable, "note", "--from", str(batch), "--quiet"], check=False, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert note_count(db) == 10_000
    assert query(db, "SELECT count(*) FROM events WHERE action IN ('note', 'status')")[0][0] == 10_000
    checked = subprocess.run([executable, "check"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("unit", "needle"), [("各街镇", "是 12 个单位的集合"), ("区财政", "未知的责任单位“区财政”")])
def test_a_batch_line_names_its_unit_as_note_does(gk, tmp_path, unit, needle):
    """One resolver: a line of `note --from` and `note --unit` give the same answer, the batch's
    naming its line and saying that nothing of the batch was written."""
    gk("init")
    single = gk("note", "62", "x", "--unit", unit)
    batch = tmp_path / "f.csv"
    batch.write_text(f"id,text,status,count,by,key,unit\n62,x,,,,,{unit}\n", encoding="utf-8")
    lines = gk("note", "--from", str(batch))
    assert (single.exit_code, lines.exit_code) == (2, 2)
    message = single.stderr.removeprefix("错误：").removesuffix("未做任何更改。\n")
    assert needle in message
    assert lines.stderr == f"错误：“{batch}”第 2 行：{message}整批未写入。\n"
    assert json.loads(gk("show", "62", "-f", "json").stdout)["notes"] == []


def test_a_batch_without_units_writes_for_the_clerks_own_unit_as_note_does(gk, tmp_path, monkeypatch):
    gk("init")
    batch = tmp_path / "f.csv"
    batch.write_text("id,text\n40,好\n28,x\n", encoding="utf-8")
    monkeypatch.setenv("GONGKAI_UNIT", "区财政")
    single = gk("note", "28", "x")
    lines = gk("note", "--from", str(batch))
    message = single.stderr.removeprefix("错误：").removesuffix("未做任何更改。\n")
    assert "未知的责任单位“区财政”（来自环境变量 GONGKAI_UNIT）" in message
    assert lines.stderr == f"错误：“{batch}”第 2 行：{message}整批未写入。\n"
    monkeypatch.setenv("GONGKAI_UNIT", "区财政局")
    assert gk("note", "--from", str(batch)).stderr.startswith(f"错误：“{batch}”第 2 行：任务 40 没有分配给“区财政局”")
    batch.write_text("id,text\n28,x\n", encoding="utf-8")
    assert gk("note", "--from", str(batch)).exit_code == 0
    own = {a["unit"]: a for a in json.loads(gk("show", "28", "-f", "json").stdout)["assignments"]}["区财政局"]
    assert [note["text"] for note in own["notes"]] == ["x"]
