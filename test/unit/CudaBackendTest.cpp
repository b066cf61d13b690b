//===- CudaBackendTest.cpp - the CUDA backend against a fake GPU ----------===//
//
// No GPU is needed to check what the CUDA backend does around one: the
// driver and cuBLASLt tables are replaced by fakes on the CPU. Device memory
// is host memory; a kernel launch runs the printed kernel compiled by the
// host compiler (as CudaEmulationTest), the runtime's own kernels likewise;
// cublasLtMatmul computes what cuBLASLt documents (column-major, op, leading
// dimensions, strided batches, beta, bias and ReLU epilogues); a stream
// capture records the work and a graph launch replays it. So a training
// step through the backend must give the CPU backend's loss, gradients and
// parameters, over several steps (eager, captured, replayed), with one
// allocation per session. What stays unchecked here: the GPU's own
// behaviour (timing, the real cuBLASLt's algorithms, NVRTC's cubins running).
//
//===----------------------------------------------------------------------===//
#include "compiler/Compile.h"
#include "compiler/Registration.h"
#include "runtime/src/artifact.h"
#include "runtime/src/cpu/gemm.h"
#include "runtime/src/cuda/api.h"
#include "runtime/src/cuda/backend.h"
#include "runtime/src/cuda/cache.h"
#include "runtime/src/safetensors.h"
#include "runtime/src/training.h"
#include "test/unit/DoublingCommunicator.h"
#include "test/unit/HostModule.h"
#include "test/unit/TrainingFixture.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

namespace {

namespace rt = kiln::runtime;
namespace cu = kiln::runtime::cuda;
using cu::CUdeviceptr;
using cu::CUresult;

// --- The fake GPU -----------------------------------------------------------

/// A function of a loaded module: a program kernel (and whether it is the
/// multi-tensor entry) or one of the runtime's own.
struct FakeFunction {
  std::string name;
  int kernel = -1;
  bool segments = false;
};

struct FakeGpu {
  const std::vector<rt::Kernel> *kernels = nullptr;
  kiln::test::LaunchFn launch = nullptr;
  void *module = nullptr; ///< The host-compiled kernels and builtins.
  std::deque<FakeFunction> functions;
  int allocations = 0, live = 0, captures = 0, graphLaunches = 0,
      launches = 0, matmuls = 0, ncclJoins = 0, allReduces = 0,
      dnnConvolutions = 0, pinned = 0, events = 0;
  bool failCapture = false; ///< Stream captures end invalidated.
  /// cuBLASLt finds no algorithm with a BGRADA/BGRADB epilogue (as some
  /// versions, types or layouts have none).
  bool noBiasGradEpilogue = false;
  /// The program's kernels emulated at a GPU's widths (printHostModule's
  /// gpuGeometry), not in blocks of four.
  bool gpuGeometry = false;
  int ccMajor = 8, ccMinor = 0; ///< Its compute capability (sm_80).
  /// What each cuModuleLoadData was given: its first bytes ("\x7f" "ELF"
  /// for a cubin, "//" for NVRTC's PTX).
  std::vector<std::string> loaded;
  /// ncclCommInitRank takes this long (a rank that never comes).
  std::chrono::milliseconds ncclInitDelay{0};
  /// The ranks of the NCCL communicator made (1: the average is the data).
  int ncclRanks = 0;
  /// Streams made (the first is the step's), and the second stream's
  /// (NCCL's) operations, which run as late as they may: only when the
  /// step's stream waits for an event after them. `sideIssued` counts all
  /// ever queued, `sideDone` those run (or recorded into a capture).
  int streams = 0;
  char sideTag = 0; ///< The side stream's handle is its address.
  std::deque<std::function<void()>> side;
  size_t sideIssued = 0, sideDone = 0;
  int sideAllReduces = 0; ///< NCCL calls on the side stream.
  int heuristics = 0;     ///< cublasLtMatmulAlgoGetHeuristic calls,
  int heuristicsElsewhere = 0; ///< those on another thread than the test's.
  std::thread::id thread = std::this_thread::get_id(); ///< The test's.
  /// cuBLASLt's candidates (algo.data[4] numbers them) and how long each
  /// takes a product, in microseconds; empty: one candidate, no delay.
  std::vector<int> gemmAlgoDelaysUs;
  /// The candidate each cublasLtMatmul call was given, in order, and the
  /// cublasLtMatmulAlgoCheck calls.
  std::vector<int> matmulAlgos;
  int algoChecks = 0;
  /// cuDevicePrimaryCtxRetain calls, and references not yet released.
  int contextRetains = 0, contextRefs = 0;
  bool eventsFail = false; ///< cuEventCreate fails.
  bool ncclFails = false; ///< ncclAllReduce returns an error.
  /// cudnnFind* calls, and the algorithm of each cuDNN convolution run.
  int dnnFinds = 0;
  int dnnHeuristics = 0; ///< cudnnGetConvolution*Algorithm_v7 calls.
  bool noDevice = false; ///< The driver loads but sees no GPU.
  std::vector<int> dnnAlgos;
  bool capturing = false;
  std::vector<std::function<void()>> recorded;
  std::string error; ///< The first misuse seen.

  /// Runs `op` now, or records it while a capture is on.
  void enqueue(std::function<void()> op) {
    if (capturing)
      recorded.push_back(std::move(op));
    else
      op();
  }
  void misuse(const std::string &what) {
    if (error.empty())
      error = what;
  }
};
FakeGpu gpu;
/// Contexts pushed and not popped (threads too: NCCL's init has its own).
std::atomic<int> contextDepth{0};
/// This thread's (what "current" means to the driver).
thread_local int threadContextDepth = 0;

struct FakeGraph {
  std::vector<std::function<void()>> ops;
};
struct FakeEvent {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
  /// Recorded on the side stream (NCCL's), after its `sideUpTo` first
  /// operations; or on the step's stream (`issued`).
  bool onSide = false, issued = false;
  size_t sideUpTo = 0;
};

constexpr CUresult kInvalid = 1, kCaptureUnsupported = 900;

template <typename T> T *ptr(CUdeviceptr p) {
  return reinterpret_cast<T *>(uintptr_t(p));
}

const cu::DriverApi &fakeDriver() {
  static cu::DriverApi api = [] {
    cu::DriverApi a{};
    a.init = [](unsigned) { return 0; };
    a.driverGetVersion = [](int *v) { *v = 13000; return 0; };
    a.getErrorName = [](CUresult, const char **s) { *s = "FAKE_ERROR"; return 0; };
    a.getErrorString = [](CUresult, const char **s) { *s = "fake"; return 0; };
    a.deviceGetCount = [](int *n) {
      *n = gpu.noDevice ? 0 : 1;
      return 0;
    };
    a.deviceGet = [](cu::CUdevice *d, int i) {
      *d = i;
      return gpu.noDevice ? 101 : 0; // (CUDA_ERROR_INVALID_DEVICE)
    };
    a.deviceGetName = [](char *s, int n, cu::CUdevice) {
      std::snprintf(s, size_t(n), "Fake GPU");
      return 0;
    };
    a.deviceGetAttribute = [](int *v, int attribute, cu::CUdevice) {
      *v = attribute == cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
               ? gpu.ccMajor
           : attribute == cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
               ? gpu.ccMinor
               : 4;
      return 0;
    };
    a.deviceTotalMem = [](size_t *b, cu::CUdevice) { *b = size_t(1) << 34; return 0; };
    a.primaryCtxRetain = [](cu::CUcontext *c, cu::CUdevice) {
      *c = reinterpret_cast<cu::CUcontext>(&gpu);
      ++gpu.contextRetains;
      ++gpu.contextRefs;
      return 0;
    };
    a.primaryCtxRelease = [](cu::CUdevice) {
      --gpu.contextRefs;
      return 0;
    };
    a.ctxPushCurrent = [](cu::CUcontext c) -> CUresult {
      ++contextDepth;
      ++threadContextDepth;
      return c ? 0 : kInvalid;
    };
    a.ctxPopCurrent = [](cu::CUcontext *c) -> CUresult {
      *c = nullptr;
      --threadContextDepth;
      return contextDepth-- > 0 ? 0 : kInvalid;
    };
    a.memAlloc = [](CUdeviceptr *p, size_t bytes) -> CUresult {
      if (gpu.capturing)
        return kCaptureUnsupported;
      ++gpu.allocations;
      ++gpu.live;
      *p = CUdeviceptr(uintptr_t(std::aligned_alloc(256, (bytes + 255) / 256 * 256)));
      // Device memory starts as garbage: a missed zero-fill shows.
      std::memset(ptr<void>(*p), 0xA5, bytes);
      return 0;
    };
    a.memFree = [](CUdeviceptr p) { --gpu.live; std::free(ptr<void>(p)); return 0; };
    a.memAllocHost = [](void **p, size_t bytes) -> CUresult {
      ++gpu.pinned;
      *p = std::malloc(bytes);
      return *p ? 0 : 2;
    };
    a.memFreeHost = [](void *p) -> CUresult {
      --gpu.pinned;
      std::free(p);
      return 0;
    };
    // Copies to and from the host are not part of a step: none may come
    // while a capture is on.
    a.memcpyHtoDAsync = [](CUdeviceptr d, const void *s, size_t n,
                           cu::CUstream) -> CUresult {
      if (gpu.capturing)
        return kCaptureUnsupported;
      std::memcpy(ptr<void>(d), s, n);
      return 0;
    };
    a.memcpyDtoHAsync = [](void *d, CUdeviceptr s, size_t n,
                           cu::CUstream) -> CUresult {
      if (gpu.capturing)
        return kCaptureUnsupported;
      std::memcpy(d, ptr<void>(s), n);
      return 0;
    };
    a.memsetD8Async = [](CUdeviceptr d, unsigned char v, size_t n,
                         cu::CUstream) -> CUresult {
      if (gpu.capturing)
        return kCaptureUnsupported;
      std::memset(ptr<void>(d), v, n);
      return 0;
    };
    a.streamCreate = [](cu::CUstream *s, unsigned) {
      *s = gpu.streams++ == 0 ? reinterpret_cast<cu::CUstream>(&gpu)
                              : reinterpret_cast<cu::CUstream>(&gpu.sideTag);
      return 0;
    };
    a.streamWaitEvent = [](cu::CUstream s, cu::CUevent e,
                           unsigned) -> CUresult {
      auto *event = reinterpret_cast<FakeEvent *>(e);
      if (!event->issued) {
        gpu.misuse("cuStreamWaitEvent for an event never recorded");
        return kInvalid;
      }
      if (s == reinterpret_cast<cu::CUstream>(&gpu.sideTag)) {
        // NCCL's stream waits for the step's: what the step's stream has
        // queued has run (or is recorded) already.
        if (event->onSide)
          gpu.misuse("NCCL's stream waits for its own event");
        return 0;
      }
      // The step's stream waits for NCCL's: its operations up to the
      // event run now (or join the capture), in order.
      if (event->onSide)
        while (gpu.sideDone < event->sideUpTo) {
          gpu.enqueue(std::move(gpu.side.front()));
          gpu.side.pop_front();
          ++gpu.sideDone;
        }
      return 0;
    };
    a.streamDestroy = [](cu::CUstream) { return 0; };
    a.streamSynchronize = [](cu::CUstream) -> CUresult {
      return gpu.capturing ? kCaptureUnsupported : 0;
    };
    a.streamQuery = [](cu::CUstream) -> CUresult {
      return gpu.capturing ? kCaptureUnsupported : 0;
    };
    a.moduleLoadData = [](cu::CUmodule *m, const void *image) -> CUresult {
      if (image)
        gpu.loaded.push_back(std::string(static_cast<const char *>(image), 4));
      // An image starting with 'X' stands for code this driver cannot load
      // (PTX of a newer CUDA).
      if (image && *static_cast<const char *>(image) == 'X')
        return kInvalid;
      *m = reinterpret_cast<cu::CUmodule>(const_cast<void *>(image));
      return image ? 0 : kInvalid;
    };
    a.moduleUnload = [](cu::CUmodule) { return 0; };
    a.moduleGetFunction = [](cu::CUfunction *f, cu::CUmodule,
                             const char *name) -> CUresult {
      FakeFunction fn{name};
      std::string n = name;
      if (n.rfind("kiln_k", 0) == 0) {
        fn.kernel = std::atoi(n.c_str() + 6);
        fn.segments = n.find("_segments") != std::string::npos;
        if (fn.kernel >= int(gpu.kernels->size()))
          return kInvalid;
      } else if (!dlsym(gpu.module, name)) {
        return kInvalid;
      }
      gpu.functions.push_back(fn);
      *f = reinterpret_cast<cu::CUfunction>(&gpu.functions.back());
      return 0;
    };
    a.launchKernel = [](cu::CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned,
                        cu::CUstream, void **params, void **) -> CUresult {
      const FakeFunction &fn = *reinterpret_cast<FakeFunction *>(f);
      ++gpu.launches;
      if (gx == 0 || gy == 0 || gz != 1 || bx == 0 || bx > 1024 || by != 1 ||
          bz != 1)
        gpu.misuse(fn.name + ": launch shape");
      auto arg = [&](size_t i) { return *static_cast<long long *>(params[i]); };
      if (fn.kernel < 0) {
        // The runtime's own kernels: every parameter is a pointer or a
        // 64-bit integer (passed alike on x86-64), so they are called with
        // as many 64-bit values as their names say they take.
        void *sym = dlsym(gpu.module, fn.name.c_str());
        auto named = [&](const char *prefix) {
          return fn.name.rfind(prefix, 0) == 0;
        };
        int arity = named("kiln_embedding_offsets") ? 2
                    : named("kiln_embedding_clear") ? 4
                    : named("kiln_relu_bias_grad_") ||
                            named("kiln_operand_sum_") ||
                            named("kiln_embedding_ranks_")
                        ? 5
                    : fn.name.rfind("kiln_fill_", 0) == 0 ||
                            fn.name.rfind("kiln_conv_scatter_", 0) == 0
                        ? 7
                        : 6;
        std::vector<long long> v;
        for (int i = 0; i < arity; ++i)
          v.push_back(arg(size_t(i)));
        // As three blocks of the emulation's threads, one after another
        // (kiln_host_builtin), whatever grid was asked for: the runtime's
        // kernels must work with any (block-wide sums run their barriers,
        // grid-stride loops their strides).
        auto grid = reinterpret_cast<void (*)(void *, int, const long long *,
                                              unsigned, unsigned)>(
            dlsym(gpu.module, "kiln_host_builtin"));
        gpu.enqueue([=] { grid(sym, arity, v.data(), 3, 0); });
        return 0;
      }
      const rt::Kernel &k = (*gpu.kernels)[size_t(fn.kernel)];
      unsigned threads = k.reduce == rt::Kernel::Reduce::Block
                             ? unsigned(k.blockThreads)
                             : unsigned(rt::kBlockReduceThreads);
      if ((k.reduce != rt::Kernel::Reduce::Thread || k.tileDim >= 0) &&
          bx != threads)
        gpu.misuse(fn.name + ": a block, warp, column or tiled kernel needs " +
                   std::to_string(threads) + " threads");
      size_t nargs = k.args.size();
      int kernel = fn.kernel;
      if (fn.segments && bx > unsigned(rt::kBlockReduceThreads))
        gpu.misuse(fn.name + ": a multi-tensor entry takes at most " +
                   std::to_string(rt::kBlockReduceThreads) + " threads");
      if (fn.segments) {
        // The printed segments entry itself, with the table (its rows'
        // virtual blocks, then the rows): three blocks striding over them.
        if (gy != 1)
          gpu.misuse(fn.name + ": a multi-tensor launch is one flat grid");
        long long table = arg(0);
        auto segments = reinterpret_cast<void (*)(int, const long long *)>(
            dlsym(gpu.module, "kiln_host_segments"));
        (void)nargs;
        gpu.enqueue(
            [=] { segments(kernel, ptr<long long>(CUdeviceptr(table))); });
        return 0;
      }
      if (gy != 1)
        gpu.misuse(fn.name + ": grid.y without a table");
      std::vector<void *> args;
      for (size_t i = 0; i < nargs; ++i)
        args.push_back(ptr<void>(CUdeviceptr(arg(i))));
      long long n = k.segmented ? arg(nargs) : 0;
      gpu.enqueue([=]() mutable { gpu.launch(kernel, args.data(), n); });
      return 0;
    };
    a.streamBeginCapture = [](cu::CUstream, int) -> CUresult {
      if (gpu.capturing)
        return kInvalid;
      gpu.capturing = true;
      gpu.recorded.clear();
      return 0;
    };
    a.streamEndCapture = [](cu::CUstream, cu::CUgraph *g) -> CUresult {
      if (!gpu.capturing)
        return kInvalid;
      gpu.capturing = false;
      if (!gpu.side.empty()) {
        gpu.misuse("a capture ended with NCCL's stream not joined");
        *g = nullptr;
        return 904; // CUDA_ERROR_STREAM_CAPTURE_UNJOINED
      }
      if (gpu.failCapture) {
        gpu.recorded.clear();
        *g = nullptr;
        return 901; // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
      }
      ++gpu.captures;
      *g = reinterpret_cast<cu::CUgraph>(new FakeGraph{std::move(gpu.recorded)});
      return 0;
    };
    a.graphInstantiate = [](cu::CUgraphExec *e, cu::CUgraph g,
                            unsigned long long) {
      *e = reinterpret_cast<cu::CUgraphExec>(
          new FakeGraph(*reinterpret_cast<FakeGraph *>(g)));
      return 0;
    };
    a.graphLaunch = [](cu::CUgraphExec e, cu::CUstream) {
      ++gpu.graphLaunches;
      for (auto &op : reinterpret_cast<FakeGraph *>(e)->ops)
        op();
      return 0;
    };
    a.graphExecDestroy = [](cu::CUgraphExec e) {
      delete reinterpret_cast<FakeGraph *>(e);
      return 0;
    };
    a.graphDestroy = [](cu::CUgraph g) {
      delete reinterpret_cast<FakeGraph *>(g);
      return 0;
    };
    // Events hold the host's time when the stream reaches them.
    a.eventCreate = [](cu::CUevent *e, unsigned) -> CUresult {
      if (gpu.eventsFail)
        return 2; // CUDA_ERROR_OUT_OF_MEMORY
      *e = reinterpret_cast<cu::CUevent>(new FakeEvent());
      ++gpu.events;
      return 0;
    };
    a.eventRecord = [](cu::CUevent e, cu::CUstream s) -> CUresult {
      auto *event = reinterpret_cast<FakeEvent *>(e);
      auto mark = [event] {
        event->at = std::chrono::steady_clock::now();
        event->recorded = true;
      };
      event->issued = true;
      event->onSide = s == reinterpret_cast<cu::CUstream>(&gpu.sideTag);
      if (event->onSide) {
        gpu.side.push_back(mark);
        event->sideUpTo = ++gpu.sideIssued;
      } else {
        gpu.enqueue(mark);
      }
      return 0;
    };
    a.eventElapsedTime = [](float *ms, cu::CUevent a,
                            cu::CUevent b) -> CUresult {
      auto *x = reinterpret_cast<FakeEvent *>(a);
      auto *y = reinterpret_cast<FakeEvent *>(b);
      if (!x->recorded || !y->recorded)
        return kInvalid;
      *ms = std::chrono::duration<float, std::milli>(y->at - x->at).count();
      return 0;
    };
    a.eventDestroy = [](cu::CUevent e) -> CUresult {
      delete reinterpret_cast<FakeEvent *>(e);
      --gpu.events;
      return 0;
    };
    return a;
  }();
  return api;
}

// cuBLASLt: descriptors are plain structs.
struct FakeDesc {
  int compute = 0;
  int32_t transa = 0, transb = 0;
  uint32_t epilogue = cu::CUBLASLT_EPILOGUE_DEFAULT;
  CUdeviceptr bias = 0;
};
/// The minimum alignments of A, B, C, D a preference promises (bytes).
struct FakePreference {
  uint32_t align[4] = {256, 256, 256, 256};
};
struct FakeLayout {
  int type = 0;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0, stride = 0;
  int32_t batch = 1;
};

/// D = epilogue(alpha op(A) op(B) + beta C + bias per row), column-major,
/// batch by batch. A column-major X (ld = its rows) is the row-major X^T,
/// so D^T = op(B)^T op(A)^T is computed by the CPU backend's row-major
/// product: the same arithmetic as the CPU backend's GEMM, so the two
/// backends' steps agree closely even where sums cancel (the gradient of a
/// bias before BatchNorm is all rounding).
template <typename T>
void fakeMatmul(const FakeDesc &d, T alpha, const T *a, const FakeLayout &la,
                const T *b, const FakeLayout &lb, T beta, const T *c,
                const FakeLayout &lc, T *out, const FakeLayout &ld) {
  int64_t m = int64_t(ld.rows), n = int64_t(ld.cols);
  int64_t k = d.transa ? int64_t(la.rows) : int64_t(la.cols);
  bool bias = d.epilogue & cu::CUBLASLT_EPILOGUE_BIAS;
  bool relu = d.epilogue & cu::CUBLASLT_EPILOGUE_RELU;
  if (la.ld != int64_t(la.rows) || lb.ld != int64_t(lb.rows) ||
      lc.ld != int64_t(lc.rows) || ld.ld != int64_t(ld.rows))
    gpu.misuse("the fake cuBLASLt takes contiguous matrices only");
  for (int32_t batch = 0; batch < ld.batch; ++batch) {
    const T *A = a + batch * la.stride, *B = b + batch * lb.stride,
            *C = c + batch * lc.stride;
    T *D = out + batch * ld.stride;
    // Start from beta C (C may be D itself), or the bias, or nothing.
    std::vector<T> result(size_t(m * n), T(0));
    if (beta != T(0))
      std::copy(C, C + m * n, result.begin());
    else if (bias)
      for (int64_t j = 0; j < n; ++j)
        std::copy(ptr<T>(d.bias), ptr<T>(d.bias) + m, result.begin() + j * m);
    T scale = beta != T(0) ? beta : T(bias ? 1 : 0);
    kiln::runtime::cpu::matmul(d.transb != 0, d.transa != 0, n, m, k, alpha, B,
                               A, scale, result.data());
    if (bias && beta != T(0))
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < m; ++i)
          result[size_t(i + j * m)] += ptr<T>(d.bias)[i];
    for (size_t e = 0; e < result.size(); ++e)
      D[e] = relu && result[e] < T(0) ? T(0) : result[e];
    // BGRADA: the sums over k of op(A), one per row of D; BGRADB: of
    // op(B), one per column (in double, k in order, as the CPU backend).
    if (d.epilogue == cu::CUBLASLT_EPILOGUE_BGRADA ||
        d.epilogue == cu::CUBLASLT_EPILOGUE_BGRADB) {
      bool ofA = d.epilogue == cu::CUBLASLT_EPILOGUE_BGRADA;
      int64_t count = ofA ? m : n;
      for (int64_t i = 0; i < count; ++i) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p)
          acc += double(ofA ? (d.transa ? A[p + i * k] : A[i + p * m])
                            : (d.transb ? B[i + p * n] : B[p + i * k]));
        ptr<T>(d.bias)[i] = T(acc);
      }
    }
  }
}

