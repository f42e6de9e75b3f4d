"""Time one engine fit, to compare two versions of trustseg on the same data.

    python benchmarks/time_engine.py SRC_DIR [SRC_DIR ...]

SRC_DIR is the ``src`` folder of a checkout (for example a ``git worktree`` of
an older commit); each is timed in a fresh process so imports do not mix.
Data: 100,000 respondents, three segments (intercepts 0.5, 2.5, 5.5; slopes
1.1, 0.6, 0.1; SDs 0.5, 0.6, 0.4; shares 0.5, 0.3, 0.2), x ~ U(1, 7), seed 2024.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[1])
from trustseg import ClusterwiseRegression
rng = np.random.default_rng(2024)
n = 100_000
x = rng.uniform(1, 7, n)
z = rng.choice(3, n, p=[0.5, 0.3, 0.2])
noise = np.array([0.5, 0.6, 0.4])[z] * rng.standard_normal(n)
y = np.array([0.5, 2.5, 5.5])[z] + np.array([1.1, 0.6, 0.1])[z] * x + noise
started = time.perf_counter()
model = ClusterwiseRegression(n_segments=3, n_init=10, random_state=0).fit(pd.DataFrame({"x": x}), pd.Series(y))
print(f"{sys.argv[1]}  {time.perf_counter() - started:.2f} s  loglik {model.loglik_:.4f}")
"""

if __name__ == "__main__":
    for source in sys.argv[1:]:
        subprocess.run([sys.executable, "-c", CHILD, source], check=True)
