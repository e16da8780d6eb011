"""Prints MiniRocket's reference test vectors (docs/test-vectors.md) from the
reference implementation: aeon's MiniRocket (numba) and NumPy's legacy
MT19937. Run through bench/reference-vectors.sh, which makes the venv.

Never a test dependency: the Rust tests hold these numbers as literals.
"""

import sys
from pathlib import Path

import numba
import numpy as np
import aeon
from aeon.datasets import load_from_ts_file
from aeon.transformations.collection.convolution_based import MiniRocket
from aeon.transformations.collection.convolution_based._minirocket import (
    _fit_dilations,
)

ROOT = Path(__file__).resolve().parent.parent


@numba.njit
def numba_picks(seed, n, k):
    # What the reference's _fit_biases does: np.random.seed inside numba,
    # then one np.random.randint(n_cases) per (dilation, kernel) block.
    np.random.seed(seed)
    out = np.empty(k, np.int64)
    for i in range(k):
        out[i] = np.random.randint(n)
    return out


def fmt(xs, digits):
    """Fixed-point with `digits` decimals, trailing zeros dropped (0.38, not 0.380000)."""
    return ", ".join(f"{float(x):.{digits}f}".rstrip("0").rstrip(".") for x in xs)


def main():
    print(f"aeon {aeon.__version__}, numpy {np.__version__}, numba {numba.__version__}")

    print("\n## MT19937 and example picks")
    word = np.random.RandomState(0).randint(0, 2**32, dtype=np.uint64)
    print(f"init_genrand(0) first word: {int(word):#010x}")
    for seed, n in [(0, 50), (0, 560), (42, 50)]:
        legacy = np.random.RandomState(seed)
        numpy_picks = [int(legacy.randint(n)) for _ in range(10)]
        reference = [int(v) for v in numba_picks(seed, n, 10)]
        same = "same in numpy's legacy RandomState" if numpy_picks == reference else f"numpy legacy differs: {numpy_picks}"
        print(f"seed {seed}, n = {n}: {reference} ({same})")
    rs = np.random.RandomState(0)
    print(f"seed 0 random_sample(2): {rs.random_sample(2).tolist()}")
    print(f"seed 0 permutation(10): {np.random.RandomState(0).permutation(10).tolist()}")

    print("\n## Dilations and features per dilation")
    for length, features, max_d in [
        (9, 10_000, 32), (10, 10_000, 32), (24, 10_000, 32), (25, 10_000, 32),
        (100, 10_000, 32), (150, 10_000, 32), (427, 10_000, 32),
        (150, 336, 32), (131, 9_660, 5), (131, 9_660, 32),
    ]:
        d, f = _fit_dilations(length, features, max_d)
        print(f"L {length}, num_features {features}, max_dilations {max_d}: "
              f"dilations {d.tolist()}, features {f.tolist()}")

    print("\n## GunPoint (data/GunPoint), n_kernels 10,000, random_state 0")
    x_train, _ = load_from_ts_file(str(ROOT / "data/GunPoint/GunPoint_TRAIN.ts"))
    x_test, _ = load_from_ts_file(str(ROOT / "data/GunPoint/GunPoint_TEST.ts"))
    x_train = x_train.astype(np.float32)
    x_test = x_test.astype(np.float32)

    def report(title, fit_on, rows, names):
        mr = MiniRocket(n_kernels=10_000, random_state=0).fit(fit_on)
        biases = mr.parameters[-1]
        print(f"{title}: biases[0..4] = {fmt(biases[:4], 7)}; sum of biases = {float(np.sum(biases.astype(np.float64))):.4f}")
        feats = mr.transform(rows)
        for name, row in zip(names, feats):
            print(f"  features of {name} begin {fmt(row[:4], 6)}; row sum {float(np.sum(row.astype(np.float64))):.3f}")

    report("golden fit (TRAIN[0] only)", x_train[:1], x_train[:3],
           ["TRAIN[0]", "TRAIN[1]", "TRAIN[2]"])
    report("full fit (all 50 TRAIN series)", x_train, x_test[:3],
           ["TEST[0]", "TEST[1]", "TEST[2]"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
