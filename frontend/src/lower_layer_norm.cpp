// LayerNormalization's optional outputs Mean and InvStdDev (the statistics a
// training graph keeps). The normalised output stays the runtime's layer_norm
// (the entry lower_nn.cpp made); the statistics are reductions beside it:
// Mean = mean(x), InvStdDev = 1 / sqrt(mean((x - Mean)^2) + epsilon) over the
// dims from `axis` on, kept as 1s, in fp32 (stash_type 1, the only one the
// spec defines).
#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

bool wants_statistics(const onnx::NodeProto& n) {
  for (int i = 1; i < n.output_size(); ++i)
    if (!n.output(i).empty()) return true;
  return false;
}

}  // namespace

void add_layer_norm_statistics(OpTable& t) {
  const OpLowering normalised = t.at("LayerNormalization");
  t["LayerNormalization"] = {
      [normalised](const CheckContext& c) {
        if (!wants_statistics(c.node)) return normalised.check(c);
        const int64_t stash = attr_int(c.node, "stash_type", 1);
        if (stash != 1) return "stash_type " + std::to_string(stash) + " is not supported (only 1, fp32)";
        if (c.node.output_size() > 3) return std::string("more than 3 outputs");
        // The first output's checks, on the node without the statistics.
        onnx::NodeProto first_only = c.node;
        while (first_only.output_size() > 1) first_only.mutable_output()->RemoveLast();
        return normalised.check(CheckContext{first_only, c.opset, c.infos, c.host_known});
      },
      [normalised](LowerContext& c) -> Status {
        if (!c.node.output(0).empty()) KILN_RETURN_IF_ERROR(normalised.lower(c));
        if (!wants_statistics(c.node)) return {};
        KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
        KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), x.rank(), "axis"));
        KILN_ASSIGN_OR_RETURN(x, rt::cast(x, DType::kF32));
        std::vector<int> dims;
        for (int d = axis; d < x.rank(); ++d) dims.push_back(d);
        KILN_ASSIGN_OR_RETURN(Tensor mean, rt::mean(x, dims, true));
        KILN_ASSIGN_OR_RETURN(Tensor centred, rt::sub(x, mean));
        KILN_ASSIGN_OR_RETURN(Tensor var, rt::mul(centred, centred));
        KILN_ASSIGN_OR_RETURN(var, rt::mean(var, dims, true));
        KILN_ASSIGN_OR_RETURN(var, rt::add(var, attr_float(c.node, "epsilon", 1e-5f)));
        KILN_ASSIGN_OR_RETURN(Tensor inv_std, rt::rsqrt(var));
        if (c.node.output_size() > 1 && !c.node.output(1).empty()) c.out(1, mean);
        if (c.node.output_size() > 2 && !c.node.output(2).empty()) c.out(2, inv_std);
        return {};
      }};
}

}  // namespace kiln::frontend::detail
