// Conv, ConvTranspose, MaxPool and AveragePool over 1-D and 2-D spatial
// inputs. 1-D runs as 2-D with H = 1; auto_pad SAME_* and asymmetric pads
// become explicit pads (conv2d takes them; pooling pads the input itself);
// ConvTranspose is conv2d over the zero-upsampled input with the weights
// flipped and transposed.
#include <array>
#include <cmath>
#include <limits>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// The spatial parameters of one node, always as 2-D ([H, W]).
struct Spatial {
  bool one_d = false;
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, dilation{1, 1}, pad_begin{0, 0}, pad_end{0, 0};
};

std::vector<int64_t> ints_or(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> dflt) {
  auto v = attr_ints(n, name);
  return v ? *v : dflt;
}

std::string spatial_check(const CheckContext& c, bool three_d = false) {
  if (c.rank(0) != 3 && c.rank(0) != 4 && !(three_d && c.rank(0) == 5))
    return std::string(three_d ? "only 1-D, 2-D and 3-D" : "only 1-D and 2-D") + " spatial ([N, C, L], [N, C, H, W]" +
           (three_d ? ", [N, C, D, H, W]" : "") + ") inputs are supported (rank " + std::to_string(c.rank(0)) + ")";
  const std::string pad = attr_string(c.node, "auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "VALID" && pad != "SAME_UPPER" && pad != "SAME_LOWER") return "auto_pad " + pad + " is not supported";
  const auto n = static_cast<std::size_t>(c.rank(0) - 2);
  for (const char* a : {"kernel_shape", "strides", "dilations"})
    if (auto v = attr_ints(c.node, a); v && v->size() != n) return std::string(a) + " must have " + std::to_string(n) + " values";
  if (auto v = attr_ints(c.node, "pads"); v && v->size() != 2 * n) return "pads must have " + std::to_string(2 * n) + " values";
  return "";
}

// `kernel`: the kernel's spatial dims; `in`: the input's. For ConvTranspose
// the pads are not derived here (auto_pad there works on the output).
// Per spatial dim (any count): kernel, stride, dilation and pads, auto_pad
// SAME_* resolved against the input dims `in` when `derive_same`.
struct Window {
  std::vector<int64_t> kernel, stride, dilation, pad_begin, pad_end;
};

Window window_of(const onnx::NodeProto& n, const std::vector<int64_t>& kernel, const std::vector<int64_t>& in, bool derive_same) {
  const std::size_t r = kernel.size();
  Window w{kernel, ints_or(n, "strides", std::vector<int64_t>(r, 1)), ints_or(n, "dilations", std::vector<int64_t>(r, 1)), {}, {}};
  const auto p = ints_or(n, "pads", std::vector<int64_t>(2 * r, 0));
  w.pad_begin.assign(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(r));
  w.pad_end.assign(p.begin() + static_cast<std::ptrdiff_t>(r), p.end());
  const std::string pad = attr_string(n, "auto_pad", "NOTSET");
  if (pad == "VALID") w.pad_begin = w.pad_end = std::vector<int64_t>(r, 0);
  if (derive_same && (pad == "SAME_UPPER" || pad == "SAME_LOWER")) {
    for (std::size_t i = 0; i < r; ++i) {
      const int64_t out = (in[i] + w.stride[i] - 1) / w.stride[i];
      const int64_t total = std::max<int64_t>((out - 1) * w.stride[i] + (w.kernel[i] - 1) * w.dilation[i] + 1 - in[i], 0);
      const int64_t small = total / 2;
      w.pad_begin[i] = pad == "SAME_UPPER" ? small : total - small;
      w.pad_end[i] = total - w.pad_begin[i];
    }
  }
  return w;
}

// The last one or two dims of a window as 2-D (a 1-D window gets H = 1).
Spatial planar(const Window& w, std::size_t first) {
  Spatial s;
  s.one_d = w.kernel.size() - first == 1;
  const std::size_t off = s.one_d ? 1 : 0;
  for (std::size_t i = first; i < w.kernel.size(); ++i) {
    const std::size_t j = i - first + off;
    s.kernel[j] = w.kernel[i];
    s.stride[j] = w.stride[i];
    s.dilation[j] = w.dilation[i];
    s.pad_begin[j] = w.pad_begin[i];
    s.pad_end[j] = w.pad_end[i];
  }
  return s;
}

std::vector<int64_t> spatial_dims(const Tensor& t) { return std::vector<int64_t>(t.shape().begin() + 2, t.shape().end()); }

Result<Tensor> as_2d(const Tensor& x) { return x.rank() == 3 ? x.unsqueeze(2) : Result<Tensor>(x); }
Result<Tensor> from_2d(const Tensor& y, bool one_d) { return one_d ? y.squeeze(2) : Result<Tensor>(y); }

// Pads dim `dim` of x with `before`/`after` elements of `value`.
Result<Tensor> pad_dim(runtime::Runtime& rt, const Tensor& x, int dim, int64_t before, int64_t after, double value) {
  if (before == 0 && after == 0) return x;
  std::vector<Tensor> parts;
  rt::Shape s = x.shape();
  if (before > 0) {
    s[static_cast<std::size_t>(dim)] = before;
    KILN_ASSIGN_OR_RETURN(Tensor f, device_full(rt, s, value, x.dtype()));
    parts.push_back(f);
  }
  parts.push_back(x);
  if (after > 0) {
    s[static_cast<std::size_t>(dim)] = after;
    KILN_ASSIGN_OR_RETURN(Tensor f, device_full(rt, s, value, x.dtype()));
    parts.push_back(f);
  }
  return rt::concat(parts, dim);
}

Result<Tensor> pad_hw(runtime::Runtime& rt, Tensor x, const Spatial& s, double value) {
  KILN_ASSIGN_OR_RETURN(x, pad_dim(rt, x, 2, s.pad_begin[0], s.pad_end[0], value));
  return pad_dim(rt, x, 3, s.pad_begin[1], s.pad_end[1], value);
}

std::string pool_check(const CheckContext& c, bool max) {
  std::string r = first_of({require_float(c, 0), spatial_check(c, true)});
  if (!r.empty()) return r;
  if (c.rank(0) == 5) {
    for (int i = 1; i < c.node.output_size(); ++i)
      if (!c.node.output(i).empty()) return std::string("the Indices output of 3-D pooling is not supported");
    for (int64_t d : ints_or(c.node, "dilations", {}))
      if (d != 1) return std::string("dilations of 3-D pooling are not supported");
  }
  if (!max)
    for (int i = 1; i < c.node.output_size(); ++i)
      if (!c.node.output(i).empty()) return "output " + std::to_string(i) + " is not supported";
  if (!attr_ints(c.node, "kernel_shape")) return std::string("kernel_shape is required");
  if (!max)
    for (int64_t d : ints_or(c.node, "dilations", {}))
      if (d != 1) return std::string("dilations other than 1 are not supported");
  return "";
}

// Output length of a pooled dim (ONNX's, as the runtime's pooling computes it).
int64_t pooled_length(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pb, int64_t pe, bool ceil_mode) {
  const int64_t room = in + pb + pe - ((k - 1) * dilation + 1);
  int64_t n = (ceil_mode ? (room + stride - 1) / stride : room / stride) + 1;
  if (ceil_mode && (n - 1) * stride >= in + pb) --n;
  return n;
}

// MaxPool with dilations or the Indices output: the running max (and the
// flat input index of its first occurrence) over one strided view of the
// -inf-padded input per kernel offset.
Status max_pool_by_offsets(LowerContext& c, Tensor x, const Spatial& s) {
  const bool ceil_mode = attr_int(c.node, "ceil_mode", 0) != 0;
  const int64_t h = x.dim(2), w = x.dim(3);
  std::array<int64_t, 2> out{}, end_pad{};
  for (int j = 0; j < 2; ++j) {
    const int64_t in = x.dim(2 + j);
    out[j] = pooled_length(in, s.kernel[j], s.stride[j], s.dilation[j], s.pad_begin[j], s.pad_end[j], ceil_mode);
    if (out[j] < 1) return invalid_argument("the pooled output of " + x.describe() + " would be empty");
    end_pad[j] = std::max<int64_t>((out[j] - 1) * s.stride[j] + (s.kernel[j] - 1) * s.dilation[j] + 1 - in - s.pad_begin[j], 0);
  }
  Spatial padded = s;
  padded.pad_end = end_pad;
  KILN_ASSIGN_OR_RETURN(Tensor xp, pad_hw(c.rt, x, padded, -std::numeric_limits<double>::infinity()));
  const bool indices = c.node.output_size() > 1 && !c.node.output(1).empty();
  if (indices && x.numel() > std::numeric_limits<int32_t>::max()) return invalid_argument("Indices of more than 2^31 elements");
  // Flat index of output position (n, c, oh, ow) at kernel offset (kh, kw):
  // (n * C + c) * H * W + (oh * sh + kh * dh - ph) * W + ow * sw + kw * dw - pw,
  // or with storage_order 1 (column-major H, W): ... + row + col * H.
  const bool column_major = attr_int(c.node, "storage_order", 0) != 0;
  const int64_t row_unit = column_major ? 1 : w, col_unit = column_major ? h : 1;
  std::optional<Tensor> nc, rows, cols;
  if (indices) {
    KILN_ASSIGN_OR_RETURN(Tensor a, c.rt.arange(x.dim(0) * x.dim(1), DType::kI32));
    KILN_ASSIGN_OR_RETURN(a, rt::mul(a, static_cast<double>(h * w)));
    KILN_ASSIGN_OR_RETURN(nc, a.reshape({x.dim(0), x.dim(1), 1, 1}));
    KILN_ASSIGN_OR_RETURN(Tensor r, c.rt.arange(out[0], DType::kI32));
    KILN_ASSIGN_OR_RETURN(r, rt::mul(r, static_cast<double>(s.stride[0] * row_unit)));
    KILN_ASSIGN_OR_RETURN(rows, r.reshape({out[0], 1}));
    KILN_ASSIGN_OR_RETURN(Tensor q, c.rt.arange(out[1], DType::kI32));
    KILN_ASSIGN_OR_RETURN(q, rt::mul(q, static_cast<double>(s.stride[1] * col_unit)));
    KILN_ASSIGN_OR_RETURN(cols, q.reshape({1, out[1]}));
  }
  std::optional<Tensor> best, best_index;
  for (int64_t kh = 0; kh < s.kernel[0]; ++kh) {
    for (int64_t kw = 0; kw < s.kernel[1]; ++kw) {
      const int64_t h0 = kh * s.dilation[0], w0 = kw * s.dilation[1];
      KILN_ASSIGN_OR_RETURN(Tensor v, xp.slice(2, h0, h0 + (out[0] - 1) * s.stride[0] + 1, s.stride[0]));
      KILN_ASSIGN_OR_RETURN(v, v.slice(3, w0, w0 + (out[1] - 1) * s.stride[1] + 1, s.stride[1]));
      std::optional<Tensor> index;
      if (indices) {
        KILN_ASSIGN_OR_RETURN(Tensor i, rt::add(*rows, *cols));
        const int64_t offset = (h0 - s.pad_begin[0]) * row_unit + (w0 - s.pad_begin[1]) * col_unit;
        if (offset != 0) { KILN_ASSIGN_OR_RETURN(i, rt::add(i, static_cast<double>(offset))); }
        KILN_ASSIGN_OR_RETURN(index, rt::add(*nc, i));
      }
      if (!best) {
        best = v;
        best_index = index;
        continue;
      }
      KILN_ASSIGN_OR_RETURN(Tensor better, rt::gt(v, *best));  // ties keep the first
      KILN_ASSIGN_OR_RETURN(best, rt::where(better, v, *best));
      if (indices) { KILN_ASSIGN_OR_RETURN(best_index, rt::where(better, *index, *best_index)); }
    }
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, from_2d(*best, s.one_d));
  c.out(0, y);
  if (indices) {
    KILN_ASSIGN_OR_RETURN(Tensor i, rt::cast(*best_index, DType::kI64));
    KILN_ASSIGN_OR_RETURN(i, from_2d(i, s.one_d));
    c.out(1, i);
  }
  return {};
}

// Pooling of [N, C, H, W] over H and W by `s`.
Result<Tensor> pool_planar(LowerContext& c, const Tensor& x, const Spatial& s, bool max) {
  rt::Pool2dOptions o;
  o.kernel_h = s.kernel[0]; o.kernel_w = s.kernel[1];
  o.stride_h = s.stride[0]; o.stride_w = s.stride[1];
  o.ceil_mode = attr_int(c.node, "ceil_mode", 0) != 0;
  const bool include_pad = attr_int(c.node, "count_include_pad", 0) != 0;
  o.count_include_pad = include_pad;
  if (s.pad_begin == s.pad_end) {
    o.pad_h = s.pad_begin[0]; o.pad_w = s.pad_begin[1];
    return max ? rt::max_pool2d(x, o) : rt::avg_pool2d(x, o);
  }
  if (max) {
    // Asymmetric: pad the input with -inf, which no window's max picks.
    KILN_ASSIGN_OR_RETURN(Tensor xp, pad_hw(c.rt, x, s, -std::numeric_limits<double>::infinity()));
    return rt::max_pool2d(xp, o);
  }
  // Asymmetric average: window sums over the zero-padded input, divided by
  // the window counts (of ones padded with zeros) unless pads count.
  KILN_ASSIGN_OR_RETURN(Tensor xp, pad_hw(c.rt, x, s, 0));
  KILN_ASSIGN_OR_RETURN(Tensor y, rt::avg_pool2d(xp, o));
  if (include_pad) return y;
  KILN_ASSIGN_OR_RETURN(Tensor ones, device_full(c.rt, x.shape(), 1, x.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor mp, pad_hw(c.rt, ones, s, 0));
  KILN_ASSIGN_OR_RETURN(Tensor counts, rt::avg_pool2d(mp, o));
  return rt::div(y, counts);
}

// 3-D pooling is separable over a box: pool D (as [N, C, D, H*W] with a
// [kd, 1] window), then H and W (as [N, C*D', H, W]). Max of maxes is the
// max; the average of averages is the average, the window counts (and so
// the excluded pads) factoring per dim.
Result<Tensor> pool_3d(LowerContext& c, const Tensor& x, const Window& w, bool max) {
  const int64_t n = x.dim(0), ch = x.dim(1), d = x.dim(2), h = x.dim(3), wd = x.dim(4);
  Spatial depth;
  depth.kernel = {w.kernel[0], 1};
  depth.stride = {w.stride[0], 1};
  depth.pad_begin = {w.pad_begin[0], 0};
  depth.pad_end = {w.pad_end[0], 0};
  KILN_ASSIGN_OR_RETURN(Tensor y, x.reshape({n, ch, d, h * wd}));
  KILN_ASSIGN_OR_RETURN(y, pool_planar(c, y, depth, max));
  const int64_t d_out = y.dim(2);
  KILN_ASSIGN_OR_RETURN(y, y.reshape({n, ch * d_out, h, wd}));
  KILN_ASSIGN_OR_RETURN(y, pool_planar(c, y, planar(w, 1), max));
  return y.reshape({n, ch, d_out, y.dim(2), y.dim(3)});
}

Status pool_lower(LowerContext& c, bool max) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  const Window w = window_of(c.node, *attr_ints(c.node, "kernel_shape"), spatial_dims(x), true);
  if (x.rank() == 5) return put(c, pool_3d(c, x, w, max));
  const Spatial s = planar(w, 0);
  KILN_ASSIGN_OR_RETURN(x, as_2d(x));
  if (max && (s.dilation != std::array<int64_t, 2>{1, 1} || (c.node.output_size() > 1 && !c.node.output(1).empty())))
    return max_pool_by_offsets(c, x, s);
  KILN_ASSIGN_OR_RETURN(Tensor y, pool_planar(c, x, s, max));
  return put(c, from_2d(y, s.one_d));
}

std::string conv_check(const CheckContext& c) {
  return first_of({require_float(c, 0), require_float(c, 1), c.has_input(2) ? require_float(c, 2) : "", spatial_check(c, true),
                   c.rank(1) >= 0 && c.rank(1) != c.rank(0) ? "W must have X's rank" : ""});
}

// Inserts stride - 1 zeros between elements of `dim` of x (any rank: the
// dims around it are merged, so the work stays within rank 4).
Result<Tensor> zero_upsample(runtime::Runtime& rt, const Tensor& x, int dim, int64_t stride) {
  if (stride == 1) return x;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < x.rank(); ++d)
    if (d < dim) outer *= x.dim(d);
    else if (d > dim) inner *= x.dim(d);
  const int64_t len = x.dim(dim);
  KILN_ASSIGN_OR_RETURN(Tensor u, x.reshape({outer, len, 1, inner}));
  KILN_ASSIGN_OR_RETURN(Tensor zeros, device_full(rt, {outer, len, stride - 1, inner}, 0, x.dtype()));
  KILN_ASSIGN_OR_RETURN(u, rt::concat({u, zeros}, 2));
  KILN_ASSIGN_OR_RETURN(u, u.reshape({outer, len * stride, inner}));
  KILN_ASSIGN_OR_RETURN(u, u.slice(1, 0, (len - 1) * stride + 1));
  rt::Shape out = x.shape();
  out[static_cast<std::size_t>(dim)] = (len - 1) * stride + 1;
  return u.reshape(out);
}

