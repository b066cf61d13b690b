//===- conformance.cpp - ONNX's backend node tests on kiln's CPU backend --===//
//
//   kiln_conformance DATA_DIR XFAIL_FILE [--filter TEXT] [--verbose]
//
// DATA_DIR holds ONNX's node tests (Debian's libonnx-testdata:
// /usr/share/libonnx-testdata/data/node/test_*/ with model.onnx and
// test_data_set_*/{input,output}_N.pb). Every test whose ops kiln imports is
// compiled for inference, run on the CPU backend, and compared with the
// expected outputs at ONNX's tolerances (rtol 1e-3, atol 1e-7). Tests using
// ops kiln does not import are counted apart, by op. XFAIL_FILE lists the
// tests expected to fail, each with a reason; one that passes is an error,
// so the list stays true. Prints each failure, then "N passed, N failed".
//
//===----------------------------------------------------------------------===//
#include "codegen/ProgramEmitter.h"
#include "compiler/Compile.h"
#include "compiler/Registration.h"
#include "compiler/onnx/HostTensor.h"
#include "compiler/onnx/ModelReader.h"
#include "compiler/onnx/NodeImporter.h"
#include "compiler/onnx/TensorData.h"
#include "runtime/src/session.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
namespace rt = kiln::runtime;
using namespace mlir;

namespace {

using kiln::codegen::dtypeOf;

/// A tensor read from a .pb file: its attribute and its bytes as the
/// runtime stores them.
struct PbTensor {
  DenseElementsAttr attr;
  std::vector<uint8_t> bytes;
};

std::optional<PbTensor> readPb(const fs::path &path, MLIRContext &context,
                               std::string &error, bool bf16 = false) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  ::onnx::TensorProto proto;
  if (!proto.ParseFromString(buffer.str())) {
    error = "cannot parse " + path.string();
    return std::nullopt;
  }
  // ONNX's test data stores bfloat16 values as UINT16 bit patterns.
  if (proto.data_type() == ::onnx::TensorProto::UINT16 && bf16)
    proto.set_data_type(::onnx::TensorProto::BFLOAT16);
  auto attr = kiln::onnx::tensorToAttr(proto, path.string(), 0, &context);
  if (!attr) {
    error = llvm::toString(attr.takeError());
    return std::nullopt;
  }
  PbTensor t;
  t.attr = cast<DenseElementsAttr>(*attr);
  auto type = cast<RankedTensorType>(t.attr.getType());
  int64_t n = type.getNumElements();
  if (type.getElementType().isInteger(1)) {
    for (bool b : t.attr.getValues<bool>())
      t.bytes.push_back(b);
  } else {
    ArrayRef<char> raw = t.attr.getRawData();
    size_t width = type.getElementTypeBitWidth() / 8;
    t.bytes.resize(n * width);
    for (int64_t i = 0; i < n; ++i) // A splat stores one element.
      std::memcpy(t.bytes.data() + i * width,
                  raw.data() + (t.attr.isSplat() ? 0 : i * width), width);
  }
  return t;
}

