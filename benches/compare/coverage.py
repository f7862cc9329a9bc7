#!/usr/bin/env python3
"""How many rows an IVF probe must scan before the true top 10 are in reach.

For one dataset and one k-means partition (FAISS k-means, k centroids, fixed seed),
prints, for recall@10 coverage 0.95 and 0.99 (a true neighbour counts once any list
holding it has been probed, lists probed nearest centroid first):

- single assignment: every vector in its nearest centroid's list (drift today);
- spilled assignment (SOAR, Sun et al., NeurIPS 2023): every vector also in a second
  list, chosen among its 8 nearest centroids to minimise
  ||x - c||^2 + lambda * <r/|r|, x - c>^2 with r the primary residual.

It measures reach only (no codes, no re-rank): the bound any code-space scan and
re-rank over those lists can achieve. Run it with the comparison's environment:

    target/compare-venv/bin/python benches/compare/coverage.py [dataset-dir] [k] [lambda]

(`benches/compare/run.sh` creates target/compare-venv.) One thread; about 30 s for the
59k MiniLM set.
"""
import os, sys
import numpy as np
import faiss


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def reach(first_rank, sizes, order, target):
    """Fewest lists (and mean rows they hold) so that `target` of the true neighbours
    have been reached."""
    lo, hi = 1, order.shape[1]
    while lo < hi:
        mid = (lo + hi) // 2
        if (first_rank < mid).mean() >= target:
            hi = mid
        else:
            lo = mid + 1
    rows = sizes[order[:, :lo]].sum(axis=1).mean()
    return lo, rows


def main():
    dataset = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/minilm-debian-59k"
    if not os.path.exists(os.path.join(dataset, "base.fvecs")):
        print(f"skipped: dataset not found at {dataset}")
        return
    xb, xq = fvecs(os.path.join(dataset, "base.fvecs")), fvecs(os.path.join(dataset, "query.fvecs"))
    gt = np.fromfile(os.path.join(dataset, "gt_l2_top100.ivecs"), dtype=np.int32).reshape(len(xq), -1)[:, 1:11]
    n, d = xb.shape
    k = int(sys.argv[2]) if len(sys.argv) > 2 else max(1, n // 64)
    lam = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    faiss.omp_set_num_threads(1)
    km = faiss.Kmeans(d, k, niter=10, seed=1)
    km.train(xb)
    centroids = km.centroids
    flat = faiss.IndexFlatL2(d)
    flat.add(centroids)
    _, nearest = flat.search(xb, 8)
    primary = nearest[:, 0]
    residual = xb - centroids[primary]
    unit = residual / np.maximum(np.linalg.norm(residual, axis=1, keepdims=True), 1e-12)
    candidates = nearest[:, 1:]
    secondary = np.empty(n, dtype=np.int64)
    for start in range(0, n, 4096):
        end = min(n, start + 4096)
        diff = xb[start:end, None, :] - centroids[candidates[start:end]]
        loss = (diff**2).sum(-1) + lam * np.einsum("nd,nkd->nk", unit[start:end], diff) ** 2
        secondary[start:end] = candidates[start:end][np.arange(end - start), loss.argmin(1)]
    _, order = flat.search(xq, k)
    rank = np.empty_like(order)
    rows = np.arange(len(xq))[:, None]
    rank[rows, order] = np.arange(k)[None, :]
    print(f"{n} vectors, {d} dimensions, {k} centroids, {len(xq)} queries, SOAR lambda {lam}")
    print(f"{'assignment':<22} {'coverage':>8} {'lists':>6} {'rows scanned':>13} {'stored rows':>12}")
    for name, lists in [("single", [primary]), ("spilled (SOAR)", [primary, secondary])]:
        sizes = sum(np.bincount(l, minlength=k) for l in lists)
        first = np.min([rank[rows, l[gt]] for l in lists], axis=0)
        for target in (0.95, 0.99):
            probes, scanned = reach(first, sizes, order, target)
            print(f"{name:<22} {target:>8} {probes:>6} {scanned:>13.0f} {sizes.sum():>12}")


if __name__ == "__main__":
    main()