// Convolution over 1, 2 or 3 spatial dims by `win` (pads >= 0): conv2d,
// with H = 1 for 1-D; 3-D as one conv2d per kernel depth tap over the
// depth-strided view (depths folded into the batch), summed.
Result<Tensor> conv_nd(LowerContext& c, Tensor x, const Tensor& w, const std::optional<Tensor>& bias, const Window& win, int64_t groups) {
  const std::size_t first = win.kernel.size() == 3 ? 1 : 0;
  const Spatial s = planar(win, first);
  rt::Conv2dOptions o;
  o.stride_h = s.stride[0]; o.stride_w = s.stride[1];
  o.pad_h = s.pad_begin[0]; o.pad_w = s.pad_begin[1];
  o.pad_bottom = s.pad_end[0]; o.pad_right = s.pad_end[1];
  o.dilation_h = s.dilation[0]; o.dilation_w = s.dilation[1];
  o.groups = groups;
  if (win.kernel.size() < 3) {
    KILN_ASSIGN_OR_RETURN(x, as_2d(x));
    KILN_ASSIGN_OR_RETURN(Tensor w2, as_2d(w));
    KILN_ASSIGN_OR_RETURN(Tensor y, rt::conv2d(x, w2, bias, o));
    return from_2d(y, s.one_d);
  }
  KILN_ASSIGN_OR_RETURN(x, pad_dim(c.rt, x, 2, win.pad_begin[0], win.pad_end[0], 0));
  const int64_t n = x.dim(0), ch = x.dim(1), d = x.dim(2), h = x.dim(3), wd = x.dim(4);
  const int64_t kd = w.dim(2), sd = win.stride[0], dd = win.dilation[0];
  const int64_t d_out = (d - ((kd - 1) * dd + 1)) / sd + 1;
  if (d_out < 1) return invalid_argument("the convolution of " + x.describe() + " would be empty");
  std::optional<Tensor> sum;
  for (int64_t k = 0; k < kd; ++k) {
    KILN_ASSIGN_OR_RETURN(Tensor xs, x.slice(2, k * dd, k * dd + (d_out - 1) * sd + 1, sd));
    KILN_ASSIGN_OR_RETURN(xs, xs.permute({0, 2, 1, 3, 4}));
    KILN_ASSIGN_OR_RETURN(xs, rt::contiguous(xs));
    KILN_ASSIGN_OR_RETURN(xs, xs.reshape({n * d_out, ch, h, wd}));
    KILN_ASSIGN_OR_RETURN(Tensor wk, w.slice(2, k, k + 1));
    KILN_ASSIGN_OR_RETURN(wk, wk.squeeze(2));
    KILN_ASSIGN_OR_RETURN(wk, rt::contiguous(wk));
    KILN_ASSIGN_OR_RETURN(Tensor yk, rt::conv2d(xs, wk, std::nullopt, o));
    if (sum) { KILN_ASSIGN_OR_RETURN(yk, rt::add(*sum, yk)); }
    sum = yk;
  }
  Tensor y = *sum;
  if (bias) {
    KILN_ASSIGN_OR_RETURN(Tensor b, bias->reshape({1, bias->numel(), 1, 1}));
    KILN_ASSIGN_OR_RETURN(y, rt::add(y, b));
  }
  KILN_ASSIGN_OR_RETURN(y, y.reshape({n, d_out, y.dim(1), y.dim(2), y.dim(3)}));
  KILN_ASSIGN_OR_RETURN(y, y.permute({0, 2, 1, 3, 4}));
  return rt::contiguous(y);
}

