"""A class of students simulated for `grade`, independent of the package.

Each student works one version of an Elman exam (one unit, tanh, L = 1/2 sum_t (o_t - y_t)^2) by
hand: every product and tanh value rounded half up to 4 decimals as it is written down, in plain
Decimal arithmetic, with mistakes seeded into the method:

- a misconception of the catalog, made at every step where it applies (derivative-index,
  missing-activation-derivative, missing-path, state-off-by-one, loss-scale, sign-error);
- a slip: 20 to 80 units added to one forward number (h_t or o_t) at a random step;
- a wrong option in the formula question (the misconception's own distractor, when the student
  has one), a flipped vanishing/exploding verdict, a Jacobian product off by 50 units;
- answers left out.

The verdict each answer must get follows from the construction and the rules of error carried
forward (README, `check`): a number equal to the exact value rounded is `ok`; a number the
seeded mistake changed, at its own step or at a step not written down on the way to it, is
`wrong` with the mistake's code (`arithmetic` for a slip); a number computed correctly from a
wrong or carried number written down (directly, or through steps not written down) is
`carried`; any other number is `rounding`. Exact values come from the same recurrences in
60-digit arithmetic (mpmath for tanh).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext

import mpmath

D = Decimal
CATALOG = ("derivative-index", "missing-activation-derivative", "missing-path",
           "state-off-by-one", "loss-scale", "sign-error")


def r(x: Decimal, d: int = 4) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return D(x).quantize(D(1).scaleb(-d), rounding=ROUND_HALF_UP)


def tanh(x: Decimal, rounded: bool) -> Decimal:
    with mpmath.workdps(70):
        value = D(mpmath.nstr(mpmath.tanh(mpmath.mpf(str(x))), 65))
    return r(value) if rounded else value


@dataclass(frozen=True)
class Version:
    """A version's numbers, read from its problem file."""

    W_xh: Decimal
    W_hh: Decimal
    W_hy: Decimal
    x: tuple[Decimal, ...]
    y: tuple[Decimal, ...]
    h0: Decimal

    @classmethod
    def from_toml(cls, raw: dict) -> Version:
        w, data = raw["weights"], raw["data"]
        return cls(D(str(w["W_xh"])), D(str(w["W_hh"])), D(str(w["W_hy"])),
                   tuple(D(str(v)) for v in data["x"]), tuple(D(str(v)) for v in data["y"]),
                   D(str(data.get("h0", 0.0))))

    @property
    def T(self) -> int:
        return len(self.x)


def graph(T: int) -> dict[str, tuple[str, ...]]:
    """What each quantity is computed from by the chain rule (by name; the network's numbers
    left out)."""
    g: dict[str, tuple[str, ...]] = {}
    for t in range(1, T + 1):
        g[f"z_{t}"] = (f"h_{t - 1}",) if t > 1 else ()
        g[f"h_{t}"] = (f"z_{t}",)
        g[f"o_{t}"] = (f"h_{t}",)
        g[f"l_{t}"] = (f"o_{t}",)
        g[f"dL/do_{t}"] = (f"o_{t}",)
    g["L"] = tuple(f"l_{t}" for t in range(1, T + 1))
    for t in range(T, 0, -1):
        g[f"dL/dh_{t}"] = (f"dL/do_{t}",) + ((f"dL/dz_{t + 1}",) if t < T else ())
        g[f"dL/dz_{t}"] = (f"dL/dh_{t}", f"h_{t}")
    for t in range(1, T + 1):
        g[f"dL/dW_hy^({t})"] = (f"dL/do_{t}", f"h_{t}")
        g[f"dL/dW_hh^({t})"] = (f"dL/dz_{t}",) + ((f"h_{t - 1}",) if t > 1 else ())
        g[f"dL/dW_xh^({t})"] = (f"dL/dz_{t}",)
    for w in ("hy", "hh", "xh"):
        g[f"dL/dW_{w}"] = tuple(f"dL/dW_{w}^({t})" for t in range(1, T + 1))
    return g


