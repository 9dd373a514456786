"""The commands, one module per use-case group (mirroring usecases/).

Each module registers its commands on its own `commands` (a `cli.Commands`, a Typer; `team`'s
is the `server` group); cli.py's `COMMANDS` table says which module holds which command, and
`cli.run` imports a module, and adds its commands to the app, only when the command line names
one of its commands. A command is argument handling, one use-case
call and one render call.
"""
