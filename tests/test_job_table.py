"""The engine's job table keeps finished results within its budgets, whatever a peer sends."""

import time

from engine.service.jobs import Job, JobTable


def finished(table: JobTable, count: int, size: int = 10) -> list[Job]:
    jobs = []
    for k in range(count):
        job = Job(f"j{k}", b"peer", str(k), "generate", {})
        table.add(job)
        running = table.next(0)
        table.ended(running, [b"x" * size])
        jobs.append(job)
    return jobs


def test_kept_results_are_bounded_in_count_oldest_dropped_first():
    table = JobTable(queue_size=8, result_ttl=600, max_result_bytes=2**30, max_results=100)
    jobs = finished(table, 20_000)
    table.expire(time.monotonic())
    assert table.counts() == (0, 100) and len(table.jobs) == 100
    assert set(table.jobs) == {job.id for job in jobs[-100:]}
    assert table.served == 20_000


def test_kept_results_are_bounded_in_bytes_and_expire_after_their_ttl():
    table = JobTable(queue_size=8, result_ttl=600, max_result_bytes=1000, max_results=1000)
    jobs = finished(table, 30, size=100)
    table.expire(time.monotonic())
    assert set(table.jobs) == {job.id for job in jobs[-10:]} and table.kept_bytes == 1000
    table.expire(time.monotonic() + 601)
    assert not table.jobs and table.kept_bytes == 0


def test_expiring_costs_what_it_drops_not_what_is_kept():
    table = JobTable(queue_size=8, result_ttl=600, max_result_bytes=2**30, max_results=10_000)
    finished(table, 10_000)
    calls = 0

    class Counting(dict):  # counts walks over every job
        def values(self):
            nonlocal calls
            calls += 1
            return super().values()

    table.jobs = Counting(table.jobs)
    for _ in range(1000):
        table.expire(time.monotonic())
    assert calls == 0  # never walks the whole table
    assert len(table.kept) == 10_000
