#include "sdpa_lowering.h"

#include <algorithm>
#include <map>

#include "kiln/driver/command_buffer.h"
#include "kiln/kernels/kernel_registry.h"

namespace kiln::runtime {

namespace {

uint64_t align(uint64_t bytes) { return (bytes + 255) / 256 * 256; }

// The node's dims: batch b, heads h (the batch dims of q, padded to two),
// query length L, key length S, E, Ev.
struct Dims {
  int64_t b = 1, h = 1, l = 0, s = 0, e = 0, ev = 0;
  DType dtype = DType::kF32;
};

Dims dims_of(const Graph& g, const Node& n) {
  const Shape& q = n.inputs[0].shape;
  const Shape& v = n.inputs[2].shape;
  const std::size_t r = q.size();
  Dims d;
  if (r == 4) d.b = q[0];
  if (r >= 3) d.h = q[r - 3];
  d.l = q[r - 2];
  d.e = q[r - 1];
  d.s = v[r - 2];
  d.ev = v[r - 1];
  d.dtype = g.values[static_cast<std::size_t>(n.outputs[0])].dtype;
  return d;
}

// SRAM offsets of one query tile's scratch (relative to its slot). P
// overwrites the scores in place.
struct TileSlot {
  uint64_t s = 0, ml = 0, o = 0, bytes = 0;
};

TileSlot tile_slot(const Dims& d, int64_t group, int64_t tq, int64_t tk) {
  const uint64_t g = static_cast<uint64_t>(group), rows = static_cast<uint64_t>(tq), cols = static_cast<uint64_t>(tk);
  TileSlot t;
  t.s = 0;
  t.ml = t.s + align(g * rows * cols * dtype_size(d.dtype));
  t.o = t.ml + align(g * rows * 2 * 4);
  t.bytes = t.o + align(g * rows * static_cast<uint64_t>(d.ev) * 4);
  return t;
}

// Bytes of one group's staged q, k, v.
uint64_t staged_bytes(const Dims& d, int64_t group) {
  const uint64_t es = dtype_size(d.dtype), g = static_cast<uint64_t>(group);
  return align(g * static_cast<uint64_t>(d.l * d.e) * es) + align(g * static_cast<uint64_t>(d.s * d.e) * es) +
         align(g * static_cast<uint64_t>(d.s * d.ev) * es);
}

// The mask view as four dims [B, H, L, S] (leading broadcast dims added).
View mask4(const View& m) {
  View v = m;
  while (v.shape.size() < 4) {
    v.shape.insert(v.shape.begin(), 1);
    v.strides.insert(v.strides.begin(), 0);
  }
  return v;
}

// Orders a node's jobs: each job's reads wait for the last write of what it
// reads, its writes for every read and write since.
class Pipeline {
 public:
  int add(Job job, std::vector<int> reads, std::vector<int> writes) {
    const int id = static_cast<int>(out.jobs.size());
    std::vector<int> after;
    for (int r : reads) {
      if (auto it = last_write_.find(r); it != last_write_.end()) after.push_back(it->second);
    }
    for (int w : writes) {
      if (auto it = last_write_.find(w); it != last_write_.end()) after.push_back(it->second);
      for (int r : readers_[w]) after.push_back(r);
    }
    for (int r : reads) readers_[r].push_back(id);
    for (int w : writes) {
      last_write_[w] = id;
      readers_[w].clear();
    }
    std::sort(after.begin(), after.end());
    after.erase(std::unique(after.begin(), after.end()), after.end());
    out.jobs.push_back(std::move(job));
    out.after.push_back(std::move(after));
    return id;
  }
  NodeJobs out;

