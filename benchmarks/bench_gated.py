"""The shipped gated cells beside PyTorch, as whole processes: `symbolic-bptt solve P --json`
(derivation plus float evaluation) against torch.nn.LSTM / torch.nn.GRU with autograd
(benchmarks/torch_gated.py) on the same problem, for hidden sizes 4 and 16 and T = 10, 100, 1000.

    python3 benchmarks/bench_gated.py [--quick] [--repeat N]

Each problem: 2 inputs, 1 output, the weights a random state_dict (seeded), bias = true. Prints a
Markdown table: the median wall and CPU times of N runs of each process (one at T = 1000), and
their ratio; the two losses must agree to 1e-9 (relative) or the row says so.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GATES = {"lstm": 4, "gru": 3}


def problem_text(cell: str, T: int, hidden: int, inputs: int = 2, seed: int = 0) -> str:
    rng = random.Random(f"{cell}-{T}-{hidden}-{seed}")

    def num():
        return round(rng.uniform(-0.5, 0.5), 3)

    def rows(n, m):
        return "[" + ", ".join("[" + ", ".join(str(num()) for _ in range(m)) + "]"
                               for _ in range(n)) + "]"

    def vec(n):
        return "[" + ", ".join(str(num()) for _ in range(n)) + "]"

    g = GATES[cell]
    lines = [f'[model]\ncell = "{cell}"\nbias = true\nloss = "half_sse"', "[data]",
             f"x = {rows(T, inputs)}", f"y = {vec(T)}", f"h0 = {vec(hidden)}"]
    if cell == "lstm":
        lines.append(f"c0 = {vec(hidden)}")
    lines += ["[weights]", f"weight_ih_l0 = {rows(g * hidden, inputs)}",
              f"weight_hh_l0 = {rows(g * hidden, hidden)}", f"bias_ih_l0 = {vec(g * hidden)}",
              f"bias_hh_l0 = {vec(g * hidden)}", f"W_hy = {rows(1, hidden)}", f"b_y = {num()}"]
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> tuple[float, float, float | str]:
    """Wall time and CPU time (user + system) of one process, and the L it prints (or its
    one-line error). CPU time is the fairer measure on a machine that other jobs share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        return elapsed, cpu, proc.stderr.strip().split(": ")[-1]
    return elapsed, cpu, json.loads(proc.stdout)["quantities"]["L"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 10 and 100 only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = [sys.executable]
    print("| cell | hidden | T | solve --json: wall (s) | CPU (s) | torch autograd: wall (s) "
          "| CPU (s) | solve / torch (CPU) | L agrees |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for cell in GATES:
            for hidden in (4, 16):
                for T in (10, 100) if args.quick else (10, 100, 1000):
                    path = Path(tmp) / f"{cell}-{hidden}-{T}.toml"
                    path.write_text(problem_text(cell, T, hidden), encoding="utf-8")
                    n = args.repeat if T <= 100 else 1  # one run each at T = 1000
                    ours = [run(python + ["-m", "symbolic_bptt", "solve", str(path), "--json"])
                            for _ in range(n)]
                    if isinstance(ours[0][2], str):  # refused: a documented limit
                        print(f"| {cell} | {hidden} | {T} | refused: {ours[0][2]} | | | | | |",
                              flush=True)
                        continue
                    theirs = [run(python + [str(HERE / "torch_gated.py"), str(path)])
                              for _ in range(n)]
                    a, ca = (statistics.median(r[k] for r in ours) for k in (0, 1))
                    b, cb = (statistics.median(r[k] for r in theirs) for k in (0, 1))
                    la, lb = ours[0][2], theirs[0][2]
                    agree = abs(la - lb) <= 1e-9 * max(abs(la), abs(lb))
                    print(f"| {cell} | {hidden} | {T} | {a:.2f} | {ca:.2f} | {b:.2f} | {cb:.2f} | "
                          f"{ca / cb:.2f}x | {'yes' if agree else f'NO: {la} vs {lb}'} |",
                          flush=True)


if __name__ == "__main__":
    main()
