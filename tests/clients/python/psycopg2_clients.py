# psycopg2 through the pooled listener: 50 threads of transactions, COPY in and out, errors then reuse.
"""Usage: /usr/bin/python3 psycopg2_clients.py URL [threads=50] [transactions_per_thread=20] [copy_rows=10000]

Tables (created by the test): py2_tx(worker int, seq int, amount numeric, note text,
PRIMARY KEY (worker, seq)) and py2_copy(id int PRIMARY KEY, label text, amount numeric).
Prints "ok T threads N transactions ... 0 errors" and exits 0, or prints every error and exits 1.
psycopg2 speaks the simple query protocol only (parameters are interpolated client-side) and opens
each transaction with a separate BEGIN, so a transaction spans several Query messages.
"""
import decimal
import faulthandler
import io
import sys
import threading
import time
import traceback

import psycopg2
import psycopg2.errors

DEADLINE_S = 60
if len(sys.argv) < 2:
    sys.exit("usage: psycopg2_clients.py URL [threads] [transactions] [copy_rows]")
URL = sys.argv[1]
_given = [int(a) for a in sys.argv[2:5]]
THREADS, TX, COPY_ROWS = _given + [50, 20, 10000][len(_given):]

errors = []
errors_lock = threading.Lock()
counts = {"committed": 0, "rolled_back": 0, "errors_recovered": 0, "copy_rows": 0}


def fail(where, message):
    with errors_lock:
        errors.append(f"{where}: {message}")


def check(cond, where, message):
    if not cond:
        fail(where, message)
    return cond


def bump(key, n=1):
    with errors_lock:
        counts[key] += n


def connect():
    return psycopg2.connect(URL, connect_timeout=30, application_name="pgfunnel-psycopg2")


def worker(wid):
    where = f"worker {wid}"
    conn = connect()
    try:
        committed = {}
        for seq in range(TX):
            amount = decimal.Decimal(wid * 1000 + seq) / 100
            note = f"w{wid} s{seq} 'quoted' ünï"
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid(), txid_current()")
                pid, xid = cur.fetchone()
                cur.execute("INSERT INTO py2_tx (worker, seq, amount, note) VALUES (%s, %s, %s, %s)",
                            (wid, seq, amount, note))
                cur.execute("SELECT amount, note, pg_backend_pid(), txid_current() FROM py2_tx WHERE worker = %s AND seq = %s",
                            (wid, seq))
                got = cur.fetchone()
                check(got == (amount, note, pid, xid), where,
                      f"seq {seq}: read {got!r} inside the transaction, want {(amount, note, pid, xid)!r}")
            if seq % 4 == 3:
                conn.rollback()
                bump("rolled_back")
            else:
                conn.commit()
                committed[seq] = (amount, note)
                bump("committed")

        # An error inside a transaction aborts it; after ROLLBACK the same connection works again.
        with conn.cursor() as cur:
            cur.execute("INSERT INTO py2_tx (worker, seq, amount, note) VALUES (%s, -1, 0, 'doomed')", (wid,))
            try:
                cur.execute("SELECT 1 / (%s - %s)", (wid, wid))
                fail(where, "division by zero did not raise")
            except psycopg2.errors.DivisionByZero:
                pass
            try:
                cur.execute("SELECT 1")
                fail(where, "a statement in an aborted transaction did not raise")
            except psycopg2.errors.InFailedSqlTransaction:
                pass
        conn.rollback()
        with conn.cursor() as cur:
            # A duplicate key is another error the server reports mid-transaction.
            try:
                cur.execute("INSERT INTO py2_tx (worker, seq, amount, note) VALUES (%s, 0, 0, 'dup')", (wid,))
                fail(where, "duplicate key did not raise")
            except psycopg2.errors.UniqueViolation:
                pass
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT seq, amount, note FROM py2_tx WHERE worker = %s ORDER BY seq", (wid,))
            rows = cur.fetchall()
        conn.commit()
        want = [(seq, a, n) for seq, (a, n) in sorted(committed.items())]
        if check(rows == want, where, f"read back {len(rows)} rows, want {len(want)}: {rows[:3]!r} vs {want[:3]!r}"):
            bump("errors_recovered")
    finally:
        conn.close()


