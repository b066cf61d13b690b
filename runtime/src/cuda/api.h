//===- api.h - the CUDA driver and cuBLASLt, loaded at run time -----------===//
//
// kiln links no CUDA library (nvrtc.h): the CUDA backend opens the driver
// (libcuda.so.1, installed with the NVIDIA driver) and cuBLASLt with dlopen
// when a session asks for a GPU, and binds the functions it uses into these
// tables. The declarations below are the parts of cuda.h and cublasLt.h
// kiln needs (values as in CUDA 12 and 13), so building needs no toolkit.
//
// Tests replace the tables (setApisForTesting) with fakes that run on the
// CPU, to check everything the backend does around the GPU without one.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_CUDA_API_H
#define KILN_RUNTIME_SRC_CUDA_API_H

#include "kiln/runtime.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime::cuda {

// cuda.h
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUevent = struct CUevent_st *;
constexpr CUresult CUDA_SUCCESS = 0, CUDA_ERROR_NOT_READY = 600;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

struct DriverApi {
  CUresult (*init)(unsigned);
  CUresult (*driverGetVersion)(int *);
  CUresult (*getErrorName)(CUresult, const char **);
  CUresult (*getErrorString)(CUresult, const char **);
  CUresult (*deviceGetCount)(int *);
  CUresult (*deviceGet)(CUdevice *, int);
  CUresult (*deviceGetName)(char *, int, CUdevice);
  CUresult (*deviceGetAttribute)(int *, int, CUdevice);
  CUresult (*deviceTotalMem)(size_t *, CUdevice);
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*primaryCtxRelease)(CUdevice);
  CUresult (*ctxPushCurrent)(CUcontext);
  CUresult (*ctxPopCurrent)(CUcontext *);
  CUresult (*memAlloc)(CUdeviceptr *, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memAllocHost)(void **, size_t);
  CUresult (*memFreeHost)(void *);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*memsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*streamCreate)(CUstream *, unsigned);
  CUresult (*streamDestroy)(CUstream);
  CUresult (*streamSynchronize)(CUstream);
  CUresult (*streamQuery)(CUstream);
  CUresult (*moduleLoadData)(CUmodule *, const void *);
  CUresult (*moduleUnload)(CUmodule);
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CUstream, void **,
                           void **);
  CUresult (*streamBeginCapture)(CUstream, int);
  CUresult (*streamEndCapture)(CUstream, CUgraph *);
  CUresult (*graphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*graphLaunch)(CUgraphExec, CUstream);
  CUresult (*graphExecDestroy)(CUgraphExec);
  CUresult (*graphDestroy)(CUgraph);
  // Events time KILN_PROFILE's steps; a driver without them profiles
  // nothing (null).
  CUresult (*eventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*eventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*eventElapsedTime)(float *, CUevent, CUevent) = nullptr;
  CUresult (*eventDestroy)(CUevent) = nullptr;
  /// Data-parallel runs put NCCL on a stream of its own that waits for the
  /// gradients by events (and the step's stream for it); without it (null),
  /// on the step's stream.
  CUresult (*streamWaitEvent)(CUstream, CUevent, unsigned) = nullptr;
};

// cublasLt.h, library_types.h
using cublasStatus_t = int;
using cublasLtHandle_t = struct cublasLtContext *;
using cublasLtMatmulDesc_t = struct cublasLtMatmulDescOpaque_t *;
using cublasLtMatrixLayout_t = struct cublasLtMatrixLayoutOpaque_t *;
using cublasLtMatmulPreference_t = struct cublasLtMatmulPreferenceOpaque_t *;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr int CUDA_R_32F = 0, CUDA_R_64F = 1;
constexpr int CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
              CUBLAS_COMPUTE_64F = 70;
constexpr int32_t CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3, CUBLASLT_MATMUL_DESC_TRANSB = 4,
              CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
              CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;
constexpr uint32_t CUBLASLT_EPILOGUE_DEFAULT = 1, CUBLASLT_EPILOGUE_RELU = 2,
                   CUBLASLT_EPILOGUE_BIAS = 4, CUBLASLT_EPILOGUE_RELU_BIAS = 6,
                   CUBLASLT_EPILOGUE_BGRADA = 256,
                   CUBLASLT_EPILOGUE_BGRADB = 512;
constexpr int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
              CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;

