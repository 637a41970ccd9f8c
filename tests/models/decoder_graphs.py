#!/usr/bin/python3
"""Large decoder-only language models as ONNX graphs whose weights are ABSENT.

Every weight is an initializer stored as external data in a file that is never
written, so a GPT-2 124M or a 7B-parameter graph is a few hundred kilobytes and
`kiln run --timing-only` times it from its shapes alone (docs/onnx.md, "Real
models"). Built with ONNX's own helper (python3-onnx); no torch needed.

Two architectures, each as a prompt pass and as one decode step with a KV cache:
  gpt2   learned positions, LayerNorm, fused QKV with bias, tanh GELU, tied
         embeddings (logits = h @ wte^T)
  llama  RMSNorm, rotary position embeddings (rotate-half), SwiGLU MLP, no
         biases, untied LM head
Prompt pass: input_ids [B, T] -> logits [B, T, V] and present_key/value.<l>
[B, H, T, Dh]. Decode step: input_ids [B, 1] and past_key/value.<l>
[B, H, P, Dh] -> logits [B, 1, V] and present [B, H, P + 1, Dh].

The graphs use static shapes and precomputed constants (the causal mask, the
rotary tables, the positions) the way a constant-folded export has them.

The *_tiny configs are the same graphs at toy size, for --with-weights: their
weights are written (random, fixed seed) to the external file, with inputs
and decoder_reference.py's NumPy outputs in test_data_set_0/, so `kiln run
--check` shows the graphs compute what the architectures define.

usage: decoder_graphs.py OUT_DIR [--only NAME]... [--with-weights]
"""
import argparse
import math
import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # the ctest turns this into a SKIP
    print(f"decoder_graphs.py: {e}: needs python3-onnx (run with /usr/bin/python3)", file=sys.stderr)
    sys.exit(77)

CONFIGS = {
    # name: architecture, layers, width, heads, MLP width, vocab, dtype
    "gpt2_124m": dict(arch="gpt2", layers=12, width=768, heads=12, mlp=3072, vocab=50257, dtype=TensorProto.FLOAT),
    "decoder_7b": dict(arch="llama", layers=32, width=4096, heads=32, mlp=11008, vocab=32000, dtype=TensorProto.FLOAT16),
    "gpt2_tiny": dict(arch="gpt2", layers=2, width=64, heads=4, mlp=256, vocab=100, dtype=TensorProto.FLOAT),
    "llama_tiny": dict(arch="llama", layers=2, width=64, heads=4, mlp=172, vocab=100, dtype=TensorProto.FLOAT),
}
LARGE = ["gpt2_124m", "decoder_7b"]
NP_DTYPE = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16}


