#!/usr/bin/env bash
# Runs the pgfunnel binary the way PgBouncer and nginx users do: `pgfunnel FILE`, `--check-config FILE`.
# Usage: config_file_test.sh PGFUNNEL SOURCE_DIR. Exits non-zero on the first check that fails.
set -uo pipefail
exe=$1
src=$2
failures=0
check() {  # check NAME EXPECTED_RC EXPECTED_TEXT -- COMMAND...
  local name=$1 want_rc=$2 want_text=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want_rc || $out != *"$want_text"* ]]; then
    printf 'FAIL %s: rc %d (want %d), output:\n%s\n' "$name" "$rc" "$want_rc" "$out"
    failures=$((failures + 1))
  else
    printf 'pass %s\n' "$name"
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'pool_size: 7\nlisten:\n  pooled: 127.0.0.1:0\n  direct: off\n  http: off\n' >"$tmp/small.yaml"
printf 'pool_size: [\n' >"$tmp/broken.yaml"

check "--check-config FILE" 0 "configuration OK ($src/config/pgfunnel.yaml)" -- \
  "$exe" --check-config "$src/config/pgfunnel.yaml"
check "FILE --check-config" 0 "pool_size                 = 7  # $tmp/small.yaml:1" -- \
  "$exe" "$tmp/small.yaml" --check-config
check "--config FILE still works" 0 "configuration OK ($tmp/small.yaml)" -- \
  "$exe" --check-config --config "$tmp/small.yaml"
check "a broken FILE is an error" 1 "configuration error" -- "$exe" --check-config "$tmp/broken.yaml"
check "a missing FILE is an error" 1 "$tmp/none.yaml" -- "$exe" "$tmp/none.yaml"
check "two FILEs" 2 "b.yaml: unexpected argument" -- "$exe" --check-config a.yaml b.yaml
check "FILE and --config" 2 "a second config file" -- "$exe" --config "$tmp/small.yaml" b.yaml
check "--help shows FILE" 0 "Usage: pgfunnel [OPTIONS] [FILE]" -- "$exe" --help

# `pgfunnel FILE` runs the proxy with that file: it binds the pooled listener FILE asks for.
log=$tmp/run.log
"$exe" "$tmp/small.yaml" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q 'pooled listener' "$log" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1  # polls the log for the condition; the loop, not the sleep, synchronises
done
if grep -q 'pooled listener (transaction mode) on 127.0.0.1:' "$log"; then
  printf 'pass pgfunnel FILE runs with FILE\n'
else
  printf 'FAIL pgfunnel FILE runs with FILE:\n%s\n' "$(cat "$log")"
  failures=$((failures + 1))
fi
kill -QUIT "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
((failures == 0)) || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
