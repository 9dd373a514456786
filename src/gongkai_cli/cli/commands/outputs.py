"""Whole files from the plan: the progress report and the export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import typer

from ...domain.errors import UsageError
from ...outputs import exports as exporter, report as reporting
from ...outputs.files import STDOUT, check_output, write_output
from ...usecases import queries
from ..app import Commands
from ..console import say
from .shared import ForceReadOnlyOption, UnitOption, complete_unit, open_ledger

commands = Commands()


@commands.command()
def report(
    ctx: typer.Context,
    unit: str | None = UnitOption,
    since: str | None = typer.Option(
        None, "--since", metavar="日期",
        help="列出自该日以来的进展记录，例如 2023-04-01、-1m；本周、上月、本季度、上半年等表示整段时间（默认全部）。",
    ),
    until: str | None = typer.Option(
        None, "--until", metavar="日期", help="只列出该日（含）以前的进展记录，写法同 --since，例如 2023-05-31、上月。"
    ),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="文件", help="写入的文件（默认输出到屏幕）；写文件时先写临时文件再替换。"
    ),
    as_html: bool = typer.Option(
        False, "--html", help="输出独立的 HTML 页面（无外部资源，可直接粘贴到 Word/WPS）；-o 以 .html 或 .htm 结尾时自动选用。"
    ),
    as_docx: bool = typer.Option(False, "--docx", help="输出公文格式（GB/T 9704）的 Word 文档，须用 -o 指定文件；-o 以 .docx 结尾时自动选用。"),
    addressee: str | None = typer.Option(
        None, "--to", metavar="主送机关", help="主送机关，写在标题下方，例如 区政府办公室（默认取环境变量 GONGKAI_REPORT_TO）。"
    ),
    signer: str | None = typer.Option(
        None, "--signer", metavar="发文机关",
        help="发文机关署名，写在成文日期之上（默认取环境变量 GONGKAI_REPORT_SIGNER；单位报告默认为该单位）。",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="写入文件成功时不输出确认信息。"),
    force: bool = ForceReadOnlyOption,
) -> None:
    """生成进展报告（Markdown、HTML 或 Word）：总体情况、任务清单与最新进展、逾期任务、期间进展记录。

    例如：gongkai report --unit 区财政局 --since 2023-04-01 -o 区财政局进展.md
          gongkai report --since 上月 -o 5月报送.docx
    """
    if as_docx and as_html:
        raise UsageError("--docx 与 --html 只能选一个。")
    if not (as_docx or as_html):
        # Like export: the file name says what it holds; an explicit flag beats the suffix.
        suffix = Path(output).suffix.lower() if output != STDOUT else ""
        as_docx, as_html = suffix == ".docx", suffix in (".html", ".htm")
    if as_docx and output == STDOUT and sys.stdout.isatty():
        raise UsageError("Word 文档是二进制文件，不能直接输出到终端，请用 -o 指定文件名（例如 -o 进展报告.docx）。")
    check_output(output, what="报告", force=force)
    with open_ledger(ctx) as ledger:
        result = queries.report(ledger, unit=unit, since=since, until=until)
    letterhead = reporting.Letterhead(
        addressee=_setting(addressee, "GONGKAI_REPORT_TO"),
        signer=_setting(signer, "GONGKAI_REPORT_SIGNER") or result.unit,
    )
    text = (None if as_docx else reporting.html_page(result, letterhead) if as_html
            else reporting.markdown(result, letterhead))

    def produce(out: IO[bytes]) -> None:
        if text is None:
            reporting.docx(result, out, letterhead)
        else:
            out.write(text.encode("utf-8"))
    write_output(output, produce, ledger=ledger.database, what="报告", force=force)
    if as_docx and not letterhead.signer:
        say("提示：未指定发文机关署名（--signer 或环境变量 GONGKAI_REPORT_SIGNER），文末只有成文日期。", err=True)
    if not quiet and output != STDOUT:
        kind = "Word" if as_docx else "HTML" if as_html else "Markdown"
        say(f"已写入报告“{output}”（{kind}）。")


def _setting(given: str | None, variable: str) -> str | None:
    """An option's value, else the environment's; stray spaces and line breaks never reach a document."""
    import os

    value = given if given is not None else os.environ.get(variable, "")
    cleaned = " ".join(value.split())
    return cleaned or None


@commands.command()
def export(
    ctx: typer.Context,
    fmt: str | None = typer.Option(
        None, "--format", "-f",
        help="导出格式：xlsx、csv、json、markdown、ics、vdir（默认按 -o 文件的扩展名判断；输出到标准输出时为 csv）。",
    ),
    output: str = typer.Option("-", "--output", "-o", help="输出文件（vdir 格式为文件夹）；为 - 时写到标准输出（默认）。"),
    ics_kind: str | None = typer.Option(
        None, "--ics-kind", help="ics/vdir 的条目类型：event（日程，默认，日历订阅可见）或 todo（待办，任务应用可见）。",
    ),
    alarm: str | None = typer.Option(
        None, "--alarm", help="ics/vdir：到期前多久提醒，例如 3d（默认）、12h、1w；不提醒用 none。",
    ),
    unit: str | None = typer.Option(
        None, "--unit", "-u", metavar="单位",
        help="只导出该单位（或集合，如“各街镇”的各成员）的“各单位进展”表，供单位填写状态和最新进展后用 gongkai import 导回；仅 xlsx。",
        autocompletion=complete_unit,
    ),
    quiet: bool = typer.Option(False, "--quiet", help="成功时不输出确认信息。"),
    force: bool = ForceReadOnlyOption,
) -> None:
    """导出当前计划的全部任务（按序号）及进展记录。例如：gongkai export -o 任务台账.xlsx

    写入文件时先写临时文件再替换，不会留下写了一半的文件。xlsx 中的“各单位进展”表（或 --unit 导出的单位表）填写后可用 gongkai import 导回。
    """
    fmt = exporter.resolve_format(fmt, output)
    calendar = exporter.calendar_options(fmt, ics_kind, alarm)
    exporter.check_target(fmt, output, force=force, unit=unit)
    with open_ledger(ctx) as ledger:
        if fmt == "vdir":
            plan = queries.export_tasks(ledger, unit=unit)
            result = exporter.write_vdir(plan, output, calendar, ledger=ledger.database, force=force)
            if not quiet:
                say(
                    f"已导出计划“{plan.plan.name}”到文件夹“{output}”（vdir）：写入 {result.written} 个文件，"
                    f"未变 {result.unchanged} 个，删除 {result.removed} 个。"
                )
            return
        # Written while the ledger is read, a batch of tasks at a time.
        export = queries.export_batches(ledger, unit=unit)
        written = exporter.write(export, fmt, output, calendar, ledger=ledger.database, force=force)
    if quiet or output == STDOUT:
        return
    if export.unit is not None:
        say(f"已导出计划“{export.plan.name}”中“{export.unit}”的 {written.rows} 行（{written.tasks} 项任务）"
            f"到“{output}”；填写“状态”“最新进展”后用 gongkai import 导回。")
    else:
        say(f"已导出计划“{export.plan.name}”的 {written.tasks} 项任务到“{output}”（{fmt}）。")
