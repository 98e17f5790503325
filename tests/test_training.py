"""[training]: clipping, the SGD update, the loss after it and truncated BPTT, against PyTorch
itself: torch.nn.utils.clip_grad_norm_, torch.optim.SGD, a loop with h = h.detach() every k
steps (chunks) and one graph per step loss cut k steps back (windows). On the shipped
examples and on hypothesis-drawn problems; the numbers come from torch only."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import EXAMPLES, TRAINING_FILES, flat
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from problems import problems

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.evaluate.solution import quantities
from symbolic_bptt.inputs.problem import Problem, load_problem, parse_problem, weight_shapes
from symbolic_bptt.inputs.training import Training
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")
from torch_named import named_values  # noqa: E402

F64 = torch.float64
SCALE = {"half_sse": lambda T: 0.5, "sse": lambda T: 1.0, "mse": lambda T: 1.0 / T,
         "cross_entropy": lambda T: 1.0 / T}
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def col(values):
    return torch.tensor(values, dtype=F64).reshape(-1, 1)


class Elman:
    """The Elman network of a problem in torch, float64, the parameters as leaves."""

    def __init__(self, problem: Problem):
        self.p = problem
        m = problem.model
        self.params = {n: torch.tensor(problem.weights[n], dtype=F64).requires_grad_()
                       for n in weight_shapes(m)}
        self.phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
                    "identity": lambda v: v * 1}[m.activation]

    def step(self, w, h, t):
        m = self.p.model
        z = w["W_hh"] @ h + w["W_xh"] @ col(self.p.x[t - 1]) + (w["b_h"] if m.bias else 0)
        h = self.phi(z)
        o = w["W_hy"] @ h + (w["b_y"] if m.bias else 0)
        y = col(self.p.y[t - 1])
        if m.loss == "cross_entropy":
            l_t = -torch.log_softmax(o.flatten(), dim=0)[int(torch.argmax(y))]
        else:
            l_t = ((o - y) ** 2).sum()
        return z, h, o, l_t

    def run(self, w, detach=lambda t: False, upto=None):
        """The forward pass; the state detached after every step t with detach(t)."""
        h = col(self.p.h0)
        out = {}
        for t in range(1, (upto or self.p.T) + 1):
            z, h, o, l_t = self.step(w, h, t)
            for x in (z, h, o):
                if x.requires_grad:
                    x.retain_grad()
            out |= {f"z_{t}": z, f"h_{t}": h, f"o_{t}": o, f"l_{t}": l_t}
            if detach(t):
                h = h.detach()
        return out


def torch_training(problem: Problem, names=()) -> dict[str, list[float]]:
    """Every quantity of a problem with [training], by PyTorch, named as `solve --json` does."""
    net, T, tr = Elman(problem), problem.T, problem.training
    scale = SCALE[problem.model.loss](T)
    values: dict[str, list[float]] = {}
    if tr.truncate_window is None:
        k = tr.truncate
        out = net.run(net.params, (lambda t: t % k == 0) if k else (lambda t: False))
        L = scale * sum(out[f"l_{t}"] for t in range(1, T + 1))
        L.backward(retain_graph=True)
        values |= {n: x.detach().flatten().tolist() for n, x in out.items()} | {"L": [L.item()]}
        for n, x in out.items():
            if not n.startswith("l_"):
                g = x.grad if x.grad is not None else torch.zeros_like(x)
                values[f"dL/d{n}"] = g.flatten().tolist()
        values |= named_values([n for n in names if " via " in n], out, scale)
    else:  # one graph per step loss, the state detached k steps before it
        k = tr.truncate_window
        grads: dict[str, torch.Tensor] = {}
        for s in range(1, T + 1):
            out = net.run(net.params, lambda t, s=s: t == s - k, upto=s)
            (scale * out[f"l_{s}"]).backward()
            for t in range(max(1, s - k + 1), s + 1):
                for q in ("z", "h", "o"):
                    g = out[f"{q}_{t}"].grad
                    if g is not None:  # the quantities l_s reaches
                        values[f"dL/d{q}_{t} from l_{s}"] = g.flatten().tolist()
                    key = f"dL/d{q}_{t}"
                    grads[key] = grads.get(key, 0) + (g if g is not None else 0)
        full = net.run({n: v.detach() for n, v in net.params.items()})
        L = scale * sum(full[f"l_{t}"] for t in range(1, T + 1))
        values |= {n: x.detach().flatten().tolist() for n, x in full.items()} | {"L": [L.item()]}
        for key, g in grads.items():
            shape = full[key.removeprefix("dL/d")].shape
            values[key] = (g if torch.is_tensor(g) else torch.zeros(shape, dtype=F64)
                           ).flatten().tolist()
    params = list(net.params.values())
    for n, v in net.params.items():
        values[f"dL/d{n}"] = v.grad.flatten().tolist()
    if tr.clip_norm is not None:
        values["|g|"] = [float(torch.nn.utils.clip_grad_norm_(params, tr.clip_norm))]
        for n, v in net.params.items():
            values[f"clipped dL/d{n}"] = v.grad.flatten().tolist()
    if tr.learning_rate is not None:
        torch.optim.SGD(params, lr=tr.learning_rate).step()
        for n, v in net.params.items():
            values[f"{n}'"] = v.detach().flatten().tolist()
    if tr.after_update:
        with torch.no_grad():
            after = net.run(net.params)
        values |= {f"{n}'": x.flatten().tolist() for n, x in after.items()}
        values["L'"] = [scale * sum(after[f"l_{t}"].item() for t in range(1, T + 1))]
    return values


def assert_matches(engine: dict, oracle: dict, rel: float | None = None) -> None:
    """Every quantity the oracle computes equals the engine's, and every training name and
    gradient of the engine is one the oracle computed."""
    if rel is None:
        # clip_grad_norm_ divides by |g| + 1e-6 where the tape divides by |g|: c / |g| differs
        # by about 1e-6 / |g| relative (when clipping is active)
        rel = 1e-9 if "|g|" not in oracle else 1e-9 + 4e-6 / max(oracle["|g|"][0], 1e-300)
    for name, theirs in oracle.items():
        assert name in engine, name
        ours = flat(engine[name])
        assert len(ours) == len(theirs), name
        # after the update that difference has gone through the forward pass: a little larger
        tol = rel * (100 if name.endswith("'") and "|g|" in oracle else 1)
        for a, b in zip(ours, theirs):
            assert abs(a - b) <= tol * max(abs(a), abs(b), 1.0) + 1e-12, (name, a, b)
    left = [n for n in engine if n not in oracle and "^(" not in n and " via " not in n
            and not (n.startswith("d") and "/d" in n and not n.startswith("dL/d"))]
    assert not left, left


@pytest.mark.parametrize("path", TRAINING_FILES, ids=lambda p: p.stem)
def test_every_training_example_matches_torch(cli, path):
    run = cli("solve", path, "--mode", "float", "--json")
    assert run.code == 0, run.err
    problem = load_problem(path)
    engine = run.json()["quantities"]
    assert_matches(engine, torch_training(problem, engine))


def test_the_shipped_training_examples():
    names = {p.stem for p in TRAINING_FILES}
    assert {"training_clip", "truncated"} <= names
    clip = load_problem(EXAMPLES / "training_clip.toml").training
    assert clip.clip_norm and clip.learning_rate and clip.after_update


@st.composite
def trained(draw):
    problem = draw(problems(max_T=5))
    T = problem.T
    kind = draw(st.sampled_from(["clip", "chunks", "window", "update"]))
    number = st.floats(0.05, 2, allow_nan=False)
    tr = Training(
        clip_norm=draw(number) if kind in ("clip", "update") else None,
        learning_rate=draw(number) if kind != "window" or draw(st.booleans()) else None,
        truncate=draw(st.integers(1, T + 1)) if kind == "chunks" else None,
        truncate_window=draw(st.integers(1, T + 1)) if kind == "window" else None)
    if tr.learning_rate is not None:
        tr = dataclasses.replace(tr, after_update=draw(st.booleans()))
    return dataclasses.replace(problem, training=tr)


@SETTINGS
@given(trained())
def test_random_training_problems_match_torch(problem):
    assume(problem.model.activation != "relu")  # relu' jumps at 0: both sides are right
    engine = quantities(evaluate(unroll(problem), "float"))
    assert_matches(engine, torch_training(problem, engine))


def test_clipping_scales_every_gradient_by_one_factor():
    """The global norm, not each parameter's own: clipped / unclipped is one number."""
    problem = load_problem(EXAMPLES / "training_clip.toml")
    v = quantities(evaluate(unroll(problem), "float"))
    ratios = {round(v[f"clipped dL/d{p}"] / v[f"dL/d{p}"], 12) for p in ("W_xh", "W_hh", "W_hy")}
    assert len(ratios) == 1 and ratios.pop() < 1