double decode(const rt::HostTensor &t, int64_t i) {
  const uint8_t *p = static_cast<const uint8_t *>(t.data);
  switch (t.dtype) {
  case rt::DType::F32: {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case rt::DType::F64: {
    double v;
    std::memcpy(&v, p + 8 * i, 8);
    return v;
  }
  case rt::DType::I64: {
    int64_t v;
    std::memcpy(&v, p + 8 * i, 8);
    return double(v);
  }
  case rt::DType::I32: {
    int32_t v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case rt::DType::I8:
    return int8_t(p[i]);
  case rt::DType::U8:
    return p[i];
  case rt::DType::Bool:
    return p[i] != 0;
  case rt::DType::F16:
  case rt::DType::BF16: {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    if (t.dtype == rt::DType::BF16) {
      uint32_t bits = uint32_t(v) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    uint32_t exp = (v >> 10) & 0x1F, mant = v & 0x3FF;
    double f = exp == 0    ? std::ldexp(double(mant), -24)
               : exp == 31 ? (mant ? NAN : INFINITY)
                           : std::ldexp(double(mant | 0x400), int(exp) - 25);
    return (v & 0x8000) ? -f : f;
  }
  }
  return 0;
}

/// Runs one test; returns "" on success or why it failed. `bound` receives
/// the inputs that had to be fixed at compile time.
std::string runTest(const fs::path &dir, std::vector<std::string> &bound) {
  mlir::DialectRegistry registry;
  kiln::registerAllDialects(registry);
  MLIRContext context(registry);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error && diagnostics.empty())
      diagnostics = d.str();
    return success();
  });
  kiln::CompileOptions options;
  options.inputPath = (dir / "model.onnx").string();
  auto model = kiln::onnx::readModel(options.inputPath);
  if (!model)
    return "read: " + llvm::toString(model.takeError());
  std::set<std::string> initializers;
  for (const auto &i : (*model)->graph().initializer())
    initializers.insert(i.name());
  auto program = kiln::compileProgram(options, context);
  // Many node tests pass shapes, axes or bounds as graph inputs. kiln needs
  // them at compile time: bind those (integer inputs, scalars, and the
  // inputs the error names -- Resize's float scales and roi -- of the first
  // data set) as constants, as a user would with values they know, and try
  // again.
  std::set<std::string> named;
  for (size_t tries = 0;
       tries < 4 && failed(program) &&
       diagnostics.find("must be known at compile time") != std::string::npos;
       ++tries) {
    size_t before = named.size();
    for (size_t at = diagnostics.find("') must be known at compile time");
         at != std::string::npos;
         at = diagnostics.find("') must be known at compile time", at + 1)) {
      size_t open = diagnostics.rfind('\'', at - 1);
      if (open != std::string::npos)
        named.insert(diagnostics.substr(open + 1, at - open - 1));
    }
    if (tries > 0 && named.size() == before)
      break; // Nothing new to bind.
    int index = 0;
    for (const auto &input : (*model)->graph().input()) {
      if (initializers.count(input.name()) ||
          options.import.constantInputs.count(input.name())) {
        index += !initializers.count(input.name());
        continue;
      }
      std::string error;
      auto t = readPb(dir / "test_data_set_0" /
                          ("input_" + std::to_string(index++) + ".pb"),
                      context, error);
      if (!t)
        continue;
      auto type = cast<RankedTensorType>(t->attr.getType());
      if (!isa<FloatType>(type.getElementType()) ||
          type.getNumElements() <= 1 || named.count(input.name())) {
        options.import.constantInputs[input.name()] = t->attr;
        bound.push_back(input.name());
      }
    }
    diagnostics.clear();
    program = kiln::compileProgram(options, context);
  }
  if (failed(program))
    return "compile: " + diagnostics;
  std::unique_ptr<rt::Session> session;
  if (rt::Status s =
          rt::Session::create(program->program, program->init, session);
      !s.ok())
    return "load: " + s.toString();
  const rt::Entry &entry = *session->program().entry("forward");

  std::vector<fs::path> sets;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.is_directory() &&
        e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  for (const fs::path &set : sets) {
    std::vector<PbTensor> inputs;
    std::vector<rt::HostTensor> feeds;
    std::string error;
    // Input files are numbered over all graph inputs, bound ones included.
    int index = 0;
    for (const auto &input : (*model)->graph().input()) {
      if (initializers.count(input.name()))
        continue;
      int at = index++;
      if (std::find(bound.begin(), bound.end(), input.name()) != bound.end())
        continue;
      bool bf16 = input.type().tensor_type().elem_type() ==
                  ::onnx::TensorProto::BFLOAT16;
      auto t = readPb(set / ("input_" + std::to_string(at) + ".pb"), context,
                      error, bf16);
      if (!t)
        return "inputs: " + error;
      inputs.push_back(std::move(*t));
    }
    if (inputs.size() != entry.inputs.size())
      return "inputs: the data set does not match the model's inputs";
    for (size_t i = 0; i < entry.inputs.size(); ++i) {
      const rt::Buffer &b = session->program().buffers[entry.inputs[i]];
      auto type = cast<RankedTensorType>(inputs[i].attr.getType());
      auto dtype = dtypeOf(type.getElementType());
      if (!dtype)
        return "inputs: unsupported element type";
      feeds.push_back(
          {b.name, *dtype,
           std::vector<int64_t>(type.getShape().begin(), type.getShape().end()),
           inputs[i].bytes.data(), inputs[i].bytes.size()});
    }
    std::vector<rt::HostTensor> outputs;
    if (rt::Status s = session->run("forward", feeds, outputs); !s.ok())
      return "run: " + s.toString();
    for (size_t o = 0; o < outputs.size(); ++o) {
      bool bf16 = outputs[o].dtype == rt::DType::BF16;
      auto expected = readPb(set / ("output_" + std::to_string(o) + ".pb"),
                             context, error, bf16);
      if (!expected)
        return "outputs: " + error;
      auto type = cast<RankedTensorType>(expected->attr.getType());
      std::vector<int64_t> shape(type.getShape().begin(),
                                 type.getShape().end());
      if (outputs[o].shape != shape ||
          dtypeOf(type.getElementType()) != outputs[o].dtype)
        return "output " + std::to_string(o) + ": dtype or shape differs";
      auto values = kiln::onnx::HostTensor::fromAttr(expected->attr);
      bool isFloat = isa<FloatType>(type.getElementType());
      for (int64_t i = 0; i < values.size(); ++i) {
        double e = isFloat ? values.doubleAt(i) : double(values.intAt(i));
        double a = decode(outputs[o], i);
        bool ok = isFloat ? (std::isnan(e)
                                 ? std::isnan(a)
                                 : (a == e || std::abs(a - e) <=
                                                  1e-7 + 1e-3 * std::abs(e)))
                          : a == e;
        if (!ok) {
          std::ostringstream msg;
          msg << "output " << o << " element " << i << " is " << a
              << ", expected " << e;
          return msg.str();
        }
      }
    }
  }
  return "";
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: kiln_conformance DATA_DIR XFAIL_FILE "
                         "[--filter TEXT] [--verbose]\n");
    return 2;
  }
  fs::path data = argv[1];
  std::string filter;
  bool verbose = false;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filter") && i + 1 < argc)
      filter = argv[++i];
    else if (!std::strcmp(argv[i], "--verbose"))
      verbose = true;
  }
  std::map<std::string, std::string> xfail;
  std::ifstream list(argv[2]);
  for (std::string line; std::getline(list, line);) {
    if (line.empty() || line[0] == '#')
      continue;
    size_t colon = line.find(':');
    xfail[line.substr(0, colon)] =
        colon == std::string::npos ? "" : line.substr(colon + 2);
  }
  if (!fs::is_directory(data)) {
    std::fprintf(
        stderr,
        "kiln_conformance: %s is not a folder (install libonnx-testdata)\n",
        data.c_str());
    return 2;
  }
  std::vector<fs::path> tests;
  for (const auto &e : fs::directory_iterator(data))
    if (e.is_directory() &&
        e.path().filename().string().find(filter) != std::string::npos)
      tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());

  int passed = 0, failed = 0, expected = 0, unsupported = 0;
  std::map<std::string, int> unsupportedOps;
  for (const fs::path &dir : tests) {
    std::string name = dir.filename().string();
    // Tests whose ops kiln does not import are counted apart.
    auto model = kiln::onnx::readModel((dir / "model.onnx").string());
    if (!model) {
      llvm::consumeError(model.takeError());
      ++unsupported;
      unsupportedOps["(unreadable model)"]++;
      continue;
    }
    int64_t opset = 0;
    for (const auto &o : (*model)->opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx")
        opset = o.version();
    // The nodes of subgraphs (If's branches, a Loop's body) too.
    std::set<std::string> missing;
    std::function<void(const onnx::GraphProto &)> visit =
        [&](const onnx::GraphProto &graph) {
          for (const auto &node : graph.node()) {
            const kiln::onnx::OpConverter *c =
                kiln::onnx::findConverter(node.op_type());
            bool domain = node.domain().empty() || node.domain() == "ai.onnx";
            if (!domain || !c || opset < c->minOpset)
              missing.insert(node.op_type());
            for (const auto &a : node.attribute()) {
              if (a.has_g())
                visit(a.g());
              for (const auto &g : a.graphs())
                visit(g);
            }
          }
        };
    visit((*model)->graph());
    if (!missing.empty()) {
      ++unsupported;
      for (const std::string &op : missing)
        unsupportedOps[op]++;
      continue;
    }
    std::vector<std::string> bound;
    std::string why = runTest(dir, bound);
    // Element types kiln does not compute in (unsigned, int16, strings,
    // optionals) are counted apart, like unsupported ops.
    bool notTensors =
        why.find("kiln takes tensor inputs only") != std::string::npos ||
        why.find("kiln returns tensor outputs only") != std::string::npos;
    if (why.find("which kiln does not support") != std::string::npos ||
        notTensors) {
      ++unsupported;
      unsupportedOps["(element types: " +
                     (notTensors ? std::string(
                                       "optional or sequence inputs or outputs")
                          : why.substr(
                                why.find("element type ") + 13,
                                why.find(',', why.find("element type ")) -
                                    why.find("element type ") - 13)) +
                     ")"]++;
      continue;
    }
    auto listed = xfail.find(name);
    if (listed != xfail.end()) {
      if (why.empty()) {
        std::printf("UNEXPECTED PASS: %s (listed: %s)\n", name.c_str(),
                    listed->second.c_str());
        ++failed;
      } else {
        ++expected;
        if (verbose)
          std::printf("xfail: %s: %s\n", name.c_str(), why.c_str());
      }
    } else if (why.empty()) {
      ++passed;
    } else {
      std::printf("FAIL: %s: %s\n", name.c_str(), why.substr(0, 300).c_str());
      ++failed;
    }
  }
  std::printf("%d tests use ops kiln does not support:", unsupported);
  std::vector<std::pair<int, std::string>> byCount;
  for (auto &[op, n] : unsupportedOps)
    byCount.push_back({-n, op});
  std::sort(byCount.begin(), byCount.end());
  for (size_t i = 0; i < byCount.size() && i < 40; ++i)
    std::printf(" %s (%d)", byCount[i].second.c_str(), -byCount[i].first);
  std::printf("%s\n", byCount.size() > 40 ? " ..." : "");
  std::printf("%d expected failures (%s)\n", expected, argv[2]);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
