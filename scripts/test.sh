#!/usr/bin/env bash
# Install dependencies, build, and run the whole test suite (unit + integration; integration
# tests skip cleanly when ../shared/data is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600
