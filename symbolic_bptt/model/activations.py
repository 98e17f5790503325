"""Activations as SymPy expressions, with the derivatives BPTT needs.

The derivative of an activation is stated the way lecture notes write it (tanh' = 1 - h^2, in
terms of the activation's own output); tests check each against sympy.diff of the activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Activation:
    """phi and phi' for one element; phi' is a function of h = phi(z) or of z (see `prime_of`)."""

    name: str
    phi: Callable[[sp.Expr], sp.Expr]
    prime: Callable[[sp.Expr], sp.Expr]
    prime_of: str  # "h": prime(h_t); "z": prime(z_t)
    latex: str


def _sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", sp.tanh, lambda h: 1 - h**2, "h", r"\tanh"),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda h: h * (1 - h), "h", r"\sigma"),
    # PyTorch's convention at the kink: relu'(0) = 0.
    "relu": Activation("relu", lambda z: sp.Max(0, z), lambda z: sp.Heaviside(z, 0), "z",
                       r"\operatorname{ReLU}"),
    "identity": Activation("identity", lambda z: z, lambda _v: sp.Integer(1), "h", r"\operatorname{id}"),
}
