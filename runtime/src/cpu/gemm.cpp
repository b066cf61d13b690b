//===- gemm.cpp - matrix products on the CPU ------------------------------===//
#include "gemm.h"

#include "threads.h"

#ifdef KILN_HAVE_CBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <vector>

namespace kiln::runtime::cpu {
namespace {

/// out = alpha * op(a) * op(b) + beta * out, row-major (out already holds
/// the broadcast C, or zeros).
template <typename T>
void product(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha,
             const T *a, const T *b, T beta, T *out) {
#ifdef KILN_HAVE_CBLAS
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                alpha, a, transA ? int(m) : int(k), b, transB ? int(k) : int(n),
                beta, out, int(n));
  else
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                alpha, a, transA ? int(m) : int(k), b, transB ? int(k) : int(n),
                beta, out, int(n));
#else
  // i-p-j order: the inner loop runs along rows of b and out.
  std::vector<T> row(n);
  for (int64_t i = 0; i < m; ++i) {
    std::fill(row.begin(), row.end(), T(0));
    for (int64_t p = 0; p < k; ++p) {
      T av = transA ? a[p * m + i] : a[i * k + p];
      if (av == T(0))
        continue;
      if (transB)
        for (int64_t j = 0; j < n; ++j)
          row[j] += av * b[j * k + p];
      else
        for (int64_t j = 0; j < n; ++j)
          row[j] += av * b[p * n + j];
    }
    // With beta zero, out is not read (it may hold anything), as in BLAS.
    for (int64_t j = 0; j < n; ++j)
      out[i * n + j] =
          alpha * row[j] + (beta == T(0) ? T(0) : beta * out[i * n + j]);
  }
#endif
}

/// The column sums of a row-major rows x n matrix `x`, accumulated in
/// double with the rows in order (as the interpreter's reductions); with a
/// `mask`, x goes through a ReLU's gradient first (zeroed where the mask is
/// not positive, and written back). Blocks of 64 columns spread over the
/// cores.
template <typename T>
void columnSums(T *x, const T *mask, T *sums, int64_t rows, int64_t n) {
  parallelFor((n + 63) / 64, [&](int64_t blk) {
    int64_t j0 = blk * 64, j1 = std::min(n, j0 + 64);
    double acc[64] = {};
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = j0; j < j1; ++j) {
        T &v = x[r * n + j];
        if (mask)
          v = mask[r * n + j] > T(0) ? v : T(0);
        acc[j - j0] += double(v);
      }
    for (int64_t j = j0; j < j1; ++j)
      sums[j] = T(acc[j - j0]);
  });
}

template <typename T>
void run(const Program &p, const GemmCall &g, uint8_t *arena) {
  auto at = [&](int32_t id) {
    return reinterpret_cast<T *>(arena + p.buffers[id].offset);
  };
  const T *a = at(g.a), *b = at(g.b);
  T *out = at(g.out);
  const T *c = g.c >= 0 ? at(g.c) : nullptr;
  int64_t cElements =
      g.c >= 0 ? p.buffers[g.c].bytes() / int64_t(sizeof(T)) : 0;
  for (int64_t i = 0; i < g.batch; ++i) {
    T *o = out + i * g.strideOut;
    // Start from C broadcast to M x N (zero without C); the product adds
    // beta times it.
    if (!c || cElements == 1) {
      std::fill(o, o + g.m * g.n, c ? c[0] : T(0));
    } else if (cElements == g.n) {
      for (int64_t r = 0; r < g.m; ++r)
        std::copy(c, c + g.n, o + r * g.n);
    } else {
      std::copy(c, c + g.m * g.n, o);
    }
    product<T>(g.transA, g.transB, g.m, g.n, g.k, T(g.alpha), a + i * g.strideA,
               b + i * g.strideB, c ? T(g.beta) : T(0), o);
    if (g.relu) // NaN stays NaN, as the interpreter's max.
      parallelFor(g.m, [&](int64_t r) {
        T *row = o + r * g.n;
        for (int64_t j = 0; j < g.n; ++j)
          row[j] = row[j] < T(0) ? T(0) : row[j];
      });
  }
  if (g.sumOf != GemmCall::SumOf::Out) {
    // The sum over k of op(A) or op(B): column sums of an operand stored
    // [k, count] (A transposed, B as it is), else row sums of one stored
    // [count, k]; in double, k in order, as the interpreter's reduction.
    bool ofA = g.sumOf == GemmCall::SumOf::A;
    const T *x = ofA ? a : b;
    int64_t count = ofA ? g.m : g.n;
    T *bias = at(g.biasGrad);
    if (ofA ? g.transA : !g.transB) {
      columnSums<T>(const_cast<T *>(x), nullptr, bias, g.k, count);
    } else {
      parallelFor(count, [&](int64_t i) {
        double acc = 0;
        for (int64_t r = 0; r < g.k; ++r)
          acc += double(x[i * g.k + r]);
        bias[i] = T(acc);
      });
    }
  }
  // Through the ReLU (where(mask > 0, out, 0)), then the bias gradient.
  if (g.reluMask >= 0)
    columnSums<T>(out, at(g.reluMask), at(g.biasGrad), g.m, g.n);
}

