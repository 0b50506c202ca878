#!/usr/bin/env bash
# Every score the model card gives a VV-only candidate, per-image Otsu on VV dB beside each row:
# the Sen1Floods11 chips (water IoU and the dry chip's false alarms), the four mostly-water
# 128-px crops of two chips (each anchored on itself, as `predict` anchors a loose chip), dry
# crops of USA_905409 whose land is as dark in VV as bright water (false alarms: "land as water"),
# the OMBRIA test split (label-free dB line) and the held-out ETCI Nebraska scene (it only fits T,
# so its IoU at threshold 0.5 is held out). Needs ../shared/data (or DRSHYM_SHARED_DATA) and a build.
#   bash scripts/vv_scores.sh [VV_CKPT]      # default: models/default_vv
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${DRSHYM_SHARED_DATA:-../shared/data}
ckpt=${1:-models/default_vv}
bin=build/bin/drshym
chips=$shared/sen1floods11/v1.1/data/flood_events/HandLabeled
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# crop DIR CHIP:X:Y...: 128-px windows of the chips, image and label, as a folder dataset in DIR.
crop() {
  local dir=$1 c chip x y
  shift
  mkdir -p "$dir/images" "$dir/labels"
  for c in "$@"; do
    IFS=: read -r chip x y <<<"$c"
    gdal_translate -q -srcwin "$x" "$y" 128 128 "$chips/S1Hand/${chip}_S1Hand.tif" "$dir/images/${chip}_${x}_${y}.tif"
    gdal_translate -q -srcwin "$x" "$y" 128 128 "$chips/LabelHand/${chip}_LabelHand.tif" "$dir/labels/${chip}_${x}_${y}.tif"
  done
}
# The crops of docs/model_card.md ("Mostly-water inputs"): 81-88% of their labelled pixels are water.
crops=$tmp/water
crop "$crops" India_900498:192:64 India_900498:0:192 USA_905409:320:384 USA_905409:384:256
# Dry land (at least 99% of the labels) as dark in VV as issue 26's bright water: three windows
# with VV medians of -10.8 to -12.0 dB (those of tests/infer/anchor_test.cpp) and one of dark
# fields at -14.4 dB ("What VV alone cannot tell" in the model card).
crop "$tmp/dry" USA_905409:0:128 USA_905409:0:256 USA_905409:160:256
crop "$tmp/darkest" USA_905409:384:64
echo "== $ckpt on the Sen1Floods11 chips"
"$bin" eval --ckpt "$ckpt" --dataset sen1floods11 --root "$shared/sen1floods11" --split all 2>/dev/null
echo "== $ckpt on 4 mostly-water crops"
"$bin" eval --ckpt "$ckpt" --dataset folder --root "$crops" --split . 2>/dev/null
echo "== $ckpt on 3 dry crops at -10.8 to -12.0 dB VV (land as water = false alarms)"
"$bin" eval --ckpt "$ckpt" --dataset folder --root "$tmp/dry" --split . 2>/dev/null
echo "== $ckpt on 1 dry crop of dark fields at -14.4 dB VV"
"$bin" eval --ckpt "$ckpt" --dataset folder --root "$tmp/darkest" --split . 2>/dev/null
echo "== $ckpt on OMBRIA test"
"$bin" eval --ckpt "$ckpt" --dataset ombria --root "$shared/ombria/OmbriaS1" --split test 2>/dev/null
echo "== $ckpt on ETCI Nebraska (held out; fits T only)"
"$bin" eval --ckpt "$ckpt" --dataset etci --root "$shared/etci2021" --scenes nebraska_20170213t002121 2>/dev/null
