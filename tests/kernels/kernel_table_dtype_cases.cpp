// The kernel table's integer, bool and mixed-dtype cases: integer arithmetic
// over the whole range (MIN / -1, x / 0, wrapping), compares, logical ops,
// where, every cast pair with hostile values (NaN, infinities, values past
// the integer ranges, bf16 ties, double-rounding traps), gather with i32 and
// i64 indices, and data movement of every dtype. Integer and bool outputs are
// compared exactly, and so are casts.
#include <string>
#include <vector>

#include "kernel_table.h"

namespace kiln::kernels::test {
namespace {

constexpr DType kAll[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kI32, DType::kI64, DType::kBool};

std::string name_of(DType d) { return std::string(dtype_name(d)); }

// Values of dtype d for a case: floats in [lo, hi), integers over their whole
// range (or small whole numbers when `small`), bools.
TensorSpec values(std::vector<int64_t> dims, DType d, bool small = false, double lo = -4.0, double hi = 4.0) {
  if (d == DType::kBool) return B(std::move(dims));
  if (d == DType::kI32 || d == DType::kI64) {
    if (!small) return Full(std::move(dims), d);
    TensorSpec s = T(std::move(dims), d, lo, hi);
    s.integral = true;
    return s;
  }
  return T(std::move(dims), d, lo, hi);
}

void add_int_arithmetic(std::vector<KernelCase>& cases) {
  for (DType d : {DType::kI32, DType::kI64}) {
    for (const char* op : {"add", "sub", "mul", "div", "max", "min"}) {
      cases.push_back(make_case(op, "full_67x3", d, {Full({67, 3}, d), Full({67, 3}, d)}, TensorSpec{{67, 3}, d}));
      cases.push_back(make_case(op, "bcast_33x4x3", d, {Full({33, 1, 3}, d), values({1, 4, 1}, d, true, -3, 3)},
                                TensorSpec{{33, 4, 3}, d}));
    }
    for (const char* op : {"neg", "abs"}) {
      cases.push_back(make_case(op, "full_67x3", d, {Full({67, 3}, d)}, TensorSpec{{67, 3}, d}));
    }
    // Divisors and exponents of every sign, 0 and -1 among them; powers of
    // full-range bases wrap.
    cases.push_back(make_case("fmod", "full_67x3", d, {Full({67, 3}, d), Full({67, 3}, d)}, TensorSpec{{67, 3}, d}));
    cases.push_back(make_case("fmod", "small_divisors_33x4x3", d, {Full({33, 1, 3}, d), values({1, 4, 1}, d, true, -3, 3)},
                              TensorSpec{{33, 4, 3}, d}));
    cases.push_back(make_case("pow", "full_bases_33x4x3", d, {Full({33, 1, 3}, d), values({1, 4, 1}, d, true, -3, 12)},
                              TensorSpec{{33, 4, 3}, d}));
    cases.push_back(make_case("pow", "small_bases_67x3", d, {values({67, 3}, d, true, -3, 3), values({67, 3}, d, true, -4, 20)},
                              TensorSpec{{67, 3}, d}));
  }
}

void add_compares(std::vector<KernelCase>& cases) {
  for (DType d : kAll) {
    for (const char* op : {"eq", "ne", "lt", "le", "gt", "ge"}) {
      // Small whole numbers make equal pairs common; broadcasting both ways.
      cases.push_back(make_case(op, "bcast_131x4x3", d, {values({131, 1, 3}, d, true, -2, 2), values({1, 4, 3}, d, true, -2, 2)},
                                B({131, 4, 3})));
      TensorSpec a = values({300, 2}, d), b = values({300, 2}, d);
      a.specials = b.specials = true;  // NaN, infinities, signed zeros; the integer ends
      cases.push_back(make_case(op, "hostile_300x2", d, {a, b}, B({300, 2})));
    }
  }
}

void add_logical(std::vector<KernelCase>& cases) {
  for (const char* op : {"logical_and", "logical_or", "logical_xor"}) {
    cases.push_back(make_case(op, "same_600x2", DType::kBool, {B({600, 2}), B({600, 2})}, B({600, 2})));
    cases.push_back(make_case(op, "bcast_300x3x2", DType::kBool, {B({300, 1, 2}), B({1, 3, 2})}, B({300, 3, 2})));
  }
  cases.push_back(make_case("logical_not", "700x2", DType::kBool, {B({700, 2})}, B({700, 2})));
}

void add_where(std::vector<KernelCase>& cases) {
  for (DType d : kAll) {
    cases.push_back(make_case("where", "bool_cond_bcast_131x4x3", d,
                              {B({131, 1, 3}), values({131, 4, 3}, d), values({1, 4, 1}, d)}, values({131, 4, 3}, d),
                              {}, {}, false, true));
    cases.push_back(make_case("where", "bool_cond_300", d, {B({300}), values({300}, d), values({300}, d)},
                              values({300}, d), {}, {}, false, true));
  }
  // cond of out's own dtype: non-zero (and NaN) is true.
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16, DType::kI32, DType::kI64}) {
    TensorSpec cond = values({67, 1, 3}, d, true, 0, 2);
    cond.specials = is_float(d);
    cases.push_back(make_case("where", "same_dtype_cond_67x4x3", d, {cond, values({67, 4, 3}, d), values({1, 4, 1}, d)},
                              values({67, 4, 3}, d), {}, {}, false, true));
  }
}

