# psycopg 3 with prepare_threshold=0 (every query a named prepared statement) through the pooled listener: threads.
"""Usage: /usr/bin/python3 psycopg3_prepared.py URL [threads=8] [queries_per_thread=250]

Table (created by the test): py3p_rows(worker int, seq int, amount numeric, note text,
PRIMARY KEY (worker, seq)).
With prepare_threshold=0 psycopg sends each new query as Parse "_pg3_N" + Bind + Execute + Sync and
later ones as Bind + Execute only, so the statement must exist on whichever server the next
transaction gets. psycopg also speaks to the server about its statements in SQL: after any ROLLBACK
it sends `DEALLOCATE ALL`, and when its cache (prepared_max) overflows it sends `DEALLOCATE _pg3_N`
for the evicted one. Even workers use autocommit, odd ones implicit transactions committed after
every operation and a prepared_max of 10 (so evictions happen within a few queries).
Prints "ok W threads Q queries R rows 0 errors" and exits 0, or prints every error and exits 1.
"""
import decimal
import os
import sys
import threading
import time
import traceback

import psycopg
import psycopg.errors

DEADLINE_S = 75
if len(sys.argv) < 2:
    sys.exit("usage: psycopg3_prepared.py URL [threads] [queries_per_thread]")
URL = sys.argv[1]
_given = [int(a) for a in sys.argv[2:4]]
THREADS, QUERIES = _given + [8, 250][len(_given):]
DISTINCT_TEXTS = 40

# Non-zero only when this very query is a named (protocol-level) prepared statement on the server
# backend running it: proves psycopg did not fall back to unnamed statements.
PROBE = ("SELECT count(*)::int + %s::int FROM pg_prepared_statements "
         "WHERE NOT from_sql AND statement LIKE '%%named-probe%%'")

lock = threading.Lock()
errors = []
counts = {"queries": 0, "rows": 0, "verified": 0}


def fail(where, message):
    with lock:
        errors.append(f"{where}: {message}")


def check(cond, where, message):
    if not cond:
        fail(where, message)
    return cond


def one(conn, wid, seq, committed, state):
    """One operation; `committed` maps the seqs this worker committed to their (amount, note)."""
    w = f"worker {wid} seq {seq}"
    kind = seq % 10
    if kind in (4, 5, 7):
        # Many texts shared by all workers, in a per-worker order: odd workers overflow their cache.
        k = (wid * 11 + state["distinct"] * 7) % DISTINCT_TEXTS
        state["distinct"] += 1
        got = conn.execute(f"SELECT %s::int + {k} AS k{k}", (seq,)).fetchone()
        check(got == (seq + k,), w, f"distinct text {k}: got {got!r}, want {(seq + k,)!r}")
    elif kind == 0:
        got = conn.execute("SELECT %s::int + %s::int", (seq, wid)).fetchone()
        check(got == (seq + wid,), w, f"add: got {got!r}")
    elif kind == 1:
        # prepare=True on every call: psycopg prepares it once and then reuses the name.
        got = conn.execute("SELECT %s::text || '/' || %s::text, %s::numeric * 2", (f"w{wid}", f"ü{seq}",
                           decimal.Decimal(seq) / 8), prepare=True).fetchone()
        want = (f"w{wid}/ü{seq}", decimal.Decimal(seq) / 4)
        check(got == want, w, f"prepare=True: got {got!r}, want {want!r}")
    elif kind == 2:
        # executemany: psycopg pipelines one Parse and several Bind/Execute before a single Sync.
        with conn.cursor() as cur:
            rows = [(wid, seq * 10 + j, decimal.Decimal(seq * 10 + j) / 100, f"many {j}") for j in range(3)]
            cur.executemany("INSERT INTO py3p_rows (worker, seq, amount, note) VALUES (%s, %s, %s, %s)", rows)
        for r in rows:
            committed[r[1]] = (r[2], r[3])
    elif kind == 3:
        rollback = seq % 40 == 13
        amount, note = decimal.Decimal(seq) / 3, f"tx {wid}/{seq} ✓"
        amount = amount.quantize(decimal.Decimal("0.0001"))
        with conn.transaction():
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            conn.execute("INSERT INTO py3p_rows (worker, seq, amount, note) VALUES (%s, %s, %s, %s)",
                         (wid, seq * 10, amount, note))
            got = conn.execute("SELECT amount, note, pg_backend_pid() FROM py3p_rows WHERE worker = %s AND seq = %s",
                               (wid, seq * 10)).fetchone()
            check(got == (amount, note, pid), w, f"inside the transaction: got {got!r}, want {(amount, note, pid)!r}")
            if rollback:
                raise psycopg.Rollback()  # ROLLBACK, then psycopg's own DEALLOCATE ALL
        if not rollback:
            committed[seq * 10] = (amount, note)
        n = conn.execute("SELECT count(*) FROM py3p_rows WHERE worker = %s AND seq = %s", (wid, seq * 10)).fetchone()[0]
        check(n == (0 if rollback else 1), w, f"after the transaction: {n} rows")
    elif kind == 6:
        if seq % 50 == 6:
            try:
                conn.execute("SELECT 1 / %s::int", (0,))
                fail(w, "division by zero did not raise")
            except psycopg.errors.DivisionByZero:
                pass
            if not conn.autocommit:
                conn.rollback()  # ROLLBACK + DEALLOCATE ALL
        else:
            n = seq % 5 + 1
            rows = conn.execute("SELECT g, g * %s::int FROM generate_series(1, %s::int) g ORDER BY g", (wid, n)).fetchall()
            check(rows == [(g, g * wid) for g in range(1, n + 1)], w, f"generate_series: got {rows!r}")
    elif kind == 8:
        got = conn.execute("SELECT %s::int[], %s::jsonb ->> 'k', %s::text IS NULL",
                           ([seq, wid], psycopg.types.json.Jsonb({"k": f"v{seq}"}), None)).fetchone()
        check(got == ([seq, wid], f"v{seq}", True), w, f"array/json: got {got!r}")
    elif kind == 9:
        if seq % 100 == 59:
            # An error inside a transaction: the block rolls back (and psycopg deallocates all).
            try:
                with conn.transaction():
                    conn.execute("INSERT INTO py3p_rows (worker, seq, amount, note) VALUES (%s, %s, 0, 'doomed')",
                                 (wid, seq * 10))
                    conn.execute("SELECT 1 / (%s::int - %s::int)", (seq, seq))
                fail(w, "division by zero inside a transaction did not raise")
            except psycopg.errors.DivisionByZero:
                pass
            n = conn.execute("SELECT count(*) FROM py3p_rows WHERE worker = %s AND seq = %s", (wid, seq * 10)).fetchone()[0]
            check(n == 0, w, f"the failed transaction left {n} rows")
        else:
            cur = conn.execute("UPDATE py3p_rows SET note = note WHERE worker = %s AND seq < %s", (wid, seq * 10))
            want = sum(1 for s in committed if s < seq * 10)
            check(cur.rowcount == want, w, f"update touched {cur.rowcount} rows, want {want}")
    if not conn.autocommit:
        conn.commit()  # end the implicit transaction: the server goes back to the pool


