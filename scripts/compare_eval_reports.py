#!/usr/bin/env python3
"""Compare two `drshym eval --report-dir` runs on the same data, chip by chip.

Prints the pooled IoU of each, how many chips each wins, and a paired bootstrap
(chips resampled with replacement, seed 42) of the pooled IoU difference A - B.

  python3 scripts/compare_eval_reports.py A_DIR B_DIR [--draws 2000]
"""
import argparse
import json
import random


def per_chip(path):
    rows = json.load(open(path + "/report.json"))["model"]["per_chip"]
    rows = rows.values() if isinstance(rows, dict) else rows
    return {r["id"]: r["confusion"] for r in rows}


def pooled_iou(confusions):
    tp = sum(c["tp"] for c in confusions)
    fp = sum(c["fp"] for c in confusions)
    fn = sum(c["fn"] for c in confusions)
    return tp / (tp + fp + fn) if tp + fp + fn else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--draws", type=int, default=2000)
    args = ap.parse_args()
    a, b = per_chip(args.a), per_chip(args.b)
    if set(a) != set(b):
        raise SystemExit("the two reports cover different chips: compare runs on the same data")
    ids = sorted(a)
    wins = sum(pooled_iou([a[i]]) > pooled_iou([b[i]]) for i in ids)
    losses = sum(pooled_iou([a[i]]) < pooled_iou([b[i]]) for i in ids)
    rng = random.Random(42)
    deltas = []
    for _ in range(args.draws):
        s = [rng.choice(ids) for _ in ids]
        deltas.append(pooled_iou([a[i] for i in s]) - pooled_iou([b[i] for i in s]))
    deltas.sort()
    lo, hi = deltas[int(0.025 * len(deltas))], deltas[int(0.975 * len(deltas)) - 1]
    print(f"chips {len(ids)}: A pooled IoU {pooled_iou([a[i] for i in ids]):.4f}, B {pooled_iou([b[i] for i in ids]):.4f}")
    print(f"A better on {wins}, B better on {losses}; A - B = {pooled_iou([a[i] for i in ids]) - pooled_iou([b[i] for i in ids]):+.4f}"
          f" (paired bootstrap 95%: {lo:+.4f} .. {hi:+.4f})")


if __name__ == "__main__":
    main()
