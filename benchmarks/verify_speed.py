"""Whole-process `verify` times: each formula is one `python -m symbolic_bptt verify` call, as a
student checking a derivation line by line makes them. Prints a table and the median and worst.

    PYTHONPATH=. python benchmarks/verify_speed.py [--repeat N] [--textbook] [--batch]
                                                  [--no-bytecode]

Run with PYTHONPATH at another checkout to measure it the same way (--textbook needs this
branch's notation presets; leave it out for an older checkout): the calls run in an empty
folder, so that `python -m` finds the package through PYTHONPATH, not in the current folder.

The calls run with the package's bytecode cached, as an installed package has it (pip compiles
it; a checkout writes __pycache__ on its first run): one warm-up call writes it, even where
PYTHONDONTWRITEBYTECODE is set. --no-bytecode keeps that setting: in a checkout without
__pycache__ (delete it first) every call then compiles the package's sources again.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
TB = ROOT / "tests" / "data" / "textbook"

CASES = [
    ("deck.toml", r"\delta h_t = W_{hy}^\top \delta o_t + W_{hh}^\top \delta_{t+1}"),
    ("deck.toml", r"\delta_t = \delta h_t \odot (1 - h_t^2)"),
    ("deck.toml", r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^T \delta_t h_{t-1}^\top"),
    ("deck.toml", r"\frac{\partial L}{\partial o_t} = o_t - y_t"),
    ("deck.toml", r"\delta h_t = W_{hy}^\top \delta o_t + W_{hh}^\top \delta h_{t+1}"),
    ("vector_bias.toml", r"\delta h_t = W_{hy}^\top \delta o_t + W_{hh}^\top \delta_{t+1}"),
    ("vector_bias.toml", r"\frac{\partial L}{\partial b_h} = \sum_{t=1}^T \delta_t"),
    ("sigmoid.toml", r"\delta_t = \delta h_t \odot h_t \odot (1 - h_t)"),
    ("lstm_custom.toml", r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh(c_t)^2) "
                         r"+ \delta c_{t+1} \odot f_{t+1}"),
    ("cross_entropy.toml", r"\frac{\partial L}{\partial o_t} = \frac{1}{T}(\mathrm{softmax}(o_t)"
                           r" - y_t)"),
]
TEXTBOOK = [
    (TB / "goodfellow.toml", r"\nabla_{\boldsymbol{h}^{(\tau)}} L = \boldsymbol{V}^{\top} "
                             r"\nabla_{\boldsymbol{o}^{(\tau)}} L."),
    (TB / "britz.toml", r"s_t = \tanh(Ux_t + Ws_{t-1})"),
    (TB / "d2l.toml", r"\frac{\partial L}{\partial \mathbf{h}_t} = \mathbf{W}_\textrm{hh}^\top "
                      r"\frac{\partial L}{\partial \mathbf{h}_{t+1}} + \mathbf{W}_\textrm{qh}^\top"
                      r" \frac{\partial L}{\partial \mathbf{o}_t}"),
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


ENV = dict(os.environ)
if "--no-bytecode" not in sys.argv:
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
if ENV.get("PYTHONPATH"):
    ENV["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve())
                                        for p in ENV["PYTHONPATH"].split(os.pathsep))
CWD = tempfile.mkdtemp(prefix="verify-speed-")  # python -m puts the current folder first


def run(problem: Path, latex: str) -> tuple[float, float, int]:
    """(wall-clock s, CPU s of the process, exit code): the machine may be shared, so the CPU
    time is the fairer figure (the wall clock alone on an idle core)."""
    start, cpu = time.perf_counter(), _cpu()
    done = subprocess.run([sys.executable, "-m", "symbolic_bptt", "verify", str(problem),
                           "--latex", latex], capture_output=True, env=ENV, cwd=CWD)
    return time.perf_counter() - start, _cpu() - cpu, done.returncode


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    cases = [(EX / p, f) for p, f in CASES]
    if "--textbook" in sys.argv:
        cases += TEXTBOOK
    where = subprocess.run([sys.executable, "-c", "import symbolic_bptt; print(symbolic_bptt."
                            "__file__)"], capture_output=True, text=True, env=ENV, cwd=CWD)
    print(f"measuring {Path(where.stdout.strip()).parent}")
    run(*cases[0])  # the warm-up: writes the bytecode (unless --no-bytecode)
    start, cpu = time.perf_counter(), _cpu()
    subprocess.run([sys.executable, "-c", "import sympy"], check=True)
    print(f"python -c 'import sympy': {time.perf_counter() - start:.2f} s wall, "
          f"{_cpu() - cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f}; bytecode "
          + ("compiled at every call" if "PYTHONDONTWRITEBYTECODE" in ENV else "cached"))
    walls, cpus = [], []
    print(f"{'problem':22} {'wall s':>6} {'CPU s':>6} {'exit':>4}  formula")
    for problem, latex in cases:
        wall, cpu, code = min((run(problem, latex) for _ in range(repeat)), key=lambda r: r[1])
        walls.append(wall)
        cpus.append(cpu)
        print(f"{problem.name:22} {wall:6.2f} {cpu:6.2f} {code:4}  {latex[:56]}")
    print(f"median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU; "
          f"worst {max(walls):.2f} s wall, {max(cpus):.2f} s CPU "
          f"({len(walls)} calls, each the least CPU time of {repeat})")
    if "--batch" in sys.argv:  # the deck's lines in one call (--latex repeated)
        deck = [f for p, f in CASES if p == "deck.toml"]
        args = [a for f in deck for a in ("--latex", f)]
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run([sys.executable, "-m", "symbolic_bptt", "verify", str(EX / "deck.toml"),
                        *args], capture_output=True, env=ENV, cwd=CWD)
        print(f"the {len(deck)} deck.toml formulas in one call: "
              f"{time.perf_counter() - start:.2f} s wall, {_cpu() - cpu:.2f} s CPU")
    os.rmdir(CWD)


if __name__ == "__main__":
    main()
