#!/usr/bin/python3
"""Real architectures as ONNX models with reference outputs, for `kiln run`.

PyTorch models (torch_models.py) get random weights from a fixed seed and are
exported with torch.onnx (opset 17, static shapes, do_constant_folding=True)
to OUT/<name>/model.onnx, next to test_data_set_0/input_<i>.pb and
output_<i>.pb: the inputs, and PyTorch's outputs as the independent reference
(ONNX's backend-test layout, what `kiln run --inputs/--check` read).
The large decoder graphs of decoder_graphs.py (gpt2_124m, decoder_7b: prompt
pass and decode step, weights absent) are written too; they need no torch.

Run with Debian's /usr/bin/python3 (python3-torch, -torchvision, -onnx).
Exit status 77 when torch is missing for a requested model, so a ctest
reports SKIP.

usage: export_models.py [OUT] [--out OUT] [--only NAME]... [--optional] [--list] [--bench]
  (no --only: every model but the optional ones, and the decoder graphs;
  --bench: only the extra models bench_models times)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_graphs  # noqa: E402  (beside this script; needs only python3-onnx)

SKIP = 77
SEED = 20261201


def torch_catalogue():
    """(models, optional models, names saved with external data), or exit 77 without torch."""
    try:
        import torch_models
    except ImportError as e:  # the ctest turns this into a SKIP
        print(f"export_models.py: {e}: needs python3-torch, python3-torchvision and python3-onnx "
              "(run with /usr/bin/python3)", file=sys.stderr)
        sys.exit(SKIP)
    return torch_models.MODELS, torch_models.OPTIONAL, torch_models.EXTERNAL_DATA


def bench_catalogue():
    torch_catalogue()  # exits 77 without torch
    import torch_models
    return torch_models.BENCH


def save_tensor(array, path):
    import numpy as np
    from onnx import numpy_helper
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array)).SerializeToString())


def export(name, make, out_dir, external_data):
    import onnx
    import torch
    torch.manual_seed(SEED)
    model, inputs, input_names, output_names = make()
    model.eval()
    d = os.path.join(out_dir, name)
    data = os.path.join(d, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    with torch.no_grad():
        outputs = model(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        torch.onnx.export(model, inputs, path, input_names=input_names, output_names=output_names, opset_version=17,
                          do_constant_folding=True)
    if external_data:
        onnx.save_model(onnx.load(path), path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=1024)
    for i, t in enumerate(inputs):
        save_tensor(t.numpy(), os.path.join(data, f"input_{i}.pb"))
    for i, t in enumerate(outputs):
        save_tensor(t.numpy(), os.path.join(data, f"output_{i}.pb"))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f != "test_data_set_0")
    print(f"{path}: {size / 1e6:.1f} MB" + (" (weights in weights.bin)" if external_data else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--out", help="the output directory (or give it first)")
    ap.add_argument("--only", action="append", help="a model name (default: all but the optional ones)")
    ap.add_argument("--optional", action="store_true", help="also the optional (data/real-like) architectures")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    ap.add_argument("--bench", action="store_true",
                    help="only what bench_models times beyond the tests' models: ResNet-50 at 224x224 and the "
                         "GPT-2 124M prompt pass at 1024 tokens (gpt2_124m_prompt1024)")
    args = ap.parse_args()
    out = args.out or args.out_dir
    decoders = list(decoder_graphs.LARGE)
    if args.bench and out:
        decoder_graphs.generate(out, "gpt2_124m", prompt=1024, kinds=("prompt",), suffix="1024")
        bench = bench_catalogue()
        import torch
        torch.set_num_threads(1)
        for name, make in bench.items():
            export(name, make, out, False)
        return
    if args.list:
        models, optional, _ = torch_catalogue()
        print("\n".join(list(models) + [f"{n} (optional)" for n in optional] + [f"{n} (decoder graphs)" for n in decoders]))
        return
    if not out:
        ap.error("give the output directory (OUT or --out OUT)")
    names = args.only
    for name in [n for n in names or decoders if n in decoders]:
        decoder_graphs.generate(out, name)
    torch_names = [n for n in names if n not in decoders] if names else None
    if torch_names == []:
        return
    models, optional, external = torch_catalogue()
    catalogue = {**models, **optional}
    import torch
    torch.set_num_threads(1)
    for name in torch_names or list(models) + (list(optional) if args.optional else []):
        if name not in catalogue:
            sys.exit(f"export_models.py: no model '{name}' (--list names them)")
        export(name, catalogue[name], out, name in external)


if __name__ == "__main__":
    main()
