//===- backend.cpp - the CUDA backend -------------------------------------===//
#include "backend.h"

#include "api.h"
#include "cache.h"
#include "nvrtc.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace kiln::runtime::cuda {

std::string entryName(size_t index) { return "kiln_k" + std::to_string(index); }

const char *builtinsSource() {
  return R"(typedef long long i64;
// out[b] = C broadcast to M x N (one value, a row of N, or M x N), for
// every batch b: what cuBLASLt's beta then scales.
template <typename T>
__device__ void kiln_fill(T* out, const T* c, i64 cn, i64 m, i64 n, i64 batch,
                     i64 stride) {
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < batch * m * n;
       p += (i64)gridDim.x * blockDim.x) {
    i64 b = p / (m * n), e = p % (m * n);
    out[b * stride + e] = cn == 1 ? c[0] : cn == n ? c[e % n] : c[e];
  }
}
// The gradient through a ReLU, then the bias gradient: out (M x N) zeroed
// where mask is not positive, bias[j] = the sum of column j, accumulated in
// double over the rows in order (as the CPU backend).
template <typename T>
__device__ void kiln_relu_bias_grad(T* out, const T* mask, T* bias, i64 m, i64 n) {
  for (i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x; j < n;
       j += (i64)gridDim.x * blockDim.x) {
    double acc = 0;
    for (i64 r = 0; r < m; ++r) {
      T v = mask[r * n + j] > T(0) ? out[r * n + j] : T(0);
      out[r * n + j] = v;
      acc += (double)v;
    }
    bias[j] = (T)acc;
  }
}
extern "C" __global__ void kiln_fill_f32(float* out, const float* c, i64 cn,
    i64 m, i64 n, i64 batch, i64 stride) { kiln_fill(out, c, cn, m, n, batch, stride); }
extern "C" __global__ void kiln_fill_f64(double* out, const double* c, i64 cn,
    i64 m, i64 n, i64 batch, i64 stride) { kiln_fill(out, c, cn, m, n, batch, stride); }
extern "C" __global__ void kiln_relu_bias_grad_f32(float* out,
    const float* mask, float* bias, i64 m, i64 n) { kiln_relu_bias_grad(out, mask, bias, m, n); }
extern "C" __global__ void kiln_relu_bias_grad_f64(double* out,
    const double* mask, double* bias, i64 m, i64 n) { kiln_relu_bias_grad(out, mask, bias, m, n); }
)";
}

namespace {

constexpr int kThreads = 256;
constexpr int64_t kAlign = 256;
constexpr size_t kGemmWorkspace = size_t(32) << 20;

int64_t alignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

bool envFlag(const char *name, bool otherwise) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return otherwise;
  return std::string(v) != "0";
}

/// A GEMM step, planned when the session opens: cuBLASLt's descriptors and
/// algorithm, and whether C must first be broadcast into `out`.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool fill = false;      ///< C broadcast into out by kiln_fill first.
  bool sharedC = false;   ///< C is the buffer g.c (M x N, every batch).
  double alpha = 1, beta = 0;
};

/// A kernel step's launch, planned when the session opens.
struct Launch {
  CUfunction fn = nullptr;
  unsigned grid = 1, rows = 1, block = kThreads;
  std::vector<CUdeviceptr> args; ///< One per kernel argument.
  bool segmented = false;        ///< Passes kiln_n after the pointers.
  int64_t n = 0;
  bool table = false; ///< The multi-tensor entry: one argument, the table.
  CUdeviceptr tableAt = 0;
};

class CudaBackend final : public Backend {
public:
  CudaBackend(const Program &program, const DriverApi &api)
      : program_(program), cu_(api) {}
  ~CudaBackend() override;

  Status open(const std::vector<uint8_t> &init, const DeviceCode &code,
              const SessionOptions &options);

