//===- program.h - the compiled program an artifact carries ---------------===//
//
// What the compiler's memory planner and codegen produce, and what every
// backend executes:
//
//  - buffers: every tensor the program touches, each at a fixed byte offset
//    of one arena (one allocation per session). Parameters and constants sit
//    at the start, in the region the artifact's "init" section fills; inputs
//    have slots of their own; temporaries share space where their lifetimes
//    do not overlap, and so do outputs, which live to the end of their
//    entry (valid until the next run: another entry may reuse their space);
//    every offset is fixed, so a captured CUDA graph can be replayed; a
//    reshape is a second buffer at the same offset.
//  - kernels: loop nests (kernel.h).
//  - entries: named step lists ("forward"; later "train_step", "eval"). A step
//    launches a kernel on buffers, or calls a library routine (GEMM).
//
// Stored as JSON in the artifact's "program" section: small, readable with
// `kiln inspect`, and versioned by the artifact format.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_PROGRAM_H
#define KILN_RUNTIME_SRC_PROGRAM_H

#include "kernel.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::runtime {

struct Program;

enum class BufferKind : uint8_t { Parameter, Constant, Input, Output, Temp };

struct Buffer {
  std::string name; ///< ONNX name for parameters, inputs and outputs.
  BufferKind kind;
  DType dtype;
  std::vector<int64_t> shape;
  int64_t offset = 0; ///< Byte offset in the arena.

  int64_t elements() const;
  int64_t bytes() const;
};

/// C = alpha * op(A) * op(B) + beta * C, row-major, per batch (strides in
/// elements between consecutive matrices; 0 repeats one matrix).
struct GemmCall {
  int32_t a, b, c = -1, out; ///< Buffers; `c` is optional (added, broadcast
                             ///< as a row of N when it has N elements).
  bool transA = false, transB = false;
  int64_t m, n, k, batch = 1;
  int64_t strideA = 0, strideB = 0, strideOut = 0;
  double alpha = 1, beta = 1;
  bool relu = false; ///< Then max(0, x) on `out` (the epilogue).
  /// What `biasGrad` sums (batch 1):
  ///  - Out: the gradient through a ReLU (DRELU_BGRAD): `out` zeroed where
  ///    the buffer `reluMask` (M x N) is not positive, then `biasGrad` (N)
  ///    = the sum of `out`'s rows;
  ///  - A / B: `biasGrad` = the sum over K of op(A) (M values) or of op(B)
  ///    (N values), unscaled: the bias gradient beside a weight gradient
  ///    (cuBLASLt's BGRADB / BGRADA, its operands being B and A swapped).
  enum class SumOf : uint8_t { Out, A, B };
  SumOf sumOf = SumOf::Out;
  int32_t reluMask = -1, biasGrad = -1; ///< -1: none.
};

/// 2-D convolution, NCHW input, MCHW weight (per group), optional bias of
/// M elements; pads are top, left, bottom, right. (1-D convolutions are
/// 2-D with a height of 1.) The sizes always describe the forward
/// convolution x [n, c, h, w] * w [m, c/group, kh, kw] -> y [n, m, oh, ow];
/// `mode` says which of its three products the call computes:
///  - Forward: `out` = y from `input` = x and `weight` = w (+ bias);
///  - BackwardData: `out` = dL/dx from `input` = dL/dy and `weight` = w;
///  - BackwardFilter: `out` = dL/dw from `input` = x and `weight` = dL/dy.
struct ConvCall {
  enum class Mode : uint8_t { Forward, BackwardData, BackwardFilter };
  int32_t input, weight, bias = -1, out;
  int64_t n, c, h, w; ///< Input sizes.
  int64_t m, kh, kw;  ///< Output channels, kernel size.
  int64_t oh, ow;     ///< Output size.
  int64_t strideH = 1, strideW = 1, dilationH = 1, dilationW = 1;
  int64_t padTop = 0, padLeft = 0;
  int64_t group = 1;
  Mode mode = Mode::Forward;
};

/// An embedding's gradient (the gradient of a Gather along axis 0):
/// `out` [rows, width] row r = the sum of `updates` [n, width] rows p with
/// `ids`[p] == r (negative ids count from `rows`; others add nothing), in
/// order of p, starting from zero. `next` (I32 [n]) and `head` (I32
/// [rows]) are a GPU's workspace (the CUDA backend keeps each position's
/// rank among its row's positions and each row's end in them, and the
/// positions sorted by row in its own region). No one-hot matrix and no
/// rows x n product: it reads `updates` once.
struct EmbeddingGradCall {
  int32_t ids, updates, out, next, head;
  int64_t n, width, rows;
};

