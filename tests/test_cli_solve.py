"""`symbolic-bptt solve` on every example: the JSON names and shapes the README documents, values
against a plain-Python BPTT written here, the arithmetic modes and their options.

Every expected number is computed in this file (floats, or decimal.Decimal for hand rounding),
from the problem file read with tomllib, never copied from the tool's output.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from conftest import EXAMPLES, PROBLEM_FILES, TRAINING_FILES, solve

PROBLEMS = PROBLEM_FILES
LAYOUT_KEYS = ("output", "loss_steps", "loss_factor", "reduction")
# the plain-Python reference below is written for the deck's loss layout; the others are
# checked against torch (test_oracle.py, test_layouts.py)
DECK_LAYOUT = [p for p in PROBLEMS
               if not any(f"\n{k} =" in p.read_text(encoding="utf-8") for k in LAYOUT_KEYS)
               and 'bias = "' not in p.read_text(encoding="utf-8")]
# exact mode grows nested formulas; these are small enough to keep the test fast
EXACT = ["deck", "relu_identity"]


def solve_json(capsys, *args) -> dict:
    code, out, err = solve(capsys, *args, "--json")
    assert (code, err) == (0, ""), err
    doc = json.loads(out)
    assert list(doc) == ["quantities"]
    return doc["quantities"]


# ---------------------------------------------------------------------------------------------
# An independent BPTT in plain Python lists


def _matrix(value):
    return [[value]] if not isinstance(value, list) else value


def _column(value, size):
    if not isinstance(value, list):
        return [value] * size
    return list(value)


def matvec(W, v):
    return [sum(w * x for w, x in zip(row, v)) for row in W]


def transpose(W):
    return [list(col) for col in zip(*W)]


def reference(raw: dict) -> dict:
    """Forward pass, loss and BPTT gradients of a problem file's table, in floats."""
    m = raw["model"]
    i, h, o = m.get("input_size", 1), m.get("hidden_size", 1), m.get("output_size", 1)
    act, loss, bias = m.get("activation", "tanh"), m.get("loss", "half_sse"), m.get("bias", False)
    w = raw["weights"]
    W_xh, W_hh, W_hy = _matrix(w["W_xh"]), _matrix(w["W_hh"]), _matrix(w["W_hy"])
    b_h = _column(w["b_h"], h) if bias else [0.0] * h
    b_y = _column(w["b_y"], o) if bias else [0.0] * o
    xs = [_column(x, i) for x in raw["data"]["x"]]
    if loss == "cross_entropy":
        ys = [[1.0 if k == c else 0.0 for k in range(o)] for c in raw["data"]["y"]]
    else:
        ys = [_column(y, o) for y in raw["data"]["y"]]
    T = len(xs)
    phi = {"tanh": math.tanh, "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
           "relu": lambda z: max(0.0, z), "identity": lambda z: z}[act]
    dphi = {"tanh": lambda z: 1 - math.tanh(z) ** 2,
            "sigmoid": lambda z: phi(z) * (1 - phi(z)),
            "relu": lambda z: 1.0 if z > 0 else 0.0, "identity": lambda z: 1.0}[act]
    hs = [_column(raw["data"].get("h0", 0.0), h)]
    zs, os_ = [None], [None]
    for t in range(1, T + 1):
        z = [a + b + c for a, b, c in zip(matvec(W_hh, hs[-1]), matvec(W_xh, xs[t - 1]), b_h)]
        zs.append(z)
        hs.append([phi(v) for v in z])
        os_.append([a + b for a, b in zip(matvec(W_hy, hs[t]), b_y)])
    out = {"L": 0.0}
    scale = {"half_sse": 0.5, "sse": 1.0, "mse": 1 / T, "cross_entropy": 1 / T}[loss]
    do = [None] * (T + 1)
    for t in range(1, T + 1):
        ot, yt = os_[t], ys[t - 1]
        if loss == "cross_entropy":
            top = max(ot)
            exps = [math.exp(v - top) for v in ot]
            soft = [e / sum(exps) for e in exps]
            out[f"l_{t}"] = -math.log(sum(s * y for s, y in zip(soft, yt)))
            do[t] = [scale * (s - y) for s, y in zip(soft, yt)]
        else:
            out[f"l_{t}"] = sum((a - b) ** 2 for a, b in zip(ot, yt))
            do[t] = [2 * scale * (a - b) for a, b in zip(ot, yt)]
        out["L"] += scale * out[f"l_{t}"]
        out[f"z_{t}"], out[f"h_{t}"], out[f"o_{t}"], out[f"dL/do_{t}"] = zs[t], hs[t], ot, do[t]
    dz_next = [0.0] * h
    grads = {"W_xh": [[0.0] * i for _ in range(h)], "W_hh": [[0.0] * h for _ in range(h)],
             "W_hy": [[0.0] * h for _ in range(o)], "b_h": [0.0] * h, "b_y": [0.0] * o}
    for t in range(T, 0, -1):
        dh = [a + b for a, b in zip(matvec(transpose(W_hy), do[t]),
                                    matvec(transpose(W_hh), dz_next))]
        dz = [dphi(z) * g for z, g in zip(zs[t], dh)]
        out[f"dL/dh_{t}"], out[f"dL/dz_{t}"] = dh, dz
        for name, g, v in (("W_xh", dz, xs[t - 1]), ("W_hh", dz, hs[t - 1]), ("W_hy", do[t], hs[t])):
            part = [[gr * vc for vc in v] for gr in g]
            out[f"dL/d{name}^({t})"] = part
            grads[name] = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(grads[name], part)]
        grads["b_h"] = [a + b for a, b in zip(grads["b_h"], dz)]
        grads["b_y"] = [a + b for a, b in zip(grads["b_y"], do[t])]
        dz_next = dz
    for name in ("W_xh", "W_hh", "W_hy") + (("b_h", "b_y") if bias else ()):
        out[f"dL/d{name}"] = grads[name]
    return out


