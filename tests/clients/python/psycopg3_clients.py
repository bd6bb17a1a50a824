# psycopg 3 (asyncio) through the pooled listener: concurrent transactions, COPY, pipeline mode.
"""Usage: /usr/bin/python3 psycopg3_clients.py URL [connections=50] [transactions_per_connection=20] [copy_rows=10000]

Tables (created by the test): py3_tx(conn int, seq int, amount numeric, note text,
PRIMARY KEY (conn, seq)) and py3_copy(id int PRIMARY KEY, label text, amount numeric).
Connections use prepare_threshold=None: psycopg then never prepares named server-side statements
(transaction mode does not support those yet) and sends every parameterized query with the
extended protocol and the unnamed statement.
Prints "ok C connections N transactions ... 0 errors" and exits 0, or prints every error and exits 1.
"""
import asyncio
import decimal
import logging
import sys
import time
import traceback

import psycopg
import psycopg.errors

DEADLINE_S = 60
# psycopg logs "error ignored terminating <AsyncPipeline ...>: pipeline aborted" when a pipeline block
# exits on the error this program provokes on purpose; the error itself is still raised and checked.
logging.getLogger("psycopg").setLevel(logging.ERROR)
if len(sys.argv) < 2:
    sys.exit("usage: psycopg3_clients.py URL [connections] [transactions] [copy_rows]")
URL = sys.argv[1]
_given = [int(a) for a in sys.argv[2:5]]
CONNS, TX, COPY_ROWS = _given + [50, 20, 10000][len(_given):]

errors = []
counts = {"committed": 0, "rolled_back": 0, "verified": 0, "pipelines": 0, "copy_rows": 0}


def fail(where, message):
    errors.append(f"{where}: {message}")


def check(cond, where, message):
    if not cond:
        fail(where, message)
    return cond


async def connect(autocommit=False):
    return await psycopg.AsyncConnection.connect(URL, autocommit=autocommit, prepare_threshold=None,
                                                 connect_timeout=30, application_name="pgfunnel-psycopg3")


async def worker(cid):
    where = f"conn {cid}"
    async with await connect() as conn:
        committed = {}
        for seq in range(TX):
            amount = decimal.Decimal(cid * 1000 + seq) / 100
            note = f"c{cid} s{seq} ünï"
            rollback = seq % 4 == 3
            async with conn.transaction():
                cur = conn.cursor()
                await cur.execute("SELECT pg_backend_pid(), txid_current()")
                pid, xid = await cur.fetchone()
                await cur.execute("INSERT INTO py3_tx (conn, seq, amount, note) VALUES (%s, %s, %s, %s)",
                                  (cid, seq, amount, note))
                await cur.execute("SELECT amount, note, pg_backend_pid(), txid_current() FROM py3_tx "
                                  "WHERE conn = %s AND seq = %s", (cid, seq))
                got = await cur.fetchone()
                check(got == (amount, note, pid, xid), where,
                      f"seq {seq}: read {got!r} inside the transaction, want {(amount, note, pid, xid)!r}")
                if rollback:
                    raise psycopg.Rollback()  # leaves the block quietly after ROLLBACK
            if rollback:
                counts["rolled_back"] += 1
            else:
                committed[seq] = (amount, note)
                counts["committed"] += 1
            await conn.commit()  # end the implicit transaction the transaction() block ran in

        # A server error inside a transaction rolls it back; the connection is reused afterwards.
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO py3_tx (conn, seq, amount, note) VALUES (%s, -1, 0, 'doomed')", (cid,))
                await conn.execute("SELECT 1 / (%s::int - %s::int)", (cid, cid))
            fail(where, "division by zero did not raise")
        except psycopg.errors.DivisionByZero:
            pass
        await conn.rollback()

        # Pipeline mode: several statements sent before any result is read, one Sync at the end.
        async with conn.pipeline():
            cur = conn.cursor()
            await cur.executemany("INSERT INTO py3_tx (conn, seq, amount, note) VALUES (%s, %s, %s, %s)",
                                  [(cid, 1000 + k, decimal.Decimal(k), f"pipelined {k}") for k in range(5)])
            c1 = await conn.execute("SELECT count(*) FROM py3_tx WHERE conn = %s AND seq >= 1000", (cid,))
            c2 = await conn.execute("UPDATE py3_tx SET note = note || ' updated' WHERE conn = %s AND seq >= 1000", (cid,))
            c3 = await conn.execute("SELECT %s::text || '-' || %s::text", ("a", cid))
        check((await c1.fetchone())[0] == 5, where, "pipeline: inserted rows not visible")
        check(c2.rowcount == 5, where, f"pipeline: UPDATE touched {c2.rowcount} rows")
        check((await c3.fetchone())[0] == f"a-{cid}", where, "pipeline: wrong echo")
        await conn.commit()
        for k in range(5):
            committed[1000 + k] = (decimal.Decimal(k), f"pipelined {k} updated")

        # An error in the middle of a pipeline aborts the rest up to the Sync; the connection recovers.
        try:
            async with conn.pipeline():
                await conn.execute("INSERT INTO py3_tx (conn, seq, amount, note) VALUES (%s, -2, 0, 'doomed')", (cid,))
                await conn.execute("SELECT 1 / 0")
                await conn.execute("INSERT INTO py3_tx (conn, seq, amount, note) VALUES (%s, -3, 0, 'doomed')", (cid,))
            fail(where, "pipeline with a division by zero did not raise")
        except psycopg.errors.DivisionByZero:
            pass
        await conn.rollback()
        counts["pipelines"] += 1

        cur = await conn.execute("SELECT seq, amount, note FROM py3_tx WHERE conn = %s ORDER BY seq", (cid,))
        rows = await cur.fetchall()
        await conn.commit()
        want = [(seq, a, n) for seq, (a, n) in sorted(committed.items())]
        if check(rows == want, where, f"read back {len(rows)} rows, want {len(want)}: {rows[:3]!r} vs {want[:3]!r}"):
            counts["verified"] += 1


