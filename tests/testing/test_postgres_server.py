"""The test PostgreSQL: a real server with pgvector, never as root, stopped without leftovers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from processors.errors import ConfigError
from processors.kafka.broker import pid_alive
from processors.testing.broker import free_port
from processors.testing.postgres import postgres_home, start_postgres


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # under /tmp itself: pytest's tmp_path lies in a 0700 directory of root's, which the
    # server's own user could not enter
    state = Path(tempfile.mkdtemp(prefix="daemons-test-postgres-"))
    yield state
    shutil.rmtree(state, ignore_errors=True)


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def test_the_session_server_has_pgvector_with_hnsw(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        version = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert version is not None
        major, minor = (int(part) for part in version[0].split(".")[:2])
        assert (major, minor) >= (0, 5)  # HNSW came with pgvector 0.5.0
        conn.execute("CREATE TEMP TABLE v (id int, e vector(3))")
        conn.execute("INSERT INTO v VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        conn.execute("CREATE INDEX ON v USING hnsw (e vector_cosine_ops)")
        rows = conn.execute("SELECT id FROM v ORDER BY e <=> '[1,0,0]' LIMIT 2").fetchall()
    assert [row[0] for row in rows] == [1, 3]


def test_a_started_server_runs_unprivileged_and_stops_completely(state_dir: Path) -> None:
    server = start_postgres(postgres_home(), state_dir, free_port())
    try:
        assert _uid(server.pid) != 0
        conn = psycopg.connect(server.dsn, autocommit=True)  # left open: must not block stop
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        server.stop()
        conn.close()
    finally:
        server.stop()
    assert not pid_alive(server.pid)
    assert not pid_alive(backend[0])  # the session's backend was ended by the fast shutdown


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy is for a root process only")
def test_binaries_the_service_user_cannot_reach_are_copied_first(state_dir: Path) -> None:
    package = postgres_home().parent
    hidden = Path(tempfile.mkdtemp(prefix="daemons-test-hidden-"))  # mode 0700, root's
    try:
        for source in (package, package.with_name(f"{package.name}.libs")):
            if source.exists():
                shutil.copytree(source, hidden / source.name, symlinks=True)
        server = start_postgres(hidden / package.name / "pginstall", state_dir, free_port())
        try:
            with psycopg.connect(server.dsn) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()
        assert (state_dir / "server" / package.name / "pginstall" / "bin" / "postgres").exists()
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


def test_a_failed_initdb_is_a_config_error_with_its_message(state_dir: Path) -> None:
    (state_dir / "data").mkdir()
    (state_dir / "data" / "in-the-way").write_text("not a cluster")
    if os.geteuid() == 0:
        shutil.chown(state_dir / "data", "daemons-postgres", "daemons-postgres")
    with pytest.raises(ConfigError, match=r"initdb failed .*not empty"):
        start_postgres(postgres_home(), state_dir, free_port())


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root process hands the server to a user")
def test_a_durable_server_under_a_tmpdir_the_service_user_cannot_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from processors.testing.postgres import DSN_ENV, session_postgres

    private = Path(tempfile.mkdtemp(prefix="daemons-test-private-"))  # 0700, root's
    monkeypatch.delenv(DSN_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    try:
        with session_postgres(durable=True) as dsn, psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert list(private.iterdir()) == []  # the session's directory went to /tmp instead
    finally:
        shutil.rmtree(private, ignore_errors=True)
