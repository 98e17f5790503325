"""An Elman RNN in PyTorch, built from a problem file's [model] and nothing else of the package:
the oracle that decides the truth of the textbook corpus (textbook_corpus.py) at random points.

A Run holds one sequence of length T at random weights and data: its forward quantities, the
step losses, L, every gradient by autograd (dL/dh_t is the total derivative of L by h_t), and
Jacobians of states by states and by weights, total or immediate (one step, the earlier state
held fixed), by torch.autograd.functional.jacobian.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import torch

torch.set_default_dtype(torch.float64)

ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda z: z,
       "relu": torch.relu}


def model_of(path: Path) -> dict:
    """The problem file's [model]; for a gated cell with its sizes read off [weights]."""
    raw = tomllib.loads(Path(path).read_text())
    model = dict(raw["model"])
    if model.get("cell") in GATES:
        w = raw["weights"]
        rows = len(w["weight_ih_l0"])
        model |= {"hidden_size": rows // len(GATES[model["cell"]]),
                  "input_size": len(w["weight_ih_l0"][0]),
                  "output_size": len(w["W_hy"]) if isinstance(w["W_hy"], list) else 1}
    return model


class Run:
    """One sequence of length T of the model at random point `seed`."""

    def __init__(self, model: dict, T: int, seed: int):
        g = torch.Generator().manual_seed(1000 * seed + T)
        nx, nh, no = model["input_size"], model["hidden_size"], model["output_size"]
        self.T, self.model = T, model
        self.act = ACT[model["activation"]]
        rnd = lambda *s: (torch.rand(*s, generator=g) * 1.6 - 0.8)  # noqa: E731
        self.W = {"W_xh": rnd(nh, nx), "W_hh": rnd(nh, nh), "W_hy": rnd(no, nh)}
        if model.get("bias", True) not in (False, "none"):
            self.W |= {"b_h": rnd(nh, 1), "b_y": rnd(no, 1)}
        else:
            self.W |= {"b_h": torch.zeros(nh, 1), "b_y": torch.zeros(no, 1)}
        self.x = {t: rnd(nx, 1) for t in range(1, T + 1)}
        self.ce = model["loss"] == "cross_entropy"
        if self.ce:
            self.y = {t: torch.eye(no)[:, [int(torch.randint(no, (1,), generator=g))]]
                      for t in range(1, T + 1)}
        else:
            self.y = {t: rnd(no, 1) for t in range(1, T + 1)}
        self.h0 = rnd(nh, 1)
        self._forward()

    # the model

    def step(self, h_prev, x, W=None):
        """z_t and h_t from h_{t-1} and x_t (weights W, by default the run's)."""
        W = W or self.W
        z = W["W_xh"] @ x + W["W_hh"] @ h_prev + W["b_h"]
        return z, self.act(z)

    def out(self, h, W=None):
        W = W or self.W
        return W["W_hy"] @ h + W["b_y"]

    def step_loss(self, o, y):
        if self.ce:
            return -(y * torch.log_softmax(o, 0)).sum()
        return ((o - y) ** 2).sum()

    def scale(self):
        loss, T = self.model["loss"], self.T
        if loss == "half_sse":
            return 0.5
        if loss == "sse" or self.model.get("reduction") == "sum":
            return 1.0
        return 1.0 / T

    def _forward(self):
        W = {k: v.clone().requires_grad_(True) for k, v in self.W.items()}
        h0 = self.h0.clone().requires_grad_(True)
        z, h, o, l = {}, {0: h0}, {}, {}
        for t in range(1, self.T + 1):
            z[t], h[t] = self.step(h[t - 1], self.x[t], W)
            o[t] = self.out(h[t], W)
            l[t] = self.step_loss(o[t], self.y[t])
        L = self.scale() * sum(l.values())
        for q in (*z.values(), *h.values(), *o.values(), *l.values()):
            q.retain_grad()
        L.backward()
        d = lambda v: v.detach()  # noqa: E731
        self.z, self.h, self.o = ({k: d(v) for k, v in q.items()} for q in (z, h, o))
        self.l = {k: d(v) for k, v in l.items()}
        self.L = d(L)
        self.dz, self.dh, self.do = ({k: v.grad.detach() for k, v in q.items()}
                                     for q in (z, h, o))
        self.dl = {k: v.grad.detach() for k, v in l.items()}  # dL/dl_t
        self.dW = {k: v.grad.detach() for k, v in W.items()}

    # derived values

    def yhat(self, t):
        return torch.softmax(self.o[t], 0)

    def dl_do(self, t):
        """d l_t / d o_t: the step loss by its own output."""
        o = self.o[t].clone().requires_grad_(True)
        self.step_loss(o, self.y[t]).backward()
        return o.grad

    def jac_states(self, t, k):
        """d h_t / d h_k (total), a matrix; the identity for t = k."""
        def forward(hk):
            h = hk
            for j in range(k + 1, t + 1):
                h = self.step(h, self.x[j])[1]
            return h.reshape(-1)
        return torch.autograd.functional.jacobian(forward, self.h[k]).reshape(
            self.h[t].numel(), self.h[k].numel())

    def jac_out_state(self, t):
        """d o_t / d h_t."""
        return torch.autograd.functional.jacobian(
            lambda h: self.out(h).reshape(-1), self.h[t]).reshape(self.o[t].numel(), -1)

    def vjp_weight(self, g, t, name, quantity="h", total=False):
        """sum_i g_i d q_i(t) / d W: the vector-Jacobian product of g with the derivative of
        z_t, h_t, o_t or l_t by the weight `name`, immediate (h_{t-1}, or h_t for o_t and l_t,
        held fixed) or total (through every step)."""
        W = {k: v.clone().requires_grad_(k == name) for k, v in self.W.items()}
        if total:
            h = self.h0
            for j in range(1, t + 1):
                z, h = self.step(h, self.x[j], W)
        else:
            z, h = self.step(self.h[t - 1], self.x[t], W)
            if quantity in ("o", "l"):
                h = self.h[t]
        o = self.out(h, W)
        q = {"z": z, "h": h, "o": o, "l": self.step_loss(o, self.y[t])}[quantity]
        (g.reshape(q.shape) * q).sum().backward()
        return W[name].grad

    def per_step_grads(self, t, name):
        """d l_t / d W^(j) for j = 1..t: the derivative of the step loss l_t by the copy of the
        weight `name` used at step j alone (Goodfellow's W^(t), CS224n's |_(i))."""
        copies = [self.W[name].clone().requires_grad_(True) for _ in range(t)]
        h = self.h0
        for j in range(1, t + 1):
            W = dict(self.W) | {name: copies[j - 1]}
            h = self.step(h, self.x[j], W)[1]
        self.step_loss(self.out(h), self.y[t]).backward()
        return [c.grad for c in copies]

    def dl_dh(self, t):
        """d l_t / d h_t (through o_t)."""
        h = self.h[t].clone().requires_grad_(True)
        self.step_loss(self.out(h), self.y[t]).backward()
        return h.grad



