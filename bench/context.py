"""What every scenario gets: quick or full, a work directory, fresh databases, progress logging."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import app
from bench.databases import POSTGRES, SQLITE, Databases
from bench.emulator import Emulator


@dataclass
class Context:
    quick: bool
    workdir: Path
    databases: Databases
    profile_dir: Path | None = None
    started: float = field(default_factory=time.monotonic)
    _profiles: int = 0

    def log(self, message: str) -> None:
        """Progress on stderr, so stdout holds only the report."""
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    @property
    def postgres(self) -> tuple[bool, str]:
        return self.databases.postgres_status()

    @property
    def main_backend(self) -> str:
        """PostgreSQL (what production runs) when it answers, else SQLite."""
        return POSTGRES if self.postgres[0] else SQLITE

    def profile_path(self, label: str) -> Path | None:
        if self.profile_dir is None:
            return None
        self._profiles += 1
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        return self.profile_dir / f"{self._profiles:02d}-{label}.prof"

    def emulator(self, **options) -> Emulator:
        return Emulator(log_dir=self.workdir, **options)

    def fresh_sync(self, emulator: Emulator, kind: str, label: str) -> tuple[app.SyncResult, dict]:
        """One sync of the whole organisation into a fresh database of ``kind``.

        Returns the SyncResult and the emulator's stats for exactly that command (counters and
        rate-limit budget reset just before it). The database is dropped afterwards.
        """
        url = self.databases.fresh(kind, emulator.url)
        try:
            emulator.reset()
            cpu_before = emulator.cpu_seconds()
            result = app.sync(url, emulator.url, workdir=self.workdir, profile=self.profile_path(label))
            stats = emulator.stats()
            cpu_after = emulator.cpu_seconds()
        finally:
            self.databases.drop(url)
        if cpu_before is not None and cpu_after is not None:
            stats["emulator_cpu_s"] = cpu_after - cpu_before
        return result, stats
