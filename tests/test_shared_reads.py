"""Sockets of one process asking for the same read at about the same time share one database read."""

import asyncio

import pytest
from asgiref.sync import async_to_sync

from onboarding.shared_reads import SharedReads


class Source:
    def __init__(self, delay=0.05):
        self.delay = delay
        self.calls = []
        self.fail = False

    async def read(self, key):
        self.calls.append(key)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("database went away")
        return (key, len(self.calls))


def test_concurrent_askers_share_one_read_per_key():
    source = Source()
    reads = SharedReads(source.read, max_age=lambda: 10)

    async def scenario():
        return await asyncio.gather(*(reads.get(k) for k in (1, 1, 1, 2, 1, 2)))

    results = async_to_sync(scenario)()
    assert sorted(source.calls) == [1, 2]
    assert results[0] == results[1] == results[2] == results[4]
    assert results[3] == results[5] != results[0]


def test_a_result_older_than_max_age_is_read_again():
    source = Source(delay=0)
    reads = SharedReads(source.read, max_age=lambda: 0.1)

    async def scenario():
        first = await reads.get(1)
        again = await reads.get(1)
        await asyncio.sleep(0.15)
        later = await reads.get(1)
        return first, again, later

    first, again, later = async_to_sync(scenario)()
    assert first == again and later != first
    assert source.calls == [1, 1]


def test_a_failed_read_reaches_its_askers_and_is_not_reused():
    source = Source()
    reads = SharedReads(source.read, max_age=lambda: 10)

    async def scenario():
        source.fail = True
        outcomes = await asyncio.gather(reads.get(1), reads.get(1), return_exceptions=True)
        source.fail = False
        return outcomes, await reads.get(1)

    outcomes, retried = async_to_sync(scenario)()
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert retried == (1, 2)


def test_an_asker_cancelled_while_waiting_does_not_cancel_the_others():
    source = Source(delay=0.2)
    reads = SharedReads(source.read, max_age=lambda: 10)

    async def scenario():
        leaving = asyncio.ensure_future(reads.get(1))
        staying = asyncio.ensure_future(reads.get(1))
        await asyncio.sleep(0.05)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert async_to_sync(scenario)() == (1, 1)
    assert source.calls == [1]


def test_results_are_not_shared_across_event_loops():
    source = Source(delay=0)
    reads = SharedReads(source.read, max_age=lambda: 10)
    async_to_sync(reads.get)(1)
    async_to_sync(reads.get)(1)  # another loop: another read
    assert source.calls == [1, 1]
