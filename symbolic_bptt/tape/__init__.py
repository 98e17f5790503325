"""The tape: every forward and BPTT step of a problem, in dependency order, as SymPy formulas.

`rules` holds the data (quantities, rules over placeholder slots, steps); `build` makes the tape
of a problem from its cell's equations, deriving the backward steps.
"""

from .build import unroll
from .rules import (
                    ExplicitOps,
                    MatrixDisplayOps,
                    Quantity,
                    Rule,
                    ScalarDisplayOps,
                    Step,
                    Tape,
                    make_rule,
                    rule_display,
)

__all__ = ["ExplicitOps", "MatrixDisplayOps", "Quantity", "Rule", "ScalarDisplayOps", "Step",
           "Tape", "make_rule", "rule_display", "unroll"]
