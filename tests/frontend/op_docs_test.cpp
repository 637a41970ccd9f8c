// docs/onnx.md's op-coverage table is generated from the code
// (tests/frontend/update_onnx_docs.py): it must list exactly the op types
// the frontend lowers, so an op added or removed without regenerating it
// fails here.
#include <gtest/gtest.h>

#include <fstream>
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
  // Rows "| `Op` | ...": no std::regex (GCC 12 warns inside it at -O1 with the sanitizers).
  std::vector<std::string> listed;
  for (std::size_t at = table.find("\n| `"); at != std::string::npos; at = table.find("\n| `", at + 1)) {
    const std::size_t name = at + 4, close = table.find('`', name);
    if (close == std::string::npos) break;
    listed.push_back(table.substr(name, close - name));
  }
  EXPECT_EQ(listed, supported_op_types())
      << "regenerate docs/onnx.md's table: KILN_ONNX_VERBOSE=1 build/tests/frontend/kiln_onnx_tests "
         "--gtest_filter='OnnxConformance*' | /usr/bin/python3 tests/frontend/update_onnx_docs.py build/tools/kiln docs/onnx.md";
}

}  // namespace
}  // namespace kiln::frontend