const cu::BlasLtApi &fakeBlas() {
  static cu::BlasLtApi api = [] {
    cu::BlasLtApi a{};
    a.getVersion = []() -> size_t { return 130000; };
    a.getStatusString = [](cu::cublasStatus_t) { return "FAKE_STATUS"; };
    a.create = [](cu::cublasLtHandle_t *h) {
      *h = reinterpret_cast<cu::cublasLtHandle_t>(&gpu);
      return 0;
    };
    a.destroy = [](cu::cublasLtHandle_t) { return 0; };
    a.matmulDescCreate = [](cu::cublasLtMatmulDesc_t *d, int compute, int) {
      auto *desc = new FakeDesc();
      desc->compute = compute;
      *d = reinterpret_cast<cu::cublasLtMatmulDesc_t>(desc);
      return 0;
    };
    a.matmulDescDestroy = [](cu::cublasLtMatmulDesc_t d) {
      delete reinterpret_cast<FakeDesc *>(d);
      return 0;
    };
    a.matmulDescSetAttribute = [](cu::cublasLtMatmulDesc_t d, int attribute,
                                  const void *v, size_t size) {
      auto *desc = reinterpret_cast<FakeDesc *>(d);
      if (attribute == cu::CUBLASLT_MATMUL_DESC_TRANSA && size == 4)
        std::memcpy(&desc->transa, v, 4);
      else if (attribute == cu::CUBLASLT_MATMUL_DESC_TRANSB && size == 4)
        std::memcpy(&desc->transb, v, 4);
      else if (attribute == cu::CUBLASLT_MATMUL_DESC_EPILOGUE && size == 4)
        std::memcpy(&desc->epilogue, v, 4);
      else if (attribute == cu::CUBLASLT_MATMUL_DESC_BIAS_POINTER && size == 8)
        std::memcpy(&desc->bias, v, 8);
      else
        return 7; // CUBLAS_STATUS_INVALID_VALUE
      return 0;
    };
    a.matrixLayoutCreate = [](cu::cublasLtMatrixLayout_t *l, int type,
                              uint64_t rows, uint64_t cols, int64_t ld) {
      if (ld < int64_t(rows))
        return 7;
      *l = reinterpret_cast<cu::cublasLtMatrixLayout_t>(
          new FakeLayout{type, rows, cols, ld});
      return 0;
    };
    a.matrixLayoutDestroy = [](cu::cublasLtMatrixLayout_t l) {
      delete reinterpret_cast<FakeLayout *>(l);
      return 0;
    };
    a.matrixLayoutSetAttribute = [](cu::cublasLtMatrixLayout_t l,
                                    int attribute, const void *v,
                                    size_t size) {
      auto *layout = reinterpret_cast<FakeLayout *>(l);
      if (attribute == cu::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT && size == 4)
        std::memcpy(&layout->batch, v, 4);
      else if (attribute == cu::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET &&
               size == 8)
        std::memcpy(&layout->stride, v, 8);
      else
        return 7;
      return 0;
    };
    a.preferenceCreate = [](cu::cublasLtMatmulPreference_t *p) {
      *p = reinterpret_cast<cu::cublasLtMatmulPreference_t>(new FakePreference);
      return 0;
    };
    a.preferenceDestroy = [](cu::cublasLtMatmulPreference_t p) {
      delete reinterpret_cast<FakePreference *>(p);
      return 0;
    };
    a.preferenceSetAttribute = [](cu::cublasLtMatmulPreference_t p,
                                  int attribute, const void *v, size_t size) {
      auto *pref = reinterpret_cast<FakePreference *>(p);
      if (attribute >= cu::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES &&
          attribute <= cu::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES &&
          size == 4)
        std::memcpy(&pref->align[attribute - 5], v, 4);
      return 0;
    };
    a.algoGetHeuristic =
        [](cu::cublasLtHandle_t, cu::cublasLtMatmulDesc_t d,
           cu::cublasLtMatrixLayout_t la, cu::cublasLtMatrixLayout_t lb,
           cu::cublasLtMatrixLayout_t lc, cu::cublasLtMatrixLayout_t ld,
           cu::cublasLtMatmulPreference_t p, int requested,
           cu::cublasLtMatmulHeuristicResult_t *result, int *found) {
          // The shapes must agree, as cuBLASLt checks: op(A) m x k,
          // op(B) k x n, C and D m x n, one batch count.
          ++gpu.heuristics;
          gpu.heuristicsElsewhere += std::this_thread::get_id() != gpu.thread;
          auto &desc = *reinterpret_cast<FakeDesc *>(d);
          auto &A = *reinterpret_cast<FakeLayout *>(la);
          auto &B = *reinterpret_cast<FakeLayout *>(lb);
          auto &C = *reinterpret_cast<FakeLayout *>(lc);
          auto &D = *reinterpret_cast<FakeLayout *>(ld);
          uint64_t am = desc.transa ? A.cols : A.rows,
                   ak = desc.transa ? A.rows : A.cols;
          uint64_t bk = desc.transb ? B.cols : B.rows,
                   bn = desc.transb ? B.rows : B.cols;
          *found = 0;
          if (gpu.noBiasGradEpilogue &&
              (desc.epilogue == cu::CUBLASLT_EPILOGUE_BGRADA ||
               desc.epilogue == cu::CUBLASLT_EPILOGUE_BGRADB))
            return 15; // CUBLAS_STATUS_NOT_SUPPORTED
          if (am != D.rows || bn != D.cols || ak != bk || C.rows != D.rows ||
              C.cols != D.cols || A.batch != D.batch || B.batch != D.batch ||
              C.batch != D.batch)
            return 0;
          // The algorithm chosen relies on the alignments promised (as
          // cuBLASLt's do: a misaligned pointer faults on a GPU); data[4]
          // numbers the candidates.
          int candidates = std::max<int>(1, int(gpu.gemmAlgoDelaysUs.size()));
          for (int c = 0; c < std::min(requested, candidates); ++c) {
            result[c] = {};
            for (int i = 0; i < 4; ++i)
              result[c].algo.data[i] =
                  reinterpret_cast<FakePreference *>(p)->align[i];
            result[c].algo.data[4] = uint64_t(c);
            *found = c + 1;
          }
          return 0;
        };
    a.algoCheck = [](cu::cublasLtHandle_t, cu::cublasLtMatmulDesc_t,
                     cu::cublasLtMatrixLayout_t, cu::cublasLtMatrixLayout_t,
                     cu::cublasLtMatrixLayout_t, cu::cublasLtMatrixLayout_t,
                     const cu::cublasLtMatmulAlgo_t *algo,
                     cu::cublasLtMatmulHeuristicResult_t *result) {
      ++gpu.algoChecks;
      *result = {};
      result->algo = *algo;
      // One of the candidates, with alignments a GEMM may be promised.
      bool known =
          algo->data[4] < std::max<size_t>(1, gpu.gemmAlgoDelaysUs.size());
      for (int i = 0; i < 4; ++i)
        known &= algo->data[i] >= 4 && algo->data[i] <= 256;
      return known ? 0 : 15; // CUBLAS_STATUS_NOT_SUPPORTED
    };
    a.matmul = [](cu::cublasLtHandle_t, cu::cublasLtMatmulDesc_t d,
                  const void *alpha, const void *A, cu::cublasLtMatrixLayout_t la,
                  const void *B, cu::cublasLtMatrixLayout_t lb,
                  const void *beta, const void *C,
                  cu::cublasLtMatrixLayout_t lc, void *D,
                  cu::cublasLtMatrixLayout_t ld, const cu::cublasLtMatmulAlgo_t *algo,
                  void *, size_t, cu::CUstream) {
      ++gpu.matmuls;
      const int candidate = int(algo->data[4]);
      gpu.matmulAlgos.push_back(candidate);
      const int delay = size_t(candidate) < gpu.gemmAlgoDelaysUs.size()
                            ? gpu.gemmAlgoDelaysUs[size_t(candidate)]
                            : 0;
      const void *pointers[4] = {A, B, C, D};
      for (int i = 0; i < 4; ++i)
        if (reinterpret_cast<uintptr_t>(pointers[i]) % algo->data[i])
          gpu.misuse("cublasLtMatmul: matrix " + std::string(1, "ABCD"[i]) +
                     " is not aligned to the " +
                     std::to_string(algo->data[i]) + " bytes promised");
      FakeDesc desc = *reinterpret_cast<FakeDesc *>(d);
      FakeLayout a = *reinterpret_cast<FakeLayout *>(la),
                 b = *reinterpret_cast<FakeLayout *>(lb),
                 c = *reinterpret_cast<FakeLayout *>(lc),
                 o = *reinterpret_cast<FakeLayout *>(ld);
      bool f64 = o.type == cu::CUDA_R_64F;
      // Scalars are read when the call is made (host pointer mode).
      double al = f64 ? *static_cast<const double *>(alpha)
                      : *static_cast<const float *>(alpha);
      double be = f64 ? *static_cast<const double *>(beta)
                      : *static_cast<const float *>(beta);
      float al32 = float(al), be32 = float(be);
      gpu.enqueue([=] {
        std::this_thread::sleep_for(std::chrono::microseconds(delay));
        if (f64)
          fakeMatmul<double>(desc, al, static_cast<const double *>(A), a,
                             static_cast<const double *>(B), b, be,
                             static_cast<const double *>(C), c,
                             static_cast<double *>(D), o);
        else
          fakeMatmul<float>(desc, al32, static_cast<const float *>(A), a,
                            static_cast<const float *>(B), b, be32,
                            static_cast<const float *>(C), c,
                            static_cast<float *>(D), o);
      });
      return 0;
    };
    return a;
  }();
  return api;
}

