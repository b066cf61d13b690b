//===- backend.cpp - the CUDA backend -------------------------------------===//
#include "backend.h"

#include "api.h"
#include "cache.h"
#include "nvrtc.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace kiln::runtime::cuda {

std::string entryName(size_t index) { return "kiln_k" + std::to_string(index); }

const char *builtinsSource() {
  return R"(typedef long long i64;
// out[b] = C broadcast to M x N (one value or a row of N; an M x N C is
// cuBLASLt's own), for every batch b: what cuBLASLt's beta then scales.
template <typename T>
__device__ void kiln_fill(T* out, const T* c, i64 cn, i64 m, i64 n, i64 batch,
                     i64 stride) {
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < batch * m * n;
       p += (i64)gridDim.x * blockDim.x) {
    i64 b = p / (m * n), e = p % (m * n);
    out[b * stride + e] = cn == 1 ? c[0] : c[e % n];
  }
}
// Column sums of a row-major rows x n matrix x into out[n]; with a `mask`,
// through a ReLU's gradient first (x zeroed where mask is not positive, and
// written back): the bias gradient beside a GEMM. A block takes a strip of
// w columns (32 of a GPU's 256 threads: a warp reads 128 bytes of a row)
// with blockDim / w groups of rows; each thread sums its rows in double, and
// the groups' sums are added in order: the same result for every launch of
// one shape, within a double's rounding of the CPU backend's in-order sum.
template <typename T>
__device__ void kiln_column_sums(T* __restrict__ x, const T* __restrict__ mask,
                                 T* __restrict__ out, i64 rows, i64 n) {
  __shared__ double part[256];
  const i64 w = blockDim.x >= 64 ? 32 : (blockDim.x + 1) / 2,
            groups = blockDim.x / w, lane = threadIdx.x % w,
            group = threadIdx.x / w;
  for (i64 strip = blockIdx.x; strip * w < n; strip += gridDim.x) {
    const i64 j = strip * w + lane;
    double acc = 0;
    if (j < n && group < groups)
      for (i64 r = group; r < rows; r += groups) {
        T v = x[r * n + j];
        if (mask) {
          v = mask[r * n + j] > T(0) ? v : T(0);
          x[r * n + j] = v;
        }
        acc += (double)v;
      }
    if (threadIdx.x < 256)
      part[threadIdx.x] = acc;
    __syncthreads();
    if (group == 0 && j < n) {
      double total = 0;
      for (i64 g = 0; g < groups; ++g)
        total += part[g * w + lane];
      out[j] = (T)total;
    }
    __syncthreads();
  }
}
// The gradient through a ReLU, then the bias gradient: out (M x N) zeroed
// where mask is not positive, bias[j] = the sum of column j.
template <typename T>
__device__ void kiln_relu_bias_grad(T* out, const T* mask, T* bias, i64 m, i64 n) {
  kiln_column_sums(out, mask, bias, m, n);
}
// The sum over k of a GEMM operand stored [k, count] (kMajor: column sums)
// or [count, k] (row sums, a thread each): the bias gradient where cuBLASLt
// has no BGRADA/BGRADB algorithm for the GEMM.
template <typename T>
__device__ void kiln_operand_sum(const T* x, T* out, i64 count, i64 k, i64 kMajor) {
  if (kMajor) {
    kiln_column_sums(const_cast<T*>(x), (const T*)0, out, k, count);
    return;
  }
  for (i64 j = (i64)blockIdx.x * blockDim.x + threadIdx.x; j < count;
       j += (i64)gridDim.x * blockDim.x) {
    double acc = 0;
    for (i64 r = 0; r < k; ++r)
      acc += (double)x[j * k + r];
    out[j] = (T)acc;
  }
}
// An embedding's gradient as the CPU backend adds it (each row's positions
// in order, from zero), by a stable counting sort of the positions by row:
// kiln_embedding_clear: rank[p] and count[r] to 0. kiln_embedding_ranks,
// over pairs of a tile of blockDim positions and a slice of blockDim ids at
// or before it: each position p adds the positions of its row in the slice
// before it to rank[p] (atomicAdd of integers: the same whatever order the
// slices run in), and on its own tile's slice counts once for its row;
// n^2 / 2 comparisons over (n / blockDim)^2 / 2 blocks.
// kiln_embedding_offsets (one block): count[r] becomes the end of row r's
// positions, an inclusive prefix sum. kiln_embedding_order: order[row's
// start + rank[p]] = p. kiln_embedding_rows: a block per row sums its
// positions in order, threads over the columns; the loads are independent
// (they once followed a linked list, one dependent load a position, so
// that a frequent id, as real text has, made one block walk thousands).
template <typename I>
__device__ i64 kiln_embedding_row(const I* ids, i64 p, i64 rows) {
  i64 r = (i64)ids[p];
  if (r < 0)
    r += rows;
  return r >= 0 && r < rows ? r : -1;
}
extern "C" __global__ void kiln_embedding_clear(int* rank, int* count, i64 n,
                                                i64 rows) {
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n || i < rows;
       i += (i64)gridDim.x * blockDim.x) {
    if (i < n)
      rank[i] = 0;
    if (i < rows)
      count[i] = 0;
  }
}
template <typename I>
__device__ void kiln_embedding_ranks(const I* ids, int* rank, int* count,
                                     i64 n, i64 rows) {
  __shared__ i64 slice[256];
  const i64 size = blockDim.x, tiles = (n + size - 1) / size;
  for (i64 w = blockIdx.x; w < tiles * tiles; w += gridDim.x) {
    const i64 tile = w % tiles, s = w / tiles;
    if (s > tile)
      continue; // (The whole block: no earlier position there.)
    const i64 p = tile * size + threadIdx.x, q0 = s * size;
    const i64 r = p < n ? kiln_embedding_row(ids, p, rows) : -1;
    slice[threadIdx.x] =
        q0 + threadIdx.x < n ? kiln_embedding_row(ids, q0 + threadIdx.x, rows)
                             : -1;
    __syncthreads();
    if (r >= 0) {
      const i64 end = s == tile ? p - q0 : (n - q0 < size ? n - q0 : size);
      int before = 0;
      for (i64 i = 0; i < end; ++i)
        before += slice[i] == r;
      if (before)
        atomicAdd(&rank[p], before);
      if (s == tile)
        atomicAdd(&count[r], 1);
    }
    __syncthreads();
  }
}
extern "C" __global__ void kiln_embedding_offsets(int* count, i64 rows) {
  // Block 0 alone: each thread sums a run of rows, the block scans the
  // runs' sums, then each thread writes its run's prefix sums.
  __shared__ long long sums[256];
  if (blockIdx.x != 0)
    return;
  const i64 t = threadIdx.x, threads = blockDim.x;
  const i64 run = (rows + threads - 1) / threads;
  const i64 lo = t * run < rows ? t * run : rows;
  const i64 hi = lo + run < rows ? lo + run : rows;
  // (Unrolled: a 50K-token vocabulary gives each thread ~200 rows, whose
  // loads should not wait for one another.)
  long long sum = 0;
#pragma unroll 8
  for (i64 i = lo; i < hi; ++i)
    sum += count[i];
  sums[t] = sum;
  __syncthreads();
  for (i64 d = 1; d < threads; d *= 2) {
    const long long add = t >= d ? sums[t - d] : 0;
    __syncthreads();
    sums[t] += add;
    __syncthreads();
  }
  long long end = t ? sums[t - 1] : 0;
#pragma unroll 8
  for (i64 i = lo; i < hi; ++i) {
    end += count[i];
    count[i] = (int)end;
  }
}
template <typename I>
__device__ void kiln_embedding_order(const I* ids, const int* rank,
                                     const int* ends, int* order, i64 n,
                                     i64 rows) {
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < n;
       p += (i64)gridDim.x * blockDim.x) {
    const i64 r = kiln_embedding_row(ids, p, rows);
    if (r >= 0)
      order[(r ? ends[r - 1] : 0) + rank[p]] = (int)p;
  }
}
template <typename T>
__device__ void kiln_embedding_rows(const int* ends, const int* order,
                                    const T* updates, T* out, i64 rows,
                                    i64 width) {
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const i64 lo = r ? ends[r - 1] : 0, hi = ends[r];
    for (i64 j = threadIdx.x; j < width; j += blockDim.x) {
      T acc = T(0);
      for (i64 k = lo; k < hi; ++k)
        acc += updates[(i64)order[k] * width + j];
      out[r * width + j] = acc;
    }
  }
}
// Convolutions as GEMMs, in the CPU backend's layout: for images
// [n0, n0 + nb) and group g, the patches are rows (ci, ky, kx) by columns
// (image, oy, ox). `s` is the convolution's shape: n c h w m kh kw oh ow
// strideH strideW dilationH dilationW padTop padLeft group.
template <typename T>
__device__ void kiln_im2col(const i64* s, const T* x, T* patches, i64 n0,
                            i64 nb, i64 g) {
  const i64 C = s[1], H = s[2], W = s[3], kh = s[5], kw = s[6], oh = s[7],
            ow = s[8], cg = C / s[15], cols = oh * ow, wide = nb * cols;
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x;
       p < cg * kh * kw * wide; p += (i64)gridDim.x * blockDim.x) {
    i64 r = p / wide, q = p % wide, i = q / cols, o = q % cols;
    i64 ci = r / (kh * kw), ky = r / kw % kh, kx = r % kw;
    i64 iy = o / ow * s[9] - s[13] + ky * s[11];
    i64 ix = o % ow * s[10] - s[14] + kx * s[12];
    patches[p] = iy >= 0 && iy < H && ix >= 0 && ix < W
                     ? x[(((n0 + i) * C + g * cg + ci) * H + iy) * W + ix]
                     : T(0);
  }
}
// The patches' gradient back to the input positions they were read from:
// each input element sums its entries over (ky, kx) in order, as the CPU
// backend adds them.
template <typename T>
__device__ void kiln_col2im(const i64* s, const T* patches, T* dx, i64 n0,
                            i64 nb, i64 g) {
  const i64 C = s[1], H = s[2], W = s[3], kh = s[5], kw = s[6], oh = s[7],
            ow = s[8], cg = C / s[15], wide = nb * oh * ow;
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < nb * cg * H * W;
       p += (i64)gridDim.x * blockDim.x) {
    i64 ix = p % W, iy = p / W % H, ci = p / (W * H) % cg, i = p / (W * H * cg);
    T acc = T(0);
    for (i64 ky = 0; ky < kh; ++ky) {
      i64 ty = iy + s[13] - ky * s[11];
      if (ty < 0 || ty % s[9] != 0 || ty / s[9] >= oh)
        continue;
      for (i64 kx = 0; kx < kw; ++kx) {
        i64 tx = ix + s[14] - kx * s[12];
        if (tx < 0 || tx % s[10] != 0 || tx / s[10] >= ow)
          continue;
        acc += patches[((ci * kh + ky) * kw + kx) * wide + i * oh * ow +
                       ty / s[9] * ow + tx / s[10]];
      }
    }
    dx[(((n0 + i) * C + g * cg + ci) * H + iy) * W + ix] = acc;
  }
}
// dL/dy of group g as [m / group, image * oy * ox], or back (+ bias).
template <typename T>
__device__ void kiln_conv_gather(const i64* s, const T* y, T* out, i64 n0,
                                 i64 nb, i64 g) {
  const i64 M = s[4], mg = M / s[15], cols = s[7] * s[8], wide = nb * cols;
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < mg * wide;
       p += (i64)gridDim.x * blockDim.x) {
    i64 m = p / wide, i = p % wide / cols, j = p % cols;
    out[p] = y[((n0 + i) * M + g * mg + m) * cols + j];
  }
}
template <typename T>
__device__ void kiln_conv_scatter(const i64* s, const T* result, const T* bias,
                                  T* y, i64 n0, i64 nb, i64 g) {
  const i64 M = s[4], mg = M / s[15], cols = s[7] * s[8], wide = nb * cols;
  for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < mg * wide;
       p += (i64)gridDim.x * blockDim.x) {
    i64 m = p / wide, i = p % wide / cols, j = p % cols;
    y[((n0 + i) * M + g * mg + m) * cols + j] =
        result[p] + (bias ? bias[g * mg + m] : T(0));
  }
}
#define KILN_CONV(name, T, suffix)                                             \
  extern "C" __global__ void name##_##suffix(const i64* s, const T* a, T* b,  \
      i64 n0, i64 nb, i64 g) { name(s, a, b, n0, nb, g); }
KILN_CONV(kiln_im2col, float, f32)
KILN_CONV(kiln_im2col, double, f64)
KILN_CONV(kiln_col2im, float, f32)
KILN_CONV(kiln_col2im, double, f64)
KILN_CONV(kiln_conv_gather, float, f32)
KILN_CONV(kiln_conv_gather, double, f64)
extern "C" __global__ void kiln_conv_scatter_f32(const i64* s, const float* r,
    const float* bias, float* y, i64 n0, i64 nb, i64 g) {
  kiln_conv_scatter(s, r, bias, y, n0, nb, g); }
extern "C" __global__ void kiln_conv_scatter_f64(const i64* s, const double* r,
    const double* bias, double* y, i64 n0, i64 nb, i64 g) {
  kiln_conv_scatter(s, r, bias, y, n0, nb, g); }
