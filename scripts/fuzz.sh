#!/usr/bin/env bash
# Fuzz the request parser, the manifest readers and the AOI reader (fuzz/), each for MINUTES
# minutes, one target after the other on one core.
#   scripts/fuzz.sh [MINUTES] [TARGET...]      (default: 10 minutes; request manifest aoi)
# Builds ./build-fuzz with clang (libFuzzer + AddressSanitizer; FUZZ_CC/FUZZ_CXX override
# clang-14/clang++-14). New corpus entries go to a scratch folder (FUZZ_SCRATCH, default
# $TMPDIR/drshym-fuzz-corpus), never into fuzz/corpus/; crashes, timeouts and out-of-memory
# inputs go to fuzz/crashes/<target>/ (git-ignored). libFuzzer runs in fork mode (-fork=1: one
# worker process at a time) with -ignore_crashes, so a crash does not end the run early, and
# with fuzz/<target>.dict as its dictionary. Each target's log is <scratch>/<target>.log.
# Prints executions and new crash files per target.
# Reproduce one: build-fuzz/fuzz/fuzz_<target> fuzz/crashes/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(request manifest aoi)
BUILD_DIR=${BUILD_DIR:-build-fuzz}
SCRATCH=${FUZZ_SCRATCH:-${TMPDIR:-/tmp}/drshym-fuzz-corpus}
CRASHES=fuzz/crashes

CC=${FUZZ_CC:-clang-14} CXX=${FUZZ_CXX:-clang++-14} cmake -S . -B "$BUILD_DIR" -DDRSHYM_FUZZ=ON \
  -DDRSHYM_BUILD_TESTS=OFF -DDRSHYM_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  > "$BUILD_DIR.configure.log" 2>&1 || { cat "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "${JOBS:-1}" --target "${TARGETS[@]/#/fuzz_}"

summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t" "$CRASHES/$t"
  before=$(find "$CRASHES/$t" -type f | wc -l)
  log="$SCRATCH/$t.log"
  cmd=("$BUILD_DIR/fuzz/fuzz_$t" "$SCRATCH/$t" "fuzz/corpus/$t"
       -max_total_time=$((MINUTES * 60)) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
       -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -artifact_prefix="$CRASHES/$t/")
  [ -f "fuzz/$t.dict" ] && cmd+=(-dict="fuzz/$t.dict")
  echo "== fuzz_$t for $MINUTES min: ${cmd[*]}"
  rc=0
  "${cmd[@]}" > "$log" 2>&1 || rc=$?
  # Executions: libFuzzer's final stats (single process), else the last fork-mode status line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -E '^#[0-9]+:' "$log" | tail -1 | sed -E 's/^#([0-9]+):.*/\1/')
  after=$(find "$CRASHES/$t" -type f | wc -l)
  line="fuzz_$t: ${execs:-?} executions in $MINUTES min, $((after - before)) new crash/timeout/oom file(s) in $CRASHES/$t/ (exit $rc, log $log)"
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
