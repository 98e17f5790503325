"""The shipped gated cells beside PyTorch, as whole processes: `symbolic-bptt solve P --json`
(derivation plus float evaluation) against torch.nn.LSTM / torch.nn.GRU with autograd
(benchmarks/torch_gated.py) on the same problem, for hidden sizes 4 and 16 and T = 10, 100, 1000.

    python3 benchmarks/bench_gated.py [--quick] [--repeat N]

Each problem: 2 inputs, 1 output, the weights a random state_dict (seeded), bias = true. Two
runs of ours: `--gradients` prints what the torch process prints (L and every parameter's
gradient), the other every quantity of the tape (at T = 1000 and hidden size 16, 42 MB of JSON,
a second of it float formatting alone). Prints a Markdown table: the median CPU time (user +
system) of N runs of each process, the wall time of the --gradients run and of
torch's, and ratios over torch's CPU time; L and every parameter gradient must agree with
torch's to 1e-9 (relative to the largest entry) or the row says which does not.
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


def run(argv: list[str]) -> tuple[float, float, dict | str]:
    """Wall time and CPU time (user + system) of one process, and the quantities it prints (or
    its one-line error). CPU time is the fairer measure on a machine that other jobs share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        return elapsed, cpu, proc.stderr.strip().split(": ")[-1]
    return elapsed, cpu, json.loads(proc.stdout)["quantities"]


def disagreement(ours: dict, theirs: dict) -> str:
    """'yes', or the first quantity torch prints whose values differ by more than 1e-9 of their
    largest entry (or that ours lacks)."""
    def flat(v):
        return [x for row in v for x in (row if isinstance(row, list) else [row])] \
            if isinstance(v, list) else [v]
    for name, value in theirs.items():
        if name not in ours:
            return f"NO: {name} missing"
        a, b = flat(ours[name]), flat(value)
        scale = max(map(abs, b), default=0.0) or 1.0
        if len(a) != len(b) or any(abs(x - y) > 1e-9 * scale for x, y in zip(a, b)):
            return f"NO: {name}"
    return "yes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T = 10 and 100 only")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = [sys.executable]
    print("| cell | hidden | T | --gradients: wall (s) | CPU (s) | every quantity: CPU (s) "
          "| torch: wall (s) | CPU (s) | --gradients / torch (CPU) | every quantity / torch "
          "| agrees |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    median = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        for cell in GATES:
            for hidden in (4, 16):
                for T in (10, 100) if args.quick else (10, 100, 1000):
                    path = Path(tmp) / f"{cell}-{hidden}-{T}.toml"
                    path.write_text(problem_text(cell, T, hidden), encoding="utf-8")
                    n = args.repeat
                    solve = python + ["-m", "symbolic_bptt", "solve", str(path), "--json"]
                    grads = [run(solve + ["--gradients"]) for _ in range(n)]
                    if isinstance(grads[0][2], str):  # refused: a documented limit
                        print(f"| {cell} | {hidden} | {T} | refused: {grads[0][2]} "
                              "| | | | | | | |", flush=True)
                        continue
                    every = [run(solve) for _ in range(n)]
                    theirs = [run(python + [str(HERE / "torch_gated.py"), str(path)])
                              for _ in range(n)]
                    gw, gc = (median(r[k] for r in grads) for k in (0, 1))
                    ec = median(r[1] for r in every)
                    tw, tc = (median(r[k] for r in theirs) for k in (0, 1))
                    agree = disagreement(grads[0][2], theirs[0][2])
                    if agree == "yes" and every[0][2]["L"] != grads[0][2]["L"]:
                        agree = "NO: the two runs' L"
                    print(f"| {cell} | {hidden} | {T} | {gw:.2f} | {gc:.2f} | {ec:.2f} | "
                          f"{tw:.2f} | {tc:.2f} | **{gc / tc:.2f}x** | {ec / tc:.2f}x | {agree} |",
                          flush=True)


if __name__ == "__main__":
    main()
