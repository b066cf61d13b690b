//===- gemm.h - matrix products on the CPU --------------------------------===//
#ifndef KILN_RUNTIME_SRC_CPU_GEMM_H
#define KILN_RUNTIME_SRC_CPU_GEMM_H

#include "runtime/src/program.h"

namespace kiln::runtime::cpu {

/// Runs one GemmCall on buffers at `arena` (the call was verified with its
/// program). Uses OpenBLAS when the runtime was built with it, and a blocked
/// loop otherwise.
void gemm(const Program &program, const GemmCall &call, uint8_t *arena);

/// Runs one ConvCall: per image and group, the input patches laid out as
/// columns (im2col) times the weights as a GEMM, plus the bias.
void convolution(const Program &program, const ConvCall &call, uint8_t *arena);

/// Runs one EmbeddingGradCall: each id's row of updates added into its
/// row of out, positions in order (the workspace is not used).
void embeddingGrad(const Program &program, const EmbeddingGradCall &call,
                   uint8_t *arena);

/// out (m x n) = alpha * op(a) * op(b) + beta * out, row-major and
/// contiguous: the product gemm() computes with (out is not read when beta
/// is zero).
void matmul(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            float alpha, const float *a, const float *b, float beta,
            float *out);
void matmul(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            double alpha, const double *a, const double *b, double beta,
            double *out);

/// Whether matrix products go to a BLAS library ("openblas") or the
/// built-in loops ("builtin").
const char *gemmBackendName();
/// Caps the BLAS's own threads (see shareCores in threads.h).
void setBlasThreads(int threads);

} // namespace kiln::runtime::cpu

#endif // KILN_RUNTIME_SRC_CPU_GEMM_H