  std::string describe() const override { return description_; }
  Status write(int64_t offset, const void *data, int64_t bytes) override;
  Status read(int64_t offset, void *data, int64_t bytes) override;
  Status run(const Entry &entry, const RunOptions &options) override;

private:
  /// `what` failed with driver result `r`, as a status.
  Status fail(const std::string &what, CUresult r) const {
    return Status(r == 2 /*CUDA_ERROR_OUT_OF_MEMORY*/
                      ? KILN_STATUS_RESOURCE_EXHAUSTED
                      : KILN_STATUS_INTERNAL,
                  "CUDA: " + what + ": " + cuda::describe(cu_, r));
  }
  Status check(CUresult r, const std::string &what) const {
    return r == CUDA_SUCCESS ? Status() : fail(what, r);
  }
  Status loadModule(const std::string &source, const std::string &name,
                    const DeviceCode &code, CUmodule &module);
  Status planGemm(const GemmCall &g, GemmPlan &plan);
  Status planLaunch(const Step &step, CUdeviceptr &tables, Launch &launch);
  /// Enqueues step `i` of `entry` on the stream.
  Status enqueue(const Entry &entry, size_t i);
  Status enqueueGemm(const Step &step, const GemmPlan &plan);
  Status launchBuiltin(CUfunction fn, int64_t threads,
                       std::vector<void *> params);
  CUdeviceptr at(int32_t buffer) const {
    return base_ + CUdeviceptr(program_.buffers[buffer].offset);
  }

  const Program &program_;
  const DriverApi &cu_;
  const BlasLtApi *lt_ = nullptr;
  std::string description_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  CUmodule module_ = nullptr, builtins_ = nullptr;
  CUfunction fill_[2] = {}, reluBiasGrad_[2] = {};
  cublasLtHandle_t blas_ = nullptr;
  CUdeviceptr base_ = 0, workspace_ = 0;
  int sms_ = 1;
  bool tf32_ = false, graphs_ = true, syncEach_ = false;
  std::string arch_;
  /// Per entry (by address in the program): each step's launch or GEMM
  /// plan, how often it ran, and its graph once captured.
  struct EntryState {
    std::vector<Launch> launches;
    std::vector<GemmPlan> gemms;
    int64_t runs = 0;
    CUgraphExec graph = nullptr;
  };
  std::map<const Entry *, EntryState> entries_;
};

CudaBackend::~CudaBackend() {
  cu_.ctxSetCurrent(context_);
  if (stream_)
    cu_.streamSynchronize(stream_);
  for (auto &[entry, state] : entries_) {
    if (state.graph)
      cu_.graphExecDestroy(state.graph);
    for (GemmPlan &p : state.gemms) {
      if (p.desc)
        lt_->matmulDescDestroy(p.desc);
      for (cublasLtMatrixLayout_t l : {p.a, p.b, p.c, p.d})
        if (l)
          lt_->matrixLayoutDestroy(l);
    }
  }
  if (blas_)
    lt_->destroy(blas_);
  if (module_)
    cu_.moduleUnload(module_);
  if (builtins_)
    cu_.moduleUnload(builtins_);
  if (base_)
    cu_.memFree(base_);
  if (stream_)
    cu_.streamDestroy(stream_);
  if (context_)
    cu_.primaryCtxRelease(device_);
}

Status CudaBackend::loadModule(const std::string &source,
                               const std::string &name, const DeviceCode &code,
                               CUmodule &module) {
  std::vector<uint8_t> cubin;
  const std::vector<uint8_t> *precompiled = nullptr;
  if (&source == &code.source)
    for (const auto &[arch, bytes] : code.cubins)
      if (arch == arch_)
        precompiled = &bytes;
  if (!precompiled) {
    Nvrtc *nvrtc = nullptr;
    if (Status s = Nvrtc::get(nvrtc); !s.ok())
      return Status(s.code(), "the artifact has no cubin for this GPU (" +
                                  arch_ + ") and " + std::string(s.message()));
    CacheResult cache;
    if (Status s = cachedCubin(*nvrtc, source, name, arch_, cubin, cache);
        !s.ok())
      return s;
    if (!cache.warning.empty())
      std::fprintf(stderr, "kiln: warning: %s\n", cache.warning.c_str());
  }
  return check(cu_.moduleLoadData(&module,
                                   precompiled ? precompiled->data()
                                               : cubin.data()),
               "cannot load the " + name + " module's cubin for " + arch_);
}