/// NCCL over two ranks whose other rank holds three times this one's values
/// (as DoublingCommunicator): the average doubles them; over one rank, the
/// average is the data.
const cu::NcclApi &fakeNccl() {
  static cu::NcclApi api = [] {
    cu::NcclApi a{};
    a.getVersion = [](int *v) { *v = 22803; return 0; };
    a.getErrorString = [](cu::ncclResult_t) { return "fake NCCL error"; };
    a.getUniqueId = [](cu::ncclUniqueId *id) {
      std::memset(id->internal, 7, sizeof id->internal);
      return 0;
    };
    a.commInitRank = [](cu::ncclComm_t *c, int ranks, cu::ncclUniqueId id,
                        int rank) -> cu::ncclResult_t {
      if (ranks < 1 || ranks > 2 || rank != 0 || id.internal[0] != 7)
        gpu.misuse("ncclCommInitRank's arguments");
      gpu.ncclRanks = ranks;
      if (threadContextDepth < 1)
        gpu.misuse("ncclCommInitRank without the session's context current");
      std::this_thread::sleep_for(gpu.ncclInitDelay);
      ++gpu.ncclJoins;
      *c = reinterpret_cast<cu::ncclComm_t>(&gpu);
      return 0;
    };
    a.commDestroy = [](cu::ncclComm_t) { return 0; };
    a.commAbort = [](cu::ncclComm_t) { return 0; };
    a.commGetAsyncError = [](cu::ncclComm_t, cu::ncclResult_t *r) {
      *r = 0;
      return 0;
    };
    a.allReduce = [](const void *send, void *recv, size_t count, int type,
                     int op, cu::ncclComm_t,
                     cu::CUstream stream) -> cu::ncclResult_t {
      ++gpu.allReduces;
      if (gpu.ncclFails)
        return 5; // ncclInvalidUsage
      if (send != recv || type != cu::ncclFloat32 || op != cu::ncclAvg)
        gpu.misuse("ncclAllReduce: not an in-place fp32 average");
      auto *data = static_cast<float *>(recv);
      std::function<void()> reduce = [=] {
        if (gpu.ncclRanks == 2)
          for (size_t i = 0; i < count; ++i)
            data[i] = (data[i] + 3 * data[i]) / 2;
      };
      if (stream == reinterpret_cast<cu::CUstream>(&gpu.sideTag)) {
        ++gpu.sideAllReduces;
        gpu.side.push_back(std::move(reduce));
        ++gpu.sideIssued;
      } else {
        gpu.enqueue(std::move(reduce));
      }
      return 0;
    };
    return a;
  }();
  return api;
}

// cuDNN: descriptors are plain structs; convolutions are direct loops in
// double (cross-correlation, NCHW, groups), beta 0 (and 1 for the bias).
struct FakeTensor {
  int n = 0, c = 0, h = 0, w = 0;
};
struct FakeConv {
  int padH = 0, padW = 0, strideH = 1, strideW = 1, dilH = 1, dilW = 1,
      groups = 1, math = -1;
};
constexpr size_t kFakeDnnWorkspace = 4096;
/// The workspace the fake heuristics' algorithms take (a test may raise it).
size_t fakeHeuristicWorkspace = kFakeDnnWorkspace;

template <typename T>
void fakeConvolution(int mode, const FakeTensor &x, const FakeTensor &w,
                     const FakeConv &cv, const FakeTensor &y, const T *in,
                     const T *weight, T *out) {
  // mode 0: y = conv(x, w); 1: dx from dy (in) and w; 2: dw from x (in)
  // and dy (weight).
  int cg = x.c / cv.groups, mg = y.c / cv.groups;
  std::vector<double> acc(size_t(mode == 0   ? y.n * y.c * y.h * y.w
                                 : mode == 1 ? x.n * x.c * x.h * x.w
                                             : w.n * w.c * w.h * w.w),
                          0.0);
  for (int n = 0; n < x.n; ++n)
    for (int m = 0; m < y.c; ++m)
      for (int oy = 0; oy < y.h; ++oy)
        for (int ox = 0; ox < y.w; ++ox)
          for (int ci = 0; ci < cg; ++ci)
            for (int ky = 0; ky < w.h; ++ky)
              for (int kx = 0; kx < w.w; ++kx) {
                int iy = oy * cv.strideH - cv.padH + ky * cv.dilH;
                int ix = ox * cv.strideW - cv.padW + kx * cv.dilW;
                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w)
                  continue;
                int c = m / mg * cg + ci;
                size_t xi = ((size_t(n) * x.c + c) * x.h + iy) * x.w + ix;
                size_t wi = ((size_t(m) * w.c + ci) * w.h + ky) * w.w + kx;
                size_t yi = ((size_t(n) * y.c + m) * y.h + oy) * y.w + ox;
                if (mode == 0)
                  acc[yi] += double(in[xi]) * double(weight[wi]);
                else if (mode == 1)
                  acc[xi] += double(in[yi]) * double(weight[wi]);
                else
                  acc[wi] += double(in[xi]) * double(weight[yi]);
              }
  for (size_t i = 0; i < acc.size(); ++i)
    out[i] = T(acc[i]);
}

const cu::CudnnApi &fakeCudnn() {
  static cu::CudnnApi api = [] {
    cu::CudnnApi a{};
    a.getVersion = []() -> size_t { return 91000; };
    a.getErrorString = [](cu::cudnnStatus_t) { return "FAKE_CUDNN_STATUS"; };
    a.create = [](cu::cudnnHandle_t *h) {
      *h = reinterpret_cast<cu::cudnnHandle_t>(&gpu);
      return 0;
    };
    a.destroy = [](cu::cudnnHandle_t) { return 0; };
    a.setStream = [](cu::cudnnHandle_t, cu::CUstream) { return 0; };
    a.createTensorDescriptor = [](cu::cudnnTensorDescriptor_t *d) {
      *d = reinterpret_cast<cu::cudnnTensorDescriptor_t>(new FakeTensor);
      return 0;
    };
    a.destroyTensorDescriptor = [](cu::cudnnTensorDescriptor_t d) {
      delete reinterpret_cast<FakeTensor *>(d);
      return 0;
    };
    a.setTensor4dDescriptor = [](cu::cudnnTensorDescriptor_t d, int format,
                                 int, int n, int c, int h, int w) {
      *reinterpret_cast<FakeTensor *>(d) = {n, c, h, w};
      return format == cu::CUDNN_TENSOR_NCHW ? 0 : 3;
    };
    a.createFilterDescriptor = [](cu::cudnnFilterDescriptor_t *d) {
      *d = reinterpret_cast<cu::cudnnFilterDescriptor_t>(new FakeTensor);
      return 0;
    };
    a.destroyFilterDescriptor = [](cu::cudnnFilterDescriptor_t d) {
      delete reinterpret_cast<FakeTensor *>(d);
      return 0;
    };
    a.setFilter4dDescriptor = [](cu::cudnnFilterDescriptor_t d, int,
                                 int format, int k, int c, int h, int w) {
      *reinterpret_cast<FakeTensor *>(d) = {k, c, h, w};
      return format == cu::CUDNN_TENSOR_NCHW ? 0 : 3;
    };
    a.createConvolutionDescriptor = [](cu::cudnnConvolutionDescriptor_t *d) {
      *d = reinterpret_cast<cu::cudnnConvolutionDescriptor_t>(new FakeConv);
      return 0;
    };
    a.destroyConvolutionDescriptor = [](cu::cudnnConvolutionDescriptor_t d) {
      delete reinterpret_cast<FakeConv *>(d);
      return 0;
    };
    a.setConvolution2dDescriptor =
        [](cu::cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v,
           int dh, int dw, int mode, int) {
          auto *c = reinterpret_cast<FakeConv *>(d);
          c->padH = ph, c->padW = pw, c->strideH = u, c->strideW = v;
          c->dilH = dh, c->dilW = dw;
          return mode == cu::CUDNN_CROSS_CORRELATION ? 0 : 3;
        };
    a.setConvolutionGroupCount = [](cu::cudnnConvolutionDescriptor_t d,
                                    int groups) {
      reinterpret_cast<FakeConv *>(d)->groups = groups;
      return 0;
    };
    a.setConvolutionMathType = [](cu::cudnnConvolutionDescriptor_t d,
                                  int math) {
      reinterpret_cast<FakeConv *>(d)->math = math;
      return 0;
    };
    // As cuDNN's heuristics: the best first, with TF32 (default math) for
    // fp32, then plain FMA.
    auto perf = [](int *found, cu::cudnnAlgoPerf_t *results) {
      ++gpu.dnnHeuristics;
      *found = 2;
      results[0] = {};
      results[0].algo = 1;
      results[0].memory = fakeHeuristicWorkspace;
      results[0].mathType = cu::CUDNN_DEFAULT_MATH;
      results[1] = results[0];
      results[1].algo = 0;
      results[1].mathType = cu::CUDNN_FMA_MATH;
      return 0;
    };
    static auto perfFn = perf;
    a.getForwardAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnTensorDescriptor_t,
           cu::cudnnFilterDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnTensorDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return perfFn(found, results); };
    a.getBackwardDataAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnFilterDescriptor_t,
           cu::cudnnTensorDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnTensorDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return perfFn(found, results); };
    a.getBackwardFilterAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnTensorDescriptor_t,
           cu::cudnnTensorDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnFilterDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return perfFn(found, results); };
    // As cudnnFind*: every algorithm timed, the fastest first: algorithm 5,
    // which needs more workspace than any convolution may take, then 1 with
    // TF32, then 2 (FMA; the heuristics do not propose it), then 0.
    auto measured = [](int *found, cu::cudnnAlgoPerf_t *results) {
      ++gpu.dnnFinds;
      *found = 4;
      for (int i = 0; i < 4; ++i) {
        results[i] = {};
        results[i].memory = kFakeDnnWorkspace;
        results[i].mathType = cu::CUDNN_FMA_MATH;
        results[i].time = float(i + 1);
      }
      results[0].algo = 5;
      results[0].memory = size_t(1) << 40;
      results[1].algo = 1;
      results[1].mathType = cu::CUDNN_DEFAULT_MATH;
      results[2].algo = 2;
      results[3].algo = 0;
      return 0;
    };
    static auto measuredFn = measured;
    a.findForwardAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnTensorDescriptor_t,
           cu::cudnnFilterDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnTensorDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return measuredFn(found, results); };
    a.findBackwardDataAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnFilterDescriptor_t,
           cu::cudnnTensorDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnTensorDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return measuredFn(found, results); };
    a.findBackwardFilterAlgorithm =
        [](cu::cudnnHandle_t, cu::cudnnTensorDescriptor_t,
           cu::cudnnTensorDescriptor_t, cu::cudnnConvolutionDescriptor_t,
           cu::cudnnFilterDescriptor_t, int, int *found,
           cu::cudnnAlgoPerf_t *results) { return measuredFn(found, results); };
    // One call for the three directions: the operands by role.
    static auto run =
        [](int mode, const void *alpha, const void *beta, const FakeTensor &x,
           const FakeTensor &w, const FakeConv &cv, const FakeTensor &y,
           const void *in, const void *weight, void *out, void *workspace,
           size_t bytes, int algo) -> cu::cudnnStatus_t {
      ++gpu.dnnConvolutions;
      gpu.dnnAlgos.push_back(algo);
      if (*static_cast<const float *>(alpha) != 1 ||
          *static_cast<const float *>(beta) != 0)
        gpu.misuse("a cuDNN convolution with alpha != 1 or beta != 0");
      if (!workspace || bytes < kFakeDnnWorkspace)
        gpu.misuse("a cuDNN convolution without its workspace");
      // fp32 without --precision tf32: the FMA algorithm, its math set.
      if (cv.math != cu::CUDNN_FMA_MATH)
        gpu.misuse("a cuDNN convolution allowed TF32 without --precision tf32");
      gpu.enqueue([=] {
        fakeConvolution<float>(mode, x, w, cv, y,
                               static_cast<const float *>(in),
                               static_cast<const float *>(weight),
                               static_cast<float *>(out));
      });
      return 0;
    };
    a.forward = [](cu::cudnnHandle_t, const void *alpha,
                   cu::cudnnTensorDescriptor_t xd, const void *x,
                   cu::cudnnFilterDescriptor_t wd, const void *w,
                   cu::cudnnConvolutionDescriptor_t cd, int algo, void *ws,
                   size_t bytes, const void *beta,
                   cu::cudnnTensorDescriptor_t yd, void *y) {
      return run(0, alpha, beta, *reinterpret_cast<FakeTensor *>(xd),
                 *reinterpret_cast<FakeTensor *>(wd),
                 *reinterpret_cast<FakeConv *>(cd),
                 *reinterpret_cast<FakeTensor *>(yd), x, w, y, ws, bytes, algo);
    };
    a.backwardData = [](cu::cudnnHandle_t, const void *alpha,
                        cu::cudnnFilterDescriptor_t wd, const void *w,
                        cu::cudnnTensorDescriptor_t dyd, const void *dy,
                        cu::cudnnConvolutionDescriptor_t cd, int algo, void *ws,
                        size_t bytes, const void *beta,
                        cu::cudnnTensorDescriptor_t dxd, void *dx) {
      return run(1, alpha, beta, *reinterpret_cast<FakeTensor *>(dxd),
                 *reinterpret_cast<FakeTensor *>(wd),
                 *reinterpret_cast<FakeConv *>(cd),
                 *reinterpret_cast<FakeTensor *>(dyd), dy, w, dx, ws, bytes,
                 algo);
    };
    a.backwardFilter = [](cu::cudnnHandle_t, const void *alpha,
                          cu::cudnnTensorDescriptor_t xd, const void *x,
                          cu::cudnnTensorDescriptor_t dyd, const void *dy,
                          cu::cudnnConvolutionDescriptor_t cd, int algo,
                          void *ws, size_t bytes, const void *beta,
                          cu::cudnnFilterDescriptor_t dwd, void *dw) {
      return run(2, alpha, beta, *reinterpret_cast<FakeTensor *>(xd),
                 *reinterpret_cast<FakeTensor *>(dwd),
                 *reinterpret_cast<FakeConv *>(cd),
                 *reinterpret_cast<FakeTensor *>(dyd), x, dy, dw, ws, bytes,
                 algo);
    };
    a.addTensor = [](cu::cudnnHandle_t, const void *, cu::cudnnTensorDescriptor_t ad,
                     const void *A, const void *, cu::cudnnTensorDescriptor_t cd,
                     void *C) {
      FakeTensor b = *reinterpret_cast<FakeTensor *>(ad),
                 y = *reinterpret_cast<FakeTensor *>(cd);
      if (b.n != 1 || b.c != y.c || b.h != 1 || b.w != 1)
        gpu.misuse("cudnnAddTensor: not a bias per channel");
      gpu.enqueue([=] {
        auto *out = static_cast<float *>(C);
        auto *bias = static_cast<const float *>(A);
        for (int n = 0; n < y.n; ++n)
          for (int c = 0; c < y.c; ++c)
            for (int i = 0; i < y.h * y.w; ++i)
              out[(size_t(n) * y.c + c) * y.h * y.w + i] += bias[c];
      });
      return 0;
    };
    return a;
  }();
  return api;
}