def flat(value) -> list[float]:
    if isinstance(value, list):
        return [v for item in value for v in flat(item)]
    if isinstance(value, dict):
        return [value["value"]]
    return [value]


# ---------------------------------------------------------------------------------------------
# Names and shapes


def _layout(raw: dict) -> tuple[list[int], bool, bool, bool]:
    """The steps the loss reads, whether there is an output layer, b_h, b_y ([model] keys)."""
    m = raw["model"]
    T = len(raw["data"]["x"])
    read = m.get("loss_steps", "all")
    steps = list(range(1, T + 1)) if read == "all" else [T] if read == "last" else list(read)
    linear = m.get("output", "linear") == "linear"
    bias = m.get("bias", False)
    return steps, linear, bias in (True, "hidden"), linear and bias in (True, "output")


def documented_names(raw: dict) -> set[str]:
    """The README's list of `solve --json` names for a problem with T steps and its layout."""
    T = len(raw["data"]["x"])
    m = raw["model"]
    steps = m.get("loss_steps", "all")
    read = range(1, T + 1) if steps == "all" else [T] if steps == "last" else steps
    linear = m.get("output", "linear") == "linear"
    given = m.get("loss") == "given"
    names = {"dL/dW_hh", "dL/dW_xh"} | ({"dL/dW_hy"} if linear else set()) | \
        (set() if given else {"L"})
    for t in range(1, T + 1):
        names |= {f"z_{t}", f"h_{t}", f"dL/dh_{t}", f"dL/dz_{t}", f"dL/dW_hh^({t})",
                  f"dL/dW_xh^({t})"}
        if t in read and not given:
            names.add(f"l_{t}")
        if t in read and linear:
            names |= {f"o_{t}", f"dL/do_{t}", f"dL/dW_hy^({t})"}
    bias = m.get("bias", False)
    if bias in (True, "hidden"):
        names.add("dL/db_h")
    if bias in (True, "output") and linear:
        names.add("dL/db_y")
    return names | written_down_names(raw)