Status CudaBackend::open(const std::vector<uint8_t> &init,
                         const DeviceCode &code,
                         const SessionOptions &options) {
  tf32_ = options.tf32;
  graphs_ = envFlag("KILN_CUDA_GRAPHS", true);
  syncEach_ = envFlag("KILN_CUDA_SYNC", false);
  int count = 0;
  if (Status s = check(cu_.deviceGetCount(&count), "cuDeviceGetCount");
      !s.ok())
    return s;
  if (count == 0)
    return Status(KILN_STATUS_UNAVAILABLE, "the NVIDIA driver sees no GPU");
  if (options.ordinal < 0 || options.ordinal >= count)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "GPU " + std::to_string(options.ordinal) +
                      " does not exist (the driver sees " +
                      std::to_string(count) + ")");
  if (Status s = check(cu_.deviceGet(&device_, options.ordinal), "cuDeviceGet");
      !s.ok())
    return s;
  char name[256] = {};
  int major = 0, minor = 0, version = 0;
  size_t memory = 0;
  cu_.deviceGetName(name, sizeof name - 1, device_);
  cu_.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                         device_);
  cu_.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                         device_);
  cu_.deviceGetAttribute(&sms_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                         device_);
  sms_ = std::max(sms_, 1);
  cu_.deviceTotalMem(&memory, device_);
  cu_.driverGetVersion(&version);
  arch_ = "sm_" + std::to_string(major) + std::to_string(minor);
  char text[512];
  std::snprintf(text, sizeof text,
                "cuda:%d %s (%s, %d SMs, %.1f GiB; driver CUDA %d.%d)",
                options.ordinal, name, arch_.c_str(), sms_,
                double(memory) / double(1ull << 30), version / 1000,
                version % 1000 / 10);
  description_ = text;
  if (Status s = check(cu_.primaryCtxRetain(&context_, device_),
                       "cannot create a context on " + std::string(name));
      !s.ok())
    return s;
  if (Status s = check(cu_.ctxSetCurrent(context_), "cuCtxSetCurrent");
      !s.ok())
    return s;
  // A blocking stream: its work is ordered after the synchronous copies
  // (write, read) that the legacy default stream carries.
  if (Status s = check(cu_.streamCreate(&stream_, 0),
                       "cuStreamCreate");
      !s.ok())
    return s;

  // What this backend does not do yet.
  bool gemms = false;
  for (const Entry &e : program_.entries)
    for (const Step &step : e.steps) {
      if (step.kind == Step::Kind::Conv)
        return Status(KILN_STATUS_UNIMPLEMENTED,
                      "the CUDA backend does not run convolutions yet (entry '" +
                          e.name + "'); use --device cpu");
      if (step.kind == Step::Kind::Gemm &&
          program_.buffers[step.gemm.out].dtype != DType::F32 &&
          program_.buffers[step.gemm.out].dtype != DType::F64)
        return Status(KILN_STATUS_UNIMPLEMENTED,
                      "the CUDA backend runs fp32 and fp64 GEMMs only");
      gemms |= step.kind == Step::Kind::Gemm;
    }

  // The kernels: the program's and the runtime's own.
  if (Status s = loadModule(code.source, "kiln", code, module_); !s.ok())
    return s;
  std::string builtins = builtinsSource();
  if (Status s = loadModule(builtins, "kiln_builtins", code, builtins_);
      !s.ok())
    return s;
  const char *names[2][2] = {{"kiln_fill_f32", "kiln_fill_f64"},
                             {"kiln_relu_bias_grad_f32",
                              "kiln_relu_bias_grad_f64"}};
  for (int t = 0; t < 2; ++t) {
    if (Status s = check(cu_.moduleGetFunction(&fill_[t], builtins_,
                                               names[0][t]),
                         names[0][t]);
        !s.ok())
      return s;
    if (Status s = check(cu_.moduleGetFunction(&reluBiasGrad_[t], builtins_,
                                               names[1][t]),
                         names[1][t]);
        !s.ok())
      return s;
  }
  if (gemms) {
    if (Status s = blasLt(lt_); !s.ok())
      return s;
    cublasStatus_t r = lt_->create(&blas_);
    if (r != CUBLAS_STATUS_SUCCESS)
      return Status(KILN_STATUS_INTERNAL,
                    std::string("cuBLASLt: cublasLtCreate: ") +
                        lt_->getStatusString(r));
  }

  // The one allocation: arena, segment tables, GEMM workspace.
  int64_t arena = alignUp(std::max<int64_t>(program_.arenaBytes, 64));
  int64_t tables = 0;
  for (const Entry &e : program_.entries)
    for (const Step &step : e.steps)
      if (!step.segments.empty())
        tables += alignUp(int64_t(step.segments.size() + 1) *
                          int64_t(step.args.size() + 1) * 8);
  int64_t total = arena + tables + (gemms ? int64_t(kGemmWorkspace) : 0);
  if (Status s = check(cu_.memAlloc(&base_, size_t(total)),
                       "cannot allocate the session's " +
                           std::to_string(total) + " bytes on " + name);
      !s.ok())
    return s;
  workspace_ = base_ + CUdeviceptr(arena + tables);
  if (Status s = check(cu_.memsetD8(base_, 0, size_t(arena)), "cuMemsetD8");
      !s.ok())
    return s;
  if (!init.empty())
    if (Status s = write(0, init.data(), int64_t(init.size())); !s.ok())
      return s;

  // Every step's launch or GEMM, planned now.
  CUdeviceptr nextTable = base_ + CUdeviceptr(arena);
  for (const Entry &e : program_.entries) {
    EntryState &state = entries_[&e];
    state.launches.resize(e.steps.size());
    state.gemms.resize(e.steps.size());
    for (size_t i = 0; i < e.steps.size(); ++i) {
      const Step &step = e.steps[i];
      Status s;
      if (step.kind == Step::Kind::Kernel)
        s = planLaunch(step, nextTable, state.launches[i]);
      else if (step.kind == Step::Kind::Gemm)
        s = planGemm(step.gemm, state.gemms[i]);
      if (!s.ok())
        return std::move(s.annotate("entry '" + e.name + "' step " +
                                    std::to_string(i)));
    }
  }
  return check(cu_.streamSynchronize(stream_), "loading the session");
}