def work(v: Version, mistake: str | None = None, slip: tuple[str, int] | None = None,
         fixed: dict[str, Decimal] | None = None, exact: bool = False) -> dict[str, Decimal]:
    """Every quantity as the student computes it (rounded), or exactly (exact=True, no mistake).
    `fixed` replaces quantities by given numbers (what the student wrote down) before they are
    used: the correct method on the student's own numbers."""
    R = (lambda x: x) if exact else r
    fixed = fixed or {}
    T = v.T
    out: dict[str, Decimal] = {}

    def put(name: str, value: Decimal) -> Decimal:
        if slip is not None and slip[0] == name:
            value = value + slip[1] * D("0.0001")
        out[name] = fixed.get(name, value)
        return out[name]

    h = {0: v.h0}
    for t in range(1, T + 1):
        z = put(f"z_{t}", R(v.W_hh * h[t - 1]) + R(v.W_xh * v.x[t - 1]))
        h[t] = put(f"h_{t}", tanh(z, not exact))
        put(f"o_{t}", R(v.W_hy * h[t]))
    half = D(1) if mistake == "loss-scale" else D("0.5")
    for t in range(1, T + 1):
        e = out[f"o_{t}"] - v.y[t - 1]
        put(f"l_{t}", R(e * e))
    put("L", R(half * sum(out[f"l_{t}"] for t in range(1, T + 1))))
    for t in range(1, T + 1):
        e = out[f"o_{t}"] - v.y[t - 1]
        put(f"dL/do_{t}", R(2 * half * (-e if mistake == "sign-error" else e)))

    def prime(t):
        return 1 - R(h[t] * h[t])

    for t in range(T, 0, -1):
        g = R(v.W_hy * out[f"dL/do_{t}"])
        if t < T:
            if mistake == "derivative-index":
                g += R(v.W_hh * R(prime(t) * out[f"dL/dh_{t + 1}"]))
            elif mistake == "missing-activation-derivative":
                g += R(v.W_hh * out[f"dL/dh_{t + 1}"])
            elif mistake != "missing-path":
                g += R(v.W_hh * out[f"dL/dz_{t + 1}"])
        put(f"dL/dh_{t}", g)
        put(f"dL/dz_{t}", R(prime(t) * out[f"dL/dh_{t}"]))
    for t in range(1, T + 1):
        put(f"dL/dW_hy^({t})", R(out[f"dL/do_{t}"] * h[t]))
        state = h[t] if mistake == "state-off-by-one" else h[t - 1]
        put(f"dL/dW_hh^({t})", R(out[f"dL/dz_{t}"] * state))
        put(f"dL/dW_xh^({t})", R(out[f"dL/dz_{t}"] * v.x[t - 1]))
    for w in ("hy", "hh", "xh"):
        put(f"dL/dW_{w}", sum(out[f"dL/dW_{w}^({t})"] for t in range(1, T + 1)))
    # the Jacobian product dh_T/dh_1 = prod_{t=2..T} W_hh (1 - h_t^2)
    p = D(1)
    for t in range(2, T + 1):
        p *= v.W_hh * (1 - h[t] * h[t])
    out[f"dh_{T}/dh_1"] = p if exact else r(p)
    return out


@dataclass
class Student:
    name: str
    variant: int
    answers: dict[str, str]  # key name -> text written
    expected: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # verdict, code
    mistake: str | None = None
    slip: tuple[str, int] | None = None


def _mistaken(name: str, mistake: str | None, T: int) -> bool:
    """Whether the seeded misconception changes the formula of this quantity itself."""
    if mistake in ("derivative-index", "missing-activation-derivative", "missing-path"):
        return any(name == f"dL/dh_{t}" for t in range(1, T))
    if mistake == "state-off-by-one":
        return name.startswith("dL/dW_hh^(")
    if mistake == "loss-scale":
        return name == "L" or name.startswith("dL/do_")
    if mistake == "sign-error":
        return name.startswith("dL/do_")
    return False


