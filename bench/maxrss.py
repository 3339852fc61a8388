"""Run a command and record its peak RSS: ``python -m bench.maxrss OUT.json -- CMD ...``.

A fresh wrapper process per measurement, so ``getrusage(RUSAGE_CHILDREN)``
reports that one command (the largest of its processes, in kB on Linux)
and nothing the harness ran before. Also records the child's CPU seconds.
The command's stdin, stdout and stderr pass through untouched; the exit
status is the command's.
"""

import json
import resource
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m bench.maxrss OUT.json -- CMD [ARG ...]", file=sys.stderr)
        return 2
    out, command = argv[0], argv[2:]
    started = time.monotonic()
    returncode = subprocess.call(command)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump(
            {
                "maxrss_kb": usage.ru_maxrss,
                "user_s": usage.ru_utime,
                "sys_s": usage.ru_stime,
                "wall_s": wall,
                "returncode": returncode,
            },
            f,
        )
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