def written_down_names(raw: dict) -> set[str]:
    """The README's names for what people write down, and [training]'s."""
    T = len(raw["data"]["x"])
    steps, linear, b_h, b_y = _layout(raw)
    training = raw.get("training", {})
    k = training.get("truncate")
    names = set()
    if T > 100:  # the written-down names are for sequences people work by hand
        return names | _training_names(raw, T, steps, linear, b_h, b_y)
    if raw["model"].get("activation", "tanh") != "identity":
        names |= {f"dh_{t}/dz_{t}" for t in range(1, T + 1)}
    window = training.get("truncate_window")
    if window is None:
        names |= {f"dL/dh_{t} via {v}" for t in range(1, T)
                  if t in steps and not (k and t % k == 0)
                  for v in (f"o_{t}" if linear else f"l_{t}", f"z_{t + 1}")}
    else:  # what each step loss l_s sends back within its window
        for s in steps:
            for t in range(max(1, s - window + 1), s + 1):
                names |= {f"dL/dh_{t} from l_{s}", f"dL/dz_{t} from l_{s}"}
                names |= {f"dL/do_{t} from l_{s}"} if t == s and linear else set()
    names |= {f"dh_{t}/dh_{t - 1}" for t in range(2, T + 1)}
    if T <= 8:
        names |= {f"dh_{t}/dh_{j}" for t in range(3, T + 1) for j in range(1, t - 1)}
    return names | _training_names(raw, T, steps, linear, b_h, b_y)


def _training_names(raw: dict, T: int, steps, linear: bool, b_h: bool, b_y: bool) -> set[str]:
    training = raw.get("training", {})
    names = set()
    params = ["W_xh", "W_hh"] + (["W_hy"] if linear else []) + (["b_h"] if b_h else []) \
        + (["b_y"] if b_y else [])
    if "clip_norm" in training:
        names |= {"|g|"} | {f"clipped dL/d{p}" for p in params}
    if "learning_rate" in training:
        names |= {f"{p}'" for p in params}
    if training.get("after_update"):
        names |= {f"{q}_{t}'" for t in range(1, T + 1) for q in "zh"} | {"L'"}
        names |= {f"{q}_{t}'" for t in steps for q in ("ol" if linear else "l")}
    return names


def documented_shape(name: str, raw: dict) -> tuple[int, int]:
    m = raw["model"]
    i, h, o = m.get("input_size", 1), m.get("hidden_size", 1), m.get("output_size", 1)
    base = name.split("^")[0]
    base = base.removeprefix("clipped ").removesuffix("'").split(" via ")[0].split(" from ")[0]
    if base in ("L", "|g|") or base.startswith("l_"):
        return (1, 1)
    if base.startswith("dh_") and base.endswith(("/dz_", "/dz")) or "/dz_" in base:
        return (h, 1)
    if base.startswith("dh_"):  # a Jacobian dh_t/dh_k
        return (h, h)
    if base in ("W_xh", "W_hh", "W_hy", "b_h", "b_y"):
        base = "dL/d" + base
    if base.startswith(("z_", "h_", "dL/dh_", "dL/dz_")) or base == "dL/db_h":
        return (h, 1)
    if base.startswith(("o_", "dL/do_")) or base == "dL/db_y":
        return (o, 1)
    return {"dL/dW_xh": (h, i), "dL/dW_hh": (h, h), "dL/dW_hy": (o, h)}[base]


def assert_shaped(value, shape: tuple[int, int], matrix: bool, number):
    """A number for size 1, a list for a vector, nested row lists for a matrix."""
    rows, cols = shape
    if rows == cols == 1:
        number(value)
    elif not matrix:
        assert isinstance(value, list) and len(value) == rows
        for v in value:
            number(v)
    else:
        assert isinstance(value, list) and len(value) == rows
        for row in value:
            assert isinstance(row, list) and len(row) == cols
            for v in row:
                number(v)


def is_float(v):
    assert isinstance(v, float), v


