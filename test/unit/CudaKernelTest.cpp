//===- CudaKernelTest.cpp - the CUDA C++ printer and NVRTC -----------------===//
#include "codegen/cuda/CudaKernel.h"
#include "test/unit/RowReduction.h"
#include "runtime/src/cuda/nvrtc.h"

#include <gtest/gtest.h>

namespace {

using namespace kiln;
namespace rt = kiln::runtime;

/// out[i] = x[i] * 2 over [n]; `bad` puts a name NVRTC does not know into
/// the body.
rt::Kernel scale(int64_t n, const char *name) {
  rt::Kernel k;
  k.name = name;
  k.domain = {n};
  k.parallelDims = 1;
  k.args = {{rt::DType::F32, {n}, false}, {rt::DType::F32, {n}, true}};
  rt::KInstr load{rt::KOp::Load, rt::DType::F32};
  load.arg = 0;
  load.map = {1, 0};
  rt::KInstr two{rt::KOp::Const, rt::DType::F32};
  two.fvalue = 2;
  rt::KInstr mul{rt::KOp::Mul, rt::DType::F32, 0, 1};
  k.body = {load, two, mul};
  k.outputs = {{1, 2, rt::Combine::None}};
  return k;
}

TEST(CudaKernel, PrintsOneEntryPerKernel) {
  codegen::cuda::Module module;
  std::string error;
  ASSERT_TRUE(codegen::cuda::printModule({scale(8, "first"), scale(9, "second")},
                                         module, error))
      << error;
  EXPECT_NE(module.source.find("void __launch_bounds__(256) kiln_k0(const "
                               "float* a0, float* a1)"),
            std::string::npos);
  EXPECT_NE(module.source.find("p < 9LL"), std::string::npos);
  EXPECT_NE(module.source.find("const float v2 = v0 * v1;"), std::string::npos);
  // 2.0f, exactly, as bits.
  EXPECT_NE(module.source.find("__uint_as_float(0x40000000u)"),
            std::string::npos);
  ASSERT_EQ(module.kernelLines.size(), 2u);
  EXPECT_EQ(codegen::cuda::kernelAtLine(module, module.kernelLines[1] + 3), 1u);
  EXPECT_EQ(codegen::cuda::kernelAtLine(module, 1), SIZE_MAX);
}

#ifdef KILN_TEST_NVRTC
// Where the CUDA toolkit is (as on every machine of this project's kind),
// NVRTC compiles what the printer writes, and its errors carry the log and
// a line that leads back to the kernel.
TEST(Nvrtc, CompilesPrintedKernelsAndReportsErrors) {
  rt::cuda::Nvrtc *nvrtc = nullptr;
  rt::Status status = rt::cuda::Nvrtc::get(nvrtc);
  ASSERT_TRUE(status.ok()) << status.message();
  codegen::cuda::Module module;
  std::string error;
  ASSERT_TRUE(codegen::cuda::printModule({scale(8, "a"), scale(9, "b")},
                                         module, error));
  std::vector<uint8_t> cubin;
  status = nvrtc->compile(module.source, "kiln", "sm_80", cubin);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_GT(cubin.size(), 100u);
  EXPECT_EQ(std::string(reinterpret_cast<char *>(cubin.data()) + 1, 3), "ELF");

  std::string broken = module.source;
  size_t at = broken.find("const float v2 = v0 * v1;", module.source.find("kiln_k1"));
  broken.replace(at, 4, "cnst");
  status = nvrtc->compile(broken, "kiln", "sm_90", cubin);
  ASSERT_FALSE(status.ok());
  std::string message = status.message();
  EXPECT_NE(message.find("NVRTC cannot compile kernel 'kiln' for sm_90"),
            std::string::npos)
      << message;
  size_t line = message.find("kiln.cu(");
  ASSERT_NE(line, std::string::npos) << message;
  EXPECT_EQ(codegen::cuda::kernelAtLine(
                module, std::strtoull(message.c_str() + line + 8, nullptr, 10)),
            1u);
}

// A block reduction and segmented kernels compile too (shared memory, the
// tree, the segment table's entry, vectors of a launch-sized segment).
TEST(Nvrtc, CompilesBlockReductionsAndSegmentedKernels) {
  rt::cuda::Nvrtc *nvrtc = nullptr;
  ASSERT_TRUE(rt::cuda::Nvrtc::get(nvrtc).ok());
  rt::Kernel sum =
      kiln::test::rowReduction("row_sums", 4, 4096, {rt::Combine::Sum});
  ASSERT_TRUE(sum.verify().ok());
  rt::Kernel segmented = scale(16, "s");
  segmented.segmented = true;
  ASSERT_TRUE(segmented.verify().ok()) << segmented.verify().message();
  // A segmented reduction: a block per segment, its size at launch.
  rt::Kernel norms = kiln::test::rowReduction("norms", 1, 4096, {rt::Combine::Sum});
  norms.domain = {4096};
  norms.parallelDims = 0;
  norms.segmented = true;
  norms.args = {{rt::DType::F32, {4096}, false}, {rt::DType::F32, {}, true}};
  norms.body[0].map = {1, 0};
  ASSERT_TRUE(norms.verify().ok()) << norms.verify().message();
  // A segmented update four points a thread (its last vector partial).
  rt::Kernel vectors = scale(16, "v");
  vectors.segmented = true;
  vectors.vector = 4;
  ASSERT_TRUE(vectors.verify().ok()) << vectors.verify().message();
  codegen::cuda::Module module;
  std::string error;
  ASSERT_TRUE(codegen::cuda::printModule({sum, segmented, norms, vectors},
                                         module, error))
      << error;
  EXPECT_NE(module.source.find("kiln_k3_segments"), std::string::npos);
  EXPECT_NE(module.source.find("const float4 kiln_w0"), std::string::npos);
  EXPECT_NE(module.source.find("kiln_k2_segments"), std::string::npos);
  EXPECT_NE(module.source.find("__shared__ double kiln_s0[256]"),
            std::string::npos);
  EXPECT_NE(module.source.find("kiln_k1_segments"), std::string::npos);
  std::vector<uint8_t> cubin;
  rt::Status status = nvrtc->compile(module.source, "kiln", "sm_90", cubin);
  ASSERT_TRUE(status.ok()) << status.message();
}
#endif

} // namespace
