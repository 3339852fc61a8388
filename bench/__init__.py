"""Benchmark harness for the sync: ``python -m bench [--quick] [scenario ...]`` (see BENCHMARKS.md).

Every figure comes from the product's own commands run as subprocesses
against a GitHub emulator in its own process; request counts come from the
emulator's stats endpoint, never from the client.
"""
