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
from problems import problems
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

SCALE = {"half_sse": lambda T: 0.5, "sse": lambda T: 1.0, "mse": lambda T: 1.0 / T,
         "cross_entropy": lambda T: 1.0 / T}


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
    also the intermediates of `names` (local derivatives, via terms, Jacobians)."""
    m, T = problem.model, problem.T
    f64 = torch.float64

    def column(values) -> torch.Tensor:
        return torch.tensor(values, dtype=f64).reshape(-1, 1)

    # One leaf copy of each parameter per time step: its gradient is step t's contribution.
    copies = {name: [torch.tensor(problem.weights[name], dtype=f64).requires_grad_()
                     for _ in range(T)] for name in weight_shapes(m)}
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "identity": lambda v: v * 1}[m.activation]
    h = column(problem.h0)
    out: dict[str, torch.Tensor] = {}
    steps = []
    for t in range(1, T + 1):
        w = {name: copies[name][t - 1] for name in copies}
        z = w["W_hh"] @ h + w["W_xh"] @ column(problem.x[t - 1])
        if m.bias:
            z = z + w["b_h"]
        h = phi(z)
        o = w["W_hy"] @ h + (w["b_y"] if m.bias else 0)
        y = column(problem.y[t - 1])
        if m.loss == "cross_entropy":
            loss_t = -torch.log_softmax(o.flatten(), dim=0)[int(torch.argmax(y))]
        else:
            loss_t = ((o - y) ** 2).sum()
        for tensor in (z, h, o):
            tensor.retain_grad()
        out |= {f"z_{t}": z, f"h_{t}": h, f"o_{t}": o, f"l_{t}": loss_t}
        steps.append((z, h, o))
    L = SCALE[m.loss](T) * sum(out[f"l_{t}"] for t in range(1, T + 1))
    L.backward(retain_graph=True)
    values = {name: tensor.detach().flatten().tolist() for name, tensor in out.items()}
    values["L"] = [L.item()]
    for t, (z, h, o) in enumerate(steps, start=1):
        values |= {f"dL/do_{t}": o.grad.flatten().tolist(), f"dL/dh_{t}": h.grad.flatten().tolist(),
                   f"dL/dz_{t}": z.grad.flatten().tolist()}
    for name, leaves in copies.items():
        grads = [leaf.grad for leaf in leaves]
        values[f"dL/d{name}"] = sum(grads).flatten().tolist()
        if name.startswith("W"):
            for t, grad in enumerate(grads, start=1):
                values[f"dL/d{name}^({t})"] = grad.flatten().tolist()
    return values | named_values(names, out, SCALE[m.loss](T))  # last: autograd.grad fills .grad too


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
    """(L, {z_t: array}) by a plain numpy forward pass, with `weights` overriding the problem's."""
    m = problem.model
    w = {name: np.array(v, dtype=float) for name, v in problem.weights.items()}
    w |= weights or {}
    phi = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
           "relu": lambda v: np.maximum(v, 0.0), "identity": lambda v: v}[m.activation]
    h = np.array(problem.h0, dtype=float).reshape(-1, 1)
    total, zs = 0.0, {}
    for t, (x, y) in enumerate(zip(problem.x, problem.y), start=1):
        z = w["W_hh"] @ h + w["W_xh"] @ np.array(x, dtype=float).reshape(-1, 1)
        if m.bias:
            z = z + w["b_h"]
        zs[f"z_{t}"] = z
        h = phi(z)
        o = w["W_hy"] @ h + (w["b_y"] if m.bias else 0.0)
        target = np.array(y, dtype=float).reshape(-1, 1)
        if m.loss == "cross_entropy":
            top = o.max()
            total += top + np.log(np.exp(o - top).sum()) - float(o[int(np.argmax(target)), 0])
        else:
            total += float(((o - target) ** 2).sum())
    return SCALE[m.loss](problem.T) * total, zs


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
    assert math.isclose(values["L"][0], numpy_forward(problem)[0], rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("path", UNTRAINED, ids=lambda p: p.stem)
def test_example_gradients_match_finite_differences(path):
    assert_gradients_match_finite_differences(load_problem(path))


@SETTINGS
@given(problems())
def test_random_gradients_match_finite_differences(problem):
    assume(relu_kink_free(problem, 1e-3))
    assert_gradients_match_finite_differences(problem)