struct BlasLtApi {
  size_t (*getVersion)();
  const char *(*getStatusString)(cublasStatus_t);
  cublasStatus_t (*create)(cublasLtHandle_t *);
  cublasStatus_t (*destroy)(cublasLtHandle_t);
  cublasStatus_t (*matmulDescCreate)(cublasLtMatmulDesc_t *, int, int);
  cublasStatus_t (*matmulDescDestroy)(cublasLtMatmulDesc_t);
  cublasStatus_t (*matmulDescSetAttribute)(cublasLtMatmulDesc_t, int,
                                           const void *, size_t);
  cublasStatus_t (*matrixLayoutCreate)(cublasLtMatrixLayout_t *, int,
                                       uint64_t, uint64_t, int64_t);
  cublasStatus_t (*matrixLayoutDestroy)(cublasLtMatrixLayout_t);
  cublasStatus_t (*matrixLayoutSetAttribute)(cublasLtMatrixLayout_t, int,
                                             const void *, size_t);
  cublasStatus_t (*preferenceCreate)(cublasLtMatmulPreference_t *);
  cublasStatus_t (*preferenceDestroy)(cublasLtMatmulPreference_t);
  cublasStatus_t (*preferenceSetAttribute)(cublasLtMatmulPreference_t, int,
                                           const void *, size_t);
  cublasStatus_t (*algoGetHeuristic)(
      cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
      cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
      cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *,
      int *);
  cublasStatus_t (*matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t,
                           const void *, const void *, cublasLtMatrixLayout_t,
                           const void *, cublasLtMatrixLayout_t, const void *,
                           const void *, cublasLtMatrixLayout_t, void *,
                           cublasLtMatrixLayout_t,
                           const cublasLtMatmulAlgo_t *, void *, size_t,
                           CUstream);
  /// Whether an algorithm (one kept from an earlier session's measurement,
  /// KILN_GEMM_TUNE) fits these descriptors, and its workspace; without it
  /// (null), kept algorithms are not used.
  cublasStatus_t (*algoCheck)(cublasLtHandle_t, cublasLtMatmulDesc_t,
                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                              const cublasLtMatmulAlgo_t *,
                              cublasLtMatmulHeuristicResult_t *) = nullptr;
};

// nccl.h
using ncclResult_t = int;
using ncclComm_t = struct ncclComm *;
struct ncclUniqueId {
  char internal[128];
};
constexpr ncclResult_t ncclSuccess = 0, ncclInProgress = 7;
constexpr int ncclSum = 0, ncclAvg = 4, ncclFloat32 = 7, ncclFloat64 = 8;

struct NcclApi {
  ncclResult_t (*getVersion)(int *);
  const char *(*getErrorString)(ncclResult_t);
  ncclResult_t (*getUniqueId)(ncclUniqueId *);
  ncclResult_t (*commInitRank)(ncclComm_t *, int, ncclUniqueId, int);
  ncclResult_t (*commDestroy)(ncclComm_t);
  ncclResult_t (*commAbort)(ncclComm_t);
  ncclResult_t (*commGetAsyncError)(ncclComm_t, ncclResult_t *);
  ncclResult_t (*allReduce)(const void *, void *, size_t, int, int,
                            ncclComm_t, CUstream);
};

// cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h (the legacy convolution API)
using cudnnStatus_t = int;
using cudnnHandle_t = struct cudnnContext *;
using cudnnTensorDescriptor_t = struct cudnnTensorStruct *;
using cudnnFilterDescriptor_t = struct cudnnFilterStruct *;
using cudnnConvolutionDescriptor_t = struct cudnnConvolutionStruct *;
/// cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t: one layout.
struct cudnnAlgoPerf_t {
  int algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  int determinism, mathType;
  int reserved[3];
};
constexpr cudnnStatus_t CUDNN_STATUS_SUCCESS = 0;
constexpr int CUDNN_TENSOR_NCHW = 0, CUDNN_DATA_FLOAT = 0,
              CUDNN_DATA_DOUBLE = 1, CUDNN_CROSS_CORRELATION = 1,
              CUDNN_DEFAULT_MATH = 0, CUDNN_FMA_MATH = 3;

