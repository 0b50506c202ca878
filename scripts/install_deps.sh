#!/usr/bin/env bash
# Installs every Debian 12 package DrShym Climate needs to build, test and run.
# Safe to run twice: apt-get skips what is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev            # LibTorch 1.13 (CPU, oneDNN)
  libopenblas0-openmp     # switches libblas.so.3 from reference BLAS (~2.4 GFLOP/s) to OpenBLAS (~117)
  libgdal-dev gdal-bin    # raster/vector I/O, COG, polygonize, warp
  nlohmann-json3-dev
  libcpp-httplib-dev
  libcli11-dev
  libyaml-cpp-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libpng-dev
  libcairo2-dev           # report figures and map overlays (eval/figure, explain/overlay)
  fonts-dejavu-core       # the one font those figures use ("DejaVu Sans"); without it text falls back or vanishes
  libsqlite3-dev
  libopenmpi-dev openmpi-bin  # drshym batch across ranks and nodes (mpirun / srun); CMake's FindMPI
  libjs-leaflet           # Leaflet for drshym serve's map page, served by the server itself (no CDN)
  chromium                # headless browser for the map page test (screenshot of /map/{id}); skipped without it
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's LibTorch links libblas.so.3; make sure the alternative points at OpenBLAS.
blas_target=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas_target" in
  *openblas*) echo "install_deps: libblas.so.3 -> $blas_target" ;;
  *) echo "install_deps: warning: libblas.so.3 -> ${blas_target:-none} (not OpenBLAS); LibTorch will be slow" >&2 ;;
esac
