"""Random Problem objects for tests: seeded (`random_problem`) or drawn by hypothesis (`problems`).

Every value lies in [-1, 1]; cross_entropy targets are class indices, bce targets lie in
[0, 1]. Problems go through `parse_problem`, so they are exactly what a problem file with these
numbers would give. `layouts()` draws the [model] keys of the loss layout too (bias modes,
output = "none", loss_steps, loss_factor, reduction, a given upstream gradient).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import strategies as st

from symbolic_bptt.inputs.problem import ACTIVATIONS, LOSSES, Problem, parse_problem

Sizes = tuple[int, int, int]  # input_size, hidden_size, output_size
DECK_LOSSES = ("half_sse", "sse", "mse", "cross_entropy")  # a target at every step


def build_problem(activation: str, loss: str, T: int, sizes: Sizes, bias: bool | str,
                  value: Callable[[], float], index: Callable[[int], int],
                  name: str = "random", **layout) -> Problem:
    """A problem whose every number comes from `value()` and every class index from `index(K)`;
    `layout` holds further [model] keys (output, loss_steps, loss_factor, reduction)."""
    n_in, n_hid, n_out = sizes
    linear = layout.get("output", "linear") == "linear"
    n_out = n_out if linear else n_hid

    def vector(n: int) -> list[float]:
        return [value() for _ in range(n)]

    def matrix(rows: int, cols: int) -> list[list[float]]:
        return [vector(cols) for _ in range(rows)]

    steps = layout.get("loss_steps", "all")
    n = T if steps == "all" else 1 if steps == "last" else len(steps)
    if loss == "cross_entropy":
        targets: list = [index(n_out) for _ in range(n)]
    elif loss == "bce":
        targets = [[(v + 1) / 2 for v in vector(n_out)] for _ in range(n)]
    else:
        targets = [vector(n_out) for _ in range(n)]
    weights: dict = {"W_xh": matrix(n_hid, n_in), "W_hh": matrix(n_hid, n_hid)}
    if linear:
        weights["W_hy"] = matrix(n_out, n_hid)
    if bias in (True, "hidden"):
        weights["b_h"] = vector(n_hid)
    if bias in (True, "output") and linear:
        weights["b_y"] = vector(n_out)
    model = {"activation": activation, "loss": loss, "bias": bias, "input_size": n_in,
             "hidden_size": n_hid} | ({"output_size": n_out} if linear else {}) | layout
    data = {"x": [vector(n_in) for _ in range(T)], "h0": vector(n_hid)}
    data["dL_do" if loss == "given" else "y"] = targets
    return parse_problem({"model": model, "data": data, "weights": weights}, name=name)


def random_problem(activation: str, loss: str, T: int, sizes: Sizes = (1, 1, 1),
                   bias: bool = False, seed: int = 0, decimals: int = 2) -> Problem:
    """A seeded problem with short decimals (0.37), so exact mode reads them as small rationals."""
    rng = random.Random(f"{activation}/{loss}/{T}/{sizes}/{bias}/{seed}")
    return build_problem(activation, loss, T, sizes, bias,
                         value=lambda: round(rng.uniform(-1, 1), decimals), index=rng.randrange)


@st.composite
def problems(draw, activations: tuple[str, ...] = ACTIVATIONS,
             losses: tuple[str, ...] = DECK_LOSSES, max_size: int = 3, max_T: int = 6) -> Problem:
    """Any activation, loss, bias, sizes 1..max_size, T 1..max_T, floats in [-1, 1]."""
    activation = draw(st.sampled_from(activations))
    loss = draw(st.sampled_from(losses))
    size = st.integers(1, max_size)
    n_out = draw(st.integers(2, max(2, max_size)) if loss == "cross_entropy" else size)
    sizes = (draw(size), draw(size), n_out)
    T = draw(st.integers(1, max_T))
    bias = draw(st.booleans())
    number = st.floats(-1, 1, allow_nan=False, allow_infinity=False)
    return build_problem(activation, loss, T, sizes, bias, value=lambda: draw(number),
                         index=lambda n: draw(st.integers(0, n - 1)))


@st.composite
def layouts(draw, max_size: int = 3, max_T: int = 5) -> Problem:
    """Any loss (bce and given too), bias mode, output layer, steps read and factor placement."""
    activation = draw(st.sampled_from(ACTIVATIONS))
    loss = draw(st.sampled_from(LOSSES))
    output = draw(st.sampled_from(("linear", "none")))
    size = st.integers(1, max_size)
    n_hid = draw(st.integers(2, max(2, max_size)) if loss == "cross_entropy" and
                 output == "none" else size)
    n_out = draw(st.integers(2, max(2, max_size)) if loss == "cross_entropy" else size)
    T = draw(st.integers(1, max_T))
    layout: dict = {"output": output}
    kind = draw(st.sampled_from(("all", "last", "list")))
    if kind == "list":
        layout["loss_steps"] = sorted(draw(st.sets(st.integers(1, T), min_size=1)))
    elif kind == "last":
        layout["loss_steps"] = "last"
    if loss != "given":
        layout["loss_factor"] = draw(st.sampled_from(("outside", "per_step")))
    if loss in ("cross_entropy", "bce"):
        layout["reduction"] = draw(st.sampled_from(("mean", "sum")))
    bias = draw(st.sampled_from((True, False, "hidden", "output")))
    number = st.floats(-1, 1, allow_nan=False, allow_infinity=False)
    return build_problem(activation, loss, T, (draw(size), n_hid, n_out), bias,
                         value=lambda: draw(number), index=lambda n: draw(st.integers(0, n - 1)),
                         **layout)