def chains_hold(chains, atol=1e-9) -> bool:
    """True if every member of every chain equals the chain's first member."""
    for chain in chains:
        first = torch.as_tensor(chain[0], dtype=torch.float64)
        for other in chain[1:]:
            other = torch.as_tensor(other, dtype=torch.float64)
            if first.numel() != other.numel() or not torch.allclose(
                    first.reshape(-1), other.reshape(-1), atol=atol, rtol=1e-7):
                return False
    return True


# ---------------------------------------------------------------------------------------------
# Gated cells: an LSTM (torch.nn.LSTM's equations, checked against the module itself in
# test_textbook.py) and Cho's GRU (the reset gate before the matrix, which torch has no module
# for; its torch.nn.GRU sibling is checked against the module), written out in torch.

GATES = {"lstm": ("i", "f", "g", "o"), "gru_cho": ("r", "z", "n")}


class GatedRun:
    """One sequence of length T of an LSTM or Cho GRU at random point `seed`: every gate and
    state, and the total gradient of L by each, by autograd."""

    def __init__(self, model: dict, T: int, seed: int, reset_after: bool = False):
        g = torch.Generator().manual_seed(1000 * seed + T + 7)
        self.cell, self.T, self.model = model["cell"], T, model
        self.reset_after = reset_after  # torch.nn.GRU's n_t (for checking against the module)
        nx, nh, no = model["input_size"], model["hidden_size"], model["output_size"]
        rnd = lambda *s: (torch.rand(*s, generator=g) * 1.6 - 0.8)  # noqa: E731
        self.W = {"W_hy": rnd(no, nh), "b_y": rnd(no, 1)}
        for gate in GATES[self.cell]:
            self.W |= {f"W_i{gate}": rnd(nh, nx), f"W_h{gate}": rnd(nh, nh),
                       f"b_i{gate}": rnd(nh, 1), f"b_h{gate}": rnd(nh, 1)}
        self.x = {t: rnd(nx, 1) for t in range(1, T + 1)}
        self.y = {t: rnd(no, 1) for t in range(1, T + 1)}
        self.h0, self.c0 = rnd(nh, 1), rnd(nh, 1)
        self._forward()

    def step(self, prev: dict, x, W=None) -> dict:
        W = W or self.W
        pre = lambda a: W[f"W_i{a}"] @ x + W[f"b_i{a}"]  # noqa: E731
        rec = lambda a, h: W[f"W_h{a}"] @ h + W[f"b_h{a}"]  # noqa: E731
        h = prev["h"]
        if self.cell == "lstm":
            i, f = torch.sigmoid(pre("i") + rec("i", h)), torch.sigmoid(pre("f") + rec("f", h))
            gg, o = torch.tanh(pre("g") + rec("g", h)), torch.sigmoid(pre("o") + rec("o", h))
            c = f * prev["c"] + i * gg
            return {"i": i, "f": f, "g": gg, "o": o, "c": c, "h": o * torch.tanh(c)}
        r, z = torch.sigmoid(pre("r") + rec("r", h)), torch.sigmoid(pre("z") + rec("z", h))
        n = torch.tanh(pre("n") + (r * rec("n", h) if self.reset_after else rec("n", r * h)))
        return {"r": r, "z": z, "n": n, "h": (1 - z) * n + z * h}

    def _forward(self):
        W = {k: v.clone().requires_grad_(True) for k, v in self.W.items()}
        prev = {"h": self.h0.clone().requires_grad_(True), "c": self.c0.clone()}
        q: dict[int, dict] = {0: prev}
        L = 0
        for t in range(1, self.T + 1):
            q[t] = self.step(q[t - 1], self.x[t], W)
            q[t]["y^"] = W["W_hy"] @ q[t]["h"] + W["b_y"]
            L = L + 0.5 * ((q[t]["y^"] - self.y[t]) ** 2).sum()
        for t in range(1, self.T + 1):
            for v in q[t].values():
                v.retain_grad()
        L.backward()
        self.q = {t: {k: v.detach() for k, v in d.items()} for t, d in q.items()}
        self.d = {t: {k: (v.grad.detach() if v.grad is not None else torch.zeros_like(v))
                      for k, v in d.items()} for t, d in q.items() if t > 0}
        self.dW = {k: v.grad.detach() for k, v in W.items()}
        self.L = L.detach()

    def __getattr__(self, name):  # r.c[t], r.f[t]; r.dc[t] = dL/dc_t
        if name.startswith("d") and name[1:] in ("i", "f", "g", "o", "c", "h", "r", "z", "n"):
            return {t: d[name[1:]] for t, d in self.d.items()}
        if name in ("i", "f", "g", "o", "c", "h", "r", "z", "n"):
            return {t: d[name] for t, d in self.q.items() if name in d}
        raise AttributeError(name)


