#include "schema_guards.h"

#include <map>
#include <memory>
#include <string>

namespace kiln::frontend::detail {
namespace {

// The ops whose inference takes a kernel from W, and W's input index.
struct WeightedOp {
  const char* name;
  int w_input;
};
constexpr WeightedOp kConvolutions[] = {{"Conv", 1}, {"ConvInteger", 1}, {"QLinearConv", 3}, {"ConvTranspose", 1}};

int rank_of(onnx::InferenceContext& ctx, std::size_t input) {
  const onnx::TypeProto* t = ctx.getInputType(input);
  if (t == nullptr || !t->has_tensor_type() || !t->tensor_type().has_shape()) return -1;
  return t->tensor_type().shape().dim_size();
}

onnx::InferenceFunction with_rank_check(const std::string& op, int w_input, onnx::InferenceFunction original) {
  return [op, w_input, original](onnx::InferenceContext& ctx) {
    const auto w = static_cast<std::size_t>(w_input);
    if (ctx.getNumInputs() > w) {
      const int x_rank = rank_of(ctx, 0), w_rank = rank_of(ctx, w);
      if (x_rank >= 0 && w_rank >= 0 && x_rank != w_rank) {
        fail_shape_inference(op, ": W has ", w_rank, " dims, X has ", x_rank,
                             " (W is [out, in, kernel...] and its kernel, or kernel_shape, spans X's spatial dims)");
      }
    }
    if (original) original(ctx);
  };
}

class GuardedSchemas final : public onnx::ISchemaRegistry {
 public:
  GuardedSchemas() {
    // Every version of each op: Schema(name, v) is the one in force at opset v.
    for (const WeightedOp& op : kConvolutions) {
      for (int v = 1; v <= onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at(onnx::ONNX_DOMAIN).second; ++v) {
        const onnx::OpSchema* base = onnx::OpSchemaRegistry::Schema(op.name, v, onnx::ONNX_DOMAIN);
        if (base == nullptr || guarded_.count(base)) continue;
        auto copy = std::make_unique<onnx::OpSchema>(*base);
        copy->TypeAndShapeInferenceFunction(with_rank_check(op.name, op.w_input, base->GetTypeAndShapeInferenceFunction()));
        guarded_.emplace(base, std::move(copy));
      }
    }
  }

  const onnx::OpSchema* GetSchema(const std::string& key, const int max_inclusive_version,
                                  const std::string& domain) const override {
    const onnx::OpSchema* base = onnx::OpSchemaRegistry::Schema(key, max_inclusive_version, domain);
    const auto it = guarded_.find(base);
    return it == guarded_.end() ? base : it->second.get();
  }

 private:
  std::map<const onnx::OpSchema*, std::unique_ptr<onnx::OpSchema>> guarded_;
};

}  // namespace

const onnx::ISchemaRegistry* guarded_schemas() {
  static const GuardedSchemas* const schemas = new GuardedSchemas();  // never destroyed: used until exit
  return schemas;
}

}  // namespace kiln::frontend::detail
