"""Where a run starts: the installed `gongkai` script and `python -m gongkai_cli`."""

import gc
import sys


def main() -> None:
    # A run lasts a fraction of a second, and most of what it allocates is the hundred-odd
    # modules it imports, none of which is garbage. Collections during those imports find
    # nothing, and the full collection at interpreter exit walks every object again: about
    # a sixth of a json listing's time (docs/benchmarks.md). Frozen, the modules' objects
    # are skipped by both; what the command itself allocates is collected as usual.
    gc.disable()
    from .cli.quick import prepare
    from .cli.streams import guard_stderr, guard_stdout

    guard_stdout()
    guard_stderr()
    # The plainest lines of the most frequent commands are answered without building the app.
    command = prepare(sys.argv[1:])
    if command is None:
        from .cli.app import run

        command = run
    gc.freeze()
    gc.enable()
    sys.exit(command())


if __name__ == "__main__":
    main()
