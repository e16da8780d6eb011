"""aeon's MiniRocket transform throughput on one thread (numba), for
bench/transform-vs-aeon.sh: fits 10,000 features on TRAIN (seed 0), then
transforms all of TEST `passes` times and prints the series/s over all
passes. The first transform (numba compilation) is not timed.

Usage: python transform_aeon.py TRAIN TEST PASSES (UCR comma-separated
text files: label, then the values).
"""

import sys
import time

import numba
import numpy as np
from aeon.transformations.collection.convolution_based import MiniRocket


def load(path):
    data = np.loadtxt(path, delimiter=",", dtype=np.float64)
    # (n_series, 1 channel, length), float32 as our f32 input.
    return data[:, 1:].astype(np.float32)[:, None, :]


def main():
    train, test, passes = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
    assert numba.config.NUMBA_NUM_THREADS == 1, "run with NUMBA_NUM_THREADS=1"
    mr = MiniRocket(n_kernels=10_000, n_jobs=1, random_state=0)
    mr.fit(train)
    mr.transform(test[:2])  # numba compilation
    start = time.perf_counter()
    for _ in range(passes):
        out = mr.transform(test)
    secs = time.perf_counter() - start
    n = passes * test.shape[0]
    print(
        f"{n} series x {out.shape[1]} features in {secs:.3f} s = {n / secs:.0f} series/s"
        f" (checksum {float(np.sum(out, dtype=np.float64)):.3f})"
    )


if __name__ == "__main__":
    main()
