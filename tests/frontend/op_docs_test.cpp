// docs/onnx.md's op-coverage table is generated from the code
// (tests/frontend/update_onnx_docs.py): it must list exactly the op types
// the frontend lowers, so an op added or removed without regenerating it
// fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "kiln/frontend/onnx_model.h"

namespace kiln::frontend {
namespace {

TEST(OnnxDocs, CoverageTableListsExactlyTheSupportedOps) {
  std::ifstream in(KILN_ONNX_DOC);
  ASSERT_TRUE(in.good()) << "cannot read " << KILN_ONNX_DOC;
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const auto begin = doc.find("<!-- op-coverage:begin -->"), end = doc.find("<!-- op-coverage:end -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::string table = doc.substr(begin, end - begin);
  std::vector<std::string> listed;
  const std::regex row(R"(\n\| `(\w+)` \|)");
  for (auto it = std::sregex_iterator(table.begin(), table.end(), row); it != std::sregex_iterator(); ++it)
    listed.push_back((*it)[1]);
  EXPECT_EQ(listed, supported_op_types())
      << "regenerate docs/onnx.md's table: KILN_ONNX_VERBOSE=1 build/tests/frontend/kiln_onnx_tests "
         "--gtest_filter='OnnxConformance*' | /usr/bin/python3 tests/frontend/update_onnx_docs.py build/tools/kiln docs/onnx.md";
}

}  // namespace
}  // namespace kiln::frontend
