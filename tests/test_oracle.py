"""The engine against what no one here wrote: PyTorch autograd (float64) and finite differences.

Every quantity `solve --json` prints (float mode) is recomputed by an RNN built here from plain
torch operations: forward values directly, dL/do_t, dL/dh_t and dL/dz_t as the gradients of
retained intermediates, each step's contribution dL/dW^(t) as the gradient of the copy of W that
step t uses, and dL/dW as their sum. Finite differences of a numpy forward pass check the
parameter gradients once more. Numbers here never come from this package.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import EXAMPLES, PROBLEM_FILES, TRAINING_FILES, flat
from hypothesis import HealthCheck, assume, given, settings
from problems import layouts, problems
from torch_named import named_values

from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.evaluate.solution import quantities
from symbolic_bptt.inputs.problem import Problem, load_problem, weight_shapes
from symbolic_bptt.tape import unroll

try:
    import torch
except ImportError:  # the oracle extra: pip install -e '.[oracle]'
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

REL, ABS = 1e-9, 1e-12
UNTRAINED = [p for p in PROBLEM_FILES if p not in TRAINING_FILES]  # the rest: test_training
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

SCALE = {"half_sse": lambda n: 0.5, "sse": lambda n: 1.0, "mse": lambda n: 1.0 / n,
         "cross_entropy": lambda n: 1.0 / n, "bce": lambda n: 1.0 / n}


def assert_close(engine: dict[str, object], oracle: dict[str, list[float]], rel=REL, abs_=ABS):
    assert set(engine) == set(oracle), set(engine) ^ set(oracle)
    for name, value in engine.items():
        ours, theirs = flat(value), oracle[name]
        assert len(ours) == len(theirs), name
        for a, b in zip(ours, theirs):
            assert abs(a - b) <= rel * max(abs(a), abs(b)) + abs_, (name, a, b)


# ---------------------------------------------------------------------------------------------
# PyTorch


def torch_quantities(problem: Problem, names=()) -> dict[str, list[float]]:
    """Every tape quantity by PyTorch autograd, float64, named as `solve --json` names them;
    also the intermediates of `names` (local derivatives, via terms, Jacobians).

    The loss layout is read from the problem file's keys as a PyTorch user would write it: the
    output layer only at the steps the loss reads, `F.binary_cross_entropy_with_logits`, the
    factor inside or outside the sum, and `torch.autograd.backward(outputs, grad_tensors)` for a
    given upstream gradient.
    """
    m, T = problem.model, problem.T
    f64 = torch.float64
    # the steps the loss reads -> their entry of y (or dL_do), from the file's loss_steps
    steps = range(1, T + 1) if m.loss_steps == "all" else (T,) if m.loss_steps == "last" \
        else m.loss_steps
    read = {t: k for k, t in enumerate(steps)}

    def column(values) -> torch.Tensor:
        return torch.tensor(values, dtype=f64).reshape(-1, 1)

    # One leaf copy of each parameter per time step: its gradient is step t's contribution.
    copies = {name: [torch.tensor(problem.weights[name], dtype=f64).requires_grad_()
                     for _ in range(T)] for name in weight_shapes(m)}
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "identity": lambda v: v * 1}[m.activation]
    linear = m.output == "linear"
    h = column(problem.h0)
    out: dict[str, torch.Tensor] = {}
    outputs, losses, used = {}, {}, set()
    for t in range(1, T + 1):
        w = {name: copies[name][t - 1] for name in copies}
        z = w["W_hh"] @ h + w["W_xh"] @ column(problem.x[t - 1])
        used |= {("W_hh", t), ("W_xh", t)}
        if "b_h" in w:
            z = z + w["b_h"]
            used.add(("b_h", t))
        h = phi(z)
        for tensor in (z, h):
            tensor.retain_grad()
        out |= {f"z_{t}": z, f"h_{t}": h}
        if t not in read:
            continue
        if linear:
            o = w["W_hy"] @ h + (w["b_y"] if "b_y" in w else 0)
            used |= {("W_hy", t), ("b_y", t)}
            o.retain_grad()
            out[f"o_{t}"] = o
        else:
            o = h
        outputs[t] = o
        if m.loss == "given":
            continue
        y = column(problem.y[read[t]])
        if m.loss == "cross_entropy":
            raw = -torch.log_softmax(o.flatten(), dim=0)[int(torch.argmax(y))]
        elif m.loss == "bce":
            raw = torch.nn.functional.binary_cross_entropy_with_logits(o, y, reduction="sum")
        else:
            raw = ((o - y) ** 2).sum()
        losses[t] = raw
    values: dict[str, list[float]] = {}
    if m.loss == "given":
        torch.autograd.backward([outputs[t] for t in read],
                                [column(problem.upstream[k]) for t, k in read.items()],
                                retain_graph=True)
        scale = 1.0
    else:
        scale = 1.0 if m.loss in ("cross_entropy", "bce") and m.reduction == "sum" \
            else SCALE[m.loss](len(read))
        if m.loss_factor == "per_step":
            for t, raw in losses.items():
                out[f"l_{t}"] = scale * raw
            L = sum(out[f"l_{t}"] for t in read)
        else:
            out |= {f"l_{t}": raw for t, raw in losses.items()}
            L = scale * sum(losses.values())
        L.backward(retain_graph=True)
        values["L"] = [L.item()]
    values |= {name: tensor.detach().flatten().tolist() for name, tensor in out.items()}
    out_name = "o" if linear else "h"
    for name, tensor in out.items():
        base, _, t = name.partition("_")
        if base in ("z", "h", "o"):
            grad = tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)
            values[f"dL/d{base}_{t}"] = grad.flatten().tolist()
    assert all(f"dL/d{out_name}_{t}" in values for t in read)
    for name, leaves in copies.items():
        grads = [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves]
        values[f"dL/d{name}"] = sum(grads).flatten().tolist()
        if name.startswith("W"):
            for t, grad in enumerate(grads, start=1):
                if (name, t) in used:
                    values[f"dL/d{name}^({t})"] = grad.flatten().tolist()
    # last: autograd.grad fills .grad too; a term via l_t is l_t's share of L
    upstream = {t: column(problem.upstream[k]) for t, k in read.items()} \
        if m.loss == "given" else None
    return values | named_values(names, out, scale if m.loss_factor == "outside" else 1.0,
                                 upstream=upstream)


def relu_kink_free(problem: Problem, margin: float) -> bool:
    """No pre-activation within `margin` of 0 (relu' jumps there; both sides take 0 at 0)."""
    if problem.model.activation != "relu":
        return True
    zs = [v for name, v in numpy_forward(problem)[1].items() if name.startswith("z_")]
    return all(abs(v) > margin for z in zs for v in z.flatten())


@needs_torch
@pytest.mark.parametrize("path", UNTRAINED, ids=lambda p: p.stem)
def test_every_example_quantity_matches_torch(cli, path):
    run = cli("solve", path, "--mode", "float", "--json")
    assert run.code == 0, run.err
    engine = run.json()["quantities"]
    assert_close(engine, torch_quantities(load_problem(path), engine))


@needs_torch
@SETTINGS
@given(problems())
def test_every_quantity_of_random_problems_matches_torch(problem):
    assume(relu_kink_free(problem, 1e-6))
    engine = quantities(evaluate(unroll(problem), "float"))
    assert_close(engine, torch_quantities(problem, engine))


@needs_torch
@SETTINGS
@given(layouts())
def test_every_loss_layout_matches_torch(problem):
    """Bias modes, no output layer, loss on chosen steps, the factor per step, bce, reduction
    and given upstream gradients, on hypothesis-drawn problems."""
    assume(relu_kink_free(problem, 1e-6))
    engine = quantities(evaluate(unroll(problem), "float"))
    assert_close(engine, torch_quantities(problem, engine))


@needs_torch
def test_the_deck_example_exactly(cli):
    """h_1 = tanh(3/10) exactly; L, dL/dW_hy, dL/dW_hh, dL/dW_xh as the issue states them."""
    q = cli("solve", EXAMPLES / "deck.toml", "--mode", "exact", "--json").json()["quantities"]
    assert q["h_1"]["exact"] == "tanh(3/10)"
    oracle = torch_quantities(load_problem(EXAMPLES / "deck.toml"))
    stated = {"h_1": 0.2913, "L": 0.0550, "dL/dW_hy": 0.1016, "dL/dW_hh": 0.1059,
              "dL/dW_xh": 0.0993}
    for name, four_places in stated.items():
        assert round(oracle[name][0], 4) == four_places, name
        assert math.isclose(q[name]["value"], oracle[name][0], rel_tol=1e-12), name
    assert math.isclose(oracle["h_1"][0], math.tanh(0.3), rel_tol=1e-15)


# ---------------------------------------------------------------------------------------------
# Finite differences of a numpy forward pass


def numpy_forward(problem: Problem, weights: dict[str, np.ndarray] | None = None):
    """(L, {z_t: array}) by a plain numpy forward pass, with `weights` overriding the problem's.

    With a given upstream gradient g_t, L is sum_t g_t . o_t: its gradient is the backward pass
    that g_t starts."""
    m = problem.model
    w = {name: np.array(v, dtype=float) for name, v in problem.weights.items()}
    w |= weights or {}
    phi = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
           "relu": lambda v: np.maximum(v, 0.0), "identity": lambda v: v}[m.activation]
    steps = range(1, problem.T + 1) if m.loss_steps == "all" else (problem.T,) \
        if m.loss_steps == "last" else m.loss_steps
    read = {t: k for k, t in enumerate(steps)}
    h = np.array(problem.h0, dtype=float).reshape(-1, 1)
    total, zs = 0.0, {}
    for t, x in enumerate(problem.x, start=1):
        z = w["W_hh"] @ h + w["W_xh"] @ np.array(x, dtype=float).reshape(-1, 1)
        if "b_h" in w:
            z = z + w["b_h"]
        zs[f"z_{t}"] = z
        h = phi(z)
        if t not in read:
            continue
        o = w["W_hy"] @ h + w.get("b_y", 0.0) if "W_hy" in w else h
        if m.loss == "given":
            total += float((np.array(problem.upstream[read[t]]).reshape(-1, 1) * o).sum())
            continue
        target = np.array(problem.y[read[t]], dtype=float).reshape(-1, 1)
        if m.loss == "cross_entropy":
            top = o.max()
            total += top + np.log(np.exp(o - top).sum()) - float(o[int(np.argmax(target)), 0])
        elif m.loss == "bce":
            total += float((np.logaddexp(0.0, o) - target * o).sum())
        else:
            total += float(((o - target) ** 2).sum())
    if m.loss == "given":
        return total, zs
    sum_reduced = m.loss in ("cross_entropy", "bce") and m.reduction == "sum"
    return (1.0 if sum_reduced else SCALE[m.loss](len(read))) * total, zs


