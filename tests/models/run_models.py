#!/usr/bin/python3
"""The real-model ctests: export, then `kiln run` every model in every mode.

  run_models.py exported --kiln KILN --out DIR --only NAME...
      exports NAME with export_models.py (PyTorch, random weights, reference
      outputs), then runs `kiln run --check` in eager, lazy and graph mode.
      Each must pass within kiln's per-dtype tolerances (f32: atol 1e-4,
      rtol 1e-3; kiln::frontend::tolerance_for), unless tests/frontend/
      onnx_out_of_scope.txt lists models/NAME: then it must be refused as
      unsupported (exit 3), never fail. Exit 77 (ctest SKIP) without torch.
  run_models.py reference --kiln KILN --out DIR --only NAME...
      generates decoder_graphs.py's toy-size NAME (gpt2_tiny, llama_tiny)
      with random weights in an external file and NumPy reference outputs
      (decoder_reference.py), then checks prompt and decode step as above:
      the large graphs' structure computes what the architecture defines.
  run_models.py timing --kiln KILN --out DIR --only NAME...
      generates NAME's prompt and decode graphs (decoder_graphs.py, weights
      absent) and runs each with --timing-only: it must finish within
      --budget seconds of wall time and print a latency.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_OF_SCOPE = os.path.join(HERE, "..", "frontend", "onnx_out_of_scope.txt")
SKIP = 77
UNSUPPORTED = 3


def listed_cases():
    """suite/case -> reason, from the one list of cases not expected to pass."""
    cases = {}
    with open(OUT_OF_SCOPE) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                case, _, reason = line.partition(" ")
                cases[case] = reason.strip()
    return cases


def run(cmd, budget=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=budget)
    return p.returncode, p.stdout, time.monotonic() - t0


def check_all_modes(args, name, model_dir, listed):
    """kiln run --check in every mode; True if each passes (or is refused, when listed)."""
    model = os.path.join(model_dir, "model.onnx")
    data = os.path.join(model_dir, "test_data_set_0")
    expect_unsupported = f"models/{name}" in listed
    ok = True
    for mode in ("eager", "lazy", "graph"):
        rc, out, secs = run([args.kiln, "run", model, "--config", args.config, "--mode", mode, "--iterations", "2",
                             "--inputs", data, "--check", data])
        latency = re.search(r"latency: first [\d.]+ us, steady [\d.]+ us", out)
        if rc == 0 and expect_unsupported:
            print(f"PASS {name} {mode} ({secs:.1f} s), though listed in onnx_out_of_scope.txt "
                  f"({listed[f'models/{name}']}): remove it from the list")
        elif rc == 0:
            print(f"PASS {name} {mode} ({secs:.1f} s; {latency.group(0) if latency else 'no latency'})")
        elif rc == UNSUPPORTED and expect_unsupported:
            print(f"UNSUPPORTED {name} {mode} (listed: {listed[f'models/{name}']})")
        else:
            ok = False
            print(out)
            print(f"FAIL {name} {mode}: kiln run exited {rc}" +
                  (" (unsupported, and not listed in onnx_out_of_scope.txt)" if rc == UNSUPPORTED else ""))
    return ok


def exported(args):
    listed = listed_cases()
    ok = True
    for name in args.only:
        rc, out, secs = run([sys.executable, os.path.join(HERE, "export_models.py"), args.out, "--only", name])
        if rc == SKIP:
            print(out.strip())
            print(f"SKIP {name}: PyTorch is not available")
            return SKIP
        if rc != 0:
            print(out)
            print(f"FAIL {name}: the export failed")
            return 1
        ok = check_all_modes(args, name, os.path.join(args.out, name), listed) and ok
    return 0 if ok else 1


def reference(args):
    listed = listed_cases()
    ok = True
    for name in args.only:
        rc, out, _ = run([sys.executable, os.path.join(HERE, "decoder_graphs.py"), args.out, "--only", name,
                          "--with-weights"])
        print(out.strip())
        if rc != 0:
            print(f"FAIL {name}: generating the graphs failed")
            return SKIP if rc == SKIP else 1
        for kind in ("prompt", "decode"):
            ok = check_all_modes(args, f"{name}_{kind}", os.path.join(args.out, f"{name}_{kind}"), listed) and ok
    return 0 if ok else 1


def timing(args):
    ok = True
    for name in args.only:
        rc, out, _ = run([sys.executable, os.path.join(HERE, "decoder_graphs.py"), args.out, "--only", name])
        print(out.strip())
        if rc != 0:
            print(f"FAIL {name}: generating the graphs failed")
            return SKIP if rc == SKIP else 1
        for kind in ("prompt", "decode"):
            model = os.path.join(args.out, f"{name}_{kind}", "model.onnx")
            try:
                rc, out, secs = run([args.kiln, "run", model, "--config", args.config, "--timing-only", "--iterations", "2"],
                                    budget=args.budget)
            except subprocess.TimeoutExpired:
                print(f"FAIL {name}_{kind}: more than {args.budget} s")
                ok = False
                continue
            latency = re.search(r"latency: first [\d.]+ us, steady [\d.]+ us", out)
            if rc != 0 or not latency:
                ok = False
                print(out)
                print(f"FAIL {name}_{kind}: kiln run exited {rc}" + ("" if latency else ", no latency printed"))
            else:
                steady = [l for l in out.splitlines() if l.startswith("iteration 1:")]
                print(f"PASS {name}_{kind} ({secs:.1f} s wall): {latency.group(0)}; {steady[0] if steady else ''}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["exported", "reference", "timing"])
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", action="append", required=True)
    ap.add_argument("--config", default="gaudi2")
    ap.add_argument("--budget", type=float, default=60, help="wall seconds per timing-only run")
    args = ap.parse_args()
    sys.exit({"exported": exported, "reference": reference, "timing": timing}[args.what](args))


if __name__ == "__main__":
    main()