Status CudaBackend::planLaunch(const Step &step, CUdeviceptr &tables,
                               Launch &launch) {
  const Kernel &k = program_.kernels[step.kernel];
  const bool block = k.reduce == Kernel::Reduce::Block;
  launch.block = block ? unsigned(kBlockReduceThreads) : unsigned(kThreads);
  // The points of a launch over `n` (a segmented kernel's size) and the
  // grid that covers them: a block per point for block reductions, a
  // thread per point otherwise; at most 32 blocks per SM (grid-stride).
  auto pointsOf = [&](int64_t n) -> int64_t {
    if (k.parallelDims == 0)
      return 1;
    if (k.segmented)
      return n;
    int64_t points = 1;
    for (int32_t d = 0; d < k.parallelDims; ++d)
      points *= k.domain[d];
    return points;
  };
  auto gridOf = [&](int64_t points) {
    int64_t blocks = block ? points : (points + kThreads - 1) / kThreads;
    return unsigned(std::clamp<int64_t>(blocks, 1, int64_t(sms_) * 32));
  };
  launch.segmented = k.segmented;
  launch.n = k.segmented ? k.domain[0] : 0;
  for (int32_t id : step.args)
    launch.args.push_back(at(id));
  std::string entry = entryName(size_t(step.kernel));
  if (step.segments.empty()) {
    launch.grid = gridOf(pointsOf(launch.n));
    return check(cu_.moduleGetFunction(&launch.fn, module_, entry.c_str()),
                 "kernel '" + k.name + "' (" + entry + ") is not in the module");
  }
  // The multi-tensor launch: row g of the table is {size, pointers...}, as
  // the interpreter sizes each segment (its last non-scalar buffer).
  std::vector<long long> table;
  int64_t widest = 0;
  for (size_t g = 0; g <= step.segments.size(); ++g) {
    const std::vector<int32_t> &ids = g ? step.segments[g - 1] : step.args;
    int64_t n = k.domain[0];
    for (int32_t id : ids)
      if (g && !program_.buffers[id].shape.empty())
        n = program_.buffers[id].shape[0];
    table.push_back(n);
    for (int32_t id : ids)
      table.push_back((long long)at(id));
    widest = std::max(widest, pointsOf(n));
  }
  if (step.segments.size() + 1 > 65535)
    return Status(KILN_STATUS_UNIMPLEMENTED,
                  "a multi-tensor launch of more than 65535 segments");
  launch.table = true;
  launch.tableAt = tables;
  launch.rows = unsigned(step.segments.size() + 1);
  launch.grid = gridOf(widest);
  tables += CUdeviceptr(alignUp(int64_t(table.size()) * 8));
  if (Status s = write(int64_t(launch.tableAt - base_), table.data(),
                       int64_t(table.size()) * 8);
      !s.ok())
    return s;
  entry += "_segments";
  return check(cu_.moduleGetFunction(&launch.fn, module_, entry.c_str()),
               "kernel '" + k.name + "' (" + entry + ") is not in the module");
}

