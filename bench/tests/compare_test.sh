#!/usr/bin/env bash
# CI test: a small pgfunnel-bench --compare (direct vs pgfunnel, max_connections 20, 200 instances) and its JSON's promises.
# Generous client timeouts: the ASan phase runs it against a Debug+ASan pgfunnel on a shared box.
# Usage: compare_test.sh PGFUNNEL PGFUNNEL_BENCH OUT_DIR   (writes OUT_DIR/compare.{json,html,log})
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
PGFUNNEL_BIN=$1
BENCH=$2
OUT=$3
POOL=5
mkdir -p "$OUT"
rm -f "$OUT"/compare.*
bench_init bench-compare 4096
exec > >(tee "$OUT/compare.log") 2>&1

bench_port PGPORT
bench_port FUNNEL_PORT
start_postgres "$PGPORT" 20
pg_sql -c "CREATE ROLE app LOGIN PASSWORD 'app'"
FUNNEL_EXTRA_ARGS="--admin-users app" start_pgfunnel "$FUNNEL_PORT" "$POOL" 6000 app app

url() { echo "postgres://$1@127.0.0.1:$2/postgres?sslmode=disable"; }
"$BENCH" --compare direct="$(url app:app "$PGPORT")" pgfunnel="$(url app:app "$FUNNEL_PORT")" \
  --admin-url "$(url postgres:postgres "$PGPORT")" --client per-request --burst 200@0 --cold-start 50 \
  --instance-lifetime 2 --interval 20 --duration 3 --seed 7 --connect-timeout 60 --request-timeout 60 --json "$OUT/compare.json" --report "$OUT/compare.html"

/usr/bin/python3 - "$OUT/compare.json" "$POOL" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
pool = int(sys.argv[2])
t = {x["name"]: x for x in doc["targets"]}
problems = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok: problems.append(what)
for name, r in t.items():
    check(r["attempts"] == r["successes"] + r["failures"], f"{name}: attempts {r['attempts']} = successes {r['successes']} + failures {r['failures']}")
    check(sum(e["count"] for e in r["errors"]) == r["failures"], f"{name}: the errors by SQLSTATE and message add up to the failures")
    check(sum(r["failures_by_kind"].values()) == r["failures"], f"{name}: the failures by kind add up to the failures")
    check(r["instances"] >= 200, f"{name}: {r['instances']} instances started (>= 200)")
d, f = t["direct"], t["pgfunnel"]
check(d["failures_by_kind"]["53300_too_many_clients"] > 0, f"direct: 53300 failures ({d['failures_by_kind']['53300_too_many_clients']})")
check(f["failures_by_kind"]["53300_too_many_clients"] == 0 and f["failures_by_kind"]["query_wait_timeout"] == 0, "pgfunnel: no 53300 failures")
check(f["failures"] == 0 and f["successes"] > 0, f"pgfunnel: {f['successes']} successes, {f['failures']} failures")
check(f["backends_peak"] is not None and 0 < f["backends_peak"] <= pool, f"pgfunnel: backends peak {f['backends_peak']} <= pool size {pool} (no reserve pool)")
check(f["pgfunnel"] is not None, "pgfunnel: the admin console was detected (SHOW POOLS sampled)")
check(d["pgfunnel"] is None, "direct: not taken for pgfunnel")
sys.exit(1 if problems else 0)
PY
grep -c '<svg' "$OUT/compare.html" >/dev/null || { echo "FAIL no SVG in the report"; exit 1; }
echo "PASS compare_test (report: $OUT/compare.html)"