 private:
  std::map<int, int> last_write_;
  std::map<int, std::vector<int>> readers_;
};

kernels::TensorDesc desc3(uint64_t address, DType dtype, int64_t inner, int64_t rows, int64_t group,
                          int64_t row_stride, int64_t group_stride) {
  kernels::TensorDesc t;
  t.address = address;
  t.dtype = dtype;
  t.rank = 3;
  t.dims[0] = inner, t.dims[1] = rows, t.dims[2] = group;
  t.strides[0] = 1, t.strides[1] = row_stride, t.strides[2] = group_stride;
  return t;
}

}  // namespace

std::optional<SdpaPlan> plan_sdpa(const Graph& g, const Node& n, uint64_t sram_budget) {
  const Dims d = dims_of(g, n);
  SdpaPlan plan;
  plan.tile_q = std::min(kSdpaTile, d.l);
  for (bool staged : {true, false}) {
    for (int64_t tk = d.s; tk > 0; tk = (tk - 1) / kSdpaTile * kSdpaTile) {
      for (int64_t group = d.h; group >= 1; --group) {
        if (d.h % group != 0) continue;
        const uint64_t tiles = 2 * tile_slot(d, group, plan.tile_q, tk).bytes;
        const int64_t groups = d.b * d.h / group;
        const uint64_t stage = staged ? staged_bytes(d, group) * (groups > 1 ? 2 : 1) : 0;
        if (tiles + stage <= sram_budget) {
          plan.tile_k = tk;
          plan.group = group;
          plan.staged = staged;
          plan.sram_bytes = tiles + stage;
          return plan;
        }
      }
    }
  }
  return std::nullopt;
}

Result<NodeJobs> lower_fused_sdpa(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                                  const LowerOptions& options) {
  const std::optional<SdpaPlan> plan = plan_sdpa(g, n, options.sram_budget);
  const Dims d = dims_of(g, n);
  if (!plan) {
    return resource_exhausted("fused_sdpa: one head's tiles do not fit the " + std::to_string(options.sram_budget) +
                              " bytes of SRAM scratch the device allows");
  }
  for (int i = 0; i < 3; ++i) {
    if (!n.inputs[static_cast<std::size_t>(i)].contiguous()) {
      // Built with +=: GCC 12 reports a false -Warray-bounds on "literal" + string + "literal" here.
      std::string what = "fused_sdpa: input ";
      what += std::to_string(i);
      what += " is not dense (legalisation should have copied it)";
      return internal_error(std::move(what));
    }
  }
  const bool causal = n.attrs.ints[0] != 0, has_mask = n.attrs.ints[1] != 0;
  const auto scale = static_cast<float>(n.attrs.floats[0]);
  const int64_t G = plan->group, tq = plan->tile_q, tk = plan->tile_k;
  const uint64_t es = dtype_size(d.dtype);
  const uint64_t q_addr = view_address(n.inputs[0], placement), k_addr = view_address(n.inputs[1], placement),
                 v_addr = view_address(n.inputs[2], placement);
  const View out{n.outputs[0], {}, {}, 0, d.dtype};
  const uint64_t out_addr = view_address(out, placement);
  const View mask = has_mask ? mask4(n.inputs[3]) : View{};
  const uint64_t mask_addr = has_mask ? view_address(View{mask.value, {}, {}, 0, mask.dtype}, placement) : 0;
  const TileSlot slot = tile_slot(d, G, tq, tk);
  const uint64_t stage_bytes = staged_bytes(d, G);
  const auto sram = [](uint64_t offset) { return driver::bound(kSramSlot, offset); };
  const bool tf32 = options.allow_tf32 && d.dtype == DType::kF32;
  const uint64_t kernel_step = kernels::kernel_id("sdpa_softmax_step"),
                 kernel_finalize = kernels::kernel_id("sdpa_finalize");
  // Resources the pipeline orders jobs by.
  enum { kQ = 0, kK = 1, kV = 2, kS = 6, kMl = 7, kO = 8 };
  const auto staged_res = [](int what, int buf) { return what + 3 * buf; };
  const auto tile_res = [](int what, int t) { return what + 3 * t; };

  Pipeline pipe;
  const int64_t groups = d.b * d.h / G;
  // Every query tile of every group, in order, each on one of two lanes (its
  // SRAM tile slot); a unit is one key block of one tile.
  struct Tile {
    int64_t grp = 0, r0 = 0, rows = 0, keys = 0, blocks = 0;
    int t = 0;
  };
  struct Unit {
    std::size_t tile = 0;
    int64_t j = 0;
  };
  std::vector<Tile> tiles;
  std::vector<Unit> lanes[2];
  std::size_t done[2] = {0, 0};  // units of each lane whose P V is recorded
  bool drifted = false;
  const int64_t per_group = (d.l + tq - 1) / tq;
  for (int64_t grp = 0; grp < groups; ++grp) {
    for (int64_t i = 0; i < per_group; ++i) {
      Tile tile;
      tile.grp = grp;
      tile.r0 = i * tq;
      tile.rows = std::min(tq, d.l - tile.r0);
      // Causal: keys past the tile's last query are hidden for every row.
      tile.keys = causal ? std::min(d.s, tile.r0 + tile.rows) : d.s;
      tile.blocks = (tile.keys + tk - 1) / tk;
      // The lane with less work so far, so the lanes keep pace (and neither
      // reaches a group whose staging buffer the other still reads).
      tile.t = lanes[1].size() < lanes[0].size() ? 1 : 0;
      for (int64_t j = 0; j < tile.blocks; ++j) lanes[tile.t].push_back({tiles.size(), j});
      tiles.push_back(tile);
    }
  }
  // Where each group's q, k, v are read: SRAM once staged (on first use, into
  // the buffer of the group's parity), else HBM in place.
  struct Staged {
    uint64_t q = 0, k = 0, v = 0;
    int buf = 0;
    bool ready = false;
  };
  std::vector<Staged> staged(static_cast<std::size_t>(groups));
  const auto inputs_of = [&](int64_t grp) -> const Staged& {
    Staged& st = staged[static_cast<std::size_t>(grp)];
    if (st.ready) return st;
    const int64_t bh0 = grp * G;
    st.ready = true;
    st.buf = static_cast<int>(grp % 2);
    st.q = q_addr + static_cast<uint64_t>(bh0 * d.l * d.e) * es;
    st.k = k_addr + static_cast<uint64_t>(bh0 * d.s * d.e) * es;
    st.v = v_addr + static_cast<uint64_t>(bh0 * d.s * d.ev) * es;
    if (!plan->staged) return st;
    // The buffer is reused: both lanes must be past every reader of group grp - 2.
    for (int lane = 0; lane < 2; ++lane) {
      for (std::size_t i = done[lane]; i < lanes[lane].size(); ++i) {
        drifted = drifted || tiles[lanes[lane][i].tile].grp <= grp - 2;
      }
    }
    uint64_t at = 2 * slot.bytes + static_cast<uint64_t>(st.buf) * stage_bytes;
    for (int i = 0; i < 3; ++i) {
      uint64_t& from = i == 0 ? st.q : i == 1 ? st.k : st.v;
      const int64_t rows = i == 0 ? d.l : d.s, cols = i == 2 ? d.ev : d.e;
      Job copy;
      copy.kind = Job::Kind::kDma;
      copy.queue = kDmaQueue;
      copy.dst = sram(at);
      copy.src = from;
      copy.bytes = static_cast<uint64_t>(G * rows * cols) * es;
      pipe.add(copy, {}, {staged_res(i, st.buf)});
      from = sram(at);
      at += align(copy.bytes);
    }
    return st;
  };

  const uint64_t base_of[2] = {0, slot.bytes};
  const auto qk = [&](const Tile& tile, int64_t j) {
    const Staged& in = inputs_of(tile.grp);
    const int64_t c0 = j * tk, cols = std::min(tk, tile.keys - c0);
    auto desc = mme::gemm_descriptor(static_cast<uint32_t>(tile.rows), static_cast<uint32_t>(d.e),
                                     static_cast<uint32_t>(cols), d.dtype, d.dtype, d.dtype, static_cast<uint32_t>(G));
    desc.a_addr = in.q + static_cast<uint64_t>(tile.r0 * d.e) * es;
    desc.lda = static_cast<uint64_t>(d.e);
    desc.batch_stride_a = static_cast<uint64_t>(d.l * d.e);
    desc.b_addr = in.k + static_cast<uint64_t>(c0 * d.e) * es;
    desc.flags |= mme::kTransposeB;
    desc.ldb = static_cast<uint64_t>(d.e);
    desc.batch_stride_b = static_cast<uint64_t>(d.s * d.e);
    desc.c_addr = sram(base_of[tile.t] + slot.s);
    desc.ldc = static_cast<uint64_t>(cols);
    desc.batch_stride_c = static_cast<uint64_t>(tile.rows * cols);
    if (tf32) desc.flags |= mme::kTf32;
    Job job;
    job.kind = Job::Kind::kMme;
    job.queue = kMmeQueue;
    job.descriptor = desc;
    pipe.add(job, {staged_res(kQ, in.buf), staged_res(kK, in.buf)}, {tile_res(kS, tile.t)});
  };
  const auto step = [&](const Tile& tile, int64_t j) {
    const int64_t c0 = j * tk, cols = std::min(tk, tile.keys - c0);
    const int64_t bh0 = tile.grp * G, b = bh0 / d.h, h0 = bh0 % d.h;
    const uint64_t base = base_of[tile.t];
    const int64_t rc = tile.rows * cols;
    Job job;
    job.kind = Job::Kind::kTpc;
    job.queue = kTpcQueue;
    job.kernel_id = kernel_step;
    kernels::KernelArgs& a = job.args;
    // P overwrites the scores in place.
    const auto scores = desc3(sram(base + slot.s), d.dtype, cols, tile.rows, G, cols, rc);
    a.add_tensor(scores);
    if (has_mask) {
      const uint64_t off = static_cast<uint64_t>(mask.offset + b * mask.strides[0] + h0 * mask.strides[1] +
                                                 tile.r0 * mask.strides[2] + c0 * mask.strides[3]);
      kernels::TensorDesc m =
          desc3(mask_addr + off * es, mask.dtype, cols, tile.rows, G, mask.strides[2], mask.strides[1]);
      m.strides[0] = mask.strides[3];
      a.add_tensor(m);
    }
    const auto ml = desc3(sram(base + slot.ml), DType::kF32, 2, tile.rows, G, 2, 2 * tile.rows);
    const auto o = desc3(sram(base + slot.o), DType::kF32, d.ev, tile.rows, G, d.ev, tile.rows * d.ev);
    if (j > 0) {
      a.add_tensor(ml);
      a.add_tensor(o);
    }
    a.add_tensor(scores);
    a.add_tensor(ml);
    if (j > 0) a.add_tensor(o);
    for (int64_t v : {int64_t{j == 0}, int64_t{has_mask}, int64_t{causal}, tile.r0, c0}) a.add_int(v);
    a.add_float(scale);
    std::vector<int> writes = {tile_res(kS, tile.t), tile_res(kMl, tile.t)};
    if (j > 0) writes.push_back(tile_res(kO, tile.t));
    pipe.add(job, {tile_res(kS, tile.t)}, writes);
  };
  const auto pv = [&](const Tile& tile, int64_t j) {
    const Staged& in = inputs_of(tile.grp);
    const int64_t c0 = j * tk, cols = std::min(tk, tile.keys - c0);
    const uint64_t base = base_of[tile.t];
    auto desc = mme::gemm_descriptor(static_cast<uint32_t>(tile.rows), static_cast<uint32_t>(cols),
                                     static_cast<uint32_t>(d.ev), d.dtype, d.dtype, DType::kF32,
                                     static_cast<uint32_t>(G));
    desc.a_addr = sram(base + slot.s);
    desc.lda = static_cast<uint64_t>(cols);
    desc.batch_stride_a = static_cast<uint64_t>(tile.rows * cols);
    desc.b_addr = in.v + static_cast<uint64_t>(c0 * d.ev) * es;
    desc.ldb = static_cast<uint64_t>(d.ev);
    desc.batch_stride_b = static_cast<uint64_t>(d.s * d.ev);
    desc.c_addr = sram(base + slot.o);
    desc.ldc = static_cast<uint64_t>(d.ev);
    desc.batch_stride_c = static_cast<uint64_t>(tile.rows * d.ev);
    std::vector<int> reads = {staged_res(kV, in.buf), tile_res(kS, tile.t)};
    if (j > 0) {
      // The accumulator, already rescaled by this block's step, in place.
      desc.flags |= mme::kHasResidual;
      desc.r_addr = desc.c_addr;
      desc.r_dtype = static_cast<uint8_t>(DType::kF32);
      reads.push_back(tile_res(kO, tile.t));
    }
    if (tf32) desc.flags |= mme::kTf32;
    Job job;
    job.kind = Job::Kind::kMme;
    job.queue = kMmeQueue;
    job.descriptor = desc;
    pipe.add(job, reads, {tile_res(kO, tile.t)});
  };
  const auto finalize = [&](const Tile& tile) {
    const uint64_t base = base_of[tile.t];
    Job job;
    job.kind = Job::Kind::kTpc;
    job.queue = kTpcQueue;
    job.kernel_id = kernel_finalize;
    job.args.add_tensor(desc3(sram(base + slot.o), DType::kF32, d.ev, tile.rows, G, d.ev, tile.rows * d.ev));
    job.args.add_tensor(desc3(sram(base + slot.ml), DType::kF32, 2, tile.rows, G, 2, 2 * tile.rows));
    job.args.add_tensor(desc3(out_addr + static_cast<uint64_t>((tile.grp * G * d.l + tile.r0) * d.ev) * es, d.dtype,
                              d.ev, tile.rows, G, d.ev, d.l * d.ev));
    pipe.add(job, {tile_res(kO, tile.t), tile_res(kMl, tile.t)}, {});
  };
  // The lanes take turns, one unit each: while the TPC runs one lane's step,
  // the MME computes the other lane's P V and its next scores. A tile's
  // finalize is recorded after the other lane's next step, so the TPC does not
  // wait for the P V it divides.
  std::vector<std::size_t> pending;
  for (const auto& lane : lanes) {
    if (!lane.empty()) qk(tiles[lane[0].tile], 0);
  }
  for (std::size_t k = 0; k < std::max(lanes[0].size(), lanes[1].size()); ++k) {
    for (const auto& lane : lanes) {
      if (k >= lane.size()) continue;
      const Unit u = lane[k];
      const Tile& tile = tiles[u.tile];
      step(tile, u.j);
      for (std::size_t f : pending) finalize(tiles[f]);
  if (drifted) return internal_error("fused_sdpa: a group's staging buffer is reused while a lane still reads it");
      pending.clear();
      pv(tile, u.j);
      ++done[&lane - lanes];
      if (u.j + 1 == tile.blocks) pending.push_back(u.tile);
      if (k + 1 < lane.size()) qk(tiles[lane[k + 1].tile], lane[k + 1].j);
    }
  }
  for (std::size_t f : pending) finalize(tiles[f]);
  if (drifted) return internal_error("fused_sdpa: a group's staging buffer is reused while a lane still reads it");
  for (const Job& job : pipe.out.jobs) {
    if (job.kind == Job::Kind::kTpc && job.args.overflowed) {
      return internal_error("fused_sdpa: too many kernel arguments");
    }
  }
  return std::move(pipe.out);
}

}  // namespace kiln::runtime
