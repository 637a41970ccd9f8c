// ONNX's backend test suites (Debian's libonnx-testdata 1.12) through
// run_onnx, the code path of `kiln run --check`: functional mode, the inputs
// and expected outputs the tests ship. Each case passes (outputs within
// tolerance), fails (wrong values, or an error while lowering or running)
// is unsupported (refused at load with the one-error list), or is invalid
// (refused by ONNX's own checker or strict shape inference, as its Python
// API refuses it too: a model the spec does not allow at its opset).
//
// tests/frontend/onnx_out_of_scope.txt lists every case not expected to
// pass, with its reason; every case not listed must pass, none may crash,
// and the node tests' pass count may not drop below the floor.
// KILN_ONNX_VERBOSE=1 prints each case's outcome and reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "kiln/frontend/onnx_runner.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;

// Measured 2026-12-02 (libonnx-testdata 1.12.0-2, config tiny, lazy mode):
// 721 pass, 0 fail, 211 unsupported of 932.
constexpr int kPassFloor = 721;

// "suite/case" -> reason, from the one list of cases not expected to pass.
std::map<std::string, std::string> out_of_scope() {
  std::map<std::string, std::string> cases;
  std::ifstream in(KILN_ONNX_OUT_OF_SCOPE);
  EXPECT_TRUE(in.good()) << "cannot read " << KILN_ONNX_OUT_OF_SCOPE;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with('#')) continue;
    std::istringstream s(line);
    std::string name, reason;
    if (!(s >> name)) continue;
    std::getline(s >> std::ws, reason);
    cases[name] = reason;
  }
  return cases;
}

struct SuiteResult {
  int cases = 0, pass = 0, fail = 0, unsupported = 0, invalid = 0;
  std::vector<std::string> unexpected;  // not listed, yet not passing: "case: why"
  std::vector<std::string> listed_passing;
};

// Runs every case under data/<suite> on one runtime, in sorted order.
SuiteResult run_suite(const std::string& suite, const std::map<std::string, std::string>& listed) {
  const fs::path root = fs::path(KILN_ONNX_DATA) / suite;
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  auto rt = runtime::Runtime::open("tiny").value();
  SuiteResult r;
  const bool verbose = std::getenv("KILN_ONNX_VERBOSE") != nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& dir : cases) {
    ++r.cases;
    RunOptions o;
    o.model_path = (dir / "model.onnx").string();
    o.inputs_dir = (dir / "test_data_set_0").string();
    o.check_dir = o.inputs_dir;
    auto report = run_onnx(*rt, o);
    const std::string name = dir.filename().string();
    const bool is_listed = listed.count(suite + "/" + name) > 0;
    std::string outcome, why;
    if (!report.ok() && report.status().code() == ErrorCode::kUnimplemented) {
      ++r.unsupported;
      outcome = "UNSUPPORTED";
      why = report.status().message();
    } else if (!report.ok() && report.status().code() == ErrorCode::kInvalidArgument &&
               (report.status().message().find("fails the ONNX checker") != std::string::npos ||
                report.status().message().find("ONNX shape inference failed") != std::string::npos)) {
      ++r.invalid;
      outcome = "INVALID";
      why = report.status().message();
    } else if (report.ok() && report->passed) {
      ++r.pass;
      outcome = "PASS";
      if (is_listed) r.listed_passing.push_back(name);
    } else {
      ++r.fail;
      outcome = "FAIL";
      why = report.ok() ? report->summary() : report.status().to_string();
    }
    // A listed case may be refused, never wrong: a FAIL is reported either way.
    if (outcome == "FAIL" || (outcome != "PASS" && !is_listed)) r.unexpected.push_back(name + " (" + outcome + "): " + why);
    if (verbose) std::printf("%s %s/%s%s%s\n", outcome.c_str(), suite.c_str(), name.c_str(), why.empty() ? "" : ": ", why.c_str());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("ONNX %s tests: %d pass, %d fail, %d unsupported, %d invalid of %d (%.1f s)\n", suite.c_str(), r.pass,
              r.fail, r.unsupported, r.invalid, r.cases, s);
  for (const auto& n : r.listed_passing)
    std::printf("  %s/%s passes: remove it from onnx_out_of_scope.txt\n", suite.c_str(), n.c_str());
  return r;
}

void expect_only_listed_cases_miss(const SuiteResult& r, const std::string& suite) {
  std::string all;
  for (const auto& u : r.unexpected) all += "\n  " + u;
  EXPECT_TRUE(r.unexpected.empty()) << r.unexpected.size() << " " << suite
                                    << " case(s) fail, or are refused without being listed in onnx_out_of_scope.txt:" << all;
}

bool have_test_data() { return fs::exists(fs::path(KILN_ONNX_DATA) / "node"); }

TEST(OnnxConformance, NodeTests) {
  if (!have_test_data()) GTEST_SKIP() << KILN_ONNX_DATA << " is missing: install libonnx-testdata (scripts/setup.sh)";
  const SuiteResult r = run_suite("node", out_of_scope());
  EXPECT_EQ(r.cases, 932);
  EXPECT_GE(r.pass, kPassFloor);
  expect_only_listed_cases_miss(r, "node");
}

// The suites beside the node tests: whole small models (simple), and
// PyTorch's module and operator exports.
TEST(OnnxConformance, ModelSuites) {
  if (!have_test_data()) GTEST_SKIP() << KILN_ONNX_DATA << " is missing: install libonnx-testdata (scripts/setup.sh)";
  const auto listed = out_of_scope();
  int cases = 0;
  for (const char* suite : {"simple", "pytorch-converted", "pytorch-operator"}) {
    const SuiteResult r = run_suite(suite, listed);
    cases += r.cases;
    expect_only_listed_cases_miss(r, suite);
  }
  EXPECT_EQ(cases, 140);
}

// Every listed case exists: a renamed or removed case leaves no stale line.
TEST(OnnxConformance, OutOfScopeListNamesRealCases) {
  if (!have_test_data()) GTEST_SKIP() << KILN_ONNX_DATA << " is missing";
  for (const auto& [name, reason] : out_of_scope()) {
    EXPECT_FALSE(reason.empty()) << name << " is listed without a reason";
    if (name.starts_with("models/")) continue;  // tests/models' exports, checked by their ctests
    // data/real's cases hold only a download URL.
    const char* file = name.starts_with("real/") ? "data.json" : "model.onnx";
    EXPECT_TRUE(fs::exists(fs::path(KILN_ONNX_DATA) / name / file)) << name << " is not a test case";
  }
}

}  // namespace
}  // namespace kiln::frontend
