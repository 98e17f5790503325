"""The intermediate numbers people write down, by PyTorch autograd on a recurrence's own graph:
local derivatives d<q>_t/d<p>_t, the terms `dL/dq_t via r_s` of a sum over consumers, and
Jacobians ds_t/du_k (one step or a product), named as `solve --json` names them. The oracle of
tests/test_oracle.py, tests/test_custom_cells.py and tests/test_training.py."""

from __future__ import annotations

import re

import torch

_JACOBIAN = re.compile(r"^d(?P<q>.+?)_(?P<t>\d+)/d(?P<p>.+?)_(?P<k>\d+)$")
_VIA = re.compile(r"^dL/d(?P<q>.+?)_(?P<t>\d+) via (?P<r>.+?)_(?P<s>\d+)$")


def _grad(of, wrt, seed=None):
    (g,) = torch.autograd.grad(of, wrt, grad_outputs=seed, retain_graph=True, allow_unused=True)
    return torch.zeros_like(wrt) if g is None else g


def _depends(a, b) -> bool:
    if not a.requires_grad:
        return False
    (g,) = torch.autograd.grad(a.sum(), b, retain_graph=True, allow_unused=True)
    return g is not None and bool(g.abs().sum() > 0)


def _also_indirect(tensors: dict, r: str, s: str, q) -> bool:
    """Whether r_s reads q also through a quantity computed before it at step s."""
    before = []
    for name in tensors:
        if name == r:
            break
        if name.endswith(f"_{s}") and not name.startswith("l_"):
            before.append(tensors[name])
    return any(p is not q and _depends(p, q) and _depends(tensors[r], p) for p in before)


def named_values(names, tensors: dict[str, torch.Tensor], loss_scale: float,
                 rollout=None, upstream: dict | None = None) -> dict:
    """The value of each name of `names` that is one of these kinds; `tensors` holds each
    forward quantity `q_t` and each step loss `l_t` in the graph, with .grad filled by
    L.backward() (retain_graph=True), L = loss_scale * sum of the l_t. With several states,
    `rollout(k, u, value, t, s)` runs the steps k+1..t from step k's states with u_k = value
    and gives s_t: a Jacobian is then a partial, the other states at k held fixed. `upstream`
    (t -> tensor) holds the given upstream gradients of a loss = "given" problem. A term `via r_s` is
    left out when r_s reads q also through another quantity of step s (autograd gives only
    the total through r_s then); test_custom_cells checks that the terms add up instead. A
    local derivative dq_t/dp_t is left out likewise when q_t also reads p_t through another
    quantity of step t (h_t = tanh(p_t + q_t) with q_t = tanh(p_t): autograd's 2, not 1)."""
    out = {}
    # autograd.grad adds into the .grad of tensors that retain it: read them all first
    grads = {n: t.grad.clone() for n, t in tensors.items()
             if (t.is_leaf or t.retains_grad) and t.grad is not None}
    for name in names:
        m = _JACOBIAN.match(name)
        if m:
            q, p = tensors[f"{m['q']}_{m['t']}"], tensors[f"{m['p']}_{m['k']}"]
            if m["t"] == m["k"]:  # a local derivative: entrywise, the Jacobian's diagonal
                if _also_indirect(tensors, f"{m['q']}_{m['t']}", m["t"], p):
                    continue  # autograd's total through the step is not the local derivative
                out[name] = _grad(q.sum(), p).flatten().tolist()
            elif rollout is not None:  # several states: the others at step k held fixed
                def f(u, m=m):
                    return rollout(int(m["k"]), m["p"], u, int(m["t"]), m["q"]).flatten()
                J = torch.autograd.functional.jacobian(f, p.detach().clone())
                out[name] = J.reshape(q.numel(), p.numel()).flatten().tolist()
            else:
                rows = [_grad(q.flatten()[i], p).flatten().tolist() for i in range(q.numel())]
                out[name] = [v for r in rows for v in r]
            continue
        m = _VIA.match(name)
        if m:
            q = tensors[f"{m['q']}_{m['t']}"]
            if m["r"] == "l" and upstream is not None:  # a given dL/do_t: the loss's term itself
                out[name] = upstream[int(m["s"])].flatten().tolist()
            elif m["r"] == "l":
                out[name] = _grad(loss_scale * tensors[f"l_{m['s']}"], q).flatten().tolist()
            else:
                r = f"{m['r']}_{m['s']}"
                if _also_indirect(tensors, r, m["s"], q):
                    continue  # autograd's total through r is not r's direct term
                seed = grads.get(r)
                if seed is None:  # r_s reaches no loss: it sends nothing back
                    out[name] = torch.zeros_like(q).flatten().tolist()
                    continue
                out[name] = _grad(tensors[r], q, seed).flatten().tolist()
    return out
