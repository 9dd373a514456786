"""Routed reminders: each unit its own message, the office a digest, once a day, against a real
SMTP server (tests/smtp_server.py) — and the contacts they go to."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
from email import policy

import pytest

from smtp_server import PASSWORD, USER, Server

NOT_DELIVERED = 8
OFFICE = "gkb@example.test"


@pytest.fixture
def smtp():
    server = Server()
    yield server
    server.stop()


@pytest.fixture
def mailing(gk, monkeypatch, smtp):
    """The office's settings for a real server, 9 June 2023, and two units with contacts."""
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    monkeypatch.setenv("GONGKAI_SMTP_URL", smtp.url)
    monkeypatch.setenv("GONGKAI_MAIL_FROM", f"区政务公开办 <{OFFICE}>")
    assert gk("contacts", "set", "马陆镇", "malu@example.test").exit_code == 0
    assert gk("contacts", "set", "区财政局", "czj@example.test").exit_code == 0
    return gk


def task_ids(message) -> set[int]:
    return {int(found) for found in re.findall(r"\[(\d+)\]", message.get_content())}


def own_tasks(gk, unit: str) -> set[int]:
    shown = json.loads(gk("remind", "--by-unit", "--unit", unit, "--format", "json").stdout)
    (section,) = shown["units"]
    return {task["id"] for task in section["overdue"] + section["due_soon"]}


def test_each_unit_gets_only_its_own_tasks_and_the_office_a_digest(mailing, smtp):
    result = mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "区财政局")
    assert result.exit_code == 0, result.stderr
    (malu,) = smtp.mailbox.to("malu@example.test")
    (finance,) = smtp.mailbox.to("czj@example.test")
    (digest,) = smtp.mailbox.to(OFFICE)
    assert len(smtp.mailbox.received) == 3
    assert task_ids(malu) == own_tasks(mailing, "马陆镇") == {62}
    assert task_ids(finance) == own_tasks(mailing, "区财政局")
    assert "【马陆镇】" in malu.get_content() and "区财政局】" not in malu.get_content()
    assert "【区财政局】" in digest.get_content() and "【马陆镇】" in digest.get_content()
    assert malu["Subject"] == "【政务公开提醒】马陆镇：已逾期 1 项，2023-06-16 前到期 0 项（2023-06-09）"
    assert malu["Reply-To"].addresses[0].addr_spec == OFFICE and malu["From"] == f"区政务公开办 <{OFFICE}>"
    assert malu.get_content_charset() == "utf-8"
    assert "已发送：马陆镇（malu@example.test）" in result.stdout


def test_a_second_run_the_same_day_sends_nothing_new(mailing, smtp, monkeypatch):
    assert mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "区财政局").exit_code == 0
    again = mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "区财政局")
    assert again.exit_code == 0
    assert len(smtp.mailbox.received) == 3
    assert "今天已发送过，不再重复：区财政局、马陆镇、公开办汇总" in again.stdout
    # The next day is a new day.
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-10")
    assert mailing("remind", "--mail", "--unit", "马陆镇").exit_code == 0
    assert len(smtp.mailbox.to("malu@example.test")) == 2


def test_a_unit_the_server_refuses_is_reported_and_only_it_is_sent_again(mailing, smtp):
    mailing("contacts", "set", "区财政局", "nobody@example.test")
    result = mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "区财政局")
    assert result.exit_code == NOT_DELIVERED
    assert "未送达：区财政局：邮件服务器拒收（550 5.1.1 No such mailbox）" in result.stderr
    assert "共 1 个未送达" in result.stderr
    assert len(smtp.mailbox.to("malu@example.test")) == 1 and len(smtp.mailbox.to(OFFICE)) == 1
    mailing("contacts", "set", "区财政局", "czj@example.test")
    retried = mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "区财政局")
    assert retried.exit_code == 0, retried.stderr
    assert len(smtp.mailbox.to("czj@example.test")) == 1
    assert len(smtp.mailbox.to("malu@example.test")) == 1 and len(smtp.mailbox.to(OFFICE)) == 1


def test_a_unit_without_a_contact_is_reported(mailing, smtp):
    result = mailing("remind", "--mail", "--unit", "马陆镇", "--unit", "江桥镇")
    assert result.exit_code == NOT_DELIVERED
    assert "未送达：江桥镇：台账中没有该单位的联系邮箱" in result.stderr
    assert len(smtp.mailbox.to("malu@example.test")) == 1


