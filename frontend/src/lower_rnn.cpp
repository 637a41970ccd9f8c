// RNN, GRU and LSTM unrolled over the (static) sequence on the device: the
// input projection of every step is one matmul, then each step multiplies
// the hidden state by R on the matrix engine and applies the gates with
// elementwise ops. sequence_lens masks finished sequences (their state is
// kept, their outputs are 0). Default activations only.
#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

enum class Cell { kRnn, kGru, kLstm };

int gate_count(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }

// Rows [d] of a [dirs, ...] parameter, with the dirs dim dropped.
Result<Tensor> direction(const Tensor& p, int64_t d) {
  KILN_ASSIGN_OR_RETURN(Tensor v, p.slice(0, d, d + 1));
  return v.squeeze(0);
}

// Tensors of one shape stacked along a new dim.
Result<Tensor> stack(const std::vector<Tensor>& parts, int dim) {
  std::vector<Tensor> expanded;
  for (const Tensor& t : parts) {
    KILN_ASSIGN_OR_RETURN(Tensor u, t.unsqueeze(dim));
    expanded.push_back(u);
  }
  return concat_any(std::move(expanded), dim);
}

struct State {
  Tensor h, c;
};

// One step of the cell from the projected input xt [B, G*H] (input bias
// included) and the state; r_t = R^T [H, G*H], rb the recurrence bias [G*H].
Result<State> step(Cell cell, const Tensor& xt, const State& s, const Tensor& r_t, const Tensor& rb,
                   const std::optional<Tensor>& peep, int64_t hidden, bool linear_before_reset) {
  if (cell == Cell::kRnn) {
    KILN_ASSIGN_OR_RETURN(Tensor rec, rt::matmul(s.h, r_t));
    KILN_ASSIGN_OR_RETURN(Tensor pre, rt::add(xt, rec));
    KILN_ASSIGN_OR_RETURN(pre, rt::add(pre, rb));
    KILN_ASSIGN_OR_RETURN(Tensor h, rt::tanh(pre));
    return State{h, s.c};
  }
  if (cell == Cell::kGru) {
    // Gates z, r, h. The candidate's recurrence uses r (x) h before the
    // matmul, or after it with linear_before_reset.
    KILN_ASSIGN_OR_RETURN(auto xs, rt::split(xt, {hidden, hidden, hidden}, 1));
    KILN_ASSIGN_OR_RETURN(auto rts, rt::split(r_t, {2 * hidden, hidden}, 1));
    KILN_ASSIGN_OR_RETURN(auto rbs, rt::split(rb, {2 * hidden, hidden}, 0));
    KILN_ASSIGN_OR_RETURN(Tensor zr, rt::matmul(s.h, rts[0]));
    KILN_ASSIGN_OR_RETURN(zr, rt::add(zr, rbs[0]));
    KILN_ASSIGN_OR_RETURN(auto zrs, rt::split(zr, {hidden, hidden}, 1));
    KILN_ASSIGN_OR_RETURN(Tensor z, rt::add(xs[0], zrs[0]));
    KILN_ASSIGN_OR_RETURN(z, rt::sigmoid(z));
    KILN_ASSIGN_OR_RETURN(Tensor r, rt::add(xs[1], zrs[1]));
    KILN_ASSIGN_OR_RETURN(r, rt::sigmoid(r));
    Tensor rec;
    if (linear_before_reset) {
      KILN_ASSIGN_OR_RETURN(rec, rt::matmul(s.h, rts[1]));
      KILN_ASSIGN_OR_RETURN(rec, rt::add(rec, rbs[1]));
      KILN_ASSIGN_OR_RETURN(rec, rt::mul(r, rec));
    } else {
      KILN_ASSIGN_OR_RETURN(Tensor rh, rt::mul(r, s.h));
      KILN_ASSIGN_OR_RETURN(rec, rt::matmul(rh, rts[1]));
      KILN_ASSIGN_OR_RETURN(rec, rt::add(rec, rbs[1]));
    }
    KILN_ASSIGN_OR_RETURN(Tensor cand, rt::add(xs[2], rec));
    KILN_ASSIGN_OR_RETURN(cand, rt::tanh(cand));
    // (1 - z) cand + z h = cand + z (h - cand)
    KILN_ASSIGN_OR_RETURN(Tensor diff, rt::sub(s.h, cand));
    KILN_ASSIGN_OR_RETURN(diff, rt::mul(z, diff));
    KILN_ASSIGN_OR_RETURN(Tensor h, rt::add(cand, diff));
    return State{h, s.c};
  }
  // LSTM: gates i, o, f, c; peepholes P = [Pi, Po, Pf].
  KILN_ASSIGN_OR_RETURN(Tensor g, rt::matmul(s.h, r_t));
  KILN_ASSIGN_OR_RETURN(g, rt::add(g, xt));
  KILN_ASSIGN_OR_RETURN(g, rt::add(g, rb));
  KILN_ASSIGN_OR_RETURN(auto gs, rt::split(g, {hidden, hidden, hidden, hidden}, 1));
  Tensor gi = gs[0], go = gs[1], gf = gs[2];
  std::vector<Tensor> ps;
  if (peep) { KILN_ASSIGN_OR_RETURN(ps, rt::split(*peep, {hidden, hidden, hidden}, 0)); }
  if (peep) {
    KILN_ASSIGN_OR_RETURN(Tensor pi, rt::mul(ps[0], s.c));
    KILN_ASSIGN_OR_RETURN(gi, rt::add(gi, pi));
    KILN_ASSIGN_OR_RETURN(Tensor pf, rt::mul(ps[2], s.c));
    KILN_ASSIGN_OR_RETURN(gf, rt::add(gf, pf));
  }
  KILN_ASSIGN_OR_RETURN(Tensor i, rt::sigmoid(gi));
  KILN_ASSIGN_OR_RETURN(Tensor f, rt::sigmoid(gf));
  KILN_ASSIGN_OR_RETURN(Tensor cand, rt::tanh(gs[3]));
  KILN_ASSIGN_OR_RETURN(Tensor keep, rt::mul(f, s.c));
  KILN_ASSIGN_OR_RETURN(Tensor add, rt::mul(i, cand));
  KILN_ASSIGN_OR_RETURN(Tensor c, rt::add(keep, add));
  if (peep) {
    KILN_ASSIGN_OR_RETURN(Tensor po, rt::mul(ps[1], c));
    KILN_ASSIGN_OR_RETURN(go, rt::add(go, po));
  }
  KILN_ASSIGN_OR_RETURN(Tensor o, rt::sigmoid(go));
  KILN_ASSIGN_OR_RETURN(Tensor tc, rt::tanh(c));
  KILN_ASSIGN_OR_RETURN(Tensor h, rt::mul(o, tc));
  return State{h, c};
}

