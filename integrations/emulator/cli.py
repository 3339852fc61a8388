"""Command-line options shared by ``manage.py github_emulator`` and ``python -m``."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from .data import build_world
from .server import EmulatorServer


def prs_range(value: str) -> tuple[int, int]:
    """Parse ``MIN..MAX`` (or a single number) into an inclusive range."""
    low, sep, high = value.partition("..")
    try:
        bounds = (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN..MAX, got {value!r}") from None
    if min(bounds) < 0:
        raise argparse.ArgumentTypeError("PR counts cannot be negative")
    return min(bounds), max(bounds)


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--orgs", default="acme", help="comma-separated org logins")
    parser.add_argument("--repos", type=int, default=12, help="repositories per org")
    parser.add_argument("--prs", type=prs_range, default=(0, 300), help="PRs per repository, MIN..MAX")
    parser.add_argument("--members", type=int, default=60, help="members per org, viewer included")
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="GitHub's time to answer: every API answer leaves this long after its request arrived",
    )
    parser.add_argument(
        "--token", action="append", dest="tokens", default=None, help="accepted token (repeatable; default test-token)"
    )
    parser.add_argument("--viewer", default="octocat", help="login of the token owner")
    parser.add_argument("--log-requests", action="store_true", help="log every request to stderr")


def serve(options: dict, write=print) -> None:
    """Build the world, serve until SIGINT/SIGTERM."""
    started = time.monotonic()
    world = build_world(
        seed=options["seed"],
        orgs=options["orgs"],
        repos=options["repos"],
        prs=options["prs"],
        members=options["members"],
        viewer=options["viewer"],
    )
    tokens = options.get("tokens") or ["test-token"]
    server = EmulatorServer(
        world,
        host=options["host"],
        port=options["port"],
        latency_ms=options["latency_ms"],
        tokens=tokens,
        log_requests=options.get("log_requests", False),
    )
    prs = sum(len(r.prs) for org in world.orgs for r in world.repos(org))
    write(f"GitHub emulator listening on {server.url}")
    write(f"  REST: {server.url}  GraphQL: {server.url}/graphql  OAuth: {server.url}/login/oauth/authorize")
    write(f"  orgs: {', '.join(world.orgs)}; {prs} PRs; viewer: {world.viewer.login}")
    for token in tokens:
        write(f"  token: {token}")
    write(f"  ready in {time.monotonic() - started:.1f}s; control: {server.url}/_emulator/stats")

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m integrations.emulator", description=__doc__)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    serve(options, write)