def is_exact(v):
    assert isinstance(v, dict) and set(v) == {"value", "exact"}, v
    assert isinstance(v["value"], float) and isinstance(v["exact"], str) and v["exact"]


def read(path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_examples_are_there():
    stems = {p.stem for p in PROBLEMS}
    assert {"deck", "vector_bias", "cross_entropy", "sigmoid", "relu_identity"} <= stems


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_solve_prints_a_table_in_the_files_mode(path, capsys):
    code, out, err = solve(capsys, path)
    assert (code, err) == (0, "")
    raw = read(path)
    lines = out.splitlines()
    mode = raw.get("arithmetic", {}).get("mode", "float")
    assert f"T = {len(raw['data']['x'])}, {mode} arithmetic" in lines[0]
    assert raw.get("title", path.stem) in lines[0]
    names = [re.split(r"\s{2,}", line.strip())[0] for line in lines[1:]]
    assert set(names) == documented_names(raw)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_solve_json_has_exactly_the_documented_names_and_shapes(path, capsys):
    raw = read(path)
    q = solve_json(capsys, path, "--mode", "float")
    assert set(q) == documented_names(raw)
    names = list(q)
    # tape order: forward, then the loss, then the backward pass
    assert names.index("L") > max(names.index(n) for n in names if (n[0] in "zho" or n[:2] == "l_")
                                  and not n.endswith("'"))
    assert names.index("L") < min(names.index(n) for n in names if n.startswith("dL/"))
    for name, value in q.items():
        assert_shaped(value, documented_shape(name, raw),
                      name.removeprefix("clipped ").startswith(("dL/dW", "W"))
                      or re.fullmatch(r"dh_\d+/dh_\d+", name) is not None, is_float)


@pytest.mark.parametrize("path", [p for p in DECK_LAYOUT if p not in TRAINING_FILES],
                         ids=lambda p: p.stem)
def test_float_values_match_an_independent_bptt(path, capsys):
    expected = reference(read(path))
    q = solve_json(capsys, path, "--mode", "float")
    for name, value in expected.items():
        got, want = flat(q[name]), flat(value)
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12), (name, g, w)


@pytest.mark.parametrize("stem", EXACT)
def test_exact_mode_gives_value_and_exact_text(stem, capsys):
    path = EXAMPLES / f"{stem}.toml"
    raw = read(path)
    q = solve_json(capsys, path, "--mode", "exact")
    assert set(q) == documented_names(raw)
    expected = reference(raw)
    for name, value in q.items():
        assert_shaped(value, documented_shape(name, raw), name.startswith("dL/dW")
                      or re.fullmatch(r"dh_\d+/dh_\d+", name) is not None, is_exact)
        for g, w in zip(flat(value), flat(expected.get(name, value))):  # the rest: test_oracle
            assert math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-15), (name, g, w)


def test_exact_relu_values_are_rationals_equal_to_their_decimal(capsys):
    """relu and sse keep every number rational: the exact text is a fraction."""
    q = solve_json(capsys, EXAMPLES / "relu_identity.toml", "--mode", "exact")

    def leaves(v):
        if isinstance(v, list):
            for item in v:
                yield from leaves(item)
        else:
            yield v

    for name, value in q.items():
        for leaf in leaves(value):
            exact = Fraction(leaf["exact"])
            assert math.isclose(float(exact), leaf["value"], rel_tol=1e-12, abs_tol=1e-15), name
    # the example's first step, by hand: z_1 = W_hh h_0 + W_xh x_1
    raw = read(EXAMPLES / "relu_identity.toml")
    W_hh = [[Fraction(str(v)) for v in r] for r in raw["weights"]["W_hh"]]
    W_xh = [[Fraction(str(v)) for v in r] for r in raw["weights"]["W_xh"]]
    h0 = [Fraction(str(v)) for v in raw["data"]["h0"]]
    x1 = [Fraction(str(v)) for v in raw["data"]["x"][0]]
    z1 = [sum(a * b for a, b in zip(rw, h0)) + sum(a * b for a, b in zip(rx, x1))
          for rw, rx in zip(W_hh, W_xh)]
    assert [Fraction(v["exact"]) for v in q["z_1"]] == z1