extern "C" __global__ void kiln_fill_f32(float* out, const float* c, i64 cn,
    i64 m, i64 n, i64 batch, i64 stride) { kiln_fill(out, c, cn, m, n, batch, stride); }
extern "C" __global__ void kiln_fill_f64(double* out, const double* c, i64 cn,
    i64 m, i64 n, i64 batch, i64 stride) { kiln_fill(out, c, cn, m, n, batch, stride); }
extern "C" __global__ void kiln_relu_bias_grad_f32(float* out,
    const float* mask, float* bias, i64 m, i64 n) { kiln_relu_bias_grad(out, mask, bias, m, n); }
extern "C" __global__ void kiln_relu_bias_grad_f64(double* out,
    const double* mask, double* bias, i64 m, i64 n) { kiln_relu_bias_grad(out, mask, bias, m, n); }
extern "C" __global__ void kiln_embedding_ranks_i64(const long long* ids,
    int* rank, int* count, i64 n, i64 rows) { kiln_embedding_ranks(ids, rank, count, n, rows); }
extern "C" __global__ void kiln_embedding_ranks_i32(const int* ids,
    int* rank, int* count, i64 n, i64 rows) { kiln_embedding_ranks(ids, rank, count, n, rows); }
extern "C" __global__ void kiln_embedding_order_i64(const long long* ids,
    const int* rank, const int* ends, int* order, i64 n, i64 rows) {
  kiln_embedding_order(ids, rank, ends, order, n, rows); }
extern "C" __global__ void kiln_embedding_order_i32(const int* ids,
    const int* rank, const int* ends, int* order, i64 n, i64 rows) {
  kiln_embedding_order(ids, rank, ends, order, n, rows); }
extern "C" __global__ void kiln_embedding_rows_f32(const int* ends,
    const int* order, const float* updates, float* out, i64 rows, i64 width) {
  kiln_embedding_rows(ends, order, updates, out, rows, width); }
extern "C" __global__ void kiln_embedding_rows_f64(const int* ends,
    const int* order, const double* updates, double* out, i64 rows, i64 width) {
  kiln_embedding_rows(ends, order, updates, out, rows, width); }
extern "C" __global__ void kiln_operand_sum_f32(const float* x, float* out,
    i64 count, i64 k, i64 kMajor) { kiln_operand_sum(x, out, count, k, kMajor); }
extern "C" __global__ void kiln_operand_sum_f64(const double* x, double* out,
    i64 count, i64 k, i64 kMajor) { kiln_operand_sum(x, out, count, k, kMajor); }
)";
}

namespace {

constexpr int kThreads = 256;
static_assert(kThreads <= kBlockReduceThreads,
              "kernels are printed with __launch_bounds__(kBlockReduceThreads)");
static_assert(kThreads <= 256, "kiln_column_sums' partial sums, "
                               "kiln_embedding_ranks' tile and "
                               "kiln_embedding_offsets' sums hold 256");
constexpr int64_t kAlign = 256;
constexpr size_t kGemmWorkspace = size_t(32) << 20;
/// A convolution's patches and GEMM result take at most this much (at
/// least one image's); KILN_CUDA_CONV_WORKSPACE (bytes) overrides it.
constexpr int64_t kConvWorkspace = int64_t(64) << 20;
/// A cuDNN algorithm may take this much workspace (or the larger
/// KILN_CUDA_CONV_WORKSPACE). Measured on an H100 (ResNet-18, batch 128,
/// TF32): the heuristics' first choices for the 64-channel 32 x 32 layers
/// take 64.1 and 66.1 MiB; with 64 MiB they fell back to algorithms that
/// made the step 11.7 ms instead of 6.8 (the peak grows by 14 MiB).
constexpr int64_t kDnnWorkspace = int64_t(256) << 20;

int64_t alignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

bool envFlag(const char *name, bool otherwise) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return otherwise;
  return std::string(v) != "0";
}

/// KILN_CUDA_CONV=im2col: every convolution as GEMMs over patches, none on
/// cuDNN.
bool im2colOnly() {
  const char *mode = std::getenv("KILN_CUDA_CONV");
  return mode && std::string(mode) == "im2col";
}

/// Keeps what was measured under `key` in the kernel cache; a warning
/// (once a process) where it cannot, and the run goes on.
void keepRecord(const std::string &key, const std::string &value) {
  static bool warned = false;
  if (std::string warning = storeRecord(key, value);
      !warning.empty() && !warned) {
    warned = true;
    std::fprintf(stderr, "kiln: warning: %s\n", warning.c_str());
  }
}

/// A cuBLASLt algorithm as a record's text (its eight words in hex), and
/// back: false where `text` does not start with eight words.
std::string algoText(const cublasLtMatmulAlgo_t &algo) {
  std::string text;
  char word[24];
  for (uint64_t d : algo.data) {
    std::snprintf(word, sizeof word, "%llx ", (unsigned long long)d);
    text += word;
  }
  return text;
}
bool parseAlgo(const std::string &text, cublasLtMatmulAlgo_t &algo) {
  const char *at = text.c_str();
  for (uint64_t &d : algo.data) {
    char *end = nullptr;
    d = std::strtoull(at, &end, 16);
    if (end == at)
      return false;
    at = end;
  }
  return true;
}

/// Events that end with the scope (null ones skipped).
struct ScopedEvents {
  const DriverApi &cu;
  std::vector<CUevent> events;
  ~ScopedEvents() {
    for (CUevent e : events)
      if (e)
        cu.eventDestroy(e);
  }
};

/// The words of a multi-tensor launch's table (planLaunch): the number of
/// rows, the rows' first virtual blocks and their total, then each row's
/// size and pointers.
int64_t segmentsTableWords(const Step &step) {
  const int64_t rows = int64_t(step.segments.size()) + 1;
  return 1 + (rows + 1) + rows * (int64_t(step.args.size()) + 1);
}

/// Makes a context current on this thread for the scope's length, and then
/// restores whatever was current (a host application's own context).
class ContextScope {
public:
  ContextScope(const DriverApi &cu, CUcontext context)
      : cu_(cu), pushed_(context && cu.ctxPushCurrent(context) == 0) {}
  ~ContextScope() {
    CUcontext popped = nullptr;
    if (pushed_)
      cu_.ctxPopCurrent(&popped);
  }
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;
  bool pushed() const { return pushed_; }

private:
  const DriverApi &cu_;
  bool pushed_;
};

/// The largest power of two, at most 256, that divides every byte offset
/// of `offsets`: the alignment cuBLASLt may assume of a GEMM's pointers.
uint32_t alignmentOf(std::initializer_list<int64_t> offsets) {
  uint32_t align = 256;
  for (int64_t o : offsets)
    while (align > 1 && o % align)
      align /= 2;
  return align;
}

/// A matrix product in GemmCall's terms: row-major out (m x n) =
/// alpha op(A) op(B) + beta C (+ bias, a row of n; then ReLU), per batch.
struct GemmShape {
  bool f64 = false, transA = false, transB = false, relu = false;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  int64_t strideA = 0, strideB = 0, strideC = 0, strideOut = 0;
  CUdeviceptr bias = 0; ///< The bias epilogue's vector, or 0.
  /// The sum over k of op(A) (sumsOfA) or op(B) into this vector
  /// (BGRADB / BGRADA), or 0.
  CUdeviceptr sums = 0;
  bool sumsOfA = false;
  /// The alignment (bytes) every A, B, C and D pointer the plan is used
  /// with has: the arena's 64 bytes, less for a group's slice.
  uint32_t align = 256;
};

/// A product planned when the session opens: cuBLASLt's descriptors and
/// algorithm.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool f64 = false;
  /// What its descriptors say but the bias and sum pointers (planGemm):
  /// GEMMs of one form share cuBLASLt's choice.
  std::string form;
  uint32_t align = 256; ///< The alignment its operands were promised.
};

/// A GEMM step: its plan, and where C comes from.
struct GemmStep {
  GemmPlan plan;
  bool fill = false;    ///< C broadcast into out by kiln_fill first.
  bool sharedC = false; ///< C is the buffer g.c (M x N, every batch).
  /// The bias gradient (GemmCall::SumOf A or B) by kiln_operand_sum after
  /// the GEMM: cuBLASLt had no algorithm with its BGRAD epilogue.
  bool sumKernel = false;
  double beta = 0;
};

/// A convolution on cuDNN: its descriptors and algorithm.
struct DnnConv {
  bool used = false;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0, math = 0;
  size_t workspace = 0;
};

/// A convolution step: on cuDNN (`dnn.used`), or as GEMMs over patches:
/// images in blocks of `block`, one GEMM per block and group (`last` for a
/// smaller final block), on the shape table at `shape`.
struct ConvStep {
  DnnConv dnn;
  int64_t block = 1;
  GemmPlan full, last;
  CUdeviceptr shape = 0;
};