def finite_difference_gradients(problem: Problem, step: float = 1e-6) -> dict[str, list[float]]:
    """Central differences of L in every parameter element, row-major."""
    out = {}
    for name, value in problem.weights.items():
        base = np.array(value, dtype=float)
        grads = []
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += step
            down[index] -= step
            grads.append((numpy_forward(problem, {name: up})[0]
                          - numpy_forward(problem, {name: down})[0]) / (2 * step))
        out[f"dL/d{name}"] = grads
    return out


def assert_gradients_match_finite_differences(problem: Problem) -> None:
    values = evaluate(unroll(problem), "float").values
    fd = finite_difference_gradients(problem)
    assert set(fd) == {f"dL/d{n}" for n in weight_shapes(problem.model)}
    for name, estimates in fd.items():
        for a, b in zip(values[name], estimates, strict=True):
            assert abs(a - b) <= 1e-6 * max(1.0, abs(a)), (name, a, b)
    if problem.model.loss != "given":
        assert math.isclose(values["L"][0], numpy_forward(problem)[0], rel_tol=1e-12,
                            abs_tol=1e-15)


@pytest.mark.parametrize("path", UNTRAINED, ids=lambda p: p.stem)
def test_example_gradients_match_finite_differences(path):
    assert_gradients_match_finite_differences(load_problem(path))


@SETTINGS
@given(problems())
def test_random_gradients_match_finite_differences(problem):
    assume(relu_kink_free(problem, 1e-3))
    assert_gradients_match_finite_differences(problem)


@SETTINGS
@given(layouts())
def test_loss_layout_gradients_match_finite_differences(problem):
    assume(relu_kink_free(problem, 1e-3))
    assert_gradients_match_finite_differences(problem)