@pytest.mark.parametrize("table, message", [
    ({"clip_norm": 0}, "training.clip_norm must be a number > 0"),
    ({"learning_rate": "0.1"}, "training.learning_rate must be a number > 0"),
    ({"truncate": 0}, "training.truncate must be a whole number >= 1"),
    ({"truncate": 2, "truncate_window": 2}, "give one of them"),
    ({"after_update": True}, "needs training.learning_rate"),
    ({"learning_rat": 0.1}, "did you mean learning_rate?"),
    ([1], "training must be a table"),
])
def test_bad_training_tables(table, message):
    raw = {"model": {}, "data": {"x": [0.5], "y": [0.1]},
           "weights": {"W_xh": 0.5, "W_hh": 0.5, "W_hy": 0.5}, "training": table}
    with pytest.raises(ProblemError, match=message.replace("?", r"\?")):
        parse_problem(raw)


# ---------------------------------------------------------------------------------------------
# A cell of its own: the LSTM of examples/lstm_custom.toml, with every [training] key


def torch_cell_training(raw: dict, step, output: str, tr: dict) -> dict[str, list[float]]:
    """torch_training for a recurrence written in torch (tests/torch_cells.py): every state
    detached in the loop (chunks), one graph per step loss (windows), clip_grad_norm_, SGD."""
    d = raw["data"]
    T = len(d["x"])
    params = {n: (torch.tensor(v, dtype=F64) if isinstance(v, list) and isinstance(v[0], list)
                  else torch.tensor(v, dtype=F64).reshape(-1, 1)).requires_grad_()
              for n, v in raw["weights"].items()}
    init = {k[:-1]: col(v) for k, v in d.items() if k not in ("x", "y")}

    def run(w, detach=lambda t: False, upto=T):
        prev, out = dict(init), {}
        for t in range(1, upto + 1):
            qs = step(w, col(d["x"][t - 1]), prev)
            for q in qs.values():
                if q.requires_grad:
                    q.retain_grad()
            out |= {f"{n}_{t}": q for n, q in qs.items()}
            out[f"l_{t}"] = ((qs[output] - col(d["y"][t - 1])) ** 2).sum()
            prev = {n: q.detach() for n, q in qs.items()} if detach(t) else qs
        return out

    values: dict[str, list[float]] = {}
    names = [n for n in run({k: v.detach() for k, v in params.items()}, upto=1)
             if not n.startswith("l_")]
    quantities = [n.rpartition("_")[0] for n in names]
    if "truncate_window" in tr:
        k = tr["truncate_window"]
        for s in range(1, T + 1):
            out = run(params, lambda t, s=s: t == s - k, upto=s)
            (0.5 * out[f"l_{s}"]).backward()
            for t in range(max(1, s - k + 1), s + 1):
                for q in quantities:
                    g = out[f"{q}_{t}"].grad
                    key = f"dL/d{q}_{t}"
                    if g is not None:
                        prior = torch.tensor(values.get(key, [0.0] * g.numel()), dtype=F64)
                        values[key] = (prior + g.flatten()).tolist()
    else:
        k = tr.get("truncate")
        out = run(params, (lambda t: t % k == 0) if k else (lambda t: False))
        L = 0.5 * sum(out[f"l_{t}"] for t in range(1, T + 1))
        L.backward()
        for t in range(1, T + 1):
            for q in quantities:
                g = out[f"{q}_{t}"].grad
                if g is not None:
                    values[f"dL/d{q}_{t}"] = g.flatten().tolist()
    for n, v in params.items():
        values[f"dL/d{n}"] = v.grad.flatten().tolist()
    plist = list(params.values())
    if "clip_norm" in tr:
        values["|g|"] = [float(torch.nn.utils.clip_grad_norm_(plist, tr["clip_norm"]))]
        values |= {f"clipped dL/d{n}": v.grad.flatten().tolist() for n, v in params.items()}
    if "learning_rate" in tr:
        torch.optim.SGD(plist, lr=tr["learning_rate"]).step()
        values |= {f"{n}'": v.detach().flatten().tolist() for n, v in params.items()}
    if tr.get("after_update"):
        with torch.no_grad():
            after = run(params)
        values |= {f"{n}'": x.flatten().tolist() for n, x in after.items()}
        values["L'"] = [0.5 * sum(after[f"l_{t}"].item() for t in range(1, T + 1))]
    return values