struct CudnnApi {
  size_t (*getVersion)();
  const char *(*getErrorString)(cudnnStatus_t);
  cudnnStatus_t (*create)(cudnnHandle_t *);
  cudnnStatus_t (*destroy)(cudnnHandle_t);
  cudnnStatus_t (*setStream)(cudnnHandle_t, CUstream);
  cudnnStatus_t (*createTensorDescriptor)(cudnnTensorDescriptor_t *);
  cudnnStatus_t (*destroyTensorDescriptor)(cudnnTensorDescriptor_t);
  cudnnStatus_t (*setTensor4dDescriptor)(cudnnTensorDescriptor_t, int, int,
                                         int, int, int, int);
  cudnnStatus_t (*createFilterDescriptor)(cudnnFilterDescriptor_t *);
  cudnnStatus_t (*destroyFilterDescriptor)(cudnnFilterDescriptor_t);
  cudnnStatus_t (*setFilter4dDescriptor)(cudnnFilterDescriptor_t, int, int,
                                         int, int, int, int);
  cudnnStatus_t (*createConvolutionDescriptor)(cudnnConvolutionDescriptor_t *);
  cudnnStatus_t (*destroyConvolutionDescriptor)(cudnnConvolutionDescriptor_t);
  cudnnStatus_t (*setConvolution2dDescriptor)(cudnnConvolutionDescriptor_t,
                                              int, int, int, int, int, int,
                                              int, int);
  cudnnStatus_t (*setConvolutionGroupCount)(cudnnConvolutionDescriptor_t,
                                            int);
  cudnnStatus_t (*setConvolutionMathType)(cudnnConvolutionDescriptor_t, int);
  cudnnStatus_t (*getForwardAlgorithm)(
      cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  cudnnStatus_t (*getBackwardDataAlgorithm)(
      cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  cudnnStatus_t (*getBackwardFilterAlgorithm)(
      cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  /// cudnnFind*: each algorithm run and timed, fastest first (as the
  /// heuristics' results). Optional: null where the library lacks them.
  cudnnStatus_t (*findForwardAlgorithm)(
      cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  cudnnStatus_t (*findBackwardDataAlgorithm)(
      cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  cudnnStatus_t (*findBackwardFilterAlgorithm)(
      cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t,
      cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, int, int *,
      cudnnAlgoPerf_t *);
  cudnnStatus_t (*forward)(cudnnHandle_t, const void *,
                           cudnnTensorDescriptor_t, const void *,
                           cudnnFilterDescriptor_t, const void *,
                           cudnnConvolutionDescriptor_t, int, void *, size_t,
                           const void *, cudnnTensorDescriptor_t, void *);
  cudnnStatus_t (*backwardData)(cudnnHandle_t, const void *,
                                cudnnFilterDescriptor_t, const void *,
                                cudnnTensorDescriptor_t, const void *,
                                cudnnConvolutionDescriptor_t, int, void *,
                                size_t, const void *, cudnnTensorDescriptor_t,
                                void *);
  cudnnStatus_t (*backwardFilter)(cudnnHandle_t, const void *,
                                  cudnnTensorDescriptor_t, const void *,
                                  cudnnTensorDescriptor_t, const void *,
                                  cudnnConvolutionDescriptor_t, int, void *,
                                  size_t, const void *,
                                  cudnnFilterDescriptor_t, void *);
  cudnnStatus_t (*addTensor)(cudnnHandle_t, const void *,
                             cudnnTensorDescriptor_t, const void *,
                             const void *, cudnnTensorDescriptor_t, void *);
};

/// The driver, opened and initialized (cuInit) on first use; fails saying
/// why no GPU can be used: no NVIDIA driver, a driver without these
/// functions, cuInit's error (e.g. no device, or the toolkit's stub
/// library). KILN_CUDA_DRIVER names the library to open instead of
/// libcuda.so.1.
Status driver(const DriverApi *&out);
/// cuBLASLt (libcublasLt.so.13 or .12 from the library path, then
/// $CUDA_HOME/lib64 and /usr/local/cuda/lib64), opened on first use.
Status blasLt(const BlasLtApi *&out);

/// NCCL (libnccl.so.2 from the library path, then the CUDA directories),
/// opened on first use: version 2.10 or newer (for ncclAvg).
Status nccl(const NcclApi *&out);

/// cuDNN 9 (libcudnn.so.9 from $KILN_CUDNN_DIR, the library path, then the
/// CUDA directories; PyTorch's wheels keep it in site-packages/nvidia/cudnn),
/// opened on first use.
Status cudnn(const CudnnApi *&out);

/// dlopen of the first of `names` found on the library path, then in
/// $CUDA_HOME/lib64 and /usr/local/cuda/lib64; null if none, with `tried`
/// listing what was tried.
void *openLibrary(const std::vector<std::string> &names, std::string &tried);

/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for a driver result.
std::string describe(const DriverApi &api, CUresult r);

/// Tests: use these tables instead of opening the libraries (null: open
/// them again).
void setApisForTesting(const DriverApi *driver, const BlasLtApi *blas,
                       const NcclApi *nccl = nullptr,
                       const CudnnApi *cudnn = nullptr);

} // namespace kiln::runtime::cuda

#endif // KILN_RUNTIME_SRC_CUDA_API_H