// --- Tests ------------------------------------------------------------------

struct Model {
  std::string name, loss = "cross_entropy";
  double gradClip = 0;
  /// Convolutions as im2col GEMMs (KILN_CUDA_CONV=im2col) in a workspace
  /// of this many bytes (KILN_CUDA_CONV_WORKSPACE: small ones split them
  /// into blocks); empty: on cuDNN.
  std::string convWorkspace;
  bool gpuGeometry = false; ///< The kernels emulated at a GPU's widths.
  std::string label() const {
    return name + (gradClip > 0 ? "_clipped" : "") +
           (gpuGeometry ? "_gpu_geometry" : "") +
           (convWorkspace.empty() ? "" : "_im2col_workspace_" + convWorkspace);
  }
};
void PrintTo(const Model &m, std::ostream *os) { *os << m.label(); }

/// What `run` writes to stderr with KILN_PROFILE=1 (unset again after).
std::string profiledStderr(const std::function<void()> &run) {
  setenv("KILN_PROFILE", "1", 1);
  testing::internal::CaptureStderr();
  run();
  std::string report = testing::internal::GetCapturedStderr();
  unsetenv("KILN_PROFILE");
  return report;
}

/// Opens `program` on the fake GPU: its module's kernels compiled for the
/// host, the cubin for the fake's sm_80 a placeholder (the runtime's own
/// kernels go through NVRTC and the cache, in `dir`).
/// (With `artifact`, a path: the session opened from an artifact written
/// there, as kiln_run_step and kiln train open theirs.)
rt::Status openOnFakeGpu(
    const kiln::codegen::EmittedProgram &program, const std::string &dir,
    std::unique_ptr<rt::Session> &session, int ccMajor = 8, int ccMinor = 0,
    std::vector<std::pair<std::string, std::vector<uint8_t>>> moreCode = {},
    const std::string &artifact = "") {
  std::string error;
  bool noBiasGradEpilogue = gpu.noBiasGradEpilogue, // Set by the test.
      gpuGeometry = gpu.gpuGeometry;
  std::vector<int> gemmAlgoDelaysUs = gpu.gemmAlgoDelaysUs;
  bool eventsFail = gpu.eventsFail;
  gpu = FakeGpu();
  gpu.gemmAlgoDelaysUs = gemmAlgoDelaysUs;
  gpu.eventsFail = eventsFail;
  gpu.noBiasGradEpilogue = noBiasGradEpilogue;
  gpu.gpuGeometry = gpuGeometry;
  gpu.ccMajor = ccMajor;
  gpu.ccMinor = ccMinor;
  contextDepth = 0;
  gpu.kernels = &program.program.kernels;
  // The runtime's own kernels too (kiln_host_builtin: a grid of blocks).
  gpu.module =
      kiln::test::buildHostModule(program.program.kernels, dir, error,
                                  std::string(cu::builtinsSource()) + R"(
extern "C" void kiln_host_builtin(void *f, int arity, const long long *v,
                                  unsigned blocks, unsigned threads) {
  typedef long long L;
  kiln_host_grid([=] {
    if (arity == 2)
      ((void (*)(L, L))f)(v[0], v[1]);
    else if (arity == 4)
      ((void (*)(L, L, L, L))f)(v[0], v[1], v[2], v[3]);
    else if (arity == 5)
      ((void (*)(L, L, L, L, L))f)(v[0], v[1], v[2], v[3], v[4]);
    else if (arity == 6)
      ((void (*)(L, L, L, L, L, L))f)(v[0], v[1], v[2], v[3], v[4], v[5]);
    else if (arity == 7)
      ((void (*)(L, L, L, L, L, L, L))f)(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    else
      ((void (*)(L, L, L, L, L, L, L, L))f)(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  }, blocks, threads ? threads : KILN_HOST_THREADS);
}
)",
                                  gpu.gpuGeometry);
  if (!gpu.module)
    return rt::Status(KILN_STATUS_INTERNAL, error);
  gpu.launch = reinterpret_cast<kiln::test::LaunchFn>(
      dlsym(gpu.module, "kiln_host_launch"));
  kiln::codegen::cuda::Module module;
  if (!kiln::codegen::cuda::printModule(program.program.kernels, module, error))
    return rt::Status(KILN_STATUS_INTERNAL, error);
  rt::DeviceCode code;
  code.source = module.source;
  code.cubins.push_back({"sm_80", {0x7f, 'E', 'L', 'F'}});
  for (auto &more : moreCode)
    code.cubins.push_back(std::move(more));
  rt::SessionOptions options;
  options.device = rt::Device::Cuda;
  setenv("KILN_CACHE_DIR", (dir + "/cache").c_str(), 1);
  if (!artifact.empty()) {
    rt::ArtifactWriter writer;
    std::string json = rt::programToJson(program.program);
    std::vector<std::pair<std::string, std::vector<uint8_t>>> sections = {
        {"program", {json.begin(), json.end()}},
        {"init", program.init},
        {"cuda.source", {code.source.begin(), code.source.end()}}};
    for (auto &[arch, bytes] : code.cubins)
      sections.push_back({"cuda.cubin." + arch, bytes});
    for (auto &[name, bytes] : sections)
      if (rt::Status s = writer.addSection(name, bytes); !s.ok())
        return s;
    if (rt::Status s = writer.write(artifact); !s.ok())
      return s;
    return rt::Session::open(artifact, session, options);
  }
  return rt::Session::create(program.program, program.init, session, options,
                             std::move(code));
}

/// Three training steps on both sessions (the CUDA one: eager, captured as
/// a graph, the graph replayed): the same loss, gradients, parameters and
/// optimizer state after each.
void expectSameSteps(const std::string &label,
                     std::unique_ptr<rt::Session> (&sessions)[2],
                     std::unique_ptr<rt::Trainer> (&trainers)[2],
                     const std::vector<rt::HostTensor> &inputs) {
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<uint8_t>> results[2];
    std::vector<std::string> names;
    for (int d = 0; d < 2; ++d) {
      std::vector<rt::HostTensor> outputs;
      double loss;
      rt::Status s = trainers[d]->step(inputs, outputs, loss);
      ASSERT_TRUE(s.ok()) << s.message();
      names.clear();
      for (const rt::HostTensor &t : outputs) {
        names.push_back(t.name);
        auto *p = static_cast<const uint8_t *>(t.data);
        results[d].emplace_back(p, p + t.bytes);
      }
      for (const std::string &name : trainers[d]->checkpointNames()) {
        const rt::Buffer *b = sessions[d]->persistent(name);
        names.push_back(name);
        results[d].emplace_back(size_t(b->bytes()));
        ASSERT_TRUE(sessions[d]->read(*b, results[d].back().data()).ok());
      }
    }
    ASSERT_EQ(results[0].size(), results[1].size());
    for (size_t i = 0; i < results[0].size(); ++i) {
      ASSERT_EQ(results[0][i].size(), results[1][i].size()) << names[i];
      const auto *a = reinterpret_cast<const float *>(results[0][i].data());
      const auto *b = reinterpret_cast<const float *>(results[1][i].data());
      // Errors relative to the tensor's largest value: the fake's GEMMs
      // accumulate in another order than the CPU's BLAS, so values that are
      // sums cancelling to near zero differ relatively more.
      size_t n = results[0][i].size() / 4;
      double scale = 1e-6, worst = 0;
      for (size_t j = 0; j < n; ++j)
        scale = std::max(scale, std::fabs(double(a[j])));
      for (size_t j = 0; j < n; ++j) {
        if (std::isnan(a[j]) && std::isnan(b[j]))
          continue;
        double d = std::fabs(double(a[j]) - b[j]) / scale;
        if (!(d <= worst)) // A NaN on one side only counts as the worst.
          worst = d;
      }
      EXPECT_LE(worst, 1e-5) << label << " step " << step << ": " << names[i];
    }
  }
}

class FakeGpuTest : public testing::Test {
protected:
  void SetUp() override {
#ifndef KILN_TEST_NVRTC
    GTEST_SKIP() << "built without the CUDA toolkit: no NVRTC for the "
                    "runtime's own kernels";
#endif
    cu::setApisForTesting(&fakeDriver(), &fakeBlas(), &fakeNccl(),
                          &fakeCudnn());
    gpu.noBiasGradEpilogue = false;
    gpu.gpuGeometry = false;
  }
  void TearDown() override { cu::setApisForTesting(nullptr, nullptr); }
};

class CudaBackend : public FakeGpuTest,
                    public testing::WithParamInterface<Model> {};

TEST_P(CudaBackend, TrainingStepsMatchTheCpuBackend) {
  const Model &m = GetParam();
  kiln::test::TrainingFixture fixture(m.name, m.loss, m.gradClip);
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  const std::vector<rt::HostTensor> &inputs = fixture.inputs;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-" + m.label();
  std::filesystem::create_directories(dir);

  std::unique_ptr<rt::Session> sessions[2];
  ASSERT_TRUE(rt::Session::create(program.program, program.init, sessions[0]).ok());
  if (!m.convWorkspace.empty()) {
    setenv("KILN_CUDA_CONV", "im2col", 1);
    setenv("KILN_CUDA_CONV_WORKSPACE", m.convWorkspace.c_str(), 1);
  }
  gpu.gpuGeometry = m.gpuGeometry;
  rt::Status opened = openOnFakeGpu(program, dir, sessions[1]);
  unsetenv("KILN_CUDA_CONV");
  unsetenv("KILN_CUDA_CONV_WORKSPACE");
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ(sessions[1]->device().rfind("cuda:0 Fake GPU (sm_80, 4 SMs", 0), 0u)
      << sessions[1]->device();
  EXPECT_EQ(gpu.allocations, 1);
  std::unique_ptr<rt::Trainer> trainers[2];
  for (int d = 0; d < 2; ++d)
    ASSERT_TRUE(rt::Trainer::create(*sessions[d], rt::LearningRate(), trainers[d]).ok());

  expectSameSteps(m.label(), sessions, trainers, inputs);
  EXPECT_EQ(gpu.error, "");
  EXPECT_EQ(gpu.allocations, 1) << "the steps allocated device memory";
  EXPECT_EQ(gpu.captures, 1);
  EXPECT_EQ(gpu.graphLaunches, 2);
  EXPECT_EQ(contextDepth, 0) << "the session left its context current";
  // Convolutions on cuDNN, unless asked for as im2col GEMMs.
  bool convs = false;
  for (const rt::Step &s : program.program.entry("train_step")->steps)
    convs |= s.kind == rt::Step::Kind::Conv;
  EXPECT_EQ(gpu.dnnConvolutions > 0, convs && m.convWorkspace.empty());
  if (convs)
    EXPECT_NE(sessions[1]->device().find(m.convWorkspace.empty()
                                             ? "convolutions on cuDNN 9.10.0"
                                             : "convolutions as im2col GEMMs"),
              std::string::npos)
        << sessions[1]->device();
  sessions[1].reset();
  EXPECT_EQ(gpu.live, 0) << "the session left device memory allocated";
  EXPECT_EQ(gpu.pinned, 0) << "the session left pinned memory allocated";
  EXPECT_EQ(contextDepth, 0);
}