Status CudaBackend::planGemm(const GemmCall &g, GemmPlan &plan) {
  const bool f64 = program_.buffers[g.out].dtype == DType::F64;
  const int type = f64 ? CUDA_R_64F : CUDA_R_32F;
  const int compute = f64    ? CUBLAS_COMPUTE_64F
                      : tf32_ ? CUBLAS_COMPUTE_32F_FAST_TF32
                              : CUBLAS_COMPUTE_32F;
  auto lt = [&](cublasStatus_t r, const char *what) {
    return r == CUBLAS_STATUS_SUCCESS
               ? Status()
               : Status(KILN_STATUS_INTERNAL,
                        std::string("cuBLASLt: ") + what + ": " +
                            lt_->getStatusString(r));
  };
  // cuBLAS is column-major, where a row-major matrix is its transpose: the
  // row-major out = op(A) op(B) is, there, out^T = op(B)^T op(A)^T. So
  // cuBLAS's first operand is B (N x K after its op), its second A (K x M).
  int64_t cElements =
      g.c >= 0 ? program_.buffers[g.c].bytes() /
                     int64_t(dtypeSize(program_.buffers[g.c].dtype))
               : 0;
  bool bias = g.c >= 0 && cElements == g.n && g.beta == 1;
  plan.sharedC = g.c >= 0 && !bias && cElements == g.m * g.n;
  plan.fill = g.c >= 0 && !bias && !plan.sharedC;
  plan.alpha = g.alpha;
  plan.beta = g.c >= 0 && !bias ? g.beta : 0;
  uint32_t epilogue = g.relu ? (bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                     : CUBLASLT_EPILOGUE_RELU)
                             : (bias ? CUBLASLT_EPILOGUE_BIAS
                                     : CUBLASLT_EPILOGUE_DEFAULT);
  int32_t opA = g.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  int32_t opB = g.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (Status s = lt(lt_->matmulDescCreate(&plan.desc, compute, type),
                    "cublasLtMatmulDescCreate");
      !s.ok())
    return s;
  lt_->matmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA,
                              sizeof opA);
  lt_->matmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB,
                              sizeof opB);
  lt_->matmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                              &epilogue, sizeof epilogue);
  if (bias) {
    CUdeviceptr b = at(g.c);
    lt_->matmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                &b, sizeof b);
  }
  auto layout = [&](cublasLtMatrixLayout_t &l, int64_t rows, int64_t cols,
                    int64_t stride) -> Status {
    if (Status s = lt(lt_->matrixLayoutCreate(&l, type, uint64_t(rows),
                                              uint64_t(cols), rows),
                      "cublasLtMatrixLayoutCreate");
        !s.ok())
      return s;
    if (g.batch > 1) {
      int32_t count = int32_t(g.batch);
      lt_->matrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                    &count, sizeof count);
      lt_->matrixLayoutSetAttribute(
          l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
          sizeof stride);
    }
    return Status();
  };
  Status s = layout(plan.a, g.transB ? g.k : g.n, g.transB ? g.n : g.k,
                    g.strideB);
  if (s.ok())
    s = layout(plan.b, g.transA ? g.m : g.k, g.transA ? g.k : g.m, g.strideA);
  if (s.ok())
    s = layout(plan.c, g.n, g.m, plan.sharedC ? 0 : g.strideOut);
  if (s.ok())
    s = layout(plan.d, g.n, g.m, g.strideOut);
  if (!s.ok())
    return s;
  cublasLtMatmulPreference_t preference = nullptr;
  if (Status s = lt(lt_->preferenceCreate(&preference),
                    "cublasLtMatmulPreferenceCreate");
      !s.ok())
    return s;
  uint64_t workspace = kGemmWorkspace;
  lt_->preferenceSetAttribute(preference,
                              CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                              &workspace, sizeof workspace);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t r =
      lt_->algoGetHeuristic(blas_, plan.desc, plan.a, plan.b, plan.c, plan.d,
                            preference, 1, &result, &found);
  lt_->preferenceDestroy(preference);
  if (r != CUBLAS_STATUS_SUCCESS || found == 0)
    return Status(KILN_STATUS_UNIMPLEMENTED,
                  "cuBLASLt has no algorithm for the GEMM " +
                      std::to_string(g.m) + "x" + std::to_string(g.n) + "x" +
                      std::to_string(g.k) + " (batch " +
                      std::to_string(g.batch) + ")" +
                      (r != CUBLAS_STATUS_SUCCESS
                           ? std::string(": ") + lt_->getStatusString(r)
                           : std::string()));
  plan.algo = result.algo;
  return Status();
}

