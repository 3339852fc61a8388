"""Fresh databases for each measured sync: PostgreSQL (``bench_<pid>_*``) and SQLite files.

A template per backend is migrated and connected to GitHub once
(``migrate``, then ``connect_github --team bench``); every measurement gets a
copy of it (``CREATE DATABASE ... TEMPLATE``, or a file copy), so a "fresh"
sync costs no migration. Everything created here is dropped by ``cleanup``.
The databases ``onboarding`` and ``test_onboarding`` are never touched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import app

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES, SQLITE = "postgresql", "sqlite"


class Databases:
    def __init__(self, workdir: Path, pg_url: str | None = None):
        self.workdir = Path(workdir)
        self.pg_url = pg_url or os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL
        self.prefix = f"bench_{os.getpid()}"
        self._templates: dict[str, str] = {}
        self._created: list[tuple[str, str]] = []  # (kind, name or path), templates included
        self._count = 0
        self._pg_status: tuple[bool, str] | None = None

    # --- PostgreSQL ---------------------------------------------------------

    def _pg_admin(self):
        import psycopg

        return psycopg.connect(_libpq(self.pg_url), autocommit=True, connect_timeout=3)

    def postgres_status(self) -> tuple[bool, str]:
        """(available, server version or the reason it is not)."""
        if self._pg_status is None:
            try:
                with self._pg_admin() as conn:
                    version = conn.execute("SHOW server_version").fetchone()[0]
                self._pg_status = (True, f"PostgreSQL {version}")
            except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
                self._pg_status = (False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}")
        return self._pg_status

    def _pg_url_for(self, name: str) -> str:
        parts = urlsplit(self.pg_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def _pg_create(self, name: str, template: str | None = None) -> None:
        with self._pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def _pg_drop(self, name: str) -> None:
        assert name.startswith(self.prefix), name  # never anything but our own
        with self._pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- both ---------------------------------------------------------------

    def _sqlite_path(self, name: str) -> Path:
        return self.workdir / f"{name}.sqlite3"

    def prepare(self, kind: str, emulator_url: str) -> str:
        """Make (once) the migrated, connected template of ``kind``; its URL."""
        if kind in self._templates:
            return self._templates[kind]
        name = f"{self.prefix}_template"
        if kind == POSTGRES:
            self._pg_create(name)
            self._created.append((kind, name))
            url = self._pg_url_for(name)
        else:
            path = self._sqlite_path(name)
            self._created.append((kind, str(path)))
            url = f"sqlite:///{path}"
        app.migrate(url, workdir=self.workdir)
        app.connect(url, emulator_url, workdir=self.workdir)
        self._templates[kind] = url
        return url

    def fresh(self, kind: str, emulator_url: str) -> str:
        """A new database of ``kind`` (migrated, team ``bench`` connected); returns its DATABASE_URL.

        ``emulator_url`` is used only when the template is made (connect_github asks GitHub who the
        token belongs to); every emulator of the harness accepts the same token for the same org.
        """
        self.prepare(kind, emulator_url)
        self._count += 1
        name = f"{self.prefix}_{self._count}"
        if kind == POSTGRES:
            self._pg_create(name, template=f"{self.prefix}_template")
            self._created.append((kind, name))
            return self._pg_url_for(name)
        source, target = self._sqlite_path(f"{self.prefix}_template"), self._sqlite_path(name)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        self._created.append((kind, str(target)))
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        """Drop a database made by ``fresh`` (not the template)."""
        for kind, name in list(self._created):
            if (kind == POSTGRES and url == self._pg_url_for(name)) or (kind == SQLITE and url.endswith(name)):
                self._drop(kind, name)
                self._created.remove((kind, name))

    def _drop(self, kind: str, name: str) -> None:
        if kind == POSTGRES:
            self._pg_drop(name)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)

    def cleanup(self) -> None:
        for kind, name in reversed(self._created):
            try:
                self._drop(kind, name)
            except Exception as exc:  # noqa: BLE001 - best effort; say what is left behind
                print(f"bench: could not drop {kind} database {name}: {exc}")
        self._created.clear()
        self._templates.clear()


def _libpq(url: str) -> str:
    """psycopg wants ``postgresql://``; dj-database-url takes both spellings."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgres://") else url
