"""Exit codes, the one list of them, and the errors that carry them.

Use cases raise these errors; exactly one handler at the CLI edge turns them into a one-line
Chinese message on stderr and the error's exit code. `gongkai -h` and docs/usage.md's table
are built from `ExitCode`: `python -m gongkai_cli.domain.errors` prints the table, and
tests/test_domain.py fails while the page says otherwise.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    SUCCESS = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    STORE = 4
    OVERDUE = 5
    NOT_PERMITTED = 6
    SAVED_BUT_UNCONFIRMED = 7
    NOT_DELIVERED = 8

    @property
    def summary(self) -> str:
        """Its meaning in a line of `gongkai -h`."""
        return _MEANINGS[self][0]

    @property
    def meaning(self) -> str:
        """Its meaning in full, as docs/usage.md states it."""
        return _MEANINGS[self][1]


_MEANINGS = {
    ExitCode.SUCCESS: ("成功（结果为空也算成功）", "成功（结果为空也算成功）"),
    ExitCode.INTERNAL: ("内部错误", "内部错误（一行说明；加 `--debug` 显示调用栈）"),
    ExitCode.USAGE: ("用法或输入错误（日期、状态、单位、文件格式）", "用法或输入错误：日期、状态、单位、任务序号、文件格式"),
    ExitCode.NOT_FOUND: ("找不到（计划中没有该任务）", "找不到：计划中没有该任务，或没有该计划；没有可撤销的更改"),
    ExitCode.STORE: (
        "数据库问题（被占用超时、损坏、只读、版本过新、不是 gongkai 台账）",
        "数据库问题：被占用超时、文件损坏或检查未通过、只读、由更新版本创建（请升级 gongkai）、不是 gongkai 台账",
    ),
    ExitCode.OVERDUE: (
        "remind --fail-on-overdue 发现了逾期任务（供监控用，不是出错）",
        "`remind --fail-on-overdue` 发现逾期任务（不是错误，是给监控的信号）",
    ),
    ExitCode.NOT_PERMITTED: (
        "无权操作（团队模式：单位账号写别的单位的任务分工，或做只有办公室能做的事）",
        "无权操作（团队模式：单位账号写别的单位的任务分工，或做只有办公室能做的事，见 docs/team.md）；未写入任何内容",
    ),
    ExitCode.SAVED_BUT_UNCONFIRMED: (
        "更改已保存，但确认信息无法输出（标准输出已满、已关闭或管道已断开）：不要重试",
        "更改已写入台账，但确认信息未能输出（例如标准输出所在磁盘已满）；不要重试，或用 `note --key` 安全重试",
    ),
    ExitCode.NOT_DELIVERED: (
        "remind --mail 有单位的提醒邮件未送达（已逐个列出；再次运行只补发这些）",
        "`remind --mail` 有单位的提醒邮件未送达（没有联系邮箱、被邮件服务器拒收或无法连接），已在标准错误中逐个列出；"
        "已送达的已记录，同一天再次运行只补发未送达的",
    ),
}


def help_lines() -> str:
    """The codes as `gongkai -h` lists them."""
    return "\n".join(f"  {code.value} {code.summary}" for code in ExitCode)


def markdown_table() -> str:
    """The codes as docs/usage.md's table."""
    rows = "".join(f"| {code.value} | {code.meaning} |\n" for code in ExitCode)
    return f"| 退出码 | 含义 |\n|---|---|\n{rows}"


class GongkaiError(Exception):
    """Base class: a failure the user can understand from its message alone."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(GongkaiError):
    """Bad command-line input or a malformed file."""

    exit_code = ExitCode.USAGE


class NotFound(GongkaiError):
    """A task, plan or note that does not exist."""

    exit_code = ExitCode.NOT_FOUND


class StoreError(GongkaiError):
    """The database cannot be used: locked, corrupt, read-only, too new."""

    exit_code = ExitCode.STORE


class NotPermitted(GongkaiError):
    """The login may not make this change: a unit writing another unit's work, a clerk
    doing what only the office may do (team mode). Nothing was written."""

    exit_code = ExitCode.NOT_PERMITTED


if __name__ == "__main__":
    print(markdown_table(), end="")