@pytest.mark.parametrize("tr", [
    {"truncate": 2, "learning_rate": 0.3},
    {"truncate_window": 2},
    {"clip_norm": 0.05, "learning_rate": 0.5, "after_update": True},
], ids=["chunks", "window", "clip"])
def test_an_lstm_cell_trains_as_torch_does(tr):
    from torch_cells import lstm

    from symbolic_bptt.inputs.files import parse_toml
    raw = parse_toml((EXAMPLES / "lstm_custom.toml").read_text(encoding="utf-8"))
    raw["training"] = tr
    problem = parse_problem(raw)
    engine = quantities(evaluate(unroll(problem), "float"))
    oracle = torch_cell_training(raw, lstm, "y^", tr)
    assert set(oracle) <= set(engine)
    for name, theirs in oracle.items():
        ours = flat(engine[name])
        rel = 1e-9 + (4e-6 / oracle["|g|"][0] if "|g|" in oracle else 0)
        for a, b in zip(ours, theirs, strict=True):
            assert abs(a - b) <= rel * max(abs(a), abs(b), 1.0) + 1e-12, (name, a, b)


def test_windows_over_long_sequences_have_a_limit(cli, tmp_path):
    from symbolic_bptt.inputs.limits import MAX_WINDOW_STEPS
    T = 300
    k = MAX_WINDOW_STEPS // T + 1
    path = tmp_path / "long.toml"
    path.write_text(f"[model]\n[data]\nx = {[0.1] * T}\ny = {[0.2] * T}\n[weights]\nW_xh = 0.5\n"
                    f"W_hh = 0.5\nW_hy = 0.5\n[training]\ntruncate_window = {k}\n")
    run = cli("solve", path)
    assert run.code == 2 and "truncate_window" in run.err and "limit" in run.err
    assert len(run.err.strip().splitlines()) == 1
