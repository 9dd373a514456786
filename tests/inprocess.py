"""The command line run in this process, through the same `cli.run` the installed executable calls.

Typer's CliRunner would invoke the app's command directly, past `run`, where gongkai turns the
framework's usage errors into Chinese; here its `isolation` only captures the streams.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typer.testing import CliRunner

from gongkai_cli.cli.app import run


@dataclass(frozen=True)
class Result:
    """What a run printed and its exit code, as click's Result names them."""

    exit_code: int
    stdout_bytes: bytes
    stderr_bytes: bytes
    output_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def output(self) -> str:
        return self.output_bytes.decode("utf-8", "replace").replace("\r\n", "\n")


def invoke(args: Sequence[str], *, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
    with CliRunner().isolation(input=input, env=env) as streams:
        try:
            code = run(list(args))
        except SystemExit as exit:
            # Shell completion ends the process itself, as the framework's protocol does.
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        out, err, both = (stream.getvalue() for stream in streams)
    return Result(code, out, err, both)