/// The convolution's patches (im2col) for images [n0, n0 + nb) and group
/// g: row (ci, ky, kx), column (image, oy, ox); zero where padding. Rows are
/// independent: spread over the cores.
template <typename T>
void im2col(const ConvCall &c, const T *x, int64_t n0, int64_t nb, int64_t g,
            T *patches) {
  int64_t cg = c.c / c.group, rows = cg * c.kh * c.kw, cols = c.oh * c.ow;
  int64_t wide = nb * cols;
  parallelFor(rows, [&](int64_t r) {
    int64_t ci = r / (c.kh * c.kw), ky = r / c.kw % c.kh, kx = r % c.kw;
    T *row = patches + r * wide;
    for (int64_t i = 0; i < nb; ++i) {
      const T *plane = x + (((n0 + i) * c.c) + g * cg + ci) * c.h * c.w;
      for (int64_t oy = 0; oy < c.oh; ++oy) {
        int64_t iy = oy * c.strideH - c.padTop + ky * c.dilationH;
        T *dst = row + i * cols + oy * c.ow;
        if (iy < 0 || iy >= c.h) {
          std::fill(dst, dst + c.ow, T(0));
          continue;
        }
        for (int64_t ox = 0; ox < c.ow; ++ox) {
          int64_t ix = ox * c.strideW - c.padLeft + kx * c.dilationW;
          dst[ox] = (ix >= 0 && ix < c.w) ? plane[iy * c.w + ix] : T(0);
        }
      }
    }
  });
}

/// The inverse of im2col's gather: adds every patch entry back to the input
/// position it was read from (dL/dx). Planes (image, channel) are
/// independent: spread over the cores.
template <typename T>
void col2im(const ConvCall &c, const T *patches, int64_t n0, int64_t nb,
            int64_t g, T *dx) {
  int64_t cg = c.c / c.group, cols = c.oh * c.ow, wide = nb * cols;
  parallelFor(nb * cg, [&](int64_t t) {
    int64_t i = t / cg, ci = t % cg;
    T *plane = dx + (((n0 + i) * c.c) + g * cg + ci) * c.h * c.w;
    for (int64_t ky = 0; ky < c.kh; ++ky)
      for (int64_t kx = 0; kx < c.kw; ++kx) {
        const T *row = patches + ((ci * c.kh + ky) * c.kw + kx) * wide + i * cols;
        for (int64_t oy = 0; oy < c.oh; ++oy) {
          int64_t iy = oy * c.strideH - c.padTop + ky * c.dilationH;
          if (iy < 0 || iy >= c.h)
            continue;
          for (int64_t ox = 0; ox < c.ow; ++ox) {
            int64_t ix = ox * c.strideW - c.padLeft + kx * c.dilationW;
            if (ix >= 0 && ix < c.w)
              plane[iy * c.w + ix] += row[oy * c.ow + ox];
          }
        }
      }
  });
}

