"""The benchmark harness (``python -m bench``) runs end to end and reports every scenario's figures.

``python -m bench --quick`` runs every scenario on small data (about a
minute); its figures are not the recorded ones (BENCHMARKS.md), so only
their presence and form are checked here, not the targets. PostgreSQL is
optional: without it the throughput scenario reports SQLite only and says
PostgreSQL was skipped; under ``CI=true`` PostgreSQL must be there.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.app import parse_summary

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("api", "latency", "throughput", "memory", "threads", "shell", "live")


def _bench_env():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # The PostgreSQL server the suite runs on (scripts/run-tests may point elsewhere than :5432).
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")) and "BENCH_PG_URL" not in env:
        parts = urlsplit(url)
        env["BENCH_PG_URL"] = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return env


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """(stdout, parsed --json) of one ``python -m bench --quick``."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    process = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=_bench_env(),
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert process.returncode == 0, f"{process.stdout[-4000:]}\n{process.stderr[-4000:]}"
    return process.stdout, json.loads(out.read_text())


def _section(stdout, name):
    found = re.search(rf"^## {name}: .*?(?=^## |\Z)", stdout, re.MULTILINE | re.DOTALL)
    assert found, f"no section for {name} in:\n{stdout}"
    return found.group(0)


def _tables(text):
    """{title: (headers, rows)} of the Markdown tables in ``text`` (rows as lists of cell strings)."""
    tables, title, current = {}, "", None
    for line in text.splitlines():
        if line.startswith("**") and line.endswith("**"):
            title, current = line.strip("*"), None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if current is None:
                current = tables[title] = (cells, [])
            elif not set("".join(cells)) <= set("-:"):
                current[1].append(cells)
        else:
            current = None
    return tables


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise AssertionError(f"{text!r} is not a number") from None


def _column(table, header):
    headers, rows = table
    index = headers.index(header)
    return {row[0]: row[index] for row in rows}


@pytest.mark.timeout(360)
def test_quick_run_reports_every_scenario(quick):
    stdout, report = quick
    assert report["mode"] == "quick"
    for name in SCENARIOS:
        scenario = report["scenarios"][name]
        assert scenario["error"] == "", scenario["error"]
        assert _section(stdout, name)
    assert "## Summary" in stdout


@pytest.mark.timeout(360)
def test_api_figures(quick):
    stdout, report = quick
    tables = _tables(_section(stdout, "api"))
    requests = tables["Requests for the same organisation"]
    assert [row[0] for row in requests[1]] == ["sync_team (ours)", "REST crawl"]
    for row in requests[1]:
        for cell in row[1:]:
            _number(cell)
    per_thousand = _column(requests, "requests per 1000 PRs")
    assert _number(per_thousand["REST crawl"]) > _number(per_thousand["sync_team (ours)"]) > 0
    assert _number(tables["Ratio"][1][0][0]) > 1
    figures = report["scenarios"]["api"]["figures"]
    assert figures["same_data"] is True
    assert figures["ours"]["prs"] == figures["rest_crawl"]["prs"] > 0


@pytest.mark.timeout(360)
def test_latency_figures(quick):
    stdout, _ = quick
    table = next(iter(_tables(_section(stdout, "latency")).values()))
    latencies = [_number(row[0]) for row in table[1]]
    assert 0 in latencies and 100 in latencies
    for header in ("requests in run", "floor s", "sync s", "own ms per request"):
        for cell in _column(table, header).values():
            _number(cell)
    assert _number(_column(table, "ratio")["100"]) > 0


@pytest.mark.timeout(360)
def test_throughput_figures(quick):
    stdout, report = quick
    section = _section(stdout, "throughput")
    prs_per_second = _column(next(iter(_tables(section).values())), "PRs per s")
    assert _number(prs_per_second["sqlite"]) > 0
    figures = report["scenarios"]["throughput"]["figures"]
    if "postgresql_skipped" in figures:
        assert os.environ.get("CI") != "true", f"CI=true but PostgreSQL was skipped: {figures['postgresql_skipped']}"
        assert "PostgreSQL skipped" in section
        assert "postgresql" not in prs_per_second
    else:
        assert _number(prs_per_second["postgresql"]) > 0