Status CudaBackend::launchBuiltin(CUfunction fn, int64_t threads,
                                  std::vector<void *> params) {
  unsigned grid = unsigned(std::clamp<int64_t>(
      (threads + kThreads - 1) / kThreads, 1, int64_t(sms_) * 32));
  return check(cu_.launchKernel(fn, grid, 1, 1, kThreads, 1, 1, 0, stream_,
                                params.data(), nullptr),
               "cuLaunchKernel (a GEMM's epilogue)");
}

Status CudaBackend::enqueueGemm(const Step &step, const GemmPlan &plan) {
  const GemmCall &g = step.gemm;
  const int t = program_.buffers[g.out].dtype == DType::F64 ? 1 : 0;
  CUdeviceptr out = at(g.out);
  if (plan.fill) {
    CUdeviceptr c = at(g.c);
    long long cn = (long long)(program_.buffers[g.c].bytes() /
                               int64_t(dtypeSize(program_.buffers[g.c].dtype)));
    long long m = g.m, n = g.n, batch = g.batch, stride = g.strideOut;
    if (Status s = launchBuiltin(fill_[t], g.batch * g.m * g.n,
                                 {&out, &c, &cn, &m, &n, &batch, &stride});
        !s.ok())
      return s;
  }
  CUdeviceptr a = at(g.a), b = at(g.b);
  CUdeviceptr c = plan.sharedC ? at(g.c) : out;
  float alpha32 = float(plan.alpha), beta32 = float(plan.beta);
  const void *alpha = t ? static_cast<const void *>(&plan.alpha) : &alpha32;
  const void *beta = t ? static_cast<const void *>(&plan.beta) : &beta32;
  cublasStatus_t r = lt_->matmul(
      blas_, plan.desc, alpha, reinterpret_cast<const void *>(b), plan.a,
      reinterpret_cast<const void *>(a), plan.b, beta,
      reinterpret_cast<const void *>(c), plan.c,
      reinterpret_cast<void *>(out), plan.d, &plan.algo,
      reinterpret_cast<void *>(workspace_), kGemmWorkspace, stream_);
  if (r != CUBLAS_STATUS_SUCCESS)
    return Status(KILN_STATUS_INTERNAL, std::string("cuBLASLt: cublasLtMatmul: ") +
                                            lt_->getStatusString(r));
  if (g.reluMask >= 0) {
    CUdeviceptr mask = at(g.reluMask), grad = at(g.biasGrad);
    long long m = g.m, n = g.n;
    return launchBuiltin(reluBiasGrad_[t], g.n, {&out, &mask, &grad, &m, &n});
  }
  return Status();
}

Status CudaBackend::enqueue(const Entry &entry, size_t i) {
  const Step &step = entry.steps[i];
  EntryState &state = entries_.at(&entry);
  if (step.kind == Step::Kind::Gemm)
    return enqueueGemm(step, state.gemms[i]);
  if (step.kind != Step::Kind::Kernel)
    return Status(); // An all-reduce in a run of one process.
  Launch &l = state.launches[i];
  std::vector<void *> params;
  if (l.table) {
    params.push_back(&l.tableAt);
  } else {
    for (CUdeviceptr &p : l.args)
      params.push_back(&p);
    if (l.segmented)
      params.push_back(&l.n);
  }
  return check(cu_.launchKernel(l.fn, l.grid, l.rows, 1, l.block, 1, 1, 0,
                                stream_, params.data(), nullptr),
               "cuLaunchKernel of kernel '" +
                   program_.kernels[step.kernel].name + "'");
}

