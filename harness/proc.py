"""What Linux's /proc says about a process: its descendants, its CPU time, whether it is a zombie, its TCP peers."""

import os
from pathlib import Path


def process_tree(pid):
    """``pid`` and its live descendants, parents first."""
    found = [pid]
    for parent in found:
        found += [child for child in children(parent) if child not in found]
    return found


def children(pid):
    """The live child processes of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return list(dict.fromkeys(found))


def _stat(pid):
    """``(command name, the fields after it)`` of ``/proc/<pid>/stat``, or None once the process is gone."""
    try:
        head, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    except OSError:
        return None
    return head.split("(", 1)[1], rest.split()


def _cpu(fields):
    # After "pid (comm)": the state is fields[0], utime and stime are fields[11] and fields[12].
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of ``pid`` so far (its children not included), or None once it is gone."""
    stat = _stat(pid)
    return None if stat is None else _cpu(stat[1])


def tree_cpu_seconds(root, name=""):
    """User + system CPU seconds of ``root`` and its live descendants.

    With ``name``, only those whose command name contains it (``root`` itself too).
    """
    total = 0.0
    for pid in process_tree(root):
        stat = _stat(pid)
        if stat is not None and name in stat[0]:
            total += _cpu(stat[1])
    return total


def is_zombie(pid):
    """Whether ``pid`` has exited and waits for its parent (True once it is gone altogether)."""
    stat = _stat(pid)
    return stat is None or stat[1][0] == "Z"


def send_signal(pid, sig):
    """``kill(pid, sig)``, quietly doing nothing when the process has already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tcp_peer_ports(pid):
    """Remote ports of ``pid``'s established TCP connections (IPv4 and IPv6); empty once it is gone."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            fields = line.split()
            if fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports
