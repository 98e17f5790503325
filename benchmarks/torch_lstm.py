"""The bar for `solve` on a gated cell: torch.nn.LSTM with autograd on the same problem, as a whole
process.

    python3 benchmarks/torch_lstm.py PROBLEM.toml

Reads an LSTM written as a custom cell in torch.nn.LSTM's conventions (examples/lstm_custom.toml's
names: W_ii ... W_ho, b_i ... b_o, the head y^_t = W_hy h_t + b_y), stacks the weights into the
module, runs it in float64 with L = 1/2 sum_t (y^_t - y_t)^2, calls backward() and prints L as JSON.
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
    hidden, inputs = len(w["W_ii"]), len(w["W_ii"][0])
    module = torch.nn.LSTM(inputs, hidden, dtype=f64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(w["W_ii"] + w["W_if"] + w["W_ig"] + w["W_io"],
                                               dtype=f64))
        module.weight_hh_l0.copy_(torch.tensor(w["W_hi"] + w["W_hf"] + w["W_hg"] + w["W_ho"],
                                               dtype=f64))
        module.bias_ih_l0.copy_(torch.tensor(w["b_i"] + w["b_f"] + w["b_g"] + w["b_o"], dtype=f64))
        module.bias_hh_l0.zero_()
    W_hy = torch.tensor(w["W_hy"], dtype=f64, requires_grad=True)
    x = torch.tensor(data["x"], dtype=f64).reshape(len(data["x"]), 1, inputs)
    y = torch.tensor(data["y"], dtype=f64)
    hs, _ = module(x)
    loss = 0.5 * (((hs.reshape(len(data["x"]), hidden) @ W_hy.T).reshape(-1) + w["b_y"] - y) ** 2
                  ).sum()
    loss.backward()
    json.dump({"quantities": {"L": loss.item()}}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