INSTANTIATE_TEST_SUITE_P(
    TrainingFixtures, CudaBackend,
    testing::Values(Model{"mlp_relu"}, Model{"mlp_gelu"},
                    Model{"mlp_batchnorm"}, Model{"autoencoder_mse", "mse"},
                    Model{"lenet_maxpool"},
                    // conv1 one image a block; conv2 blocks of 3 of 4.
                    Model{"lenet_maxpool", "cross_entropy", 0, "150000"},
                    Model{"lenet_maxpool", "cross_entropy", 0, "1"},
                    Model{"gpt_block"}, Model{"llama_block"}, Model{"decoder_cnn"},
                    Model{"mlp_relu", "cross_entropy", 0.5},
                    // The kernels at a GPU's widths (warps of 32 ...).
                    Model{"lenet_maxpool", "cross_entropy", 0, "", true},
                    Model{"gpt_block", "cross_entropy", 0, "", true},
                    Model{"llama_block", "cross_entropy", 0, "", true}),
    [](const testing::TestParamInfo<Model> &info) { return info.param.label(); });

/// mlp_relu's program in two sessions, [0] on the CPU and [1] on the fake
/// GPU, each with a trainer: what several tests compare step by step.
struct SideBySide {
  kiln::test::TrainingFixture fixture{"mlp_relu", "cross_entropy"};
  std::unique_ptr<rt::Session> sessions[2];
  std::unique_ptr<rt::Trainer> trainers[2];
  std::string error;

  /// Opens both (the fake GPU's files in a directory named after `what`);
  /// false with `error` saying why not.
  bool open(const std::string &what) {
    if (!fixture.ok) {
      error = fixture.error;
      return false;
    }
    const kiln::codegen::EmittedProgram &program = fixture.program;
    std::string dir = testing::TempDir() + "/kiln-cuda-backend-" + what;
    std::filesystem::create_directories(dir);
    auto ok = [&](rt::Status s) {
      if (!s.ok() && error.empty())
        error = s.toString();
      return s.ok();
    };
    return ok(rt::Session::create(program.program, program.init,
                                  sessions[0])) &&
           ok(openOnFakeGpu(program, dir, sessions[1])) &&
           ok(rt::Trainer::create(*sessions[0], rt::LearningRate(),
                                  trainers[0])) &&
           ok(rt::Trainer::create(*sessions[1], rt::LearningRate(),
                                  trainers[1]));
  }
};

/// A graph that cannot be captured leaves the entry running step by step,
/// with the same results.
TEST_F(FakeGpuTest, FailedCaptureRunsEagerly) {
  SideBySide both;
  ASSERT_TRUE(both.open("no-capture")) << both.error;
  gpu.failCapture = true;
  testing::internal::CaptureStderr();
  expectSameSteps("mlp_relu without graphs", both.sessions, both.trainers,
                  both.fixture.inputs);
  std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("kiln: warning: cannot capture 'train_step' as a "
                          "CUDA graph"),
            std::string::npos)
      << warnings;
  EXPECT_EQ(gpu.graphLaunches, 0);
  EXPECT_EQ(gpu.error, "");
}

/// The bias gradients that kiln-fuse-gemm-epilogue folds into the weight
/// gradients' GEMMs (cuBLASLt's BGRADA/BGRADB epilogues) where cuBLASLt has
/// no algorithm with them: the plain GEMM, then the runtime's
/// kiln_operand_sum; the same steps as the CPU backend, and the session
/// says how many GEMMs went that way. (With the epilogue, every
/// CudaBackend.TrainingStepsMatchTheCpuBackend model checks the fake's
/// BGRAD sums.)
TEST_F(FakeGpuTest, BiasGradientsWithoutTheEpilogueMatchTheCpuBackend) {
  SideBySide both;
  gpu.noBiasGradEpilogue = true;
  ASSERT_TRUE(both.open("no-bgrad")) << both.error;
  int sums = 0;
  for (const rt::Entry &e : both.fixture.program.program.entries)
    for (const rt::Step &step : e.steps)
      sums += step.kind == rt::Step::Kind::Gemm &&
              step.gemm.sumOf != rt::GemmCall::SumOf::Out;
  // The last Linear's bias (no ReLU after it) sums the logits' gradient.
  ASSERT_GT(sums, 0) << "no GEMM of mlp_relu computes a bias gradient";
  std::string device = both.sessions[1]->device();
  EXPECT_NE(device.find(", " + std::to_string(sums) + " of " +
                        std::to_string(sums) +
                        " GEMM bias gradients by kiln's kernel (cuBLASLt "
                        "has no BGRAD epilogue for them)"),
            std::string::npos)
      << device;
  expectSameSteps("mlp_relu without BGRAD epilogues", both.sessions,
                  both.trainers, both.fixture.inputs);
  EXPECT_EQ(gpu.error, "");
}

/// What crosses between host and GPU: a step can fetch only the loss (the
/// gradients stay on the device), and a batch given once can stay there.
TEST_F(FakeGpuTest, StepsMoveOnlyWhatTheyAreAskedTo) {
  SideBySide both;
  ASSERT_TRUE(both.open("transfer")) << both.error;
  const std::vector<rt::HostTensor> &inputs = both.fixture.inputs;
  std::unique_ptr<rt::Trainer> &cpuTrainer = both.trainers[0],
                               &cudaTrainer = both.trainers[1];

  std::vector<rt::HostTensor> outputs;
  double expected = 0, loss = 0;
  ASSERT_TRUE(cpuTrainer->step(inputs, expected).ok());
  ASSERT_TRUE(cudaTrainer->step(inputs, loss).ok());
  EXPECT_NEAR(loss, expected, 1e-6 * std::fabs(expected));
  rt::Transfer transfer;
  transfer.fetch = {"grad.2.weight"};
  ASSERT_TRUE(cpuTrainer->step(inputs, outputs, expected).ok());
  // The batch is on the GPU already; the loss comes back with the one
  // gradient asked for.
  transfer.keepInputs = true;
  ASSERT_TRUE(cudaTrainer->step({}, outputs, loss, transfer).ok());
  EXPECT_NEAR(loss, expected, 1e-6 * std::fabs(expected));
  int fetched = 0;
  for (const rt::HostTensor &t : outputs) {
    bool wanted = t.name == "loss" || t.name == "grad.2.weight";
    EXPECT_EQ(t.data != nullptr, wanted) << t.name;
    fetched += t.data != nullptr;
  }
  EXPECT_EQ(fetched, 2);
  // Without keepInputs a missing input is an error, as always.
  rt::Status s = cudaTrainer->step({}, loss);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("is missing"), std::string::npos)
      << s.message();
}

/// Steps queued without waiting (as the benchmark runs them): their losses
/// are unknown when they return, and after synchronize() the parameters
/// and the last loss are those of steps that waited.
TEST_F(FakeGpuTest, QueuedStepsEqualWaitedOnes) {
  SideBySide both;
  ASSERT_TRUE(both.open("queued")) << both.error;
  kiln::test::TrainingFixture &fixture = both.fixture;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  std::unique_ptr<rt::Session> &cpu = both.sessions[0],
                               &cuda = both.sessions[1];
  std::unique_ptr<rt::Trainer> &cpuTrainer = both.trainers[0],
                               &cudaTrainer = both.trainers[1];
  double expected = 0, loss = 0;
  std::vector<rt::HostTensor> outputs;
  rt::Transfer queued;
  queued.wait = false;
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(cpuTrainer->step(fixture.inputs, expected).ok());
    ASSERT_TRUE(cudaTrainer->step(fixture.inputs, outputs, loss, queued).ok());
    EXPECT_TRUE(std::isnan(loss));
    for (const rt::HostTensor &t : outputs)
      EXPECT_EQ(t.data, nullptr) << t.name;
  }
  ASSERT_TRUE(cuda->synchronize().ok());
  const rt::Buffer &lossBuffer =
      program.program.buffers[program.program.entry("train_step")->outputs[0]];
  float last = 0;
  ASSERT_TRUE(cuda->read(lossBuffer, &last).ok());
  EXPECT_NEAR(last, expected, 1e-6 * std::fabs(expected));
  for (const std::string &name : cudaTrainer->checkpointNames()) {
    const rt::Buffer *b = cuda->persistent(name);
    std::vector<float> a(size_t(b->bytes() / 4)), c(a.size());
    ASSERT_TRUE(cpu->read(*b, a.data()).ok());
    ASSERT_TRUE(cuda->read(*b, c.data()).ok());
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(a[i], c[i], 1e-5 * (1 + std::fabs(a[i]))) << name;
  }
  // Eager, captured (and launched), replayed.
  EXPECT_EQ(gpu.captures, 1);
  EXPECT_EQ(gpu.graphLaunches, 2);
  EXPECT_EQ(gpu.error, "");
}

/// KILN_PROFILE on the GPU: every run goes step by step (no graph), each
/// step between two events, and the report names the entry, its steps and
/// the slowest kernels' rates; the events are gone afterwards, and the
/// results are those of unprofiled steps.
/// KILN_PROFILE times opening a session too, part by part (the warm first
/// step's budget is spent there): reading the artifact (while the driver
/// loads and the GPU's context is made on a thread of its own), then the
/// backend's parts; that thread also asks cuBLASLt's heuristics once (its
/// first query is slow). That thread's reference to the context is dropped
/// once the session holds its own (and when opening fails). The session opened
/// from the artifact trains as the CPU backend does.
TEST_F(FakeGpuTest, ProfileTimesOpeningBySteps) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-open-profile";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> sessions[2];
  rt::Status opened;
  std::string report = profiledStderr([&] {
    opened = openOnFakeGpu(fixture.program, dir, sessions[1], 8, 0, {},
                           dir + "/mlp_relu.kiln");
  });
  ASSERT_TRUE(opened.ok()) << opened.message();
  size_t read = report.find("kiln profile: read: artifact ");
  ASSERT_NE(read, std::string::npos) << report;
  EXPECT_NE(report.find("(its thread: driver ", read), std::string::npos)
      << report;
  size_t at = report.find("kiln profile: open: context ");
  ASSERT_NE(at, std::string::npos) << report;
  for (const char *part : {" kernels ", " cuBLASLt ", " cuDNN ", " arena ",
                           " launch plans ", " GEMM plans ", " upload "})
    EXPECT_NE(report.find(part, at), std::string::npos) << part << report;
  // No convolutions: cuDNN is not loaded.
  EXPECT_EQ(report.find("cuDNN's libraries"), std::string::npos) << report;
  EXPECT_EQ(gpu.contextRetains, 2);
  EXPECT_EQ(gpu.contextRefs, 1);
  // The preload's thread asked cuBLASLt's heuristics once, the backend
  // (on this thread) once a GEMM form.
  EXPECT_EQ(gpu.heuristicsElsewhere, 1);
  EXPECT_GT(gpu.heuristics, gpu.heuristicsElsewhere);
  ASSERT_TRUE(rt::Session::create(fixture.program.program, fixture.program.init,
                                  sessions[0])
                  .ok());
  std::unique_ptr<rt::Trainer> trainers[2];
  for (int d = 0; d < 2; ++d)
    ASSERT_TRUE(
        rt::Trainer::create(*sessions[d], rt::LearningRate(), trainers[d])
            .ok());
  expectSameSteps("mlp_relu from its artifact", sessions, trainers,
                  fixture.inputs);
  EXPECT_EQ(gpu.error, "");
  trainers[1].reset();
  sessions[1].reset();
  EXPECT_EQ(gpu.contextRefs, 0);
  // An artifact that cannot be read: the context made meanwhile is let go.
  gpu.contextRetains = 0;
  rt::SessionOptions options;
  options.device = rt::Device::Cuda;
  std::unique_ptr<rt::Session> missing;
  EXPECT_FALSE(rt::Session::open(dir + "/missing.kiln", missing, options).ok());
  EXPECT_EQ(gpu.contextRetains, 1);
  EXPECT_EQ(gpu.contextRefs, 0);
}

