"""The app's own processes, run for the test suite and for the benchmark harness.

- ``processes``: daphne, ``manage.py rundramatiq`` workers and
  ``manage.py sync_watcher`` as subprocesses (started, waited for until
  they answer, stopped or killed by process id), and a private
  ``redis-server``.
- ``environment``: the environment such a process runs with.
- ``redis_keys``: a prefix of keys on a shared Redis for one set of processes.
- ``proc``: what Linux's /proc says about a process and its descendants.
- ``http_client``, ``websocket``, ``progress_page``: a signed-in user of the
  running app: HTTP requests, the progress page's websocket, what the page shows.
- ``chromium``: how Debian's chromium runs headless.
"""