def copy_label(i):
    # Text COPY escaping: tab, backslash and newline inside a value, plus NULLs.
    return None if i % 11 == 0 else (f"tab\there back\\slash\nline {i}" if i % 7 == 0 else f"row {i} ✓")


def copy_work():
    where = "copy"
    conn = connect()
    try:
        def esc(v):
            if v is None:
                return "\\N"
            return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

        data = "".join(f"{i}\t{esc(copy_label(i))}\t{i / 4}\n" for i in range(COPY_ROWS))
        with conn.cursor() as cur:
            cur.copy_expert("COPY py2_copy (id, label, amount) FROM STDIN", io.StringIO(data))
            check(cur.rowcount == COPY_ROWS, where, f"COPY FROM reported {cur.rowcount} rows")
        conn.commit()

        # A COPY that fails on bad data mid-stream; after rollback the connection is reused.
        bad = "".join(f"{COPY_ROWS + i}\tbad\t1\n" for i in range(100)) + "not-a-number\tx\t1\n"
        with conn.cursor() as cur:
            try:
                cur.copy_expert("COPY py2_copy (id, label, amount) FROM STDIN", io.StringIO(bad))
                fail(where, "COPY of bad data did not raise")
            except psycopg2.errors.InvalidTextRepresentation:
                pass
        conn.rollback()

        out = io.StringIO()
        with conn.cursor() as cur:
            cur.copy_expert("COPY (SELECT id, label, amount FROM py2_copy ORDER BY id) TO STDOUT", out)
            cur.execute("SELECT count(*), count(label), sum(id) FROM py2_copy")
            stats = cur.fetchone()
        conn.commit()
        text = out.getvalue()
        check(text == data, where, f"COPY TO returned {len(text)} chars, want {len(data)}; "
              f"first lines {text.splitlines()[:2]!r}")
        nulls = sum(1 for i in range(COPY_ROWS) if copy_label(i) is None)
        if check(stats == (COPY_ROWS, COPY_ROWS - nulls, COPY_ROWS * (COPY_ROWS - 1) // 2), where,
                 f"table stats {stats!r}"):
            bump("copy_rows", COPY_ROWS)
        # Read back again with parameters: content survives the round trip exactly.
        with conn.cursor() as cur:
            cur.execute("SELECT id, label, amount FROM py2_copy WHERE id = ANY(%s) ORDER BY id", ([7, 11, 12],))
            got = cur.fetchall()
        conn.commit()
        want = [(i, copy_label(i), decimal.Decimal(str(i / 4))) for i in (7, 11, 12)]
        check(got == want, where, f"rows {got!r}, want {want!r}")
    finally:
        conn.close()


def run(target, *args):
    try:
        target(*args)
    except Exception:  # noqa: BLE001 - any escape is a test failure, reported with its traceback
        fail(f"{target.__name__}{args}", traceback.format_exc())


def main():
    faulthandler.dump_traceback_later(DEADLINE_S, exit=True)  # a stuck run dumps stacks and exits 1
    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(worker, w)) for w in range(THREADS)]
    threads.append(threading.Thread(target=run, args=(copy_work,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transactions = counts["committed"] + counts["rolled_back"]
    check(transactions == THREADS * TX, "totals", f"{transactions} transactions, want {THREADS * TX}")
    check(counts["errors_recovered"] == THREADS, "totals", f"{counts['errors_recovered']} workers verified, want {THREADS}")
    if errors:
        for e in errors[:20]:
            print(e, file=sys.stderr)
        print(f"FAIL psycopg2: {len(errors)} errors", file=sys.stderr)
        sys.exit(1)
    print(f"ok {THREADS} threads {transactions} transactions ({counts['committed']} committed, "
          f"{counts['rolled_back']} rolled back) {counts['copy_rows']} copy rows {len(errors)} errors "
          f"in {int((time.monotonic() - started) * 1000)} ms")


if __name__ == "__main__":
    main()