/// The images per block of a convolution, and the workspace the block
/// takes: its patches (rows x block * cols), then its GEMM result or
/// gathered dL/dy (m / group rows).
std::pair<int64_t, int64_t> convBlock(const ConvCall &c, size_t element,
                                      int64_t cap) {
  int64_t rows = c.c / c.group * c.kh * c.kw, cols = c.oh * c.ow,
          mg = c.m / c.group, size = int64_t(element);
  int64_t block = std::clamp<int64_t>(
      cap / std::max<int64_t>((rows + mg) * cols * size, 1), 1, c.n);
  return {block, alignUp(rows * block * cols * size) + mg * block * cols * size};
}

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
  int64_t bytes() const override { return bytes_; }
  Status write(int64_t offset, const void *data, int64_t bytes) override;
  Status read(int64_t offset, void *data, int64_t bytes) override;
  Status writeBeforeRun(int64_t offset, const void *data,
                        int64_t bytes) override;
  Status run(const Entry &entry, const RunOptions &options) override;
  Status runSteps(const Entry &entry, const RunOptions &options);
  Status synchronize() override;

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
  /// The module of `source`: its cubin for this GPU from `cubins` (by
  /// architecture) where there is one, else compiled through the cache.
  Status loadModule(
      const std::string &source, const std::string &name,
      const std::vector<std::pair<std::string, std::vector<uint8_t>>> &cubins,
      CUmodule &module);
  Status planGemm(const GemmShape &shape, GemmPlan &plan);
  void destroy(GemmPlan &plan);
  Status planGemmStep(const GemmCall &g, GemmStep &step);
  Status planConv(const ConvCall &c, CUdeviceptr &tables, ConvStep &step);
  /// `c` on cuDNN, when cuDNN can express it (symmetric padding) and has an
  /// algorithm for it; else `d.used` stays false.
  Status planDnn(const ConvCall &c, DnnConv &d);
  void destroy(DnnConv &d);
  Status planLaunch(const Step &step, CUdeviceptr &tables, Launch &launch);
  /// Enqueues step `i` of `entry` on the stream.
  Status enqueue(const Entry &entry, size_t i);
  Status matmul(const GemmPlan &plan, CUdeviceptr a, CUdeviceptr b,
                CUdeviceptr c, CUdeviceptr out, double alpha, double beta);
  Status enqueueGemm(const Step &step, GemmStep &plan);
  /// cuBLASLt's preference for a GEMM: kiln's workspace, and operands
  /// aligned to `align` bytes (null, and the status, where it fails).
  Status preferenceFor(uint32_t align, cublasLtMatmulPreference_t &out);
  /// KILN_GEMM_TUNE: the algorithm measured fastest for `plan`'s form, in
  /// this session or kept from an earlier one (checked by cuBLASLt for
  /// these descriptors), when there is one.
  void adoptTuned(GemmPlan &plan);
  /// KILN_GEMM_TUNE, in an eager run: times cuBLASLt's candidates for the
  /// step's form on its own operands (each writes the same product) and
  /// keeps the fastest for every GEMM of the form, in this session and on
  /// disk.
  Status tuneGemm(const Step &step, GemmStep &plan);
  /// The kernel cache's key for a GEMM form's measured algorithm.
  std::string tunedKey(const std::string &form) const;
  Status enqueueConv(const Step &step, const ConvStep &plan);
  /// NCCL's communicator for `comm`'s ranks (rank 0's id broadcast over
  /// `comm`), made on the first data-parallel run.
  Status joinNccl(Communicator &comm);
  /// Destroys the graphs whose collectives use NCCL communicator generation
  /// `generation` (NCCL waits for them before it lets a communicator go).
  void dropGraphs(uint64_t generation);
  /// Waits for the stream: in a data-parallel run at most the collective
  /// timeout, watching NCCL's errors.
  Status finish(const Entry &entry);
  Status launchBuiltin(CUfunction fn, int64_t threads,
                       std::vector<void *> params);
  CUdeviceptr at(int32_t buffer) const {
    return base_ + CUdeviceptr(program_.buffers[buffer].offset);
  }

  const Program &program_;
  const DriverApi &cu_;
  const BlasLtApi *lt_ = nullptr;
  std::string description_;
  std::string deviceName_; ///< The GPU's name (cuDNN choices are kept by it).
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  /// cuBLASLt's algorithm for each form of GEMM planned (planGemm).
  std::map<std::string, cublasLtMatmulHeuristicResult_t> gemmChoices_;
  /// cuDNN's choice for each form of convolution (planDnn's key), asked once
  /// a session: the benchmark ResNet-18's 79 convolution steps (its forward
  /// and training entries) have 32 forms.
  std::map<std::string, cudnnAlgoPerf_t> dnnChoices_;
  /// KILN_GEMM_TUNE: GEMM steps take the algorithm measured fastest for
  /// their form (gemmTuned_), timed in the first eager run or kept from an
  /// earlier session, instead of the heuristic's first.
  bool tuneGemms_ = false;
  std::map<std::string, cublasLtMatmulAlgo_t> gemmTuned_;
  std::set<std::string> gemmLookedUp_; ///< Forms whose record was read.
  bool capturing_ = false; ///< A pass is being captured (nothing is timed).
  CUstream stream_ = nullptr;
  /// NCCL's stream in data-parallel runs (made with the communicator), so
  /// that a bucket's all-reduce overlaps the rest of the backward; null
  /// where the driver cannot make streams wait for events.
  CUstream commStream_ = nullptr;
  CUmodule module_ = nullptr, builtins_ = nullptr;
  /// The runtime's own kernels, [0] fp32 and [1] fp64.
  /// kiln_embedding_ranks and _order by ids' dtype (i32, i64),
  /// kiln_embedding_rows by values' (f32, f64).
  CUfunction embeddingClear_ = nullptr, embeddingOffsets_ = nullptr,
             embeddingRanks_[2] = {}, embeddingOrder_[2] = {},
             embeddingRows_[2] = {};
  /// The embedding gradients' positions sorted by row (the most positions
  /// of any EmbeddingGrad step, as ints), after the workspaces.
  CUdeviceptr embeddingSorted_ = 0;
  CUfunction fill_[2] = {}, reluBiasGrad_[2] = {}, operandSum_[2] = {},
             im2col_[2] = {},
             col2im_[2] = {}, convGather_[2] = {}, convScatter_[2] = {};
  cublasLtHandle_t blas_ = nullptr;
  CUdeviceptr base_ = 0, workspace_ = 0, convWorkspace_ = 0;
  int sms_ = 1;
  bool tf32_ = false, graphs_ = true, syncEach_ = false;
  int64_t convCap_ = kConvWorkspace;
  int64_t bytes_ = 0; ///< The one allocation's size.
  const CudnnApi *dnn_ = nullptr;
  cudnnHandle_t dnnHandle_ = nullptr;
  const NcclApi *nccl_ = nullptr;
  ncclComm_t ncclComm_ = nullptr;
  Communicator *ncclFor_ = nullptr; ///< The ranks ncclComm_ spans.
  Communicator *runComm_ = nullptr; ///< The current run's job, if any.
  /// The entry of a run queued without waiting, until synchronize().
  const Entry *pending_ = nullptr;
  /// Pinned host memory that small inputs are copied through (a ring): an
  /// asynchronous copy from pageable memory may wait for the stream, which
  /// would stall a queued step behind the previous one.
  uint8_t *staging_ = nullptr;
  size_t stagingAt_ = 0;
  static constexpr size_t kStagingBytes = size_t(4) << 20;
  /// Counts NCCL communicators made and lost: a graph holds the one it was
  /// captured with.
  uint64_t ncclGeneration_ = 0;
  std::string arch_;
  /// Per entry (by address in the program): each step's launch or GEMM
  /// plan, how often it ran, and its graph once captured.
  struct EntryState {
    std::vector<Launch> launches;
    std::vector<GemmStep> gemms;
    std::vector<ConvStep> convs;
    int64_t runs = 0;
    CUgraphExec graph = nullptr;
    /// The NCCL communicator generation the graph's collectives use (0:
    /// none); a graph of another is dropped and captured again.
    uint64_t capturedWith = 0;
    /// The generation of its last eager run: a graph is captured only after
    /// an eager run with the same communicator (NCCL connects lazily).
    uint64_t eagerWith = 0;
    bool noGraph = false; ///< Capture failed: the entry runs eagerly.
    /// Data-parallel runs with NCCL on its own stream: for each step, the
    /// all-reduces it waits for (collectiveAwaits; the last, the entry's
    /// end), and each AllReduce step's events: `ready` on the step's stream
    /// when its gradients are (NCCL's stream waits for it), `done` on
    /// NCCL's when the average is.
    std::vector<std::vector<size_t>> awaits;
    std::vector<CUevent> ready, done;
    /// In the pass being enqueued: whether AllReduce step i recorded `done`
    /// (what the step's stream joins if the pass fails).
    std::vector<char> forked;
  };
  std::map<const Entry *, EntryState> entries_;
  /// Destroys an entry's `ready` and `done` events (none kept).
  void dropCollectiveEvents(EntryState &state) {
    for (std::vector<CUevent> *events : {&state.ready, &state.done}) {
      for (CUevent e : *events)
        if (e)
          cu_.eventDestroy(e);
      events->clear();
    }
  }
};

CudaBackend::~CudaBackend() {
  ContextScope current(cu_, context_);
  if (stream_)
    cu_.streamSynchronize(stream_);
  for (auto &[entry, state] : entries_) {
    if (state.graph)
      cu_.graphExecDestroy(state.graph);
    dropCollectiveEvents(state);
    for (GemmStep &g : state.gemms)
      destroy(g.plan);
    for (ConvStep &c : state.convs) {
      destroy(c.full);
      destroy(c.last);
      destroy(c.dnn);
    }
  }
  // (The graphs are gone: NCCL would wait for them. Abort, unlike destroy,
  // waits for no other rank, which may have died.)
  if (ncclComm_)
    nccl_->commAbort(ncclComm_);
  // (What NCCL's stream still runs ends before the arena goes.)
  if (commStream_)
    cu_.streamSynchronize(commStream_);
  if (blas_)
    lt_->destroy(blas_);
  if (dnnHandle_)
    dnn_->destroy(dnnHandle_);
  if (module_)
    cu_.moduleUnload(module_);
  if (builtins_)
    cu_.moduleUnload(builtins_);
  if (base_)
    cu_.memFree(base_);
  if (staging_)
    cu_.memFreeHost(staging_);
  if (commStream_)
    cu_.streamDestroy(commStream_);
  if (stream_)
    cu_.streamDestroy(stream_);
  if (context_)
    cu_.primaryCtxRelease(device_);
}

Status CudaBackend::loadModule(
    const std::string &source, const std::string &name,
    const std::vector<std::pair<std::string, std::vector<uint8_t>>> &cubins,
    CUmodule &module) {
  // The artifact's cubin for this GPU; else its PTX for the newest
  // architecture not newer than the GPU (the driver compiles it for the
  // GPU); else NVRTC's code, through the cache: a cubin, or PTX where the
  // GPU is newer than this NVRTC knows.
  const std::vector<uint8_t> *precompiled = nullptr;
  std::string from;
  for (const auto &[arch, bytes] : cubins)
    if (arch == arch_) {
      precompiled = &bytes;
      from = "the artifact's precompiled cubin";
    }
  int gpuArch = architectureNumber(arch_), best = -1;
  for (const auto &[arch, bytes] : cubins) {
    int n = architectureNumber(arch);
    if (from.empty() || best >= 0)
      if (arch.rfind("compute_", 0) == 0 && n > best && n <= gpuArch) {
        precompiled = &bytes;
        best = n;
        from = "the artifact's PTX for " + arch;
      }
  }
  // Artifact PTX newer than this driver reads falls back to NVRTC.
  std::string ptxFailure;
  if (best >= 0) {
    if (cu_.moduleLoadData(&module, precompiled->data()) == CUDA_SUCCESS)
      return Status();
    ptxFailure = "the driver cannot load " + from + "; ";
    precompiled = nullptr;
  }
  std::vector<uint8_t> cubin;
  if (!precompiled) {
    Nvrtc *nvrtc = nullptr;
    if (Status s = Nvrtc::get(nvrtc); !s.ok())
      return Status(s.code(), ptxFailure +
                                  "the artifact has no cubin for this GPU (" +
                                  arch_ + ") and " + std::string(s.message()));
    std::string target;
    if (Status s = nvrtc->target(arch_, target); !s.ok())
      return Status(s.code(), ptxFailure +
                                  "the artifact has no cubin for this GPU (" +
                                  arch_ + ") and " + std::string(s.message()));
    if (target != arch_) {
      static std::once_flag said;
      std::call_once(said, [&] {
        std::fprintf(stderr,
                     "kiln: NVRTC %s does not know %s: kernels are compiled "
                     "to PTX for %s, which the driver compiles for the GPU\n",
                     nvrtc->version().c_str(), arch_.c_str(), target.c_str());
      });
    }
    CacheResult cache;
    if (Status s = cachedCubin(*nvrtc, source, name, target, cubin, cache);
        !s.ok())
      return s;
    if (!cache.warning.empty())
      std::fprintf(stderr, "kiln: warning: %s\n", cache.warning.c_str());
    // A cached cubin the driver refuses (written by a broken run, or for
    // another driver) is compiled again and replaced.
    if (!cache.compiled &&
        cu_.moduleLoadData(&module, cubin.data()) != CUDA_SUCCESS) {
      std::remove(cache.path.c_str());
      if (Status s = cachedCubin(*nvrtc, source, name, target, cubin, cache);
          !s.ok())
        return s;
    } else if (!cache.compiled) {
      return Status();
    }
    from = "NVRTC " + nvrtc->version() +
           (target == arch_ ? "'s cubin" : "'s PTX for " + target) +
           " (a driver older than the NVRTC that compiled it cannot load it)";
  }
  return check(cu_.moduleLoadData(&module,
                                   precompiled ? precompiled->data()
                                               : cubin.data()),
               "cannot load the " + name + " module for " + arch_ +
                   " from " + from);
}

