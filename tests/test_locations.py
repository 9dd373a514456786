"""Where a ledger lives, and what it can do there: one face per backend (store.locate, Storage.team,
Storage.pages), and the one refusal of what a backend cannot do (usecases.session.require)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongkai_cli.domain.errors import UsageError
from gongkai_cli.store import LedgerFile, ServerURL, locate, open_store
from gongkai_cli.usecases.session import require

SERVER = ServerURL("postgresql://office:secret@db.example/gongkai")
SHOWN = "postgresql://office:***@db.example/gongkai"


@pytest.mark.no_ledger
def test_a_file_is_backed_up_and_restored_a_server_has_a_team(tmp_path: Path):
    file = locate(tmp_path / "gongkai.db")
    assert isinstance(file, LedgerFile) and file.file == tmp_path / "gongkai.db"
    assert file.features == {"backup", "restore"}
    assert file.unit_file_beside() == tmp_path / "units.csv"
    assert locate(SERVER) is SERVER
    assert SERVER.features == {"team", "unit_file_inside"}
    assert SERVER.file is None and SERVER.unit_file_beside() is None


@pytest.mark.no_ledger
def test_only_a_file_is_its_own_ledger_to_refuse_as_an_output(tmp_path: Path):
    file = locate(tmp_path / "gongkai.db")
    assert file.is_ledger_file(tmp_path / "gongkai.db") == ""
    assert file.is_ledger_file(tmp_path / "gongkai.db-wal") == "-wal"
    assert file.is_ledger_file(tmp_path / "other.db") is None
    assert SERVER.is_ledger_file(tmp_path / "gongkai.db") is None


@pytest.mark.no_ledger
@pytest.mark.parametrize(("feature", "message"), [
    ("backup", f"备份只适用于 SQLite 台账文件；PostgreSQL 台账“{SHOWN}”请用 gongkai copy --to 文件.db 备份成 SQLite 文件，"
     "或用 pg_dump（见 docs/team.md）。"),
    ("restore", f"恢复只适用于 SQLite 台账文件；PostgreSQL 台账“{SHOWN}”请用 gongkai copy 把备份文件复制到一个空数据库，"
     "或用 pg_restore（见 docs/team.md）。"),
])
def test_a_server_refuses_what_only_a_file_does_in_one_message(feature, message):
    with pytest.raises(UsageError) as refused:
        require(SERVER, feature)
    assert str(refused.value) == message and refused.value.exit_code == 2


@pytest.mark.no_ledger
def test_a_file_refuses_what_only_a_server_does_in_one_message(tmp_path: Path):
    file = locate(tmp_path / "gongkai.db")
    with pytest.raises(UsageError) as refused:
        require(file, "team")
    assert str(refused.value) == "gongkai server 只用于 PostgreSQL 台账（GONGKAI_DB=postgresql://…），SQLite 台账没有账号之分。"
    with pytest.raises(UsageError) as refused:
        require(file, "unit_file_inside")
    assert str(refused.value) == (
        f"SQLite 台账不把单位数据文件存进数据库：请把它命名为 units.csv，放在数据库文件所在的目录“{tmp_path}”中。"
        "gongkai server units 只用于 PostgreSQL 台账。"
    )
    require(file, "backup")
    require(SERVER, "team")


@pytest.mark.sqlite_only("the store of a SQLite file")
def test_a_sqlite_store_has_pages_and_no_team(tmp_path: Path):
    store = open_store(tmp_path / "gongkai.db")
    try:
        assert store.team is None
        assert store.pages is store
    finally:
        store.close()


@pytest.mark.no_ledger
def test_restore_over_a_server_is_refused_before_connecting(gk, tmp_path: Path):
    # Nothing listens there: the refusal comes first, from the location alone.
    result = gk("--db", "postgresql://office:secret@127.0.0.1:9/gongkai", "restore", "--yes", str(tmp_path / "b.db"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "错误：恢复只适用于 SQLite 台账文件；PostgreSQL 台账“postgresql://office:***@127.0.0.1:9/gongkai”请用 gongkai copy "
        "把备份文件复制到一个空数据库，或用 pg_restore（见 docs/team.md）。\n"
    )


@pytest.mark.postgres
def test_a_server_store_has_a_team_and_no_pages(pg_url: str):
    pytest.importorskip("psycopg")
    from gongkai_cli.store.team import Team

    store = open_store(ServerURL(pg_url))
    try:
        assert store.pages is None
        team = store.team
        assert isinstance(team, Team)
        assert team.login().office  # the owner counts as the office
    finally:
        store.close()