/// A program with convolutions has cuDNN's libraries loaded while the
/// driver loads (on the opening thread), and KILN_PROFILE says how long that
/// took, then the backend's cuDNN handle and convolution plans apart, and
/// cuDNN's heuristics are asked once for each form of convolution; with
/// KILN_CUDA_CONV=im2col, or where the driver sees no GPU, cuDNN is not
/// loaded.
TEST_F(FakeGpuTest, ProfileTimesOpeningConvolutions) {
  kiln::test::TrainingFixture fixture("lenet_maxpool", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-open-convs";
  std::filesystem::create_directories(dir);
  for (bool im2col : {false, true}) {
    SCOPED_TRACE(im2col ? "im2col" : "cuDNN");
    if (im2col)
      setenv("KILN_CUDA_CONV", "im2col", 1);
    std::unique_ptr<rt::Session> session;
    rt::Status opened;
    std::string report = profiledStderr([&] {
      opened = openOnFakeGpu(fixture.program, dir, session, 8, 0, {},
                             dir + "/lenet_maxpool.kiln");
    });
    unsetenv("KILN_CUDA_CONV");
    ASSERT_TRUE(opened.ok()) << opened.message();
    size_t read = report.find("kiln profile: read: artifact ");
    ASSERT_NE(read, std::string::npos) << report;
    size_t libraries = report.find("; cuDNN's libraries ", read);
    size_t waited = report.find("then waited ", read);
    if (im2col) {
      EXPECT_EQ(libraries, std::string::npos) << report;
    } else {
      ASSERT_NE(libraries, std::string::npos) << report;
      EXPECT_LT(libraries, waited) << report;
    }
    size_t at = report.find("kiln profile: open: context ");
    ASSERT_NE(at, std::string::npos) << report;
    EXPECT_NE(report.find(" cuDNN ", at), std::string::npos) << report;
    EXPECT_NE(report.find(" convolution plans ", at), std::string::npos)
        << report;
    EXPECT_EQ(session->device().find("cuDNN") != std::string::npos, !im2col)
        << session->device();
    if (im2col)
      continue;
    // cuDNN's heuristics asked once for each form of convolution: the
    // training entry repeats the forward entry's.
    std::set<std::vector<int64_t>> forms;
    int convs = 0;
    for (const rt::Entry &e : fixture.program.program.entries)
      for (const rt::Step &step : e.steps)
        if (step.kind == rt::Step::Kind::Conv) {
          const rt::ConvCall &c = step.conv;
          ++convs;
          forms.insert({int64_t(c.mode), c.n, c.c, c.h, c.w, c.m, c.kh, c.kw,
                        c.oh, c.ow, c.strideH, c.strideW, c.dilationH,
                        c.dilationW, c.padTop, c.padLeft, c.group});
        }
    EXPECT_LT(int(forms.size()), convs);
    EXPECT_EQ(gpu.dnnHeuristics, int(forms.size()));
  }
  // A driver that sees no GPU: --device auto runs on the CPU, and cuDNN is
  // not loaded for nothing.
  gpu.noDevice = true;
  rt::SessionOptions options;
  options.device = rt::Device::Auto;
  std::unique_ptr<rt::Session> session;
  rt::Status opened;
  std::string report = profiledStderr([&] {
    opened = rt::Session::open(dir + "/lenet_maxpool.kiln", session, options);
  });
  gpu.noDevice = false;
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ(session->device().find("cuda"), std::string::npos)
      << session->device();
  EXPECT_NE(session->fallback(), "");
  EXPECT_NE(report.find("kiln profile: read: artifact "), std::string::npos)
      << report;
  EXPECT_EQ(report.find("cuDNN's libraries"), std::string::npos) << report;
}

TEST_F(FakeGpuTest, ProfileTimesEveryStepWithEvents) {
  SideBySide both;
  ASSERT_TRUE(both.open("profile")) << both.error;
  kiln::test::TrainingFixture &fixture = both.fixture;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  std::unique_ptr<rt::Trainer> &cpuTrainer = both.trainers[0],
                               &cudaTrainer = both.trainers[1];
  size_t steps = program.program.entry("train_step")->steps.size();
  double expected = 0, loss = 0;
  std::string report = profiledStderr([&] {
    for (int step = 0; step < 2; ++step) {
      ASSERT_TRUE(cpuTrainer->step(fixture.inputs, expected).ok());
      ASSERT_TRUE(cudaTrainer->step(fixture.inputs, loss).ok());
      EXPECT_NEAR(loss, expected, 1e-5 * std::fabs(expected));
    }
  });
  if (HasFatalFailure())
    return;
  std::string header =
      "kiln profile: train_step: " + std::to_string(steps) + " steps, ";
  size_t first = report.find(header);
  ASSERT_NE(first, std::string::npos) << report;
  EXPECT_NE(report.find(header, first + 1), std::string::npos) << report;
  EXPECT_NE(report.find("GB/s  kernel k"), std::string::npos) << report;
  EXPECT_NE(report.find("  kernels "), std::string::npos) << report;
  EXPECT_EQ(gpu.captures, 0);
  EXPECT_EQ(gpu.graphLaunches, 0);
  EXPECT_EQ(gpu.events, 0);
  EXPECT_EQ(gpu.error, "");
}

/// A data-parallel step on the GPU: each gradient bucket's average is
/// NCCL's (in place, on the step's stream, inside the captured graph), its
/// communicator made once from rank 0's id; the result is the CPU
/// backend's with MPI-style collectives over the same simulated ranks.
TEST_F(FakeGpuTest, DataParallelStepsAverageGradientsWithNccl) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  const std::vector<rt::HostTensor> &inputs = fixture.inputs;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-nccl";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> sessions[2];
  ASSERT_TRUE(rt::Session::create(program.program, program.init, sessions[0]).ok());
  ASSERT_TRUE(openOnFakeGpu(program, dir, sessions[1]).ok());
  kiln::test::DoublingCommunicator comms[2];
  std::unique_ptr<rt::Trainer> trainers[2];
  for (int d = 0; d < 2; ++d) {
    sessions[d]->setCommunicator(&comms[d]);
    ASSERT_TRUE(rt::Trainer::create(*sessions[d], rt::LearningRate(), trainers[d]).ok());
  }
  expectSameSteps("mlp_relu over 2 ranks", sessions, trainers, inputs);
  EXPECT_EQ(gpu.error, "");
  EXPECT_EQ(gpu.ncclJoins, 1);
  EXPECT_GT(comms[0].started, 0);
  EXPECT_EQ(comms[1].started, 0) << "the GPU's buckets went through MPI";
  // On NCCL's own stream, each awaited where its bucket is read next.
  EXPECT_EQ(gpu.sideAllReduces, gpu.allReduces);
  EXPECT_TRUE(gpu.side.empty());
  // Eager and captured runs call NCCL; the replay does not need to.
  size_t buckets = 0;
  for (const rt::Step &s : program.program.entry("train_step")->steps)
    buckets += s.kind == rt::Step::Kind::AllReduce;
  EXPECT_EQ(gpu.allReduces, int(2 * buckets));
  EXPECT_EQ(gpu.captures, 1);
}

/// A job of one rank (kiln_run_step --one-rank, the GPU test set's check
/// of NCCL on one GPU): its buckets still go through NCCL, a communicator
/// of one made from the broadcast id, eagerly and inside the captured
/// graph, and its steps are a single process's.
TEST_F(FakeGpuTest, OneRankJobRunsItsBucketsThroughNccl) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  const std::vector<rt::HostTensor> &inputs = fixture.inputs;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-nccl-one";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> sessions[2];
  ASSERT_TRUE(
      rt::Session::create(program.program, program.init, sessions[0]).ok());
  ASSERT_TRUE(openOnFakeGpu(program, dir, sessions[1]).ok());
  std::unique_ptr<rt::Communicator> job = rt::makeOneRankCommunicator(60);
  EXPECT_EQ(job->size(), 1);
  sessions[1]->setCommunicator(job.get());
  std::unique_ptr<rt::Trainer> trainers[2];
  for (int d = 0; d < 2; ++d)
    ASSERT_TRUE(
        rt::Trainer::create(*sessions[d], rt::LearningRate(), trainers[d])
            .ok());
  expectSameSteps("mlp_relu as a job of one rank", sessions, trainers, inputs);
  EXPECT_EQ(gpu.error, "");
  EXPECT_EQ(gpu.ncclJoins, 1);
  EXPECT_EQ(gpu.ncclRanks, 1);
  EXPECT_EQ(gpu.sideAllReduces, gpu.allReduces);
  size_t buckets = 0;
  for (const rt::Step &s : program.program.entry("train_step")->steps)
    buckets += s.kind == rt::Step::Kind::AllReduce;
  ASSERT_GT(buckets, 0u);
  EXPECT_EQ(gpu.allReduces, int(2 * buckets));
  EXPECT_EQ(gpu.captures, 1);
}

/// An all-reduce that fails: the run reports NCCL's error, and NCCL's
/// stream is joined back first (nothing of it left running or forked),
/// eagerly and while the step is captured as a graph.
TEST_F(FakeGpuTest, FailedAllReduceJoinsNcclsStream) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-nccl-fails";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> session;
  ASSERT_TRUE(openOnFakeGpu(fixture.program, dir, session).ok());
  kiln::test::DoublingCommunicator comm;
  session->setCommunicator(&comm);
  std::unique_ptr<rt::Trainer> trainer;
  ASSERT_TRUE(rt::Trainer::create(*session, rt::LearningRate(), trainer).ok());
  double loss = 0;
  // The first step runs eagerly; the second is captured.
  for (int step = 0; step < 2; ++step) {
    gpu.ncclFails = step == 1;
    rt::Status s = trainer->step(fixture.inputs, loss);
    if (step == 0) {
      ASSERT_TRUE(s.ok()) << s.message();
      continue;
    }
    ASSERT_FALSE(s.ok());
    EXPECT_NE(std::string(s.message()).find("NCCL: ncclAllReduce of"),
              std::string::npos)
        << s.message();
  }
  gpu.ncclFails = false;
  EXPECT_TRUE(gpu.side.empty()) << "NCCL's stream left forked";
  EXPECT_EQ(gpu.error, "");
  EXPECT_GT(gpu.sideAllReduces, 0);
}

/// A rank that never joins NCCL's communicator: the run fails after the
/// collective timeout, saying why, instead of waiting for ever.
TEST_F(FakeGpuTest, NcclInitBoundedByTheCollectiveTimeout) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  const std::vector<rt::HostTensor> &inputs = fixture.inputs;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-nccl-hang";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> session;
  ASSERT_TRUE(openOnFakeGpu(program, dir, session).ok());
  gpu.ncclInitDelay = std::chrono::milliseconds(1500);
  kiln::test::DoublingCommunicator comm;
  comm.timeoutSeconds = 0.2;
  session->setCommunicator(&comm);
  std::unique_ptr<rt::Trainer> trainer;
  ASSERT_TRUE(rt::Trainer::create(*session, rt::LearningRate(), trainer).ok());
  double loss = 0;
  auto start = std::chrono::steady_clock::now();
  rt::Status s = trainer->step(inputs, loss);
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), KILN_STATUS_DEADLINE_EXCEEDED);
  EXPECT_NE(std::string(s.message()).find(
                "NCCL's communicator of 2 ranks was not made within 0.2 s"),
            std::string::npos)
      << s.message();
  EXPECT_LT(seconds, 1.0);
  // The abandoned init ends later on its own thread; nothing waits for it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
}

/// A grouped, strided, dilated, unevenly padded convolution and both its
/// gradients, in blocks of 2 of 5 images: the CUDA backend's patches,
/// GEMMs and scatter give the CPU backend's results, eager and replayed.
/// The convolution of the two tests below: 5 images of 4 channels 9 x 8, 6
/// filters 3 x 3 in 2 groups, stride 2 x 1, dilation 1 x 2, top and left
/// padding 1 and 2; the bottom and right padding as the top and left
/// (`symmetric`, as cuDNN takes it) or 0 and 1 (which cuDNN cannot express:
/// im2col GEMMs, in blocks of 2 of 5 images).
/// A hand-built program: buffers laid out back to back, each 64-byte
/// aligned.
struct HandBuilt {
  kiln::codegen::EmittedProgram program;
  int32_t buffer(const std::string &name, rt::BufferKind kind,
                 std::vector<int64_t> shape) {
    rt::Program &p = program.program;
    rt::Buffer b{name, kind, rt::DType::F32, std::move(shape)};
    b.offset = p.arenaBytes;
    p.arenaBytes += (b.bytes() + 63) / 64 * 64;
    p.buffers.push_back(b);
    return int32_t(p.buffers.size() - 1);
  }
};

/// Runs entry `name` of `program` (inputs sin(0.7 i + buffer id)) on the
/// CPU and twice (eager, then captured) on the fake GPU, opened with the
/// environment variables `env` set: the same outputs each time.
void expectSameRuns(const kiln::codegen::EmittedProgram &program,
                    const std::string &name, const std::string &dir,
                    const std::vector<std::pair<std::string, std::string>>
                        &env = {}) {
  const rt::Program &p = program.program;
  ASSERT_TRUE(p.verify().ok()) << p.verify().message();
  const rt::Entry &entry = *p.entry(name);
  std::vector<std::vector<float>> values;
  std::vector<rt::HostTensor> inputs;
  for (int32_t id : entry.inputs) {
    const rt::Buffer &b = p.buffers[id];
    values.emplace_back(size_t(b.elements()));
    for (size_t i = 0; i < values.back().size(); ++i)
      values.back()[i] = float(std::sin(0.7 * double(i) + id));
  }
  for (size_t i = 0; i < entry.inputs.size(); ++i) {
    const rt::Buffer &b = p.buffers[entry.inputs[i]];
    inputs.push_back({b.name, b.dtype, b.shape, values[i].data(),
                      size_t(b.bytes())});
  }
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> cpu, cuda;
  ASSERT_TRUE(rt::Session::create(p, {}, cpu).ok());
  for (const auto &[variable, value] : env)
    setenv(variable.c_str(), value.c_str(), 1);
  rt::Status opened = openOnFakeGpu(program, dir, cuda);
  for (const auto &[variable, value] : env)
    unsetenv(variable.c_str());
  ASSERT_TRUE(opened.ok()) << opened.message();
  std::vector<rt::HostTensor> expected, actual;
  ASSERT_TRUE(cpu->run(name, inputs, expected).ok());
  for (int run = 0; run < 2; ++run) {
    rt::Status s = cuda->run(name, inputs, actual);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t o = 0; o < actual.size(); ++o) {
      const auto *a = static_cast<const float *>(expected[o].data);
      const auto *b = static_cast<const float *>(actual[o].data);
      for (size_t i = 0; i < expected[o].bytes / 4; ++i)
        ASSERT_NEAR(a[i], b[i], 1e-5 * (1 + std::fabs(a[i])))
            << expected[o].name << "[" << i << "] run " << run;
    }
  }
}

void checkGroupedConvolution(
    bool symmetric, std::string dir = "",
    std::vector<std::pair<std::string, std::string>> env = {}) {
  HandBuilt built;
  using K = rt::BufferKind;
  int32_t x = built.buffer("x", K::Input, {5, 4, 9, 8}),
          w = built.buffer("w", K::Input, {6, 2, 3, 3}),
          bias = built.buffer("bias", K::Input, {6}),
          dy = built.buffer("dy", K::Input,
                            {5, 6, symmetric ? 5 : 4, symmetric ? 8 : 7}),
          y = built.buffer("y", K::Output,
                           {5, 6, symmetric ? 5 : 4, symmetric ? 8 : 7}),
          dx = built.buffer("dx", K::Output, {5, 4, 9, 8}),
          dw = built.buffer("dw", K::Output, {6, 2, 3, 3});
  rt::ConvCall c{x, w, bias, y};
  c.n = 5, c.c = 4, c.h = 9, c.w = 8, c.m = 6, c.kh = 3, c.kw = 3;
  // (9 + 1 + 1|0 - 2 - 1) / 2 + 1, (8 + 2 + 2|1 - 4 - 1) + 1
  c.oh = symmetric ? 5 : 4, c.ow = symmetric ? 8 : 7;
  c.strideH = 2, c.dilationW = 2, c.padTop = 1, c.padLeft = 2, c.group = 2;
  rt::Entry entry;
  entry.name = "conv";
  entry.inputs = {x, w, bias, dy};
  entry.outputs = {y, dx, dw};
  entry.steps.push_back(rt::Step::convolution(c));
  rt::ConvCall data = c, filter = c;
  data.mode = rt::ConvCall::Mode::BackwardData;
  data.input = dy, data.bias = -1, data.out = dx;
  filter.mode = rt::ConvCall::Mode::BackwardFilter;
  filter.weight = dy, filter.bias = -1, filter.out = dw;
  entry.steps.push_back(rt::Step::convolution(data));
  entry.steps.push_back(rt::Step::convolution(filter));
  built.program.program.entries.push_back(entry);
  // 2352 bytes an image: blocks of 2.
  if (dir.empty())
    dir = testing::TempDir() + "/kiln-cuda-backend-grouped-conv" +
          (symmetric ? "-symmetric" : "");
  env.push_back({"KILN_CUDA_CONV_WORKSPACE", "5000"});
  expectSameRuns(built.program, "conv", dir, env);
  if (testing::Test::HasFatalFailure())
    return;
  EXPECT_EQ(gpu.error, "");
  EXPECT_EQ(gpu.captures, 1);
  if (symmetric) {
    // Per run (eager, captured): the three convolutions on cuDNN.
    EXPECT_EQ(gpu.dnnConvolutions, 2 * 3);
    EXPECT_EQ(gpu.matmuls, 0);
  } else {
    // Per run: 3 blocks x 2 groups x (patches or gather, GEMM, scatter or
    // col2im) for each of the three convolutions, on cuBLASLt.
    EXPECT_EQ(gpu.dnnConvolutions, 0);
    EXPECT_EQ(gpu.matmuls, 2 * 3 * 2 * 3);
  }
}

