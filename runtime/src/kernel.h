//===- kernel.h - the kernel description both backends execute -----------===//
//
// A kernel is a loop nest over an iteration domain with a scalar body, the
// form the compiler's fused regions take (close to linalg.generic):
//
//  - `domain` sizes: the first `parallelDims` dimensions index the outputs,
//    the rest are reduced over;
//  - `args`: the buffers it reads and writes (dtype and shape each);
//  - `body`: SSA scalar instructions, evaluated at every domain point. A
//    Load reads an argument at an affine function of the domain coordinates;
//    a Gather at coordinates computed by other instructions (embeddings);
//  - `outputs`: which instruction's value each output argument receives, and
//    how values are combined over the reduction dimensions (sum, max, ...).
//
// A staged kernel (a LayerNorm, a softmax: statistics of each row, then the
// row itself) first runs `stages` for each row: each stage reduces values
// over the row (the dimensions after `rowDims`), and later stages and the
// body read them (KOp::Local). So the row is read from memory once per
// stage by one block of threads, and the statistics are never written.
//
// The CPU backend interprets this description (cpu/interpreter.h); the CUDA
// backend generates CUDA C++ from the same description. So whatever fusion
// and tiling decide is checked numerically on the CPU.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_KERNEL_H
#define KILN_RUNTIME_SRC_KERNEL_H

#include "dtype.h"

#include "kiln/runtime.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

enum class KOp : uint8_t {
  // Leaves.
  Load,   ///< `arg` at the affine `map` of the domain coordinates.
  Gather, ///< `arg` at coordinates given by instructions `indices`.
  Const,  ///< `fvalue` (float types) or `ivalue` (integers, bool).
  Index,  ///< The domain coordinate `ivalue`.
  Local,  ///< Local `ivalue` of a staged kernel at the current row.
  // Unary: operand a.
  Neg,
  Abs,
  Exp,
  Log,
  Sqrt,
  Tanh,
  Erf,
  Recip,
  Floor,
  Sin,
  Cos,
  Tan,
  Asin,
  Acos,
  Atan,
  Sinh,
  Cosh,
  Asinh,
  Acosh,
  Atanh,
  Ceil,
  Round,
  Not,
  IsNan,
  Cast, ///< a converted to `type` (float to integer truncates).
  // Binary: operands a, b.
  Add,
  Sub,
  Mul,
  Div,
  Rem,
  Pow,
  Max,
  Min,
  And,
  Or,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge, ///< Comparisons give Bool.
  /// A uniform random float in [0, 1) of `type` (F32 or F64), a pure
  /// function of the I64 operands a (the element's counter) and b (the
  /// stream's seed): randomUniform() below, the same on every backend.
  Random,
  // Ternary.
  Select, ///< a ? b : c.
};

/// The bits of KOp::Random: splitmix64 of the seed's stream at `counter`.
inline uint64_t randomBits(uint64_t counter, uint64_t seed) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter * 0xD1B54A32D192ED03ull +
               0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
/// KOp::Random's value: the top 24 (float) or 53 (double) bits as a
/// fraction, so exactly representable and below 1.
inline double randomUniform(uint64_t counter, uint64_t seed, bool dbl) {
  uint64_t bits = randomBits(counter, seed);
  return dbl ? double(bits >> 11) * 0x1.0p-53 : double(bits >> 40) * 0x1.0p-24;
}

struct Kernel;
struct KInstr;
/// The element offset that Load `in` of kernel `k` reads in its argument
/// (row-major), as an affine function of the domain coordinates: one
/// coefficient per domain dimension, then the constant.
std::vector<int64_t> loadOffsets(const Kernel &k, const KInstr &in);

/// The name of an opcode ("add", "load", ...), as the program format and
/// error messages write it.
const char *kopName(KOp op);

struct KInstr {
  KOp op;
  DType type; ///< The result's type.
  int32_t a = -1, b = -1, c = -1;
  int32_t arg = -1; ///< Load, Gather: the argument read.
  /// Load: row-major [rank of arg][domain rank + 1]; the last column is the
  /// constant term. Coordinate j of the argument is
  /// sum_i map[j][i] * domain_i + map[j][domain rank].
  std::vector<int64_t> map;
  std::vector<int32_t> indices; ///< Gather: one instruction per arg dim.
  double fvalue = 0;
  int64_t ivalue = 0;
};

enum class Combine : uint8_t { None, Sum, Prod, Max, Min };

struct KOutput {
  int32_t arg;   ///< The argument written (shape: the parallel domain).
  int32_t value; ///< The instruction whose values are written.
  Combine combine = Combine::None;
  /// `value` is a local of a staged kernel, written once per row into an
  /// argument shaped like the row domain (a statistic that other kernels
  /// read too: a LayerNorm's sums, read again by its gradient).
  bool local = false;
};

/// A value a stage of a staged kernel reduces over each row: instruction
/// `value` of the stage's body, combined over the row's points (float sums
/// and products in double, as outputs are), then held in the type of
/// `value` as the kernel's next local.
struct KStageValue {
  int32_t value;
  Combine combine;
};

/// One stage of a staged kernel: a body evaluated at every point of a row
/// (it may read the locals of earlier stages), and what it reduces.
struct KStage {
  std::vector<KInstr> body;
  std::vector<KStageValue> values;
};

