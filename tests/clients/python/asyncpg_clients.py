# asyncpg (named prepared statements, its default statement cache) through the pooled listener: concurrent tasks.
"""Usage: /usr/bin/python3 asyncpg_clients.py URL [tasks=50] [queries_per_task=200]

Table (created by the test): apg_rows(task int, seq int, val text, PRIMARY KEY (task, seq)).
asyncpg prepares every query under a name of its own (__asyncpg_stmt_N__) with Parse + Describe +
Sync, then runs it with Bind + Execute + Sync in a later round trip: in transaction mode those two
round trips may land on different server connections, so every statement must follow the client.
Each task has its own connection and runs a mix of fetchval/fetchrow/fetch/execute with parameters,
transactions (committed, rolled back, failed), explicit conn.prepare() statements that asyncpg
closes again once they are garbage, more distinct query texts than its 100-entry cache holds (so it
sends Close for evicted ones), and errors after which the connection must go on working.
Prints "ok T tasks Q queries R rows 0 errors" and exits 0, or prints every error and exits 1.
"""
import asyncio
import sys
import time
import traceback

import asyncpg

DEADLINE_S = 75
if len(sys.argv) < 2:
    sys.exit("usage: asyncpg_clients.py URL [tasks] [queries_per_task]")
URL = sys.argv[1]
_given = [int(a) for a in sys.argv[2:4]]
TASKS, QUERIES = _given + [50, 200][len(_given):]
DISTINCT_TEXTS = 120  # more than asyncpg's default statement_cache_size (100): evictions send Close

# A query that finds itself among the named (protocol-level) prepared statements of the server
# backend running it: non-zero only when the driver really sent it as a named statement.
PROBE = ("SELECT count(*)::int + $1::int FROM pg_prepared_statements "
         "WHERE NOT from_sql AND statement LIKE '%named-probe%'")

errors = []
counts = {"queries": 0, "rows": 0, "tasks_verified": 0}


def fail(where, message):
    errors.append(f"{where}: {message}")


def check(cond, where, message):
    if not cond:
        fail(where, message)
    return cond


class Rollback(Exception):
    """Raised inside `conn.transaction()` to leave it with a ROLLBACK."""


