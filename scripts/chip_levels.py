#!/usr/bin/env python3
"""VV and VH levels of land and water on the labelled Sen1Floods11 chips (and the median 9x9
standard deviation of VV dB: speckle texture), and the VV levels of the dry crops that
scripts/vv_scores.sh scores: the figures of "What VV alone cannot tell" in docs/model_card.md.
Needs python3-rasterio (the benchmark peer's package) and ../shared/data.
    python3 scripts/chip_levels.py [SHARED_DATA]
"""
import os
import sys

import numpy as np
import rasterio

shared = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DRSHYM_SHARED_DATA", "../shared/data")
chips = os.path.join(shared, "sen1floods11/v1.1/data/flood_events/HandLabeled")
DRY_CROPS = {"USA_905409": [(0, 128), (0, 256), (160, 256), (384, 64)]}  # x, y of 128-px windows


def read(chip):
    with rasterio.open(os.path.join(chips, "S1Hand", chip + "_S1Hand.tif")) as s, \
         rasterio.open(os.path.join(chips, "LabelHand", chip + "_LabelHand.tif")) as l:
        return s.read(), l.read(1)


def stats(v):
    v = v[np.isfinite(v)]
    return "median %6.1f  p10 %6.1f  p90 %6.1f dB" % (np.median(v), np.percentile(v, 10), np.percentile(v, 90))


def local_std(vv, k=9):
    """Standard deviation of VV dB in the k x k window around each pixel (edge pixels: NaN)."""
    w = np.lib.stride_tricks.sliding_window_view(vv.astype(np.float64), (k, k))
    out = np.full(vv.shape, np.nan)
    out[k // 2:-(k // 2), k // 2:-(k // 2)] = w.std(axis=(-1, -2))
    return out


print("chip            class  pixels   VV                                  VH median  VV 9x9 std median")
for chip in ["Ghana_97059", "India_900498", "Spain_7370579", "USA_905409"]:
    s1, label = read(chip)
    texture = local_std(s1[0])
    for name, cls in [("land", 0), ("water", 1)]:
        m = label == cls
        if m.any():
            print("%-15s %-6s %7d  %s  %6.1f dB  %6.2f dB" % (chip, name, m.sum(), stats(s1[0][m]),
                                                          np.nanmedian(s1[1][m]), np.nanmedian(texture[m])))
print("\ndry crops (128 px)  water share  VV")
for chip, windows in DRY_CROPS.items():
    s1, label = read(chip)
    for x, y in windows:
        vv, lab = s1[0, y:y + 128, x:x + 128], label[y:y + 128, x:x + 128]
        known = lab >= 0
        print("%s %3d,%3d    %5.2f%%      %s" % (chip, x, y, 100.0 * (lab == 1).sum() / known.sum(), stats(vv[known])))