class Builder:
    """Nodes, inputs, outputs and initializers of one graph; weights external."""

    def __init__(self, dtype, weights_file, rng=None):
        self.dtype = dtype
        # With an rng, weights get random values (kept here, in file order); else they are absent.
        self.rng = rng
        self.values = {}
        self.nodes, self.inputs, self.outputs, self.inits = [], [], [], []
        self.weights_file = weights_file
        self.offset = 0  # where the next weight would sit in the (absent) file
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def node(self, op, inputs, name, n_out=1, **attrs):
        outs = [f"{name}:{i}" if n_out > 1 else name for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def weight(self, name, shape):
        """An initializer whose bytes live in the absent weights file."""
        t = TensorProto()
        t.name = name
        t.data_type = self.dtype
        t.dims.extend(shape)
        t.data_location = TensorProto.EXTERNAL
        length = int(np.prod(shape)) * np.dtype(NP_DTYPE[self.dtype]).itemsize
        for key, value in (("location", self.weights_file), ("offset", str(self.offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = key, value
        self.offset += length
        self.inits.append(t)
        if self.rng is not None:
            if len(shape) == 1:  # norm scales near 1, biases near 0
                v = 1 + 0.1 * self.rng.standard_normal(shape) if name.endswith("weight") else 0.1 * self.rng.standard_normal(shape)
            elif name in ("wte", "wpe"):
                v = self.rng.standard_normal(shape)
            else:  # [in, out]: outputs of the inputs' scale
                v = self.rng.standard_normal(shape) / np.sqrt(shape[0])
            self.values[name] = v.astype(NP_DTYPE[self.dtype])
        return name

    def const(self, name, array):
        """A small inline constant (shapes, masks, rotary tables)."""
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def fconst(self, name, array):
        return self.const(name, np.asarray(array, dtype=NP_DTYPE[self.dtype]))

    def add_input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def add_output(self, value, name, elem, shape):
        self.nodes.append(helper.make_node("Identity", [value], [name], name=f"out_{name}"))
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))


def layer_norm(b, x, prefix, width):
    return b.node("LayerNormalization", [x, b.weight(f"{prefix}.weight", [width]), b.weight(f"{prefix}.bias", [width])],
                  f"{prefix}", axis=-1, epsilon=1e-5)


def rms_norm(b, x, prefix, width):
    sq = b.node("Mul", [x, x], f"{prefix}.square")
    mean = b.node("ReduceMean", [sq], f"{prefix}.mean", axes=[-1], keepdims=1)
    eps = b.node("Add", [mean, b.fconst(f"{prefix}.eps", 1e-6)], f"{prefix}.add_eps")
    rms = b.node("Sqrt", [eps], f"{prefix}.sqrt")
    normed = b.node("Div", [x, rms], f"{prefix}.normalize")
    return b.node("Mul", [normed, b.weight(f"{prefix}.weight", [width])], f"{prefix}")


def linear(b, x, prefix, k, n, bias):
    y = b.node("MatMul", [x, b.weight(f"{prefix}.weight", [k, n])], f"{prefix}.matmul")
    return b.node("Add", [y, b.weight(f"{prefix}.bias", [n])], f"{prefix}") if bias else y


def heads_first(b, x, prefix, batch, seq, heads, head_dim):
    """[B, T, D] -> [B, H, T, Dh]."""
    r = b.node("Reshape", [x, b.const(f"{prefix}.shape", np.array([batch, seq, heads, head_dim], np.int64))],
               f"{prefix}.split_heads")
    return b.node("Transpose", [r], f"{prefix}.heads_first", perm=[0, 2, 1, 3])


def rotary(b, x, prefix, cos, sin, head_dim):
    """x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]."""
    halves = b.node("Split", [x, b.const(f"{prefix}.halves", np.array([head_dim // 2] * 2, np.int64))],
                    f"{prefix}.split", n_out=2, axis=-1)
    rotated = b.node("Concat", [b.node("Neg", [halves[1]], f"{prefix}.neg"), halves[0]], f"{prefix}.rotate", axis=-1)
    return b.node("Add", [b.node("Mul", [x, cos], f"{prefix}.cos"), b.node("Mul", [rotated, sin], f"{prefix}.sin")],
                  f"{prefix}.rope")


def gelu_tanh(b, x, prefix):
    cube = b.node("Pow", [x, b.fconst(f"{prefix}.three", 3.0)], f"{prefix}.cube")
    inner = b.node("Add", [x, b.node("Mul", [cube, b.fconst(f"{prefix}.c", 0.044715)], f"{prefix}.scale_cube")],
                   f"{prefix}.inner")
    t = b.node("Tanh", [b.node("Mul", [inner, b.fconst(f"{prefix}.k", math.sqrt(2 / math.pi))], f"{prefix}.scale")],
               f"{prefix}.tanh")
    half_x = b.node("Mul", [x, b.fconst(f"{prefix}.half", 0.5)], f"{prefix}.half_x")
    return b.node("Mul", [half_x, b.node("Add", [t, b.fconst(f"{prefix}.one", 1.0)], f"{prefix}.one_plus")], prefix)


def build(name, cfg, batch, seq, past, weights_file, rng=None):
    """past == 0: a prompt pass over seq tokens; else one decode step after past tokens.
    Returns the model and its Builder (weight bytes, and values if rng is given)."""
    arch, width, heads, dtype = cfg["arch"], cfg["width"], cfg["heads"], cfg["dtype"]
    head_dim, vocab = width // heads, cfg["vocab"]
    decode = past > 0
    total = past + seq
    b = Builder(dtype, weights_file, rng)
    ids = b.add_input("input_ids", TensorProto.INT64, [batch, seq])
    positions = np.arange(past, total, dtype=np.int64)

    wte = b.weight("wte", [vocab, width])
    x = b.node("Gather", [wte, ids], "embed_tokens", axis=0)
    if arch == "gpt2":
        pos = b.node("Gather", [b.weight("wpe", [1024, width]), b.const("position_ids", positions)], "embed_positions",
                     axis=0)
        x = b.node("Add", [x, pos], "embed")
    else:
        inv = 1.0 / (10000 ** (np.arange(0, head_dim, 2) / head_dim))
        angles = np.outer(positions, inv)
        angles = np.concatenate([angles, angles], axis=-1)  # [T, Dh]
        cos, sin = b.fconst("rope.cos", np.cos(angles)), b.fconst("rope.sin", np.sin(angles))
    # Additive causal mask over [T, past + T]: a query sees the past and itself.
    mask = np.where(np.arange(total)[None, :] <= positions[:, None], 0.0, -1e4 if dtype == TensorProto.FLOAT16 else -1e9)
    mask = b.fconst("causal_mask", mask)
    scale = b.fconst("attn_scale", 1.0 / math.sqrt(head_dim))

    for l in range(cfg["layers"]):
        p = f"h.{l}"
        if arch == "gpt2":
            a = layer_norm(b, x, f"{p}.ln_1", width)
            qkv = linear(b, a, f"{p}.attn.c_attn", width, 3 * width, bias=True)
            q, k, v = b.node("Split", [qkv, b.const(f"{p}.qkv_split", np.array([width] * 3, np.int64))], f"{p}.attn.split",
                             n_out=3, axis=-1)
        else:
            a = rms_norm(b, x, f"{p}.input_layernorm", width)
            q, k, v = (linear(b, a, f"{p}.attn.{w}_proj", width, width, bias=False) for w in "qkv")
        q, k, v = (heads_first(b, t, f"{p}.attn.{n}", batch, seq, heads, head_dim) for t, n in ((q, "q"), (k, "k"), (v, "v")))
        if arch == "llama":
            q, k = rotary(b, q, f"{p}.attn.q", cos, sin, head_dim), rotary(b, k, f"{p}.attn.k", cos, sin, head_dim)
        if decode:
            pk = b.add_input(f"past_key.{l}", dtype, [batch, heads, past, head_dim])
            pv = b.add_input(f"past_value.{l}", dtype, [batch, heads, past, head_dim])
            k = b.node("Concat", [pk, k], f"{p}.attn.cat_k", axis=2)
            v = b.node("Concat", [pv, v], f"{p}.attn.cat_v", axis=2)
        b.add_output(k, f"present_key.{l}", dtype, [batch, heads, total, head_dim])
        b.add_output(v, f"present_value.{l}", dtype, [batch, heads, total, head_dim])
        kt = b.node("Transpose", [k], f"{p}.attn.k_t", perm=[0, 1, 3, 2])
        scores = b.node("Mul", [b.node("MatMul", [q, kt], f"{p}.attn.qk"), scale], f"{p}.attn.scale")
        probs = b.node("Softmax", [b.node("Add", [scores, mask], f"{p}.attn.mask")], f"{p}.attn.softmax", axis=-1)
        ctx = b.node("Transpose", [b.node("MatMul", [probs, v], f"{p}.attn.pv")], f"{p}.attn.heads_last", perm=[0, 2, 1, 3])
        ctx = b.node("Reshape", [ctx, b.const(f"{p}.attn.merge", np.array([batch, seq, width], np.int64))], f"{p}.attn.merge_heads")
        x = b.node("Add", [x, linear(b, ctx, f"{p}.attn.o_proj", width, width, bias=arch == "gpt2")], f"{p}.attn.residual")
        if arch == "gpt2":
            m = layer_norm(b, x, f"{p}.ln_2", width)
            m = gelu_tanh(b, linear(b, m, f"{p}.mlp.c_fc", width, cfg["mlp"], bias=True), f"{p}.mlp.gelu")
            m = linear(b, m, f"{p}.mlp.c_proj", cfg["mlp"], width, bias=True)
        else:
            m = rms_norm(b, x, f"{p}.post_attention_layernorm", width)
            gate = linear(b, m, f"{p}.mlp.gate_proj", width, cfg["mlp"], bias=False)
            silu = b.node("Mul", [gate, b.node("Sigmoid", [gate], f"{p}.mlp.sigmoid")], f"{p}.mlp.silu")
            up = linear(b, m, f"{p}.mlp.up_proj", width, cfg["mlp"], bias=False)
            m = linear(b, b.node("Mul", [silu, up], f"{p}.mlp.gated"), f"{p}.mlp.down_proj", cfg["mlp"], width, bias=False)
        x = b.node("Add", [x, m], f"{p}.mlp.residual")

    if arch == "gpt2":
        x = layer_norm(b, x, "ln_f", width)
        head = b.node("Transpose", [wte], "lm_head.tied", perm=[1, 0])  # tied: logits = h @ wte^T
    else:
        x = rms_norm(b, x, "norm", width)
        head = b.weight("lm_head.weight", [width, vocab])
    logits = b.node("MatMul", [x, head], "lm_head")
    b.add_output(logits, "logits", dtype, [batch, seq, vocab])
    # Outputs first: logits, then the cache, as Hugging Face's exports order them.
    b.outputs.insert(0, b.outputs.pop())
    graph = helper.make_graph(b.nodes, name, b.inputs, b.outputs, initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln decoder_graphs.py")
    model.ir_version = 8
    return model, b


def save_tensor(array, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array)).SerializeToString())


def write_reference(d, cfg, b, batch, seq, past, rng):
    """Inputs, and decoder_reference.py's outputs, in d/test_data_set_0."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from decoder_reference import forward  # beside this script
    heads, dtype = cfg["heads"], NP_DTYPE[cfg["dtype"]]
    ids = rng.integers(0, cfg["vocab"], (batch, seq), dtype=np.int64)
    cache = [tuple(rng.standard_normal((batch, heads, past, cfg["width"] // heads)).astype(dtype) for _ in "kv")
             for _ in range(cfg["layers"])] if past else None
    data = os.path.join(d, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    inputs = [ids] + [t for kv in cache or [] for t in kv]
    for i, t in enumerate(inputs):
        save_tensor(t, os.path.join(data, f"input_{i}.pb"))
    for i, t in enumerate(forward(cfg, b.values, ids, cache)):
        save_tensor(t.astype(dtype), os.path.join(data, f"output_{i}.pb"))


def generate(out_dir, name, batch=1, prompt=None, with_weights=False, kinds=("prompt", "decode"), suffix=""):
    """Writes OUT/<name>_prompt<suffix> and OUT/<name>_decode<suffix> (those of `kinds`)."""
    if name not in CONFIGS:
        sys.exit(f"decoder_graphs.py: no config '{name}' ({', '.join(CONFIGS)})")
    cfg = CONFIGS[name]
    prompt = prompt or (8 if with_weights else 128)
    for kind, seq, past in (("prompt", prompt, 0), ("decode", 1, prompt)):
        if kind not in kinds:
            continue
        d = os.path.join(out_dir, f"{name}_{kind}{suffix}")
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(20261201) if with_weights else None
        weights = "weights.bin" if with_weights else "weights_absent.bin"
        model, b = build(f"{name}_{kind}", cfg, batch, seq, past, weights, rng)
        path = os.path.join(d, "model.onnx")
        onnx.save(model, path)
        if with_weights:
            with open(os.path.join(d, weights), "wb") as f:
                for v in b.values.values():
                    f.write(v.tobytes())
            write_reference(d, cfg, b, batch, seq, past, rng)
        print(f"{path}: {len(model.graph.node)} nodes, {b.offset / 1e9:.2f} GB of "
              f"{'weights' if with_weights else 'absent weights'}, {os.path.getsize(path) / 1e3:.0f} kB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--only", action="append", help=f"a config name (default: {', '.join(LARGE)})")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=None,
                    help="prompt length, and the decode step's past length (default 128; 8 with --with-weights)")
    ap.add_argument("--with-weights", action="store_true", help="write random weights and reference outputs")
    args = ap.parse_args()
    for name in args.only or LARGE:
        generate(args.out_dir, name, args.batch, args.prompt, args.with_weights)


if __name__ == "__main__":
    main()
