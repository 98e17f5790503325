"""The formula reader's tokens: pylatexenc's LaTeX walker turned into a flat list of letters,
numbers, operators, macros and {groups}, each with its position in the source.

Shared by the formula reader (latex_in.py) and the cell-equation reader (model/equations.py).
Spacing and sizing macros (\\, \\bigl) and equation tags vanish, font macros (\\mathbf,
\\boldsymbol, \\operatorname, \\textrm, \\boxed) are transparent, \\left( \\right) and \\{ \\}
become plain brackets (\\left. and \\right| too: an invisible opening, a bar closing, as in
\\left. \\frac{\\partial J}{\\partial W} \\right|_{(i)}); an aligned block (aligned, align,
eqnarray, split, gather) is read row by row: `&` vanishes and each `\\\\` becomes a `row`
token; any other environment is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexSpecialsNode,
    LatexWalker,
    LatexWalkerParseError,
)

from ..errors import ProblemError


@dataclass(frozen=True)
class Tok:
    """kind: letter num op open close macro name group row end; `body` holds a group's tokens."""

    kind: str
    text: str
    pos: int
    body: tuple[Tok, ...] = ()

    def shown(self) -> str:
        if self.kind == "macro":
            return "\\" + self.text
        if self.kind == "group":
            return "{...}"
        if self.kind == "end":
            return "the end"
        return self.text


_SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "enspace", "thinspace", "displaystyle",
            "textstyle", "limits", "nolimits", "big", "Big", "bigg", "Bigg", "bigl", "bigr",
            "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr", "middle", "nonumber", "notag",
            "hfill", "scriptstyle", "displaylimits"}
_DROPPED_WITH_ARGUMENT = {"tag", "label", "eqref"}
_TRANSPARENT = {"mathbf", "boldsymbol", "bm", "vec", "mathit", "mathcal", "mathrm", "mathsf",
                "operatorname", "mathbb", "pmb", "textbf", "textrm", "text", "textit", "mbox",
                "mathnormal", "boxed", "mathscr"}
_WORDS = {"text", "textrm", "mbox", "textit"}  # transparent for one word (W_\textrm{hh})
_BLOCKS = {"aligned", "align", "align*", "alignat", "alignat*", "eqnarray", "eqnarray*",
           "split", "gather", "gather*", "gathered", "equation", "equation*", "multline",
           "multline*", "array"}
_BRACES = {"{": "(", "}": ")", "lbrace": "(", "rbrace": ")"}
_DELIMS = {"(", ")", "[", "]", "|", "."}


def tokenize(source: str) -> tuple[Tok, ...]:
    """The formula's tokens: letters, numbers, operators, macros and {groups}, with positions."""
    walker = LatexWalker(source, tolerant_parsing=False)
    try:
        nodes, _, _ = walker.get_latex_nodes(
            pos=0, parsing_state=walker.make_parsing_state(in_math_mode=True))
    except LatexWalkerParseError as exc:
        where = f" at position {exc.pos + 1}" if exc.pos is not None else ""
        raise ProblemError(f"cannot read the formula{where}: {exc.msg}") from None
    return tuple(_merge_delimiters(_tokens(nodes, source)))


