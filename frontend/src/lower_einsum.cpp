// Einsum (opset 12) as the matrix engine runs contractions: each operand's
// labels that nothing else needs are summed out, then the operands are
// contracted left to right, each pair as one batched matmul ([batch, left,
// contracted] x [batch, contracted, right]) between permutes and reshapes,
// and the result is permuted to the output's labels. Ellipses stand for the
// same leading dims in every operand (numpy's broadcasting of size 1).
// Refused: a label repeated within one operand (a diagonal), integer
// operands.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

using Labels = std::string;  // one char per dim; ellipsis dims are '0', '1', ... from the left

// 'i' for messages (built whole: GCC 12 warns falsely on string + char).
std::string quoted(char label) {
  std::string out(3, '\'');
  out[1] = label;
  return out;
}

struct Equation {
  std::vector<Labels> inputs;
  Labels output;
};

// The equation with ellipses expanded for operands of `ranks`, or why not.
Result<Equation> parse_equation(std::string text, const std::vector<int>& ranks) {
  text.erase(std::remove_if(text.begin(), text.end(), [](unsigned char ch) { return std::isspace(ch); }), text.end());
  const auto arrow = text.find("->");
  const std::string lhs = text.substr(0, arrow);
  std::vector<std::string> terms;
  for (std::size_t start = 0;;) {
    const auto comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ranks.size())
    return invalid_argument("the equation has " + std::to_string(terms.size()) + " operands, the node " +
                            std::to_string(ranks.size()));
  // The ellipsis covers the same number of dims in every operand that has one: the most any leaves.
  int ellipsis_dims = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const auto at = terms[i].find("...");
    if (at == std::string::npos) continue;
    const int explicit_labels = static_cast<int>(terms[i].size()) - 3;
    if (ranks[i] < explicit_labels) return invalid_argument("operand " + std::to_string(i) + " has fewer dims than labels");
    ellipsis_dims = std::max(ellipsis_dims, ranks[i] - explicit_labels);
  }
  if (ellipsis_dims > 10) return invalid_argument("an ellipsis of more than 10 dims");
  auto expand = [&](const std::string& term, int covered) -> Result<Labels> {
    Labels out;
    for (std::size_t k = 0; k < term.size(); ++k) {
      if (term.compare(k, 3, "...") == 0) {
        // Right-aligned: an operand with fewer ellipsis dims takes the last ones.
        for (int d = ellipsis_dims - covered; d < ellipsis_dims; ++d) out += static_cast<char>('0' + d);
        k += 2;
      } else if (std::isalpha(static_cast<unsigned char>(term[k]))) {
        out += term[k];
      } else {
        return invalid_argument(quoted(term[k]) + " is not a subscript");
      }
    }
    return out;
  };
  Equation eq;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const bool has_ellipsis = terms[i].find("...") != std::string::npos;
    const int covered = has_ellipsis ? ranks[i] - (static_cast<int>(terms[i].size()) - 3) : 0;
    KILN_ASSIGN_OR_RETURN(Labels labels, expand(terms[i], covered));
    if (static_cast<int>(labels.size()) != ranks[i])
      return invalid_argument("operand " + std::to_string(i) + " has " + std::to_string(ranks[i]) + " dims, its term '" +
                              terms[i] + "' " + std::to_string(labels.size()));
    for (std::size_t a = 0; a < labels.size(); ++a)
      if (labels.find(labels[a], a + 1) != Labels::npos)
        return unimplemented("the subscript " + quoted(labels[a]) + " repeats within operand " + std::to_string(i) +
                             " (a diagonal)");
    eq.inputs.push_back(labels);
  }
  if (arrow != std::string::npos) {
    KILN_ASSIGN_OR_RETURN(eq.output, expand(text.substr(arrow + 2), ellipsis_dims));
  } else {
    // Implicit: the ellipsis dims, then the labels used once, in alphabetical order.
    for (int d = 0; d < ellipsis_dims; ++d) eq.output += static_cast<char>('0' + d);
    std::map<char, int> uses;
    for (const auto& labels : eq.inputs)
      for (char l : labels) ++uses[l];
    for (const auto& [l, n] : uses)
      if (n == 1 && std::isalpha(static_cast<unsigned char>(l))) eq.output += l;
  }
  for (std::size_t a = 0; a < eq.output.size(); ++a) {
    const char l = eq.output[a];
    if (eq.output.find(l, a + 1) != Labels::npos) return invalid_argument("the output repeats " + quoted(l));
    const bool used = std::any_of(eq.inputs.begin(), eq.inputs.end(), [l](const Labels& in) { return in.find(l) != Labels::npos; });
    if (!used) return invalid_argument("the output's " + quoted(l) + " is in no operand");
  }
  return eq;
}

// A tensor with a label per dim.
struct Labelled {
  Tensor t;
  Labels labels;
};

// Sums out the labels of x that `keep` does not have.
Result<Labelled> sum_out(Labelled x, const Labels& keep) {
  std::vector<int> dims;
  Labels left;
  for (std::size_t d = 0; d < x.labels.size(); ++d) {
    if (keep.find(x.labels[d]) == Labels::npos) {
      dims.push_back(static_cast<int>(d));
    } else {
      left += x.labels[d];
    }
  }
  if (dims.empty()) return x;
  KILN_ASSIGN_OR_RETURN(Tensor t, rt::sum(x.t, dims));
  return Labelled{t, left};
}

int64_t size_of(const Labelled& x, char label) { return x.t.shape()[x.labels.find(label)]; }

