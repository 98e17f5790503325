"""SymPy's LaTeX printer, configured for BPTT: quantity names in the chosen notation, and the
same formula printed again with numbers in place of the symbols (the substituted line)."""

from __future__ import annotations

import re

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import precedence_traditional

from ..model.notation import Notation


class BpttLatexPrinter(LatexPrinter):
    """Prints tape formulas; with `values`, each named symbol prints as its number instead."""

    def __init__(self, notation: Notation, values: dict[str, str] | None = None,
                 max_terms: int | None = None, **settings):
        settings.setdefault("order", "none")
        if values is not None:
            settings.setdefault("mul_symbol", "times")
        super().__init__(settings)
        self.notation = notation
        self.values = values
        self.max_terms = max_terms

    def _collapsed(self, terms) -> str | None:
        """A long sum as its first two terms, an ellipsis and its last term."""
        if self.max_terms is None or len(terms) <= self.max_terms:
            return None
        printed = [self._print(t) for t in (*terms[:2], terms[-1])]
        out = printed[0]
        for tex in (printed[1], r"\cdots", printed[2]):
            out += f" - {tex[1:]}" if tex.startswith("-") else f" + {tex}"
        return out

    def _print_Add(self, expr, order=None):  # MatAdd too: it subclasses Add
        return self._collapsed(expr.args) or super()._print_Add(expr, order)

    def _name(self, name: str, transposed: bool = False) -> str:
        # Row convention prints the transpose of each column formula: products reversed and
        # every matrix's numbers transposed, its name standing for the transposed matrix.
        if self.values is not None:
            key = name + "^T" if transposed != self.notation.row_convention else name
            if key in self.values:
                return self.values[key]
            if name in self.values:
                return self.values[name]
        return self.notation.symbol(name)

    def _print_Mul(self, expr):
        if self.notation.row_convention and not any(
                isinstance(a, sp.UnevaluatedExpr) for a in expr.args):
            return super()._print_Mul(sp.Mul(*reversed(expr.args), evaluate=False))
        return self._print_Mul_kept(expr)

    def _print_MatMul(self, expr):
        if self.notation.row_convention:
            prec = precedence_traditional(expr)
            return " ".join(self.parenthesize(a, prec, False) for a in reversed(expr.args))
        return super()._print_MatMul(expr)

    def _print_Symbol(self, expr, style="plain"):
        return self._name(expr.name)


    def _print_MatrixSymbol(self, expr, style="plain"):
        return self._name(expr.name)

    def _print_Transpose(self, expr):
        if (self.values is not None and isinstance(expr.arg, sp.MatrixSymbol)
                and expr.arg.name + "^T" in self.values):  # transposed numbers print transposed
            return self._name(expr.arg.name, transposed=True)
        if expr.arg.shape == (1, 1):  # a number's transpose is the number
            return self._print(expr.arg)
        arg = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol):
            arg = rf"\left({arg}\right)"
        return rf"{arg}^{{\top}}"

    def _print_HadamardProduct(self, expr):
        return r" \odot ".join(self.parenthesize(a, 40) for a in expr.args)

    def _print_ElementwiseApplyFunction(self, expr):
        (var,), body = expr.function.variables, expr.function.expr
        stand_in = sp.Symbol(f"@{expr.expr.name}" if isinstance(expr.expr, sp.MatrixSymbol) else "@")
        printed = self._print(expr.expr)
        inner = BpttLatexPrinter(self.notation, {**(self.values or {}), stand_in.name: printed},
                                 self.max_terms,
                                 **{k: self._settings[k] for k in ("order", "mul_symbol")})
        body = body.xreplace({var: stand_in})
        entries = expr.expr.shape[0] * expr.expr.shape[1]
        factors = [f for f in body.args if not f.is_number] if isinstance(body, sp.Mul) else []
        if entries > 1 and len(factors) > 1:
            # sigma' = sigma (1 - sigma) of a vector is entrywise: f_t \odot (1 - f_t), never
            # [numbers] \times (1 - [numbers])
            numbers = sp.Mul(*(f for f in body.args if f.is_number))
            text = r" \odot ".join(inner.parenthesize(f, precedence_traditional(body))
                                   for f in factors)
            return text if numbers == 1 else rf"{inner._print(numbers)} {text}"
        printed_body = inner.doprint(body)
        return rf"\left({printed_body}\right)" if isinstance(body, sp.Add) else printed_body

    def _print_UnevaluatedExpr(self, expr):
        return self._print(expr.args[0])

    def _print_Mul_kept(self, expr):
        # A kept coefficient (1/2 in 1/2 (l_1 + l_2)) is printed first, as people write it.
        coeffs = [a for a in expr.args if isinstance(a, sp.UnevaluatedExpr)]
        if coeffs:
            rest = [a for a in expr.args if not isinstance(a, sp.UnevaluatedExpr)]
            sep = r" \times " if self.values is not None else " "
            body = sp.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
            return sep.join([self._print(c.args[0]) for c in coeffs]
                            + [self.parenthesize(body, 50)])
        return super()._print_Mul(expr)

    def _print_Heaviside(self, expr, exp=None):
        return rf"\mathbb{{1}}\left[{self._print(expr.args[0])} > 0\right]"

    def _print_Max(self, expr, exp=None):
        return rf"\max\left({', '.join(self._print(a) for a in expr.args)}\right)"


def formula(expr, notation: Notation, max_terms: int | None = None) -> str:
    """A tape formula in symbols: `W_{hh} h_{1} + W_{xh} x_{2}`."""
    return BpttLatexPrinter(notation, None, max_terms).doprint(expr)


