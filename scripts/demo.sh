#!/usr/bin/env bash
# Install dependencies, build, generate the bundled synthetic demo scene and run the main job
# on it. Outputs land in ./out/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh --target drshym
BIN=build/bin/drshym
mkdir -p out/demo
$BIN demo-scene --out out/demo/demo_scene.tif --label out/demo/demo_truth.tif
$BIN segment out/demo/demo_scene.tif --out out/demo
echo "demo: outputs in out/demo"