@pytest.mark.timeout(360)
def test_memory_figures(quick):
    stdout, report = quick
    tables = _tables(_section(stdout, "memory"))
    peaks = _column(tables["Peak RSS of `sync_team bench --inline`"], "peak RSS MB")
    assert len(peaks) >= 3
    for size, peak in peaks.items():
        assert 20 < _number(peak) < 2000, (size, peak)
    assert isinstance(report["scenarios"]["memory"]["figures"]["growth_percent"], float)


@pytest.mark.timeout(360)
def test_threads_figures(quick):
    stdout, _ = quick
    table = next(iter(_tables(_section(stdout, "threads")).values()))
    per_second = [_number(row[table[0].index("PRs per s")]) for row in table[1]]
    threads = [_number(row[table[0].index("threads")]) for row in table[1]]
    assert 1 in threads and 4 in threads
    assert all(value > 0 for value in per_second)


@pytest.mark.timeout(360)
def test_shell_figures(quick):
    stdout, _ = quick
    table = _tables(_section(stdout, "shell"))["Targets"]
    measured = _column(table, "measured")
    github = next(value for target, value in measured.items() if target.startswith("GitHub requests"))
    assert _number(github) == 0
    for value in measured.values():
        _number(value)


@pytest.mark.timeout(360)
def test_live_figures(quick):
    stdout, _ = quick
    tables = _tables(_section(stdout, "live"))
    received = _column(tables["Publish to websocket client receipt"], "received %")
    assert received, tables
    for mode, percent in received.items():
        assert _number(percent) == 100, (mode, percent)
    p99 = _column(tables["Publish to websocket client receipt"], "p99 ms")
    assert all(_number(value) > 0 for value in p99.values())
    real_run = tables.get("Events of a real run (rundramatiq over Redis, one client)")
    if real_run is None:  # no Redis or no PostgreSQL on this machine: said so in the section
        assert os.environ.get("CI") != "true", "CI=true but the live scenario measured no real run"
        return
    events = _column(real_run, "events received")
    assert all(_number(value) > 0 for value in events.values())


@pytest.mark.timeout(360)
def test_summary_lists_every_target(quick):
    stdout, report = quick
    summary = stdout[stdout.index("## Summary") :]
    table = next(iter(_tables(summary).values()))
    scenarios = {row[0] for row in table[1]}
    assert scenarios == set(SCENARIOS)
    for row in table[1]:
        scenario, target, measured, status = row
        assert status in ("PASS", "MISS", "SKIP"), row
        if status != "SKIP":
            _number(measured)
    for scenario in report["scenarios"].values():
        for target in scenario["targets"]:
            assert target["status"] in ("PASS", "MISS", "SKIP")


def test_summary_line_is_parsed():
    stdout = (
        "run 7: succeeded in 12.3 s, 230 GitHub requests, 20000 pull requests and 61234 reviews written, "
        "members: 60\n  acme/api: complete\n"
    )
    stderr = "... [SYNC_TASK] summary run=7 outcome=succeeded members=60 prs=20000 seconds=12.345 repos={}\n"
    figures = parse_summary(stdout, stderr)
    assert figures == {
        "run_id": 7,
        "outcome": "succeeded",
        "seconds": 12.345,
        "client_requests": 230,
        "prs": 20000,
        "reviews": 61234,
        "members": 60,
    }
    assert parse_summary(stdout.replace("members: 60", "members: -"))["members"] is None


def test_maxrss_wrapper_reports_the_child_peak(tmp_path):
    out = tmp_path / "usage.json"
    child = "x = bytearray(64 * 1024 * 1024); print('ok')"
    process = subprocess.run(
        [sys.executable, "-m", "bench.maxrss", str(out), "--", sys.executable, "-c", child],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "ok"
    usage = json.loads(out.read_text())
    assert usage["maxrss_kb"] >= 64 * 1024
    assert usage["returncode"] == 0