def simulate(name: str, variant: int, v: Version, key: list[dict], rng: random.Random,
             p_mistake: float = 0.5, p_slip: float = 0.3, p_missing: float = 0.04,
             audited: frozenset[str] = frozenset()) -> Student:
    """One student of one version: their written answers and the verdict each must get.
    `audited`: the answers the grader audits step by step although the construction does not
    model them (the Jacobian product, once the tape names it): a number off by 50 units there
    is an `arithmetic` slip rather than outside the key's tolerance."""
    T = v.T
    mistake = rng.choice(CATALOG) if rng.random() < p_mistake else None
    slip = None
    if rng.random() < p_slip:
        slip = (rng.choice([f"{q}_{t}" for q in ("h", "o") for t in range(1, T + 1)]),
                rng.choice([-1, 1]) * rng.randint(20, 80))
    if slip is not None and all(e["quantity"] != slip[0] for e in key):
        slip = None  # not asked: no slip
    mine = work(v, mistake, slip)
    exact = work(v, exact=True)
    numbers = [e for e in key if e["tolerance"] is not None]
    # a slipped number is always written down (a slip nobody wrote is not seen as one)
    written = {e["quantity"]: mine[e["quantity"]] for e in numbers
               if (rng.random() >= p_missing or (slip and slip[0] == e["quantity"]))
               and e["quantity"] in mine}
    jac = f"dh_{T}/dh_1"
    if jac in written:  # not audited step by step: the key's value, or 50 units off it
        written[jac] = r(exact[jac]) + (D("0.0050") if rng.random() < 0.1 else 0)
    student = Student(name, variant, {k: str(val) for k, val in written.items()},
                      mistake=mistake, slip=slip)
    # each number by the correct method from the other numbers written down
    correct_on_own = {q: work(v, fixed={k: x for k, x in written.items() if k != q})[q]
                      for q in written}
    g = graph(T)
    tainted: dict[str, bool] = {}
    reach: dict[str, bool] = {}  # a mistaken step on the way, through steps not written down

    def step_reach(n: str) -> bool:
        if n not in reach:
            here = _mistaken(n, mistake, T) or (slip is not None and slip[0] == n)
            reach[n] = here or any(step_reach(i) for i in g.get(n, ()) if i not in written)
        return reach[n]

    verdicts: dict[str, tuple[str, str | None]] = {}

    def taint(n: str) -> bool:
        if n not in tainted:
            if n in written:
                tainted[n] = verdict(n)[0] in ("wrong", "carried")
            else:
                tainted[n] = any(taint(i) for i in g.get(n, ()))
        return tainted[n]

    def verdict(n: str) -> tuple[str, str | None]:
        if n not in verdicts:
            value = written[n]
            if value == r(exact[n]):
                verdicts[n] = ("ok", None)
            elif step_reach(n) and value != correct_on_own[n]:
                # changed by the mistake (if a mistake on the way changes nothing here, the
                # number is the correct method's on the student's numbers)
                code = "arithmetic" if (slip is not None and slip[0] == n) else mistake
                verdicts[n] = ("wrong", code)
            elif any(taint(i) for i in g.get(n, ())):
                verdicts[n] = ("carried", None)
            else:
                verdicts[n] = ("rounding", None)
        return verdicts[n]

    for e in numbers:
        q = e["quantity"]
        if q not in written:
            student.expected[q] = ("missing", None)
        elif q == jac:
            student.expected[q] = (("ok", None) if written[q] == r(exact[q]) else
                                   ("wrong", "arithmetic" if q in audited
                                    else "not-within-tolerance"))
        else:
            student.expected[q] = verdict(q)
    student.correct_on_own = correct_on_own  # for the construction's own sanity checks
    student.exact = exact
    student.written = written
    for e in key:
        if e["tolerance"] is not None:
            continue
        qname = f"q{e['question']}"
        if e["kind"] == "formula":
            wrong = {o["code"]: o["letter"] for o in e["options"] if not o["correct"]}
            if mistake in wrong:
                student.answers[qname] = wrong[mistake]
                student.expected[qname] = ("wrong", mistake)
            elif rng.random() < 0.1:
                code, letter = rng.choice(sorted(wrong.items()))
                student.answers[qname] = letter.lower() if rng.random() < 0.5 else letter
                student.expected[qname] = ("wrong", code)
            else:
                student.answers[qname] = e["value"]
                student.expected[qname] = ("ok", None)
        else:  # vanishing / exploding, from the exact product
            truth = "vanishing" if abs(exact[jac]) < 1 else "exploding"
            other = "exploding" if truth == "vanishing" else "vanishing"
            if rng.random() < 0.15:
                student.answers[qname] = other
                student.expected[qname] = ("wrong", "vanishing-verdict")
            else:
                student.answers[qname] = truth
                student.expected[qname] = ("ok", None)
    return student


def detectable(s: Student, T: int) -> bool:
    """Whether every seeded change is clearly visible (5 units or more, away from both the
    correct method on the student's numbers and the exact value) in the numbers written: a
    mistake that changes a number by about a rounding cannot be told from rounding, and the
    construction draws another student instead."""
    unit = D("0.0005")
    for q, (verdict, code) in s.expected.items():
        if verdict != "wrong" or code not in CATALOG + ("arithmetic",) or q not in s.written:
            continue
        value = s.written[q]
        if abs(value - s.correct_on_own[q]) < unit or abs(value - r(s.exact[q])) < unit:
            return False
    return True


def draw_class(versions: dict[int, Version], keys: dict[int, list[dict]], n: int,
               seed: int, audited: frozenset[str] = frozenset(),
               **probabilities) -> list[Student]:
    """n students over the versions (a student with an undetectable mistake is drawn again)."""
    rng = random.Random(seed)
    students = []
    while len(students) < n:
        variant = rng.choice(sorted(versions))
        v = versions[variant]
        s = simulate(f"s{len(students) + 1:03d}", variant, v, keys[variant], rng,
                     audited=audited, **probabilities)
        if detectable(s, v.T):
            students.append(s)
    return students
