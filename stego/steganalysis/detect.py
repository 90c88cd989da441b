#!/usr/bin/env python3
"""Independent steganalysis of 16-bit PCM blocks.

Written from the literature, sharing no code with the embedder:

* WS   -- weighted-stego estimator of the LSB change rate (Fridrich & Goljan
          2004, with Ker's 1/(5 + local variance) weights and a four-tap
          same-channel predictor).
* SPA  -- structural pair analysis (Dumitrescu, Wu & Wang 2003, in the trace
          set formulation of Ker 2005): adjacent same-channel sample pairs are
          grouped by trace k = floor(v/2) - floor(u/2); for a candidate change
          rate q the observed LSB-pattern counts are mapped back to the cover
          and q is the root of sum_k (B_k - C_{k+1}) = 0, i.e. pairs with an
          odd difference are as likely to start on an even as on an odd value.
* SPAM -- second-order Markov transition probabilities of first differences
          and of second-difference residuals, truncated at T (Pevny, Bas &
          Fridrich 2010, in 1-D), with first-order histograms of both and a
          histogram of residuals in quiet contexts (where the noise floor
          alone is seen), classified by logistic regression.

Input: a directory with manifest.json and one raw little-endian int16 file per
(variant, file): blocks of `samples_per_block` interleaved stereo samples.
Training and testing are split by file (k-fold: every file is scored by a
model trained on other files). Pooled detectors combine `pool` random blocks
of one file: the structural estimators from their summed statistics, the
classifier by its mean score.
Output: JSON with per-block and pooled ROC AUC of every detector per variant.
"""

import argparse
import json
import os
import sys

try:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as e:  # the Rust test reports this and fails
    print(json.dumps({"error": f"missing python module: {e.name}"}))
    sys.exit(3)

T = 3          # SPAM truncation
SPA_K = 300    # traces -K..K used by SPA
Q_GRID = np.linspace(-0.1, 0.3, 401)


def channels(block):
    """The two channels of an interleaved stereo block, as int64."""
    x = block.astype(np.int64)
    return x[0::2], x[1::2]


# ---------------------------------------------------------------- WS
def ws_estimate(block):
    num, den = 0.0, 0.0
    for x in channels(block):
        c = x[2:-2].astype(np.float64)
        n = [x[:-4], x[1:-3], x[3:-1], x[4:]]
        pred = (-n[0] + 4 * n[1] + 4 * n[2] - n[3]) / 6.0
        local = np.stack(n).astype(np.float64)
        var = local.var(axis=0)
        w = 1.0 / (5.0 + var)
        flipped = c + 1 - 2 * (x[2:-2] & 1)
        num += np.sum(w * (c - pred) * (c - flipped))
        den += np.sum(w)
    # num/den estimates the change rate (half the fraction of carrying samples);
    # pooled estimates sum both over blocks
    return np.array([num, den])


# ---------------------------------------------------------------- SPA
def _transition(q):
    """Maps cover counts (A: equal LSBs, B: 01, C: 10) to stego counts."""
    p = 1 - q
    return np.array([
        [p * p + q * q, 2 * q * p, 2 * q * p],
        [q * p, p * p, q * q],
        [q * p, q * q, p * p],
    ])


_INVERSES = np.array([np.linalg.inv(_transition(q)) for q in Q_GRID])


def spa_counts(block):
    width = 2 * SPA_K + 3
    counts = np.zeros(3 * width)
    for x in channels(block):
        u, v = x[:-1], x[1:]
        k = (v >> 1) - (u >> 1)
        lu, lv = u & 1, v & 1
        cls = np.where(lu == lv, 0, np.where(lv == 1, 1, 2))
        keep = np.abs(k) <= SPA_K + 1
        counts += np.bincount(cls[keep] * width + k[keep] + SPA_K + 1, minlength=3 * width)
    return counts.reshape(3, width)


def spa_estimate(counts):
    # Difference 2k+1 with k = -K-1..K: in Dumitrescu's terms pairs whose
    # even member is the larger (X) against those whose odd member is (Y).
    # The cover estimate is linear in the counts, so sum over traces first.
    side = np.where(np.arange(-SPA_K - 1, SPA_K + 1) >= 0, 1.0, -1.0)
    b_sums = counts[:, :-1] @ side  # per observed class, traces k
    c_sums = counts[:, 1:] @ side   # per observed class, traces k + 1
    f = _INVERSES[:, 1, :] @ b_sums - _INVERSES[:, 2, :] @ c_sums
    sign = np.sign(f)
    change = np.nonzero(sign[1:] != sign[:-1])[0]
    if len(change):
        # the root nearest to q = 0
        return float(Q_GRID[change[np.argmin(np.abs(Q_GRID[change]))]])
    return float(Q_GRID[np.argmin(np.abs(f))])


# ---------------------------------------------------------------- SPAM
def _markov(d):
    d = np.clip(d, -T, T) + T
    n = 2 * T + 1
    idx = (d[:-2] * n + d[1:-1]) * n + d[2:]
    joint = np.bincount(idx, minlength=n ** 3).reshape(n * n, n).astype(np.float64)
    prior = joint.sum(axis=1, keepdims=True)
    return np.divide(joint, prior, out=np.zeros_like(joint), where=prior > 0).ravel()


QUIET_ACTIVITY = 3.0  # mean |second difference| below which a context is quiet
QUIET_HALF = 4


