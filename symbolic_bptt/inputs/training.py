"""The [training] table: one step of training after the gradients (clipping, the SGD update,
the loss after it) and truncated BPTT (in chunks, or a window per step loss)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ProblemError

_KEYS = ("clip_norm", "learning_rate", "after_update", "truncate", "truncate_window")


@dataclass(frozen=True)
class Training:
    """What [training] asks for; None (or False) leaves a part out."""

    clip_norm: float | int | None = None  # |g| above it: every gradient scaled by clip_norm/|g|
    learning_rate: float | int | None = None  # W' = W - learning_rate * g
    after_update: bool = False  # also the forward pass and loss L' with the updated weights
    truncate: int | None = None  # chunks: the state detached at t = k, 2k, ...
    truncate_window: int | None = None  # each l_t reaches back through h_t ... h_{t-k+1}

    def cut(self, t: int) -> bool:
        """Whether the recurrent path from step t+1 back to step t is cut (chunks)."""
        return self.truncate is not None and t % self.truncate == 0


def _show(value: Any) -> str:
    from .problem import _show as show
    return show(value)


def _positive_number(value: Any, where: str):
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value <= 0:
        raise ProblemError(f"{where} must be a number > 0, got {_show(value)}")
    return value


def parse_training(table: Any) -> Training | None:
    """[training] validated (None when the file has none)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ProblemError("training must be a table [training] (clip_norm, learning_rate, "
                           f"after_update, truncate, truncate_window), got {_show(table)}")
    from .problem import _did_you_mean
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ProblemError(f"unknown key training.{unknown[0]}{_did_you_mean(unknown[0], _KEYS)}"
                           f" (expected one of: {', '.join(_KEYS)})")
    values: dict[str, Any] = {}
    for key in ("clip_norm", "learning_rate"):
        if key in table:
            values[key] = _positive_number(table[key], f"training.{key}")
    if "after_update" in table:
        if not isinstance(table["after_update"], bool):
            raise ProblemError(f"training.after_update must be true or false, got "
                               f"{_show(table['after_update'])}")
        if table["after_update"] and "learning_rate" not in table:
            raise ProblemError("training.after_update = true needs training.learning_rate "
                               "(the update whose loss L' it computes)")
        values["after_update"] = table["after_update"]
    for key in ("truncate", "truncate_window"):
        if key in table:
            k = table[key]
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ProblemError(f"training.{key} must be a whole number >= 1, got {_show(k)}")
            values[key] = k
    if "truncate" in values and "truncate_window" in values:
        raise ProblemError("training.truncate and training.truncate_window are two ways to "
                           "truncate: give one of them")
    return Training(**values)