def _module_states(run: GatedRun, module, gates: str, state):
    """h_t of a torch.nn module with the run's weights copied in, the gates' rows stacked in
    torch's order."""
    W = run.W
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.cat([W[f"W_i{a}"] for a in gates]))
        module.weight_hh_l0.copy_(torch.cat([W[f"W_h{a}"] for a in gates]))
        module.bias_ih_l0.copy_(torch.cat([W[f"b_i{a}"] for a in gates]).reshape(-1))
        module.bias_hh_l0.copy_(torch.cat([W[f"b_h{a}"] for a in gates]).reshape(-1))
        xs = torch.stack([run.x[t].reshape(-1) for t in range(1, run.T + 1)]).unsqueeze(1)
        hs, _ = module(xs, state)
    return hs.reshape(run.T, run.model["hidden_size"])


def torch_lstm_states(run: GatedRun):
    """h_t and c_t of torch.nn.LSTM itself with the run's weights (rows i, f, g, o)."""
    lstm = torch.nn.LSTM(run.model["input_size"], run.model["hidden_size"])
    return _module_states(run, lstm, "ifgo", (run.h0.reshape(1, 1, -1),
                                              run.c0.reshape(1, 1, -1)))


def torch_gru_states(run: GatedRun):
    """h_t of torch.nn.GRU itself with the run's weights (rows r, z, n)."""
    gru = torch.nn.GRU(run.model["input_size"], run.model["hidden_size"])
    return _module_states(run, gru, "rzn", run.h0.reshape(1, 1, -1))