Status CudaBackend::open(const std::vector<uint8_t> &init,
                         const DeviceCode &code,
                         const SessionOptions &options) {
  tf32_ = options.tf32;
  // KILN_PROFILE: how long each part of opening takes, on stderr.
  using Clock = std::chrono::steady_clock;
  std::vector<std::pair<const char *, double>> phases;
  Clock::time_point phaseStart = Clock::now();
  auto phase = [&](const char *what) {
    Clock::time_point now = Clock::now();
    phases.push_back(
        {what, std::chrono::duration<double>(now - phaseStart).count()});
    phaseStart = now;
  };
  graphs_ = envFlag("KILN_CUDA_GRAPHS", true);
  syncEach_ = envFlag("KILN_CUDA_SYNC", false);
  tuneGemms_ = envFlag("KILN_GEMM_TUNE", false) && cu_.eventCreate &&
               cu_.eventRecord && cu_.eventElapsedTime && cu_.eventDestroy;
  if (const char *v = std::getenv("KILN_CUDA_CONV_WORKSPACE"); v && *v)
    convCap_ = std::max<int64_t>(std::atoll(v), 1);
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
  deviceName_ = name;
  if (Status s = check(cu_.primaryCtxRetain(&context_, device_),
                       "cannot create a context on " + std::string(name));
      !s.ok())
    return s;
  ContextScope current(cu_, context_);
  // A non-blocking stream, and every copy on it: the legacy default stream
  // is left alone (a blocking stream that is capturing a graph would make
  // it unusable for everyone in the process).
  if (Status s = check(cu_.streamCreate(&stream_, CU_STREAM_NON_BLOCKING),
                       "cuStreamCreate");
      !s.ok())
    return s;
  phase("context");

  // What this backend does not do yet; the GEMMs and the convolutions'
  // workspace.
  bool gemms = false;
  int64_t convWorkspace = 0, tables = 0;
  for (const Entry &e : program_.entries)
    for (const Step &step : e.steps) {
      int32_t out = step.kind == Step::Kind::Gemm   ? step.gemm.out
                    : step.kind == Step::Kind::Conv ? step.conv.out
                                                    : -1;
      if (out >= 0 && program_.buffers[out].dtype != DType::F32 &&
          program_.buffers[out].dtype != DType::F64)
        return Status(KILN_STATUS_UNIMPLEMENTED,
                      "the CUDA backend runs fp32 and fp64 GEMMs and "
                      "convolutions only (entry '" + e.name + "')");
      gemms |= out >= 0;
      if (step.kind == Step::Kind::Conv)
        tables += alignUp(16 * 8);
      if (!step.segments.empty())
        tables += alignUp(segmentsTableWords(step) * 8);
    }

  // The kernels: the program's and the runtime's own.
  if (Status s = checkAbi(code.source); !s.ok())
    return s;
  if (Status s = loadModule(code.source, "kiln", code.cubins, module_);
      !s.ok())
    return s;
  if (Status s = loadModule(builtinsSource(), "kiln_builtins", {}, builtins_);
      !s.ok())
    return s;
  std::pair<CUfunction *, const char *> functions[] = {
      {fill_, "kiln_fill"},         {reluBiasGrad_, "kiln_relu_bias_grad"},
      {operandSum_, "kiln_operand_sum"},
      {im2col_, "kiln_im2col"},     {col2im_, "kiln_col2im"},
      {convGather_, "kiln_conv_gather"},
      {convScatter_, "kiln_conv_scatter"}};
  std::vector<std::pair<CUfunction *, std::string>> named = {
      {&embeddingClear_, "kiln_embedding_clear"},
      {&embeddingOffsets_, "kiln_embedding_offsets"}};
  for (auto &[fn, prefix] : functions)
    for (int t = 0; t < 2; ++t)
      named.push_back({&fn[t], std::string(prefix) + (t ? "_f64" : "_f32")});
  for (int i = 0; i < 2; ++i) {
    const char *ids = i ? "i64" : "i32";
    named.push_back(
        {&embeddingRanks_[i], std::string("kiln_embedding_ranks_") + ids});
    named.push_back(
        {&embeddingOrder_[i], std::string("kiln_embedding_order_") + ids});
    named.push_back({&embeddingRows_[i], std::string("kiln_embedding_rows_") +
                                             (i ? "f64" : "f32")});
  }
  for (auto &[fn, name] : named)
    if (Status s = check(cu_.moduleGetFunction(fn, builtins_, name.c_str()),
                         name);
        !s.ok())
      return s;
  phase("kernels");
  if (gemms) {
    if (Status s = blasLt(lt_); !s.ok())
      return s;
    cublasStatus_t r = lt_->create(&blas_);
    if (r != CUBLAS_STATUS_SUCCESS)
      return Status(KILN_STATUS_INTERNAL,
                    std::string("cuBLASLt: cublasLtCreate: ") +
                        lt_->getStatusString(r));
  }

  phase("cuBLASLt");
  // Convolutions: on cuDNN where it is installed and can express them,
  // else as GEMMs over patches (KILN_CUDA_CONV=im2col: always).
  const bool convs = program_.has(Step::Kind::Conv);
  std::string convNote;
  if (convs && !im2colOnly()) {
    Status s = cudnn(dnn_);
    if (s.ok()) {
      cudnnStatus_t r = dnn_->create(&dnnHandle_);
      if (r == CUDNN_STATUS_SUCCESS)
        r = dnn_->setStream(dnnHandle_, stream_);
      if (r != CUDNN_STATUS_SUCCESS)
        s = Status(KILN_STATUS_INTERNAL,
                   std::string("cudnnCreate: ") + dnn_->getErrorString(r));
    }
    if (!s.ok()) {
      if (dnnHandle_)
        dnn_->destroy(dnnHandle_);
      dnnHandle_ = nullptr;
      convNote = std::string(s.message());
    }
  } else if (convs) {
    convNote = "KILN_CUDA_CONV=im2col";
  }
  if (convs)
    phase("cuDNN");
  int dnnConvs = 0, allConvs = 0;
  for (const Entry &e : program_.entries) {
    EntryState &state = entries_[&e];
    state.convs.resize(e.steps.size());
    for (size_t i = 0; i < e.steps.size(); ++i) {
      const Step &step = e.steps[i];
      if (step.kind != Step::Kind::Conv)
        continue;
      ++allConvs;
      ConvStep &plan = state.convs[i];
      if (dnnHandle_)
        if (Status s = planDnn(step.conv, plan.dnn); !s.ok() && convNote.empty())
          convNote = std::string(s.message());
      if (profileRequested()) {
        const ConvCall &c = step.conv;
        static const char *modes[] = {"forward", "input gradient",
                                      "filter gradient"};
        std::fprintf(stderr,
                     "kiln profile: '%s' step %zu, convolution %s of "
                     "%lldx%lldx%lldx%lld by %lldx%lldx%lldx%lld: ",
                     e.name.c_str(), i, modes[int(c.mode)], (long long)c.n,
                     (long long)c.c, (long long)c.h, (long long)c.w,
                     (long long)c.m, (long long)(c.c / c.group),
                     (long long)c.kh, (long long)c.kw);
        if (plan.dnn.used)
          std::fprintf(stderr,
                       "cuDNN algorithm %d, math %d, workspace %.1f MiB\n",
                       plan.dnn.algo, plan.dnn.math,
                       double(plan.dnn.workspace) / double(1 << 20));
        else
          std::fprintf(stderr, "im2col GEMMs\n");
      }
      dnnConvs += plan.dnn.used;
      convWorkspace = std::max(
          convWorkspace,
          plan.dnn.used
              ? int64_t(plan.dnn.workspace)
              : convBlock(step.conv,
                          dtypeSize(program_.buffers[step.conv.out].dtype),
                          convCap_)
                    .second);
    }
  }
  if (allConvs) {
    if (dnnConvs) {
      size_t v = dnn_->getVersion();
      description_ += ", convolutions on cuDNN " + std::to_string(v / 10000) +
                      "." + std::to_string(v % 10000 / 100) + "." +
                      std::to_string(v % 100);
      if (dnnConvs < allConvs)
        description_ += " (" + std::to_string(allConvs - dnnConvs) + " of " +
                        std::to_string(allConvs) + " as im2col GEMMs)";
    } else {
      description_ += ", convolutions as im2col GEMMs";
    }
    if (!convNote.empty() && dnnConvs < allConvs)
      description_ += " (" + convNote + ")";
  }

  phase(convs ? "convolution plans" : "cuDNN");
  // The one allocation: arena, tables (segments, convolution shapes), the
  // GEMM workspace, the convolutions' workspace, the embedding gradients'
  // sorted positions.
  int64_t arena = alignUp(std::max<int64_t>(program_.arenaBytes, 64));
  int64_t sorted = 0; // (Ints: the most positions of an embedding step.)
  for (const Entry &e : program_.entries)
    for (const Step &step : e.steps)
      if (step.kind == Step::Kind::EmbeddingGrad)
        sorted = std::max<int64_t>(sorted, alignUp(step.embedding.n * 4));
  int64_t total = arena + tables + (gemms ? int64_t(kGemmWorkspace) : 0) +
                  alignUp(convWorkspace) + sorted;
  if (Status s = check(cu_.memAlloc(&base_, size_t(total)),
                       "cannot allocate the session's " +
                           std::to_string(total) + " bytes on " + name);
      !s.ok())
    return s;
  bytes_ = total;
  workspace_ = base_ + CUdeviceptr(arena + tables);
  convWorkspace_ = workspace_ + (gemms ? CUdeviceptr(kGemmWorkspace) : 0);
  embeddingSorted_ = convWorkspace_ + CUdeviceptr(alignUp(convWorkspace));
  if (Status s = check(cu_.memsetD8Async(base_, 0, size_t(arena), stream_),
                       "cuMemsetD8Async");
      !s.ok())
    return s;
  phase("arena");
  // (write() waits for the copy, and for the clearing before it.)
  if (!init.empty())
    if (Status s = write(0, init.data(), int64_t(init.size())); !s.ok())
      return s;
  phase("upload");
  // Every step's launch, GEMM or convolution, planned now.
  CUdeviceptr nextTable = base_ + CUdeviceptr(arena);
  int biasSums = 0, biasSumKernels = 0; // GEMMs' BGRAD epilogues, and not.
  // (Of the plans: cuBLASLt's heuristics, for GEMM steps and for the GEMMs
  // of convolutions not on cuDNN.)
  double gemmSeconds = 0;
  for (const Entry &e : program_.entries) {
    EntryState &state = entries_[&e];
    state.launches.resize(e.steps.size());
    state.gemms.resize(e.steps.size());
    state.convs.resize(e.steps.size());
    for (size_t i = 0; i < e.steps.size(); ++i) {
      const Step &step = e.steps[i];
      Status s;
      Clock::time_point planning = Clock::now();
      if (step.kind == Step::Kind::Kernel)
        s = planLaunch(step, nextTable, state.launches[i]);
      else if (step.kind == Step::Kind::Gemm) {
        s = planGemmStep(step.gemm, state.gemms[i]);
        if (s.ok() && tuneGemms_ && !state.gemms[i].fill)
          adoptTuned(state.gemms[i].plan);
      } else if (step.kind == Step::Kind::Conv)
        s = planConv(step.conv, nextTable, state.convs[i]);
      if (step.kind == Step::Kind::Gemm || step.kind == Step::Kind::Conv)
        gemmSeconds +=
            std::chrono::duration<double>(Clock::now() - planning).count();
      if (!s.ok())
        return std::move(s.annotate("entry '" + e.name + "' step " +
                                    std::to_string(i)));
      if (step.kind == Step::Kind::Gemm &&
          step.gemm.sumOf != GemmCall::SumOf::Out)
        ++(state.gemms[i].sumKernel ? biasSumKernels : biasSums);
    }
  }
  if (biasSumKernels)
    description_ += ", " + std::to_string(biasSumKernels) + " of " +
                    std::to_string(biasSums + biasSumKernels) +
                    " GEMM bias gradients by kiln's kernel (cuBLASLt has no "
                    "BGRAD epilogue for them)";
  Status synced = check(cu_.streamSynchronize(stream_), "loading the session");
  phase("launch plans");
  phases.back().second -= gemmSeconds;
  phases.push_back({"GEMM plans", gemmSeconds});
  if (profileRequested()) {
    std::string line = "kiln profile: open:";
    char part[64];
    for (auto [what, seconds] : phases) {
      std::snprintf(part, sizeof part, " %s %.3f s,", what, seconds);
      line += part;
    }
    line.back() = '\n';
    std::fputs(line.c_str(), stderr);
  }
  return synced;
}