void add_casts(std::vector<KernelCase>& cases) {
  for (DType from : kAll) {
    for (DType to : kAll) {
      TensorSpec in = values({131, 3}, from, false, -300, 300);
      in.specials = true;
      cases.push_back(make_case("cast", "to_" + name_of(to) + "_131x3", from, {in}, TensorSpec{{131, 3}, to}, {}, {},
                                false, true));
    }
    // Large floats: truncation and saturation into the integers, overflow into f16.
    if (is_float(from)) {
      cases.push_back(make_case("cast", "wide_to_i32_300", from, {T({300}, from, -5e9, 5e9)},
                                TensorSpec{{300}, DType::kI32}, {}, {}, false, true));
      cases.push_back(make_case("cast", "wide_to_i64_300", from, {T({300}, from, -2e19, 2e19)},
                                TensorSpec{{300}, DType::kI64}, {}, {}, false, true));
      cases.push_back(make_case("cast", "wide_to_f16_300", from, {T({300}, from, -1e5, 1e5)},
                                TensorSpec{{300}, DType::kF16}, {}, {}, false, true));
    }
  }
}

void add_gathers(std::vector<KernelCase>& cases) {
  for (DType d : kAll) {
    for (DType idx : {DType::kI32, DType::kI64}) {
      const std::string tag = "_idx_" + name_of(idx);
      TensorSpec rows = T({7, 3}, idx, -50, 50);
      rows.integral = true;
      cases.push_back(make_case("gather", "embedding_130x50" + tag, d, {values({130, 50}, d), rows},
                                values({130, 7, 3}, d), {1}, {}, false, true));
      TensorSpec elems = T({5}, idx, -20, 20);
      elems.integral = true;
      cases.push_back(make_case("gather", "axis0_20x6" + tag, d, {values({20, 6}, d), elems}, values({5, 6}, d), {0},
                                {}, false, true));
    }
  }
}

void add_data_movement_ints(std::vector<KernelCase>& cases) {
  for (DType d : {DType::kI32, DType::kI64, DType::kBool}) {
    auto exact = [&](std::string k, std::string label, std::vector<TensorSpec> in, TensorSpec out,
                     std::vector<int64_t> ints, std::vector<float> floats = {}) {
      cases.push_back(make_case(std::move(k), std::move(label), d, std::move(in), std::move(out), std::move(ints),
                                std::move(floats), false, true));
    };
    exact("permute", "swap01_67x5x3", {values({67, 5, 3}, d)}, values({5, 67, 3}, d), {1, 0, 2});
    exact("permute", "keep0_300x5x3", {values({300, 5, 3}, d)}, values({300, 3, 5}, d), {0, 2, 1});
    exact("slice", "strided_100x7x3", {values({100, 7, 3}, d)}, values({40, 2, 3}, d), {5, 1, 0, 0, 0, 2, 3, 1, 1, 1});
    exact("concat", "axis0_3_inputs", {values({30, 3}, d), values({270, 3}, d), values({5, 3}, d)},
          values({305, 3}, d), {0});
    exact("concat", "axis1_67x5x2", {values({67, 2, 2}, d), values({67, 3, 2}, d)}, values({67, 5, 2}, d), {1});
    exact("pad", "constant_67x3", {values({67, 3}, d)}, values({74, 4}, d), {2, 1, 5, 0}, {-7.0f});
    exact("pad", "constant_rows_300x2", {values({300, 2}, d)}, values({301, 5}, d), {0, 1, 1, 2}, {1.0f});
    exact("pad", "reflect_67x5x3", {values({67, 5, 3}, d)}, values({74, 7, 6}, d), {3, 2, 1, 4, 0, 2, 1});
    exact("pad", "edge_70x4", {values({70, 4}, d)}, values({135, 5}, d), {60, 0, 5, 1, 2});
  }
}

}  // namespace

void add_dtype_cases(std::vector<KernelCase>& cases) {
  add_int_arithmetic(cases);
  add_compares(cases);
  add_logical(cases);
  add_where(cases);
  add_casts(cases);
  add_gathers(cases);
  add_data_movement_ints(cases);
}

}  // namespace kiln::kernels::test