Status CudaBackend::run(const Entry &entry, const RunOptions &options) {
  if (options.comm && options.comm->size() > 1)
    return Status(KILN_STATUS_UNIMPLEMENTED,
                  "data-parallel runs on the CUDA backend need NCCL, which it "
                  "does not use yet; use --device cpu");
  if (Status s = check(cu_.ctxSetCurrent(context_), "cuCtxSetCurrent");
      !s.ok())
    return s;
  EntryState &state = entries_.at(&entry);
  auto enqueueAll = [&]() -> Status {
    for (size_t i = 0; i < entry.steps.size(); ++i) {
      if (Status s = enqueue(entry, i); !s.ok())
        return std::move(s.annotate("step " + std::to_string(i)));
      if (syncEach_)
        if (CUresult r = cu_.streamSynchronize(stream_); r != CUDA_SUCCESS)
          return fail("step " + std::to_string(i) + " of '" + entry.name + "'",
                      r);
    }
    return Status();
  };
  // The first run is eager (it shows any error step by step); the second
  // is captured as a graph, and later runs replay it.
  if (!state.graph && graphs_ && !syncEach_ && state.runs >= 1) {
    if (Status s = check(cu_.streamBeginCapture(
                             stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                         "cuStreamBeginCapture");
        !s.ok())
      return s;
    Status enqueued = enqueueAll();
    CUgraph graph = nullptr;
    CUresult ended = cu_.streamEndCapture(stream_, &graph);
    if (!enqueued.ok())
      return enqueued;
    if (ended != CUDA_SUCCESS)
      return fail("cannot capture '" + entry.name + "' as a CUDA graph "
                  "(KILN_CUDA_GRAPHS=0 runs without)", ended);
    CUresult r = cu_.graphInstantiate(&state.graph, graph, 0);
    cu_.graphDestroy(graph);
    if (r != CUDA_SUCCESS)
      return fail("cuGraphInstantiate of '" + entry.name + "'", r);
  }
  if (state.graph) {
    if (Status s = check(cu_.graphLaunch(state.graph, stream_),
                         "cuGraphLaunch of '" + entry.name + "'");
        !s.ok())
      return s;
  } else if (Status s = enqueueAll(); !s.ok()) {
    return s;
  }
  ++state.runs;
  if (CUresult r = cu_.streamSynchronize(stream_); r != CUDA_SUCCESS)
    return fail("running '" + entry.name + "'" +
                    (syncEach_ ? std::string()
                               : " (KILN_CUDA_SYNC=1 names the step)"),
                r);
  return Status();
}

Status CudaBackend::write(int64_t offset, const void *data, int64_t bytes) {
  if (Status s = check(cu_.ctxSetCurrent(context_), "cuCtxSetCurrent");
      !s.ok())
    return s;
  return check(cu_.memcpyHtoD(base_ + CUdeviceptr(offset), data, size_t(bytes)),
               "copying " + std::to_string(bytes) + " bytes to the GPU");
}

Status CudaBackend::read(int64_t offset, void *data, int64_t bytes) {
  if (Status s = check(cu_.ctxSetCurrent(context_), "cuCtxSetCurrent");
      !s.ok())
    return s;
  return check(cu_.memcpyDtoH(data, base_ + CUdeviceptr(offset), size_t(bytes)),
               "copying " + std::to_string(bytes) + " bytes from the GPU");
}

} // namespace

Status createBackend(const Program &program, const std::vector<uint8_t> &init,
                     const DeviceCode &code, const SessionOptions &options,
                     std::unique_ptr<Backend> &out) {
  const DriverApi *api = nullptr;
  if (Status s = driver(api); !s.ok())
    return s;
  auto backend = std::make_unique<CudaBackend>(program, *api);
  if (Status s = backend->open(init, code, options); !s.ok())
    return s;
  out = std::move(backend);
  return Status();
}

} // namespace kiln::runtime::cuda
