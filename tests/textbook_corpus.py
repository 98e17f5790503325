"""Published BPTT formulas in their printed LaTeX, each with its source, the problem file of its
model (tests/data/textbook/) and its truth decided by PyTorch (textbook_oracle.py): every member
of each chain computed independently at random points for T = 1..4 and every t the formula names.

`ts`: "t" (every t = 1..T), "t<T" (a recursion in t+1), "none" (no free t), or "T=3" (a literal
step: checked at T = 3 only). `symbols`: extra [symbols] the entry's problem file declares (as
a student would for a source whose letters the preset does not hold). Entries marked `wrong`
are the mistakes real notes make: some are printed so (the DanielMikkers notes swap V and W),
others are a published formula with the named slip applied (their source says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from textbook_oracle import Run

D2L = "d2l.ai, Backpropagation Through Time (d2l-en chapter_recurrent-neural-networks/bptt.md)"
GF = "Goodfellow, Bengio, Courville, Deep Learning, sec. 10.2.2"
BRITZ = "Britz, WildML RNN tutorial part 3 (2015)"
CS224N = "Stanford CS224n lecture 6 notes (public student notes)"
MIKKERS = "DanielMikkers/NeuralNetwork_lib README (public notes after Goodfellow 10.2.2)"
CERISARA = "cerisara/courses RNN notes (after Britz)"
KOREAN = "public CS231n/CS224n study notes (Korean), 'Gradient flow in RNN'"
CS224N_A = "CS224n assignment 2 solution notes (public), 3b"
KJO = "KJO144/recurrent_neural_net notes.ipynb (public notes after Britz), component form"
COMPPHYS = "CompPhysics MachineLearning lecture notes, week 45 (after Goodfellow 10.2.2)"
D2L_GENERIC = D2L + ", its generic section: f(x_t, h_{t-1}, w_h), g(h_t, w_o)"
D2L_2019 = "d2l.ai's 2019 text of the same section (d2l-en commit fd96b467): \\partial_{w_h} forms"
D2L_LSTM = "d2l.ai, Long Short-Term Memory (d2l-en chapter_recurrent-modern/lstm.md)"
D2L_GRU = "d2l.ai, Gated Recurrent Units (d2l-en chapter_recurrent-modern/gru.md)"
COLAH = ("colah, Understanding LSTM Networks (2015), its equations as public notes transcribe "
         "them (tkachenko-style: W_f \\cdot [h_{t-1}, x_t], * entrywise)")
NOTES_LSTM = ("saikrishnaponnam/Machine-Learning docs/lstm.md (public notes after colah), "
              "Backward Pass")


@dataclass(frozen=True)
class Entry:
    id: str
    source: str
    problem: str  # file in tests/data/textbook/
    latex: str
    truth: object  # (run, t) -> list of chains (lists of tensors)
    ts: str = "t"
    symbols: dict = field(default_factory=dict)
    partial: str | None = None  # the [symbols] partial = declaration the formula needs
    note: str = ""


def _sum(xs):
    xs = list(xs)
    return sum(xs[1:], xs[0]) if xs else torch.zeros(1)


def _tr(m):
    return m.T


def _dW(r, name):
    return r.dW[name]


def _sig(v):
    return torch.sigmoid(v)


def _gate(r, t, a, fn=torch.sigmoid, h=None):
    """A gate of the gated run r at step t from its weights (h: the recurrent input)."""
    W = r.W
    h = r.h[t - 1] if h is None else h
    return fn(W[f"W_i{a}"] @ r.x[t] + W[f"b_i{a}"] + W[f"W_h{a}"] @ h + W[f"b_h{a}"])


def _tot(r, t):
    """dh_t/dw_h through every step (0 for h_0, which is data)."""
    return r.vjp_weight(torch.ones(1), t, "W_hh", "h", True) if t else torch.zeros(1, 1)


def _imm(r, t):
    """df(x_t, h_{t-1}, w_h)/dw_h: step t alone."""
    return r.vjp_weight(torch.ones(1), t, "W_hh", "h")


def _expansion(r, t):
    out = _imm(r, t)
    for i in range(1, t):
        prod = torch.ones(1, 1)
        for j in range(i + 1, t + 1):
            prod = prod @ r.jac_states(j, j - 1)
        out = out + prod @ _imm(r, i)
    return out


def _dc(r, t):
    """dL/dc_t by its two paths: through h_t, and through c_{t+1} and the forget gate."""
    return r.dh[t] * r.o[t] * (1 - torch.tanh(r.c[t]) ** 2) + r.dc[t + 1] * r.f[t + 1]


def _britz_sum(r, printed_order=False):
    """sum_{k=1}^{3} (dE_3/ds_3 ds_3/ds_k) ds_k/dW, each ds_k/dW immediate (s_0 has none);
    `printed_order`: ds_3/ds_k as the product of one-step Jacobians in increasing j."""
    g = r.dl_dh(3)

    def jac(k):
        if not printed_order:
            return r.jac_states(3, k)
        out = torch.eye(r.h[3].numel())
        for j in range(k + 1, 4):
            out = out @ r.jac_states(j, j - 1)
        return out
    return _sum(r.vjp_weight(jac(k).T @ g, k, "W_hh") for k in range(1, 4))


ENTRIES: list[Entry] = [
    # --- d2l: a linear RNN, no biases, L = 1/T sum l(o_t, y_t)
    Entry("d2l-forward", D2L, "d2l.toml",
          r"\begin{aligned}\mathbf{h}_t &= \mathbf{W}_\textrm{hx} \mathbf{x}_t + "
          r"\mathbf{W}_\textrm{hh} \mathbf{h}_{t-1},\\\mathbf{o}_t &= \mathbf{W}_\textrm{qh} "
          r"\mathbf{h}_{t},\end{aligned}",
          lambda r, t: [[r.h[t], r.W["W_xh"] @ r.x[t] + r.W["W_hh"] @ r.h[t - 1]],
                        [r.o[t], r.W["W_hy"] @ r.h[t]]]),
    Entry("d2l-loss", D2L, "d2l.toml",
          r"L = \frac{1}{T} \sum_{t=1}^T l(\mathbf{o}_t, y_t).",
          lambda r, t: [[r.L, _sum(r.l.values()) / r.T]], ts="none"),
    Entry("d2l-dL/do", D2L, "d2l.toml",
          r"\frac{\partial L}{\partial \mathbf{o}_t} =  \frac{\partial l (\mathbf{o}_t, y_t)}"
          r"{T \cdot \partial \mathbf{o}_t} \in \mathbb{R}^q.",
          lambda r, t: [[r.do[t], r.dl_do(t) / r.T]]),
    Entry("d2l-dL/dW_qh", D2L, "d2l.toml",
          r"\frac{\partial L}{\partial \mathbf{W}_\textrm{qh}} = \sum_{t=1}^T \textrm{prod}\left("
          r"\frac{\partial L}{\partial \mathbf{o}_t}, \frac{\partial \mathbf{o}_t}{\partial "
          r"\mathbf{W}_\textrm{qh}}\right) = \sum_{t=1}^T \frac{\partial L}{\partial \mathbf{o}_t} "
          r"\mathbf{h}_t^\top,",
          lambda r, t: [[_dW(r, "W_hy"),
                         _sum(r.vjp_weight(r.do[s], s, "W_hy", "o") for s in range(1, r.T + 1)),
                         _sum(r.do[s] @ r.h[s].T for s in range(1, r.T + 1))]], ts="none"),
    Entry("d2l-dL/dh_T", D2L, "d2l.toml",
          r"\frac{\partial L}{\partial \mathbf{h}_T} = \textrm{prod}\left(\frac{\partial L}"
          r"{\partial \mathbf{o}_T}, \frac{\partial \mathbf{o}_T}{\partial \mathbf{h}_T} \right) = "
          r"\mathbf{W}_\textrm{qh}^\top \frac{\partial L}{\partial \mathbf{o}_T}.",
          lambda r, t: [[r.dh[r.T], r.jac_out_state(r.T).T @ r.do[r.T],
                         r.W["W_hy"].T @ r.do[r.T]]], ts="none"),
    Entry("d2l-recursion", D2L, "d2l.toml",
          r"\frac{\partial L}{\partial \mathbf{h}_t} = \textrm{prod}\left(\frac{\partial L}"
          r"{\partial \mathbf{h}_{t+1}}, \frac{\partial \mathbf{h}_{t+1}}{\partial \mathbf{h}_t} "
          r"\right) + \textrm{prod}\left(\frac{\partial L}{\partial \mathbf{o}_t}, \frac{\partial "
          r"\mathbf{o}_t}{\partial \mathbf{h}_t} \right) = \mathbf{W}_\textrm{hh}^\top \frac{"
          r"\partial L}{\partial \mathbf{h}_{t+1}} + \mathbf{W}_\textrm{qh}^\top \frac{\partial L}"
          r"{\partial \mathbf{o}_t}.",
          lambda r, t: [[r.dh[t],
                         r.jac_states(t + 1, t).T @ r.dh[t + 1] + r.jac_out_state(t).T @ r.do[t],
                         r.W["W_hh"].T @ r.dh[t + 1] + r.W["W_hy"].T @ r.do[t]]], ts="t<T"),
    Entry("d2l-expansion", D2L, "d2l.toml",
          r"\frac{\partial L}{\partial \mathbf{h}_t}= \sum_{i=t}^T {\left(\mathbf{W}_\textrm{hh}"
          r"^\top\right)}^{T-i} \mathbf{W}_\textrm{qh}^\top \frac{\partial L}{\partial "
          r"\mathbf{o}_{T+t-i}}.",
          lambda r, t: [[r.dh[t], _sum(torch.linalg.matrix_power(r.W["W_hh"].T, r.T - i)
                                       @ r.W["W_hy"].T @ r.do[r.T + t - i]
                                       for i in range(t, r.T + 1))]]),
    Entry("d2l-dL/dW_hx,hh", D2L, "d2l.toml",
          r"\begin{aligned}" "\n"
          r"\frac{\partial L}{\partial \mathbf{W}_\textrm{hx}}" "\n"
          r"&= \sum_{t=1}^T \textrm{prod}\left(\frac{\partial L}{\partial \mathbf{h}_t}, \frac{"
          r"\partial \mathbf{h}_t}{\partial \mathbf{W}_\textrm{hx}}\right)" "\n"
          r"= \sum_{t=1}^T \frac{\partial L}{\partial \mathbf{h}_t} \mathbf{x}_t^\top,\\" "\n"
          r"\frac{\partial L}{\partial \mathbf{W}_\textrm{hh}}" "\n"
          r"&= \sum_{t=1}^T \textrm{prod}\left(\frac{\partial L}{\partial \mathbf{h}_t}, \frac{"
          r"\partial \mathbf{h}_t}{\partial \mathbf{W}_\textrm{hh}}\right)" "\n"
          r"= \sum_{t=1}^T \frac{\partial L}{\partial \mathbf{h}_t} \mathbf{h}_{t-1}^\top," "\n"
          r"\end{aligned}",
          lambda r, t: [[_dW(r, "W_xh"),
                         _sum(r.vjp_weight(r.dh[s], s, "W_xh") for s in range(1, r.T + 1)),
                         _sum(r.dh[s] @ r.x[s].T for s in range(1, r.T + 1))],
                        [_dW(r, "W_hh"),
                         _sum(r.vjp_weight(r.dh[s], s, "W_hh") for s in range(1, r.T + 1)),
                         _sum(r.dh[s] @ r.h[s - 1].T for s in range(1, r.T + 1))]],
          ts="none", partial="immediate",
          note="d2l's prod(dL/dh_t, dh_t/dW) takes h_{t-1} as given: the immediate derivative"),
    # wrong: the linear-RNN formulas used for a tanh RNN
    Entry("d2l-recursion-for-tanh", D2L + ", used for a tanh RNN (wrong)", "d2l_tanh.toml",
          r"\frac{\partial L}{\partial \mathbf{h}_t} = \mathbf{W}_\textrm{hh}^\top \frac{\partial L}"
          r"{\partial \mathbf{h}_{t+1}} + \mathbf{W}_\textrm{qh}^\top \frac{\partial L}{\partial "
          r"\mathbf{o}_t}",
          lambda r, t: [[r.dh[t], r.W["W_hh"].T @ r.dh[t + 1] + r.W["W_hy"].T @ r.do[t]]],
          ts="t<T"),
    Entry("d2l-dW_hh-for-tanh", D2L + ", used for a tanh RNN (wrong)", "d2l_tanh.toml",
          r"\frac{\partial L}{\partial \mathbf{W}_\textrm{hh}} = \sum_{t=1}^T \frac{\partial L}"
          r"{\partial \mathbf{h}_t} \mathbf{h}_{t-1}^\top",
          lambda r, t: [[_dW(r, "W_hh"), _sum(r.dh[s] @ r.h[s - 1].T
                                               for s in range(1, r.T + 1))]], ts="none"),
    # --- Goodfellow et al., eqs. 10.17-10.28
    Entry("gf-10.17", GF, "goodfellow.toml", r"\frac{\partial L}{\partial L^{(t)}} = 1.",
          lambda r, t: [[r.dl[t], torch.ones(1)]]),
    Entry("gf-10.18", GF, "goodfellow.toml",
          r"(\nabla_{\boldsymbol{o}^{(t)}} L)_{i} = \frac{\partial L}{\partial o_{i}^{(t)}} = "
          r"\frac{\partial L}{\partial L^{(t)}} \frac{\partial L^{(t)}}{\partial o_{i}^{(t)}} = "
          r"\hat{y}_{i}^{(t)} - \mathbf{1}_{i, y^{(t)}}.",
          lambda r, t: [[r.do[t], r.do[t], r.dl[t] * r.dl_do(t), r.yhat(t) - r.y[t]]]),
    Entry("gf-10.19", GF, "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(\tau)}} L = \boldsymbol{V}^{\top} \nabla_{\boldsymbol{o}^{"
          r"(\tau)}} L.",
          lambda r, t: [[r.dh[r.T], r.W["W_hy"].T @ r.do[r.T]]], ts="none"),
    Entry("gf-10.20", GF, "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(t)}} L = \left(\frac{\partial \boldsymbol{h}^{(t + 1)}}{"
          r"\partial \boldsymbol{h}^{(t)}}\right)^{\top}(\nabla_{\boldsymbol{h}^{(t + 1)}} L) + "
          r"\left(\frac{\partial \boldsymbol{o}^{(t)}}{\partial \boldsymbol{h}^{(t)}}\right)^{\top}"
          r"(\nabla_{\boldsymbol{o}^{(t)}} L)",
          lambda r, t: [[r.dh[t], r.jac_states(t + 1, t).T @ r.dh[t + 1]
                         + r.jac_out_state(t).T @ r.do[t]]], ts="t<T"),
    Entry("gf-10.21-corrected", GF + " (10.21 with diag before the gradient, as in the errata)",
          "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(t)}} L = \boldsymbol{W}^{\top} \operatorname{diag} \left(1 - "
          r"\left(\boldsymbol{h}^{(t + 1)}\right)^{2}\right) \left(\nabla_{\boldsymbol{h}^{(t + 1)}}"
          r" L\right) + \boldsymbol{V}^{\top} \left(\nabla_{\boldsymbol{o}^{(t)}} L\right),",
          lambda r, t: [[r.dh[t], r.W["W_hh"].T @ torch.diag(1 - r.h[t + 1].reshape(-1) ** 2)
                         @ r.dh[t + 1] + r.W["W_hy"].T @ r.do[t]]], ts="t<T"),
    Entry("gf-10.22", GF, "goodfellow.toml",
          r"\nabla_{\boldsymbol{c}} L = \sum_{t} \left(\frac{\partial \boldsymbol{o}^{(t)}}{\partial"
          r" \boldsymbol{c}}\right)^{\top} \nabla_{\boldsymbol{o}^{(t)}} L = \sum_{t} \nabla_{"
          r"\boldsymbol{o}^{(t)}} L,",
          lambda r, t: [[_dW(r, "b_y"), _sum(r.do.values()), _sum(r.do.values())]], ts="none"),
    Entry("gf-10.23", GF, "goodfellow.toml",
          r"\nabla_{\boldsymbol{b}} L = \sum_{t} \left(\frac{\partial \boldsymbol{h}^{(t)}}{\partial"
          r" \boldsymbol{b}^{(t)}}\right)^{\intercal} \nabla_{\boldsymbol{h}^{(t)}} L = \sum_{t} "
          r"\operatorname{diag} \left(1 - \left(\boldsymbol{h}^{(t)}\right)^{2}\right) \nabla_{"
          r"\boldsymbol{h}^{(t)}} L,",
          lambda r, t: [[_dW(r, "b_h"),
                         _sum(torch.diag(1 - r.h[s].reshape(-1) ** 2) @ r.dh[s]
                              for s in range(1, r.T + 1)),
                         _sum(torch.diag(1 - r.h[s].reshape(-1) ** 2) @ r.dh[s]
                              for s in range(1, r.T + 1))]], ts="none"),
    Entry("gf-10.24", GF, "goodfellow.toml",
          r"\nabla_{\boldsymbol{V}} L = \sum_{t} \sum_{i} \left(\frac{\partial L}{\partial o_{i}^{"
          r"(t)}}\right) \nabla_{\boldsymbol{V}} o_{i}^{(t)} = \sum_{t} \left(\nabla_{\boldsymbol{o}"
          r"^{(t)}} L\right) \boldsymbol{h}^{(t)^{\top}},",
          lambda r, t: [[_dW(r, "W_hy"), _dW(r, "W_hy"),
                         _sum(r.do[s] @ r.h[s].T for s in range(1, r.T + 1))]], ts="none"),
    Entry("gf-10.26", GF + " (the second member of 10.25-10.26)", "goodfellow.toml",
          r"\nabla_{\boldsymbol{W}} L = \sum_{t} \operatorname{diag} \left(1 - \left(\boldsymbol{h}"
          r"^{(t)}\right)^{2}\right)(\nabla_{\boldsymbol{h}^{(t)}} L) \boldsymbol{h}^{(t - 1)^{"
          r"\top}},",
          lambda r, t: [[_dW(r, "W_hh"),
                         _sum(torch.diag(1 - r.h[s].reshape(-1) ** 2) @ r.dh[s] @ r.h[s - 1].T
                              for s in range(1, r.T + 1))]], ts="none"),
    Entry("gf-10.28", GF + " (the second member of 10.27-10.28)", "goodfellow.toml",
          r"\nabla_{\boldsymbol{U}} L = \sum_{t} \operatorname{diag} \left(1 - \left(\boldsymbol{h}"
          r"^{(t)}\right)^{2}\right) \left(\nabla_{\boldsymbol{h}^{(t)}} L\right) \boldsymbol{x}^{"
          r"(t)^{\top}},",
          lambda r, t: [[_dW(r, "W_xh"),
                         _sum(torch.diag(1 - r.h[s].reshape(-1) ** 2) @ r.dh[s] @ r.x[s].T
                              for s in range(1, r.T + 1))]], ts="none"),
    # wrong: a missing transpose, and a flipped sign
    Entry("gf-10.19-no-transpose", GF + ", 10.19 with the transpose dropped (wrong)",
          "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(\tau)}} L = \boldsymbol{V} \nabla_{\boldsymbol{o}^{(\tau)}} L.",
          lambda r, t: [[r.dh[r.T], r.W["W_hy"] @ r.do[r.T]]], ts="none"),
    Entry("gf-10.22-sign", GF + ", 10.22 with the sign flipped (wrong)", "goodfellow.toml",
          r"\nabla_{\boldsymbol{c}} L = -\sum_{t} \nabla_{\boldsymbol{o}^{(t)}} L",
          lambda r, t: [[_dW(r, "b_y"), -_sum(r.do.values())]], ts="none"),
    Entry("mikkers-c", MIKKERS, "goodfellow.toml",
          r"\nabla_{\mathbf{c}} L = \sum_t \nabla_{\boldsymbol{o}^{(t)}} L",
          lambda r, t: [[_dW(r, "b_y"), _sum(r.do.values())]], ts="none"),
    Entry("mikkers-W", MIKKERS + " (V's gradient printed as W's: wrong)", "goodfellow.toml",
          r"\nabla_{W} L = \sum_t (\nabla_{\boldsymbol{o}^{(t)}} L) \boldsymbol{h}^{(t),T}",
          lambda r, t: [[_dW(r, "W_hh"), _sum(r.do[s] @ r.h[s].T for s in range(1, r.T + 1))]],
          ts="none"),
    Entry("gf-10.18-sign", GF + ", 10.18 with the sign flipped (wrong)", "goodfellow.toml",
          r"\frac{\partial L}{\partial o_{i}^{(t)}} = \mathbf{1}_{i=y^{(t)}} - \hat{y}_{i}^{(t)}",
          lambda r, t: [[r.do[t], r.y[t] - r.yhat(t)]]),
    Entry("compphys-10.18", COMPPHYS, "goodfellow.toml",
          r"(\nabla_{ \mathbf{y}^{(t)}} \mathcal{L})_{i} = \frac{\partial \mathcal{L}}{\partial "
          r"L^{(t)}}\frac{\partial L^{(t)}}{\partial y_{i}^{(t)}}",
          lambda r, t: [[r.do[t], r.dl[t] * r.dl_do(t)]], symbols={"y": "o"}),
    # --- component indices: KJO144's notes (U, W, V, b_h, b_y, h_t, E_t as Britz writes them)
    Entry("kjo-dE/dV_ij", KJO, "kjo.toml",
          r"\frac{\partial E_t}{\partial V_{ij}} = ({\hat{y}_t}_i - {y_t}_i) {h_t}_j.",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "W_hy", "l"),
                         (r.yhat(t) - r.y[t]) @ r.h[t].T]]),
    Entry("kjo-dE/db_y_i", KJO, "kjo.toml",
          r"\frac{\partial E_t}{\partial b_{y_i}} = {\hat{y}_t}_i - {y_t}_i.",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "b_y", "l"), r.yhat(t) - r.y[t]]]),
    Entry("kjo-dE/dV_ij-swapped", KJO + ", with i and j swapped (wrong)", "kjo.toml",
          r"\frac{\partial E_t}{\partial V_{ij}} = ({\hat{y}_t}_j - {y_t}_j) {h_t}_i",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "W_hy", "l"),
                         ((r.yhat(t) - r.y[t]) @ r.h[t].T).T]]),
    # --- Britz, WildML part 3
    Entry("britz-state", BRITZ, "britz.toml", r"s_t = \tanh(Ux_t + Ws_{t-1})",
          lambda r, t: [[r.h[t], torch.tanh(r.W["W_xh"] @ r.x[t] + r.W["W_hh"] @ r.h[t - 1])]]),
    Entry("britz-output", BRITZ, "britz.toml", r"\hat{y}_t = \mathrm{softmax}(Vs_t)",
          lambda r, t: [[r.yhat(t), torch.softmax(r.W["W_hy"] @ r.h[t], 0)]]),
    Entry("britz-dE/dW", BRITZ, "britz.toml",
          r"\frac{\partial E}{\partial W} = \sum\limits_{t} \frac{\partial E_t}{\partial W}",
          lambda r, t: [[_dW(r, "W_hh"), _sum(r.vjp_weight(torch.ones(1), s, "W_hh", "l", True)
                                               for s in range(1, r.T + 1))]], ts="none"),
    Entry("britz-dE3/dV", BRITZ, "britz.toml",
          r"\begin{aligned}  \frac{\partial E_3}{\partial V} &=\frac{\partial E_3}{\partial "
          r"\hat{y}_3}\frac{\partial\hat{y}_3}{\partial V}\\  &=\frac{\partial E_3}{\partial "
          r"\hat{y}_3}\frac{\partial\hat{y}_3}{\partial z_3}\frac{\partial z_3}{\partial V}\\ &="
          r"(\hat{y}_3 - y_3) \otimes s_3 \\  \end{aligned}",
          lambda r, t: [[r.dl_do(3) @ r.h[3].T] * 3 + [(r.yhat(3) - r.y[3]) @ r.h[3].T]],
          ts="T=3"),
    Entry("britz-dE3/dW-sum", BRITZ, "britz.toml",
          r"\begin{aligned}  \frac{\partial E_3}{\partial W} &= \sum\limits_{k=0}^{3} \frac{"
          r"\partial E_3}{\partial \hat{y}_3}\frac{\partial\hat{y}_3}{\partial s_3}\frac{\partial "
          r"s_3}{\partial s_k}\frac{\partial s_k}{\partial W}\\  \end{aligned}",
          lambda r, t: [[r.vjp_weight(torch.ones(1), 3, "W_hh", "l", True), _britz_sum(r)]],
          ts="T=3",
          partial="immediate"),
    # Britz's product form, read as printed (left to right in increasing j): the Jacobians
    # ds_{k+1}/ds_k ... ds_3/ds_2 in that order, which is not the chain rule's order
    Entry("cerisara-dE3/dW", CERISARA, "britz.toml",
          r"\frac{\partial E_3}{\partial W} = \sum_{k=0}^3 \frac{\partial E_3}{\partial \hat y_3} "
          r"\frac{\partial \hat y_3}{\partial s_3} \left( \prod_{j=k+1}^3 \frac {\partial s_j}"
          r"{\partial s_{j-1}} \right) \frac{\partial s_k}{\partial W}",
          lambda r, t: [[r.vjp_weight(torch.ones(1), 3, "W_hh", "l", True),
                         _britz_sum(r, printed_order=True)]], ts="T=3", partial="immediate"),
    # --- CS224n
    Entry("cs224n-loss", CS224N, "cs224n.toml",
          r"J(\theta) = \frac{1}{T}\sum_{t=1}^{T}J^{(t)}(\theta)",
          lambda r, t: [[r.L, _sum(r.l.values()) / r.T]], ts="none"),
    Entry("cs224n-dJ/dW_h", CS224N, "cs224n.toml",
          r"\frac{\partial J^{(t)}}{\partial W_h} = \sum_{i=1}^t\frac{\partial J^{(t)}}{\partial "
          r"W_h}|_{(i)}",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "W_hh", "l", True),
                         _sum(r.per_step_grads(t, "W_hh"))]]),
    Entry("cs224n-dJ/dW_h-left", "Stanford CS224n lecture 6 (2019) slides, the gradient of a "
          "repeated weight", "cs224n.toml",
          r"\frac{\partial J^{(t)}}{\partial \boldsymbol{W}_h} = \sum_{i=1}^{t} \left. \frac{"
          r"\partial J^{(t)}}{\partial \boldsymbol{W}_h} \right|_{(i)}",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "W_hh", "l", True),
                         _sum(r.per_step_grads(t, "W_hh"))]]),
    Entry("cs224n-dJ/dW_h-one-step", "Stanford CS224n lecture 6 (2019), the sum kept to step t "
          "alone (wrong)", "cs224n.toml",
          r"\frac{\partial J^{(t)}}{\partial \boldsymbol{W}_h} = \left. \frac{\partial J^{(t)}}"
          r"{\partial \boldsymbol{W}_h} \right|_{(t)}",
          lambda r, t: [[r.vjp_weight(torch.ones(1), t, "W_hh", "l", True),
                         r.per_step_grads(t, "W_hh")[-1]]]),
    Entry("cs224n-vanishing", "Stanford CS224n lecture 7 (2019), vanishing gradient proof sketch",
          "cs224n.toml",
          r"\frac{\partial h^{(t)}}{\partial h^{(t-1)}} = \operatorname{diag}\left(\sigma'\left("
          r"W_h h^{(t-1)} + W_x x^{(t)} + b_1\right)\right) W_h",
          lambda r, t: [[r.jac_states(t, t - 1),
                         torch.diag((torch.sigmoid(r.z[t]) * (1 - torch.sigmoid(r.z[t])))
                                    .reshape(-1)) @ r.W["W_hh"]]]),
    Entry("cs224n-a2-dJ/dtheta", CS224N_A, "cs224n.toml",
          r"\frac{\partial J^{(t)}}{\partial \theta^{(t)}} = {\hat{y}}^{(t)} - y^{(t)}",
          lambda r, t: [[r.dl_do(t), r.yhat(t) - r.y[t]]], symbols={r"\theta": "o"}),
    Entry("korean-dh/dh", KOREAN, "scalar.toml",
          r"\frac{\partial h_t}{\partial h_{t-1}} = \tanh'(W_{hh}h_{t-1}+W_{xh}x_{t})W_{hh}",
          lambda r, t: [[r.jac_states(t, t - 1),
                         (1 - torch.tanh(r.z[t]) ** 2) * r.W["W_hh"]]]),
    # wrong: the elementwise product outside the matrix product (after d2l/Goodfellow's recursion)
    Entry("odot-outside", GF + ", the recursion with the elementwise product outside W^T (wrong)",
          "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(t)}} L = \boldsymbol{W}^{\top} \nabla_{\boldsymbol{h}^{(t+1)}} L"
          r" \odot (1 - (\boldsymbol{h}^{(t+1)})^2) + \boldsymbol{V}^{\top} \nabla_{\boldsymbol{o}"
          r"^{(t)}} L",
          lambda r, t: [[r.dh[t], (r.W["W_hh"].T @ r.dh[t + 1]) * (1 - r.h[t + 1] ** 2)
                         + r.W["W_hy"].T @ r.do[t]]], ts="t<T"),
    Entry("odot-inside", GF + ", the recursion with the elementwise product inside (right)",
          "goodfellow.toml",
          r"\nabla_{\boldsymbol{h}^{(t)}} L = \boldsymbol{W}^{\top} \left(\nabla_{\boldsymbol{h}^{"
          r"(t+1)}} L \odot (1 - (\boldsymbol{h}^{(t+1)})^2)\right) + \boldsymbol{V}^{\top} \nabla_"
          r"{\boldsymbol{o}^{(t)}} L",
          lambda r, t: [[r.dh[t], r.W["W_hh"].T @ (r.dh[t + 1] * (1 - r.h[t + 1] ** 2))
                         + r.W["W_hy"].T @ r.do[t]]], ts="t<T"),
]


GENERIC: list[Entry] = [
    # --- d2l's generic section: f, g the source's functions, their derivatives immediate
    Entry("d2l-generic-forward", D2L_GENERIC, "d2l_generic.toml",
          r"\begin{aligned}h_t &= f(x_t, h_{t-1}, w_\textrm{h}),\\o_t &= g(h_t, w_\textrm{o}),"
          r"\end{aligned}",
          lambda r, t: [[r.h[t], torch.tanh(r.W["W_xh"] @ r.x[t] + r.W["W_hh"] @ r.h[t - 1])],
                        [r.o[t], r.W["W_hy"] @ r.h[t]]]),
    Entry("d2l-generic-dL/dw_h", D2L_GENERIC, "d2l_generic.toml",
          r"\begin{aligned}\frac{\partial L}{\partial w_\textrm{h}}  & = \frac{1}{T}\sum_{t=1}^T "
          r"\frac{\partial l(y_t, o_t)}{\partial w_\textrm{h}}  \\& = \frac{1}{T}\sum_{t=1}^T "
          r"\frac{\partial l(y_t, o_t)}{\partial o_t} \frac{\partial g(h_t, w_\textrm{o})}{"
          r"\partial h_t}  \frac{\partial h_t}{\partial w_\textrm{h}}.\end{aligned}",
          lambda r, t: [[_dW(r, "W_hh"),
                         _sum(r.vjp_weight(torch.ones(1), s, "W_hh", "l", True)
                              for s in range(1, r.T + 1)) / r.T,
                         _sum(r.dl_do(s) @ r.jac_out_state(s) @ _tot(r, s)
                              for s in range(1, r.T + 1)) / r.T]], ts="none"),
    Entry("d2l-generic-recursion", D2L_GENERIC, "d2l_generic.toml",
          r"\frac{\partial h_t}{\partial w_\textrm{h}}= \frac{\partial f(x_{t},h_{t-1},"
          r"w_\textrm{h})}{\partial w_\textrm{h}} +\frac{\partial f(x_{t},h_{t-1},w_\textrm{h})}"
          r"{\partial h_{t-1}} \frac{\partial h_{t-1}}{\partial w_\textrm{h}}.",
          lambda r, t: [[_tot(r, t), _imm(r, t) + r.jac_states(t, t - 1) @ _tot(r, t - 1)]]),
    Entry("d2l-generic-expansion", D2L_GENERIC, "d2l_generic.toml",
          r"\frac{\partial h_t}{\partial w_\textrm{h}}=\frac{\partial f(x_{t},h_{t-1},"
          r"w_\textrm{h})}{\partial w_\textrm{h}}+\sum_{i=1}^{t-1}\left(\prod_{j=i+1}^{t} "
          r"\frac{\partial f(x_{j},h_{j-1},w_\textrm{h})}{\partial h_{j-1}} \right) \frac{"
          r"\partial f(x_{i},h_{i-1},w_\textrm{h})}{\partial w_\textrm{h}}.",
          lambda r, t: [[_tot(r, t), _expansion(r, t)]]),
    Entry("d2l-generic-one-step", D2L_GENERIC + ", the recursion's second term dropped (wrong)",
          "d2l_generic.toml",
          r"\frac{\partial h_t}{\partial w_\textrm{h}}= \frac{\partial f(x_{t},h_{t-1},"
          r"w_\textrm{h})}{\partial w_\textrm{h}}",
          lambda r, t: [[_tot(r, t), _imm(r, t)]]),
    Entry("d2l-2019-dL/dw_h", D2L_2019, "d2l_generic_2019.toml",
          r"\begin{aligned}" "\n"
          r"\partial_{w_h} L & = \sum_{t=1}^T \partial_{w_h} l(y_t, o_t) \\" "\n"
          r"	& = \sum_{t=1}^T \partial_{o_t} l(y_t, o_t) \partial_{h_t} g(h_t, w_h) \left[ "
          r"\partial_{w_h} h_t\right]." "\n"
          r"\end{aligned}",
          lambda r, t: [[_dW(r, "W_hh"),
                         _sum(r.vjp_weight(torch.ones(1), s, "W_hh", "l", True)
                              for s in range(1, r.T + 1)),
                         _sum(r.dl_do(s) @ r.jac_out_state(s) @ _tot(r, s)
                              for s in range(1, r.T + 1))]], ts="none",
          note="g(h_t, w_h) is printed so (w_o meant); g's arguments only name its step"),
    Entry("d2l-2019-recursion", D2L_2019, "d2l_generic_2019.toml",
          r"\partial_{w_h}h_{t}=\partial_{w_h}f(x_{t},h_{t-1},w)+\partial_{h}f(x_{t},h_{t-1},w_h)"
          r"\partial_{w_h}h_{t-1}.",
          lambda r, t: [[_tot(r, t), _imm(r, t) + r.jac_states(t, t - 1) @ _tot(r, t - 1)]]),
    Entry("d2l-2019-expansion", D2L_2019, "d2l_generic_2019.toml",
          r"\partial_{w_h}h_{t}=\partial_{w_h}f(x_{t},h_{t-1},w_h)+\sum_{i=1}^{t-1}\left("
          r"\prod_{j=i+1}^{t}\partial_{h_{j-1}}f(x_{j},h_{j-1},w_h)\right)\partial_{w_h}f(x_{i},"
          r"h_{i-1},w_h).",
          lambda r, t: [[_tot(r, t), _expansion(r, t)]]),
]
ENTRIES += GENERIC

GATED: list[Entry] = [
    # --- d2l's LSTM and GRU sections: rows (X_t W_xi), one bias per gate (torch's two)
    Entry("d2l-lstm-gates", D2L_LSTM, "d2l_lstm.toml",
          r"\begin{aligned}" "\n"
          r"\mathbf{I}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{\textrm{xi}} + \mathbf{H}_{t-1} "
          r"\mathbf{W}_{\textrm{hi}} + \mathbf{b}_\textrm{i}),\\" "\n"
          r"\mathbf{F}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{\textrm{xf}} + \mathbf{H}_{t-1} "
          r"\mathbf{W}_{\textrm{hf}} + \mathbf{b}_\textrm{f}),\\" "\n"
          r"\mathbf{O}_t &= \sigma(\mathbf{X}_t \mathbf{W}_{\textrm{xo}} + \mathbf{H}_{t-1} "
          r"\mathbf{W}_{\textrm{ho}} + \mathbf{b}_\textrm{o}),""\n"
          r"\end{aligned}",
          lambda r, t: [[r.i[t], _gate(r, t, "i")], [r.f[t], _gate(r, t, "f")],
                        [r.o[t], _gate(r, t, "o")]]),
    Entry("d2l-lstm-candidate", D2L_LSTM, "d2l_lstm.toml",
          r"\tilde{\mathbf{C}}_t = \textrm{tanh}(\mathbf{X}_t \mathbf{W}_{\textrm{xc}} + "
          r"\mathbf{H}_{t-1} \mathbf{W}_{\textrm{hc}} + \mathbf{b}_\textrm{c}),",
          lambda r, t: [[r.g[t], _gate(r, t, "g", torch.tanh)]]),
    Entry("d2l-lstm-memory", D2L_LSTM, "d2l_lstm.toml",
          r"\mathbf{C}_t = \mathbf{F}_t \odot \mathbf{C}_{t-1} + \mathbf{I}_t \odot "
          r"\tilde{\mathbf{C}}_t.",
          lambda r, t: [[r.c[t], r.f[t] * r.c[t - 1] + r.i[t] * r.g[t]]]),
    Entry("d2l-lstm-hidden", D2L_LSTM, "d2l_lstm.toml",
          r"\mathbf{H}_t = \mathbf{O}_t \odot \tanh(\mathbf{C}_t).",
          lambda r, t: [[r.h[t], r.o[t] * torch.tanh(r.c[t])]]),
    Entry("d2l-lstm-hidden-no-tanh", D2L_LSTM + ", the tanh dropped (wrong)", "d2l_lstm.toml",
          r"\mathbf{H}_t = \mathbf{O}_t \odot \mathbf{C}_t",
          lambda r, t: [[r.h[t], r.o[t] * r.c[t]]]),
    Entry("d2l-gru-gates", D2L_GRU, "d2l_gru.toml",
          r"\begin{aligned}" "\n"
          r"\mathbf{R}_t = \sigma(\mathbf{X}_t \mathbf{W}_{\textrm{xr}} + \mathbf{H}_{t-1} "
          r"\mathbf{W}_{\textrm{hr}} + \mathbf{b}_\textrm{r}),\\" "\n"
          r"\mathbf{Z}_t = \sigma(\mathbf{X}_t \mathbf{W}_{\textrm{xz}} + \mathbf{H}_{t-1} "
          r"\mathbf{W}_{\textrm{hz}} + \mathbf{b}_\textrm{z}),""\n"
          r"\end{aligned}",
          lambda r, t: [[r.r[t], _gate(r, t, "r")], [r.z[t], _gate(r, t, "z")]]),
    Entry("d2l-gru-candidate", D2L_GRU, "d2l_gru.toml",
          r"\tilde{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}_{\textrm{xh}} + \left("
          r"\mathbf{R}_t \odot \mathbf{H}_{t-1}\right) \mathbf{W}_{\textrm{hh}} + "
          r"\mathbf{b}_\textrm{h}),",
          lambda r, t: [[r.n[t], _gate(r, t, "n", torch.tanh, r.r[t] * r.h[t - 1])]]),
    Entry("d2l-gru-hidden", D2L_GRU, "d2l_gru.toml",
          r"\mathbf{H}_t = \mathbf{Z}_t \odot \mathbf{H}_{t-1}  + (1 - \mathbf{Z}_t) \odot "
          r"\tilde{\mathbf{H}}_t.",
          lambda r, t: [[r.h[t], r.z[t] * r.h[t - 1] + (1 - r.z[t]) * r.n[t]]]),
    Entry("d2l-gru-hidden-swapped", D2L_GRU + ", Z_t and 1 - Z_t swapped (wrong)",
          "d2l_gru.toml",
          r"\mathbf{H}_t = (1 - \mathbf{Z}_t) \odot \mathbf{H}_{t-1} + \mathbf{Z}_t \odot "
          r"\tilde{\mathbf{H}}_t",
          lambda r, t: [[r.h[t], (1 - r.z[t]) * r.h[t - 1] + r.z[t] * r.n[t]]]),
    # --- colah's equations: W_f [h_{t-1}, x_t] + b_f, * entrywise
    Entry("colah-forget", COLAH, "colah_lstm.toml",
          r"f_t = \sigma(W_f \cdot [h_{t-1}, x_t] + b_f)",
          lambda r, t: [[r.f[t], _gate(r, t, "f")]]),
    Entry("colah-input-candidate", COLAH, "colah_lstm.toml",
          r"\begin{aligned} i_t &= \sigma(W_i \cdot [h_{t-1}, x_t] + b_i) \\ \tilde{C}_t &= "
          r"\tanh(W_C \cdot [h_{t-1}, x_t] + b_C) \end{aligned}",
          lambda r, t: [[r.i[t], _gate(r, t, "i")], [r.g[t], _gate(r, t, "g", torch.tanh)]]),
    Entry("colah-memory", COLAH, "colah_lstm.toml",
          r"C_t = f_t * C_{t-1} + i_t * \tilde{C}_t",
          lambda r, t: [[r.c[t], r.f[t] * r.c[t - 1] + r.i[t] * r.g[t]]]),
    Entry("colah-output", COLAH, "colah_lstm.toml",
          r"\begin{aligned} o_t &= \sigma(W_o [h_{t-1}, x_t] + b_o) \\ h_t &= o_t * \tanh(C_t)"
          r" \end{aligned}",
          lambda r, t: [[r.o[t], _gate(r, t, "o")], [r.h[t], r.o[t] * torch.tanh(r.c[t])]]),
    Entry("colah-forget-order", COLAH + ", the concatenation's order swapped (wrong)",
          "colah_lstm.toml",
          r"f_t = \sigma(W_f \cdot [x_t, h_{t-1}] + b_f)",
          lambda r, t: [[r.f[t], _sig(r.W["W_hf"] @ r.x[t] + r.W["W_if"] @ r.h[t - 1]
                                     + r.W["b_if"] + r.W["b_hf"])]]),
    # --- the LSTM's backward pass: dL/dC_t's two paths
    Entry("notes-dL/dC", NOTES_LSTM, "notes_lstm.toml",
          r"\begin{align*}" "\n"
          r"\frac{\partial L}{\partial C_t} &= \frac{\partial L}{\partial h_t} \frac{\partial "
          r"h_t}{\partial C_t} + \frac{\partial L}{\partial C_{t+1}} \frac{\partial C_{t+1}}"
          r"{\partial C_t}  \\" "\n"
          r"&= \frac{\partial L}{\partial h_t} \cdot o_t \cdot (1 - \tanh^2(C_t)) + \frac{"
          r"\partial L}{\partial C_{t+1}} \cdot f_{t+1}" "\n"
          r"\end{align*}",
          lambda r, t: [[r.dc[t], _dc(r, t), _dc(r, t)]],
          ts="t<T", partial="immediate",
          note="dC_{t+1}/dC_t is the direct path through the forget gate (immediate)"),
    Entry("notes-dL/dC-f_t", NOTES_LSTM + ", f_t where f_{t+1} belongs (wrong)",
          "notes_lstm.toml",
          r"\frac{\partial L}{\partial C_t} = \frac{\partial L}{\partial h_t} \cdot o_t \cdot "
          r"(1 - \tanh^2(C_t)) + \frac{\partial L}{\partial C_{t+1}} \cdot f_{t}",
          lambda r, t: [[r.dc[t], r.dh[t] * r.o[t] * (1 - torch.tanh(r.c[t]) ** 2)
                         + r.dc[t + 1] * r.f[t]]], ts="t<T"),
    Entry("notes-dL/dC-no-c-path", NOTES_LSTM + ", the path through C_{t+1} forgotten (wrong)",
          "notes_lstm.toml",
          r"\frac{\partial L}{\partial C_t} = \frac{\partial L}{\partial h_t} \cdot o_t \cdot "
          r"(1 - \tanh^2(C_t))",
          lambda r, t: [[r.dc[t], r.dh[t] * r.o[t] * (1 - torch.tanh(r.c[t]) ** 2)]]),
    Entry("notes-dL/dW_ho", NOTES_LSTM + ", its W_xo gradient summed over the steps, for W_ho",
          "notes_lstm_1.toml",
          r"\frac{\partial L}{\partial W_{ho}} = \sum_{t=1}^T \left(\frac{\partial L}{\partial "
          r"h_t} \cdot \tanh(C_t) \cdot o_t \cdot (1 - o_t)\right) h_{t-1}^\top",
          lambda r, t: [[r.dW["W_ho"], _sum((r.dh[s] * torch.tanh(r.c[s]) * r.o[s] * (1 - r.o[s]))
                                            @ r.h[s - 1].T for s in range(1, r.T + 1))]],
          ts="none"),
    Entry("notes-dL/dW_ho-sigma-prime", NOTES_LSTM + ", sigma' written as 1 - sigma^2 (wrong)",
          "notes_lstm_1.toml",
          r"\frac{\partial L}{\partial W_{ho}} = \sum_{t=1}^T \left(\frac{\partial L}{\partial "
          r"h_t} \cdot \tanh(C_t) \cdot (1 - o_t^2)\right) h_{t-1}^\top",
          lambda r, t: [[r.dW["W_ho"], _sum((r.dh[s] * torch.tanh(r.c[s]) * (1 - r.o[s] ** 2))
                                            @ r.h[s - 1].T for s in range(1, r.T + 1))]],
          ts="none"),
]
ENTRIES += GATED


def instances(entry: Entry, max_T: int = 4):
    """(T, t) pairs the entry's truth is decided at."""
    if entry.ts == "T=3":
        return [(3, None)]
    out = []
    for T in range(1, max_T + 1):
        if entry.ts == "none":
            out.append((T, None))
        else:
            last = T - 1 if entry.ts == "t<T" else T
            out.extend((T, t) for t in range(1, last + 1))
    return out


def truth(entry: Entry, model: dict, points: int = 3) -> bool:
    """True if every chain of the entry holds at every instance and random point (PyTorch)."""
    from textbook_oracle import GATES, GatedRun, chains_hold

    run = GatedRun if model.get("cell") in GATES else Run
    for T, t in instances(entry):
        for seed in range(points):
            if not chains_hold(entry.truth(run(model, T, seed), t)):
                return False
    return True
