#!/usr/bin/env bash
# DrShym `segment` against the Python peer (../shared/bench/peer_pipeline.py: rasterio + PyTorch
# eager, the same compact U-Net, same tiling and blending, water only), back to back on the same
# demo scenes, in one run. For each size: `segment` with its default options (water + classes),
# `segment --no-classes` (water only, the peer's work) and the peer, ROUNDS times in turn
# (A B C A B C ...), each under /usr/bin/time -v. Prints per command the median wall seconds and
# peak RSS, the ratios peer/segment (> 1: segment is faster), and where segment's time went
# (provenance.timings_s of its record: model, polygonize, ...). segment runs with its default
# --precision auto (BF16 where this CPU runs it faster; the line "precision" says); the peer in FP32.
#
#   bash bench/vs_peer.sh [SIZES] [ROUNDS]        # default: "4096 8192" 3
#   PEER=/path/to/peer_pipeline.py bash bench/vs_peer.sh 4096 1
#   SEGMENT_ARGS="--ckpt DIR" bash bench/vs_peer.sh 4096 3   # extra options for both segment runs
#   BANDS=VV bash bench/vs_peer.sh 4096 3      # the demo scene's VV band only: segment then runs
#                                               # models/default_vv (the VV-only model), the peer a 1-band U-Net
#
# Needs build/bin/drshym (scripts/build.sh) and Debian's python3-torch python3-rasterio.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${1:-"4096 8192"}
ROUNDS=${2:-3}
PEER=${PEER:-../shared/bench/peer_pipeline.py}
BIN=build/bin/drshym
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's, where python3-torch and python3-rasterio live
WORK=${WORK:-$(mktemp -d /tmp/drshym-vs-peer.XXXXXX)}
[ -x "$BIN" ] || { echo "vs_peer: $BIN is missing; run bash scripts/build.sh" >&2; exit 1; }
[ -f "$PEER" ] || { echo "vs_peer: the peer $PEER is missing (set PEER=...)" >&2; exit 1; }
"$PYTHON" -c 'import torch, rasterio' 2>/dev/null ||
  { echo "vs_peer: the peer needs python3-torch and python3-rasterio (apt-get install python3-torch python3-rasterio)" >&2; exit 1; }
THREADS=$(nproc)
BANDS=${BANDS:-VV+VH}
read -r -a EXTRA <<< "${SEGMENT_ARGS:-}"
case "$BANDS" in VV+VH|VV) ;; *) echo "vs_peer: BANDS must be VV+VH or VV, got '$BANDS'" >&2; exit 1 ;; esac

# run NAME LOG CMD...: one timed run; appends "NAME wall_s rss_mib" to $WORK/times.
run() {
  local name=$1 log=$2
  shift 2
  /usr/bin/time -v "$@" > "$log" 2>&1 || { echo "vs_peer: $name failed, see $log" >&2; tail -5 "$log" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
  echo "$name $wall $rss" >> "$WORK/times"
}

median() { sort -n | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# segment's default --precision auto times fp32 against BF16 once per machine and keeps the answer
# (~/.cache/drshym/precision.json): settle it on a small scene first so no timed run pays for it.
"$BIN" demo-scene --width 512 --height 512 --out "$WORK/warm.tif" > /dev/null 2>&1
[ "$BANDS" = VV ] && gdal_translate -q -b 1 "$WORK/warm.tif" "$WORK/warm_vv.tif" && mv "$WORK/warm_vv.tif" "$WORK/warm.tif"
"$BIN" segment "$WORK/warm.tif" --out "$WORK/warm" --threads "$THREADS" > "$WORK/warm.log" 2>&1
echo "vs_peer: precision $(python3 -c 'import json,sys,glob; p=json.load(open(glob.glob(sys.argv[1]+"/*_record.json")[0]))["provenance"]["precision"]; print(p["used"], "-", p["reason"])' "$WORK/warm")"
echo "vs_peer: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name: *//p')), $ROUNDS round(s), work in $WORK"
for size in $SIZES; do
  scene=$WORK/s$size.tif
  [ -f "$scene" ] || "$BIN" demo-scene --width "$size" --height "$size" --out "$scene" > /dev/null 2>&1
  if [ "$BANDS" = VV ]; then
    [ -f "$WORK/s${size}_vv.tif" ] ||
      gdal_translate -q -b 1 -co TILED=YES -co COMPRESS=DEFLATE "$scene" "$WORK/s${size}_vv.tif"
    scene=$WORK/s${size}_vv.tif
  fi
  : > "$WORK/times"
  for ((r = 1; r <= ROUNDS; r++)); do
    rm -rf "$WORK/o" "$WORK/n" "$WORK/q"
    run segment "$WORK/segment.log" "$BIN" segment "$scene" --out "$WORK/o" --threads "$THREADS" "${EXTRA[@]}"
    run no_classes "$WORK/no_classes.log" "$BIN" segment "$scene" --out "$WORK/n" --no-classes --threads "$THREADS" "${EXTRA[@]}"
    # The peer's --overlap is per side; segment's 64 px overlap is shared by two windows.
    run peer "$WORK/peer.log" "$PYTHON" "$PEER" "$scene" "$WORK/q" --overlap 32 --threads "$THREADS"
  done
  echo
  echo "== ${size}x${size}, $BANDS (median of $ROUNDS) =="
  printf '%-28s %10s %10s\n' command wall_s peak_MiB
  for name in segment no_classes peer; do
    w=$(awk -v n=$name '$1 == n {print $2}' "$WORK/times" | median)
    m=$(awk -v n=$name '$1 == n {print $3}' "$WORK/times" | median)
    printf '%-28s %10s %10s\n' "$name" "$w" "$m"
    eval "W_$name=$w"
  done
  awk -v a="$W_peer" -v b="$W_segment" -v c="$W_no_classes" 'BEGIN {
    printf "peer / segment (default):    %.2fx\n", a / b
    printf "peer / segment --no-classes: %.2fx\n", a / c
    printf "segment / segment --no-classes: %.2fx (the cost of the classes)\n", b / c }'
  rec=$(ls "$WORK"/o/*_record.json)
  python3 - "$rec" "$W_segment" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["provenance"]
t = m["timings_s"]
total = float(sys.argv[2])
parts = ", ".join(f"{k} {v:.1f}" for k, v in t.items() if isinstance(v, (int, float)))
print(f"segment timings_s (last round): {parts}")
c = m.get("classes", {}).get("model", {})
print(f"segment water model: {m.get('checkpoint')}; classes: {c.get('head') or 'separate network'} of {c.get('checkpoint')}")
if "polygonize" in t:
    print(f"polygonize share of the wall time: {100 * t['polygonize'] / total:.0f}%")
EOF
done