// Elements of dim in reverse (the index list is shape metadata).
Result<Tensor> flip(runtime::Runtime& rt, const Tensor& x, int dim) {
  const int64_t n = x.dim(dim);
  if (n == 1) return x;
  std::vector<int32_t> idx;
  for (int64_t i = n - 1; i >= 0; --i) idx.push_back(static_cast<int32_t>(i));
  KILN_ASSIGN_OR_RETURN(Tensor i, rt.from_host(idx, {n}));
  return rt::index_select(x, dim, i);
}

Status conv_transpose_lower(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor w, c.in(1));
  std::optional<Tensor> bias;
  if (c.has(2)) { KILN_ASSIGN_OR_RETURN(bias, c.in(2)); }
  const int64_t groups = attr_int(c.node, "group", 1);
  const std::vector<int64_t> in = spatial_dims(x);
  const std::size_t r = in.size();
  Window win = window_of(c.node, ints_or(c.node, "kernel_shape", spatial_dims(w)), in, false);
  const auto out_pad = ints_or(c.node, "output_padding", std::vector<int64_t>(r, 0));
  if (out_pad.size() != r) return invalid_argument("output_padding must have one value per spatial dim");
  const std::string auto_pad = attr_string(c.node, "auto_pad", "NOTSET");
  auto out_shape = attr_ints(c.node, "output_shape");
  if (!out_shape && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")) {
    out_shape = std::vector<int64_t>();
    for (std::size_t i = 0; i < r; ++i) out_shape->push_back(in[i] * win.stride[i]);
  }
  if (out_shape) {
    if (out_shape->size() != r) return invalid_argument("output_shape must have one value per spatial dim");
    for (std::size_t i = 0; i < r; ++i) {
      const int64_t total = win.stride[i] * (in[i] - 1) + out_pad[i] + (win.kernel[i] - 1) * win.dilation[i] + 1 - (*out_shape)[i];
      // Floor division: a negative total (output_shape beyond the full
      // output) extends the end, as ONNX's reference does.
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      win.pad_begin[i] = auto_pad == "SAME_UPPER" ? half : total - half;
      win.pad_end[i] = total - win.pad_begin[i];
    }
  }
  const int64_t cin = w.dim(0), kout_g = w.dim(1);
  if (cin != x.dim(1) || cin % groups != 0) return invalid_argument("W " + w.describe() + " does not match X " + x.describe() + " and group " + std::to_string(groups));
  int64_t taps = 1;
  for (int d = 2; d < w.rank(); ++d) taps *= w.dim(d);
  // [C, K/g, k...] -> [g, C/g, K/g, taps] -> [g, K/g, C/g, taps] -> [K, C/g, k...], flipped.
  KILN_ASSIGN_OR_RETURN(Tensor wt, w.reshape({groups, cin / groups, kout_g, taps}));
  KILN_ASSIGN_OR_RETURN(wt, wt.permute({0, 2, 1, 3}));
  KILN_ASSIGN_OR_RETURN(wt, rt::contiguous(wt));
  rt::Shape wshape = {groups * kout_g, cin / groups};
  for (int d = 2; d < w.rank(); ++d) wshape.push_back(w.dim(d));
  KILN_ASSIGN_OR_RETURN(wt, wt.reshape(wshape));
  for (int d = 2; d < wt.rank(); ++d) { KILN_ASSIGN_OR_RETURN(wt, flip(c.rt, wt, d)); }
  Tensor up = x;
  for (std::size_t i = 0; i < r; ++i) { KILN_ASSIGN_OR_RETURN(up, zero_upsample(c.rt, up, static_cast<int>(i) + 2, win.stride[i])); }
  // Full output needs (k - 1) * d on both sides; pads crop it, output_padding extends the end.
  Window conv = win;
  std::vector<int64_t> crop_begin(r, 0), crop_end(r, 0);
  for (std::size_t i = 0; i < r; ++i) {
    const int64_t full = (win.kernel[i] - 1) * win.dilation[i];
    const int64_t b = full - win.pad_begin[i], e = full - win.pad_end[i] + out_pad[i];
    conv.stride[i] = 1;
    conv.pad_begin[i] = std::max<int64_t>(b, 0);
    conv.pad_end[i] = std::max<int64_t>(e, 0);
    crop_begin[i] = std::max<int64_t>(-b, 0);
    crop_end[i] = std::max<int64_t>(-e, 0);
  }
  KILN_ASSIGN_OR_RETURN(Tensor y, conv_nd(c, up, wt, bias, conv, groups));
  for (std::size_t i = 0; i < r; ++i) {
    const int d = static_cast<int>(i) + 2;
    if (!crop_begin[i] && !crop_end[i]) continue;
    if (y.dim(d) <= crop_begin[i] + crop_end[i]) return invalid_argument("pads leave no output");
    KILN_ASSIGN_OR_RETURN(y, y.slice(d, crop_begin[i], y.dim(d) - crop_end[i]));
  }
  return put(c, y);
}

}  // namespace

void add_conv_ops(OpTable& t) {
  t["Conv"] = {conv_check, [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 KILN_ASSIGN_OR_RETURN(Tensor w, c.in(1));
                 std::optional<Tensor> bias;
                 if (c.has(2)) { KILN_ASSIGN_OR_RETURN(bias, c.in(2)); }
                 const Window win = window_of(c.node, ints_or(c.node, "kernel_shape", spatial_dims(w)), spatial_dims(x), true);
                 return put(c, conv_nd(c, x, w, bias, win, attr_int(c.node, "group", 1)));
               }};
  t["ConvTranspose"] = {conv_check, conv_transpose_lower};
  t["MaxPool"] = {[](const CheckContext& c) { return pool_check(c, true); }, [](LowerContext& c) { return pool_lower(c, true); }};
  t["AveragePool"] = {[](const CheckContext& c) { return pool_check(c, false); }, [](LowerContext& c) { return pool_lower(c, false); }};
}

}  // namespace kiln::frontend::detail