Status recurrent(LowerContext& c, Cell cell) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor w, c.in(1));
  KILN_ASSIGN_OR_RETURN(Tensor r, c.in(2));
  const bool batch_first = attr_int(c.node, "layout", 0) != 0;
  if (x.rank() != 3) return invalid_argument("X " + x.describe() + " must be 3-D");
  if (batch_first) { KILN_ASSIGN_OR_RETURN(x, x.permute({1, 0, 2})); }
  const int64_t steps = x.dim(0), batch = x.dim(1), hidden = attr_int(c.node, "hidden_size", r.dim(-1));
  const int64_t gates = gate_count(cell);
  const std::string dir = attr_string(c.node, "direction", "forward");
  const int64_t dirs = dir == "bidirectional" ? 2 : 1;
  if (w.rank() != 3 || w.dim(0) != dirs || w.dim(1) != gates * hidden || r.rank() != 3 || r.dim(1) != gates * hidden || r.dim(2) != hidden)
    return invalid_argument("W " + w.describe() + " and R " + r.describe() + " do not fit hidden_size " + std::to_string(hidden));
  std::optional<Tensor> bias, lens, h0, c0, peep;
  if (c.has(3)) { KILN_ASSIGN_OR_RETURN(bias, c.in(3)); }
  if (c.has(4)) {
    KILN_ASSIGN_OR_RETURN(Tensor l, c.in(4));
    KILN_ASSIGN_OR_RETURN(l, rt::cast(l, DType::kI32));
    KILN_ASSIGN_OR_RETURN(lens, l.reshape({batch, 1}));
  }
  auto state_input = [&](int i, std::optional<Tensor>* out) -> Status {
    if (!c.has(i)) return {};
    KILN_ASSIGN_OR_RETURN(Tensor v, c.in(i));
    if (batch_first) { KILN_ASSIGN_OR_RETURN(v, v.permute({1, 0, 2})); }
    *out = v;
    return {};
  };
  KILN_RETURN_IF_ERROR(state_input(5, &h0));
  if (cell == Cell::kLstm) {
    KILN_RETURN_IF_ERROR(state_input(6, &c0));
    if (c.has(7)) { KILN_ASSIGN_OR_RETURN(peep, c.in(7)); }
  }
  const bool lbr = attr_int(c.node, "linear_before_reset", 0) != 0;
  std::vector<Tensor> ys, hs, cs;
  for (int64_t d = 0; d < dirs; ++d) {
    const bool reverse = dir == "reverse" || d == 1;
    KILN_ASSIGN_OR_RETURN(Tensor wd, direction(w, d));
    KILN_ASSIGN_OR_RETURN(Tensor w_t, wd.transpose(0, 1));
    KILN_ASSIGN_OR_RETURN(Tensor rd, direction(r, d));
    KILN_ASSIGN_OR_RETURN(Tensor r_t, rd.transpose(0, 1));
    KILN_ASSIGN_OR_RETURN(r_t, rt::contiguous(r_t));
    KILN_ASSIGN_OR_RETURN(Tensor proj, rt::matmul(x, w_t));  // [T, B, G*H]
    Tensor rb;
    if (bias) {
      KILN_ASSIGN_OR_RETURN(Tensor bd, direction(*bias, d));
      KILN_ASSIGN_OR_RETURN(auto halves, rt::split(bd, {gates * hidden, gates * hidden}, 0));
      KILN_ASSIGN_OR_RETURN(proj, rt::add(proj, halves[0]));
      rb = halves[1];
    } else {
      KILN_ASSIGN_OR_RETURN(rb, c.rt.full({gates * hidden}, 0, x.dtype()));
    }
    State s;
    if (h0) { KILN_ASSIGN_OR_RETURN(s.h, direction(*h0, d)); } else { KILN_ASSIGN_OR_RETURN(s.h, c.rt.full({batch, hidden}, 0, x.dtype())); }
    if (c0) { KILN_ASSIGN_OR_RETURN(s.c, direction(*c0, d)); } else { KILN_ASSIGN_OR_RETURN(s.c, c.rt.full({batch, hidden}, 0, x.dtype())); }
    std::optional<Tensor> pd;
    if (peep) { KILN_ASSIGN_OR_RETURN(pd, direction(*peep, d)); }
    std::vector<Tensor> outs(static_cast<std::size_t>(steps));
    KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, x.dtype()));
    for (int64_t k = 0; k < steps; ++k) {
      const int64_t t = reverse ? steps - 1 - k : k;
      KILN_ASSIGN_OR_RETURN(Tensor xt, proj.slice(0, t, t + 1));
      KILN_ASSIGN_OR_RETURN(xt, xt.squeeze(0));
      KILN_ASSIGN_OR_RETURN(State next, step(cell, xt, s, r_t, rb, pd, hidden, lbr));
      Tensor y = next.h;
      if (lens) {
        KILN_ASSIGN_OR_RETURN(Tensor at, c.rt.full({}, static_cast<double>(t), DType::kI32));
        KILN_ASSIGN_OR_RETURN(Tensor live, rt::lt(at, *lens));  // [B, 1]
        KILN_ASSIGN_OR_RETURN(next.h, rt::where(live, next.h, s.h));
        if (cell == Cell::kLstm) { KILN_ASSIGN_OR_RETURN(next.c, rt::where(live, next.c, s.c)); }
        KILN_ASSIGN_OR_RETURN(y, rt::where(live, y, zero));
      }
      s = next;
      outs[static_cast<std::size_t>(t)] = y;
    }
    KILN_ASSIGN_OR_RETURN(Tensor yd, stack(outs, 0));  // [T, B, H]
    ys.push_back(yd);
    hs.push_back(s.h);
    cs.push_back(s.c);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, stack(ys, 1));      // [T, dirs, B, H]
  KILN_ASSIGN_OR_RETURN(Tensor y_h, stack(hs, 0));    // [dirs, B, H]
  KILN_ASSIGN_OR_RETURN(Tensor y_c, stack(cs, 0));
  if (batch_first) {
    KILN_ASSIGN_OR_RETURN(y, y.permute({2, 0, 1, 3}));
    KILN_ASSIGN_OR_RETURN(y_h, y_h.permute({1, 0, 2}));
    KILN_ASSIGN_OR_RETURN(y_c, y_c.permute({1, 0, 2}));
  }
  const Tensor* outs[3] = {&y, &y_h, &y_c};
  for (int i = 0; i < c.node.output_size() && i < 3; ++i) {
    if (c.node.output(i).empty()) continue;
    KILN_ASSIGN_OR_RETURN(Tensor o, rt::contiguous(*outs[i]));
    c.out(i, o);
  }
  return {};
}