def test_a_server_that_cannot_be_reached_records_nothing(mailing, smtp, monkeypatch):
    smtp.stop()
    result = mailing("remind", "--mail", "--unit", "马陆镇")
    assert result.exit_code == NOT_DELIVERED
    assert "未送达：马陆镇：无法连接邮件服务器" in result.stderr
    assert "未送达：公开办汇总：无法连接邮件服务器" in result.stderr
    back = Server()
    try:
        monkeypatch.setenv("GONGKAI_SMTP_URL", back.url)
        assert mailing("remind", "--mail", "--unit", "马陆镇").exit_code == 0
        assert len(back.mailbox.to("malu@example.test")) == 1
    finally:
        back.stop()


def test_nothing_due_sends_nothing(mailing, smtp, monkeypatch):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-01-02")
    result = mailing("remind", "--mail", "--unit", "马陆镇", "--within", "1d")
    assert result.exit_code == 0 and "没有需要提醒的任务，未发送任何邮件。" in result.stdout
    assert smtp.mailbox.received == []


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_side = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_side)

    class Tls:
        server_context = server_side

    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    # How an office trusts its own mail server's certificate authority (docs/cron.md).
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server = Server(tls=Tls)
    yield server
    server.stop()


def test_starttls_and_a_password_from_a_file(gk, tls_server, tmp_path, monkeypatch):
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    monkeypatch.setenv("GONGKAI_SMTP_URL", f"smtp+starttls://{USER}@127.0.0.1:{tls_server.port}")
    monkeypatch.setenv("GONGKAI_SMTP_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("GONGKAI_MAIL_FROM", OFFICE)
    gk("contacts", "set", "马陆镇", "malu@example.test")
    result = gk("remind", "--mail", "--unit", "马陆镇")
    assert result.exit_code == 0, result.stderr
    assert len(tls_server.mailbox.to("malu@example.test")) == 1
    secret.write_text("wrong\n", encoding="utf-8")
    gk("contacts", "set", "马陆镇", "malu2@example.test")
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-10")
    refused = gk("remind", "--mail", "--unit", "马陆镇")
    assert refused.exit_code == NOT_DELIVERED
    assert "未送达：马陆镇：邮件服务器不接受用户名或密码" in refused.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"GONGKAI_SMTP_URL": None}, "发送邮件需要设置环境变量 GONGKAI_SMTP_URL"),
        ({"GONGKAI_SMTP_URL": "smtp://gkb:secret@mail.example.test"}, "GONGKAI_SMTP_URL 中不能写密码"),
        ({"GONGKAI_SMTP_URL": "http://mail.example.test"}, "不是邮件服务器地址"),
        ({"GONGKAI_SMTP_URL": "smtp://mail.example.test:99999"}, "不是邮件服务器地址"),
        ({"GONGKAI_SMTP_URL": "smtp://gkb@mail.example.test"}, "但没有密码"),
        ({"GONGKAI_MAIL_FROM": None}, "需要设置环境变量 GONGKAI_MAIL_FROM"),
        ({"GONGKAI_MAIL_FROM": "公开办"}, "环境变量 GONGKAI_MAIL_FROM“公开办”不是有效的邮件地址"),
        ({"GONGKAI_SMTP_PASSWORD_FILE": "/nonexistent/pw", "GONGKAI_SMTP_URL": "smtp://u@h.example.test"},
         "无法读取 GONGKAI_SMTP_PASSWORD_FILE"),
    ],
)
def test_mail_settings_that_cannot_work_are_refused_before_anything_is_sent(gk, monkeypatch, variables, message):
    monkeypatch.setenv("GONGKAI_SMTP_URL", "smtp://127.0.0.1:1")
    monkeypatch.setenv("GONGKAI_MAIL_FROM", OFFICE)
    for name, value in variables.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    result = gk("remind", "--mail")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("错误：") and message in line


