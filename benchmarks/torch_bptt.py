"""The bar for `symbolic-bptt solve`: PyTorch autograd on the same problem, as a whole process.

    python3 benchmarks/torch_bptt.py PROBLEM.toml

Reads a tanh Elman problem without bias and with h_0 = 0 (the benchmark's problems), runs the forward
loop in float64, L = 1/2 sum_t ||o_t - y_t||^2, calls backward() and prints L and the three
weight gradients as JSON (column convention, as `solve --json`).
"""

from __future__ import annotations

import json
import sys
import tomllib

import torch


def main(path: str) -> None:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    model, data, weights = raw.get("model", {}), raw["data"], raw["weights"]
    assert model.get("loss", "half_sse") == "half_sse" and not model.get("bias", False)
    assert model.get("activation", "tanh") == "tanh" and data.get("h0", 0.0) == 0.0

    def tensor(value, grad=False):
        t = torch.tensor(value, dtype=torch.float64)
        t = t.reshape(1, 1) if t.dim() == 0 else (t.reshape(-1, 1) if t.dim() == 1 else t)
        return t.requires_grad_(grad)

    W = {name: tensor(weights[name], grad=True) for name in ("W_xh", "W_hh", "W_hy")}
    h = torch.zeros(W["W_hh"].shape[0], 1, dtype=torch.float64)
    loss = torch.zeros((), dtype=torch.float64)
    for x, y in zip(data["x"], data["y"], strict=True):
        h = torch.tanh(W["W_hh"] @ h + W["W_xh"] @ tensor(x))
        loss = loss + 0.5 * ((W["W_hy"] @ h - tensor(y)) ** 2).sum()
    loss.backward()

    def plain(t):
        return t.item() if t.numel() == 1 else t.tolist()

    out = {"L": loss.item()} | {f"dL/d{name}": plain(W[name].grad) for name in W}
    json.dump({"quantities": out}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
