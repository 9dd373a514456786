"""The command line: the Typer app and its edge (app.py), the terminal (console.py), the shared
options and the words as typed (command_line.py), help and completion, and commands/, one module
per use-case group. Nothing below this package imports it."""
