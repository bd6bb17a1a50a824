#!/usr/bin/env bash
# CI test: pgfunnel-bench --help names every flag of its parser table; bad flags and bad URLs get one line and exit 2.
# Usage: cli_test.sh PGFUNNEL_BENCH
set -uo pipefail
BENCH=$1
ARGS=$(dirname "${BASH_SOURCE[0]}")/../pgfunnel_bench/args.cpp
fails=0
check() {  # check WHAT CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
help=$("$BENCH" --help)
check "--help exits 0" test $? -eq 0
mapfile -t flags < <(grep -o '{"--[a-z-]*"' "$ARGS" | tr -d '{"')
check "the parser table has flags (${#flags[@]})" test "${#flags[@]}" -gt 20
for f in "${flags[@]}"; do
  check "--help documents $f" grep -qE -- "^  $f( |$)" <<<"$help"
done
expect2() {  # expect2 WHAT ARGS...: exit code 2 and exactly one line on stderr
  local what=$1 err rc
  shift
  err=$("$BENCH" "$@" 2>&1 >/dev/null)
  rc=$?
  check "$what: exit 2 (got $rc)" test "$rc" -eq 2
  check "$what: one line ($err)" test "$(printf '%s\n' "$err" | wc -l)" -eq 1
}
expect2 "unknown flag" --no-such-flag postgres://x@127.0.0.1/db
expect2 "bad URL" 'postgres://x@127.0.0.1:notaport/db?bogus_option=1'
expect2 "bad --compare" --compare nourl
expect2 "bad number" --duration abc postgres://x@127.0.0.1/db
expect2 "bad --client" --client sometimes postgres://x@127.0.0.1/db
expect2 "no target" --duration 1
if ((fails > 0)); then echo "FAIL cli_test: $fails checks failed"; exit 1; fi
echo "PASS cli_test"