// x permuted to `order` (a permutation of its labels) and reshaped to the
// products of the sizes of `groups` consecutive runs.
Result<Tensor> arrange(const Labelled& x, const std::vector<Labels>& groups) {
  std::vector<int> perm;
  runtime::Shape shape;
  for (const Labels& g : groups) {
    int64_t n = 1;
    for (char l : g) {
      perm.push_back(static_cast<int>(x.labels.find(l)));
      n *= size_of(x, l);
    }
    shape.push_back(n);
  }
  KILN_ASSIGN_OR_RETURN(Tensor t, x.t.permute(perm));
  return t.reshape(shape);
}

// a and b contracted over the labels they share that `keep` does not have.
Result<Labelled> contract(const Labelled& a, const Labelled& b, const Labels& keep) {
  Labels batch, left, right, inner;
  for (char l : a.labels) {
    const bool in_b = b.labels.find(l) != Labels::npos, kept = keep.find(l) != Labels::npos;
    (in_b ? (kept ? batch : inner) : left) += l;
  }
  for (char l : b.labels)
    if (a.labels.find(l) == Labels::npos) right += l;
  KILN_ASSIGN_OR_RETURN(Tensor am, arrange(a, {batch, left, inner}));
  KILN_ASSIGN_OR_RETURN(Tensor bm, arrange(b, {batch, inner, right}));
  KILN_ASSIGN_OR_RETURN(Tensor c, rt::matmul(am, bm));
  runtime::Shape shape;
  for (char l : batch) shape.push_back(size_of(a, l));
  for (char l : left) shape.push_back(size_of(a, l));
  for (char l : right) shape.push_back(size_of(b, l));
  KILN_ASSIGN_OR_RETURN(c, c.reshape(shape));
  return Labelled{c, batch + left + right};
}

std::vector<int> operand_ranks(const CheckContext& c) {
  std::vector<int> ranks;
  for (int i = 0; i < c.node.input_size(); ++i) ranks.push_back(c.rank(i));
  return ranks;
}

}  // namespace

void add_einsum_ops(OpTable& t) {
  t["Einsum"] = {[](const CheckContext& c) {
                   for (int i = 0; i < c.node.input_size(); ++i) {
                     std::string r = require_float(c, i);
                     if (!r.empty()) return r;
                     if (c.rank(i) < 0) return "operand " + std::to_string(i) + "'s rank is unknown";
                   }
                   if (c.node.input_size() == 0) return std::string("no operands");
                   auto eq = parse_equation(attr_string(c.node, "equation", ""), operand_ranks(c));
                   return eq.ok() ? std::string() : eq.status().message();
                 },
                 [](LowerContext& c) -> Status {
                   std::vector<Labelled> operands;
                   std::vector<int> ranks;
                   for (int i = 0; i < c.inputs(); ++i) {
                     KILN_ASSIGN_OR_RETURN(Tensor x, c.in(i));
                     ranks.push_back(x.rank());
                     operands.push_back({x, ""});
                   }
                   KILN_ASSIGN_OR_RETURN(Equation eq, parse_equation(attr_string(c.node, "equation", ""), ranks));
                   // Each label's size: equal in every operand, or 1 where it broadcasts.
                   std::map<char, int64_t> sizes;
                   for (std::size_t i = 0; i < operands.size(); ++i) {
                     operands[i].labels = eq.inputs[i];
                     for (std::size_t d = 0; d < eq.inputs[i].size(); ++d) {
                       const int64_t n = operands[i].t.shape()[d];
                       int64_t& s = sizes.try_emplace(eq.inputs[i][d], n).first->second;
                       if (s == 1) s = n;
                       if (n != s && n != 1)
                         return invalid_argument("the subscript " + quoted(eq.inputs[i][d]) + " has sizes " +
                                                 std::to_string(s) + " and " + std::to_string(n));
                     }
                   }
                   for (auto& x : operands) {
                     runtime::Shape full;
                     for (char l : x.labels) full.push_back(sizes[l]);
                     if (full != x.t.shape()) { KILN_ASSIGN_OR_RETURN(x.t, x.t.expand(full)); }
                   }
                   // Left to right; a label is kept while the output or a later operand has it.
                   auto needed_after = [&](std::size_t i) {
                     Labels keep = eq.output;
                     for (std::size_t j = i + 1; j < operands.size(); ++j) keep += operands[j].labels;
                     return keep;
                   };
                   KILN_ASSIGN_OR_RETURN(Labelled acc, sum_out(operands[0], needed_after(0)));
                   for (std::size_t i = 1; i < operands.size(); ++i) {
                     const Labels keep = needed_after(i);
                     KILN_ASSIGN_OR_RETURN(Labelled next, sum_out(operands[i], keep + acc.labels));
                     KILN_ASSIGN_OR_RETURN(acc, sum_out(acc, keep + next.labels));
                     KILN_ASSIGN_OR_RETURN(acc, contract(acc, next, keep));
                   }
                   KILN_ASSIGN_OR_RETURN(acc, sum_out(acc, eq.output));
                   std::vector<int> perm;
                   for (char l : eq.output) perm.push_back(static_cast<int>(acc.labels.find(l)));
                   if (perm.empty()) return put(c, acc.t.reshape({}));
                   KILN_ASSIGN_OR_RETURN(Tensor y, acc.t.permute(perm));
                   return put(c, rt::contiguous(y));
                 }};
}

}  // namespace kiln::frontend::detail
