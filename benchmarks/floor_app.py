"""The floor gongkai's start-up is measured against: the smallest honest Typer app
that does what `gongkai list --unit X --format json` does at its core, one option,
one SELECT on the same database, JSON out. Anything gongkai spends above this is ours.

    python benchmarks/floor_app.py --unit 区财政局 --db PATH
"""

import json
import sqlite3

import typer

app = typer.Typer(add_completion=False)


@app.command()
def main(unit: str = typer.Option(...), db: str = typer.Option(...)) -> None:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        """SELECT t.id, t.content FROM tasks t
           JOIN task_units tu ON tu.task = t.pk JOIN units u ON u.id = tu.unit
           WHERE u.name = ? ORDER BY t.id""",
        (unit,),
    ).fetchall()
    print(json.dumps([{"id": i, "content": c} for i, c in rows], ensure_ascii=False))


if __name__ == "__main__":
    app()