std::string recurrent_check(const CheckContext& c, Cell cell) {
  if (has_attr(c.node, "activations")) {
    for (const auto& a : c.node.attribute())
      if (a.name() == "activations") {
        const std::vector<std::string> dflt = cell == Cell::kRnn ? std::vector<std::string>{"Tanh"}
                                              : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                   : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
        for (int k = 0; k < a.strings_size(); ++k)
          if (a.strings(k) != dflt[static_cast<std::size_t>(k) % dflt.size()]) return "activation " + a.strings(k) + " is not supported";
      }
  }
  if (has_attr(c.node, "clip")) return std::string("clip is not supported");
  if (attr_int(c.node, "input_forget", 0) != 0) return std::string("input_forget 1 is not supported");
  const std::string dir = attr_string(c.node, "direction", "forward");
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional") return "direction '" + dir + "' is not supported";
  return first_of({require_float(c, 0), require_float(c, 1), require_float(c, 2), c.rank(0) >= 0 && c.rank(0) != 3 ? "X must be 3-D" : "",
                   c.has_input(4) ? require_dtypes(c, 4, {DType::kI32, DType::kI64}) : ""});
}

}  // namespace

void add_rnn_ops(OpTable& t) {
  t["RNN"] = {[](const CheckContext& c) { return recurrent_check(c, Cell::kRnn); }, [](LowerContext& c) { return recurrent(c, Cell::kRnn); }};
  t["GRU"] = {[](const CheckContext& c) { return recurrent_check(c, Cell::kGru); }, [](LowerContext& c) { return recurrent(c, Cell::kGru); }};
  t["LSTM"] = {[](const CheckContext& c) { return recurrent_check(c, Cell::kLstm); }, [](LowerContext& c) { return recurrent(c, Cell::kLstm); }};
}

}  // namespace kiln::frontend::detail