def copy_label(i):
    return None if i % 11 == 0 else (f"tab\there back\\slash\nline {i}" if i % 7 == 0 else f"row {i} ✓")


async def copy_work():
    where = "copy"
    async with await connect(autocommit=True) as conn:
        cur = conn.cursor()
        # COPY FROM STDIN, text format, rows adapted by psycopg (escaping, NULLs).
        async with cur.copy("COPY py3_copy (id, label, amount) FROM STDIN") as copy:
            for i in range(COPY_ROWS // 2):
                await copy.write_row((i, copy_label(i), decimal.Decimal(i) / 4))
        check(cur.rowcount == COPY_ROWS // 2, where, f"text COPY FROM reported {cur.rowcount} rows")
        # Binary COPY for the second half, inside an explicit transaction.
        async with conn.transaction():
            async with cur.copy("COPY py3_copy (id, label, amount) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "text", "numeric"])
                for i in range(COPY_ROWS // 2, COPY_ROWS):
                    await copy.write_row((i, copy_label(i), decimal.Decimal(i) / 4))
        # A COPY aborted by the client (exception inside the block sends CopyFail) leaves nothing.
        try:
            async with cur.copy("COPY py3_copy (id, label, amount) FROM STDIN") as copy:
                await copy.write_row((COPY_ROWS + 1, "never", 1))
                raise RuntimeError("client gave up")
        except psycopg.errors.QueryCanceled:
            pass  # psycopg reports the server's answer to CopyFail
        except RuntimeError:
            pass

        got = []
        async with cur.copy("COPY (SELECT id, label, amount FROM py3_copy ORDER BY id) TO STDOUT") as copy:
            copy.set_types(["int4", "text", "numeric"])
            async for row in copy.rows():
                got.append(row)
        want = [(i, copy_label(i), decimal.Decimal(i) / 4) for i in range(COPY_ROWS)]
        if check(got == want, where, f"COPY TO returned {len(got)} rows, want {len(want)}; "
                 f"first mismatch {next(((g, w) for g, w in zip(got, want) if g != w), None)!r}"):
            counts["copy_rows"] += len(got)
        # Binary COPY TO as well, and the connection still answers queries.
        n = 0
        async with cur.copy("COPY py3_copy (id) TO STDOUT (FORMAT BINARY)") as copy:
            copy.set_types(["int4"])
            async for _ in copy.rows():
                n += 1
        check(n == COPY_ROWS, where, f"binary COPY TO returned {n} rows")
        await cur.execute("SELECT count(*) FROM py3_copy WHERE id > %s", (COPY_ROWS,))
        check((await cur.fetchone())[0] == 0, where, "the aborted COPY left rows behind")


async def run(coro, where):
    try:
        await coro
    except Exception:  # noqa: BLE001 - any escape is a test failure, reported with its traceback
        fail(where, traceback.format_exc())


async def main():
    started = time.monotonic()
    tasks = [run(worker(c), f"conn {c}") for c in range(CONNS)] + [run(copy_work(), "copy")]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), DEADLINE_S)
    except asyncio.TimeoutError:
        fail("main", f"still running after {DEADLINE_S}s (deadline)")
    transactions = counts["committed"] + counts["rolled_back"]
    if not errors:
        check(transactions == CONNS * TX, "totals", f"{transactions} transactions, want {CONNS * TX}")
        check(counts["verified"] == CONNS, "totals", f"{counts['verified']} connections verified, want {CONNS}")
    if errors:
        for e in errors[:20]:
            print(e, file=sys.stderr)
        print(f"FAIL psycopg3: {len(errors)} errors", file=sys.stderr)
        sys.exit(1)
    print(f"ok {CONNS} connections {transactions} transactions ({counts['committed']} committed, "
          f"{counts['rolled_back']} rolled back) {counts['pipelines']} pipelines {counts['copy_rows']} copy rows "
          f"{len(errors)} errors in {int((time.monotonic() - started) * 1000)} ms")


if __name__ == "__main__":
    asyncio.run(main())