TEST_F(FakeGpuTest, GroupedConvolutionOnCudnnMatchesTheCpuBackend) {
  checkGroupedConvolution(true);
}

TEST_F(FakeGpuTest, UnevenlyPaddedConvolutionInBlocksMatchesTheCpuBackend) {
  checkGroupedConvolution(false);
}

/// An algorithm that needs 66 MiB of workspace (as cuDNN's heuristics
/// choose for ResNet-18's first layers on an H100) runs on cuDNN: the cap
/// for cuDNN is 256 MiB (at 64 MiB the convolutions fell back to slower
/// choices there; here, with no other algorithm, to im2col GEMMs).
/// KILN_PROFILE, as the session opens, names each convolution's choice.
TEST_F(FakeGpuTest, CudnnAlgorithmsMayTakeMoreThan64MiB) {
  fakeHeuristicWorkspace = size_t(66) << 20;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-conv-66mib";
  testing::internal::CaptureStderr();
  checkGroupedConvolution(true, dir, {{"KILN_PROFILE", "1"}});
  std::string report = testing::internal::GetCapturedStderr();
  fakeHeuristicWorkspace = kFakeDnnWorkspace;
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.dnnConvolutions, 2 * 3);
  EXPECT_EQ(gpu.dnnAlgos, std::vector<int>(2 * 3, 0));
  for (const char *mode : {"forward", "input gradient", "filter gradient"})
    EXPECT_NE(report.find(std::string("convolution ") + mode +
                          " of 5x4x9x8 by 6x2x3x3: cuDNN algorithm 0, math " +
                          std::to_string(cu::CUDNN_FMA_MATH) +
                          ", workspace 66.0 MiB"),
              std::string::npos)
        << mode << "\n"
        << report;
}

/// cuDNN's algorithms: by default the heuristics' first that fits (0: not
/// 1, TF32 in an fp32 run). With KILN_CUDNN_FIND=1, as measured
/// (cudnnFind*): the fastest that fits the workspace and the precision (not
/// 5, which needs 1 TiB, nor 1), once per convolution and GPU: kept in the
/// kernel cache, a second session measures nothing.
TEST_F(FakeGpuTest, CudnnAlgorithmsMeasuredOnceAndKept) {
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-conv-find";
  std::filesystem::remove_all(dir);
  checkGroupedConvolution(true, dir);
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.dnnFinds, 0);
  EXPECT_EQ(gpu.dnnAlgos, std::vector<int>(2 * 3, 0));
  checkGroupedConvolution(true, dir, {{"KILN_CUDNN_FIND", "1"}});
  EXPECT_EQ(gpu.dnnFinds, 3);
  EXPECT_EQ(gpu.dnnAlgos, std::vector<int>(2 * 3, 2));
  checkGroupedConvolution(true, dir, {{"KILN_CUDNN_FIND", "1"}});
  EXPECT_EQ(gpu.dnnFinds, 0) << "measured again: not kept in " << dir;
  EXPECT_EQ(gpu.dnnAlgos, std::vector<int>(2 * 3, 2));
}

/// Every form of a GEMM's C as the CUDA backend maps it onto cuBLASLt: a
/// row of N with beta 1 and a ReLU (the RELU_BIAS epilogue; twice, the
/// second planned with the first's algorithm), a row with
/// another beta (broadcast into the output by the runtime's kiln_fill,
/// then beta), one value, an M x N matrix shared by a batch, and the
/// gradient through a ReLU with the bias gradient (kiln_relu_bias_grad).
void buildGemmForms(HandBuilt &built) {
  using K = rt::BufferKind;
  int32_t a = built.buffer("a", K::Input, {2, 4, 3}),
          b = built.buffer("b", K::Input, {5, 3}),
          row = built.buffer("row", K::Input, {5}),
          one = built.buffer("one", K::Input, {1}),
          full = built.buffer("full", K::Input, {4, 5}),
          mask = built.buffer("mask", K::Input, {4, 5}),
          epilogue = built.buffer("epilogue", K::Output, {4, 5}),
          scaled = built.buffer("scaled", K::Output, {4, 5}),
          scalar = built.buffer("scalar", K::Output, {5, 4}),
          batched = built.buffer("batched", K::Output, {2, 4, 5}),
          grad = built.buffer("grad", K::Output, {4, 5}),
          biasGrad = built.buffer("bias_grad", K::Output, {5}),
          again = built.buffer("again", K::Output, {4, 5});
  rt::Entry entry;
  entry.name = "gemms";
  entry.inputs = {a, b, row, one, full, mask};
  entry.outputs = {epilogue, scaled, scalar, batched, grad, biasGrad, again};
  rt::GemmCall g{a, b, row, epilogue};
  g.transB = true, g.m = 4, g.n = 5, g.k = 3, g.relu = true;
  entry.steps.push_back(rt::Step::call(g));
  // The same form again (another output): cuBLASLt is asked once.
  rt::GemmCall same = g;
  same.out = again;
  entry.steps.push_back(rt::Step::call(same));
  g.out = scaled, g.relu = false, g.beta = 2, g.alpha = 0.5;
  entry.steps.push_back(rt::Step::call(g));
  rt::GemmCall s{b, a, one, scalar};
  s.transB = true, s.m = 5, s.n = 4, s.k = 3, s.beta = 0.25;
  entry.steps.push_back(rt::Step::call(s));
  rt::GemmCall batch{a, b, full, batched};
  batch.transB = true, batch.m = 4, batch.n = 5, batch.k = 3, batch.batch = 2;
  batch.strideA = 12, batch.strideOut = 20;
  entry.steps.push_back(rt::Step::call(batch));
  rt::GemmCall relu{a, b, -1, grad};
  relu.transB = true, relu.m = 4, relu.n = 5, relu.k = 3, relu.beta = 0;
  relu.reluMask = mask, relu.biasGrad = biasGrad;
  entry.steps.push_back(rt::Step::call(relu));
  built.program.program.entries.push_back(entry);
}

TEST_F(FakeGpuTest, GemmFormsMatchTheCpuBackend) {
  HandBuilt built;
  buildGemmForms(built);
  expectSameRuns(built.program, "gemms",
                 testing::TempDir() + "/kiln-cuda-backend-gemm-forms");
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.error, "");
  // Per run (eager, captured): six cuBLASLt calls.
  EXPECT_EQ(gpu.matmuls, 2 * 6);
  // Six GEMMs of five forms: cuBLASLt's heuristics asked once a form.
  EXPECT_EQ(gpu.heuristics, 5);
  // Without KILN_GEMM_TUNE, the heuristic's first.
  EXPECT_EQ(gpu.matmulAlgos, std::vector<int>(2 * 6, 0));
}

/// KILN_GEMM_TUNE=1: in the first (eager) run each form's candidates are
/// timed on the step's own operands, and every GEMM of the form then takes
/// the fastest (candidate 2 of 3 here), in the captured run too; GEMMs that
/// broadcast C into their output first (and read it) keep the heuristic's
/// choice. The choices are kept in the kernel cache: a second session
/// times nothing and runs the same; results match the CPU backend's
/// throughout. A kept choice cuBLASLt no longer accepts is measured again.
TEST_F(FakeGpuTest, GemmAlgorithmsMeasuredOnceAndKept) {
  HandBuilt built;
  buildGemmForms(built);
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-gemm-tune";
  std::filesystem::remove_all(dir);
  gpu.gemmAlgoDelaysUs = {3000, 1500, 0};
  struct Reset {
    ~Reset() { gpu.gemmAlgoDelaysUs.clear(); }
  } reset;
  // The six GEMMs of a run: four take the measured choice (the first two
  // share a form), the two with a broadcast C (scaled, scalar) do not.
  const std::vector<int> tuned = {2, 2, 0, 0, 2, 2};
  std::vector<int> twice = tuned;
  twice.insert(twice.end(), tuned.begin(), tuned.end());
  // (KILN_PROFILE for the runs too: each run then goes step by step.)
  std::string report = profiledStderr([&] {
    expectSameRuns(built.program, "gemms", dir, {{"KILN_GEMM_TUNE", "1"}});
  });
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.error, "");
  // Three forms timed: each candidate once to warm up, then five times.
  EXPECT_EQ(gpu.matmuls, 2 * 6 + 3 * 3 * 6);
  ASSERT_GE(gpu.matmulAlgos.size(), 6u);
  EXPECT_EQ(std::vector<int>(gpu.matmulAlgos.end() - 6, gpu.matmulAlgos.end()),
            tuned);
  EXPECT_NE(report.find("kiln profile: GEMM 4x5x3 (batch 1): cuBLASLt's "
                        "candidate 3 of 3 measured fastest"),
            std::string::npos)
      << report;
  // A second session: the kept choices, checked by cuBLASLt, nothing timed.
  expectSameRuns(built.program, "gemms", dir, {{"KILN_GEMM_TUNE", "1"}});
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.matmuls, 2 * 6);
  EXPECT_EQ(gpu.matmulAlgos, twice);
  EXPECT_EQ(gpu.algoChecks, 3);
  // Kept choices cuBLASLt refuses (here: a candidate it no longer has)
  // are measured again.
  gpu.gemmAlgoDelaysUs = {0, 1500};
  expectSameRuns(built.program, "gemms", dir, {{"KILN_GEMM_TUNE", "1"}});
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.matmuls, 2 * 6 + 3 * 2 * 6);
  EXPECT_EQ(std::vector<int>(gpu.matmulAlgos.end() - 6, gpu.matmulAlgos.end()),
            std::vector<int>(6, 0));
}

/// KILN_GEMM_TUNE=1 where nothing can be timed (no events): the runs go on
/// with the heuristic's first, and the forms are not tried again.
TEST_F(FakeGpuTest, GemmTuningThatCannotTimeKeepsTheHeuristicsChoice) {
  HandBuilt built;
  buildGemmForms(built);
  std::string dir =
      testing::TempDir() + "/kiln-cuda-backend-gemm-tune-no-events";
  std::filesystem::remove_all(dir);
  gpu.gemmAlgoDelaysUs = {1500, 0};
  gpu.eventsFail = true;
  struct Reset {
    ~Reset() {
      gpu.gemmAlgoDelaysUs.clear();
      gpu.eventsFail = false;
    }
  } reset;
  expectSameRuns(built.program, "gemms", dir, {{"KILN_GEMM_TUNE", "1"}});
  if (HasFatalFailure())
    return;
  EXPECT_EQ(gpu.error, "");
  EXPECT_EQ(gpu.matmuls, 2 * 6);
  EXPECT_EQ(gpu.matmulAlgos, std::vector<int>(2 * 6, 0));
}

/// The embedding gradient step (kiln.embedding_grad): ids with repeats, a
/// negative one (counted from the rows) and out-of-range ones (adding
/// nothing), as I32 and as I64. Each session runs the entry twice with one
/// set of ids (eager, then captured) and twice with another (replayed),
/// in which rows that had positions have none: their heads are stale and
/// must not count. Every run equals the CPU backend's bit for bit (both
/// add a row's positions in order, from zero).
TEST_F(FakeGpuTest, EmbeddingGradientsMatchTheCpuBackend) {
  HandBuilt built;
  using K = rt::BufferKind;
  const int64_t n = 11, rows = 6, width = 5;
  rt::Program &p = built.program.program;
  auto buffer = [&](const std::string &name, K kind, rt::DType t,
                    std::vector<int64_t> shape) {
    int32_t id = built.buffer(name, kind, {});
    p.arenaBytes = p.buffers[id].offset;
    p.buffers[id].dtype = t;
    p.buffers[id].shape = std::move(shape);
    p.arenaBytes += (p.buffers[id].bytes() + 63) / 64 * 64;
    return id;
  };
  int32_t updates = buffer("updates", K::Input, rt::DType::F32, {n, width});
  rt::Entry entry;
  entry.name = "embedding";
  entry.inputs = {updates};
  for (rt::DType t : {rt::DType::I32, rt::DType::I64}) {
    std::string suffix = t == rt::DType::I32 ? "32" : "64";
    rt::EmbeddingGradCall c;
    c.ids = buffer("ids" + suffix, K::Input, t, {n});
    c.updates = updates;
    c.out = buffer("out" + suffix, K::Output, rt::DType::F32, {rows, width});
    c.next = buffer("next" + suffix, K::Temp, rt::DType::I32, {n});
    c.head = buffer("head" + suffix, K::Temp, rt::DType::I32, {rows});
    c.n = n, c.width = width, c.rows = rows;
    entry.inputs.push_back(c.ids);
    entry.outputs.push_back(c.out);
    entry.steps.push_back(rt::Step::embeddingGrad(c));
  }
  p.entries.push_back(entry);
  ASSERT_TRUE(p.verify().ok()) << p.verify().message();

  std::string dir = testing::TempDir() + "/kiln-cuda-backend-embedding";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> cpu, cuda;
  ASSERT_TRUE(rt::Session::create(p, {}, cpu).ok());
  {
    rt::Status o = openOnFakeGpu(built.program, dir, cuda);
    ASSERT_TRUE(o.ok()) << o.message();
  }
  std::vector<float> values(size_t(n * width));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = float(std::sin(0.7 * double(i)));
  const std::vector<int64_t> idSets[2] = {
      {2, 5, 2, -1, 0, 7, 2, -7, 3, 5, 0}, // Rows 2, 5, 2, 5, 0, -, ...
      {1, 1, 4, 4, 1, 3, 3, 0, 1, 4, 4}};  // Rows 2 and 5 none now.
  for (int set = 0; set < 2; ++set) {
    std::vector<int32_t> ids32(idSets[set].begin(), idSets[set].end());
    std::vector<int64_t> ids64 = idSets[set];
    std::vector<rt::HostTensor> inputs = {
        {"updates", rt::DType::F32, {n, width}, values.data(),
         values.size() * 4},
        {"ids32", rt::DType::I32, {n}, ids32.data(), ids32.size() * 4},
        {"ids64", rt::DType::I64, {n}, ids64.data(), ids64.size() * 8}};
    std::vector<rt::HostTensor> expected, actual;
    ASSERT_TRUE(cpu->run("embedding", inputs, expected).ok());
    // The CPU's rows: what the ids say (a check of the reference itself).
    const float *row0 = static_cast<const float *>(expected[0].data);
    EXPECT_EQ(row0[2 * width], set == 0 ? values[0] + values[2 * width] +
                                              values[6 * width]
                                        : 0.0f);
    for (int run = 0; run < 2; ++run) {
      rt::Status s = cuda->run("embedding", inputs, actual);
      ASSERT_TRUE(s.ok()) << s.message();
      ASSERT_EQ(actual.size(), 2u);
      for (size_t o = 0; o < 2; ++o)
        for (int64_t i = 0; i < rows * width; ++i)
          ASSERT_EQ(static_cast<const float *>(expected[o].data)[i],
                    static_cast<const float *>(actual[o].data)[i])
              << expected[o].name << "[" << i << "] ids " << set << " run "
              << run;
    }
  }
  EXPECT_GT(gpu.graphLaunches, 0);
  EXPECT_EQ(gpu.error, "");
}

