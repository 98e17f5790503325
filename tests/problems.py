"""Random Problem objects for tests: seeded (`random_problem`) or drawn by hypothesis (`problems`).

Every value lies in [-1, 1]; cross_entropy targets are class indices. Problems go through
`parse_problem`, so they are exactly what a problem file with these numbers would give.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import strategies as st

from symbolic_bptt.inputs.problem import ACTIVATIONS, LOSSES, Problem, parse_problem

Sizes = tuple[int, int, int]  # input_size, hidden_size, output_size


def build_problem(activation: str, loss: str, T: int, sizes: Sizes, bias: bool,
                  value: Callable[[], float], index: Callable[[int], int],
                  name: str = "random") -> Problem:
    """A problem whose every number comes from `value()` and every class index from `index(K)`."""
    n_in, n_hid, n_out = sizes

    def vector(n: int) -> list[float]:
        return [value() for _ in range(n)]

    def matrix(rows: int, cols: int) -> list[list[float]]:
        return [vector(cols) for _ in range(rows)]

    if loss == "cross_entropy":
        targets: list = [index(n_out) for _ in range(T)]
    else:
        targets = [vector(n_out) for _ in range(T)]
    weights: dict = {"W_xh": matrix(n_hid, n_in), "W_hh": matrix(n_hid, n_hid),
                     "W_hy": matrix(n_out, n_hid)}
    if bias:
        weights |= {"b_h": vector(n_hid), "b_y": vector(n_out)}
    raw = {
        "model": {"activation": activation, "loss": loss, "bias": bias, "input_size": n_in,
                  "hidden_size": n_hid, "output_size": n_out},
        "data": {"x": [vector(n_in) for _ in range(T)], "y": targets, "h0": vector(n_hid)},
        "weights": weights,
    }
    return parse_problem(raw, name=name)


def random_problem(activation: str, loss: str, T: int, sizes: Sizes = (1, 1, 1),
                   bias: bool = False, seed: int = 0, decimals: int = 2) -> Problem:
    """A seeded problem with short decimals (0.37), so exact mode reads them as small rationals."""
    rng = random.Random(f"{activation}/{loss}/{T}/{sizes}/{bias}/{seed}")
    return build_problem(activation, loss, T, sizes, bias,
                         value=lambda: round(rng.uniform(-1, 1), decimals), index=rng.randrange)


@st.composite
def problems(draw, activations: tuple[str, ...] = ACTIVATIONS, losses: tuple[str, ...] = LOSSES,
             max_size: int = 3, max_T: int = 6) -> Problem:
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
