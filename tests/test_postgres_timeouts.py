"""A command against a server has a connect and a statement timeout, and its one line says which
of them ended it (issue 25): a server that accepts the connection and never answers, and a
statement the server cancels."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres import with_query
from test_postgres_backend import run

pytestmark = pytest.mark.postgres

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")

from gongkai_cli.domain.errors import StoreError  # noqa: E402
from gongkai_cli.store import ServerURL, open_store  # noqa: E402


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word: a frozen server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_ends_in_the_connect_timeout_and_says_so(executable: str, silent_port: int):
    url = f"postgresql://gongkai@127.0.0.1:{silent_port}/gongkai?connect_timeout=2"
    result = run(executable, "list", db=url)
    assert result.returncode == 4
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "连接超时" in line and "2 秒" in line and "connect_timeout" in line


def test_a_statement_the_server_cancels_says_it_was_the_statement_timeout(pg_url: str, tmp_path: Path):
    store = open_store(ServerURL(with_query(pg_url, options="-cstatement_timeout=200")))
    try:
        with pytest.raises(StoreError, match="语句时限（statement_timeout") as caught, store._errors():
            store.conn.execute("SELECT pg_sleep(5)")
    finally:
        store.close()
    assert "没有写入任何内容" in str(caught.value)
