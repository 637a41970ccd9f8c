"""The PyTorch models export_models.py exports, with their example inputs.

torchvision's own definitions for the vision models; written here from their
papers, BN-Inception and ZFNet (which torchvision lacks), and small BERT- and
GPT-2-style transformers the way the Hugging Face models are.
Weights are random (the caller seeds torch); each builder returns
(model, example inputs, input names, output names).
"""
import functools
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


# ---- CNNs torchvision lacks, written from their papers ----

def conv_bn_relu(cin, cout, kernel, stride=1):
    # No convolution bias: the BatchNorm after it subtracts it again (Ioffe & Szegedy 2015, 3.2).
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BnInceptionModule(nn.Module):
    """One row of BN-Inception's table: a 1x1 branch, 1x1 -> 3x3, 1x1 -> 3x3 -> 3x3
    (the "double 3x3" that replaces GoogLeNet's 5x5), and a pool branch, concatenated.

    A stride-2 module has no 1x1 branch, its last 3x3s take the stride and its pool
    (max) passes through unprojected. Every pool is 3x3 with padding 1, like the 3x3
    convolutions, so a stride-2 pool samples the same windows as the stride-2 convolutions.
    """

    def __init__(self, cin, n1x1, n3x3_reduce, n3x3, double_reduce, double, pool, proj, stride=1):
        super().__init__()
        branches = [conv_bn_relu(cin, n1x1, 1)] if n1x1 else []
        branches.append(nn.Sequential(conv_bn_relu(cin, n3x3_reduce, 1), conv_bn_relu(n3x3_reduce, n3x3, 3, stride)))
        branches.append(nn.Sequential(conv_bn_relu(cin, double_reduce, 1), conv_bn_relu(double_reduce, double, 3),
                                      conv_bn_relu(double, double, 3, stride)))
        pooling = (nn.AvgPool2d if pool == "avg" else nn.MaxPool2d)(3, stride, padding=1)
        branches.append(nn.Sequential(pooling, conv_bn_relu(cin, proj, 1)) if proj else pooling)
        self.branches = nn.ModuleList(branches)
        self.out_channels = n1x1 + n3x3 + double + (proj or cin)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class BnInception(nn.Module):
    """BN-Inception, the ONNX model zoo's inception_v2: Ioffe & Szegedy 2015, "Batch
    Normalization: Accelerating Deep Network Training by Reducing Internal Covariate
    Shift", Figure 5 (GoogLeNet with BatchNorm after every convolution, 5x5s as two 3x3s).

    Input 1x3x224x224: the final 7x7 average pool is the paper's, and needs the 7x7 map.
    """

    # Figure 5's columns: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3,
    # pool + proj, stride. The branch widths are the table's; they concatenate to 608
    # channels after 4c and 4d and 1056 after 4e, where its output column says 576 and 1024.
    MODULES = [
        ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
        ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
        ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
        ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
        ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
        ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
        ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
        ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
        ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
        ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
    ]

    def __init__(self, num_classes=1000):
        super().__init__()
        layers = [conv_bn_relu(3, 64, 7, 2), nn.MaxPool2d(3, 2, padding=1),  # 112x112, 56x56
                  conv_bn_relu(64, 64, 1), conv_bn_relu(64, 192, 3), nn.MaxPool2d(3, 2, padding=1)]  # 28x28
        width = 192
        for _, *row, stride in self.MODULES:
            module = BnInceptionModule(width, *row, stride=stride)
            layers.append(module)
            width = module.out_channels
        self.features = nn.Sequential(*layers)  # 7x7x1024
        self.pool = nn.AvgPool2d(7)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class CaffeLrn(nn.LocalResponseNorm):
    """nn.LocalResponseNorm, exported as one ONNX LRN node (what Caffe's LRN layer
    converts to) rather than torch.onnx's decomposition of it (Pad, a 3-D AveragePool, If)."""

    class Apply(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, size, alpha, beta, k):
            return nn.functional.local_response_norm(x, size, alpha, beta, k)

        @staticmethod
        def symbolic(g, x, size, alpha, beta, k):
            # Both divide alpha by size: x / (k + alpha / size * sum of squares) ** beta.
            return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)

    def forward(self, x):
        return self.Apply.apply(x, self.size, self.alpha, self.beta, self.k)


class ZfNet(nn.Module):
    """ZFNet: Zeiler & Fergus 2013, "Visualizing and Understanding Convolutional
    Networks", Figure 3 (the published network, not the ONNX zoo's zfnet512, whose
    widths are unpublished).

    The figure's contrast normalisation across feature maps is nn.LocalResponseNorm as
    Caffe-style implementations have it: 5 channels, alpha 1e-4, beta 0.75, k 1. The
    figure gives the map sizes, not the paddings; for a 224x224 input these reproduce
    them: conv1 padded by 1 (224 -> 110), conv2 unpadded (55 -> 26), conv3-5 padded by 1
    (13 -> 13), and the 3x3/2 max pools rounding up as Caffe's do (110 -> 55, 26 -> 13,
    13 -> 6).
    """

    def __init__(self, num_classes=1000):
        super().__init__()
        pool = functools.partial(nn.MaxPool2d, 3, 2, ceil_mode=True)
        lrn = functools.partial(CaffeLrn, 5, alpha=1e-4, beta=0.75, k=1.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, 2, padding=1), nn.ReLU(inplace=True), pool(), lrn(),  # 110x110, 55x55
            nn.Conv2d(96, 256, 5, 2), nn.ReLU(inplace=True), pool(), lrn(),  # 26x26, 13x13
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True), pool())  # 13x13, 6x6
        self.classifier = nn.Sequential(  # the dropouts are identities in eval mode
            nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# ---- the catalogue ----

def vision(ctor, size=64):
    """A builder for ctor: a torchvision constructor (called with weights=None) or a class here."""
    def make():
        model = ctor() if isinstance(ctor, type) else ctor(weights=None)
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
    # Written here (torchvision has neither); their final pools need 224x224 inputs.
    "bn_inception": vision(BnInception, size=224),  # data/real's inception_v2
    "zfnet": vision(ZfNet, size=224),  # data/real's zfnet512 is a wider variant
}
