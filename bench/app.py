"""The product's own management commands, run as subprocesses the way an operator would.

Every command gets ``DATABASE_URL`` (a database of the harness),
``GITHUB_API_URL``/``GITHUB_GRAPHQL_URL`` (the emulator), its own ``VAR_DIR``
and fixed ``SECRET_KEY``/``FERNET_KEYS`` (so a token stored in a template
database decrypts in its copies), ``DEBUG=false`` (as a production worker)
and no ``REDIS_URL`` (embedded mode: the sync runs in the command's process).

``sync`` runs ``manage.py sync_team bench --inline`` inside ``bench.maxrss``,
so each sync also reports the worker's peak RSS and CPU time.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.emulator import ORG, ROOT, TOKEN

TEAM = "bench"
SECRET_KEY = "bench-secret-key-not-for-production"
FERNET_KEY = "bench-fernet-key-not-for-production"
# "run 3: succeeded in 12.4 s, 230 GitHub requests, 20000 pull requests and 61234 reviews written, members: 60"
SUMMARY = re.compile(
    r"^run (?P<run>\d+): (?P<outcome>\w+) in (?P<seconds>[\d.]+) s, (?P<requests>\d+) GitHub requests, "
    r"(?P<prs>\d+) pull requests and (?P<reviews>\d+) reviews written, members: (?P<members>\S+)",
    re.MULTILINE,
)
# The worker's log line carries the same duration with millisecond precision.
SUMMARY_LOG = re.compile(r"\[SYNC_TASK\] summary run=(?P<run>\d+) .*?seconds=(?P<seconds>[\d.]+)")
_sequence = itertools.count(1)


class CommandFailed(RuntimeError):
    pass


@dataclass
class SyncResult:
    run_id: int
    outcome: str
    seconds: float  # the summary's duration of the run (run_sync), not the process
    client_requests: int  # as the product counted them (the summary line); figures use the emulator's
    prs: int
    reviews: int
    members: int | None
    wall: float  # the whole command: Python and Django start-up, repository listing, the run
    maxrss_kb: int
    cpu_s: float  # the command's user + system CPU seconds
    stdout: str
    stderr: str

    @property
    def maxrss_mb(self) -> float:
        return self.maxrss_kb / 1024


def environment(database_url: str, emulator_url: str | None, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=database_url,
        VAR_DIR=str(Path(workdir) / "var"),
        SECRET_KEY=SECRET_KEY,
        FERNET_KEYS=FERNET_KEY,
        DEBUG="false",
        LOG_LEVEL="INFO",
        DJANGO_SETTINGS_MODULE="project.settings",
    )
    if emulator_url:
        env["GITHUB_API_URL"] = emulator_url
        env["GITHUB_GRAPHQL_URL"] = f"{emulator_url}/graphql"
    return env


def manage(args, *, database_url, emulator_url=None, workdir, stdin=None, timeout=600, prefix=()):
    """Run ``manage.py ARGS``; returns the CompletedProcess, raises CommandFailed on a non-zero exit.

    ``prefix`` replaces the bare interpreter (it must end with one, e.g. a wrapper then ``python``).
    """
    command = [*(prefix or [sys.executable]), "manage.py", *args]
    process = subprocess.run(
        command,
        cwd=ROOT,
        env=environment(database_url, emulator_url, workdir),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if process.returncode != 0:
        raise CommandFailed(
            f"manage.py {' '.join(args)} exited with {process.returncode}:\n"
            f"{process.stdout[-2000:]}\n{process.stderr[-4000:]}"
        )
    return process


def migrate(database_url: str, *, workdir: Path) -> None:
    manage(["migrate", "--noinput", "-v", "0"], database_url=database_url, workdir=workdir)


def connect(database_url: str, emulator_url: str, *, workdir: Path, org: str = ORG, token: str = TOKEN) -> None:
    """``connect_github --team bench --org ORG --token-stdin``, the token on stdin."""
    manage(
        ["connect_github", "--team", TEAM, "--org", org, "--token-stdin"],
        database_url=database_url,
        emulator_url=emulator_url,
        workdir=workdir,
        stdin=f"{token}\n",
    )


def parse_summary(stdout: str, stderr: str = "") -> dict:
    """The figures of the summary line ``run N: succeeded in S s, R GitHub requests, ...``."""
    found = SUMMARY.search(stdout)
    if found is None:
        raise CommandFailed(f"no summary line in the output of sync_team:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    members = found["members"]
    figures = {
        "run_id": int(found["run"]),
        "outcome": found["outcome"],
        "seconds": float(found["seconds"]),
        "client_requests": int(found["requests"]),
        "prs": int(found["prs"]),
        "reviews": int(found["reviews"]),
        "members": int(members) if members.isdigit() else None,
    }
    for log in SUMMARY_LOG.finditer(stderr):
        if int(log["run"]) == figures["run_id"] and abs(float(log["seconds"]) - figures["seconds"]) < 0.051:
            figures["seconds"] = float(log["seconds"])
    return figures


def sync(database_url: str, emulator_url: str, *, workdir: Path, profile: Path | None = None, timeout=3600):
    """``manage.py sync_team bench --inline`` in a fresh ``bench.maxrss`` wrapper; a SyncResult.

    Raises CommandFailed when the command fails or the run does not succeed.
    """
    usage_file = Path(workdir) / f"usage-{os.getpid()}-{next(_sequence)}.json"
    prefix = [sys.executable, "-m", "bench.maxrss", str(usage_file), "--", sys.executable]
    if profile is not None:
        prefix += ["-m", "cProfile", "-o", str(profile)]
    started = time.monotonic()
    process = manage(
        ["sync_team", TEAM, "--inline"],
        database_url=database_url,
        emulator_url=emulator_url,
        workdir=workdir,
        timeout=timeout,
        prefix=prefix,
    )
    wall = time.monotonic() - started
    figures = parse_summary(process.stdout, process.stderr)
    if figures["outcome"] != "succeeded":
        raise CommandFailed(f"the sync did not succeed:\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}")
    usage = json.loads(usage_file.read_text())
    usage_file.unlink()
    return SyncResult(
        **figures,
        wall=wall,
        maxrss_kb=int(usage["maxrss_kb"]),
        cpu_s=float(usage["user_s"]) + float(usage["sys_s"]),
        stdout=process.stdout,
        stderr=process.stderr,
    )
