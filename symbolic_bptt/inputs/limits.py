"""The documented limits on input sizes (README, "Limits"), checked before any work starts.

Each covers every real use of the tool with room; a larger input is one error line naming the
limit. They are constants here, so raising one is a one-line change.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000       # a problem, claims or exam file
MAX_CLASS_BYTES = 200_000_000    # grade: a class's answers (a Moodle report repeats each
                                 #   question's text), and the exam folder's key.json, moodle.xml
MAX_FORMULA_CHARS = 5_000        # a verify formula (--latex or --sympy)
MAX_FORMULA_NODES = 2_000        # parts of a formula (numbers, names, operations)
MAX_FORMULA_DEPTH = 100          # nesting of brackets and calls in a formula
MAX_NUMBER_DIGITS = 100          # digits of a number in a formula
MAX_EXPONENT = 64                # an exponent in a formula
MAX_VERIFY_T = 50                # verify --max-T
MAX_FUNCTION_NESTING = 6           # tanh(tanh(...)) in a formula: SymPy slows down steeply beyond
MAX_NOTATION_CHARS = 200         # one [notation] value
MAX_NOTATION_DEPTH = 10          # braces nested in a [notation] value
MAX_TEXT_CHARS = 2_000           # a title, author, course or other text (instructions: 20,000)
MAX_T = 10_000                   # sequence length of a problem (float and rounded arithmetic)
MAX_T_DOCUMENT = 1_000           # sequence length in a document (render, check --report)
MAX_T_EXACT = 6                  # sequence length in exact arithmetic (closed forms nest)
MAX_SIZE = 32                    # any size of a model: input, hidden, output
MAX_SIZE_EXACT = 8               # any size in exact arithmetic
MAX_WORK = 300_000               # T x (largest size)^2: the entries the tape computes, roughly
                                 #   (hidden size 16 at T = 1,000: about 3 s and 300 MB with --json)
MAX_T_EXAM = 50                  # sequence length an exam may draw
MAX_TRIES = 100_000              # [reject] max_tries of an exam
MAX_VARIANTS = 999               # versions of an exam
MAX_WINDOW_STEPS = 20_000        # [training] truncate_window: T x min(k, T) per-loss steps


def check_sequence(T: int) -> None:
    """Refuse a sequence longer than MAX_T before its numbers are read."""
    if T > MAX_T:
        raise _limit(f"the sequence has T = {T:,} steps, more than the limit of {MAX_T:,}")


def check_sizes(T: int, size: int, mode: str | None = None, document: bool = False) -> None:
    """Refuse a problem whose sizes (`size`: its largest dimension) the mode or a document
    cannot handle in reasonable time, naming the limit."""
    if size > MAX_SIZE:
        raise _limit(f"a size of the model is {size}, more than the limit of {MAX_SIZE}")
    if T * size * size > MAX_WORK:
        raise _limit(f"T x size^2 = {T:,} x {size}^2 is more than the limit of {MAX_WORK:,}")
    if mode == "exact" and (T > MAX_T_EXACT or size > MAX_SIZE_EXACT):
        raise _limit(f"exact arithmetic is limited to T <= {MAX_T_EXACT} and sizes <= "
                     f"{MAX_SIZE_EXACT} (this problem: T = {T}, size {size}); use --mode float "
                     "or rounded")
    if document and T > MAX_T_DOCUMENT:
        raise _limit(f"a document is limited to T <= {MAX_T_DOCUMENT:,} (this problem: T = "
                     f"{T:,}); solve and check have no such limit below {MAX_T:,}")


def check_text(value: str, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    """User text for documents: no control characters but newlines and tabs, at most `limit`
    characters; `where` names the key in the error."""
    from ..errors import quoted

    if len(value) > limit:
        raise _limit(f"{where} has {len(value):,} characters, more than the limit of {limit:,}")
    bad = next((c for c in value if (ord(c) < 32 and c not in "\n\t\r") or 127 <= ord(c) < 160
                or c in "\u2028\u2029"), None)
    if bad is not None:
        raise _error(f"{where} holds the control character {quoted(bad)}")
    return value


def check_window(T: int, k: int) -> None:
    """Refuse truncation in windows whose per-loss backward passes would be too many steps."""
    if T * min(k, T) > MAX_WINDOW_STEPS:
        raise _limit(f"training.truncate_window = {k} over T = {T:,} steps is T x k = "
                     f"{T * min(k, T):,} per-loss steps, more than the limit of "
                     f"{MAX_WINDOW_STEPS:,}; use a smaller window or truncate (chunks)")


def _limit(message: str):
    return _error(message + " (the limits are in the README, section \"Limits\")")


def _error(message: str):
    from ..errors import ProblemError

    return ProblemError(message)
MAX_CLAIM_DIGITS = 12              # digits before the point of a claimed number (30 after it)