/// A step of an entry. An AllReduce step starts the collective of one
/// gradient bucket (kiln.all_reduce): `args` are the bucket's buffers, of
/// one float dtype, laid out back to back (64-byte aligned, the padding
/// reduced with them) so that one call reduces the bucket's whole span. A
/// backend may let it run on while later steps execute, and must wait for
/// it before a step that touches the span, and before the entry returns.
/// In a run of one process it does nothing.
struct Step {
  enum class Kind : uint8_t { Kernel, Gemm, Conv, AllReduce, EmbeddingGrad }
  kind = Kind::Kernel;
  int32_t kernel = -1;       ///< Kernel: which one...
  std::vector<int32_t> args; ///< ...on which buffers, in its args' order.
  GemmCall gemm{};
  ConvCall conv{};
  EmbeddingGradCall embedding{};
  int32_t bucket = -1; ///< AllReduce: the bucket's number...
  bool mean = true;    ///< ...and whether it averages (else sums).
  /// Kernel, when the kernel is `segmented`: more argument lists for the
  /// same launch (the optimizer's update of every parameter as one
  /// multi-tensor kernel). Each runs the kernel on its buffers, 1-D, over
  /// as many points as its non-scalar buffers have elements. Segments are
  /// independent: none writes what another reads or writes.
  std::vector<std::vector<int32_t>> segments;

  static Step launch(int32_t kernel, std::vector<int32_t> args) {
    Step s;
    s.kernel = kernel;
    s.args = std::move(args);
    return s;
  }
  static Step call(const GemmCall &gemm) {
    Step s;
    s.kind = Kind::Gemm;
    s.gemm = gemm;
    return s;
  }
  static Step convolution(const ConvCall &conv) {
    Step s;
    s.kind = Kind::Conv;
    s.conv = conv;
    return s;
  }
  static Step embeddingGrad(const EmbeddingGradCall &call) {
    Step s;
    s.kind = Kind::EmbeddingGrad;
    s.embedding = call;
    return s;
  }
  static Step allReduce(int32_t bucket, std::vector<int32_t> buffers,
                        bool mean = true) {
    Step s;
    s.kind = Kind::AllReduce;
    s.bucket = bucket;
    s.args = std::move(buffers);
    s.mean = mean;
    return s;
  }
};

/// The arena bytes an AllReduce step reduces: from its first buffer's
/// offset to its last buffer's end.
struct Span {
  int64_t offset = 0, bytes = 0;
};
Span bucketSpan(const Program &program, const Step &step);


struct Entry {
  std::string name;
  std::vector<int32_t> inputs, outputs; ///< Buffers, in signature order.
  std::vector<Step> steps;
  /// The same entry compiled without fusion, for comparison (kiln inspect):
  /// its kernel launches and the bytes its steps move; -1 when unknown.
  int64_t unfusedLaunches = -1, unfusedBytes = -1;
  /// The memory plan's peak: the step at which the entry's temporaries and
  /// outputs live at once take the most bytes, and the values live there
  /// (largest first) as (bytes, first step, last step), steps inclusive.
  /// `peakStep` is -1 when the compiler did not record it.
  struct LiveValue {
    int64_t bytes;
    int32_t first, last;
  };
  int32_t peakStep = -1;
  std::vector<LiveValue> peakValues;
  /// The bytes live at the peak: its values' sum.
  int64_t peakBytes() const;
};

/// The bytes a step reads and writes: each buffer it reads counted once,
/// each it writes once (a first-order model of memory traffic: a broadcast
/// operand is read from cache after the first time).
struct Traffic {
  int64_t read = 0, written = 0;
};

/// How the "train_step" entry was built (the compiler's training options),
/// for the runtime that drives it: the optimizer's constants that the host
/// needs (Adam's betas for bias corrections) and which persistent buffers
/// are parameters, optimizer state and BatchNorm statistics (what a
/// checkpoint holds).
struct TrainingInfo {
  std::string loss, labels, optimizer;
  double lr = 1e-3; ///< The default learning rate (`--lr` at compile time).
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, momentum = 0,
         weightDecay = 0, gradClip = 0;
  std::vector<std::string> parameters, state, statistics;
};

struct Program {
  std::vector<Buffer> buffers;
  std::vector<Kernel> kernels;
  std::vector<Entry> entries;
  int64_t arenaBytes = 0;
  /// Bytes at the arena's start that the artifact's "init" section fills
  /// (parameters and constants). Persistent buffers that start as zeros
  /// (optimizer state, zero biases) lie beyond it: a backend zero-fills the
  /// arena before copying the init region in.
  int64_t initBytes = 0;
  /// Present when the program has a "train_step" entry.
  std::optional<TrainingInfo> training;

  const Entry *entry(std::string_view name) const;
  /// Whether any entry has a step of this kind.
  bool has(Step::Kind kind) const;
  /// The persistent buffer (parameter, state, statistic) named `name`, or -1.
  int32_t persistent(std::string_view name) const;
  /// Checks everything a backend relies on: buffers inside the arena, steps
  /// naming existing kernels and buffers whose dtypes and shapes match the
  /// kernel's arguments, GEMM sizes that fit their buffers, verified kernels.
  Status verify() const;
};

Traffic stepTraffic(const Program &program, const Step &step);
/// Every buffer a step reads or writes.
std::vector<int32_t> stepBuffers(const Step &step);

/// When each all-reduce of `entry` must have completed, for a backend that
/// lets them run on beside later steps: element i (for each step i) lists
/// the AllReduce steps before i whose spans step i's buffers overlap and
/// that no earlier step awaited; the last element (index steps.size())
/// lists those that only the entry's end awaits.
std::vector<std::vector<size_t>> collectiveAwaits(const Program &program,
                                                  const Entry &entry);

std::string programToJson(const Program &program);
/// Parses and verifies; `origin` names the artifact in errors.
Status programFromJson(std::string_view json, const std::string &origin,
                       Program &out);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_PROGRAM_H
