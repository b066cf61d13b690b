//===- api.cpp - the CUDA driver and cuBLASLt, loaded at run time ---------===//
#include "api.h"

#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <mutex>

namespace kiln::runtime::cuda {
namespace {

const DriverApi *testDriver = nullptr;
const BlasLtApi *testBlas = nullptr;
const NcclApi *testNccl = nullptr;
const CudnnApi *testCudnn = nullptr;
bool testing = false; ///< setApisForTesting was called: no real library.

/// Binds `symbol` of `handle` into `fn`; records a missing one in `missing`.
template <typename Fn>
void bind(void *handle, Fn &fn, const char *symbol, std::string &missing) {
  fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
  if (!fn)
    missing += (missing.empty() ? "" : ", ") + std::string(symbol);
}

/// The process's table of one library. While tests set fakes, the fake
/// (null: the library is "not installed"); else the library, loaded once:
/// `load` fills the table and returns why it cannot be used ("" if it can).
template <typename Api>
Status loaded(const Api *fake, const char *what, const Api *&out,
              std::string (*load)(Api &)) {
  if (testing) {
    out = fake;
    return fake ? Status()
                : Status(KILN_STATUS_UNAVAILABLE,
                         std::string("no ") + what + " (testing)");
  }
  static Api api;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [&] { failure = load(api); });
  if (!failure.empty())
    return Status(KILN_STATUS_UNAVAILABLE, failure);
  out = &api;
  return Status();
}

} // namespace

void *openLibrary(const std::vector<std::string> &names, std::string &tried) {
  tried.clear();
  for (const std::string &name : names) {
    tried += (tried.empty() ? "" : ", ") + name;
    if (void *handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL))
      return handle;
  }
  std::vector<std::string> dirs;
  if (const char *home = std::getenv("CUDA_HOME"))
    dirs.push_back(std::string(home) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  for (const std::string &dir : dirs)
    for (const std::string &name : names) {
      std::string path = dir + name;
      tried += ", " + path;
      if (void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))
        return handle;
    }
  return nullptr;
}

