# Shared shell helpers for scripts/*: section headers, timing, root, CMake builds, ctest tallies.
# shellcheck shell=bash
# Sourced, not run; callers set -euo pipefail themselves.

PF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PF_JOBS=${PGFUNNEL_JOBS:-$(nproc 2>/dev/null || echo 2)}
PF_PASSED=0
PF_FAILED=0
PF_SECTION=""
PF_SECTION_START=0

pf_note() { printf '    %s\n' "$*"; }
pf_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pf_duration() {  # seconds -> "3m07s"
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# A visible header per phase, so a long CI log can be scanned for where it failed.
pf_section() {
  pf_section_end
  PF_SECTION=$1
  PF_SECTION_START=$SECONDS
  printf '\n==== %s ====\n' "$PF_SECTION"
}

pf_section_end() {
  if [[ -n $PF_SECTION ]]; then
    printf -- '---- %s: done in %s\n' "$PF_SECTION" "$(pf_duration $((SECONDS - PF_SECTION_START)))"
    PF_SECTION=""
  fi
}

# Runs a command as root: directly when we are root, else through sudo.
pf_as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    pf_die "need root (or sudo) for: $*"
  fi
}

# pf_skip VAR: true when the phase was switched off by VAR=1. CI=true ignores it: CI runs all.
pf_skip() {
  local var=$1
  [[ ${!var:-0} == 1 ]] || return 1
  if [[ ${CI:-} == true ]]; then
    pf_note "$var=1 ignored: CI runs every phase"
    return 1
  fi
  return 0
}

# pf_configure DIR [cmake args...]: (re)configure; cheap when nothing changed. A cache made with
# another generator or another compiler than $CXX asks for is wiped first: CMake cannot switch
# either in place.
pf_configure() {
  local dir=$1
  shift
  local cache="$dir/CMakeCache.txt"
  if [[ -f $cache ]]; then
    local generator compiler want=""
    generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
    compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$cache")
    [[ -n ${CXX:-} ]] && want=$(readlink -f "$(command -v "$CXX" || echo "$CXX")")
    if [[ $generator != Ninja || (-n $want && $(readlink -f "$compiler") != "$want") ]]; then
      pf_note "wiping $dir (configured with $generator / $compiler)"
      rm -rf "$dir"
    fi
  fi
  cmake -S "$PF_ROOT" -B "$dir" -G Ninja "$@"
}

pf_build() {  # pf_build DIR [targets...]
  local dir=$1
  shift
  ninja -C "$dir" -j "$PF_JOBS" "$@"
}

# pf_ctest DIR [ctest args...]: runs ctest, streams its output and adds its tally to PF_PASSED /
# PF_FAILED for the final summary line.
pf_ctest() {
  local dir=$1
  shift
  local log
  log=$(mktemp)
  local rc=0
  ctest --test-dir "$dir" --output-on-failure --timeout 600 -j "$PF_JOBS" "$@" 2>&1 | tee "$log" || rc=$?
  local tally
  tally=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  rm -f "$log"
  if [[ $tally =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    PF_FAILED=$((PF_FAILED + BASH_REMATCH[1]))
    PF_PASSED=$((PF_PASSED + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  return "$rc"
}

# Fuzz targets are the tests/fuzz/fuzz_*.cpp files: known without building anything.
pf_fuzz_targets() {
  local f
  for f in "$PF_ROOT"/tests/fuzz/fuzz_*.cpp; do
    [[ -e $f ]] || continue
    basename "$f" .cpp
  done
}

# The fuzz build: clang, libFuzzer, no GoogleTest targets. Only fuzz_all is ever built from it.
pf_configure_fuzz() {
  CC=clang CXX=clang++ pf_configure "$PF_ROOT/build-fuzz" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGFUNNEL_FUZZ=ON -DPGFUNNEL_TESTS=OFF
}