def _tokens(nodes, source: str) -> list[Tok]:
    out: list[Tok] = []
    nodes = list(nodes or ())
    k = 0
    while k < len(nodes):
        node = nodes[k]
        k += 1
        if isinstance(node, LatexCharsNode):
            out.extend(_char_tokens(node.chars, node.pos))
        elif isinstance(node, LatexGroupNode):
            if node.delimiters == ("{", "}"):
                out.append(Tok("group", "{", node.pos, tuple(_tokens(node.nodelist, source))))
            else:
                raise token_error(Tok("op", node.delimiters[0], node.pos), "unexpected bracket",
                                  source)
        elif isinstance(node, LatexMathNode):
            out.extend(_tokens(node.nodelist, source))
        elif isinstance(node, LatexCommentNode):
            continue
        elif isinstance(node, LatexSpecialsNode):
            if node.specials_chars in ("~", "&"):
                continue
            out.append(Tok("op", node.specials_chars, node.pos))
        elif isinstance(node, LatexEnvironmentNode) and node.environmentname in _BLOCKS:
            out.extend(_tokens(node.nodelist, source))
        elif isinstance(node, LatexMacroNode):
            name = node.macroname
            args = [a for a in (node.nodeargd.argnlist if node.nodeargd else ()) if a is not None]
            if name in _SPACING:
                continue
            if name in _DROPPED_WITH_ARGUMENT:
                if not args and k < len(nodes) and isinstance(nodes[k], LatexGroupNode):
                    k += 1
                continue
            if name == "\\":
                out.append(Tok("row", "\\\\", node.pos))
                continue
            if name in _BRACES:
                text = _BRACES[name]
                out.append(Tok("open" if text == "(" else "close", text, node.pos))
                continue
            if name in _TRANSPARENT:
                if not args and k < len(nodes) and isinstance(nodes[k], LatexGroupNode):
                    args = [nodes[k]]
                    k += 1
                if name in _WORDS and args and any(
                        c.isspace() for c in source[args[0].pos:args[0].pos + args[0].len]):
                    out.append(Tok("macro", "text", node.pos))  # words: not mathematics
                    continue
                if len(args) != 1:
                    raise token_error(Tok("macro", name, node.pos), "expected one argument", source)
                inner = _tokens([args[0]], source)
                if len(inner) == 1 and inner[0].kind == "group":
                    inner = list(inner[0].body)
                letters = "".join(t.text for t in inner if t.kind == "letter")
                if len(inner) > 1 and len(letters) == len(inner):
                    out.append(Tok("name", letters, node.pos))
                else:
                    out.extend(inner)
                continue
            body = tuple(Tok("group", "{", a.pos, tuple(_tokens(
                a.nodelist if isinstance(a, LatexGroupNode) else [a], source))) for a in args)
            out.append(Tok("macro", name, node.pos, body))
        else:
            raise token_error(Tok("op", source[node.pos:node.pos + 12], node.pos),
                         "environments and other blocks are not formulas verify reads", source)
    return out


def _char_tokens(chars: str, pos: int) -> list[Tok]:
    out: list[Tok] = []
    k = 0
    while k < len(chars):
        c = chars[k]
        if c.isspace():
            k += 1
        elif c.isdigit() or (c == "." and k + 1 < len(chars) and chars[k + 1].isdigit()):
            end = k + 1
            while end < len(chars) and (chars[end].isdigit() or (
                    chars[end] == "." and end + 1 < len(chars) and chars[end + 1].isdigit())):
                end += 1
            out.append(Tok("num", chars[k:end], pos + k))
            k = end
        elif c.isalpha():
            out.append(Tok("letter", c, pos + k))
            k += 1
        else:
            kind = "open" if c in "([" else "close" if c in ")]" else "op"
            out.append(Tok(kind, c, pos + k))
            k += 1
    return out


def _merge_delimiters(tokens: list[Tok]) -> list[Tok]:
    """\\left( and \\right) become plain open/close tokens; \\| and \\lVert become norm bars."""
    out: list[Tok] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        k += 1
        if tok.kind == "macro" and tok.text in ("left", "right"):
            delim = tokens[k] if k < len(tokens) else Tok("end", "", tok.pos)
            k += 1
            text = "\\|" if delim.kind == "macro" and delim.text in ("|", "lVert", "rVert", "Vert") \
                else delim.text
            if text not in _DELIMS | {"\\|"} or delim.kind not in ("open", "close", "op", "macro"):
                raise ProblemError(f"cannot read \\{tok.text} at position {tok.pos + 1} of the "
                                   f"formula: expected a delimiter such as ( ) [ ] \\| after it")
            kind = "norm" if text == "\\|" else "open" if tok.text == "left" else "close"
            out.append(Tok(kind, text, tok.pos))
        elif tok.kind == "macro" and tok.text in ("|", "lVert", "rVert", "Vert"):
            out.append(Tok("norm", "\\|", tok.pos))
        elif tok.kind == "group":
            out.append(Tok("group", "{", tok.pos, tuple(_merge_delimiters(list(tok.body)))))
        elif tok.kind == "macro" and tok.body:
            body = tuple(Tok("group", "{", g.pos, tuple(_merge_delimiters(list(g.body))))
                         for g in tok.body)
            out.append(Tok("macro", tok.text, tok.pos, body))
        else:
            out.append(tok)
    return out


def token_error(tok: Tok, reason: str, source: str) -> ProblemError:
    if tok.kind == "end":
        return ProblemError(f"the formula ends too early: {reason}")
    return ProblemError(f"cannot read {tok.shown()} at position {tok.pos + 1} of the formula: "
                        f"{reason}")
