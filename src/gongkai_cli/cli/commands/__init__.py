"""The commands, one module per use-case group (mirroring usecases/).

Each module registers its commands on its own `commands` (an `app.Commands` registry; `team`'s
is the `server` group); app.py's `COMMANDS` table says which module holds which command, and
`app.run` imports a module, and adds its commands to the app, only when the command line names
one of its commands. A command is argument handling, one use-case call and one render call.
"""
