"""The command line on Typer's public API: what the edge adds to every command, the `server`
group, shell completion in Chinese, and a guard against reaching into the framework again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import typer.main

import gongkai_cli
from gongkai_cli.cli import app as cli, command_line

pytestmark = pytest.mark.no_ledger

SOURCE = Path(gongkai_cli.__file__).parent

# What issue 21 calls private: Typer's modules beyond its documented top level, and its vendored click.
PRIVATE = re.compile(r"typer\.(main|_|core)|from typer\.[a-z_]*\._|_click")


def _built() -> typer.Context:
    cli.add_commands([])
    group = typer.main.get_command(cli.app)
    return typer.Context(group, info_name="gongkai")


def test_the_package_uses_only_typers_public_api():
    found = [f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
             for path in sorted(SOURCE.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if PRIVATE.search(line)]
    assert found == []


def test_the_command_tables_are_what_the_modules_define():
    ctx = _built()
    group = ctx.command
    assert sorted(group.list_commands(ctx)) == sorted(cli.COMMANDS)
    for name, subcommands in cli.SUBCOMMANDS.items():
        sub = group.get_command(ctx, name)
        assert sorted(sub.list_commands(typer.Context(sub, parent=ctx))) == sorted(subcommands)
    valued = {opt for param in group.params if param.param_type_name == "option" and not param.is_flag
              for opt in param.opts}
    assert valued == set(command_line.ROOT_VALUE_OPTIONS)


def test_the_root_helps_summaries_are_each_commands_own_first_line():
    ctx = _built()
    group = ctx.command
    assert list(cli.SUMMARIES) == list(cli.COMMANDS)
    for name, summary in cli.SUMMARIES.items():
        assert group.get_command(ctx, name).help.splitlines()[0] == summary, name


def test_every_command_takes_help_db_and_its_plan_after_its_name():
    ctx = _built()
    group = ctx.command
    leaves = [(name, group.get_command(ctx, name)) for name in cli.COMMANDS if name not in cli.SUBCOMMANDS]
    leaves += [(sub, group.get_command(ctx, name).get_command(ctx, sub))
               for name, subs in cli.SUBCOMMANDS.items() for sub in subs]
    for name, command in leaves:
        options = {opt for param in command.params for opt in getattr(param, "opts", ())}
        assert {"-h", "--help", "--db"} <= options, name
        assert ("--plan" in options) == (name in cli.PLAN_COMMANDS or name == "import"), name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["server", "bogus"], "错误：没有“bogus”这个命令？可用的命令见 gongkai server -h。"),
        (["server", "grnt"], "错误：没有“grnt”这个命令，是不是想用 grant、init？可用的命令见 gongkai server -h。"),
        (["server", "grant"], "错误：缺少参数“单位 登录角色”（用法见 gongkai server grant -h）。"),
        (["server", "revoke", "a", "b"], "错误：多余的参数：b（用法见 gongkai server revoke -h）。"),
        (["server", "init", "--db"], "错误：选项 --db 后面缺少值（用法见 gongkai server init -h）。"),
        (["--db"], "错误：选项 --db 后面缺少值（用法见 gongkai -h）。"),
        (["--plan", "list", "lst"], "错误：没有“lst”这个命令，是不是想用 list、plans？可用的命令见 gongkai -h。"),
    ],
)
def test_usage_errors_name_the_command_they_belong_to(gk, args, expected):
    result = gk(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected + "\n")


def test_server_is_a_group_with_its_own_help(gk):
    alone = gk("server")
    assert alone.exit_code == 0 and alone.stdout.startswith("用法：gongkai server [选项] 命令")
    listed = [line.split()[0] for line in alone.stdout.split("\n命令：\n", 1)[1].splitlines() if line.startswith("  ")
              and not line.startswith("   ")]
    assert listed == list(cli.SUBCOMMANDS["server"])
    assert "例如 gongkai server init -h" in alone.stdout
    grant = gk("server", "grant", "-h")
    assert grant.exit_code == 0 and grant.stdout.startswith("用法：gongkai server grant [选项] 单位 登录角色")
    assert "--office" in grant.stdout


def test_server_commands_refuse_a_sqlite_ledger_as_before(gk):
    result = gk("server", "grant", "马陆镇", "majiang")
    assert result.exit_code == 2 and "PostgreSQL" in result.stderr
    wrong = gk("server", "grant", "--office", "马陆镇", "majiang")
    assert wrong.exit_code == 2 and "gongkai server grant --office 登录角色" in wrong.stderr


def test_help_after_the_command_name_and_its_options(gk):
    result = gk("list", "--plan", "2023", "-h")
    assert result.exit_code == 0 and result.stdout.startswith("用法：gongkai list [选项]")
    assert "--plan 计划" in result.stdout and "-h, --help" in result.stdout


def test_no_command_prints_the_help(gk):
    result = gk()
    assert result.exit_code == 0 and result.stdout.startswith("用法：gongkai [选项] 命令")
    assert "\n  server " in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_is_installed_in_chinese_and_once(tmp_path, monkeypatch, shell):
    from inprocess import invoke

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHELL", f"/bin/{shell}")
    first = invoke(["--install-completion"])
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(f"已为 {shell} 安装 Tab 补全（写入 ") and first.stderr == ""
    written = Path(first.stdout.split("写入 ", 1)[1].split("）", 1)[0])
    assert "_GONGKAI_COMPLETE" in written.read_text(encoding="utf-8")
    rc = {"bash": tmp_path / ".bashrc", "zsh": tmp_path / ".zshrc"}.get(shell)
    before = rc.read_text(encoding="utf-8") if rc else None
    assert invoke(["--install-completion"]).exit_code == 0
    if rc is not None:
        assert rc.read_text(encoding="utf-8") == before and before.count("\n") == 1


def test_completion_for_an_unknown_shell_is_refused_in_chinese(monkeypatch):
    from inprocess import invoke

    monkeypatch.setenv("SHELL", "/bin/tcsh")
    result = invoke(["--show-completion"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("错误：无法为“tcsh”安装补全")


def test_show_completion_prints_the_frameworks_script(monkeypatch):
    from inprocess import invoke

    monkeypatch.setenv("SHELL", "/usr/bin/bash")
    result = invoke(["--show-completion"])
    assert result.exit_code == 0
    assert "_GONGKAI_COMPLETE=complete_bash" in result.stdout and "complete -o default" in result.stdout
