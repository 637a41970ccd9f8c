"""The PyTorch models export_models.py exports, with their example inputs.

torchvision's own definitions for the vision models; small BERT- and
GPT-2-style transformers written here the way the Hugging Face models are.
Weights are random (the caller seeds torch); each builder returns
(model, example inputs, input names, output names).
"""
import math

import torch
import torch.nn as nn
import torchvision

SEED = 20261201


# ---- transformers, written as Hugging Face's BERT and GPT-2 are ----

class SelfAttention(nn.Module):
    def __init__(self, width, heads, bias=True):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, 3 * width, bias=bias)
        self.out = nn.Linear(width, width, bias=bias)

    def split_heads(self, x):  # [B, T, D] -> [B, H, T, Dh]
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, additive_mask, past=None):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + additive_mask
        ctx = torch.softmax(scores, dim=-1) @ v
        b, _, t, _ = ctx.shape
        return self.out(ctx.transpose(1, 2).reshape(b, t, -1)), (k, v)


class BertLayer(nn.Module):
    def __init__(self, width, heads, mlp):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln1, self.ln2 = nn.LayerNorm(width, eps=1e-12), nn.LayerNorm(width, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(width, mlp), nn.Linear(mlp, width)
        self.gelu = nn.GELU()  # erf, as BERT's

    def forward(self, x, mask):
        x = self.ln1(x + self.attn(x, mask)[0])  # post-norm, as BERT
        return self.ln2(x + self.fc2(self.gelu(self.fc1(x))))


class BertEncoder(nn.Module):
    """Token + position + segment embeddings, post-norm layers, a pooler."""

    def __init__(self, vocab=1000, width=64, heads=4, layers=2, mlp=256, max_pos=64):
        super().__init__()
        self.tok, self.pos, self.seg = nn.Embedding(vocab, width), nn.Embedding(max_pos, width), nn.Embedding(2, width)
        self.ln = nn.LayerNorm(width, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(width, heads, mlp) for _ in range(layers))
        self.pooler = nn.Linear(width, width)

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.ln(self.tok(input_ids) + self.pos(positions) + self.seg(token_type_ids))
        # Padding mask: 0 for tokens, a large negative for padding, per key.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler(x[:, 0]))


class Gpt2Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.fc, self.proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x, mask, past):
        a, present = self.attn(self.ln1(x), mask, past)  # pre-norm, as GPT-2
        x = x + a
        return x + self.proj(nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh")), present


class Gpt2(nn.Module):
    """Learned positions, causal mask, tanh GELU, tied embeddings, a KV cache."""

    def __init__(self, vocab=1000, width=64, heads=4, layers=2, max_pos=64):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(max_pos, width)
        self.blocks = nn.ModuleList(Gpt2Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.register_buffer("causal", torch.tril(torch.ones(max_pos, max_pos, dtype=torch.bool)), persistent=False)

    def forward(self, input_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)] or [None] * len(self.blocks)
        past_len = past[0][0].shape[2] if past[0] is not None else 0
        t = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe(torch.arange(past_len, past_len + t).unsqueeze(0))
        allowed = self.causal[past_len:past_len + t, :past_len + t]
        zero, lowest = torch.zeros((), dtype=x.dtype), torch.tensor(torch.finfo(x.dtype).min, dtype=x.dtype)
        mask = torch.where(allowed, zero, lowest)
        presents = []
        for block, p in zip(self.blocks, past):
            x, (k, v) = block(x, mask, p)
            presents += [k, v]
        return (self.ln_f(x) @ self.wte.weight.t(), *presents)  # tied LM head


# ---- the catalogue ----

def vision(ctor, size=64):
    def make():
        model = ctor(weights=None)
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                # Variance-preserving (He) weights: torchvision's own initialisations (std 0.01
                # in some) shrink the activations layer by layer, and logits of 1e-5 would pass
                # any absolute tolerance.
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.uniform_(m.bias, -0.1, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                # Random statistics and affine terms, so BatchNorm is not an identity in eval mode.
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.1, 0.1)
            elif isinstance(m, nn.Linear):
                m.reset_parameters()  # PyTorch's default, not the classifiers' std 0.01
        return model, (torch.randn(1, 3, size, size),), ["input"], ["logits"]
    return make


def bert():
    model = BertEncoder()
    ids = torch.randint(0, 1000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 11:] = 0  # the second sequence is padded after 11 tokens
    segments = torch.zeros(2, 16, dtype=torch.int64)
    segments[:, 8:] = 1
    return model, (ids, mask, segments), ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state", "pooler_output"]


def gpt2_names(layers, prefix):
    return [f"{prefix}_{kind}.{l}" for l in range(layers) for kind in ("key", "value")]


def gpt2_prompt():
    model = Gpt2()
    return model, (torch.randint(0, 1000, (1, 16)),), ["input_ids"], ["logits"] + gpt2_names(2, "present")


def gpt2_decode():
    model = Gpt2()
    past = tuple(torch.randn(1, 4, 16, 16) for _ in range(4))  # [B, H, P, Dh] per layer, key and value
    return model, (torch.randint(0, 1000, (1, 1)), *past), ["input_ids"] + gpt2_names(2, "past"), \
        ["logits"] + gpt2_names(2, "present")


tv = torchvision.models
MODELS = {  # name: builder() -> (model, inputs, input names, output names)
    "resnet18": vision(tv.resnet18),
    "resnet50": vision(tv.resnet50),
    "mobilenet_v2": vision(tv.mobilenet_v2),
    "bert_encoder": bert,
    "gpt2_prompt": gpt2_prompt,
    "gpt2_decode_step": gpt2_decode,
    # resnet18 again, its weights saved as ONNX external data (one file beside
    # the model, as large models are saved): the same outputs must come back.
    "resnet18_external_data": vision(tv.resnet18),
}
EXTERNAL_DATA = {"resnet18_external_data"}
# What bench_models (bench/onnx_bench.cpp) times and no test runs: ResNet-50
# at the input size of data/real's resnet50 (1x3x224x224).
BENCH = {
    "resnet50_224": vision(tv.resnet50, size=224),
}
# The architectures of libonnx-testdata's data/real/* (which ship only a
# download URL): exported on request, heavier on the host.
OPTIONAL = {
    "squeezenet1_0": vision(tv.squeezenet1_0),
    "shufflenet_v2_x0_5": vision(tv.shufflenet_v2_x0_5),
    "densenet121": vision(tv.densenet121),
    "googlenet": vision(lambda weights: tv.googlenet(weights=weights, aux_logits=False, init_weights=True)),
    # Their adaptive pooling to 6x6 / 7x7 exports only from 224x224 inputs.
    "alexnet": vision(tv.alexnet, size=224),
    "vgg19": vision(tv.vgg19, size=224),  # 144 M parameters, a 575 MB file
}
