"""The app's processes as subprocesses: started, waited for until they answer, stopped or killed by process id.

- ``Daphne``: ``daphne`` serving ``project.asgi``, ready once the login page answers.
- ``Worker``: the Procfile's ``worker`` line (``manage.py rundramatiq``), ready
  once its log says so or once it beats in the broker's heartbeats. ``kill()``
  ends its whole process tree (``rundramatiq`` execs ``dramatiq``, which forks
  the process that runs the actor).
- ``Watcher``: the Procfile's ``watcher`` line (``manage.py sync_watcher``).
- ``Supervisor``: ``supervisord`` with ``deploy/supervisord.conf``, which runs
  the three under supervision and starts again one that exits.
- ``Background``: the workers, watchers and supervisors of one environment,
  ended together.
- ``RedisServer``: a private ``redis-server`` on a free port, to restart
  without disturbing anyone else's Redis.

A process never ends by name: ``stop()`` signals its own process id only.
"""

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import requests

from harness import proc

ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A process exited, or did not answer in time."""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_command(process, **options):
    """The Procfile's command for ``process``, with this interpreter; ``options`` replace ``--name value`` pairs."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            argv = shlex.split(command)
            argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
            for option, value in options.items():
                flag = f"--{option}"
                if flag in argv:
                    argv[argv.index(flag) + 1] = str(value)
                else:
                    argv += [flag, str(value)]
            return argv
    raise ServerError(f"no {process} line in the Procfile")


class Process:
    """A subprocess of the repository's root logging to a file of its own; ``stop()`` ends it by its pid only.

    ``STOP_TIMEOUT``: seconds ``stop()`` waits after its signal before SIGKILL, ``KILL_TIMEOUT`` after that.
    ``LOG_CHARS``: how much of the log ``log()`` returns by default (the end of it; None: all).
    """

    STOP_TIMEOUT = 15
    KILL_TIMEOUT = 5
    LOG_CHARS = None

    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.args = args
        self.env = env
        self.log_path = Path(log_dir) / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
        self.popen = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def wait_until(self, ready, what, timeout, interval=0.1):
        """Poll ``ready()`` until it is true; returns self.

        ServerError, with the end of the log, if the process exits first or ``timeout`` seconds
        pass (the process is then stopped).
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ServerError(f"{self.name} exited with {self.popen.returncode}:\n{self.log(3000)}")
            if ready():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"{self.name}: no {what} within {timeout:g} s:\n{self.log(3000)}")
            time.sleep(interval)

    def stop(self, sig=signal.SIGTERM, timeout=None):
        if not self.alive():
            return
        self.popen.send_signal(sig)
        try:
            self.popen.wait(self.STOP_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(self.KILL_TIMEOUT)

    def kill(self):
        """SIGKILL the whole tree at once, as a machine or the OOM killer would: nothing gets to clean up."""
        pids = proc.process_tree(self.popen.pid)
        for pid in pids:  # frozen first, so no process reacts to another's death
            proc.send_signal(pid, signal.SIGSTOP)
        for pid in pids:
            proc.send_signal(pid, signal.SIGKILL)
        self.popen.wait(10)
        deadline = time.monotonic() + 10
        while not all(proc.is_zombie(pid) for pid in pids[1:]):
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name}: processes of its tree still alive 10 s after SIGKILL")
            time.sleep(0.05)

    def log(self, chars=None):
        """The process's output so far: its last ``chars`` characters (default ``LOG_CHARS``)."""
        chars = chars or self.LOG_CHARS
        text = self._output()
        return text[-chars:] if chars else text

    def _output(self):
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    def cpu_seconds(self):
        """User + system CPU of the process so far (its children not included); None once it has exited."""
        return proc.cpu_seconds(self.popen.pid) if self.alive() else None

    def tree_cpu_seconds(self):
        """User + system CPU of the process and every live descendant (``rundramatiq``'s worker processes)."""
        return proc.tree_cpu_seconds(self.popen.pid) if self.alive() else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class Daphne(Process):
    """``daphne -b 127.0.0.1 -p <port> <application>``; ``start()`` returns once ``/accounts/login/`` answers."""

    START_TIMEOUT = 30

    def __init__(self, env, log_dir, *, port=None, application="project.asgi:application"):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.url = f"http://{self.host}:{self.port}"
        args = [sys.executable, "-m", "daphne", "-b", self.host, "-p", str(self.port), application]
        super().__init__(f"daphne-{self.port}", args, env, log_dir)

    def start(self, timeout=None):
        super().start()
        return self.wait_until(self._answers, f"answer on {self.url}", timeout or self.START_TIMEOUT)

    def _answers(self):
        return login_page_answers(self.url)


