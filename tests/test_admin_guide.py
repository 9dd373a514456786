"""docs/team.md's set-up for an IT administrator, run as written against a PostgreSQL server of its
own (issue 25): a TCP listener on 127.0.0.1 that accepts only TLS (a self-signed certificate made
with openssl, `sslmode=require`), an owner made with `createuser --createrole`, `createdb`,
`gongkai init --empty`, the plan loaded with `gongkai import`, `server init`, a unit's login made
by the owner and granted, and that unit's first note over the network."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gongkai_cli.usecases.session import DATA_DIR

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "postgres"
OWNER_PASSWORD = "owner-secret"
UNIT_PASSWORD = "unit-secret"


def _as_cluster_owner(command: list[str]) -> list[str]:
    # initdb and the server refuse to run as root, as .ci/postgres knows.
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, bindir: Path, directory: Path, port: int):
        self.bindir = bindir
        self.directory = directory
        self.port = port

    def admin(self, program: str, *args: str) -> str:
        """A client program as the cluster's superuser on its unix socket (the DBA at the server)."""
        result = subprocess.run([str(self.bindir / program), "-h", str(self.directory), "-p", str(self.port),
                                 "-U", "postgres", *args], capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, (program, args, result.stderr)
        return result.stdout

    def url(self, user: str, sslmode: str = "require", database: str = "gongkai") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}?sslmode={sslmode}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = subprocess.run([str(SCRIPT), "bindir"], capture_output=True, text=True, check=False)
    if found.returncode != 0 or shutil.which("openssl") is None:
        pytest.skip("initdb or openssl not found")
    bindir = Path(found.stdout.strip())
    directory = Path(tempfile.mkdtemp(prefix="gongkai-guide-"))
    if os.getuid() == 0:
        shutil.chown(directory, "postgres")
    data = directory / "data"
    port = _free_port()
    subprocess.run(_as_cluster_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--encoding=UTF8",
                                      "--locale=C.UTF-8", "--auth-local=trust"]),
                   check=True, capture_output=True, timeout=300)
    # The guide's certificate: self-signed, for the address the unit PCs use.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(data / "server.key"), "-out", str(data / "server.crt")],
                   check=True, capture_output=True, timeout=120)
    (data / "server.key").chmod(0o600)
    if os.getuid() == 0:
        for name in ("server.key", "server.crt"):
            shutil.chown(data / name, "postgres")
    # The guide's pg_hba.conf lines: unit PCs over TLS with a password, nothing in the clear.
    (data / "pg_hba.conf").write_text(
        "local all postgres trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 0.0.0.0/0 reject\n", encoding="utf-8")
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{directory}'\n"
                   "ssl = on\nfsync = off\ntimezone = 'UTC'\n")
    subprocess.run(_as_cluster_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "server.log"),
                                      "-w", "-t", "60", "start"]), check=True, capture_output=True, timeout=120)
    try:
        yield Cluster(bindir, directory, port)
    finally:
        subprocess.run(_as_cluster_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       check=False, capture_output=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


def test_the_guide_from_createuser_to_a_units_first_note_over_tls(cluster: Cluster, executable: str, tmp_path: Path):
    def gongkai(*args: str, user: str, password: str, sslmode: str = "require") -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "UTC", "GONGKAI_DB": cluster.url(user, sslmode),
               "PGPASSWORD": password, "GONGKAI_TODAY": "2023-03-01"}
        return subprocess.run([executable, *args], capture_output=True, text=True, encoding="utf-8", env=env,
                              cwd=tmp_path, check=False, timeout=120)

    def ok(*args: str, user: str = "gongkai_owner", password: str = OWNER_PASSWORD) -> str:
        result = gongkai(*args, user=user, password=password)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    # The DBA: an owner that may make roles (server init makes two group roles), and its database.
    cluster.admin("createuser", "--createrole", "gongkai_owner")
    cluster.admin("psql", "-X", "-d", "postgres", "-c", f"ALTER ROLE gongkai_owner PASSWORD '{OWNER_PASSWORD}'")
    cluster.admin("createdb", "--owner", "gongkai_owner", "gongkai")

    # The owner, from its own PC over TLS: an empty ledger, the plan loaded, team mode set up.
    ok("init", "--empty")
    ok("import", str(DATA_DIR / "tasks_2023.csv"))
    ok("server", "init")
    # A unit's login, made by the owner (CREATEROLE) and mapped to its unit.
    owner_psql = subprocess.run(
        [str(cluster.bindir / "psql"), "-X", "-v", "ON_ERROR_STOP=1", cluster.url("gongkai_owner"), "-c",
         f"CREATE ROLE majiang LOGIN PASSWORD '{UNIT_PASSWORD}'"],
        capture_output=True, text=True, check=False, timeout=60, env={**os.environ, "PGPASSWORD": OWNER_PASSWORD})
    assert owner_psql.returncode == 0, owner_psql.stderr
    ok("server", "grant", "马陆镇", "majiang")

    # The unit's first note, from its PC over TLS.
    out = ok("note", "62", "目录已编制", user="majiang", password=UNIT_PASSWORD)
    assert "马陆镇（majiang）" in out
    assert "目录已编制" in ok("show", "62")
    assert "通过" in ok("check")
    # The password in ~/.pgpass and the rest in ~/.pg_service.conf, as the guide says for unit PCs.
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{cluster.port}:gongkai:majiang:{UNIT_PASSWORD}\n", encoding="utf-8")
    pgpass.chmod(0o600)
    (tmp_path / ".pg_service.conf").write_text(
        f"[gongkai]\nhost=127.0.0.1\nport={cluster.port}\ndbname=gongkai\nuser=majiang\nsslmode=require\n",
        encoding="utf-8")
    service = subprocess.run(
        [executable, "note", "62", "第二条", "--unit", "马陆镇"], capture_output=True, text=True, encoding="utf-8",
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "UTC", "GONGKAI_DB": "postgresql:///?service=gongkai"},
        cwd=tmp_path, check=False, timeout=120)
    assert service.returncode == 0, service.stderr
    assert "马陆镇（majiang）" in service.stdout
    # Nothing in the clear: pg_hba.conf rejects a connection without TLS.
    plain = gongkai("list", user="majiang", password=UNIT_PASSWORD, sslmode="disable")
    assert plain.returncode == 4 and plain.stdout == ""


def test_the_guides_backups_restore_both_ways(cluster: Cluster, executable: str, tmp_path: Path):
    """A `copy` backup restored into a new database has the ledger but none of the team set-up
    (roles and grants are the server's): server init and grant again. pg_dump with the roles
    (pg_dumpall --roles-only) and pg_restore bring the grants and the unit logins back."""
    def gongkai(*args: str, db: str, password: str = OWNER_PASSWORD) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TZ": "UTC", "GONGKAI_DB": db,
               "PGPASSWORD": password, "GONGKAI_TODAY": "2023-03-01"}
        return subprocess.run([executable, *args], capture_output=True, text=True, encoding="utf-8", env=env,
                              cwd=tmp_path, check=False, timeout=120)

    def ok(*args: str, db: str, password: str = OWNER_PASSWORD) -> str:
        result = gongkai(*args, db=db, password=password)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def tool(program: str, *args: str) -> None:
        result = subprocess.run([str(cluster.bindir / program), *args], capture_output=True, text=True, check=False,
                                timeout=120, env={**os.environ, "PGPASSWORD": OWNER_PASSWORD})
        assert result.returncode == 0, (program, result.stderr)

    cluster.admin("createuser", "--createrole", "gongkai_owner")
    cluster.admin("psql", "-X", "-d", "postgres", "-c", f"ALTER ROLE gongkai_owner PASSWORD '{OWNER_PASSWORD}'")
    for database in ("gongkai", "gongkai_copy", "gongkai_dump"):
        cluster.admin("createdb", "--owner", "gongkai_owner", database)
    owner = cluster.url("gongkai_owner")
    ok("init", db=owner)
    ok("server", "init", db=owner)
    tool("psql", "-X", "-v", "ON_ERROR_STOP=1", owner, "-c", f"CREATE ROLE majiang LOGIN PASSWORD '{UNIT_PASSWORD}'")
    ok("server", "grant", "马陆镇", "majiang", db=owner)
    ok("note", "62", "备份前的进展", db=cluster.url("majiang"), password=UNIT_PASSWORD)

    # copy: out to a SQLite file, back into an empty database; then the team set-up again.
    backup = tmp_path / "gongkai-backup.db"
    ok("copy", "--to", str(backup), db=owner)
    restored = cluster.url("gongkai_owner", database="gongkai_copy")
    ok("copy", "--to", restored, db=str(backup))
    unit_there = cluster.url("majiang", database="gongkai_copy")
    assert "备份前的进展" in ok("show", "62", db=restored)
    assert gongkai("note", "62", "恢复后", db=unit_there, password=UNIT_PASSWORD).returncode != 0
    ok("server", "init", db=restored)
    ok("server", "grant", "马陆镇", "majiang", db=restored)
    ok("note", "62", "恢复后", db=unit_there, password=UNIT_PASSWORD)

    # pg_dump: the roles first (the DBA, with pg_dumpall), then the database, restored by its owner.
    roles = cluster.admin("pg_dumpall", "--roles-only")
    assert "CREATE ROLE gongkai_unit" in roles and "CREATE ROLE majiang" in roles
    dump = tmp_path / "gongkai.dump"
    tool("pg_dump", "--format=custom", f"--file={dump}", owner)
    dumped = cluster.url("gongkai_owner", database="gongkai_dump")
    tool("pg_restore", "--exit-on-error", f"--dbname={dumped}", str(dump))
    assert "备份前的进展" in ok("show", "62", db=dumped)
    # The grants and the unit logins came back with the dump: the unit writes at once.
    ok("note", "62", "从转储恢复后", db=cluster.url("majiang", database="gongkai_dump"), password=UNIT_PASSWORD)
    ok("server", "init", db=dumped)  # CONNECT on the new database is PUBLIC's until this
    assert "通过" in ok("check", db=dumped)