def test_relu_example_keeps_every_pre_activation_off_the_kink():
    """relu'(0) is a convention; the example avoids it, and has units both on and off."""
    ref = reference(read(EXAMPLES / "relu_identity.toml"))
    zs = [v for t in (1, 2, 3) for v in ref[f"z_{t}"]]
    assert all(abs(v) > 1e-3 for v in zs)
    assert any(v < 0 for v in zs) and any(v > 0 for v in zs)


# ---------------------------------------------------------------------------------------------
# Rounded arithmetic, by hand with decimal.Decimal


def r(value: Decimal, places: int = 4) -> Decimal:
    """Round half up, as people do: 0.28035 -> 0.2804."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def r_tanh(z: Decimal, places: int = 4) -> Decimal:
    value = Decimal(repr(math.tanh(float(z))))
    scaled = value.scaleb(places)
    assert abs(scaled - scaled.to_integral_value() - Decimal("0.5")) > Decimal("1e-9")
    return r(value, places)


def deck_forward_by_hand(places: int) -> dict[str, Decimal]:
    """The deck's forward pass rounded at every product, sum and tanh."""
    D = Decimal
    x, W_xh, W_hh, W_hy = [D("0.5"), D("0.1"), D("0.4")], D("0.6"), D("0.9"), D("0.8")
    h = D(0)
    out = {}
    for t, xt in enumerate(x, 1):
        z = r(r(W_hh * h, places) + r(W_xh * xt, places), places)
        h = r_tanh(z, places)
        out[f"z_{t}"], out[f"h_{t}"], out[f"o_{t}"] = z, h, r(W_hy * h, places)
    return out


def test_rounded_mode_reproduces_the_deck_by_hand(capsys):
    """z_3 = 0.9 x 0.3115 + 0.6 x 0.4: 0.28035 rounds half up to 0.2804, so z_3 = 0.5204."""
    by_hand = deck_forward_by_hand(4)
    assert by_hand["h_2"] == Decimal("0.3115")
    assert Decimal("0.9") * by_hand["h_2"] == Decimal("0.28035")
    assert by_hand["z_3"] == Decimal("0.5204")
    q = solve_json(capsys, EXAMPLES / "deck.toml")  # the file says rounded, 4 decimals
    for name, value in by_hand.items():
        assert Decimal(repr(q[name])) == value, (name, q[name], value)


def test_rounded_mode_rounds_half_up_not_to_even(tmp_path, capsys):
    """0.5 x 0.1225 = 0.06125: half up gives 0.0613 (half to even would give 0.0612)."""
    path = tmp_path / "half.toml"
    path.write_text('[model]\n[data]\nx = [0.1225]\ny = [0.0]\n'
                    '[weights]\nW_xh = 0.5\nW_hh = 0.3\nW_hy = 1.0\n', encoding="utf-8")
    q = solve_json(capsys, path, "--mode", "rounded", "--decimals", "4")
    assert Decimal("0.5") * Decimal("0.1225") == Decimal("0.06125")
    assert Decimal(repr(q["z_1"])) == Decimal("0.0613")


def test_decimals_option_overrides_the_file(capsys):
    by_hand = deck_forward_by_hand(3)
    q = solve_json(capsys, EXAMPLES / "deck.toml", "--decimals", "3")
    for name, value in by_hand.items():
        assert Decimal(repr(q[name])) == value, (name, q[name], value)
    code, out, _ = solve(capsys, EXAMPLES / "deck.toml", "--decimals", "3")
    assert code == 0 and "rounded arithmetic, 3 decimals" in out.splitlines()[0]
    rows = dict(re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:])
    assert rows["h_1"] == str(by_hand["h_1"]) == "0.291"