template <typename T>
void conv(const Program &p, const ConvCall &c, uint8_t *arena) {
  auto at = [&](int32_t id) {
    return reinterpret_cast<T *>(arena + p.buffers[id].offset);
  };
  using Mode = ConvCall::Mode;
  const T *in = at(c.input), *w = at(c.weight);
  const T *bias = c.bias >= 0 ? at(c.bias) : nullptr;
  T *out = at(c.out);
  int64_t cg = c.c / c.group, mg = c.m / c.group;
  int64_t rows = cg * c.kh * c.kw, cols = c.oh * c.ow;
  // Images go through in blocks: one GEMM per block and group, wide enough
  // for the BLAS to spread over the cores, with patches of at most ~32 MiB.
  int64_t block = std::clamp<int64_t>(
      (int64_t(32) << 20) / std::max<int64_t>(rows * cols * sizeof(T), 1), 1,
      c.n);
  int64_t width = block * cols;
  std::vector<T> patches(size_t(rows * width)), result(size_t(mg * width));
  if (c.mode == Mode::BackwardData)
    std::fill(out, out + c.n * c.c * c.h * c.w, T(0));
  for (int64_t n0 = 0; n0 < c.n; n0 += block) {
    int64_t nb = std::min(block, c.n - n0), wide = nb * cols;
    for (int64_t g = 0; g < c.group; ++g) {
      if (c.mode == Mode::Forward) {
        im2col(c, in, n0, nb, g, patches.data());
        product<T>(false, false, mg, wide, rows, T(1), w + g * mg * rows,
                   patches.data(), T(0), result.data());
        // [mg, image, oy * ox] to the output's [image, m, oy * ox], + bias.
        parallelFor(nb * mg, [&](int64_t t) {
          int64_t i = t / mg, m = t % mg;
          const T *src = result.data() + m * wide + i * cols;
          T *dst = out + ((n0 + i) * c.m + g * mg + m) * cols;
          T b = bias ? bias[g * mg + m] : T(0);
          for (int64_t j = 0; j < cols; ++j)
            dst[j] = src[j] + b;
        });
        continue;
      }
      // dL/dy [image, m, oy * ox] of this group as [mg, image * oy * ox].
      const T *dy = c.mode == Mode::BackwardData ? in : w;
      parallelFor(nb * mg, [&](int64_t t) {
        int64_t i = t / mg, m = t % mg;
        const T *src = dy + ((n0 + i) * c.m + g * mg + m) * cols;
        std::copy(src, src + cols, result.data() + m * wide + i * cols);
      });
      if (c.mode == Mode::BackwardFilter) {
        // dW[g] (+)= dy [mg, wide] * patches^T [wide, rows].
        im2col(c, in, n0, nb, g, patches.data());
        product<T>(false, true, mg, rows, wide, T(1), result.data(),
                   patches.data(), n0 == 0 ? T(0) : T(1), out + g * mg * rows);
      } else {
        // Patches' gradient = W[g]^T [rows, mg] * dy [mg, wide], then back
        // to the input positions.
        product<T>(true, false, rows, wide, mg, T(1), w + g * mg * rows,
                   result.data(), T(0), patches.data());
        col2im(c, patches.data(), n0, nb, g, out);
      }
    }
  }
}

} // namespace

void convolution(const Program &program, const ConvCall &call, uint8_t *arena) {
  if (program.buffers[call.out].dtype == DType::F64)
    conv<double>(program, call, arena);
  else
    conv<float>(program, call, arena);
}

template <typename T, typename I>
void embeddingRows(const EmbeddingGradCall &c, const I *ids, const T *updates,
                   T *out) {
  std::fill(out, out + c.rows * c.width, T(0));
  // Positions in order, as the GPU adds them.
  for (int64_t p = 0; p < c.n; ++p) {
    int64_t r = int64_t(ids[p]);
    if (r < 0)
      r += c.rows;
    if (r < 0 || r >= c.rows)
      continue;
    T *row = out + r * c.width;
    const T *from = updates + p * c.width;
    for (int64_t j = 0; j < c.width; ++j)
      row[j] += from[j];
  }
}

template <typename T>
void embeddingGradOf(const Program &p, const EmbeddingGradCall &c,
                     uint8_t *arena) {
  auto at = [&](int32_t id) { return arena + p.buffers[id].offset; };
  const T *updates = reinterpret_cast<const T *>(at(c.updates));
  T *out = reinterpret_cast<T *>(at(c.out));
  if (p.buffers[c.ids].dtype == DType::I32)
    embeddingRows(c, reinterpret_cast<const int32_t *>(at(c.ids)), updates,
                  out);
  else
    embeddingRows(c, reinterpret_cast<const int64_t *>(at(c.ids)), updates,
                  out);
}

void embeddingGrad(const Program &program, const EmbeddingGradCall &call,
                   uint8_t *arena) {
  if (program.buffers[call.out].dtype == DType::F64)
    embeddingGradOf<double>(program, call, arena);
  else
    embeddingGradOf<float>(program, call, arena);
}

void gemm(const Program &program, const GemmCall &call, uint8_t *arena) {
  if (program.buffers[call.out].dtype == DType::F64)
    run<double>(program, call, arena);
  else
    run<float>(program, call, arena);
}

void matmul(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            float alpha, const float *a, const float *b, float beta,
            float *out) {
  product<float>(transA, transB, m, n, k, alpha, a, b, beta, out);
}

void matmul(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            double alpha, const double *a, const double *b, double beta,
            double *out) {
  product<double>(transA, transB, m, n, k, alpha, a, b, beta, out);
}

void setBlasThreads(int threads) {
#ifdef KILN_HAVE_CBLAS
  // OpenBLAS sized its pool for the whole machine when it loaded.
  openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

const char *gemmBackendName() {
#ifdef KILN_HAVE_CBLAS
  return "openblas";
#else
  return "builtin";
#endif
}

} // namespace kiln::runtime::cpu