Status CudaBackend::planLaunch(const Step &step, CUdeviceptr &tables,
                               Launch &launch) {
  const Kernel &k = program_.kernels[step.kernel];
  const bool block = k.reduce == Kernel::Reduce::Block;
  const bool warp = k.reduce == Kernel::Reduce::Warp;
  const bool columns = k.reduce == Kernel::Reduce::Columns;
  launch.block = block ? unsigned(k.blockThreads)
                 : warp || columns || k.tileDim >= 0
                     ? unsigned(kBlockReduceThreads)
                     : unsigned(kThreads);
  // The points of a launch over `n` (a segmented kernel's size) and the
  // grid that covers them: a block per point for block reductions, a warp
  // per point for warp reductions, a block per kColumnTile points for column
  // reductions, a thread per point otherwise; at most 32 blocks per SM
  // (grid-stride).
  // (A staged kernel's points are its rows: a block each.)
  const int32_t pointDims = k.stages.empty() ? k.parallelDims : k.rowDims;
  auto pointsOf = [&](int64_t n) -> int64_t {
    if (pointDims == 0)
      return 1;
    if (k.segmented)
      return n;
    int64_t points = 1;
    for (int32_t d = 0; d < pointDims; ++d)
      points *= k.domain[d];
    return points;
  };
  auto gridOf = [&](int64_t points) {
    constexpr int64_t warps = kBlockReduceThreads / 32;
    int64_t blocks = block     ? points
                     : warp    ? (points + warps - 1) / warps
                     : columns ? (points + kColumnTile - 1) / kColumnTile
                     : k.tileDim >= 0 && points > 0
                         ? points / (k.domain[size_t(k.tileDim)] *
                                     k.domain.back()) *
                               ((k.domain[size_t(k.tileDim)] + kColumnTile - 1) /
                                kColumnTile) *
                               ((k.domain.back() + kColumnTile - 1) / kColumnTile)
                               : (points / k.vector + kThreads - 1) / kThreads;
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
  // The multi-tensor launch (one launch, a flat grid over every row's
  // blocks): the table is the number of rows, the rows' first virtual
  // blocks (and the total), then row g = {size, pointers...}, as the
  // interpreter sizes each segment (its last non-scalar buffer). Each row
  // has the blocks its own size needs: the grid once had the widest row's
  // for every row (the GPT's 53 parameters: 224K blocks, most of them
  // empty; its AdamW update ran at 1.15 TB/s on an H100).
  const size_t rows = step.segments.size() + 1;
  std::vector<long long> table = {(long long)rows}, body;
  long long blocks = 0;
  for (size_t g = 0; g < rows; ++g) {
    const std::vector<int32_t> &ids = g ? step.segments[g - 1] : step.args;
    int64_t n = k.domain[0];
    for (int32_t id : ids)
      if (g && !program_.buffers[id].shape.empty())
        n = program_.buffers[id].shape[0];
    body.push_back(n);
    for (int32_t id : ids)
      body.push_back((long long)at(id));
    table.push_back(blocks);
    blocks += gridOf(pointsOf(n));
  }
  table.push_back(blocks);
  table.insert(table.end(), body.begin(), body.end());
  // (open() made room for the table as segmentsTableWords says.)
  if (int64_t(table.size()) != segmentsTableWords(step))
    return Status(KILN_STATUS_INTERNAL,
                  "kernel '" + k.name +
                      "': its segment table's size is not "
                      "the one planned");
  launch.table = true;
  launch.tableAt = tables;
  launch.rows = 1;
  launch.grid = unsigned(std::clamp<long long>(blocks, 1, int64_t(sms_) * 32));
  tables += CUdeviceptr(alignUp(int64_t(table.size()) * 8));
  if (Status s = write(int64_t(launch.tableAt - base_), table.data(),
                       int64_t(table.size()) * 8);
      !s.ok())
    return s;
  entry += "_segments";
  return check(cu_.moduleGetFunction(&launch.fn, module_, entry.c_str()),
               "kernel '" + k.name + "' (" + entry + ") is not in the module");
}

Status CudaBackend::planGemm(const GemmShape &g, GemmPlan &plan) {
  plan.f64 = g.f64;
  const int type = g.f64 ? CUDA_R_64F : CUDA_R_32F;
  const int compute = g.f64  ? CUBLAS_COMPUTE_64F
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
  // cuBLAS's first operand is B (N x K after its op), its second A (K x M),
  // and a bias along out's rows is cuBLAS's per-row bias of out^T.
  // So too the sums over k: of cuBLAS's second operand (A) for A's,
  // BGRADB, and of its first (B) for B's, BGRADA.
  uint32_t epilogue = g.sums ? (g.sumsOfA ? CUBLASLT_EPILOGUE_BGRADB
                                          : CUBLASLT_EPILOGUE_BGRADA)
                      : g.relu ? (g.bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                         : CUBLASLT_EPILOGUE_RELU)
                               : (g.bias ? CUBLASLT_EPILOGUE_BIAS
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
  if (g.bias || g.sums)
    lt_->matmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                g.sums ? &g.sums : &g.bias, sizeof g.bias);
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
    s = layout(plan.c, g.n, g.m, g.strideC);
  if (s.ok())
    s = layout(plan.d, g.n, g.m, g.strideOut);
  if (!s.ok())
    return s;
  cublasLtMatmulPreference_t preference = nullptr;
  if (Status s = preferenceFor(g.align, preference); !s.ok())
    return s;
  // GEMMs of one form (a transformer's layers repeat theirs) share
  // cuBLASLt's choice, asked once a session (the benchmark GPT's 79 GEMMs
  // have 13 sizes; the plans took 75 ms of its warm first step on an H100).
  // The form: everything the descriptors say but the bias and sum
  // pointers.
  char form[256];
  std::snprintf(form, sizeof form,
                "%d %d %u %d %d %lld %lld %lld %lld %lld %lld %lld %lld %u",
                type, compute, epilogue, opA, opB, (long long)g.m,
                (long long)g.n, (long long)g.k, (long long)g.batch,
                (long long)g.strideA, (long long)g.strideB,
                (long long)g.strideC, (long long)g.strideOut, g.align);
  plan.form = form;
  plan.align = g.align;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t r = CUBLAS_STATUS_SUCCESS;
  if (auto known = gemmChoices_.find(form); known != gemmChoices_.end()) {
    result = known->second;
    found = 1;
  } else {
    r = lt_->algoGetHeuristic(blas_, plan.desc, plan.a, plan.b, plan.c,
                              plan.d, preference, 1, &result, &found);
    if (r == CUBLAS_STATUS_SUCCESS && found > 0)
      gemmChoices_.emplace(form, result);
  }
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

Status CudaBackend::preferenceFor(uint32_t align,
                                  cublasLtMatmulPreference_t &out) {
  out = nullptr;
  cublasStatus_t r = lt_->preferenceCreate(&out);
  if (r != CUBLAS_STATUS_SUCCESS) {
    out = nullptr;
    return Status(KILN_STATUS_INTERNAL,
                  std::string("cuBLASLt: cublasLtMatmulPreferenceCreate: ") +
                      lt_->getStatusString(r));
  }
  uint64_t workspace = kGemmWorkspace;
  lt_->preferenceSetAttribute(out, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                              &workspace, sizeof workspace);
  for (int attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    lt_->preferenceSetAttribute(out, attribute, &align, sizeof align);
  return Status();
}

std::string CudaBackend::tunedKey(const std::string &form) const {
  return "cublaslt-algo " + std::to_string(lt_->getVersion()) + " " +
         deviceName_ + " " + arch_ + " workspace " +
         std::to_string(kGemmWorkspace) + " form " + form;
}

void CudaBackend::adoptTuned(GemmPlan &plan) {
  if (auto known = gemmTuned_.find(plan.form); known != gemmTuned_.end()) {
    plan.algo = known->second;
    return;
  }
  // Kept by an earlier session: used where cuBLASLt (this version, these
  // descriptors) accepts it within the workspace; else measured again
  // (each form looked up once).
  if (!lt_->algoCheck || !gemmLookedUp_.insert(plan.form).second)
    return;
  cublasLtMatmulAlgo_t algo{};
  if (!parseAlgo(cachedRecord(tunedKey(plan.form)), algo))
    return;
  cublasLtMatmulHeuristicResult_t check{};
  if (lt_->algoCheck(blas_, plan.desc, plan.a, plan.b, plan.c, plan.d, &algo,
                     &check) != CUBLAS_STATUS_SUCCESS ||
      check.workspaceSize > kGemmWorkspace)
    return;
  plan.algo = algo;
  gemmTuned_.emplace(plan.form, algo);
}

Status CudaBackend::tuneGemm(const Step &step, GemmStep &plan) {
  const GemmCall &g = step.gemm;
  // Every candidate must write the same product: out (and the bias
  // gradient's sums) must not overlap what the product reads.
  auto overlap = [&](int32_t x, int32_t y) {
    const Buffer &bx = program_.buffers[x], &by = program_.buffers[y];
    return bx.offset < by.offset + by.bytes() &&
           by.offset < bx.offset + bx.bytes();
  };
  std::vector<int32_t> reads = {g.a, g.b};
  if (g.c >= 0) // (C, or the bias epilogue's row.)
    reads.push_back(g.c);
  std::vector<int32_t> writes = {g.out};
  if (g.sumOf != GemmCall::SumOf::Out && !plan.sumKernel)
    writes.push_back(g.biasGrad);
  for (int32_t w : writes)
    for (int32_t r : reads)
      if (overlap(w, r))
        return Status(); // Left to the heuristic here (another step may tune).
  // Whatever keeps the form from being measured (no preference, no
  // candidates, no events, none that runs) leaves it the heuristic's first,
  // for every GEMM of the form (not measured again); only the GPU's own
  // failure fails the run.
  const cublasLtMatmulAlgo_t planned = plan.plan.algo;
  auto unmeasured = [&]() {
    plan.plan.algo = planned;
    gemmTuned_.emplace(plan.plan.form, planned);
    return Status();
  };
  constexpr int kCandidates = 8, kRuns = 5;
  cublasLtMatmulPreference_t preference = nullptr;
  if (!preferenceFor(plan.plan.align, preference).ok())
    return unmeasured();
  cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
  int found = 0;
  cublasStatus_t r = lt_->algoGetHeuristic(
      blas_, plan.plan.desc, plan.plan.a, plan.plan.b, plan.plan.c, plan.plan.d,
      preference, kCandidates, results, &found);
  lt_->preferenceDestroy(preference);
  if (r != CUBLAS_STATUS_SUCCESS || found <= 0)
    return unmeasured();
  ScopedEvents timing{cu_, {nullptr, nullptr}};
  CUevent &start = timing.events[0], &stop = timing.events[1];
  if (cu_.eventCreate(&start, 0) != CUDA_SUCCESS ||
      cu_.eventCreate(&stop, 0) != CUDA_SUCCESS)
    return unmeasured();
  // In a data-parallel run, the all-reduces already started on NCCL's
  // stream finish first (they would share the GPU with the candidates).
  if (runComm_ && commStream_)
    if (Status s = check(cu_.streamSynchronize(commStream_),
                         "waiting for NCCL before timing cuBLASLt");
        !s.ok()) {
      plan.plan.algo = planned;
      return s;
    }
  CUdeviceptr out = at(g.out);
  auto product = [&]() {
    return matmul(plan.plan, at(g.a), at(g.b), plan.sharedC ? at(g.c) : out,
                  out, g.alpha, plan.beta);
  };
  int best = -1;
  float bestMs = 0, firstMs = -1;
  for (int i = 0; i < found && i < kCandidates; ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS ||
        results[i].workspaceSize > kGemmWorkspace)
      continue;
    plan.plan.algo = results[i].algo;
    if (!product().ok()) // (A candidate cuBLASLt then refuses: skipped.)
      continue;
    bool ran = check(cu_.eventRecord(start, stream_), "cuEventRecord").ok();
    for (int run = 0; ran && run < kRuns; ++run)
      ran = product().ok();
    ran = ran && check(cu_.eventRecord(stop, stream_), "cuEventRecord").ok();
    if (Status s = check(cu_.streamSynchronize(stream_),
                         "timing cuBLASLt's algorithms");
        !s.ok()) {
      plan.plan.algo = planned;
      return s; // (The GPU failed: not a candidate's refusal.)
    }
    float ms = 0;
    if (!ran || cu_.eventElapsedTime(&ms, start, stop) != CUDA_SUCCESS)
      continue;
    ms /= float(kRuns);
    if (i == 0)
      firstMs = ms;
    if (best < 0 || ms < bestMs)
      best = i, bestMs = ms;
  }
  if (best < 0)
    return unmeasured();
  plan.plan.algo = results[best].algo;
  gemmTuned_[plan.plan.form] = results[best].algo;
  char times[64];
  std::snprintf(times, sizeof times, "%.6f ms, first %.6f\n", bestMs, firstMs);
  keepRecord(tunedKey(plan.plan.form), algoText(results[best].algo) + times);
  if (profileRequested()) {
    char first[32] = "not run";
    if (firstMs >= 0)
      std::snprintf(first, sizeof first, "%.4f ms", firstMs);
    std::fprintf(stderr,
                 "kiln profile: GEMM %lldx%lldx%lld (batch %lld): cuBLASLt's "
                 "candidate %d of %d measured fastest, %.4f ms (its first: "
                 "%s; this step's time includes the measuring)\n",
                 (long long)g.m, (long long)g.n, (long long)g.k,
                 (long long)g.batch, best + 1, found, bestMs, first);
  }
  return Status();
}

void CudaBackend::destroy(GemmPlan &plan) {
  if (plan.desc)
    lt_->matmulDescDestroy(plan.desc);
  for (cublasLtMatrixLayout_t l : {plan.a, plan.b, plan.c, plan.d})
    if (l)
      lt_->matrixLayoutDestroy(l);
  plan = GemmPlan();
}

Status CudaBackend::planGemmStep(const GemmCall &g, GemmStep &step) {
  // C: a row of N with beta 1 is the bias epilogue; M x N is cuBLAS's C
  // (the same for every batch); anything else (one value, another beta) is
  // broadcast into out first, and out is C.
  const Buffer *c = g.c >= 0 ? &program_.buffers[g.c] : nullptr;
  int64_t cElements = c ? c->elements() : 0;
  bool bias = c && cElements == g.n && g.beta == 1;
  step.sharedC = c && !bias && cElements == g.m * g.n;
  step.fill = c && !bias && !step.sharedC;
  step.beta = c && !bias ? g.beta : 0;
  GemmShape shape;
  shape.f64 = program_.buffers[g.out].dtype == DType::F64;
  shape.transA = g.transA;
  shape.transB = g.transB;
  shape.relu = g.relu;
  shape.m = g.m;
  shape.n = g.n;
  shape.k = g.k;
  shape.batch = g.batch;
  shape.strideA = g.strideA;
  shape.strideB = g.strideB;
  shape.strideC = step.sharedC ? 0 : g.strideOut;
  shape.strideOut = g.strideOut;
  shape.bias = bias ? at(g.c) : 0;
  const int64_t size = shape.f64 ? 8 : 4;
  auto offset = [&](int32_t id) { return program_.buffers[id].offset; };
  shape.align = alignmentOf({offset(g.a), offset(g.b), offset(g.out),
                             c ? offset(g.c) : 0, g.strideA * size,
                             g.strideB * size, g.strideOut * size});
  if (g.sumOf != GemmCall::SumOf::Out) {
    shape.sums = at(g.biasGrad);
    shape.sumsOfA = g.sumOf == GemmCall::SumOf::A;
    Status fused = planGemm(shape, step.plan);
    if (fused.ok() || fused.code() != KILN_STATUS_UNIMPLEMENTED)
      return fused;
    // No algorithm with the BGRAD epilogue for this product (cuBLASLt's
    // support varies by version, type and layout): the plain product, and
    // the sum by the runtime's own kernel.
    destroy(step.plan);
    shape.sums = 0;
    step.sumKernel = true;
  }
  return planGemm(shape, step.plan);
}

Status CudaBackend::planDnn(const ConvCall &c, DnnConv &d) {
  // cuDNN pads both sides alike: the output size says whether the
  // bottom and right pads equal the top and left ones.
  auto size = [](int64_t in, int64_t pad, int64_t k, int64_t dilation,
                 int64_t stride) {
    return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
  };
  if (size(c.h, c.padTop, c.kh, c.dilationH, c.strideH) != c.oh ||
      size(c.w, c.padLeft, c.kw, c.dilationW, c.strideW) != c.ow)
    return Status();
  const bool f64 = program_.buffers[c.out].dtype == DType::F64;
  const int type = f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  cudnnStatus_t r = CUDNN_STATUS_SUCCESS;
  auto call = [&](cudnnStatus_t result) {
    if (r == CUDNN_STATUS_SUCCESS)
      r = result;
  };
  call(dnn_->createTensorDescriptor(&d.x));
  call(dnn_->createTensorDescriptor(&d.y));
  call(dnn_->createFilterDescriptor(&d.w));
  call(dnn_->createConvolutionDescriptor(&d.conv));
  call(dnn_->setTensor4dDescriptor(d.x, CUDNN_TENSOR_NCHW, type, int(c.n),
                                   int(c.c), int(c.h), int(c.w)));
  call(dnn_->setTensor4dDescriptor(d.y, CUDNN_TENSOR_NCHW, type, int(c.n),
                                   int(c.m), int(c.oh), int(c.ow)));
  call(dnn_->setFilter4dDescriptor(d.w, type, CUDNN_TENSOR_NCHW, int(c.m),
                                   int(c.c / c.group), int(c.kh), int(c.kw)));
  call(dnn_->setConvolution2dDescriptor(
      d.conv, int(c.padTop), int(c.padLeft), int(c.strideH), int(c.strideW),
      int(c.dilationH), int(c.dilationW), CUDNN_CROSS_CORRELATION, type));
  call(dnn_->setConvolutionGroupCount(d.conv, int(c.group)));
  // TF32 as PyTorch's allow_tf32 (cuDNN's default math); else plain FMA.
  call(dnn_->setConvolutionMathType(
      d.conv, tf32_ && !f64 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  if (c.bias >= 0) {
    call(dnn_->createTensorDescriptor(&d.bias));
    call(dnn_->setTensor4dDescriptor(d.bias, CUDNN_TENSOR_NCHW, type, 1,
                                     int(c.m), 1, 1));
  }
  // The algorithm: the first of cuDNN's heuristics that works within the
  // workspace; with KILN_CUDNN_FIND=1, the fastest of cuDNN's algorithms,
  // each run and timed once for this convolution on this GPU (cudnnFind*,
  // as PyTorch's cudnn.benchmark), the choice kept in the kernel cache. On
  // an H100 the heuristics did better (ResNet-18, TF32: 6.8 ms a step
  // against 7.8, and 14 MiB less workspace): Find times each algorithm
  // alone, once, and its choice may differ from run to run. Each result is
  // an algorithm with a math type (set with it; without TF32, fp32 takes
  // plain FMA only).
  const int64_t cap = std::max(convCap_, kDnnWorkspace);
  // The result taken, if any.
  auto choose = [&](const cudnnAlgoPerf_t *perf, int found) -> int {
    for (int i = 0; i < found; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS &&
          int64_t(perf[i].memory) <= cap &&
          (f64 || tf32_ || perf[i].mathType == CUDNN_FMA_MATH)) {
        d.used = true;
        d.algo = perf[i].algo;
        d.math = perf[i].mathType;
        d.workspace = perf[i].memory;
        call(dnn_->setConvolutionMathType(d.conv, perf[i].mathType));
        return i;
      }
    return -1;
  };
  const bool measure =
      envFlag("KILN_CUDNN_FIND", false) && dnn_->findForwardAlgorithm &&
      dnn_->findBackwardDataAlgorithm && dnn_->findBackwardFilterAlgorithm;
  // The form (with measured choices, also their key in the kernel cache).
  std::string key;
  if (r == CUDNN_STATUS_SUCCESS) {
    char text[1024];
    std::snprintf(
        text, sizeof text,
        "cudnn-algo %zu %s %s mode %d n %lld c %lld h %lld w %lld m %lld "
        "k %lldx%lld out %lldx%lld stride %lldx%lld dilation %lldx%lld "
        "pad %lldx%lld group %lld %s %s workspace %lld",
        dnn_->getVersion(), deviceName_.c_str(), arch_.c_str(), int(c.mode),
        (long long)c.n, (long long)c.c, (long long)c.h, (long long)c.w,
        (long long)c.m, (long long)c.kh, (long long)c.kw, (long long)c.oh,
        (long long)c.ow, (long long)c.strideH, (long long)c.strideW,
        (long long)c.dilationH, (long long)c.dilationW, (long long)c.padTop,
        (long long)c.padLeft, (long long)c.group, f64 ? "f64" : "f32",
        tf32_ && !f64 ? "tf32" : "fma", (long long)cap);
    key = text;
    cudnnAlgoPerf_t kept{};
    unsigned long long memory = 0;
    if (auto known = dnnChoices_.find(key); known != dnnChoices_.end()) {
      choose(&known->second, 1);
    } else if (measure &&
               std::sscanf(cachedRecord(key).c_str(), "%d %d %llu", &kept.algo,
                           &kept.mathType, &memory) == 3) {
      kept.memory = size_t(memory);
      choose(&kept, 1);
    }
  }
  // cuDNN's algorithms for this direction, as measured (Find) or as its
  // heuristics rank them (the two take the same arguments).
  auto algorithms = [&](bool measured, cudnnAlgoPerf_t *perf,
                        int &found) -> cudnnStatus_t {
    found = 0;
    if (c.mode == ConvCall::Mode::Forward)
      return (measured ? dnn_->findForwardAlgorithm
                       : dnn_->getForwardAlgorithm)(
          dnnHandle_, d.x, d.w, d.conv, d.y, 8, &found, perf);
    if (c.mode == ConvCall::Mode::BackwardData)
      return (measured ? dnn_->findBackwardDataAlgorithm
                       : dnn_->getBackwardDataAlgorithm)(
          dnnHandle_, d.w, d.y, d.conv, d.x, 8, &found, perf);
    return (measured ? dnn_->findBackwardFilterAlgorithm
                     : dnn_->getBackwardFilterAlgorithm)(
        dnnHandle_, d.x, d.y, d.conv, d.w, 8, &found, perf);
  };
  if (!d.used && r == CUDNN_STATUS_SUCCESS) {
    cudnnAlgoPerf_t perf[8] = {};
    int found = 0;
    if (measure) {
      int chosen = algorithms(true, perf, found) == CUDNN_STATUS_SUCCESS
                       ? choose(perf, found)
                       : -1;
      if (chosen >= 0) {
        char value[64];
        std::snprintf(value, sizeof value, "%d %d %llu\n", d.algo,
                      perf[chosen].mathType, (unsigned long long)d.workspace);
        keepRecord(key, value);
      }
    }
    if (!d.used) {
      call(algorithms(false, perf, found));
      choose(perf, found);
    }
  }
  if (r == CUDNN_STATUS_SUCCESS && d.used) {
    cudnnAlgoPerf_t chosen{};
    chosen.algo = d.algo;
    chosen.mathType = d.math;
    chosen.memory = d.workspace;
    dnnChoices_.emplace(key, chosen);
    return Status();
  }
  destroy(d);
  return Status(KILN_STATUS_UNIMPLEMENTED,
                r != CUDNN_STATUS_SUCCESS
                    ? std::string("cuDNN: ") + dnn_->getErrorString(r)
                    : "cuDNN has no algorithm for a convolution");
}

void CudaBackend::destroy(DnnConv &d) {
  if (d.x)
    dnn_->destroyTensorDescriptor(d.x);
  if (d.y)
    dnn_->destroyTensorDescriptor(d.y);
  if (d.bias)
    dnn_->destroyTensorDescriptor(d.bias);
  if (d.w)
    dnn_->destroyFilterDescriptor(d.w);
  if (d.conv)
    dnn_->destroyConvolutionDescriptor(d.conv);
  d = DnnConv();
}

Status CudaBackend::planConv(const ConvCall &c, CUdeviceptr &tables,
                             ConvStep &step) {
  if (step.dnn.used)
    return Status();
  const bool f64 = program_.buffers[c.out].dtype == DType::F64;
  int64_t rows = c.c / c.group * c.kh * c.kw, cols = c.oh * c.ow,
          mg = c.m / c.group;
  step.block = convBlock(c, f64 ? 8 : 4, convCap_).first;
  step.shape = tables;
  int64_t shape[16] = {c.n,       c.c,       c.h,           c.w,
                       c.m,       c.kh,      c.kw,          c.oh,
                       c.ow,      c.strideH, c.strideW,     c.dilationH,
                       c.dilationW, c.padTop, c.padLeft,    c.group};
  tables += CUdeviceptr(alignUp(sizeof shape));
  if (Status s = write(int64_t(step.shape - base_), shape, sizeof shape);
      !s.ok())
    return s;
  // The GEMM of a block of `images`, per mode (ConvCall's products).
  auto plan = [&](int64_t images, GemmPlan &out) {
    int64_t wide = images * cols, size = f64 ? 8 : 4;
    GemmShape g;
    g.f64 = f64;
    // The weight (or dW) slice of each group; the workspace is aligned.
    g.align = alignmentOf({program_.buffers[c.weight].offset,
                           program_.buffers[c.out].offset,
                           c.group > 1 ? mg * rows * size : 0});
    if (c.mode == ConvCall::Mode::Forward) {
      g.m = mg, g.n = wide, g.k = rows; // W[g] x patches
    } else if (c.mode == ConvCall::Mode::BackwardFilter) {
      g.m = mg, g.n = rows, g.k = wide, g.transB = true; // dy x patches^T
    } else {
      g.m = rows, g.n = wide, g.k = mg, g.transA = true; // W[g]^T x dy
    }
    return planGemm(g, out);
  };
  if (Status s = plan(step.block, step.full); !s.ok())
    return s;
  if (c.n % step.block)
    return plan(c.n % step.block, step.last);
  return Status();
}

Status CudaBackend::matmul(const GemmPlan &plan, CUdeviceptr a, CUdeviceptr b,
                           CUdeviceptr c, CUdeviceptr out, double alpha,
                           double beta) {
  float alpha32 = float(alpha), beta32 = float(beta);
  const void *al = plan.f64 ? static_cast<const void *>(&alpha) : &alpha32;
  const void *be = plan.f64 ? static_cast<const void *>(&beta) : &beta32;
  cublasStatus_t r = lt_->matmul(
      blas_, plan.desc, al, reinterpret_cast<const void *>(b), plan.a,
      reinterpret_cast<const void *>(a), plan.b, be,
      reinterpret_cast<const void *>(c), plan.c,
      reinterpret_cast<void *>(out), plan.d, &plan.algo,
      reinterpret_cast<void *>(workspace_), kGemmWorkspace, stream_);
  if (r != CUBLAS_STATUS_SUCCESS)
    return Status(KILN_STATUS_INTERNAL,
                  std::string("cuBLASLt: cublasLtMatmul: ") +
                      lt_->getStatusString(r));
  return Status();
}

Status CudaBackend::launchBuiltin(CUfunction fn, int64_t threads,
                                  std::vector<void *> params) {
  unsigned grid = unsigned(std::clamp<int64_t>(
      (threads + kThreads - 1) / kThreads, 1, int64_t(sms_) * 32));
  return check(cu_.launchKernel(fn, grid, 1, 1, kThreads, 1, 1, 0, stream_,
                                params.data(), nullptr),
               "cuLaunchKernel (the runtime's own kernel)");
}

Status CudaBackend::enqueueGemm(const Step &step, GemmStep &plan) {
  const GemmCall &g = step.gemm;
  // KILN_GEMM_TUNE: a form not measured yet is measured in an eager run (a
  // product with C broadcast into out first is not: it reads what it
  // writes); another step of a measured form takes its choice.
  if (tuneGemms_ && !plan.fill) {
    if (!gemmTuned_.count(plan.plan.form) && !capturing_)
      if (Status s = tuneGemm(step, plan); !s.ok())
        return s;
    if (auto tuned = gemmTuned_.find(plan.plan.form); tuned != gemmTuned_.end())
      plan.plan.algo = tuned->second;
  }
  const int t = plan.plan.f64 ? 1 : 0;
  CUdeviceptr out = at(g.out);
  if (plan.fill) {
    CUdeviceptr c = at(g.c);
    long long cn = program_.buffers[g.c].elements();
    long long m = g.m, n = g.n, batch = g.batch, stride = g.strideOut;
    if (Status s = launchBuiltin(fill_[t], g.batch * g.m * g.n,
                                 {&out, &c, &cn, &m, &n, &batch, &stride});
        !s.ok())
      return s;
  }
  if (Status s = matmul(plan.plan, at(g.a), at(g.b),
                        plan.sharedC ? at(g.c) : out, out, g.alpha, plan.beta);
      !s.ok())
    return s;
  if (plan.sumKernel) {
    bool ofA = g.sumOf == GemmCall::SumOf::A;
    CUdeviceptr x = at(ofA ? g.a : g.b), sums = at(g.biasGrad);
    long long count = ofA ? g.m : g.n, k = g.k,
              kMajor = ofA ? g.transA : !g.transB;
    // A block of kThreads per strip of 32 columns, or a thread per row.
    return launchBuiltin(operandSum_[t],
                         kMajor ? (count + 31) / 32 * kThreads : count,
                         {&x, &sums, &count, &k, &kMajor});
  }
  if (g.reluMask >= 0) {
    CUdeviceptr mask = at(g.reluMask), grad = at(g.biasGrad);
    long long m = g.m, n = g.n;
    return launchBuiltin(reluBiasGrad_[t], (g.n + 31) / 32 * kThreads,
                         {&out, &mask, &grad, &m, &n});
  }
  return Status();
}

Status CudaBackend::enqueueConv(const Step &step, const ConvStep &plan) {
  const ConvCall &c = step.conv;
  if (plan.dnn.used) {
    const DnnConv &d = plan.dnn;
    const bool f64 = program_.buffers[c.out].dtype == DType::F64;
    const float oneF = 1, zeroF = 0;
    const double oneD = 1, zeroD = 0;
    const void *one = f64 ? static_cast<const void *>(&oneD) : &oneF;
    const void *zero = f64 ? static_cast<const void *>(&zeroD) : &zeroF;
    auto ptr = [&](int32_t id) {
      return reinterpret_cast<void *>(at(id));
    };
    void *workspace = reinterpret_cast<void *>(convWorkspace_);
    cudnnStatus_t r;
    if (c.mode == ConvCall::Mode::Forward) {
      r = dnn_->forward(dnnHandle_, one, d.x, ptr(c.input), d.w,
                        ptr(c.weight), d.conv, d.algo, workspace,
                        d.workspace, zero, d.y, ptr(c.out));
      if (r == CUDNN_STATUS_SUCCESS && c.bias >= 0)
        r = dnn_->addTensor(dnnHandle_, one, d.bias, ptr(c.bias), one, d.y,
                            ptr(c.out));
    } else if (c.mode == ConvCall::Mode::BackwardData) {
      // `input` holds dL/dy.
      r = dnn_->backwardData(dnnHandle_, one, d.w, ptr(c.weight), d.y,
                             ptr(c.input), d.conv, d.algo, workspace,
                             d.workspace, zero, d.x, ptr(c.out));
    } else {
      // `weight` holds dL/dy.
      r = dnn_->backwardFilter(dnnHandle_, one, d.x, ptr(c.input), d.y,
                               ptr(c.weight), d.conv, d.algo, workspace,
                               d.workspace, zero, d.w, ptr(c.out));
    }
    if (r != CUDNN_STATUS_SUCCESS)
      return Status(KILN_STATUS_INTERNAL,
                    std::string("cuDNN: a convolution failed: ") +
                        dnn_->getErrorString(r));
    return Status();
  }
  const int t = plan.full.f64 ? 1 : 0;
  const int64_t size = t ? 8 : 4;
  int64_t rows = c.c / c.group * c.kh * c.kw, cols = c.oh * c.ow,
          mg = c.m / c.group;
  CUdeviceptr shape = plan.shape, in = at(c.input), weight = at(c.weight),
              out = at(c.out), bias = c.bias >= 0 ? at(c.bias) : 0;
  // The block's patches, then its GEMM result (or gathered dL/dy).
  CUdeviceptr patches = convWorkspace_,
              result = convWorkspace_ +
                       CUdeviceptr(alignUp(rows * plan.block * cols * size));
  using Mode = ConvCall::Mode;
  for (long long n0 = 0; n0 < c.n; n0 += plan.block) {
    long long nb = std::min<long long>(plan.block, c.n - n0);
    const GemmPlan &gemm = nb == plan.block ? plan.full : plan.last;
    int64_t wide = nb * cols;
    for (long long g = 0; g < c.group; ++g) {
      Status s;
      if (c.mode == Mode::Forward) {
        CUdeviceptr w = weight + CUdeviceptr(g * mg * rows * size);
        s = launchBuiltin(im2col_[t], rows * wide,
                          {&shape, &in, &patches, &n0, &nb, &g});
        if (s.ok())
          s = matmul(gemm, w, patches, result, result, 1, 0);
        if (s.ok())
          s = launchBuiltin(convScatter_[t], mg * wide,
                            {&shape, &result, &bias, &out, &n0, &nb, &g});
      } else if (c.mode == Mode::BackwardFilter) {
        // dW[g] (+)= dy [mg, wide] x patches^T; `weight` holds dL/dy.
        CUdeviceptr dw = out + CUdeviceptr(g * mg * rows * size);
        s = launchBuiltin(convGather_[t], mg * wide,
                          {&shape, &weight, &result, &n0, &nb, &g});
        if (s.ok())
          s = launchBuiltin(im2col_[t], rows * wide,
                            {&shape, &in, &patches, &n0, &nb, &g});
        if (s.ok())
          s = matmul(gemm, result, patches, dw, dw, 1, n0 == 0 ? 0 : 1);
      } else {
        // The patches' gradient W[g]^T x dy, back to the input positions;
        // `input` holds dL/dy.
        CUdeviceptr w = weight + CUdeviceptr(g * mg * rows * size);
        s = launchBuiltin(convGather_[t], mg * wide,
                          {&shape, &in, &result, &n0, &nb, &g});
        if (s.ok())
          s = matmul(gemm, w, result, patches, patches, 1, 0);
        if (s.ok())
          s = launchBuiltin(col2im_[t], nb * (c.c / c.group) * c.h * c.w,
                            {&shape, &patches, &out, &n0, &nb, &g});
      }
      if (!s.ok())
        return s;
    }
  }
  return Status();
}

Status CudaBackend::enqueue(const Entry &entry, size_t i) {
  const Step &step = entry.steps[i];
  EntryState &state = entries_.at(&entry);
  if (step.kind == Step::Kind::Gemm)
    return enqueueGemm(step, state.gemms[i]);
  if (step.kind == Step::Kind::Conv)
    return enqueueConv(step, state.convs[i]);
  if (step.kind == Step::Kind::EmbeddingGrad) {
    const EmbeddingGradCall &c = step.embedding;
    const int i64 = program_.buffers[c.ids].dtype == DType::I64,
              f64 = program_.buffers[c.out].dtype == DType::F64;
    // The program's `next` (n ints) holds each position's rank within its
    // row, `head` (rows ints) each row's count, then its end.
    CUdeviceptr ids = at(c.ids), rank = at(c.next), ends = at(c.head),
                order = embeddingSorted_, updates = at(c.updates),
                out = at(c.out);
    long long n = c.n, rows = c.rows, width = c.width;
    if (Status s = launchBuiltin(embeddingClear_, std::max(n, rows),
                                 {&rank, &ends, &n, &rows});
        !s.ok())
      return s;
    if (n > 0) {
      // A block per (tile, slice) pair (the kernel skips those after it).
      const long long tiles = (n + kThreads - 1) / kThreads;
      if (Status s =
              launchBuiltin(embeddingRanks_[i64], tiles * tiles * kThreads,
                            {&ids, &rank, &ends, &n, &rows});
          !s.ok())
        return s;
    }
    if (Status s = launchBuiltin(embeddingOffsets_, kThreads, {&ends, &rows});
        !s.ok())
      return s;
    if (n > 0)
      if (Status s = launchBuiltin(embeddingOrder_[i64], n,
                                   {&ids, &rank, &ends, &order, &n, &rows});
          !s.ok())
        return s;
    // A block per row.
    return launchBuiltin(embeddingRows_[f64], rows * kThreads,
                         {&ends, &order, &updates, &out, &rows, &width});
  }
  if (step.kind == Step::Kind::AllReduce) {
    if (!runComm_)
      return Status(); // A run of one process.
    // In place over the bucket's span: NCCL's average (or sum) across the
    // ranks, on NCCL's stream once the step's stream has the gradients
    // (later steps that touch the span wait for it: enqueueAll), else on
    // the step's stream.
    Span span = bucketSpan(program_, step);
    DType t = program_.buffers[step.args[0]].dtype;
    CUdeviceptr data = base_ + CUdeviceptr(span.offset);
    const bool aside = commStream_ && !state.ready.empty();
    if (aside) {
      if (Status s = check(cu_.eventRecord(state.ready[i], stream_),
                           "cuEventRecord (gradients ready)");
          !s.ok())
        return s;
      if (Status s = check(cu_.streamWaitEvent(commStream_, state.ready[i], 0),
                           "cuStreamWaitEvent (NCCL's stream)");
          !s.ok())
        return s;
    }
    ncclResult_t r = nccl_->allReduce(
        reinterpret_cast<const void *>(data), reinterpret_cast<void *>(data),
        size_t(span.bytes / int64_t(dtypeSize(t))),
        t == DType::F64 ? ncclFloat64 : ncclFloat32,
        step.mean ? ncclAvg : ncclSum, ncclComm_,
        aside ? commStream_ : stream_);
    // NCCL's stream, once it waits for the step's, ends this step with
    // `done` whatever happened, so that the step's stream can join it (a
    // capture must; a failed run waits for it: enqueueAll).
    Status done;
    if (aside) {
      done = check(cu_.eventRecord(state.done[i], commStream_),
                   "cuEventRecord (all-reduce done)");
      state.forked[i] = done.ok();
    }
    if (r != ncclSuccess)
      return Status(KILN_STATUS_INTERNAL,
                    std::string("NCCL: ncclAllReduce of ") +
                        (step.bucket >= 0
                             ? "gradient bucket " + std::to_string(step.bucket)
                             : std::string("statistics")) +
                        ": " + nccl_->getErrorString(r));
    return done;
  }
  if (step.kind != Step::Kind::Kernel)
    return Status();
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

void CudaBackend::dropGraphs(uint64_t generation) {
  for (auto &[entry, state] : entries_)
    if (state.graph && state.capturedWith == generation) {
      cu_.graphExecDestroy(state.graph);
      state.graph = nullptr;
      state.runs = 0;
    }
}

Status CudaBackend::joinNccl(Communicator &comm) {
  if (Status s = nccl(nccl_); !s.ok())
    return s;
  if (ncclComm_) {
    dropGraphs(ncclGeneration_);
    nccl_->commDestroy(ncclComm_);
  }
  ncclComm_ = nullptr;
  ncclFor_ = nullptr;
  ncclUniqueId id{};
  if (comm.rank() == 0)
    if (ncclResult_t r = nccl_->getUniqueId(&id); r != ncclSuccess)
      return Status(KILN_STATUS_INTERNAL,
                    std::string("NCCL: ncclGetUniqueId: ") +
                        nccl_->getErrorString(r));
  if (Status s = comm.broadcast(&id, sizeof id, 0,
                                "the broadcast of rank 0's NCCL id");
      !s.ok())
    return s;
  // ncclCommInitRank waits for every rank, for ever if one died: it runs
  // on a thread of its own (with this context current, which is how NCCL
  // picks the GPU), waited for at most the collective timeout. A thread
  // that never returns is left behind: the error ends the job.
  struct Init {
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    ncclComm_t comm = nullptr;
    ncclResult_t result = ncclSuccess;
  };
  auto init = std::make_shared<Init>();
  const DriverApi &cu = cu_;
  const NcclApi *api = nccl_;
  CUcontext context = context_;
  int size = comm.size(), rank = comm.rank();
  std::thread([init, &cu, api, context, id, size, rank] {
    ContextScope current(cu, context);
    ncclComm_t made = nullptr;
    ncclResult_t r = api->commInitRank(&made, size, id, rank);
    std::lock_guard<std::mutex> lock(init->mutex);
    init->comm = made;
    init->result = r;
    init->finished = true;
    init->done.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(init->mutex);
  if (!init->done.wait_for(lock, std::chrono::duration<double>(comm.timeout()),
                           [&] { return init->finished; })) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", comm.timeout());
    return Status(KILN_STATUS_DEADLINE_EXCEEDED,
                  "NCCL's communicator of " + std::to_string(size) +
                      " ranks was not made within " + seconds +
                      " s: another rank has died or hangs "
                      "(--collective-timeout sets the limit)");
  }
  if (init->result != ncclSuccess)
    return Status(KILN_STATUS_INTERNAL,
                  "NCCL: ncclCommInitRank (rank " + std::to_string(rank) +
                      " of " + std::to_string(size) +
                      "): " + nccl_->getErrorString(init->result));
  ncclComm_ = init->comm;
  ncclFor_ = &comm;
  ++ncclGeneration_;
  if (!commStream_ && cu_.streamWaitEvent && cu_.eventCreate &&
      cu_.eventRecord && cu_.eventDestroy)
    if (Status s = check(cu_.streamCreate(&commStream_,
                                          CU_STREAM_NON_BLOCKING),
                         "cuStreamCreate (NCCL's stream)");
        !s.ok())
      return s;
  return Status();
}

Status CudaBackend::finish(const Entry &entry) {
  if (!runComm_) {
    if (CUresult r = cu_.streamSynchronize(stream_); r != CUDA_SUCCESS)
      return fail("running '" + entry.name + "'" +
                      (syncEach_ ? std::string()
                                 : " (KILN_CUDA_SYNC=1 names the step)"),
                  r);
    return Status();
  }
  // A rank that died or hangs leaves NCCL waiting for ever: poll the
  // stream and NCCL's own errors, up to the collective timeout.
  using Clock = std::chrono::steady_clock;
  double limit = runComm_->timeout();
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(limit));
  for (int spins = 0;; ++spins) {
    CUresult r = cu_.streamQuery(stream_);
    if (r == CUDA_SUCCESS)
      return Status();
    if (r != CUDA_ERROR_NOT_READY)
      return fail("running '" + entry.name + "'", r);
    ncclResult_t async = ncclSuccess;
    nccl_->commGetAsyncError(ncclComm_, &async);
    bool late = Clock::now() > deadline;
    if ((async != ncclSuccess && async != ncclInProgress) || late) {
      // (A graph in flight is freed when it completes; the abort ends its
      // collectives.)
      dropGraphs(ncclGeneration_);
      nccl_->commAbort(ncclComm_);
      ncclComm_ = nullptr;
      ncclFor_ = nullptr;
      ++ncclGeneration_;
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", limit);
      return late ? Status(KILN_STATUS_DEADLINE_EXCEEDED,
                           "'" + entry.name + "' (its NCCL all-reduces) did "
                           "not complete within " + seconds +
                           " s: another rank has died or hangs "
                           "(--collective-timeout sets the limit)")
                  : Status(KILN_STATUS_INTERNAL,
                           "NCCL failed during '" + entry.name +
                               "': " + nccl_->getErrorString(async));
    }
    if (spins > 1000)
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status CudaBackend::synchronize() {
  if (!pending_)
    return Status();
  ContextScope current(cu_, context_);
  const Entry &entry = *pending_;
  pending_ = nullptr;
  return finish(entry);
}

Status CudaBackend::run(const Entry &entry, const RunOptions &options) {
  ContextScope current(cu_, context_);
  Status s = runSteps(entry, options);
  // On an error too, nothing of the run (its inputs' copies) is left in
  // flight when it returns.
  if (!s.ok())
    cu_.streamSynchronize(stream_);
  return s;
}

Status CudaBackend::runSteps(const Entry &entry, const RunOptions &options) {
  // Any communicator a run is given is a job's (a single process has none):
  // a job of one rank (kiln_run_step --one-rank) runs NCCL too.
  runComm_ = options.comm;
  if (runComm_ && ncclFor_ != runComm_)
    if (Status s = joinNccl(*runComm_); !s.ok())
      return s;
  EntryState &state = entries_.at(&entry);
  // A graph holds the collectives of the communicator it was captured
  // with: with another, it is captured again after an eager run (NCCL may
  // still connect during a communicator's first collectives).
  uint64_t generation = runComm_ ? ncclGeneration_ : 0;
  if (state.graph && state.capturedWith != generation) {
    cu_.graphExecDestroy(state.graph);
    state.graph = nullptr;
    state.runs = 0;
  }
  // KILN_PROFILE: the run goes step by step (no graph), with an event
  // before the first step and after each, and prints the steps' times.
  ScopedEvents timed{cu_, {}};
  std::vector<CUevent> &events = timed.events;
  const bool profiling = profileRequested() && cu_.eventCreate &&
                         cu_.eventRecord && cu_.eventElapsedTime &&
                         cu_.eventDestroy;
  auto record = [&]() -> Status {
    CUevent e = nullptr;
    if (Status s = check(cu_.eventCreate(&e, 0), "cuEventCreate"); !s.ok())
      return s;
    events.push_back(e);
    return check(cu_.eventRecord(e, stream_), "cuEventRecord");
  };
  // With NCCL on its own stream: each AllReduce step's events, and the
  // steps that wait for them, planned once.
  const bool aside = runComm_ && commStream_;
  if (aside && state.ready.empty()) {
    state.awaits = collectiveAwaits(program_, entry);
    state.ready.assign(entry.steps.size(), nullptr);
    state.done.assign(entry.steps.size(), nullptr);
    state.forked.assign(entry.steps.size(), 0);
    for (size_t i = 0; i < entry.steps.size(); ++i)
      if (entry.steps[i].kind == Step::Kind::AllReduce)
        for (CUevent *e : {&state.ready[i], &state.done[i]})
          if (Status s = check(cu_.eventCreate(e, CU_EVENT_DISABLE_TIMING),
                               "cuEventCreate");
              !s.ok()) {
            dropCollectiveEvents(state); // (The next run plans them again.)
            return s;
          }
  }
  // The step's stream waits for the all-reduces step i (the entry's end:
  // i == steps) awaits.
  auto awaitCollectives = [&](size_t i) -> Status {
    if (!aside)
      return Status();
    for (size_t a : state.awaits[i])
      if (Status s = check(cu_.streamWaitEvent(stream_, state.done[a], 0),
                           "cuStreamWaitEvent (an all-reduce's result)");
          !s.ok())
        return s;
    return Status();
  };
  // A pass that fails part-way first joins NCCL's stream to the step's (the
  // all-reduces it started), so that neither a capture ends with it forked
  // nor a failed run returns while NCCL still writes the arena.
  auto enqueuePass = [&]() -> Status {
    for (size_t i = 0; i < entry.steps.size(); ++i) {
      if (profiling && i == 0)
        if (Status s = record(); !s.ok())
          return s;
      if (Status s = awaitCollectives(i); !s.ok())
        return s;
      if (Status s = enqueue(entry, i); !s.ok())
        return std::move(s.annotate("step " + std::to_string(i)));
      if (profiling)
        if (Status s = record(); !s.ok())
          return s;
      if (syncEach_) {
        CUresult r = cu_.streamSynchronize(stream_);
        if (r == CUDA_SUCCESS && aside &&
            entry.steps[i].kind == Step::Kind::AllReduce)
          r = cu_.streamSynchronize(commStream_);
        if (r != CUDA_SUCCESS)
          return fail("step " + std::to_string(i) + " of '" + entry.name + "'",
                      r);
      }
    }
    return awaitCollectives(entry.steps.size());
  };
  auto enqueueAll = [&]() -> Status {
    if (aside)
      std::fill(state.forked.begin(), state.forked.end(), 0);
    Status s = enqueuePass();
    if (!s.ok() && aside)
      for (size_t a = 0; a < state.forked.size(); ++a)
        if (state.forked[a])
          cu_.streamWaitEvent(stream_, state.done[a], 0);
    return s;
  };
  // The first run is eager (it shows any error step by step); the second
  // is captured as a graph, and later runs replay it.
  // A capture that fails leaves the entry eager, with a warning.
  if (!state.graph && !state.noGraph && graphs_ && !syncEach_ && !profiling &&
      state.runs >= 1 && state.eagerWith == generation) {
    CUresult r = cu_.streamBeginCapture(stream_,
                                        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    CUgraph graph = nullptr;
    CUgraphExec exec = nullptr;
    std::string why;
    if (r == CUDA_SUCCESS) {
      // A step that cannot be captured (a library call refusing) leaves
      // the entry eager too; the eager run below reports a real error.
      capturing_ = true;
      Status enqueued = enqueueAll();
      capturing_ = false;
      r = cu_.streamEndCapture(stream_, &graph);
      if (!enqueued.ok()) {
        why = std::string(enqueued.message());
        if (r == CUDA_SUCCESS)
          r = CUresult(999);
      }
    }
    if (r == CUDA_SUCCESS)
      r = cu_.graphInstantiate(&exec, graph, 0);
    if (graph)
      cu_.graphDestroy(graph);
    if (r == CUDA_SUCCESS) {
      state.graph = exec;
      state.capturedWith = generation;
    } else {
      state.noGraph = true;
      if (why.empty())
        why = cuda::describe(cu_, r);
      std::fprintf(stderr,
                   "kiln: warning: cannot capture '%s' as a CUDA graph (%s); "
                   "it runs step by step\n",
                   entry.name.c_str(), why.c_str());
    }
  }
  if (state.graph && !profiling) {
    if (Status s = check(cu_.graphLaunch(state.graph, stream_),
                         "cuGraphLaunch of '" + entry.name + "'");
        !s.ok())
      return s;
  } else {
    if (Status s = enqueueAll(); !s.ok())
      return s;
    state.eagerWith = generation;
  }
  ++state.runs;
  if (profiling) {
    if (Status s = finish(entry); !s.ok())
      return s;
    std::vector<std::pair<double, size_t>> times;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      float ms = 0;
      if (Status s = check(cu_.eventElapsedTime(&ms, events[i], events[i + 1]),
                           "cuEventElapsedTime");
          !s.ok())
        return s;
      times.push_back({double(ms), i});
    }
    printProfile(program_, entry, times);
    pending_ = nullptr;
    return Status();
  }
  if (!options.wait) {
    pending_ = &entry;
    return Status();
  }
  pending_ = nullptr;
  return finish(entry);
}

Status CudaBackend::write(int64_t offset, const void *data, int64_t bytes) {
  if (Status s = synchronize(); !s.ok())
    return s;
  ContextScope current(cu_, context_);
  std::string what = "copying " + std::to_string(bytes) + " bytes to the GPU";
  if (Status s = check(cu_.memcpyHtoDAsync(base_ + CUdeviceptr(offset), data,
                                           size_t(bytes), stream_),
                       what);
      !s.ok())
    return s;
  return check(cu_.streamSynchronize(stream_), what);
}

Status CudaBackend::writeBeforeRun(int64_t offset, const void *data,
                                   int64_t bytes) {
  // On the step's stream, ahead of its work. Small inputs (a step's
  // scalars) go through the pinned ring, copied there first, so the copy
  // neither waits for the stream nor reads the caller's memory later; when
  // the ring wraps, the copies still reading its start are waited for.
  // Larger ones are copied from the caller's memory (staged by the driver
  // when pageable).
  ContextScope current(cu_, context_);
  std::string what =
      "copying an input of " + std::to_string(bytes) + " bytes to the GPU";
  const void *from = data;
  size_t size = size_t(bytes);
  if (size <= kStagingBytes / 16) {
    if (!staging_)
      if (Status s = check(cu_.memAllocHost(reinterpret_cast<void **>(
                                                &staging_),
                                            kStagingBytes),
                           "cuMemAllocHost");
          !s.ok())
        return s;
    size_t at = (stagingAt_ + 63) / 64 * 64;
    if (at + size > kStagingBytes) {
      if (Status s = check(cu_.streamSynchronize(stream_), what); !s.ok())
        return s;
      at = 0;
    }
    std::memcpy(staging_ + at, data, size);
    stagingAt_ = at + size;
    from = staging_ + at;
  }
  return check(
      cu_.memcpyHtoDAsync(base_ + CUdeviceptr(offset), from, size, stream_),
      what);
}

Status CudaBackend::read(int64_t offset, void *data, int64_t bytes) {
  if (Status s = synchronize(); !s.ok())
    return s;
  ContextScope current(cu_, context_);
  std::string what =
      "copying " + std::to_string(bytes) + " bytes from the GPU";
  if (Status s = check(cu_.memcpyDtoHAsync(data, base_ + CUdeviceptr(offset),
                                           size_t(bytes), stream_),
                       what);
      !s.ok())
    return s;
  return check(cu_.streamSynchronize(stream_), what);
}

} // namespace

Status available() {
  const DriverApi *api = nullptr;
  if (Status s = driver(api); !s.ok())
    return s;
  int count = 0;
  if (CUresult r = api->deviceGetCount(&count); r != CUDA_SUCCESS)
    return Status(KILN_STATUS_UNAVAILABLE,
                  "cuDeviceGetCount: " + cuda::describe(*api, r));
  if (count == 0)
    return Status(KILN_STATUS_UNAVAILABLE, "the NVIDIA driver sees no GPU");
  return Status();
}

Status checkAbi(const std::string &source) {
  const std::string mark = "#define KILN_CUDA_ABI ";
  size_t at = source.find(mark);
  int abi = at == std::string::npos
                ? 1 // (Before the mark: the first contract.)
                : std::atoi(source.c_str() + at + mark.size());
  if (abi == kCudaAbi)
    return Status();
  return Status(KILN_STATUS_FAILED_PRECONDITION,
                "the artifact's CUDA kernels were printed by a kiln whose "
                "contract with the runtime is version " +
                    std::to_string(abi) + "; this runtime's is version " +
                    std::to_string(kCudaAbi) +
                    ": compile the model again with the kiln of this runtime");
}

/// cuBLASLt's first heuristic query in a process is slow (0.09-0.14 s on an
/// H100, whatever the GEMM: it sets up its tables for the GPU), its later
/// ones quick; asked here once, for a small fp32 product, so that the
/// backend's own queries are the quick ones.
void warmHeuristics(const DriverApi &cu, const BlasLtApi &lt,
                    CUcontext context) {
  ContextScope current(cu, context);
  cublasLtHandle_t handle = nullptr;
  // (Not on another GPU's context than `context`.)
  if (!current.pushed() || lt.create(&handle) != CUBLAS_STATUS_SUCCESS)
    return;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  if (lt.matmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) ==
          CUBLAS_STATUS_SUCCESS &&
      lt.matrixLayoutCreate(&layout, CUDA_R_32F, 64, 64, 64) ==
          CUBLAS_STATUS_SUCCESS &&
      lt.preferenceCreate(&preference) == CUBLAS_STATUS_SUCCESS) {
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    (void)lt.algoGetHeuristic(handle, desc, layout, layout, layout, layout,
                              preference, 1, &result, &found);
  }
  if (preference)
    lt.preferenceDestroy(preference);
  if (layout)
    lt.matrixLayoutDestroy(layout);
  if (desc)
    lt.matmulDescDestroy(desc);
  lt.destroy(handle);
}

void preload(Preloaded &out) {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  auto lap = [&start](double &seconds) {
    Clock::time_point now = Clock::now();
    seconds = std::chrono::duration<double>(now - start).count();
    start = now;
  };
  const DriverApi *api = nullptr;
  bool loaded = driver(api).ok();
  CUdevice device = 0;
  bool found = loaded && api->deviceGet(&device, out.ordinal) == CUDA_SUCCESS;
  out.gpuFound.set_value(found);
  lap(out.driverSeconds);
  if (!found)
    return;
  // cuBLASLt's library loads (it needs the driver only to choose its major
  // version) while the context is made; then its heuristics are warmed.
  const BlasLtApi *lt = nullptr;
  bool blas = false;
  std::thread library;
  try {
    library = std::thread([&lt, &blas] { blas = blasLt(lt).ok(); });
  } catch (const std::system_error &) {
    blas = blasLt(lt).ok(); // (No thread to be had: here, then.)
  }
  CUcontext context = nullptr;
  if (api->primaryCtxRetain(&context, device) == CUDA_SUCCESS) {
    out.device = int(device);
    out.held = true;
  }
  lap(out.contextSeconds);
  if (library.joinable())
    library.join();
  lap(out.blasSeconds);
  if (blas && out.held)
    warmHeuristics(*api, *lt, context);
  lap(out.heuristicsSeconds);
}

bool preloadCudnn() {
  if (im2colOnly())
    return false;
  const CudnnApi *api = nullptr;
  (void)cudnn(api);
  return true;
}

void Preloaded::release() {
  const DriverApi *api = nullptr;
  if (held && driver(api).ok())
    api->primaryCtxRelease(CUdevice(device));
  held = false;
}

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
