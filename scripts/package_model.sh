#!/usr/bin/env bash
# Package a training run as an embedded model: models/NAME/{model.pt,model.json,thresholds.json,
# metrics.csv,curves.png,reliability.png} (+ thresholds_HEAD.json, reliability_HEAD.png per extra head) from RUN_DIR (written by `drshym train`).
#   bash scripts/package_model.sh runs/etci_vv default_vv
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then echo "usage: $0 RUN_DIR NAME" >&2; exit 2; fi
run=$1 name=$2 dest=models/$2
for f in best.pt best.json thresholds.json metrics.csv curves.png reliability.png; do
  [ -f "$run/$f" ] || { echo "package_model: $run/$f is missing (did training finish?)" >&2; exit 1; }
done
mkdir -p "$dest"
cp "$run/best.pt" "$dest/model.pt"
# The metadata names its weights file; it is model.pt once packaged.
sed 's/"weights_file": "best.pt"/"weights_file": "model.pt"/' "$run/best.json" > "$dest/model.json"
cp "$run/thresholds.json" "$run/metrics.csv" "$run/curves.png" "$run/reliability.png" "$dest/"
# A network with heads (model.heads) has each head's calibration beside the water's.
for f in "$run"/thresholds_*.json "$run"/reliability_*.png; do
  [ -f "$f" ] && cp "$f" "$dest/"
done
echo "package_model: $run → $dest ($(du -h "$dest/model.pt" | cut -f1), sha256 $(sha256sum "$dest/model.pt" | cut -c1-16)…)"
