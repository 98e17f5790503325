"""The documented limits on input sizes (README, "Limits"), checked before any work starts.

Each covers every real use of the tool with room; a larger input is one error line naming the
limit. They are constants here, so raising one is a one-line change.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000       # a problem, claims or exam file
MAX_FORMULA_CHARS = 5_000        # a verify formula (--latex or --sympy)
MAX_FORMULA_NODES = 2_000        # parts of a formula (numbers, names, operations)
MAX_FORMULA_DEPTH = 100          # nesting of brackets and calls in a formula
MAX_NUMBER_DIGITS = 100          # digits of a number in a formula
MAX_EXPONENT = 64                # an exponent in a formula
MAX_VERIFY_T = 50                # verify --max-T
MAX_FUNCTION_NESTING = 6           # tanh(tanh(...)) in a formula: SymPy slows down steeply beyond
MAX_NOTATION_CHARS = 200         # one [notation] value
MAX_NOTATION_DEPTH = 10          # braces nested in a [notation] value
