#!/usr/bin/env bash
# Print every score in docs/model_card.md: each embedded model (or the checkpoints given) on the
# Sen1Floods11 chips as they are and with every input band shifted by -2, +2 and +3 dB (the
# calibration stress test), and the VV-only model on the OMBRIA test split; per-chip Otsu on
# the same pixels beside each row; the change model on OMBRIA and the water classes on ETCI
# Nebraska. Needs ../shared/data (or DRSHYM_SHARED_DATA) and a build.
#   bash scripts/model_scores.sh [VVVH_CKPT VV_CKPT]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${DRSHYM_SHARED_DATA:-../shared/data}
vvvh=${1:-models/default} vv=${2:-models/default_vv}
bin=build/bin/drshym
for ckpt in "$vvvh" "$vv"; do
  for off in 0 -2 2 3; do
    echo "== $ckpt on Sen1Floods11 chips, inputs shifted by $off dB"
    "$bin" eval --ckpt "$ckpt" --dataset sen1floods11 --root "$shared/sen1floods11" --split all --offset-db "$off" 2>/dev/null
  done
done
echo "== $vv on OMBRIA test (label-free dB line)"
"$bin" eval --ckpt "$vv" --dataset ombria --root "$shared/ombria/OmbriaS1" --split test 2>/dev/null
echo "== models/change on OMBRIA test: flood (new water) IoU beside classical change detection"
"$bin" eval --dataset ombria --root "$shared/ombria/OmbriaS1" --split test 2>/dev/null
for ckpt in "$vvvh" "$vv"; do
  echo "== $ckpt split by its own permanent-water head (models/permanent_vv for a checkpoint without one) on the held-out ETCI Nebraska scene: per class"
  "$bin" eval --ckpt "$ckpt" --dataset etci --root "$shared/etci2021" --scenes nebraska_20170213t002121 --classes 2>/dev/null
done
