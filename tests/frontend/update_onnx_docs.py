#!/usr/bin/python3
"""Regenerates docs/onnx.md's op-coverage table from the code and a conformance run.

  KILN_ONNX_VERBOSE=1 build-rel/tests/frontend/kiln_onnx_tests --gtest_filter='OnnxConformance*' \\
      | /usr/bin/python3 tests/frontend/update_onnx_docs.py build-rel/tools/kiln docs/onnx.md

The ops are what `kiln run --list-ops` prints (the frontend's lowering
table). For each, from libonnx-testdata's suites: how many cases use it
(their model.onnx, read with python3-onnx), how many of those pass, and the
reasons Kiln gave for refusing it (attributes, dtypes). The table replaces
what lies between the op-coverage markers; tests/frontend checks that it
lists exactly the ops of the code.
"""
import collections
import os
import re
import subprocess
import sys

BEGIN, END = "<!-- op-coverage:begin -->", "<!-- op-coverage:end -->"
DATA = "/usr/share/libonnx-testdata/data"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kiln, doc = sys.argv[1], sys.argv[2]
    try:
        import onnx
    except ImportError:
        sys.exit("update_onnx_docs.py: needs python3-onnx (run with /usr/bin/python3)")
    ops = subprocess.run([kiln, "run", "--list-ops"], check=True, capture_output=True, text=True).stdout.split()
    outcome, refusals, current = {}, collections.defaultdict(collections.Counter), None
    for line in sys.stdin:
        m = re.match(r"^(PASS|FAIL|UNSUPPORTED|INVALID) (\S+?)(?:: .*)?$", line.rstrip("\n"))
        if m:
            outcome[m.group(2)] = m.group(1)
            current = m.group(2)
            continue
        r = re.match(r"^\s+.* \((\w+)\): unsupported: (.*)$", line)
        if r and current:
            reason = re.sub(r"'[^']*'", "'…'", r.group(2))
            if reason != "no lowering for this op":
                refusals[r.group(1)][reason] += 1
    if not outcome:
        sys.exit("update_onnx_docs.py: no PASS/FAIL/UNSUPPORTED lines on stdin (KILN_ONNX_VERBOSE=1?)")
    uses, passes = collections.Counter(), collections.Counter()
    for case, result in outcome.items():
        path = os.path.join(DATA, case, "model.onnx")
        if not os.path.exists(path):
            continue
        try:
            types = {n.op_type for n in onnx.load(path).graph.node if n.domain in ("", "ai.onnx")}
        except Exception:  # a model python-onnx cannot read is counted nowhere
            continue
        for t in types:
            uses[t] += 1
            passes[t] += result == "PASS"
    counts = collections.Counter(outcome.values())
    rows = [f"{len(ops)} op types. Cases of libonnx-testdata's node, simple, pytorch-converted and pytorch-operator "
            f"suites: {counts['PASS']} pass, {counts['FAIL']} fail, {counts['UNSUPPORTED']} unsupported, "
            f"{counts['INVALID']} invalid of {len(outcome)}. Per op: the cases whose model uses it, how many of "
            "those pass (a case fails to pass when any of its ops is refused), and what Kiln refuses of it.",
            "", "| op | cases | pass | refused |", "|---|---|---|---|"]
    for op in ops:
        why = "; ".join(f"{r} ({n})" for r, n in refusals[op].most_common(3))
        rows.append(f"| `{op}` | {uses[op]} | {passes[op]} | {why} |")
    text = open(doc).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"update_onnx_docs.py: {doc} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(doc, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail)
    print(f"{doc}: {len(ops)} ops")


if __name__ == "__main__":
    main()