def test_to_dir_writes_the_same_messages_as_files(gk, monkeypatch, tmp_path):
    monkeypatch.setenv("GONGKAI_TODAY", "2023-06-09")
    monkeypatch.setenv("GONGKAI_MAIL_FROM", OFFICE)
    gk("contacts", "set", "马陆镇", "malu@example.test")
    out = tmp_path / "out"
    out.mkdir()
    result = gk("remind", "--to-dir", str(out), "--unit", "马陆镇")
    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["2023-06-09-公开办汇总.eml", "2023-06-09-马陆镇.eml"]
    message = email.message_from_bytes((out / "2023-06-09-马陆镇.eml").read_bytes(), policy=policy.default)
    assert message["To"] == "malu@example.test" and message["Reply-To"] == OFFICE
    assert message["Subject"].startswith("【政务公开提醒】马陆镇")
    assert task_ids(message) == {62}
    assert b"\r\n" in (out / "2023-06-09-马陆镇.eml").read_bytes()
    assert gk("remind", "--to-dir", str(tmp_path / "missing"), "--unit", "马陆镇").exit_code == 2
    assert gk("remind", "--to-dir", str(out), "--mail").exit_code == 2


def test_contacts_are_checked_kept_and_removed(gk):
    assert gk("contacts", "set", "马陆镇", "malu@example.test").stdout == "已登记马陆镇的联系邮箱：malu@example.test。\n"
    assert gk("contacts", "set", "马陆镇", "马陆镇办 <new@example.test>").stdout == (
        "已把马陆镇的联系邮箱从 malu@example.test 改为 new@example.test。\n")
    listed = json.loads(gk("contacts", "list", "--format", "json").stdout)
    assert {"unit": "马陆镇", "email": "new@example.test"} in listed
    for unit, address, message in [
        ("各街镇", "a@example.test", "“各街镇”是单位的集合，联系邮箱只能属于一个单位"),
        ("不存在的局", "a@example.test", "未知的责任单位“不存在的局”"),
        ("马陆镇", "not an address", "不是有效的邮件地址"),
        ("马陆镇", "a@b", "不是有效的邮件地址"),
        ("马陆镇", "a@example.test\nBcc: x@example.test", "含有换行"),
        ("马陆镇", "x" * 250 + "@example.test", "不是有效的邮件地址"),
    ]:
        result = gk("contacts", "set", unit, address)
        assert result.exit_code == 2 and message in result.stderr, (unit, address, result.stderr)
    assert gk("contacts", "remove", "马陆镇").stdout == "已删除马陆镇的联系邮箱。\n"
    assert gk("contacts", "remove", "马陆镇").stdout == "马陆镇本来就没有登记联系邮箱，未做更改。\n"


def test_cron_mails_every_unit_with_a_contact_through_the_installed_command(executable, smtp, tmp_path):
    """The way cron runs it: the whole plan, by unit, units without a contact listed on stderr."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GONGKAI_DB": str(tmp_path / "ledger.db"),
           "GONGKAI_TODAY": "2023-06-09", "GONGKAI_SMTP_URL": smtp.url, "GONGKAI_MAIL_FROM": OFFICE,
           "GONGKAI_USER": "公开办"}

    def run(*args):
        return subprocess.run([executable, *args], env=env, capture_output=True, text=True, encoding="utf-8",
                              timeout=120, check=False)

    assert run("contacts", "set", "马陆镇", "malu@example.test").returncode == 0
    assert run("contacts", "set", "区财政局", "czj@example.test").returncode == 0
    first = run("remind", "--by-unit", "--mail")
    assert first.returncode == NOT_DELIVERED
    assert len(smtp.mailbox.to("malu@example.test")) == 1 and len(smtp.mailbox.to("czj@example.test")) == 1
    assert len(smtp.mailbox.to(OFFICE)) == 1
    unreached = [line for line in first.stderr.splitlines() if line.startswith("未送达：")]
    assert unreached and all("没有该单位的联系邮箱" in line for line in unreached)
    second = run("remind", "--by-unit", "--mail")
    assert second.returncode == NOT_DELIVERED
    assert len(smtp.mailbox.received) == 3


def test_mail_modules_are_not_loaded_by_a_plain_reminder(executable, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GONGKAI_DB": str(tmp_path / "ledger.db"),
           "PYTHONPROFILEIMPORTTIME": "1"}
    result = subprocess.run([executable, "remind"], env=env, capture_output=True, text=True, encoding="utf-8",
                            timeout=120, check=False)
    assert result.returncode == 0
    imported = result.stderr
    assert "smtplib" not in imported and "gongkai_cli.outputs.mail" not in imported
