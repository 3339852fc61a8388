"""The GitHub emulator in its own process, on a free port, and its control endpoints.

Its own process so that its CPU time and memory are never counted as the
worker's: the worker (a ``manage.py`` subprocess) and the emulator only share
the machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
ORG = "acme"
LISTENING = re.compile(r"listening on (http://\S+)")


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """``python -m integrations.emulator`` with a seeded organisation; use as a context manager."""

    def __init__(
        self,
        *,
        repos: int,
        prs: tuple[int, int],
        members: int = 60,
        seed: int = 1,
        org: str = ORG,
        latency_ms: int = 0,
        token: str = TOKEN,
        log_dir: Path | None = None,
        start_timeout: float = 180.0,
    ):
        self.repos, self.prs, self.members, self.seed = repos, prs, members, seed
        self.org, self.latency_ms, self.token = org, latency_ms, token
        self.log_path = Path(log_dir or "/tmp") / f"emulator-{os.getpid()}-{id(self)}.log"
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self._http = requests.Session()

    @property
    def command(self) -> list[str]:
        low, high = self.prs
        module = "integrations.emulator"
        return [
            sys.executable,
            "-m",
            module,
            "--port",
            "0",
            "--seed",
            str(self.seed),
            "--orgs",
            self.org,
            "--repos",
            str(self.repos),
            "--prs",
            f"{low}..{high}",
            "--members",
            str(self.members),
            "--latency-ms",
            str(self.latency_ms),
            "--token",
            self.token,
        ]

    def describe(self) -> str:
        low, high = self.prs
        prs = f"{low}" if low == high else f"{low}..{high}"
        return f"--seed {self.seed} --orgs {self.org} --repos {self.repos} --prs {prs} --members {self.members}"

    def start(self) -> Emulator:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115 - the child keeps writing to it
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while self.url is None:
            if self.process.poll() is not None:
                raise EmulatorError(f"the emulator exited ({self.process.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"the emulator did not start in {self.start_timeout:.0f} s: {self.log_tail()}")
            found = LISTENING.search(self.log_path.read_text())
            if found:
                self.url = found.group(1).rstrip("/")
            else:
                time.sleep(0.1)
        while True:
            try:
                if self._http.get(f"{self.url}/_emulator/health", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"the emulator at {self.url} never answered its health check")
            time.sleep(0.1)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        self._http.close()
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def round_trip_ms(self, count: int = 20) -> float:
        """Median time of ``GET /_emulator/health`` on a kept-alive connection: the floor of any request."""
        times = []
        for _ in range(count):
            started = time.perf_counter()
            self._http.get(f"{self.url}/_emulator/health", timeout=10).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        return sorted(times)[len(times) // 2]

    def cpu_seconds(self) -> float | None:
        """The emulator process's user + system CPU seconds so far (Linux), or None."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After "pid (comm)": state is fields[0], utime and stime are fields[11] and fields[12].
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # --- control endpoints (never counted in the stats) ----------------------

    def _control(self, method: str, path: str, **kwargs) -> dict:
        response = self._http.request(method, f"{self.url}/_emulator/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        """``{"total_requests", "rest": {template: n}, "graphql": {"requests", "points"}, ...}``."""
        return self._control("GET", "stats")

    def reset_stats(self) -> None:
        self._control("POST", "stats/reset")

    def set_latency(self, latency_ms: int) -> None:
        self._control("POST", "config", json={"latency_ms": int(latency_ms)})
        self.latency_ms = int(latency_ms)

    def reset_rate_limit(self) -> None:
        """A fresh hour of rate-limit budget for every token."""
        self._control("POST", "rate_limit/reset")

    def reset(self) -> None:
        """Zero the counters and the rate-limit budget before a measurement."""
        self.reset_stats()
        self.reset_rate_limit()
