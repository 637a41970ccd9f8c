"""NumPy forward passes of decoder_graphs.py's two architectures.

Written from the architectures' definitions, not from the ONNX graphs, so a
small decoder graph with real weights can be checked against them: this is
what shows the large graphs (timed with absent weights) compute the right
thing. Computed in float32 whatever the weights' dtype.
"""
import numpy as np


def layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps=1e-6):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def rope(x, positions, head_dim):
    """Rotary embedding, rotate-half form: pairs (i, i + Dh/2) turn by position * 10000^(-2i/Dh)."""
    freq = 10000.0 ** (-np.arange(0, head_dim, 2) / head_dim)
    angle = positions[:, None] * freq[None, :]  # [T, Dh/2]
    cos, sin = np.cos(angle), np.sin(angle)
    x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def forward(cfg, w, input_ids, past):
    """Logits and present key/value per layer; `past` is [(k, v)] per layer, or None."""
    w = {k: v.astype(np.float32) for k, v in w.items()}
    batch, seq = input_ids.shape
    width, heads = cfg["width"], cfg["heads"]
    head_dim = width // heads
    past_len = past[0][0].shape[2] if past else 0
    positions = np.arange(past_len, past_len + seq)
    x = w["wte"][input_ids]
    if cfg["arch"] == "gpt2":
        x = x + w["wpe"][positions]
    allowed = np.arange(past_len + seq)[None, :] <= positions[:, None]
    presents = []

    def heads_first(t):
        return t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)

    for l in range(cfg["layers"]):
        p = f"h.{l}"
        if cfg["arch"] == "gpt2":
            a = layer_norm(x, w[f"{p}.ln_1.weight"], w[f"{p}.ln_1.bias"])
            q, k, v = np.split(a @ w[f"{p}.attn.c_attn.weight"] + w[f"{p}.attn.c_attn.bias"], 3, axis=-1)
            q, k, v = heads_first(q), heads_first(k), heads_first(v)
        else:
            a = rms_norm(x, w[f"{p}.input_layernorm.weight"])
            q, k, v = (heads_first(a @ w[f"{p}.attn.{n}_proj.weight"]) for n in "qkv")
            q, k = rope(q, positions, head_dim), rope(k, positions, head_dim)
        if past:
            k = np.concatenate([past[l][0].astype(np.float32), k], axis=2)
            v = np.concatenate([past[l][1].astype(np.float32), v], axis=2)
        presents += [k, v]
        scores = np.where(allowed, q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim), -np.inf)
        ctx = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)
        o = ctx @ w[f"{p}.attn.o_proj.weight"]
        x = x + (o + w[f"{p}.attn.o_proj.bias"] if cfg["arch"] == "gpt2" else o)
        if cfg["arch"] == "gpt2":
            m = layer_norm(x, w[f"{p}.ln_2.weight"], w[f"{p}.ln_2.bias"])
            m = gelu_tanh(m @ w[f"{p}.mlp.c_fc.weight"] + w[f"{p}.mlp.c_fc.bias"])
            m = m @ w[f"{p}.mlp.c_proj.weight"] + w[f"{p}.mlp.c_proj.bias"]
        else:
            m = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"])
            gate = m @ w[f"{p}.mlp.gate_proj.weight"]
            silu = gate / (1 + np.exp(-gate))
            m = (silu * (m @ w[f"{p}.mlp.up_proj.weight"])) @ w[f"{p}.mlp.down_proj.weight"]
        x = x + m
    if cfg["arch"] == "gpt2":
        logits = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"]) @ w["wte"].T
    else:
        logits = rms_norm(x, w["norm.weight"]) @ w["lm_head.weight"]
    return [logits] + presents