struct KArg {
  DType dtype;
  std::vector<int64_t> shape;
  bool output = false;
};

/// The block size a Block- or Warp-reduction kernel is launched with (a
/// Warp kernel's block holds kBlockReduceThreads / 32 warps).
constexpr int kBlockReduceThreads = 256;
/// The static shared memory a CUDA kernel may declare.
constexpr int64_t kMaxSharedBytes = 48 * 1024;
/// The other block size a Block reduction may have (Kernel::blockThreads).
constexpr int kLongBlockThreads = 1024;
/// The consecutive points a Columns-reduction block reduces, and the side
/// of a transpose tile (Kernel::tileDim).
constexpr int kColumnTile = 32;
/// The contract between the CUDA code `kiln compile` prints into an
/// artifact and the runtime that launches it (entry names, parameters, the
/// multi-tensor table's layout): the printed module names the one it
/// follows (`#define KILN_CUDA_ABI N`), and the CUDA backend refuses another
/// rather than launch it wrongly. 1: the first; 2: the multi-tensor table
/// starts with its rows' first virtual blocks (a flat grid).
constexpr int kCudaAbi = 2;

struct Kernel {
  std::string name;
  std::vector<int64_t> domain;
  int32_t parallelDims = 0;
  /// A multi-tensor kernel: one dimension, parallel (an elementwise
  /// update) or reduced to scalar outputs (a sum of squares); every
  /// argument shaped [domain[0]] and read at the point, or a scalar; no
  /// Index instruction. So it runs as well on any number of points, which
  /// a launch gives (a step's segments, program.h). Its CUDA entry takes
  /// the count as a last argument, and a second entry runs a table of
  /// segments in one launch.
  bool segmented = false;
  /// How a GPU reduces each parallel point (the CPU interpreter decides for
  /// itself): Thread, one thread per point walks its whole reduction; Block,
  /// one block of kBlockReduceThreads threads per point, each thread a
  /// stride of the reduction, then a tree in shared memory (for few points
  /// with long reductions: BatchNorm's statistics over N x H x W per
  /// channel); Warp, one warp per point, each lane a stride of the
  /// reduction, then a butterfly of shuffles (many points with reductions
  /// of moderate length: a LayerNorm's rows; the lanes read consecutive
  /// elements, where a thread per point reads a row each); Columns, for
  /// few points laid out consecutively (column sums: a bias's gradient over
  /// [rows, features]), blocks of kColumnTile consecutive points, each
  /// block's kBlockReduceThreads / kColumnTile phases striding the
  /// reduction, so that a warp reads consecutive elements, then the phases'
  /// partial results combined in shared memory. A staged kernel reduces its
  /// rows by Block or Warp. Chosen by the compiler; `kiln inspect` shows it.
  enum class Reduce : uint8_t {
    Thread,
    Block,
    Warp,
    Columns
  } reduce = Reduce::Thread;
  /// A staged kernel: the first `rowDims` dimensions are its rows, and
  /// before the body, for each row, the stages run in order, each reducing
  /// its values over the rest of the domain (the row's points). Their values
  /// are the kernel's locals, numbered across the stages in order, which
  /// later stages and the body read with KOp::Local. The body then either
  /// writes every point of the row (parallelDims is the domain's rank) or
  /// reduces the row too (parallelDims == rowDims). Reduce is Block or Warp.
  int32_t rowDims = 0;
  std::vector<KStage> stages;
  /// An elementwise kernel (every dimension parallel, F32 outputs) whose
  /// threads each take `vector` consecutive points along the last
  /// dimension, which `vector` (1, 2 or 4) divides (a segmented kernel's
  /// size comes with its launch: its last vector may be partial, taken a
  /// point at a time): loads that run along it from a multiple of `vector`
  /// elements are one aligned vector load, the stores one vector store
  /// (where the pointers are 16-byte aligned; the kernel checks, a segment
  /// at a time). The CPU interpreter ignores it.
  int32_t vector = 1;
  /// An elementwise kernel that reads an argument transposed (consecutive
  /// elements along domain dimension `tileDim`, not the last): its GPU
  /// threads take 32 x 32 tiles of (tileDim, last dimension), reading such
  /// arguments into shared memory along tileDim and writing along the last
  /// dimension, both coalesced. -1: none. The CPU interpreter ignores it.
  int32_t tileDim = -1;
  /// The threads of a Block reduction's (or a block-per-row staged
  /// kernel's) block: kBlockReduceThreads, or kLongBlockThreads for very
  /// long reductions over few points (a BatchNorm channel's N x H x W), so
  /// that the few blocks keep more of the GPU's memory pipes busy.
  int32_t blockThreads = 256;
  std::vector<KArg> args;
  std::vector<KInstr> body;
  std::vector<KOutput> outputs;

  /// The type of every local, in order (empty without stages).
  std::vector<DType> localTypes() const;

  /// At most the static shared memory its CUDA form declares (8 bytes an
  /// element): the partial results of block and column reductions, a
  /// block-per-row kernel's locals, transpose tiles. A kernel may declare
  /// kMaxSharedBytes.
  int64_t sharedBytes() const;

  /// Checks the description is well formed (operands defined before use,
  /// maps of the right size, outputs shaped like the parallel domain,
  /// combines only where there are reduction dimensions...). Messages name
  /// the kernel and the instruction.
  Status verify() const;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_KERNEL_H