def test_mode_option_overrides_the_file(capsys):
    """deck.toml says rounded; --mode float gives the unrounded tanh(0.3)."""
    q = solve_json(capsys, EXAMPLES / "deck.toml", "--mode", "float")
    assert math.isclose(q["h_1"], math.tanh(0.3), rel_tol=1e-15)
    code, out, _ = solve(capsys, EXAMPLES / "deck.toml", "--mode", "float")
    assert code == 0 and "float arithmetic" in out.splitlines()[0]


def test_sigmoid_example_is_rounded_by_hand(capsys):
    """sigmoid.toml carries 4 decimals; its z_1 = W_xh x_1 and o_1 = W_hy h_1 by hand."""
    raw = read(EXAMPLES / "sigmoid.toml")
    assert raw["arithmetic"] == {"mode": "rounded", "decimals": 4}
    q = solve_json(capsys, EXAMPLES / "sigmoid.toml")
    D = Decimal
    z1 = r(D(repr(raw["weights"]["W_xh"])) * D(repr(raw["data"]["x"][0])))
    assert D(repr(q["z_1"])) == z1
    sigma = 1 / (1 + math.exp(-float(z1)))
    assert abs(q["h_1"] - sigma) <= 0.0002  # the steps of 1/(1+exp(-z)) are rounded one by one
    h1 = D(repr(q["h_1"]))
    assert D(repr(q["o_1"])) == r(D(repr(raw["weights"]["W_hy"])) * h1)
    for value in flat(list(q.values())):
        assert D(repr(value)) == r(D(repr(value)))  # every value carries at most 4 decimals


# ---------------------------------------------------------------------------------------------
# Bad options


@pytest.mark.parametrize("args,mention", [
    (["--decimals", "x"], "--decimals"),
    (["--decimals", "31"], "--decimals"),
    (["--decimals", "-1"], "--decimals"),
    (["--decimals", "2.5"], "--decimals"),
    (["--mode", "foo"], "--mode"),
    (["--mode", "Exact"], "--mode"),
    (["--mode"], "--mode"),
    (["--jsn"], "--jsn"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_option_is_one_line_and_exit_2(args, mention, capsys):
    code, out, err = solve(capsys, EXAMPLES / "deck.toml", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("symbolic-bptt") and "error:" in err
    assert mention in err and "Traceback" not in err


def test_a_bad_option_end_to_end(cli):
    run = cli("solve", EXAMPLES / "deck.toml", "--mode", "foo", "--json")
    assert run.code == 2 and run.out == ""
    assert run.err.count("\n") == 1 and "--mode" in run.err and "Traceback" not in run.err


def test_solve_json_end_to_end_on_an_example(cli):
    run = cli("solve", EXAMPLES / "cross_entropy.toml", "--json")
    assert run.code == 0 and run.err == ""
    q = run.json()["quantities"]
    assert set(q) == documented_names(read(EXAMPLES / "cross_entropy.toml"))


@pytest.mark.parametrize("size", [8, 9])
def test_step_jacobians_are_named_for_states_of_at_most_8_entries(size, tmp_path, capsys):
    """dh_3/dh_2 for a hidden state of 8 entries (a 64-entry matrix, which people write down);
    none for 9 (README, "Names for what people write down")."""
    rows = [[round(0.1 * ((i + j) % 5) - 0.2, 2) for j in range(size)] for i in range(size)]
    path = tmp_path / "wide.toml"
    path.write_text(f'[model]\ncell = "elman"\nactivation = "tanh"\nhidden_size = {size}\n'
                    f'bias = false\nloss = "half_sse"\n[data]\nx = [0.5, 0.1, 0.4]\n'
                    f'y = [0.4, 0.2, 0.1]\nh0 = 0.0\n[weights]\n'
                    f'W_xh = {[[0.1 * (i % 3)] for i in range(size)]}\nW_hh = {rows}\n'
                    f'W_hy = {[[0.1] * size]}\n', encoding="utf-8")
    names = set(solve_json(capsys, str(path)))
    assert ("dh_3/dh_2" in names) == (size <= 8)
    assert "dL/dh_2 via z_3" in names  # the other written-down names stay