def substituted(expr, notation: Notation, values: dict[str, str],
                max_terms: int | None = None) -> str:
    """The same formula with numbers: `0.9 \\times 0.2913 + 0.6 \\times 0.1`."""
    return BpttLatexPrinter(notation, values, max_terms).doprint(expr)


SUM_ROW = 60  # printed characters in one row of a long sum of numbers


def matrix_sum_rows(expr, notation: Notation, values: dict[str, str], per_row: int = 2,
                    max_terms: int | None = None, scalar: bool = False) -> str | None:
    """A sum of matrices with numbers, broken after every `per_row` terms (inside align); with
    `scalar`, a long sum of numbers too (an LSTM's dL/dh_t: one term per gate)."""
    kinds = (sp.MatAdd, sp.Add) if scalar else sp.MatAdd
    if not isinstance(expr, kinds) or len(expr.args) <= per_row:
        return None
    printer = BpttLatexPrinter(notation, values, max_terms)
    terms = list(expr.args)
    if max_terms is not None and len(terms) > max_terms:
        printed = [printer._print(t) for t in terms[:2]] + [r"\cdots", printer._print(terms[-1])]
    else:
        printed = [printer._print(t) for t in terms]
    if scalar:  # as many terms to a row as fit
        return sum_rows(printed, width=SUM_ROW)
    rows = [" + ".join(printed[i:i + per_row]) for i in range(0, len(printed), per_row)]
    return r" \\ &\qquad + ".join(rows)


def sum_rows(printed: list[str], per_row: int = 2, width: int | None = None,
             measure=None, op: str | None = None) -> str:
    """Printed terms of a sum on rows of an align environment: `per_row` to a row, or with
    `width`, as many as fit in that many printed characters by `measure` (visible by default;
    at least one); a term printed with its own minus sign is subtracted, not added. With `op`
    (\\odot), factors of that product instead."""
    measure = measure or visible
    out, row = printed[0], measure(printed[0])
    for k, tex in enumerate(printed[1:], start=1):
        sign = op or ("-" if tex.startswith("-") else "+")
        size = measure(tex)
        new = row + size > width if width else k % per_row == 0
        out += (r" \\ &\qquad " if new else " ") + f"{sign} {tex if op else tex.lstrip('-')}"
        row = size if new else row + size
    return out


FUNCTION_ROW = 56  # printed characters (printed_width) of a row of numbers inside f( ... )


def function_sum_rows(expr, notation: Notation, values: dict[str, str],
                      width: int = FUNCTION_ROW) -> str | None:
    """An entrywise function of a sum of matrices with numbers, too wide for one row,
    broken inside the function: `sigma( W x + b` on one row, `+ U h + c )` on the next, each
    row's delimiters closed (an LSTM gate at hidden size 4). None for any other formula, or
    one that fits."""
    if not (isinstance(expr, ElementwiseApplyFunction) and isinstance(expr.expr, sp.MatAdd)):
        return None
    printer = BpttLatexPrinter(notation, values, None)
    printed = [printer._print(t) for t in expr.expr.args]
    if sum(map(printed_width, printed)) <= width:
        return None
    marker, plain = sp.Symbol("ARGUMENT"), BpttLatexPrinter(notation, None, None)
    head, found, tail = plain._print(expr.function(marker)).partition(plain._print(marker))
    head, tail = head.rstrip(), tail.lstrip()
    if not (found and head.endswith(r"\left(") and tail.startswith(r"\right)")):
        return None
    if head.endswith(r"{\left(") and tail.endswith("}"):  # \tanh{\left( ... \right)}: no
        head, tail = head[:-len(r"{\left(")] + r"\left(", tail[:-1]  # break inside braces
    rows = sum_rows(printed, width=width, measure=printed_width)
    return head + rows.replace(r" \\ &\qquad ", r" \right. \\ &\qquad \left. ") + tail


def product_rows(expr, notation: Notation, values: dict[str, str],
                 width: int = FUNCTION_ROW) -> str | None:
    """A Hadamard product with numbers too wide for one row, broken between its factors
    (`g \\odot (1 - n^2)` on one row, `\\odot (W h + b)` on the next: a GRU's dL/dr_t at
    hidden size 4). None for any other formula, or one that fits."""
    if not isinstance(expr, sp.HadamardProduct):
        return None
    printer = BpttLatexPrinter(notation, values, None)
    printed = [printer.parenthesize(a, 40) for a in expr.args]  # as _print_HadamardProduct
    if sum(map(printed_width, printed)) <= width:
        return None
    return sum_rows(printed, width=width, measure=printed_width, op=r"\odot")


def printed_width(tex: str) -> int:
    """A rough count of printed characters, a matrix counted by its widest entry in each column
    (visible counts every entry)."""
    def matrix(m: re.Match) -> str:
        rows = [row.split("&") for row in m[1].split(r"\\")]
        columns = zip(*(r + [""] * (max(map(len, rows)) - len(r)) for r in rows))
        return "#" * (sum(max(visible(c) for c in col) + 2 for col in columns) + 1)
    return visible(re.sub(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", matrix, tex,
                          flags=re.DOTALL))


def visible(tex: str) -> int:
    """A rough count of printed characters in a LaTeX math string."""
    tex = re.sub(r"\\(left|right|frac|partial|times|delta|ell|tanh|sigma|mathbf|top)", "#", tex)
    return len(re.sub(r"[{}\\ ]", "", tex))


def number(text: str) -> str:
    """A number for a substituted line; negative ones in parentheses so products read right."""
    return rf"\left({text}\right)" if text.startswith("-") else text


def bmatrix(cells: list[list[str]]) -> str:
    """A matrix of already formatted numbers."""
    rows = r" \\ ".join(" & ".join(row) for row in cells)
    return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"