async def task(tid):
    where = f"task {tid}"
    conn = await asyncpg.connect(URL, timeout=30, command_timeout=45,
                                 server_settings={"application_name": "pgfunnel-asyncpg"})
    try:
        committed = []  # seqs whose row this task committed, in order
        distinct_no = 0
        for seq in range(QUERIES):
            w = f"{where} seq {seq}"
            kind = seq % 10
            if kind % 2 == 1:
                # One of DISTINCT_TEXTS texts, shared by all tasks, in a per-task order: a connection
                # goes through more texts than its cache holds.
                k = (tid * 13 + distinct_no * 7) % DISTINCT_TEXTS
                distinct_no += 1
                got = await conn.fetchval(f"SELECT $1::int + {k} AS k{k}", seq)
                check(got == seq + k, w, f"distinct text {k}: got {got!r}, want {seq + k}")
            elif kind == 0:
                got = await conn.fetchval("SELECT $1::int + $2::int", seq, tid)
                check(got == seq + tid, w, f"add: got {got!r}, want {seq + tid}")
            elif kind == 2:
                row = await conn.fetchrow(
                    "SELECT $1::text || ':' || $2::text AS s, $3::float8 * 2 AS f, $4::bigint + 1 AS b, "
                    "$5::text IS NULL AS was_null", f"t{tid}", f"ü{seq}", seq / 4, 2**40 + seq, None)
                want = (f"t{tid}:ü{seq}", seq / 2, 2**40 + seq + 1, True)
                check(row is not None and tuple(row) == want, w, f"fetchrow: got {row!r}, want {want!r}")
            elif kind == 4:
                # A statement of its own (not from the cache): once unreferenced, asyncpg closes it
                # before its next query, and the next one prepares the same text under a new name.
                stmt = await conn.prepare("SELECT g, g * $2::int AS m FROM generate_series(1, $1::int) g ORDER BY g")
                n = seq % 7 + 1
                rows = await stmt.fetch(n, tid)
                want = [(g, g * tid) for g in range(1, n + 1)]
                check([tuple(r) for r in rows] == want, w, f"fetch: got {[tuple(r) for r in rows]!r}, want {want!r}")
                del stmt  # the last reference: asyncpg queues a Close for it
            elif kind == 6:
                if seq % 100 == 6:
                    # A failed Bind/Execute of a cached statement must not poison later ones.
                    try:
                        await conn.fetchval("SELECT 1 / $1::int", 0)
                        fail(w, "division by zero did not raise")
                    except asyncpg.DivisionByZeroError:
                        pass
                elif seq % 100 == 56:
                    try:
                        await conn.execute("INSERT INTO apg_rows (task, seq, val) VALUES ($1, $2, $3)",
                                           tid, seq - 10, "duplicate")
                        fail(w, "duplicate key did not raise")
                    except asyncpg.UniqueViolationError:
                        pass
                else:
                    status = await conn.execute("INSERT INTO apg_rows (task, seq, val) VALUES ($1, $2, $3)",
                                                tid, seq, f"row {tid}/{seq}")
                    check(status == "INSERT 0 1", w, f"insert: status {status!r}")
                    committed.append(seq)
            elif kind == 8:
                rollback = seq % 40 == 18
                failing = seq % 100 == 88
                try:
                    async with conn.transaction():
                        pid = await conn.fetchval("SELECT pg_backend_pid()")
                        await conn.execute("INSERT INTO apg_rows (task, seq, val) VALUES ($1, $2, $3)",
                                           tid, seq, f"row {tid}/{seq}")
                        row = await conn.fetchrow(
                            "SELECT val, pg_backend_pid() AS pid FROM apg_rows WHERE task = $1 AND seq = $2", tid, seq)
                        check(row is not None and row["val"] == f"row {tid}/{seq}" and row["pid"] == pid, w,
                              f"inside the transaction: got {row!r} on backend {pid}")
                        if failing:
                            await conn.fetchval("SELECT 1 / ($1::int - $1::int)", seq)
                            fail(w, "division by zero inside a transaction did not raise")
                        if rollback:
                            raise Rollback()
                    committed.append(seq)
                except Rollback:
                    pass
                except asyncpg.DivisionByZeroError:
                    check(failing, w, "unexpected division by zero")
                after = await conn.fetchval("SELECT count(*) FROM apg_rows WHERE task = $1 AND seq = $2", tid, seq)
                want = 0 if (rollback or failing) else 1
                check(after == want, w, f"after the transaction: {after} rows, want {want}")
            counts["queries"] += 1

        n = await conn.fetchval(PROBE, 0)
        check(n >= 1, where, "the probe query is not a named prepared statement on its server: "
              "asyncpg did not use named statements?")
        got = [r["seq"] for r in await conn.fetch("SELECT seq FROM apg_rows WHERE task = $1 ORDER BY seq", tid)]
        if check(got == committed, where, f"read back seqs {got}, want {committed}"):
            counts["tasks_verified"] += 1
            counts["rows"] += len(got)
    finally:
        await conn.close(timeout=10)


async def run(coro, where):
    try:
        await coro
    except Exception:  # noqa: BLE001 - any escape is a test failure, reported with its traceback
        fail(where, traceback.format_exc())


async def main():
    started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(run(task(t), f"task {t}") for t in range(TASKS))), DEADLINE_S)
    except asyncio.TimeoutError:
        fail("main", f"still running after {DEADLINE_S}s (deadline)")
    if not errors:
        check(counts["queries"] == TASKS * QUERIES, "totals", f"{counts['queries']} queries, want {TASKS * QUERIES}")
        check(counts["tasks_verified"] == TASKS, "totals", f"{counts['tasks_verified']} tasks verified, want {TASKS}")
    elapsed = int((time.monotonic() - started) * 1000)
    if errors:
        for e in errors[:20]:
            print(e, file=sys.stderr)
        if len(errors) > 20:
            print(f"... and {len(errors) - 20} more", file=sys.stderr)
        print(f"FAIL asyncpg: {len(errors)} errors in {elapsed} ms", file=sys.stderr)
        sys.exit(1)
    print(f"ok {TASKS} tasks {counts['queries']} queries {counts['rows']} rows {len(errors)} errors in {elapsed} ms")


if __name__ == "__main__":
    asyncio.run(main())