def worker(wid):
    where = f"worker {wid}"
    autocommit = wid % 2 == 0
    with psycopg.connect(URL, prepare_threshold=0, autocommit=autocommit, connect_timeout=30,
                         application_name="pgfunnel-psycopg3-prepared") as conn:
        if not autocommit:
            conn.prepared_max = 10  # psycopg sends DEALLOCATE _pg3_N for each statement it evicts
        committed = {}
        state = {"distinct": 0}
        for seq in range(QUERIES):
            one(conn, wid, seq, committed, state)
            with lock:
                counts["queries"] += 1
        n = conn.execute(PROBE, (0,)).fetchone()[0]
        check(n >= 1, where, "the probe query is not a named prepared statement on its server")
        rows = conn.execute("SELECT seq, amount, note FROM py3p_rows WHERE worker = %s ORDER BY seq", (wid,)).fetchall()
        if not autocommit:
            conn.commit()
        want = [(s, a, n) for s, (a, n) in sorted(committed.items())]
        if check(rows == want, where, f"read back {len(rows)} rows, want {len(want)}; first difference "
                 f"{next(((g, e) for g, e in zip(rows, want) if g != e), None)!r}"):
            with lock:
                counts["verified"] += 1
                counts["rows"] += len(rows)


def run(wid):
    try:
        worker(wid)
    except Exception:  # noqa: BLE001 - any escape is a test failure, reported with its traceback
        fail(f"worker {wid}", traceback.format_exc())


def main():
    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, DEADLINE_S - (time.monotonic() - started)))
    if any(t.is_alive() for t in threads):
        fail("main", f"still running after {DEADLINE_S}s (deadline)")
    if not errors:
        check(counts["queries"] == THREADS * QUERIES, "totals", f"{counts['queries']} queries, want {THREADS * QUERIES}")
        check(counts["verified"] == THREADS, "totals", f"{counts['verified']} workers verified, want {THREADS}")
    elapsed = int((time.monotonic() - started) * 1000)
    with lock:
        if errors:
            for e in errors[:20]:
                print(e, file=sys.stderr)
            if len(errors) > 20:
                print(f"... and {len(errors) - 20} more", file=sys.stderr)
            print(f"FAIL psycopg3_prepared: {len(errors)} errors in {elapsed} ms", file=sys.stderr)
            sys.stderr.flush()
            os._exit(1)  # not sys.exit: a thread stuck in a query must not keep the process alive
    print(f"ok {THREADS} threads {counts['queries']} queries {counts['rows']} rows {len(errors)} errors in {elapsed} ms")


if __name__ == "__main__":
    main()