def login_page_answers(url):
    """Whether the app at ``url`` serves its login page."""
    try:
        return requests.get(f"{url}/accounts/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class Worker(Process):
    """``manage.py rundramatiq`` (the Procfile's ``worker`` line, with ``--processes 1 --threads 2`` by default)."""

    READY = "Worker process is ready for action."

    def __init__(self, env, log_dir, *, name=None, processes=1, threads=2):
        self.threads = threads
        args = procfile_command("worker", processes=processes, threads=threads)
        super().__init__(name or f"rundramatiq-t{threads}", args, env, log_dir)

    def wait_ready(self, keys=None, timeout=60):
        """Wait until the worker is ready for messages; returns self.

        With ``keys`` (``harness.redis_keys.RedisKeys``): until it beats in the broker's heartbeats.
        Without: until its log says a worker process is ready.
        """
        if keys is None:
            return self.wait_until(lambda: self.READY in self._output(), "ready line in its log", timeout)
        return self.wait_until(lambda: keys.workers_beating() > 0, "heartbeat in the broker", timeout)

    def runs(self, run_id):
        """Whether this worker's log shows it took ``run_id``."""
        return f"[SYNC_TASK] entry run={run_id} " in self._output()

    def terminate(self, wait=True, timeout=30):
        """SIGTERM to the ``rundramatiq`` process, as a process manager stops it (and waits for it to exit)."""
        self.popen.send_signal(signal.SIGTERM)
        if wait:
            self.popen.wait(timeout)


class Watcher(Process):
    """``manage.py sync_watcher`` (the Procfile's ``watcher`` line); ``start()`` returns once it has started."""

    def __init__(self, env, log_dir, *extra, name="watcher"):
        super().__init__(name, [*procfile_command("watcher"), *extra], env, log_dir)

    def start(self, timeout=30):
        super().start()
        started = "[SYNC_TASK] watcher started"
        return self.wait_until(lambda: started in self._output(), "start in its log", timeout, interval=0.05)


class Supervisor(Process):
    """``supervisord -c deploy/supervisord.conf``: the Procfile's web, worker and watcher under supervision.

    The programs inherit ``env``, with a free ``PORT`` (daphne's, at ``url``) and this interpreter's
    ``bin/`` first on ``PATH`` (the config's ``python`` and ``daphne``); ``VAR_DIR`` (created here) holds
    supervisord's pid file and control socket. ``start()`` returns once daphne answers. The log is
    supervisord's output: its own lines and every program's. ``kill()`` ends the whole tree at once;
    ``stop()`` is supervisord's own shutdown (each program stopped as the config says).
    """

    CONFIG = ROOT / "deploy" / "supervisord.conf"
    START_TIMEOUT = 60
    STOP_TIMEOUT = 90  # beyond the worker's stopwaitsecs

    def __init__(self, env, log_dir, *, name="supervisord", port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bin_dir = Path(sys.executable).parent
        env = {**env, "PORT": str(self.port), "PATH": os.pathsep.join([str(self.bin_dir), env.get("PATH", os.defpath)])}
        super().__init__(name, [str(self.bin_dir / "supervisord"), "-c", str(self.CONFIG)], env, log_dir)

    def start(self, timeout=None):
        Path(self.env["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        super().start()
        return self.wait_until(
            lambda: login_page_answers(self.url), f"answer on {self.url}", timeout or self.START_TIMEOUT
        )

    def ctl(self, *args, timeout=30):
        """``supervisorctl -c deploy/supervisord.conf <args>`` against this supervisord: its output."""
        result = subprocess.run(
            [str(self.bin_dir / "supervisorctl"), "-c", str(self.CONFIG), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result.stdout + result.stderr

    def program_pid(self, program):
        """The pid of ``program`` (``web``, ``worker``, ``watcher``) as supervisord says; 0 while it is not running."""
        output = self.ctl("pid", program).strip()
        if not output.isdigit():
            raise ServerError(f"supervisorctl pid {program}: {output}")
        return int(output)

    def worker_processes(self):
        """The pids of the ``worker`` program's Dramatiq worker processes (the children of ``rundramatiq``)."""
        main = self.program_pid("worker")
        return proc.children(main) if main else []


class Background:
    """The worker, watcher and supervisor processes of one environment, named in the order they start.

    ``stop()`` kills the workers and supervisors (one shutting down gracefully would requeue its run) and
    stops the watchers, the last started first.
    """

    def __init__(self, env, log_dir):
        self.env = env
        self.log_dir = Path(log_dir)
        self.processes = []
        self._started = 0

    def _name(self, name):
        self._started += 1
        return f"{self._started:02d}-{name}"

    def start_worker(self, name="worker", wait=True, **options):
        """A new worker process; ``wait=False`` returns before it is ready (``wait_ready()``)."""
        worker = Worker(self.env, self.log_dir, name=self._name(name), **options)
        self.processes.append(worker)
        worker.start()
        return worker.wait_ready() if wait else worker

    def start_watcher(self, *extra):
        watcher = Watcher(self.env, self.log_dir, *extra, name=self._name("watcher"))
        self.processes.append(watcher)
        return watcher.start()

    def start_supervised(self):
        """``supervisord`` running the Procfile's processes (``Supervisor``), once its daphne answers."""
        supervisor = Supervisor(self.env, self.log_dir, name=self._name("supervisord"))
        self.processes.append(supervisor)
        return supervisor.start()

    def stop(self):
        for process in reversed(self.processes):
            if isinstance(process, (Worker, Supervisor)) and process.alive():
                process.kill()
            else:
                process.stop()
        self.processes.clear()


class RedisServer(Process):
    """A private ``redis-server`` on a free port, without persistence: a restart forgets everything."""

    STOP_TIMEOUT = 10

    def __init__(self, log_dir, port=None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        super().__init__(f"redis-{self.port}", args, None, log_dir)

    def start(self):
        super().start()
        return self.wait_until(self.answers, f"PONG on port {self.port}", 10, interval=0.05)

    def answers(self):
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return client.ping()
        except redis.RedisError:
            return False
        finally:
            client.close()
