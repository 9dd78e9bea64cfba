"""Counts SQL statements in every process the streaming bench starts (web, worker).

Loaded only by bench/streaming_overhead.py, which puts this folder on PYTHONPATH of the
system under test (never on a deployment's). Each process counts in memory, through a
Django `execute_wrapper` on every database connection, and adds its count to the Redis key
`bench:queries:<BENCH_QUERY_ROLE>` a few times a second from one background thread: one
Redis call per flush, not per statement, so counting barely moves the CPU figures.
"""

import os
import threading
import time

_ROLE = os.environ.get("BENCH_QUERY_ROLE")
_REDIS_URL = os.environ.get("BENCH_QUERY_REDIS_URL")

if _ROLE and _REDIS_URL:
    _lock = threading.Lock()
    _counted = [0]

    def _count(execute, sql, params, many, context):
        with _lock:
            _counted[0] += 1
        return execute(sql, params, many, context)

    def _flush_forever():
        import redis

        client = redis.Redis.from_url(_REDIS_URL)
        while True:
            time.sleep(0.1)
            with _lock:
                pending, _counted[0] = _counted[0], 0
            if pending:
                client.incrby(f"bench:queries:{_ROLE}", pending)

    _flusher_pid = [0]  # a forked pool child starts its own flusher

    def _install(sender, connection, **kwargs):
        if _count not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count)
        with _lock:
            if _flusher_pid[0] == os.getpid():
                return
            _flusher_pid[0] = os.getpid()
            _counted[0] = 0  # a fork copies the parent's unflushed count
        threading.Thread(target=_flush_forever, daemon=True).start()

    from django.db.backends.signals import connection_created

    connection_created.connect(_install, weak=False)
