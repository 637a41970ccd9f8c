#!/usr/bin/env python3
"""Regenerates onnx_out_of_scope.txt from a verbose conformance run.

  KILN_ONNX_VERBOSE=1 build-rel/tests/frontend/kiln_onnx_tests --gtest_filter='OnnxConformance*' \\
      | tests/frontend/update_out_of_scope.py tests/frontend/onnx_out_of_scope.txt

Every case the run did not pass gets a line "suite/case reason": a feature
out of scope (fp64, strings, sequences, optionals, training, other domains),
"invalid: ..." for models ONNX's own strict checks refuse, or "not yet: ..."
naming the ops (and the attribute or dtype) Kiln refuses. A case that FAILs
(wrong values, a run error) is not listed: it must be fixed, and the script
exits 1 naming it. Lines for tests/models' exports ("models/..."), for
data/real's download-only cases ("real/...") and any reason written by hand
after "manual:" are kept. Standard library only.
"""
import re
import sys

OUT_OF_SCOPE_OPS = {
    "sequences": {"SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert",
                  "SequenceLength", "SequenceMap", "SplitToSequence", "ConcatFromSequence"},
    "optionals": {"Optional", "OptionalGetElement", "OptionalHasElement"},
    "training": {"Gradient", "Adagrad", "Adam", "Momentum"},
    "strings": {"StringNormalizer", "RegexFullMatch", "StringConcat", "StringSplit"},
}
HEADER = """\
# ONNX test cases NOT expected to pass on Kiln, one per line: suite/case reason.
# Suites are libonnx-testdata's data/<suite> (node, simple, pytorch-converted,
# pytorch-operator, real) and tests/models' exports (models/<name>). Every case not
# listed must pass (tests/frontend/onnx_conformance_test.cpp, tests/models);
# a listed case may be refused (unsupported, invalid), never give wrong values.
# Reasons: "out of scope: <feature>" (Kiln does not intend to support it),
# "invalid: ..." (ONNX's own strict checks refuse the model at its opset), or
# "not yet: <ops>" (lowerings still to write). Regenerate with
# tests/frontend/update_out_of_scope.py (see its usage); lines whose reason
# says "manual:", and the models/ and real/ lines, are kept as written.
"""


def classify(message):
    if "ONNX shape inference failed" in message or "fails the ONNX checker" in message:
        detail = message.split(": ", 2)[-1].splitlines()[0]
        return "invalid: ONNX's strict checks refuse it: " + detail[:120]
    nodes = re.findall(r"^\s+(.*?) \((\w+)\): unsupported: (.*)$", message, re.M)
    text = message + " ".join(r for _, _, r in nodes)
    if "DOUBLE" in text:
        return "out of scope: fp64 (double)"
    if "STRING" in text:
        return "out of scope: strings"
    if "above the runtime's" in text:
        return "out of scope: rank above 5 (the device's tensor descriptors have 5 dims, as Gaudi's TPC has)"
    if "dtype UNDEFINED" in text:  # a value that is not a tensor
        return "out of scope: sequences and optionals (a value that is not a tensor)"
    ops = {op for _, op, _ in nodes}
    for feature, names in OUT_OF_SCOPE_OPS.items():
        if ops & names or (feature == "sequences" and "sequence" in text.lower() and not nodes):
            return f"out of scope: {feature}"
    if "domain '" in text:
        return "out of scope: domain " + re.search(r"domain '([^']*)'", text).group(1)
    if not nodes:  # a model-level refusal: its first line
        return "not yet: " + message.split(": ", 1)[-1].splitlines()[0][:120]
    parts = []
    for _, op, reason in nodes:
        part = op if reason == "no lowering for this op" else f"{op} ({reason[:120]})"
        if part not in parts:
            parts.append(part)
    return "not yet: " + "; ".join(parts)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    kept = []
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("#") and (line.startswith(("models/", "real/")) or "manual:" in line):
                    kept.append(line.rstrip("\n"))
    except FileNotFoundError:
        pass
    manual = {l.split()[0] for l in kept}
    listed, failing, seen = [], [], 0
    current = None  # the listed case whose unsupported-node lines follow
    for line in sys.stdin:
        line = line.rstrip("\n")
        m = re.match(r"^(PASS|FAIL|UNSUPPORTED|INVALID) (\S+?)(?:: (.*))?$", line)
        if not m:
            if current is not None and re.match(r"^  \S.* \(\w+\): unsupported: ", line):
                current[2] += "\n" + line
            else:
                current = None
            continue
        seen += 1
        outcome, case, message = m.group(1), m.group(2), m.group(3) or ""
        current = None
        if outcome == "FAIL":
            failing.append(case)
        elif outcome != "PASS" and case not in manual:
            current = [outcome, case, message]
            listed.append(current)
    if not seen:
        sys.exit("update_out_of_scope.py: no PASS/FAIL/UNSUPPORTED/INVALID lines on stdin (KILN_ONNX_VERBOSE=1?)")
    lines = sorted(kept + [f"{case} {classify(message)}" for _, case, message in listed])
    with open(path, "w") as f:
        f.write(HEADER + "\n".join(lines) + "\n")
    print(f"{path}: {len(lines)} cases listed of {seen} run")
    if failing:
        print("FAILING (fix these; they are not listed): " + ", ".join(failing), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
