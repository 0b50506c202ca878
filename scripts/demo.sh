#!/usr/bin/env bash
# Install dependencies, build, generate the bundled synthetic demo scene and run the main job
# on it. Outputs land in ./out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh --target drshym
BIN=build/bin/drshym
mkdir -p out/demo
$BIN demo-scene --out out/demo/demo_scene.tif --before out/demo/demo_before.tif --label out/demo/demo_truth.tif
# Bi-temporal: the pre-event scene lets the change model tell flood water from the river.
$BIN segment out/demo/demo_scene.tif --before out/demo/demo_before.tif --out out/demo
echo "demo: outputs in out/demo (demo_truth.tif: 0 dry, 1 permanent water, 2 flood water)"