def quiet_features(block):
    """Histogram of second differences in quiet contexts, where the cover is
    little more than its noise floor and added +-1 noise shows most."""
    hist = np.zeros(2 * T + 3)
    quiet = 0
    total = 0
    for x in channels(block):
        d = np.diff(x, n=2)
        a = np.abs(d).astype(np.float64)
        k = np.ones(2 * QUIET_HALF + 1) / (2 * QUIET_HALF + 1)
        act = np.convolve(a, k, mode="same")
        sel = act < QUIET_ACTIVITY
        quiet += sel.sum()
        total += len(d)
        hist += np.bincount(np.clip(d[sel], -T - 1, T + 1) + T + 1, minlength=2 * T + 3)
    norm = hist / max(hist.sum(), 1)
    return np.concatenate([norm, [quiet / total]])


def spam_features(block):
    feats = [quiet_features(block)]
    for order in (1, 2):
        hist = 0.0
        for x in channels(block):
            d = np.clip(np.diff(x, n=order), -T - 1, T + 1) + T + 1
            hist = hist + np.bincount(d, minlength=2 * T + 3)
        feats.append(hist / hist.sum())
    for order in (1, 2):
        acc = 0.0
        for x in channels(block):
            d = np.diff(x, n=order)
            # forward and backward directions averaged, as SPAM does for images
            acc = acc + _markov(d) + _markov(-d[::-1])
        feats.append(acc / 4.0)
    return np.concatenate(feats)


# ---------------------------------------------------------------- evaluation
def load(root, manifest, variant, f):
    spb = manifest["samples_per_block"]
    path = os.path.join(root, f"{variant}_{f:03}.i16")
    data = np.fromfile(path, dtype="<i2")
    return data.reshape(-1, spb)


def auc(neg, pos):
    y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
    return float(roc_auc_score(y, np.r_[neg, pos]))


def pools(scores_by_file, pool, repeats, rng):
    out = []
    for s in scores_by_file:
        if len(s) < pool:
            continue
        for _ in range(repeats):
            out.append(float(np.mean(s[rng.choice(len(s), pool, replace=False)])))
    return np.array(out)


def pooled_estimates(stats_by_file, est, pool, repeats, rng):
    out = []
    for st in stats_by_file:
        if len(st) < pool:
            continue
        for _ in range(repeats):
            out.append(est(st[rng.choice(len(st), pool, replace=False)].sum(axis=0)))
    return np.array(out)


def evaluate(root, manifest, variant, folds, pool, repeats, cache):
    """AUCs of every detector for cover against `variant`. The trained
    detector is scored out of fold: each file by a model that never saw it."""
    files = sorted(f for fold in folds for f in fold)
    res = {}
    per_file = {}
    for name in ("cover", variant):
        for f in files:
            if (name, f) not in cache:
                blocks = load(root, manifest, name, f)
                cache[(name, f)] = {
                    "ws": np.array([ws_estimate(b) for b in blocks]),
                    "spa": np.array([spa_counts(b) for b in blocks]),
                    "spam": np.array([spam_features(b) for b in blocks]),
                }
            per_file[(name, f)] = cache[(name, f)]
    # Structural estimators: per block from the block's statistics, pooled
    # from the statistics summed over the pool's blocks.
    estimators = {
        "ws": lambda st: st[0] / st[1],
        "spa": spa_estimate,
    }
    for det, est in estimators.items():
        stats_neg = [per_file[("cover", f)][det] for f in files]
        stats_pos = [per_file[(variant, f)][det] for f in files]
        neg = np.array([est(s) for st in stats_neg for s in st])
        pos = np.array([est(s) for st in stats_pos for s in st])
        rng = np.random.default_rng(7)
        res[det] = {
            "block_auc": auc(neg, pos),
            "pooled_auc": auc(pooled_estimates(stats_neg, est, pool, repeats, rng),
                              pooled_estimates(stats_pos, est, pool, repeats, rng)),
            "mean_estimate_cover": float(np.mean(neg)),
            "mean_estimate_stego": float(np.mean(pos)),
        }
    neg, pos = [], []
    for test in folds:
        train = [f for f in files if f not in test]
        xtr = np.concatenate([per_file[(n, f)]["spam"] for n in ("cover", variant) for f in train])
        ytr = np.concatenate([np.full(len(per_file[(n, f)]["spam"]), int(n != "cover"))
                              for n in ("cover", variant) for f in train])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        model.fit(xtr, ytr)
        neg += [model.decision_function(per_file[("cover", f)]["spam"]) for f in test]
        pos += [model.decision_function(per_file[(variant, f)]["spam"]) for f in test]
    rng = np.random.default_rng(7)
    res["spam"] = {
        "block_auc": auc(np.concatenate(neg), np.concatenate(pos)),
        "pooled_auc": auc(pools(neg, pool, repeats, rng), pools(pos, pool, repeats, rng)),
    }
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out")
    ap.add_argument("--pool", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--folds", type=int, default=4, help="cross-validation folds, split by file")
    args = ap.parse_args()
    with open(os.path.join(args.data, "manifest.json")) as fh:
        manifest = json.load(fh)
    files = np.arange(manifest["files"])
    np.random.default_rng(2024).shuffle(files)
    folds = [sorted(int(f) for f in fold) for fold in np.array_split(files, args.folds)]
    cache = {}
    out = {"folds": folds, "pool": args.pool, "variants": {}}
    for variant in manifest["variants"]:
        if variant == "cover":
            continue
        out["variants"][variant] = evaluate(args.data, manifest, variant, folds,
                                            args.pool, args.repeats, cache)
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