std::string describe(const DriverApi &api, CUresult r) {
  const char *name = nullptr, *text = nullptr;
  if (api.getErrorName(r, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (api.getErrorString(r, &text) != CUDA_SUCCESS)
    text = nullptr;
  // What a driver that cannot describe its errors (the toolkit's stub
  // library) means by the ones that say no GPU is usable.
  if (!name) {
    static const std::pair<CUresult, const char *> known[] = {
        {2, "CUDA_ERROR_OUT_OF_MEMORY"},
        {3, "CUDA_ERROR_NOT_INITIALIZED"},
        {34, "CUDA_ERROR_STUB_LIBRARY (this libcuda is the CUDA toolkit's "
             "stub, not the NVIDIA driver's)"},
        {35, "CUDA_ERROR_INSUFFICIENT_DRIVER (the NVIDIA driver is older "
             "than this CUDA)"},
        {100, "CUDA_ERROR_NO_DEVICE (no GPU is visible; check "
              "CUDA_VISIBLE_DEVICES)"},
        {999, "CUDA_ERROR_UNKNOWN"}};
    for (const auto &[code, what] : known)
      if (code == r)
        return what;
    return "CUDA error " + std::to_string(r);
  }
  return std::string(name) +
         (text ? " (" + std::string(text) + ")" : std::string());
}

Status driver(const DriverApi *&out) {
  return loaded<DriverApi>(
      testDriver, "NVIDIA driver", out, [](DriverApi &api) -> std::string {
        const char *path = std::getenv("KILN_CUDA_DRIVER");
        std::string name = path && *path ? path : "libcuda.so.1";
        void *handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
          return "no NVIDIA driver: " + name + " cannot be opened (" +
                 dlerror() + ")";
        }
        std::string missing;
        bind(handle, api.init, "cuInit", missing);
        bind(handle, api.driverGetVersion, "cuDriverGetVersion", missing);
        bind(handle, api.getErrorName, "cuGetErrorName", missing);
        bind(handle, api.getErrorString, "cuGetErrorString", missing);
        bind(handle, api.deviceGetCount, "cuDeviceGetCount", missing);
        bind(handle, api.deviceGet, "cuDeviceGet", missing);
        bind(handle, api.deviceGetName, "cuDeviceGetName", missing);
        bind(handle, api.deviceGetAttribute, "cuDeviceGetAttribute", missing);
        bind(handle, api.deviceTotalMem, "cuDeviceTotalMem_v2", missing);
        bind(handle, api.primaryCtxRetain, "cuDevicePrimaryCtxRetain", missing);
        bind(handle, api.primaryCtxRelease, "cuDevicePrimaryCtxRelease_v2",
             missing);
        bind(handle, api.ctxPushCurrent, "cuCtxPushCurrent_v2", missing);
        bind(handle, api.ctxPopCurrent, "cuCtxPopCurrent_v2", missing);
        bind(handle, api.memAlloc, "cuMemAlloc_v2", missing);
        bind(handle, api.memFree, "cuMemFree_v2", missing);
        bind(handle, api.memAllocHost, "cuMemAllocHost_v2", missing);
        bind(handle, api.memFreeHost, "cuMemFreeHost", missing);
        bind(handle, api.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", missing);
        bind(handle, api.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", missing);
        bind(handle, api.memsetD8Async, "cuMemsetD8Async", missing);
        bind(handle, api.streamCreate, "cuStreamCreate", missing);
        bind(handle, api.streamDestroy, "cuStreamDestroy_v2", missing);
        bind(handle, api.streamSynchronize, "cuStreamSynchronize", missing);
        bind(handle, api.streamQuery, "cuStreamQuery", missing);
        bind(handle, api.moduleLoadData, "cuModuleLoadData", missing);
        bind(handle, api.moduleUnload, "cuModuleUnload", missing);
        bind(handle, api.moduleGetFunction, "cuModuleGetFunction", missing);
        bind(handle, api.launchKernel, "cuLaunchKernel", missing);
        bind(handle, api.streamBeginCapture, "cuStreamBeginCapture_v2",
             missing);
        bind(handle, api.streamEndCapture, "cuStreamEndCapture", missing);
        bind(handle, api.graphInstantiate, "cuGraphInstantiateWithFlags",
             missing);
        bind(handle, api.graphLaunch, "cuGraphLaunch", missing);
        bind(handle, api.graphExecDestroy, "cuGraphExecDestroy", missing);
        bind(handle, api.graphDestroy, "cuGraphDestroy", missing);
        if (!missing.empty()) {
          return "the NVIDIA driver's " + name + " lacks " + missing +
                 " (a driver for CUDA 12 or newer is required)";
        }
        // Optional: KILN_PROFILE uses them, and data-parallel runs to put
        // NCCL on a stream of its own.
        std::string optional;
        bind(handle, api.streamWaitEvent, "cuStreamWaitEvent", optional);
        bind(handle, api.eventCreate, "cuEventCreate", optional);
        bind(handle, api.eventRecord, "cuEventRecord", optional);
        bind(handle, api.eventDestroy, "cuEventDestroy_v2", optional);
        bind(handle, api.eventElapsedTime, "cuEventElapsedTime_v2", optional);
        if (!api.eventElapsedTime)
          bind(handle, api.eventElapsedTime, "cuEventElapsedTime", optional);
        if (CUresult r = api.init(0); r != CUDA_SUCCESS)
          return "the NVIDIA driver cannot initialize CUDA: cuInit: " +
                 describe(api, r);
        return "";
      });
}

Status blasLt(const BlasLtApi *&out) {
  return loaded<
      BlasLtApi>(testBlas, "cuBLASLt", out, [](BlasLtApi &api) -> std::string {
    // The major version the driver supports first: cuBLASLt 13 needs a
    // CUDA 13 driver.
    std::vector<std::string> names = {"libcublasLt.so.13", "libcublasLt.so.12"};
    const DriverApi *cu = nullptr;
    int version = 0;
    if (driver(cu).ok() && cu->driverGetVersion(&version) == CUDA_SUCCESS &&
        version < 13000)
      std::swap(names[0], names[1]);
    std::string tried;
    void *handle = openLibrary(names, tried);
    if (!handle) {
      return "cuBLASLt is not installed (tried " + tried +
             "); install the CUDA toolkit's cuBLAS or set CUDA_HOME";
    }
    std::string missing;
    bind(handle, api.getVersion, "cublasLtGetVersion", missing);
    bind(handle, api.getStatusString, "cublasLtGetStatusString", missing);
    bind(handle, api.create, "cublasLtCreate", missing);
    bind(handle, api.destroy, "cublasLtDestroy", missing);
    bind(handle, api.matmulDescCreate, "cublasLtMatmulDescCreate", missing);
    bind(handle, api.matmulDescDestroy, "cublasLtMatmulDescDestroy", missing);
    bind(handle, api.matmulDescSetAttribute, "cublasLtMatmulDescSetAttribute",
         missing);
    bind(handle, api.matrixLayoutCreate, "cublasLtMatrixLayoutCreate", missing);
    bind(handle, api.matrixLayoutDestroy, "cublasLtMatrixLayoutDestroy",
         missing);
    bind(handle, api.matrixLayoutSetAttribute,
         "cublasLtMatrixLayoutSetAttribute", missing);
    bind(handle, api.preferenceCreate, "cublasLtMatmulPreferenceCreate",
         missing);
    bind(handle, api.preferenceDestroy, "cublasLtMatmulPreferenceDestroy",
         missing);
    bind(handle, api.preferenceSetAttribute,
         "cublasLtMatmulPreferenceSetAttribute", missing);
    bind(handle, api.algoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic",
         missing);
    bind(handle, api.matmul, "cublasLtMatmul", missing);
    std::string optional;
    bind(handle, api.algoCheck, "cublasLtMatmulAlgoCheck", optional);
    if (!missing.empty())
      return "the cuBLASLt library found lacks " + missing +
             " (CUDA 12 or newer is required)";
    return "";
  });
}

Status nccl(const NcclApi *&out) {
  return loaded<NcclApi>(
      testNccl, "NCCL", out, [](NcclApi &api) -> std::string {
        std::string tried;
        void *handle = openLibrary({"libnccl.so.2"}, tried);
        if (!handle) {
          return "NCCL is not installed (tried " + tried +
                 "); data-parallel runs on GPUs need it";
        }
        std::string missing;
        bind(handle, api.getVersion, "ncclGetVersion", missing);
        bind(handle, api.getErrorString, "ncclGetErrorString", missing);
        bind(handle, api.getUniqueId, "ncclGetUniqueId", missing);
        bind(handle, api.commInitRank, "ncclCommInitRank", missing);
        bind(handle, api.commDestroy, "ncclCommDestroy", missing);
        bind(handle, api.commAbort, "ncclCommAbort", missing);
        bind(handle, api.commGetAsyncError, "ncclCommGetAsyncError", missing);
        bind(handle, api.allReduce, "ncclAllReduce", missing);
        if (!missing.empty())
          return "the NCCL library found lacks " + missing;
        int version = 0;
        api.getVersion(&version);
        if (version < 21000)
          return "NCCL " + std::to_string(version) +
                 " is too old (2.10 or newer averages in place)";
        return "";
      });
}

Status cudnn(const CudnnApi *&out) {
  return loaded<CudnnApi>(
      testCudnn, "cuDNN", out, [](CudnnApi &api) -> std::string {
        void *handle = nullptr;
        std::string tried;
        if (const char *dir = std::getenv("KILN_CUDNN_DIR"); dir && *dir) {
          // cuDNN opens its sub-libraries by bare name: load them from there
          // first (globally, each once its own dependencies are), so that those
          // opens find them although the directory is not on the library path.
          std::vector<std::string> subs;
          std::error_code error;
          for (const auto &f :
               std::filesystem::directory_iterator(dir, error)) {
            std::string name = f.path().filename().string();
            if (name.rfind("libcudnn_", 0) == 0 && name.size() > 5 &&
                name.compare(name.size() - 5, 5, ".so.9") == 0)
              subs.push_back(f.path().string());
          }
          for (size_t pass = 0; pass < subs.size() && !subs.empty(); ++pass)
            for (size_t i = 0; i < subs.size();)
              if (dlopen(subs[i].c_str(), RTLD_NOW | RTLD_GLOBAL))
                subs.erase(subs.begin() + long(i));
              else
                ++i;
          std::string path = std::string(dir) + "/libcudnn.so.9";
          handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
          tried = path + ", ";
        }
        std::string more;
        if (!handle)
          handle = openLibrary({"libcudnn.so.9"}, more);
        if (!handle) {
          return "cuDNN 9 is not installed (tried " + tried + more +
                 "; set KILN_CUDNN_DIR to the directory of libcudnn.so.9)";
        }
        std::string missing;
        bind(handle, api.getVersion, "cudnnGetVersion", missing);
        bind(handle, api.getErrorString, "cudnnGetErrorString", missing);
        bind(handle, api.create, "cudnnCreate", missing);
        bind(handle, api.destroy, "cudnnDestroy", missing);
        bind(handle, api.setStream, "cudnnSetStream", missing);
        bind(handle, api.createTensorDescriptor, "cudnnCreateTensorDescriptor",
             missing);
        bind(handle, api.destroyTensorDescriptor,
             "cudnnDestroyTensorDescriptor", missing);
        bind(handle, api.setTensor4dDescriptor, "cudnnSetTensor4dDescriptor",
             missing);
        bind(handle, api.createFilterDescriptor, "cudnnCreateFilterDescriptor",
             missing);
        bind(handle, api.destroyFilterDescriptor,
             "cudnnDestroyFilterDescriptor", missing);
        bind(handle, api.setFilter4dDescriptor, "cudnnSetFilter4dDescriptor",
             missing);
        bind(handle, api.createConvolutionDescriptor,
             "cudnnCreateConvolutionDescriptor", missing);
        bind(handle, api.destroyConvolutionDescriptor,
             "cudnnDestroyConvolutionDescriptor", missing);
        bind(handle, api.setConvolution2dDescriptor,
             "cudnnSetConvolution2dDescriptor", missing);
        bind(handle, api.setConvolutionGroupCount,
             "cudnnSetConvolutionGroupCount", missing);
        bind(handle, api.setConvolutionMathType, "cudnnSetConvolutionMathType",
             missing);
        bind(handle, api.getForwardAlgorithm,
             "cudnnGetConvolutionForwardAlgorithm_v7", missing);
        bind(handle, api.getBackwardDataAlgorithm,
             "cudnnGetConvolutionBackwardDataAlgorithm_v7", missing);
        bind(handle, api.getBackwardFilterAlgorithm,
             "cudnnGetConvolutionBackwardFilterAlgorithm_v7", missing);
        std::string optional; // (Without them: the heuristics' choice.)
        bind(handle, api.findForwardAlgorithm,
             "cudnnFindConvolutionForwardAlgorithm", optional);
        bind(handle, api.findBackwardDataAlgorithm,
             "cudnnFindConvolutionBackwardDataAlgorithm", optional);
        bind(handle, api.findBackwardFilterAlgorithm,
             "cudnnFindConvolutionBackwardFilterAlgorithm", optional);
        bind(handle, api.forward, "cudnnConvolutionForward", missing);
        bind(handle, api.backwardData, "cudnnConvolutionBackwardData", missing);
        bind(handle, api.backwardFilter, "cudnnConvolutionBackwardFilter",
             missing);
        bind(handle, api.addTensor, "cudnnAddTensor", missing);
        if (!missing.empty())
          return "the cuDNN library found lacks " + missing;
        return "";
      });
}

void setApisForTesting(const DriverApi *driver, const BlasLtApi *blas,
                       const NcclApi *nccl, const CudnnApi *cudnn) {
  testDriver = driver;
  testBlas = blas;
  testNccl = nccl;
  testCudnn = cudnn;
  testing = driver != nullptr;
}

} // namespace kiln::runtime::cuda
