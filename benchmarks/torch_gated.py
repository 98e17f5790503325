"""The bar for `solve` on the shipped gated cells: torch.nn.LSTM / torch.nn.GRU with autograd on
the same problem, as a whole process.

    python3 benchmarks/torch_gated.py PROBLEM.toml

Reads a problem over `cell = "lstm"` or `"gru"` whose [weights] are a pasted state_dict
(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0) and the head W_hy, b_y; runs the module in
float64 with L = 1/2 sum_t ||y^_t - y_t||^2, calls backward() and prints L and the parameter
gradients as JSON, by `solve --json`'s names (what `solve --gradients` prints).
"""

from __future__ import annotations

import json
import sys
import tomllib

import torch


def main(path: str) -> None:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    w, data = raw["weights"], raw["data"]
    f64 = torch.float64
    inputs, hidden = len(w["weight_ih_l0"][0]), len(w["weight_hh_l0"][0])
    kind = torch.nn.LSTM if raw["model"]["cell"] == "lstm" else torch.nn.GRU
    module = kind(inputs, hidden, dtype=f64)
    module.load_state_dict({k: torch.tensor(v, dtype=f64) for k, v in w.items()
                            if k.endswith("l0")})
    W_hy = torch.tensor(w["W_hy"], dtype=f64, requires_grad=True)
    b_y = torch.tensor(w["b_y"], dtype=f64, requires_grad=True)
    T = len(data["x"])
    x = torch.tensor(data["x"], dtype=f64).reshape(T, 1, inputs)
    y = torch.tensor(data["y"], dtype=f64).reshape(T, -1)
    state = [torch.tensor(data["h0"], dtype=f64).reshape(1, 1, hidden)]
    if kind is torch.nn.LSTM:
        state.append(torch.tensor(data["c0"], dtype=f64).reshape(1, 1, hidden))
    hs, _ = module(x, tuple(state) if len(state) > 1 else state[0])
    loss = 0.5 * ((hs.reshape(T, hidden) @ W_hy.T + b_y - y) ** 2).sum()
    loss.backward()
    out = {"L": loss.item()}
    gates = "ifgo" if kind is torch.nn.LSTM else "rzn"
    for side in "ih":  # weight_ih_l0 stacks W_ii, W_if, ... by gate: solve's names, split
        weight = getattr(module, f"weight_{side}h_l0").grad.chunk(len(gates))
        bias = getattr(module, f"bias_{side}h_l0").grad.chunk(len(gates))
        for gate, w, b in zip(gates, weight, bias):
            out[f"dL/dW_{side}{gate}"] = w.tolist()
            out[f"dL/db_{side}{gate}"] = b.tolist()
    out["dL/dW_hy"], out["dL/db_y"] = W_hy.grad.tolist(), b_y.grad.item()
    json.dump({"quantities": out}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