/// The runtime's own kernels at a GPU's block size (two blocks of 256
/// threads; the fake GPU runs them with four): column sums through a ReLU's
/// gradient (two strips of 32 columns and a part, eight row groups), an
/// operand's sums over k stored either way, and an embedding gradient over
/// more ids than a tile (also with one id in most positions), with garbage
/// left in its row ends. Each equals a
/// direct loop (the embedding's bit for bit).
TEST_F(FakeGpuTest, RuntimeKernelsAtAGpusBlockSize) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-block-size";
  std::filesystem::create_directories(dir);
  std::unique_ptr<rt::Session> session;
  ASSERT_TRUE(openOnFakeGpu(fixture.program, dir, session).ok());
  auto run = reinterpret_cast<void (*)(void *, int, const long long *,
                                       unsigned, unsigned)>(
      dlsym(gpu.module, "kiln_host_builtin"));
  ASSERT_NE(run, nullptr);
  using L = long long;
  auto at = [](const void *x) { return L(reinterpret_cast<uintptr_t>(x)); };
  auto call = [&](const char *name, std::vector<L> v) {
    void *f = dlsym(gpu.module, name);
    ASSERT_NE(f, nullptr) << name;
    run(f, int(v.size()), v.data(), 2, 256);
  };

  // Through a ReLU's gradient, then column sums: 300 x 70.
  const int64_t m = 300, n = 70;
  std::vector<float> out(static_cast<size_t>(m * n)), mask(out.size()), bias(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = float(std::sin(0.3 * double(i)));
    mask[i] = float(std::cos(0.7 * double(i)));
  }
  std::vector<float> through = out, sums(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    double acc = 0;
    for (int64_t r = 0; r < m; ++r) {
      float &v = through[size_t(r * n + j)];
      v = mask[size_t(r * n + j)] > 0 ? v : 0.0f;
      acc += v;
    }
    sums[size_t(j)] = float(acc);
  }
  call("kiln_relu_bias_grad_f32", {at(out.data()), at(mask.data()),
                                   at(bias.data()), m, n});
  EXPECT_EQ(out, through);
  for (int64_t j = 0; j < n; ++j)
    EXPECT_NEAR(bias[size_t(j)], sums[size_t(j)], 1e-6) << j;

  // An operand's sums over k: stored [k, count] (column sums) and
  // [count, k] (row sums), k = 300, count = 70.
  std::vector<float> rowSums(static_cast<size_t>(n)), columnSums(static_cast<size_t>(n));
  std::vector<float> transposed(out.size());
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j)
      transposed[size_t(j * m + r)] = out[size_t(r * n + j)];
  call("kiln_operand_sum_f32", {at(out.data()), at(columnSums.data()), n, m, 1});
  call("kiln_operand_sum_f32",
       {at(transposed.data()), at(rowSums.data()), n, m, 0});
  for (int64_t j = 0; j < n; ++j) {
    EXPECT_NEAR(columnSums[size_t(j)], sums[size_t(j)], 1e-6) << j;
    EXPECT_NEAR(rowSums[size_t(j)], sums[size_t(j)], 1e-6) << j;
  }

  // An embedding gradient: 600 ids (three tiles; block 0 takes two
  // passes) into 50 rows of 7, some ids negative or out of range; the
  // row ends hold garbage, as a reused buffer would. Then with one id in
  // most positions (a frequent token of real text).
  for (bool frequent : {false, true}) {
    SCOPED_TRACE(frequent ? "one frequent id" : "ids spread over the rows");
    const int64_t ids = 600, rows = 50, width = 7;
    std::vector<int64_t> id(static_cast<size_t>(ids));
    for (int64_t p = 0; p < ids; ++p)
      id[size_t(p)] = frequent && p % 9 ? 7 : (p * 37 + p / 7) % 111 - 55;
    std::vector<float> updates(static_cast<size_t>(ids * width)),
        table(static_cast<size_t>(rows * width)), expected(table.size(), 0.0f);
    for (size_t i = 0; i < updates.size(); ++i)
      updates[i] = float(std::sin(1.3 * double(i)));
    for (int64_t p = 0; p < ids; ++p) {
      int64_t r = id[size_t(p)] < 0 ? id[size_t(p)] + rows : id[size_t(p)];
      if (r < 0 || r >= rows)
        continue;
      for (int64_t j = 0; j < width; ++j)
        expected[size_t(r * width + j)] += updates[size_t(p * width + j)];
    }
    std::vector<int32_t> rank(static_cast<size_t>(ids)),
        ends(static_cast<size_t>(rows)), order(static_cast<size_t>(ids), -1);
    for (int64_t r = 0; r < rows; ++r)
      ends[size_t(r)] = int32_t((r * 13) % 700) - 50;
    call("kiln_embedding_clear", {at(rank.data()), at(ends.data()), ids, rows});
    call("kiln_embedding_ranks_i64",
         {at(id.data()), at(rank.data()), at(ends.data()), ids, rows});
    call("kiln_embedding_offsets", {at(ends.data()), rows});
    call("kiln_embedding_order_i64",
         {at(id.data()), at(rank.data()), at(ends.data()), at(order.data()),
          ids, rows});
    call("kiln_embedding_rows_f32",
         {at(ends.data()), at(order.data()), at(updates.data()),
          at(table.data()), rows, width});
    EXPECT_EQ(table, expected);
    // The positions sorted by row, each row's in order.
    std::vector<int32_t> sorted;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t p = 0; p < ids; ++p)
        if ((id[size_t(p)] < 0 ? id[size_t(p)] + rows : id[size_t(p)]) == r)
          sorted.push_back(int32_t(p));
    order.resize(sorted.size());
    EXPECT_EQ(order, sorted);
  }
  EXPECT_EQ(gpu.error, "");
}

/// A GPU newer than NVRTC knows (a made-up sm_200): the kernels are
/// compiled to PTX for the newest architecture NVRTC has, which the driver
/// compiles for the GPU; the artifact's PTX, where it carries some, is used
/// without NVRTC. A GPU older than NVRTC supports is an error saying so.
TEST_F(FakeGpuTest, GpusNewerThanNvrtcGetPtx) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  const kiln::codegen::EmittedProgram &program = fixture.program;
  std::string dir = testing::TempDir() + "/kiln-cuda-backend-ptx";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  cu::Nvrtc *nvrtc = nullptr;
  ASSERT_TRUE(cu::Nvrtc::get(nvrtc).ok());
  ASSERT_FALSE(nvrtc->architectures().empty());
  int newest = nvrtc->architectures().back();
  std::string target;
  ASSERT_TRUE(nvrtc->target("sm_200", target).ok());
  EXPECT_EQ(target, "compute_" + std::to_string(newest));
  ASSERT_TRUE(nvrtc->target("sm_90", target).ok());
  EXPECT_EQ(target, "sm_90");

  // Both modules (the program's, the runtime's builtins) from NVRTC's PTX;
  // the steps run as on any GPU.
  {
    std::unique_ptr<rt::Session> session;
    rt::Status opened = openOnFakeGpu(program, dir, session, 20, 0);
    ASSERT_TRUE(opened.ok()) << opened.toString();
    EXPECT_EQ(gpu.loaded, (std::vector<std::string>{"//\n/", "//\n/"}));
    std::unique_ptr<rt::Trainer> trainer;
    ASSERT_TRUE(rt::Trainer::create(*session, rt::LearningRate(), trainer).ok());
    double loss = 0;
    ASSERT_TRUE(trainer->step(fixture.inputs, loss).ok());
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_EQ(gpu.error, "");
  }
  // The artifact's PTX for the newest architecture not newer than the GPU
  // (compute_90 of compute_80, compute_90 and compute_210 for an sm_200).
  {
    std::unique_ptr<rt::Session> session;
    rt::Status opened = openOnFakeGpu(
        program, dir, session, 20, 0,
        {{"compute_80", {'P', '8', '0', 0}},
         {"compute_210", {'P', '2', '1', 0}},
         {"compute_90", {'P', '9', '0', 0}}});
    ASSERT_TRUE(opened.ok()) << opened.toString();
    ASSERT_FALSE(gpu.loaded.empty());
    EXPECT_EQ(gpu.loaded[0], std::string("P90", 4));
  }
  // Artifact PTX the driver refuses (a newer CUDA's): NVRTC's instead.
  {
    std::unique_ptr<rt::Session> session;
    rt::Status opened = openOnFakeGpu(program, dir, session, 20, 0,
                                      {{"compute_90", {'X', '9', '0', 0}}});
    ASSERT_TRUE(opened.ok()) << opened.toString();
    ASSERT_GE(gpu.loaded.size(), 2u);
    EXPECT_EQ(gpu.loaded[0], std::string("X90", 4));
    EXPECT_EQ(gpu.loaded[1], "//\n/");
  }
  // An exact cubin wins over PTX.
  {
    std::unique_ptr<rt::Session> session;
    ASSERT_TRUE(openOnFakeGpu(program, dir, session, 8, 0,
                              {{"compute_80", {'P', '8', '0', 0}}})
                    .ok());
    ASSERT_FALSE(gpu.loaded.empty());
    EXPECT_EQ(gpu.loaded[0], "\x7f" "ELF");
  }
  // Older than anything NVRTC compiles for.
  {
    std::unique_ptr<rt::Session> session;
    rt::Status opened = openOnFakeGpu(program, dir, session, 3, 5);
    ASSERT_FALSE(opened.ok());
    std::string message = opened.message();
    EXPECT_NE(message.find("the artifact has no cubin for this GPU (sm_35) "
                           "and NVRTC " +
                           nvrtc->version() + " cannot compile for sm_35: it "
                           "supports sm_" +
                           std::to_string(nvrtc->architectures().front())),
              std::string::npos)
        << message;
  }
}

/// The printed module names its contract with the runtime; a module from a
/// kiln with another (none named: the first) is refused by name, before
/// any kernel would be launched with the wrong table.
TEST(CudaAbi, PrintedModulesFollowTheRuntimesContract) {
  kiln::test::TrainingFixture fixture("mlp_relu", "cross_entropy");
  ASSERT_TRUE(fixture.ok) << fixture.error;
  kiln::codegen::cuda::Module module;
  std::string error;
  ASSERT_TRUE(kiln::codegen::cuda::printModule(fixture.program.program.kernels,
                                               module, error))
      << error;
  EXPECT_TRUE(cu::checkAbi(module.source).ok());
  std::string mark = "#define KILN_CUDA_ABI " + std::to_string(rt::kCudaAbi);
  size_t at = module.source.find(mark);
  ASSERT_NE(at, std::string::npos);
  std::string old = module.source;
  old.erase(at, mark.size());
  rt::Status s = cu::checkAbi(old);
  EXPECT_EQ(s.code(), KILN_STATUS_FAILED_PRECONDITION);
  EXPECT_NE(
      std::string(s.message())
          .find("contract with the runtime is version 1; this runtime's is "
                "version " +
                std::to_string(rt::kCudaAbi) + ": compile the model again"),
      std::string::npos)
      << s.message();
  std::string newer = module.source;
  newer.replace(at, mark.size(), "#define KILN_CUDA_ABI 99");
  EXPECT_NE(std::string(cu::checkAbi(newer).message()).find("version 99"),
            std::string::npos);
}

// --- The kernel cache (real NVRTC, no GPU) ---------------------------------

TEST(KernelCache, SecondLoadCompilesNothing) {
#ifndef KILN_TEST_NVRTC
  GTEST_SKIP() << "built without the CUDA toolkit";
#endif
  cu::Nvrtc *nvrtc = nullptr;
  ASSERT_TRUE(cu::Nvrtc::get(nvrtc).ok());
  std::string dir = testing::TempDir() + "/kiln-cache-test";
  std::filesystem::remove_all(dir);
  setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  EXPECT_EQ(cu::cacheDir(), dir);
  std::string source = cu::builtinsSource();
  std::vector<uint8_t> first, second, other;
  cu::CacheResult r1, r2, r3;
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_80", first, r1).ok());
  EXPECT_TRUE(r1.compiled);
  EXPECT_EQ(r1.warning, "");
  EXPECT_TRUE(std::filesystem::exists(r1.path));
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_80", second, r2).ok());
  EXPECT_FALSE(r2.compiled);
  EXPECT_EQ(r2.path, r1.path);
  EXPECT_EQ(first, second);
  // Another architecture, or another source, is another entry.
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_90", other, r3).ok());
  EXPECT_TRUE(r3.compiled);
  EXPECT_NE(r3.path, r1.path);
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source + "\n", "builtins", "sm_80", other, r3).ok());
  EXPECT_TRUE(r3.compiled);
  EXPECT_NE(r3.path, r1.path);

  // A truncated file is compiled again and replaced.
  std::filesystem::resize_file(r1.path, 20);
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_80", second, r2).ok());
  EXPECT_TRUE(r2.compiled);
  EXPECT_EQ(first, second);
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_80", second, r2).ok());
  EXPECT_FALSE(r2.compiled);

  // A cache that cannot be written: the cubin still comes, with a warning.
  std::string blocked = dir + "/file";
  std::ofstream(blocked) << "not a directory";
  setenv("KILN_CACHE_DIR", (blocked + "/cache").c_str(), 1);
  ASSERT_TRUE(cu::cachedCubin(*nvrtc, source, "builtins", "sm_80", second, r2).ok());
  EXPECT_TRUE(r2.compiled);
  EXPECT_EQ(first, second);
  EXPECT_NE(r2.warning.find("cannot keep the compiled kernels in"),
            std::string::npos)
      << r2.warning;
  unsetenv("KILN_CACHE_DIR");
}

TEST(KernelCache, CompileErrorsNameTheModuleAndCarryTheLog) {
#ifndef KILN_TEST_NVRTC
  GTEST_SKIP() << "built without the CUDA toolkit";
#endif
  cu::Nvrtc *nvrtc = nullptr;
  ASSERT_TRUE(cu::Nvrtc::get(nvrtc).ok());
  setenv("KILN_CACHE_DIR", (testing::TempDir() + "/kiln-cache-bad").c_str(), 1);
  std::vector<uint8_t> cubin;
  cu::CacheResult r;
  rt::Status s = cu::cachedCubin(*nvrtc, "this is not CUDA", "broken", "sm_80",
                                 cubin, r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("kernel 'broken'"), std::string::npos)
      << s.message();
  EXPECT_NE(std::string(s.message()).find("error"), std::string::npos);
  unsetenv("KILN_CACHE_DIR");
}

} // namespace
