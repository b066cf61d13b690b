//===- ProgramEmitter.cpp - kernel-level IR to the runtime's program ------===//
//
// 1. Walk the function in order: arguments become input buffers,
//    initializers and constants buffers in the init region, every kernel or
//    library op a step writing a new buffer, reshapes views of their
//    operand's storage.
// 2. Translate each linalg.generic into a runtime Kernel: loops reordered so
//    parallel dims come first, indexing maps into coefficient matrices, the
//    body's arith/math/tensor ops into kernel instructions, the reduction's
//    combine recognized from the yield.
// 3. Plan memory: parameters and constants first (the init region), then
//    persistent buffers that start as zeros (not stored), fixed slots for
//    inputs, then each entry's temporaries and outputs sharing space where
//    their lifetimes (in steps) do not overlap; an output lives to the end
//    of its entry.
//
//===----------------------------------------------------------------------===//
#include "codegen/ProgramEmitter.h"

#include "ir/graph/GraphOps.h"
#include "runtime/src/artifact.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

using namespace mlir;
namespace rt = kiln::runtime;
namespace g = kiln::graph;

namespace kiln::codegen {
namespace {

constexpr int64_t kAlign = 64;
int64_t alignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

/// A region of the arena; several buffers (views) may share one.
struct Storage {
  int64_t bytes;
  rt::BufferKind kind;
  int first = INT_MAX, last = -1; ///< Steps of `entry` (temporaries).
  int64_t offset = 0;
  /// A persistent buffer whose initial value is all zeros (optimizer state,
  /// zero biases): placed after the init region, which the artifact stores,
  /// in the part of the arena a session zero-fills.
  bool zero = false;
  int entry = 0; ///< The entry a temporary belongs to.
};

class Emitter {
public:
  explicit Emitter(const EmitOptions &options) : options_(options) {}
  /// Emits each function as an entry of one program; initializers of the
  /// same name share one persistent buffer.
  FailureOr<EmittedProgram>
  run(ArrayRef<std::pair<func::FuncOp, std::string>> functions);

private:
  InFlightDiagnostic error(Operation *op) { return op->emitOpError(); }
  /// The runtime's library calls (GEMMs, convolutions, embedding
  /// gradients) take F32 and F64; an error on `op` for another `type`.
  LogicalResult libraryElementType(Operation *op, RankedTensorType type) {
    if (type.getElementType().isF32() || type.getElementType().isF64())
      return success();
    return error(op) << "on " << type.getElementType()
                     << " is not supported yet (F32 and F64 are)";
  }

  /// A new buffer with its own storage.
  int32_t newBuffer(StringRef name, rt::BufferKind kind, RankedTensorType t) {
    rt::Buffer b;
    b.name = name.str();
    b.kind = kind;
    b.dtype = *dtypeOf(t.getElementType());
    b.shape.assign(t.getShape().begin(), t.getShape().end());
    storages_.push_back({b.bytes(), kind});
    storages_.back().entry = int(program_.entries.size());
    program_.buffers.push_back(b);
    storageOf_.push_back(int(storages_.size() - 1));
    within_.push_back(0);
    return int32_t(program_.buffers.size() - 1);
  }
  std::string tempName() { return "%" + std::to_string(temps_++); }

  /// Records that the current step reads or writes `buffer`.
  void use(int32_t buffer) {
    Storage &s = storages_[storageOf_[buffer]];
    s.first = std::min(s.first, int(entry_.steps.size()));
    s.last = std::max(s.last, int(entry_.steps.size()));
    lastUse_[storageOf_[buffer]] = int(entry_.steps.size());
  }
  void addStep(rt::Step step, ArrayRef<int32_t> buffers) {
    for (int32_t b : buffers)
      use(b);
    entry_.steps.push_back(std::move(step));
  }

  LogicalResult emitData(Operation *op, Value result, StringRef name,
                         rt::BufferKind kind, ElementsAttr value);
  /// A linalg.generic in the kernel format: its loops (parallel first),
  /// and what its body yields.
  struct GenericForm {
    SmallVector<int64_t> domain;
    int32_t parallelDims = 0;
    SmallVector<unsigned> newIndex; ///< The kernel dimension of each loop.
    SmallVector<int32_t> values;    ///< Each yielded value's instruction.
    SmallVector<rt::Combine> combines;
  };
  LogicalResult translateGeneric(linalg::GenericOp op, rt::Kernel &k,
                                 std::vector<int32_t> &stepArgs,
                                 std::vector<rt::KInstr> &body,
                                 const llvm::DenseMap<Value, int32_t> &locals,
                                 int32_t rowDims, GenericForm &form);
  LogicalResult addOutputs(linalg::GenericOp op, const GenericForm &form,
                           rt::Kernel &k, std::vector<int32_t> &stepArgs,
                           std::vector<int32_t> &outs);
  LogicalResult emitGeneric(linalg::GenericOp op);
  LogicalResult emitRowKernel(g::RowKernelOp op);
  FailureOr<rt::GemmCall> gemmCall(Operation *op, Value a, Value b,
                                   RankedTensorType type, bool transA,
                                   bool transB, APFloat alpha);
  LogicalResult emitGemm(g::GemmOp op);
  LogicalResult emitGemmReluGrad(g::GemmReluGradOp op);
  LogicalResult emitGemmBiasGrad(g::GemmBiasGradOp op);
  /// A GEMM whose call also writes a bias gradient (`epilogue` says which:
  /// through a ReLU's gradient, or a sum of an operand).
  LogicalResult
  emitGemmWithBiasGrad(Operation *op, Value a, Value b, Value result,
                       Value biasGrad, bool transA, bool transB,
                       APFloat alpha,
                       llvm::function_ref<void(rt::GemmCall &)> epilogue);
  LogicalResult emitEmbeddingGrad(g::EmbeddingGradOp op);
  LogicalResult emitMatMul(g::MatMulOp op);
  LogicalResult emitConv(g::ConvOp op);
  LogicalResult emitConvCall(Operation *op, rt::ConvCall::Mode mode,
                             RankedTensorType x, RankedTensorType w,
                             RankedTensorType y, ArrayRef<int64_t> strides,
                             ArrayRef<int64_t> pads,
                             ArrayRef<int64_t> dilations, int64_t group,
                             Value input, Value weight, Value bias);
  LogicalResult emitAllReduce(g::AllReduceOp op);
  LogicalResult emitReturn(func::ReturnOp op);
  LogicalResult emitFunction(func::FuncOp func, StringRef name);
  int32_t copyKernel(Value from, int32_t fromBuffer, rt::BufferKind kind,
                     StringRef name);
  void copyInto(int32_t fromBuffer, int32_t toBuffer);
  bool canWriteInPlace(int32_t temp, int32_t target) const;
  bool wholeTemp(int storage,
                 const std::vector<std::vector<int32_t>> &buffersOf) const;
  bool readsOnlyAtPoint(const rt::Step &step, int storage) const;
  void writeOverDyingInputs();
  int32_t kernelFor(rt::Kernel kernel);
  LogicalResult applySchedule(Operation *op, rt::Kernel &k,
                              rt::Kernel::Reduce fallback);
  std::optional<rt::Kernel> flattened(const rt::Step &step) const;
  int32_t flatView(int32_t buffer);
  bool independent(ArrayRef<const rt::Step *> steps) const;
  void mergeSegments();
  void dropUnusedKernels();

  EmitOptions options_;
  func::FuncOp func_;
  rt::Program program_;
  rt::Entry entry_;
  std::vector<Storage> storages_;
  std::vector<int> storageOf_;
  /// Each buffer's byte offset inside its storage (non-zero for the
  /// members of a gradient bucket).
  std::vector<int64_t> within_;
  /// Buffers laid out in a gradient bucket's storage, and those storages.
  llvm::DenseSet<int32_t> bucketMembers_;
  llvm::DenseSet<int> bucketStorages_;
  std::vector<std::pair<int, std::vector<uint8_t>>> initData_; // storage, bytes
  llvm::DenseMap<Value, int32_t> bufferOf_;
  /// Initializers by name, shared by all entries.
  llvm::StringMap<int32_t> persistent_;
  /// The last step of the current entry that uses each storage.
  llvm::DenseMap<int, int> lastUse_;
  int temps_ = 0;
};

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

LogicalResult Emitter::emitData(Operation *op, Value result, StringRef name,
                                rt::BufferKind kind, ElementsAttr value) {
  auto type = cast<RankedTensorType>(value.getType());
  int32_t id = newBuffer(name, kind, type);
  std::vector<uint8_t> bytes(program_.buffers[id].bytes());
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (type.getElementType().isInteger(1)) {
      auto values = dense.getValues<bool>();
      for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = values[i];
    } else {
      ArrayRef<char> raw = dense.getRawData();
      size_t width = bytes.size() / std::max<int64_t>(type.getNumElements(), 1);
      if (dense.isSplat()) {
        for (size_t i = 0; i < bytes.size(); i += width)
          std::memcpy(bytes.data() + i, raw.data(), width);
      } else {
        std::memcpy(bytes.data(), raw.data(), bytes.size());
      }
    }
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != bytes.size())
      return error(op) << "has no data for '" << name
                       << "' (IR printed with elided weights cannot be "
                          "compiled; compile the model itself)";
    std::memcpy(bytes.data(), blob->getData().data(), bytes.size());
  } else {
    return error(op) << "holds a kind of elements attribute the code "
                        "generator cannot read";
  }
  bufferOf_[result] = id;
  if (kind == rt::BufferKind::Parameter &&
      std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return !b; })) {
    storages_[storageOf_[id]].zero = true;
    return success();
  }
  initData_.emplace_back(storageOf_[id], std::move(bytes));
  return success();
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// The dimension a transpose tile pairs with the last one: the one along
/// which the first load that moves by more than one element along the last
/// dimension moves by one (-1: none, a kernel without transposed reads).
static int32_t transposeTileDim(const rt::Kernel &k) {
  size_t rank = k.domain.size();
  if (rank < 2 || k.parallelDims != int32_t(rank))
    return -1;
  for (const rt::KInstr &in : k.body) {
    if (in.op != rt::KOp::Load)
      continue;
    std::vector<int64_t> coef = rt::loadOffsets(k, in);
    if (coef[rank - 1] == 0 || coef[rank - 1] == 1)
      continue;
    for (size_t d = 0; d + 1 < rank; ++d)
      if (coef[d] == 1)
        return int32_t(d);
  }
  return -1;
}

int32_t Emitter::kernelFor(rt::Kernel kernel) {
  // (A segmented reduction, a segment per tensor, has a block each; other
  // kernels' schedules come with them: applySchedule().)
  if (kernel.segmented && kernel.parallelDims == 0)
    kernel.reduce = rt::Kernel::Reduce::Block;
  // A segmented update (the optimizer's, over every parameter) takes four
  // points a thread, as kiln-schedule-kernels gives elementwise kernels:
  // 16-byte loads and stores where a segment's pointers are aligned (each
  // segment's last vector may be partial).
  if (kernel.segmented && kernel.parallelDims == 1 && !kernel.outputs.empty() &&
      std::all_of(kernel.outputs.begin(), kernel.outputs.end(),
                  [&](const rt::KOutput &o) {
                    return kernel.args[o.arg].dtype == rt::DType::F32;
                  }))
    kernel.vector = 4;
  // A schedule whose shared memory would not fit (many outputs, many
  // transposed loads) gives way: smaller blocks, a warp per row, tiles
  // none, a thread per point.
  if (kernel.sharedBytes() > rt::kMaxSharedBytes)
    kernel.blockThreads = rt::kBlockReduceThreads;
  if (kernel.sharedBytes() > rt::kMaxSharedBytes)
    kernel.tileDim = -1;
  if (kernel.sharedBytes() > rt::kMaxSharedBytes)
    kernel.reduce = kernel.stages.empty() ? rt::Kernel::Reduce::Thread
                                          : rt::Kernel::Reduce::Warp;
  program_.kernels.push_back(std::move(kernel));
  return int32_t(program_.kernels.size() - 1);
}

/// The schedule kiln-schedule-kernels chose for `op` (kiln.schedule) on
/// `k`: how it reduces (`fallback` without a schedule), its block size, its
/// vector width or transpose tiles; fails for an unknown schedule.
LogicalResult Emitter::applySchedule(Operation *op, rt::Kernel &k,
                                     rt::Kernel::Reduce fallback) {
  auto attr = op->getAttrOfType<StringAttr>(g::kScheduleAttr);
  k.reduce = fallback;
  if (!attr)
    return success();
  StringRef name = attr.getValue();
  if (name == "thread")
    k.reduce = rt::Kernel::Reduce::Thread;
  else if (name == "block" || name == "block1024")
    k.reduce = rt::Kernel::Reduce::Block;
  else if (name == "warp")
    k.reduce = rt::Kernel::Reduce::Warp;
  else if (name == "columns")
    k.reduce = rt::Kernel::Reduce::Columns;
  else if (name == "vector2" || name == "vector4" || name == "transpose")
    k.reduce = rt::Kernel::Reduce::Thread;
  else
    return error(op) << "has unknown " << g::kScheduleAttr << " '" << name
                     << "' (expected thread, block, block1024, warp, columns, "
                        "vector2, vector4 or transpose)";
  if (name == "block1024")
    k.blockThreads = rt::kLongBlockThreads;
  if (name == "vector2" || name == "vector4")
    k.vector = name == "vector4" ? 4 : 2;
  if (name == "transpose")
    k.tileDim = transposeTileDim(k);
  return success();
}

/// Coefficients of an affine expression over `dims` domain dims (in the
/// kernel's order, via `newIndex`), the constant last.
static LogicalResult affineRow(AffineExpr e, ArrayRef<unsigned> newIndex,
                               SmallVectorImpl<int64_t> &row, int64_t scale) {
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    row[newIndex[d.getPosition()]] += scale;
    return success();
  }
  if (auto c = dyn_cast<AffineConstantExpr>(e)) {
    row.back() += scale * c.getValue();
    return success();
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return failure();
  if (bin.getKind() == AffineExprKind::Add)
    return success(succeeded(affineRow(bin.getLHS(), newIndex, row, scale)) &&
                   succeeded(affineRow(bin.getRHS(), newIndex, row, scale)));
  if (bin.getKind() == AffineExprKind::Mul) {
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getRHS()))
      return affineRow(bin.getLHS(), newIndex, row, scale * c.getValue());
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getLHS()))
      return affineRow(bin.getRHS(), newIndex, row, scale * c.getValue());
  }
  return failure();
}

/// " node 'a' (Relu) + node 'b' (Add)": the ONNX nodes a kernel computes
/// (fusion fuses their locations), in order, each once.
static std::string kernelLabel(Operation *op) {
  SmallVector<std::string> names;
  std::function<void(Location)> collect = [&](Location loc) {
    if (auto name = dyn_cast<NameLoc>(loc)) {
      std::string n = name.getName().str();
      if (!llvm::is_contained(names, n))
        names.push_back(n);
    } else if (auto fused = dyn_cast<FusedLoc>(loc)) {
      for (Location part : fused.getLocations())
        collect(part);
    }
  };
  collect(op->getLoc());
  std::string label;
  for (const std::string &n : names)
    label += (label.empty() ? " " : " + ") + n;
  return label;
}

/// Whether a kernel reads through `slice` by composing its offsets and
/// strides into the read's index arithmetic: the same rank, static offsets
/// and strides.
static bool composable(tensor::ExtractSliceOp slice) {
  return slice.getSourceType().getRank() == slice.getResultType().getRank() &&
         !llvm::is_contained(slice.getStaticOffsets(), ShapedType::kDynamic) &&
         !llvm::is_contained(slice.getStaticStrides(), ShapedType::kDynamic);
}

LogicalResult Emitter::translateGeneric(linalg::GenericOp op, rt::Kernel &k,
                                        std::vector<int32_t> &stepArgs,
                                        std::vector<rt::KInstr> &kbody,
                                        const llvm::DenseMap<Value, int32_t> &locals,
                                        int32_t rowDims, GenericForm &form) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  auto iterators = op.getIteratorTypesArray();
  // 1. Loops: parallel dims first (in order), then the reduced ones.
  SmallVector<unsigned> order, newIndex(ranges.size());
  for (bool reduction : {false, true})
    for (unsigned d = 0; d < ranges.size(); ++d)
      if ((iterators[d] == utils::IteratorType::reduction) == reduction)
        order.push_back(d);
  form.domain.clear();
  for (unsigned i = 0; i < order.size(); ++i) {
    newIndex[order[i]] = i;
    form.domain.push_back(ranges[order[i]]);
  }
  form.parallelDims = 0;
  for (auto it : iterators)
    form.parallelDims += it == utils::IteratorType::parallel;
  form.newIndex.assign(newIndex.begin(), newIndex.end());
  size_t rank = ranges.size();

  // 2. Arguments: the inputs, tensors gathered from in the body, the output.
  auto argFor = [&](Value v) -> std::optional<int32_t> {
    auto it = bufferOf_.find(v);
    if (it == bufferOf_.end())
      return std::nullopt;
    const rt::Buffer &b = program_.buffers[it->second];
    for (size_t a = 0; a < stepArgs.size(); ++a)
      if (stepArgs[a] == it->second)
        return int32_t(a);
    stepArgs.push_back(it->second);
    k.args.push_back({b.dtype, b.shape, false});
    return int32_t(k.args.size() - 1);
  };

  Block &body = op.getRegion().front();
  llvm::DenseMap<Value, int32_t> instr;
  auto add = [&](rt::KOp kop, Type t, int32_t a = -1, int32_t b = -1,
                 int32_t c = -1) {
    rt::KInstr in;
    in.op = kop;
    in.type = *dtypeOf(t);
    in.a = a;
    in.b = b;
    in.c = c;
    kbody.push_back(in);
    return int32_t(kbody.size() - 1);
  };
  // A Const instruction of scalar `value` of type `t`; -1 if it is none.
  auto scalarInstr = [&](Attribute value, Type t) -> int32_t {
    if (!dtypeOf(t))
      return -1;
    rt::KInstr in;
    in.op = rt::KOp::Const;
    in.type = *dtypeOf(t);
    if (auto f = dyn_cast<FloatAttr>(value))
      in.fvalue = f.getValueAsDouble();
    else if (auto i = dyn_cast<IntegerAttr>(value))
      in.ivalue = t.isInteger(1) ? int64_t(i.getValue().getBoolValue())
                                 : i.getValue().getSExtValue();
    else
      return -1;
    kbody.push_back(in);
    return int32_t(kbody.size() - 1);
  };

  // Inputs' block arguments read their operand at its map (through a
  // strided slice of a buffer, the slice's offsets and strides compose in).
  for (OpOperand *operand : op.getDpsInputOperands()) {
    BlockArgument arg = body.getArgument(operand->getOperandNumber());
    if (arg.use_empty())
      continue;
    Value source = operand->get();
    // A splat constant (what folding a slice or a copy of one leaves) is
    // its value at every point: a Const instruction, no buffer.
    if (auto c = source.getDefiningOp<arith::ConstantOp>()) {
      if (auto splat = dyn_cast<SplatElementsAttr>(c.getValue())) {
        int32_t i = scalarInstr(splat.getSplatValue<Attribute>(),
                                splat.getElementType());
        if (i >= 0) {
          instr[arg] = i;
          continue;
        }
      }
    }
    AffineMap map = op.getMatchingIndexingMap(operand);
    // A staged kernel's local: a value an earlier stage reduced, read at
    // the row (map results: the row's loops in order).
    if (auto local = locals.find(source); local != locals.end()) {
      bool atRow = map.getNumResults() == unsigned(rowDims);
      for (auto [j, e] : llvm::enumerate(map.getResults())) {
        auto d = dyn_cast<AffineDimExpr>(e);
        atRow &= d && newIndex[d.getPosition()] == j;
      }
      if (!atRow)
        return error(op) << "reads a row statistic of its kiln.row_kernel "
                            "other than at the row: "
                         << AffineMapAttr::get(map);
      rt::KInstr in;
      in.op = rt::KOp::Local;
      in.type = *dtypeOf(arg.getType());
      in.ivalue = local->second;
      kbody.push_back(in);
      instr[arg] = int32_t(kbody.size() - 1);
      continue;
    }
    auto slice = source.getDefiningOp<tensor::ExtractSliceOp>();
    if (slice) {
      if (!composable(slice))
        return error(op) << "reads a rank-reducing or dynamic slice, which "
                            "the kernel format cannot express";
      source = slice.getSource();
    }
    std::optional<int32_t> a = argFor(source);
    if (!a) {
      auto diag = error(op)
                  << "reads a value the code generator has no buffer for";
      if (Operation *def = source.getDefiningOp())
        diag << " (the result of " << def->getName() << ")";
      return diag;
    }
    rt::KInstr in;
    in.op = rt::KOp::Load;
    in.type = *dtypeOf(arg.getType());
    in.arg = *a;
    for (auto [j, e] : llvm::enumerate(map.getResults())) {
      SmallVector<int64_t> row(rank + 1, 0);
      int64_t stride = slice ? slice.getStaticStrides()[j] : 1;
      if (slice)
        row.back() = slice.getStaticOffsets()[j];
      if (failed(affineRow(e, newIndex, row, stride)))
        return error(op) << "has an indexing map the kernel format cannot "
                            "express: "
                         << AffineMapAttr::get(map);
      in.map.insert(in.map.end(), row.begin(), row.end());
    }
    kbody.push_back(in);
    instr[arg] = int32_t(kbody.size() - 1);
  }
  // Each output's accumulator (a reduction's).
  SmallVector<Value> accs;
  for (unsigned o = 0; o < op.getNumDpsInits(); ++o)
    accs.push_back(body.getArgument(op.getNumDpsInputs() + o));

  // 3. The body, op by op.
  using P = arith::CmpFPredicate;
  using I = arith::CmpIPredicate;
  // A reduction's final combines (acc op value) are not instructions: they
  // become the outputs' Combines below.
  SmallVector<Operation *> combineOps;
  if (form.parallelDims < int32_t(rank))
    for (Value y : body.getTerminator()->getOperands())
      combineOps.push_back(y.getDefiningOp());
  // A constant defined outside the body (CSE merges equal constants across
  // the region boundary) becomes a Const instruction of its own.
  auto constantInstr = [&](arith::ConstantOp c) -> int32_t {
    int32_t i = scalarInstr(c.getValue(), c.getType());
    if (i >= 0)
      instr[c.getResult()] = i;
    return i;
  };
  for (Operation &bop : body.without_terminator()) {
    if (llvm::is_contained(combineOps, &bop))
      continue;
    for (Value v : bop.getOperands())
      if (auto c = v.getDefiningOp<arith::ConstantOp>();
          c && !instr.count(v) && c->getBlock() != &body)
        constantInstr(c);
    auto operand = [&](unsigned i) -> int32_t {
      auto it = instr.find(bop.getOperand(i));
      return it == instr.end() ? -1 : it->second;
    };
    for (unsigned i = 0; i < bop.getNumOperands(); ++i) {
      if (llvm::is_contained(accs, bop.getOperand(i)))
        return error(op) << "uses its accumulator other than in the final "
                            "combine";
      if (operand(i) < 0 && !isa<tensor::ExtractOp>(bop))
        return error(op) << "body uses a value from outside the kernel";
    }
    Type t = bop.getNumResults() ? bop.getResult(0).getType() : Type();
    if (t && !dtypeOf(t))
      return error(op) << "computes values of type " << t
                       << ", which kernels do not support";
    auto binary = [&](rt::KOp kop) {
      return add(kop, t, operand(0), operand(1));
    };
    auto unary = [&](rt::KOp kop) { return add(kop, t, operand(0)); };
    int32_t result =
        TypeSwitch<Operation *, int32_t>(&bop)
            .Case<arith::AddFOp, arith::AddIOp>(
                [&](auto) { return binary(rt::KOp::Add); })
            .Case<arith::SubFOp, arith::SubIOp>(
                [&](auto) { return binary(rt::KOp::Sub); })
            .Case<arith::MulFOp, arith::MulIOp>(
                [&](auto) { return binary(rt::KOp::Mul); })
            .Case<arith::DivFOp, arith::DivSIOp>(
                [&](auto) { return binary(rt::KOp::Div); })
            .Case<arith::RemFOp, arith::RemSIOp>(
                [&](auto) { return binary(rt::KOp::Rem); })
            .Case<arith::MaximumFOp, arith::MaxSIOp>(
                [&](auto) { return binary(rt::KOp::Max); })
            .Case<arith::MinimumFOp, arith::MinSIOp>(
                [&](auto) { return binary(rt::KOp::Min); })
            .Case<arith::AndIOp>([&](auto) { return binary(rt::KOp::And); })
            .Case<arith::OrIOp>([&](auto) { return binary(rt::KOp::Or); })
            .Case<arith::XOrIOp>([&](auto) {
              return add(rt::KOp::Ne, t, operand(0), operand(1));
            })
            .Case<math::PowFOp, math::IPowIOp>(
                [&](auto) { return binary(rt::KOp::Pow); })
            .Case<arith::NegFOp>([&](auto) { return unary(rt::KOp::Neg); })
            .Case<math::AbsFOp, math::AbsIOp>(
                [&](auto) { return unary(rt::KOp::Abs); })
            .Case<math::ExpOp>([&](auto) { return unary(rt::KOp::Exp); })
            .Case<math::LogOp>([&](auto) { return unary(rt::KOp::Log); })
            .Case<math::SqrtOp>([&](auto) { return unary(rt::KOp::Sqrt); })
            .Case<math::TanhOp>([&](auto) { return unary(rt::KOp::Tanh); })
            .Case<math::ErfOp>([&](auto) { return unary(rt::KOp::Erf); })
            .Case<math::FloorOp>([&](auto) { return unary(rt::KOp::Floor); })
            .Case<math::SinOp>([&](auto) { return unary(rt::KOp::Sin); })
            .Case<math::CosOp>([&](auto) { return unary(rt::KOp::Cos); })
            .Case<math::TanOp>([&](auto) { return unary(rt::KOp::Tan); })
            .Case<math::AsinOp>([&](auto) { return unary(rt::KOp::Asin); })
            .Case<math::AcosOp>([&](auto) { return unary(rt::KOp::Acos); })
            .Case<math::AtanOp>([&](auto) { return unary(rt::KOp::Atan); })
            .Case<math::SinhOp>([&](auto) { return unary(rt::KOp::Sinh); })
            .Case<math::CoshOp>([&](auto) { return unary(rt::KOp::Cosh); })
            .Case<math::AsinhOp>([&](auto) { return unary(rt::KOp::Asinh); })
            .Case<math::AcoshOp>([&](auto) { return unary(rt::KOp::Acosh); })
            .Case<math::AtanhOp>([&](auto) { return unary(rt::KOp::Atanh); })
            .Case<math::CeilOp>([&](auto) { return unary(rt::KOp::Ceil); })
            .Case<math::RoundEvenOp>(
                [&](auto) { return unary(rt::KOp::Round); })
            .Case<arith::ExtFOp, arith::TruncFOp, arith::SIToFPOp,
                  arith::UIToFPOp, arith::FPToSIOp, arith::ExtSIOp,
                  arith::ExtUIOp, arith::TruncIOp>(
                [&](auto) { return unary(rt::KOp::Cast); })
            .Case<arith::IndexCastOp>([&](auto) { return operand(0); })
            .Case<arith::SelectOp>([&](auto) {
              return add(rt::KOp::Select, t, operand(0), operand(1),
                         operand(2));
            })
            .Case<g::UniformOp>([&](auto) { return binary(rt::KOp::Random); })
            .Case<arith::CmpFOp>([&](arith::CmpFOp c) -> int32_t {
              switch (c.getPredicate()) {
              case P::OEQ:
              case P::UEQ:
                return binary(rt::KOp::Eq);
              case P::ONE:
              case P::UNE:
                return binary(rt::KOp::Ne);
              case P::OLT:
              case P::ULT:
                return binary(rt::KOp::Lt);
              case P::OLE:
              case P::ULE:
                return binary(rt::KOp::Le);
              case P::OGT:
              case P::UGT:
                return binary(rt::KOp::Gt);
              case P::OGE:
              case P::UGE:
                return binary(rt::KOp::Ge);
              case P::UNO:
                if (c.getLhs() == c.getRhs())
                  return unary(rt::KOp::IsNan);
                return -1;
              default:
                return -1;
              }
            })
            .Case<arith::CmpIOp>([&](arith::CmpIOp c) -> int32_t {
              switch (c.getPredicate()) {
              case I::eq:
                return binary(rt::KOp::Eq);
              case I::ne:
                return binary(rt::KOp::Ne);
              case I::slt:
                return binary(rt::KOp::Lt);
              case I::sle:
                return binary(rt::KOp::Le);
              case I::sgt:
                return binary(rt::KOp::Gt);
              case I::sge:
                return binary(rt::KOp::Ge);
              default:
                return -1;
              }
            })
            .Case<arith::ConstantOp>(
                [&](arith::ConstantOp c) { return constantInstr(c); })
            .Case<linalg::IndexOp>([&](linalg::IndexOp i) {
              rt::KInstr in;
              in.op = rt::KOp::Index;
              in.type = rt::DType::I64;
              in.ivalue = newIndex[i.getDim()];
              kbody.push_back(in);
              return int32_t(kbody.size() - 1);
            })
            .Case<tensor::ExtractOp>([&](tensor::ExtractOp e) -> int32_t {
              // A gather from a strided slice of a buffer (a Concat of
              // slices of one tensor: RoPE's rotate-half) reads the buffer
              // at offset + index * stride.
              Value source = e.getTensor();
              auto slice = source.getDefiningOp<tensor::ExtractSliceOp>();
              if (slice) {
                if (!composable(slice))
                  return -1;
                source = slice.getSource();
              }
              std::optional<int32_t> a = argFor(source);
              if (!a)
                return -1;
              auto integer = [&](int64_t v) {
                rt::KInstr c;
                c.op = rt::KOp::Const;
                c.type = rt::DType::I64;
                c.ivalue = v;
                kbody.push_back(c);
                return int32_t(kbody.size() - 1);
              };
              std::vector<int32_t> indices;
              for (unsigned i = 1; i < bop.getNumOperands(); ++i) {
                int32_t index = operand(i);
                if (index < 0)
                  return -1;
                if (slice) {
                  int64_t stride = slice.getStaticStrides()[i - 1];
                  int64_t offset = slice.getStaticOffsets()[i - 1];
                  if (stride != 1)
                    index = add(rt::KOp::Mul, bop.getOperand(i).getType(),
                                index, integer(stride));
                  if (offset != 0)
                    index = add(rt::KOp::Add, bop.getOperand(i).getType(),
                                index, integer(offset));
                }
                indices.push_back(index);
              }
              rt::KInstr in;
              in.op = rt::KOp::Gather;
              in.type = *dtypeOf(t);
              in.arg = *a;
              in.indices = std::move(indices);
              kbody.push_back(in);
              return int32_t(kbody.size() - 1);
            })
            .Default([](Operation *) { return -1; });
    if (result < 0)
      return error(op) << "body op '" << bop.getName()
                       << "' has no kernel instruction";
    instr[bop.getResult(0)] = result;
  }

  // 4. The outputs and their combines.
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  SmallVector<Value> yieldedValues(yield.getOperands());
  SmallVector<rt::Combine> combines(op.getNumDpsInits(), rt::Combine::None);
  if (form.parallelDims < int32_t(rank)) {
    for (unsigned o = 0; o < op.getNumDpsInits(); ++o) {
      Value acc = accs[o];
      Operation *c = yieldedValues[o].getDefiningOp();
      if (!c || c->getNumOperands() != 2 ||
          (c->getOperand(0) != acc && c->getOperand(1) != acc))
        return error(op) << "reduces without a recognizable combine";
      rt::Combine combine =
          isa<arith::AddFOp, arith::AddIOp>(c)          ? rt::Combine::Sum
          : isa<arith::MaximumFOp, arith::MaxSIOp>(c) ? rt::Combine::Max
          : isa<arith::MinimumFOp, arith::MinSIOp>(c) ? rt::Combine::Min
          : isa<arith::MulFOp, arith::MulIOp>(c)      ? rt::Combine::Prod
                                                      : rt::Combine::None;
      if (combine == rt::Combine::None)
        return error(op) << "combines with '" << c->getName()
                         << "', which kernels do not support";
      // The accumulator starts at the combine's identity.
      auto fill = op.getDpsInits()[o].getDefiningOp<linalg::FillOp>();
      auto start = fill ? fill.getInputs()[0].getDefiningOp<arith::ConstantOp>()
                        : arith::ConstantOp();
      double identity = combine == rt::Combine::Sum    ? 0.0
                        : combine == rt::Combine::Prod ? 1.0
                        : combine == rt::Combine::Max  ? -INFINITY
                                                       : INFINITY;
      bool ok = false;
      if (start) {
        if (auto f = dyn_cast<FloatAttr>(start.getValue()))
          ok = f.getValueAsDouble() == identity;
        else if (auto i = dyn_cast<IntegerAttr>(start.getValue())) {
          const APInt &v = i.getValue();
          ok = combine == rt::Combine::Sum    ? v.isZero()
               : combine == rt::Combine::Prod ? v.isOne()
               : combine == rt::Combine::Max  ? v.isMinSignedValue()
                                              : v.isMaxSignedValue();
        }
      }
      if (!ok)
        return error(op) << "reduction must start from a linalg.fill of its "
                            "combine's identity";
      combines[o] = combine;
      yieldedValues[o] =
          c->getOperand(0) == acc ? c->getOperand(1) : c->getOperand(0);
    }
  } else {
    for (unsigned o = 0; o < op.getNumDpsInits(); ++o)
      if (!body.getArgument(op.getNumDpsInputs() + o).use_empty())
        return error(op) << "reads its output operand";
  }
  // The yielded values' instructions (a kernel may yield a constant from
  // outside its body: fusion leaves one where an op fills a tensor).
  form.values.clear();
  for (Value value : yieldedValues) {
    if (auto c = value.getDefiningOp<arith::ConstantOp>();
        c && !instr.count(value) && c->getBlock() != &body)
      constantInstr(c);
    auto it = instr.find(value);
    if (it == instr.end())
      return error(op) << "yields a value the kernel does not compute";
    form.values.push_back(it->second);
  }
  form.combines.assign(combines.begin(), combines.end());
  return success();
}

LogicalResult Emitter::emitGeneric(linalg::GenericOp op) {
  // Several outputs are written at the same parallel point: what fusion
  // leaves when a fused value has other users (all-parallel), or sibling
  // reductions over one loop nest, each with its own accumulator.
  rt::Kernel k;
  k.name = "k" + std::to_string(program_.kernels.size()) + kernelLabel(op);
  std::vector<int32_t> stepArgs;
  GenericForm form;
  llvm::DenseMap<Value, int32_t> noLocals;
  if (failed(translateGeneric(op, k, stepArgs, k.body, noLocals, 0, form)))
    return failure();
  k.domain.assign(form.domain.begin(), form.domain.end());
  k.parallelDims = form.parallelDims;
  if (failed(applySchedule(op, k, rt::Kernel::Reduce::Thread)))
    return failure();
  std::vector<int32_t> outs;
  if (failed(addOutputs(op, form, k, stepArgs, outs)))
    return failure();
  if (rt::Status s = k.verify(); !s.ok())
    return error(op) << "makes an invalid kernel: " << s.message();
  addStep(rt::Step::launch(kernelFor(std::move(k)), stepArgs), stepArgs);
  for (auto [result, out] : llvm::zip(op.getResults(), outs))
    bufferOf_[result] = out;
  return success();
}

/// `op`'s results as new buffers that `k` writes: each at each parallel
/// point, the values and combines of `form` (translateGeneric()).
LogicalResult Emitter::addOutputs(linalg::GenericOp op, const GenericForm &form,
                                  rt::Kernel &k, std::vector<int32_t> &stepArgs,
                                  std::vector<int32_t> &outs) {
  for (unsigned o = 0; o < op.getNumDpsInits(); ++o) {
    AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(o));
    for (unsigned r = 0; r < outMap.getNumResults(); ++r) {
      auto d = dyn_cast<AffineDimExpr>(outMap.getResult(r));
      if (!d || form.newIndex[d.getPosition()] != r)
        return error(op) << "writes its output through a map the kernel "
                            "format cannot express: "
                         << AffineMapAttr::get(outMap);
    }
    auto resultType = cast<RankedTensorType>(op.getResult(o).getType());
    int32_t out = newBuffer(tempName(), rt::BufferKind::Temp, resultType);
    outs.push_back(out);
    stepArgs.push_back(out);
    k.args.push_back(
        {program_.buffers[out].dtype, program_.buffers[out].shape, true});
    k.outputs.push_back({int32_t(k.args.size() - 1), form.values[o],
                         form.combines[o]});
  }
  return success();
}

/// A kiln.row_kernel as one staged kernel (runtime/src/kernel.h): each
/// stage's body in order, its reduced values becoming the kernel's locals
/// (which later kernels of the group read at the row), then the main
/// kernel's body and outputs; stage results that the op yields for other
/// readers are written once per row.
LogicalResult Emitter::emitRowKernel(g::RowKernelOp op) {
  Block &body = op.getBody().front();
  SmallVector<linalg::GenericOp> generics;
  for (Operation &inner : body.without_terminator()) {
    if (auto generic = dyn_cast<linalg::GenericOp>(inner))
      generics.push_back(generic);
    else if (!isa<tensor::EmptyOp, linalg::FillOp, arith::ConstantOp>(inner))
      return error(&inner) << "cannot be part of a kiln.row_kernel";
  }
  if (generics.size() < 2)
    return error(op) << "needs at least one stage and a main kernel";
  int32_t rows = int32_t(op.getRows());
  rt::Kernel k;
  k.name = "k" + std::to_string(program_.kernels.size()) + kernelLabel(op);
  k.rowDims = rows;
  if (failed(applySchedule(op, k, rt::Kernel::Reduce::Block)))
    return failure();
  std::vector<int32_t> stepArgs;
  llvm::DenseMap<Value, int32_t> locals;
  std::vector<GenericForm> forms;
  for (linalg::GenericOp stageOp : ArrayRef(generics).drop_back()) {
    rt::KStage stage;
    GenericForm form;
    if (failed(translateGeneric(stageOp, k, stepArgs, stage.body, locals, rows,
                                form)))
      return failure();
    if (form.parallelDims != rows ||
        llvm::is_contained(form.combines, rt::Combine::None))
      return error(stageOp) << "is a stage of a kiln.row_kernel with rows "
                            << rows
                            << " but does not reduce each row over its other "
                               "loops";
    // Its results hold the rows in the kernel's order (as the kernel's
    // locals do).
    for (OpOperand &init : stageOp.getDpsInitsMutable()) {
      AffineMap map = stageOp.getMatchingIndexingMap(&init);
      for (auto [r, e] : llvm::enumerate(map.getResults())) {
        auto d = dyn_cast<AffineDimExpr>(e);
        if (!d || form.newIndex[d.getPosition()] != r)
          return error(stageOp)
                 << "is a stage of a kiln.row_kernel that writes its rows "
                    "in another order than its loops: "
                 << AffineMapAttr::get(map);
      }
    }
    for (auto [result, value, combine] :
         llvm::zip(stageOp->getResults(), form.values, form.combines)) {
      stage.values.push_back({value, combine});
      int32_t index = int32_t(locals.size());
      locals[result] = index;
    }
    k.stages.push_back(std::move(stage));
    forms.push_back(std::move(form));
  }
  linalg::GenericOp main = generics.back();
  GenericForm mainForm;
  if (failed(translateGeneric(main, k, stepArgs, k.body, locals, rows,
                              mainForm)))
    return failure();
  for (auto [stageOp, form] : llvm::zip(generics, forms))
    if (form.domain != mainForm.domain)
      return error(stageOp) << "is a stage of a kiln.row_kernel over other "
                               "loop sizes than its main kernel";
  k.domain.assign(mainForm.domain.begin(), mainForm.domain.end());
  k.parallelDims = mainForm.parallelDims;
  std::vector<int32_t> outs;
  if (failed(addOutputs(main, mainForm, k, stepArgs, outs)))
    return failure();
  auto yield = cast<g::YieldOp>(body.getTerminator());
  for (auto [result, value] : llvm::zip(op.getResults(), yield.getValues())) {
    if (value.getDefiningOp() == main.getOperation()) {
      bufferOf_[result] = outs[cast<OpResult>(value).getResultNumber()];
      continue;
    }
    auto local = locals.find(value);
    if (local == locals.end())
      return error(op) << "yields a value that none of its kernels computes";
    int32_t out = newBuffer(tempName(), rt::BufferKind::Temp,
                            cast<RankedTensorType>(value.getType()));
    stepArgs.push_back(out);
    k.args.push_back(
        {program_.buffers[out].dtype, program_.buffers[out].shape, true});
    rt::KOutput written{int32_t(k.args.size() - 1), local->second,
                        rt::Combine::None};
    written.local = true;
    k.outputs.push_back(written);
    bufferOf_[result] = out;
  }
  if (rt::Status s = k.verify(); !s.ok())
    return error(op) << "makes an invalid kernel: " << s.message();
  addStep(rt::Step::launch(kernelFor(std::move(k)), stepArgs), stepArgs);
  return success();
}

//===----------------------------------------------------------------------===//
// Library calls
//===----------------------------------------------------------------------===//

/// The library call of a 2-D GEMM `op` computing `type` = alpha op(a)
/// op(b) (C, epilogues and the output are the caller's); fails for element
/// types the runtime's GEMMs do not take.
FailureOr<rt::GemmCall> Emitter::gemmCall(Operation *op, Value a, Value b,
                                          RankedTensorType type, bool transA,
                                          bool transB, APFloat alpha) {
  if (failed(libraryElementType(op, type)))
    return failure();
  rt::GemmCall call;
  call.a = bufferOf_.lookup(a);
  call.b = bufferOf_.lookup(b);
  call.transA = transA;
  call.transB = transB;
  call.m = type.getDimSize(0);
  call.n = type.getDimSize(1);
  call.k = cast<RankedTensorType>(a.getType()).getDimSize(transA ? 0 : 1);
  call.alpha = alpha.convertToDouble();
  return call;
}

LogicalResult Emitter::emitGemm(g::GemmOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  FailureOr<rt::GemmCall> made =
      gemmCall(op, op.getA(), op.getB(), type, op.getTransA(),
               op.getTransB(), op.getAlpha());
  if (failed(made))
    return failure();
  rt::GemmCall call = *made;
  call.beta = op.getBeta().convertToDouble();
  call.relu = op.getRelu();
  if (Value c = op.getC()) {
    auto ct = cast<RankedTensorType>(c.getType());
    int64_t n = ct.getNumElements();
    bool row =
        ct.getRank() == 1 || (ct.getRank() == 2 && ct.getDimSize(0) == 1);
    call.c = bufferOf_.lookup(c);
    // A column [M, 1] is not one of the forms GemmCall takes; broadcast it.
    if (!(n == 1 || (row && n == call.n) || n == call.m * call.n))
      return error(op) << "with a bias of shape " << ct
                       << " is not supported yet";
  }
  int32_t out = newBuffer(tempName(), rt::BufferKind::Temp, type);
  call.out = out;
  std::vector<int32_t> used = {call.a, call.b, out};
  if (call.c >= 0)
    used.push_back(call.c);
  addStep(rt::Step::call(call), used);
  bufferOf_[op.getResult()] = out;
  return success();
}

LogicalResult Emitter::emitGemmReluGrad(g::GemmReluGradOp op) {
  return emitGemmWithBiasGrad(
      op, op.getA(), op.getB(), op.getGrad(), op.getBiasGrad(),
      op.getTransA(), op.getTransB(), op.getAlpha(), [&](rt::GemmCall &call) {
        call.reluMask = bufferOf_.lookup(op.getMask());
      });
}

LogicalResult Emitter::emitGemmBiasGrad(g::GemmBiasGradOp op) {
  return emitGemmWithBiasGrad(
      op, op.getA(), op.getB(), op.getResult(), op.getBiasGrad(),
      op.getTransA(), op.getTransB(), op.getAlpha(), [&](rt::GemmCall &call) {
        call.sumOf = op.getOf() == "a" ? rt::GemmCall::SumOf::A
                                       : rt::GemmCall::SumOf::B;
      });
}

LogicalResult Emitter::emitGemmWithBiasGrad(
    Operation *op, Value a, Value b, Value result, Value biasGrad, bool transA,
    bool transB, APFloat alpha,
    llvm::function_ref<void(rt::GemmCall &)> epilogue) {
  auto type = cast<RankedTensorType>(result.getType());
  FailureOr<rt::GemmCall> made =
      gemmCall(op, a, b, type, transA, transB, alpha);
  if (failed(made))
    return failure();
  rt::GemmCall call = *made;
  call.beta = 0;
  epilogue(call);
  call.out = newBuffer(tempName(), rt::BufferKind::Temp, type);
  call.biasGrad = newBuffer(tempName(), rt::BufferKind::Temp,
                            cast<RankedTensorType>(biasGrad.getType()));
  std::vector<int32_t> used = {call.a, call.b, call.out, call.biasGrad};
  if (call.reluMask >= 0)
    used.push_back(call.reluMask);
  addStep(rt::Step::call(call), used);
  bufferOf_[result] = call.out;
  bufferOf_[biasGrad] = call.biasGrad;
  return success();
}

LogicalResult Emitter::emitEmbeddingGrad(g::EmbeddingGradOp op) {
  auto type = cast<RankedTensorType>(op.getResult().getType());
  if (failed(libraryElementType(op, type)))
    return failure();
  rt::EmbeddingGradCall call;
  call.ids = bufferOf_.lookup(op.getIds());
  call.updates = bufferOf_.lookup(op.getUpdates());
  call.n = cast<RankedTensorType>(op.getIds().getType()).getDimSize(0);
  call.width = type.getDimSize(1);
  call.rows = type.getDimSize(0);
  if (call.n >= (int64_t(1) << 30))
    return error(op) << "of " << call.n
                     << " ids is not supported (at most 2^30)";
  auto i32 = IntegerType::get(op.getContext(), 32);
  call.out = newBuffer(tempName(), rt::BufferKind::Temp, type);
  call.next = newBuffer(tempName(), rt::BufferKind::Temp,
                        RankedTensorType::get({call.n}, i32));
  call.head = newBuffer(tempName(), rt::BufferKind::Temp,
                        RankedTensorType::get({call.rows}, i32));
  addStep(rt::Step::embeddingGrad(call),
          {call.ids, call.updates, call.out, call.next, call.head});
  bufferOf_[op.getResult()] = call.out;
  return success();
}

LogicalResult Emitter::emitMatMul(g::MatMulOp op) {
  auto lhs = cast<RankedTensorType>(op.getLhs().getType());
  auto rhs = cast<RankedTensorType>(op.getRhs().getType());
  auto type = cast<RankedTensorType>(op.getResult().getType());
  if (failed(libraryElementType(op, type)))
    return failure();
  rt::GemmCall call;
  call.a = bufferOf_.lookup(op.getLhs());
  call.b = bufferOf_.lookup(op.getRhs());
  call.beta = 0;
  // An operand read transposed has its last two dimensions swapped.
  call.transA = op.getTransA();
  call.transB = op.getTransB();
  int64_t lr = lhs.getRank(), rr = rhs.getRank();
  int64_t k = call.transA ? lhs.getDimSize(lr - 2) : lhs.getDimSize(lr - 1);
  call.k = k;
  call.m = lr == 1         ? 1
           : call.transA ? lhs.getDimSize(lr - 1)
                         : lhs.getDimSize(lr - 2);
  call.n = rr == 1         ? 1
           : call.transB ? rhs.getDimSize(rr - 2)
                         : rhs.getDimSize(rr - 1);
  ArrayRef<int64_t> lb =
      lhs.getShape().drop_back(std::min<int64_t>(2, lhs.getRank()));
  ArrayRef<int64_t> rb =
      rhs.getShape().drop_back(std::min<int64_t>(2, rhs.getRank()));
  int64_t lbatch = 1, rbatch = 1;
  for (int64_t d : lb)
    lbatch *= d;
  for (int64_t d : rb)
    rbatch *= d;
  if (rbatch == 1 && !call.transA) {
    // [batch..., M, K] x [K, N]: one GEMM with M' = batch * M.
    call.m *= lbatch;
  } else if (rbatch == 1) {
    // A transposed batched lhs against one matrix: the matrix repeats.
    call.batch = lbatch;
    call.strideA = call.m * k;
    call.strideOut = call.m * call.n;
  } else if (lb == rb) {
    call.batch = lbatch;
    call.strideA = call.m * k;
    call.strideB = k * call.n;
    call.strideOut = call.m * call.n;
  } else {
    return error(op) << "with broadcast batch dimensions (" << lhs << " x "
                     << rhs << ") is not supported yet";
  }
  int32_t out = newBuffer(tempName(), rt::BufferKind::Temp, type);
  call.out = out;
  addStep(rt::Step::call(call), {call.a, call.b, out});
  bufferOf_[op.getResult()] = out;
  return success();
}

/// A convolution library call: the forward product, or one of its two
/// backward products (`mode`); `x`, `w` and `y` are the forward
/// convolution's input, weight and output types, whatever the call computes.
LogicalResult Emitter::emitConvCall(Operation *op, rt::ConvCall::Mode mode,
                                    RankedTensorType x, RankedTensorType w,
                                    RankedTensorType y, ArrayRef<int64_t> strides,
                                    ArrayRef<int64_t> pads,
                                    ArrayRef<int64_t> dilations, int64_t group,
                                    Value input, Value weight, Value bias) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  if (failed(libraryElementType(op, type)))
    return failure();
  if (x.getRank() != 4 && x.getRank() != 3)
    return error(op)
           << "in " << x.getRank() - 2
           << " spatial dimensions is not supported yet (1 and 2 are)";
  // A 1-D convolution is a 2-D one of height 1.
  bool oneD = x.getRank() == 3;
  rt::ConvCall c;
  c.mode = mode;
  c.input = bufferOf_.lookup(input);
  c.weight = bufferOf_.lookup(weight);
  c.bias = bias ? bufferOf_.lookup(bias) : -1;
  c.n = x.getDimSize(0);
  c.c = x.getDimSize(1);
  c.h = oneD ? 1 : x.getDimSize(2);
  c.w = x.getDimSize(x.getRank() - 1);
  c.m = w.getDimSize(0);
  c.kh = oneD ? 1 : w.getDimSize(2);
  c.kw = w.getDimSize(w.getRank() - 1);
  c.oh = oneD ? 1 : y.getDimSize(2);
  c.ow = y.getDimSize(y.getRank() - 1);
  c.strideH = oneD ? 1 : strides[0];
  c.strideW = strides.back();
  c.dilationH = oneD ? 1 : dilations[0];
  c.dilationW = dilations.back();
  c.padTop = oneD ? 0 : pads[0];
  c.padLeft = oneD ? pads[0] : pads[1];
  c.group = group;
  int32_t out = newBuffer(tempName(), rt::BufferKind::Temp, type);
  c.out = out;
  std::vector<int32_t> used = {c.input, c.weight, out};
  if (c.bias >= 0)
    used.push_back(c.bias);
  addStep(rt::Step::convolution(c), used);
  bufferOf_[op->getResult(0)] = out;
  return success();
}

LogicalResult Emitter::emitConv(g::ConvOp op) {
  auto x = cast<RankedTensorType>(op.getInput().getType());
  auto w = cast<RankedTensorType>(op.getWeight().getType());
  auto y = cast<RankedTensorType>(op.getResult().getType());
  return emitConvCall(op, rt::ConvCall::Mode::Forward, x, w, y,
                      op.getStrides(), op.getPads(), op.getDilations(),
                      op.getGroup(), op.getInput(), op.getWeight(),
                      op.getBias());
}

//===----------------------------------------------------------------------===//
// Outputs
//===----------------------------------------------------------------------===//

/// A Load map reading an argument at the domain point itself.
static std::vector<int64_t> identityMap(size_t rank) {
  std::vector<int64_t> map;
  for (size_t j = 0; j < rank; ++j)
    for (size_t d = 0; d <= rank; ++d)
      map.push_back(d == j ? 1 : 0);
  return map;
}

int32_t Emitter::copyKernel(Value from, int32_t fromBuffer, rt::BufferKind kind,
                            StringRef name) {
  int32_t out = newBuffer(name, kind, cast<RankedTensorType>(from.getType()));
  copyInto(fromBuffer, out);
  return out;
}

/// A kernel step copying `fromBuffer` to `toBuffer` (same dtype and shape).
void Emitter::copyInto(int32_t fromBuffer, int32_t toBuffer) {
  const rt::Buffer &src = program_.buffers[fromBuffer];
  rt::Kernel k;
  k.name = "copy" + std::to_string(program_.kernels.size());
  k.domain = src.shape;
  k.parallelDims = int32_t(src.shape.size());
  k.args = {{src.dtype, src.shape, false}, {src.dtype, src.shape, true}};
  rt::KInstr load;
  load.op = rt::KOp::Load;
  load.type = src.dtype;
  load.arg = 0;
  load.map = identityMap(src.shape.size());
  k.body = {load};
  k.outputs = {{1, 0, rt::Combine::None}};
  addStep(rt::Step::launch(kernelFor(std::move(k)), {fromBuffer, toBuffer}),
          {fromBuffer, toBuffer});
}

/// Whether the step that writes `temp` may write `target`'s storage instead:
/// no later step of this entry uses `target`, and if the writing step itself
/// reads `target` it is an all-parallel kernel reading it only at the point
/// it writes (readsOnlyAtPoint).
bool Emitter::canWriteInPlace(int32_t temp, int32_t target) const {
  int tempStorage = storageOf_[temp], targetStorage = storageOf_[target];
  for (size_t b = 0; b < program_.buffers.size(); ++b)
    if (int32_t(b) != temp && storageOf_[b] == tempStorage)
      return false; // a view shares it
  const Storage &t = storages_[tempStorage];
  if (t.kind != rt::BufferKind::Temp)
    return false;
  int writer = t.first;
  auto last = lastUse_.find(targetStorage);
  if (last == lastUse_.end() || last->second < writer)
    return true;
  if (last->second > writer)
    return false;
  const rt::Step &step = entry_.steps[writer];
  if (step.kind != rt::Step::Kind::Kernel)
    return false;
  const rt::Kernel &k = program_.kernels[step.kernel];
  return k.parallelDims == int32_t(k.domain.size()) &&
         readsOnlyAtPoint(step, targetStorage);
}

/// Whether `storage` is a temporary of its own (not an output, not a
/// gradient bucket) that every buffer on it covers whole (the value and its
/// reshapes).
bool Emitter::wholeTemp(
    int storage, const std::vector<std::vector<int32_t>> &buffersOf) const {
  const Storage &s = storages_[storage];
  if (s.kind != rt::BufferKind::Temp || bucketStorages_.contains(storage))
    return false;
  for (int32_t b : buffersOf[storage])
    if (within_[b] != 0 || program_.buffers[b].bytes() != s.bytes)
      return false;
  return true;
}

/// Whether kernel step `step` reads `storage` only through loads at the
/// element of the point it writes (an output shaped like the domain, in
/// the body and in every stage), never writing it.
bool Emitter::readsOnlyAtPoint(const rt::Step &step, int storage) const {
  const rt::Kernel &k = program_.kernels[step.kernel];
  std::vector<int64_t> point(k.domain.size() + 1, 0);
  for (int64_t d = int64_t(k.domain.size()) - 1, stride = 1; d >= 0;
       stride *= k.domain[d--])
    point[d] = stride;
  auto atPoint = [&](const std::vector<rt::KInstr> &body) {
    for (const rt::KInstr &in : body)
      if (in.arg >= 0 && storageOf_[step.args[in.arg]] == storage &&
          (in.op != rt::KOp::Load || rt::loadOffsets(k, in) != point))
        return false;
    return true;
  };
  for (size_t a = 0; a < step.args.size(); ++a)
    if (storageOf_[step.args[a]] == storage && k.args[a].output)
      return false;
  if (!atPoint(k.body))
    return false;
  for (const rt::KStage &stage : k.stages)
    if (!atPoint(stage.body))
      return false;
  return true;
}

/// A kernel step's output takes the storage of an input that dies at that
/// step when the kernel reads that input only at the point it writes: an
/// elementwise kernel, or a staged one (a softmax, the loss and its
/// gradient) whose row reads all come before the row's writes. Each point
/// then reads its element before writing it, on every backend (the CUDA
/// source declares no pointer __restrict__, so loads stay before stores).
/// Transposing kernels (tiles through shared memory) and reductions over
/// the domain are left alone. The peak of a training step is often such a
/// step: gpt's logits and their gradient were both live at the loss.
void Emitter::writeOverDyingInputs() {
  // The buffers of each storage, kept as storages merge (looking them up
  // among all buffers at each step was quadratic in the program).
  std::vector<std::vector<int32_t>> buffersOf(storages_.size());
  for (size_t b = 0; b < program_.buffers.size(); ++b)
    if (storageOf_[b] >= 0 && size_t(storageOf_[b]) < storages_.size())
      buffersOf[storageOf_[b]].push_back(int32_t(b));
  for (size_t s = 0; s < entry_.steps.size(); ++s) {
    const rt::Step &step = entry_.steps[s];
    if (step.kind != rt::Step::Kind::Kernel)
      continue;
    const rt::Kernel &k = program_.kernels[step.kernel];
    if (k.segmented || k.tileDim >= 0 ||
        k.parallelDims != int32_t(k.domain.size()))
      continue;
    for (const rt::KOutput &o : k.outputs) {
      int out = storageOf_[step.args[o.arg]];
      if (o.local || o.combine != rt::Combine::None ||
          storages_[out].first != int(s) || !wholeTemp(out, buffersOf))
        continue;
      for (size_t a = 0; a < step.args.size(); ++a) {
        int in = storageOf_[step.args[a]];
        if (k.args[a].output || in == out || storages_[in].last != int(s) ||
            storages_[in].bytes != storages_[out].bytes ||
            rt::dtypeSize(k.args[a].dtype) !=
                rt::dtypeSize(k.args[o.arg].dtype) ||
            !wholeTemp(in, buffersOf) || !readsOnlyAtPoint(step, in))
          continue;
        for (int32_t b : buffersOf[out])
          storageOf_[b] = in;
        buffersOf[in].insert(buffersOf[in].end(), buffersOf[out].begin(),
                             buffersOf[out].end());
        buffersOf[out].clear();
        storages_[in].last = storages_[out].last;
        storages_[out] = Storage{0, rt::BufferKind::Temp};
        storages_[out].entry = storages_[in].entry;
        break;
      }
    }
  }
}

/// A gradient bucket: the storages of its values move, back to back, into
/// one new storage, so that the runtime reduces the bucket with one call.
/// A value is copied in instead where the reduction in place would change
/// what another reader sees: a constant or parameter, a value already in a
/// bucket, or a value that a later op still reads as it was (a cotangent of
/// the backward pass that is also a gradient: the backward goes on with
/// this rank's value), itself or through a view of the same storage. The
/// results are the bucket's buffers: the reduction happens in place.
LogicalResult Emitter::emitAllReduce(g::AllReduceOp op) {
  int bucket = int(storages_.size());
  storages_.push_back({0, rt::BufferKind::Temp});
  storages_.back().entry = int(program_.entries.size());
  bucketStorages_.insert(bucket);
  std::vector<int32_t> members;
  for (auto [in, out] : llvm::zip(op.getInputs(), op.getResults())) {
    int32_t id = bufferOf_.lookup(in);
    int from = storageOf_[id];
    const Storage &source = storages_[from];
    // The values on this storage: `in` and its reshapes (views), both ways.
    SmallVector<Value> views = {in};
    llvm::DenseSet<Value> seen = {in};
    for (size_t v = 0; v < views.size(); ++v) {
      auto add = [&](Value x) {
        if (seen.insert(x).second)
          views.push_back(x);
      };
      if (auto r = views[v].getDefiningOp<g::ReshapeOp>())
        add(r.getInput());
      for (Operation *user : views[v].getUsers())
        if (auto r = dyn_cast<g::ReshapeOp>(user))
          add(r.getResult());
    }
    bool readLater = llvm::any_of(views, [&](Value v) {
      return llvm::any_of(v.getUsers(), [&](Operation *user) {
        return user != op.getOperation() && !isa<g::ReshapeOp>(user) &&
               (user->getBlock() != op->getBlock() ||
                op->isBeforeInBlock(user));
      });
    });
    if (source.kind != rt::BufferKind::Temp || bucketStorages_.count(from) ||
        source.entry != int(program_.entries.size()) || readLater) {
      id = copyKernel(in, id, rt::BufferKind::Temp, tempName());
      from = storageOf_[id];
    }
    Storage &into = storages_[bucket];
    int64_t at = into.bytes;
    for (size_t b = 0; b < program_.buffers.size(); ++b)
      if (storageOf_[b] == from) {
        storageOf_[b] = bucket;
        within_[b] += at;
      }
    into.bytes = alignUp(at + storages_[from].bytes);
    into.first = std::min(into.first, storages_[from].first);
    into.last = std::max(into.last, storages_[from].last);
    if (auto last = lastUse_.find(from); last != lastUse_.end()) {
      lastUse_[bucket] = std::max(lastUse_.lookup(bucket), last->second);
      lastUse_.erase(from);
    }
    storages_[from].bytes = 0;
    members.push_back(id);
    bucketMembers_.insert(id);
    bufferOf_[out] = id;
  }
  addStep(rt::Step::allReduce(int32_t(op.getBucketAttr().getInt()), members,
                              op.getReduction() == "mean"),
          members);
  return success();
}

LogicalResult Emitter::emitReturn(func::ReturnOp op) {
  for (auto [i, value] : llvm::enumerate(op.getOperands())) {
    // A write-back: the new value of a persistent buffer.
    if (auto update = func_.getResultAttrOfType<StringAttr>(i, "kiln.update")) {
      auto known = persistent_.find(update.getValue());
      if (known == persistent_.end())
        return op.emitOpError() << "writes back to '" << update.getValue()
                                << "', which is not an initializer";
      int32_t target = known->second, id = bufferOf_.lookup(value);
      if (program_.buffers[id].shape != program_.buffers[target].shape ||
          program_.buffers[id].dtype != program_.buffers[target].dtype)
        return op.emitOpError() << "writes back a value of another type to '"
                                << update.getValue() << "'";
      if (canWriteInPlace(id, target)) {
        storages_[storageOf_[id]].bytes = 0;
        storageOf_[id] = storageOf_[target];
        within_[id] = within_[target];
      } else {
        copyInto(id, target);
      }
      continue;
    }
    auto name = func_.getResultAttrOfType<StringAttr>(i, "kiln.name");
    std::string outName = name ? name.str() : "output" + std::to_string(i);
    int32_t id = bufferOf_.lookup(value);
    const rt::Buffer &b = program_.buffers[id];
    // An output gets a slot of its own: a temporary's storage becomes that
    // slot (with any views of it); an input, a parameter, or a storage that
    // is already an output is copied into a new one.
    // The members of a gradient bucket are disjoint parts of one storage:
    // each may be an output in place once the bucket is an output slot.
    Storage &storage = storages_[storageOf_[id]];
    if (b.kind != rt::BufferKind::Temp ||
        (storage.kind != rt::BufferKind::Temp &&
         !(storage.kind == rt::BufferKind::Output &&
           bucketMembers_.contains(id)))) {
      id = copyKernel(value, id, rt::BufferKind::Output, outName);
    } else {
      program_.buffers[id].kind = rt::BufferKind::Output;
      program_.buffers[id].name = outName;
      storage.kind = rt::BufferKind::Output;
    }
    entry_.outputs.push_back(id);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The walk and the memory plan
//===----------------------------------------------------------------------===//

LogicalResult Emitter::emitFunction(func::FuncOp func, StringRef name) {
  func_ = func;
  entry_ = rt::Entry();
  entry_.name = name.str();
  bufferOf_.clear();
  lastUse_.clear();
  for (auto [i, arg] : llvm::enumerate(func_.getArguments())) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type || !type.hasStaticShape() || !dtypeOf(type.getElementType()))
      return func_.emitError() << "argument " << i << " of type "
                               << arg.getType() << " cannot be a kernel input";
    auto argName = func_.getArgAttrOfType<StringAttr>(i, "kiln.name");
    int32_t id =
        newBuffer(argName ? argName.str() : "input" + std::to_string(i),
                  rt::BufferKind::Input, type);
    entry_.inputs.push_back(id);
    bufferOf_[arg] = id;
  }
  bool failedAny = false;
  // Values of ops that failed, and of ops reading them: those readers are
  // skipped, so that each error is said once, not again by every op after.
  llvm::DenseSet<Value> failedValues;
  for (Operation &op : func_.getBody().front()) {
    llvm::SetVector<Value> reads(op.getOperands().begin(),
                                 op.getOperands().end());
    getUsedValuesDefinedAbove(op.getRegions(), reads);
    if (llvm::any_of(reads, [&](Value v) { return failedValues.contains(v); })) {
      failedValues.insert(op.getResults().begin(), op.getResults().end());
      continue;
    }
    LogicalResult result =
        TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](g::InitializerOp i) -> LogicalResult {
              auto known = persistent_.find(i.getName());
              if (known == persistent_.end()) {
                if (failed(emitData(i, i.getResult(), i.getName(),
                                    rt::BufferKind::Parameter, i.getValue())))
                  return failure();
                persistent_[i.getName()] = bufferOf_.lookup(i.getResult());
                return success();
              }
              const rt::Buffer &b = program_.buffers[known->second];
              auto t = cast<RankedTensorType>(i.getType());
              if (b.shape != std::vector<int64_t>(t.getShape().begin(),
                                                  t.getShape().end()) ||
                  b.dtype != *dtypeOf(t.getElementType()))
                return error(i) << "has the name of another initializer of "
                                   "a different type";
              bufferOf_[i.getResult()] = known->second;
              return success();
            })
            .Case([&](g::ConstantOp c) {
              return emitData(c, c.getResult(), tempName(),
                              rt::BufferKind::Constant, c.getValue());
            })
            .Case([&](g::ReshapeOp r) -> LogicalResult {
              // A view: a second buffer on the same storage.
              int32_t src = bufferOf_.lookup(r.getInput());
              rt::Buffer view = program_.buffers[src];
              view.name = tempName();
              auto shape = r.getResult().getType().getShape();
              view.shape.assign(shape.begin(), shape.end());
              program_.buffers.push_back(view);
              storageOf_.push_back(storageOf_[src]);
              within_.push_back(within_[src]);
              bufferOf_[r.getResult()] = int32_t(program_.buffers.size() - 1);
              return success();
            })
            .Case<tensor::EmptyOp, linalg::FillOp, arith::ConstantOp,
                  tensor::ExtractSliceOp>([](Operation *) { return success(); })
            .Case([&](linalg::GenericOp op) { return emitGeneric(op); })
            .Case([&](g::RowKernelOp op) { return emitRowKernel(op); })
            .Case([&](g::GemmOp op) { return emitGemm(op); })
            .Case([&](g::GemmReluGradOp op) { return emitGemmReluGrad(op); })
            .Case([&](g::GemmBiasGradOp op) { return emitGemmBiasGrad(op); })
            .Case([&](g::EmbeddingGradOp op) { return emitEmbeddingGrad(op); })
            .Case([&](g::MatMulOp op) { return emitMatMul(op); })
            .Case([&](g::ConvOp op) { return emitConv(op); })
            .Case([&](g::AllReduceOp op) { return emitAllReduce(op); })
            .Case([&](g::ConvBackwardDataOp op) {
              auto dy = cast<RankedTensorType>(op.getGrad().getType());
              return emitConvCall(
                  op, rt::ConvCall::Mode::BackwardData,
                  cast<RankedTensorType>(op.getResult().getType()),
                  cast<RankedTensorType>(op.getWeight().getType()), dy,
                  op.getStrides(), op.getPads(), op.getDilations(),
                  op.getGroup(), op.getGrad(), op.getWeight(), Value());
            })
            .Case([&](g::ConvBackwardFilterOp op) {
              auto dy = cast<RankedTensorType>(op.getGrad().getType());
              return emitConvCall(
                  op, rt::ConvCall::Mode::BackwardFilter,
                  cast<RankedTensorType>(op.getInput().getType()),
                  cast<RankedTensorType>(op.getResult().getType()), dy,
                  op.getStrides(), op.getPads(), op.getDilations(),
                  op.getGroup(), op.getInput(), op.getGrad(), Value());
            })
            .Case([&](func::ReturnOp op) { return emitReturn(op); })
            .Default([&](Operation *op) -> LogicalResult {
              return op->emitOpError()
                     << "cannot be compiled to a kernel or library call yet";
            });
    if (failed(result)) {
      failedAny = true;
      failedValues.insert(op.getResults().begin(), op.getResults().end());
    }
  }
  if (failedAny)
    return failure();
  writeOverDyingInputs();
  if (options_.multiTensor)
    mergeSegments();
  program_.entries.push_back(std::move(entry_));
  return success();
}

//===----------------------------------------------------------------------===//
// Multi-tensor kernels
//===----------------------------------------------------------------------===//

/// The 1-D form of a kernel step that can run as a segment of a
/// multi-tensor launch: all-parallel (an elementwise update), or a full
/// reduction to scalars (a gradient's sum of squares for clipping); no
/// coordinates read; every argument read at the point (an identity map) or
/// a scalar. Nothing otherwise.
std::optional<rt::Kernel> Emitter::flattened(const rt::Step &step) const {
  if (step.kind != rt::Step::Kind::Kernel || !step.segments.empty())
    return std::nullopt;
  const rt::Kernel &k = program_.kernels[step.kernel];
  size_t rank = k.domain.size();
  const bool full = k.parallelDims == 0; // A reduction to scalars.
  if (k.segmented || !k.stages.empty() || rank == 0 ||
      !(k.parallelDims == int32_t(rank) || full))
    return std::nullopt;
  int64_t points = 1;
  for (int64_t d : k.domain)
    points *= d;
  std::vector<int64_t> identity = identityMap(rank);
  // What the kernel computes, none of how its 2-D form ran (a schedule
  // for segments of any size: kernelFor()).
  rt::Kernel flat;
  flat.name = k.name;
  flat.args = k.args;
  flat.body = k.body;
  flat.outputs = k.outputs;
  flat.domain = {points};
  flat.parallelDims = full ? 0 : 1;
  flat.segmented = true;
  for (rt::KArg &a : flat.args) {
    if (!a.shape.empty() && a.shape != k.domain)
      return std::nullopt;
    if (!a.shape.empty())
      a.shape = {points};
  }
  for (rt::KInstr &in : flat.body) {
    if (in.op == rt::KOp::Index || in.op == rt::KOp::Gather)
      return std::nullopt;
    if (in.op != rt::KOp::Load)
      continue;
    if (k.args[in.arg].shape.empty())
      continue; // A scalar: its map has no rows.
    if (in.map != identity)
      return std::nullopt;
    in.map = identityMap(1);
  }
  for (const rt::KOutput &o : k.outputs)
    if ((o.combine != rt::Combine::None) != full)
      return std::nullopt;
  return flat;
}

/// A 1-D view of `buffer` (itself when it is 1-D or a scalar).
int32_t Emitter::flatView(int32_t buffer) {
  const rt::Buffer &b = program_.buffers[buffer];
  if (b.shape.size() <= 1)
    return buffer;
  rt::Buffer view = b;
  int64_t n = 1;
  for (int64_t d : b.shape)
    n *= d;
  view.shape = {n};
  program_.buffers.push_back(view);
  storageOf_.push_back(storageOf_[buffer]);
  within_.push_back(within_[buffer]);
  return int32_t(program_.buffers.size() - 1);
}

/// Whether the kernel steps can run as one launch: none writes bytes that
/// another reads or writes.
bool Emitter::independent(ArrayRef<const rt::Step *> steps) const {
  struct Range {
    int storage;
    int64_t begin, end;
    bool written;
  };
  std::vector<std::vector<Range>> ranges;
  for (const rt::Step *s : steps) {
    const rt::Kernel &k = program_.kernels[s->kernel];
    ranges.emplace_back();
    for (size_t a = 0; a < s->args.size(); ++a) {
      int32_t id = s->args[a];
      ranges.back().push_back({storageOf_[id], within_[id],
                               within_[id] + program_.buffers[id].bytes(),
                               k.args[a].output});
    }
  }
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = i + 1; j < ranges.size(); ++j)
      for (const Range &x : ranges[i])
        for (const Range &y : ranges[j])
          if ((x.written || y.written) && x.storage == y.storage &&
              x.begin < y.end && y.begin < x.end)
            return false;
  return true;
}

/// Whether two 1-D forms (flattened()) are one kernel: the same arguments'
/// kinds, body and outputs, whatever their sizes and names. Constants
/// compare bit for bit (0.0 is not -0.0; NaN is NaN).
static bool sameKernel(const rt::Kernel &x, const rt::Kernel &y) {
  if (x.parallelDims != y.parallelDims || x.args.size() != y.args.size() ||
      x.body.size() != y.body.size() || x.outputs.size() != y.outputs.size())
    return false;
  for (size_t a = 0; a < x.args.size(); ++a)
    if (x.args[a].dtype != y.args[a].dtype ||
        x.args[a].output != y.args[a].output ||
        x.args[a].shape.empty() != y.args[a].shape.empty())
      return false;
  for (size_t b = 0; b < x.body.size(); ++b) {
    const rt::KInstr &p = x.body[b], &q = y.body[b];
    if (p.op != q.op || p.type != q.type || p.a != q.a || p.b != q.b ||
        p.c != q.c || p.arg != q.arg || p.map != q.map ||
        p.indices != q.indices ||
        std::memcmp(&p.fvalue, &q.fvalue, sizeof(double)) != 0 ||
        p.ivalue != q.ivalue)
      return false;
  }
  for (size_t o = 0; o < x.outputs.size(); ++o)
    if (x.outputs[o].arg != y.outputs[o].arg ||
        x.outputs[o].value != y.outputs[o].value ||
        x.outputs[o].combine != y.outputs[o].combine)
      return false;
  return true;
}

/// Runs of consecutive independent kernel steps whose 1-D forms are one
/// kernel become one step of a segmented kernel. Storage lifetimes (step
/// indices) are renumbered for the shorter step list.
void Emitter::mergeSegments() {
  std::vector<rt::Step> &steps = entry_.steps;
  std::vector<rt::Step> merged;
  std::vector<int> newIndex(steps.size());
  for (size_t i = 0; i < steps.size();) {
    std::optional<rt::Kernel> flat = flattened(steps[i]);
    size_t end = i + 1;
    if (flat) {
      std::vector<const rt::Step *> run = {&steps[i]};
      while (end < steps.size()) {
        std::optional<rt::Kernel> next = flattened(steps[end]);
        if (!next || !sameKernel(*flat, *next))
          break;
        run.push_back(&steps[end]);
        if (!independent(run)) {
          run.pop_back();
          break;
        }
        ++end;
      }
      if (run.size() > 1) {
        // One kernel named after every tensor it updates.
        std::string label;
        for (const rt::Step *s : run) {
          const std::string &name = program_.kernels[s->kernel].name;
          size_t space = name.find(' ');
          label += (label.empty() ? " " : " + ") +
                   (space == std::string::npos ? name : name.substr(space + 1));
        }
        flat->name = "k" + std::to_string(program_.kernels.size()) + label;
        rt::Step step;
        step.kernel = kernelFor(std::move(*flat));
        for (size_t r = 0; r < run.size(); ++r) {
          std::vector<int32_t> views;
          for (int32_t id : run[r]->args)
            views.push_back(flatView(id));
          if (r == 0)
            step.args = std::move(views);
          else
            step.segments.push_back(std::move(views));
        }
        for (size_t j = i; j < end; ++j)
          newIndex[j] = int(merged.size());
        merged.push_back(std::move(step));
        i = end;
        continue;
      }
    }
    newIndex[i] = int(merged.size());
    merged.push_back(std::move(steps[i]));
    i = i + 1;
  }
  int entry = int(program_.entries.size());
  for (Storage &s : storages_)
    if (s.entry == entry) {
      if (s.first != INT_MAX && s.first < int(newIndex.size()))
        s.first = newIndex[s.first];
      if (s.last >= 0 && s.last < int(newIndex.size()))
        s.last = newIndex[s.last];
    }
  steps = std::move(merged);
}

/// Drops kernels no step launches (those merged into multi-tensor
/// kernels), renumbering the rest.
void Emitter::dropUnusedKernels() {
  std::vector<int32_t> renumber(program_.kernels.size(), -1);
  for (const rt::Entry &e : program_.entries)
    for (const rt::Step &s : e.steps)
      if (s.kind == rt::Step::Kind::Kernel)
        renumber[s.kernel] = 0;
  std::vector<rt::Kernel> kept;
  for (size_t k = 0; k < program_.kernels.size(); ++k)
    if (renumber[k] == 0) {
      renumber[k] = int32_t(kept.size());
      kept.push_back(std::move(program_.kernels[k]));
    }
  program_.kernels = std::move(kept);
  for (rt::Entry &e : program_.entries)
    for (rt::Step &s : e.steps)
      if (s.kind == rt::Step::Kind::Kernel)
        s.kernel = renumber[s.kernel];
}

FailureOr<EmittedProgram>
Emitter::run(ArrayRef<std::pair<func::FuncOp, std::string>> functions) {
  for (auto &[func, name] : functions)
    if (failed(emitFunction(func, name)))
      return failure();
  dropUnusedKernels();

  // Memory plan: the init region (parameters, constants), fixed slots for
  // inputs, then temporaries and outputs sharing space.
  int64_t at = 0;
  for (Storage &s : storages_)
    if ((s.kind == rt::BufferKind::Parameter ||
         s.kind == rt::BufferKind::Constant) &&
        !s.zero) {
      s.offset = at;
      at = alignUp(at + s.bytes);
    }
  int64_t initBytes = at;
  for (Storage &s : storages_)
    if (s.kind == rt::BufferKind::Parameter && s.zero) {
      s.offset = at;
      at = alignUp(at + s.bytes);
    }
  for (Storage &s : storages_)
    if (s.kind == rt::BufferKind::Input) {
      s.offset = at;
      at = alignUp(at + s.bytes);
    }
  // Entries never run at once: each plans its temporaries from `at` on.
  // An entry's outputs are among them, live from their writer to the
  // entry's end: the runtime reads them before the next run (they are
  // valid until then), so the next entry's temporaries may overwrite them.
  int64_t tempBytes = 0;
  for (size_t e = 0; e < program_.entries.size(); ++e) {
    std::vector<int> temps;
    std::vector<int64_t> sizes;
    std::vector<std::pair<int, int>> lifetimes;
    int end = int(program_.entries[e].steps.size());
    for (size_t i = 0; i < storages_.size(); ++i) {
      const Storage &s = storages_[i];
      if (s.entry != int(e))
        continue;
      if (s.kind == rt::BufferKind::Temp) {
        lifetimes.emplace_back(s.first, s.last);
      } else if (s.kind == rt::BufferKind::Output) {
        lifetimes.emplace_back(std::min(s.first, end), end);
      } else {
        continue;
      }
      temps.push_back(int(i));
      sizes.push_back(s.bytes);
    }
    recordPeak(program_.entries[e], sizes, lifetimes);
    int64_t entryBytes = 0;
    std::vector<int64_t> offsets = planMemory(sizes, lifetimes, entryBytes);
    for (size_t i = 0; i < temps.size(); ++i)
      storages_[temps[i]].offset = at + offsets[i];
    tempBytes = std::max(tempBytes, entryBytes);
  }
  program_.arenaBytes = at + tempBytes;
  program_.initBytes = initBytes;
  for (size_t b = 0; b < program_.buffers.size(); ++b)
    program_.buffers[b].offset = storages_[storageOf_[b]].offset + within_[b];

  EmittedProgram emitted;
  emitted.init.assign(initBytes, 0);
  for (auto &[storage, bytes] : initData_)
    std::memcpy(emitted.init.data() + storages_[storage].offset, bytes.data(),
                bytes.size());
  if (rt::Status s = program_.verify(); !s.ok())
    return func_.emitError() << "internal error: the emitted program is "
                                "invalid: "
                             << s.message();
  emitted.program = std::move(program_);
  return emitted;
}

} // namespace

std::optional<rt::DType> dtypeOf(Type t) {
  if (t.isF32())
    return rt::DType::F32;
  if (t.isF64())
    return rt::DType::F64;
  if (t.isF16())
    return rt::DType::F16;
  if (t.isBF16())
    return rt::DType::BF16;
  if (t.isInteger(64) || t.isIndex())
    return rt::DType::I64;
  if (t.isInteger(32))
    return rt::DType::I32;
  if (t.isInteger(8))
    return rt::DType::I8;
  if (t.isInteger(1))
    return rt::DType::Bool;
  return std::nullopt;
}

void recordPeak(rt::Entry &entry, const std::vector<int64_t> &sizes,
                const std::vector<std::pair<int, int>> &lifetimes) {
  auto liveAt = [&](size_t i, int step) {
    return lifetimes[i].first <= step && step <= lifetimes[i].second;
  };
  entry.peakStep = -1;
  entry.peakValues.clear();
  int64_t peak = 0;
  for (int step = 0; step < int(entry.steps.size()); ++step) {
    int64_t live = 0;
    for (size_t i = 0; i < sizes.size(); ++i)
      if (liveAt(i, step))
        live += sizes[i];
    if (entry.peakStep < 0 || live > peak) {
      entry.peakStep = step;
      peak = live;
    }
  }
  for (size_t i = 0; i < sizes.size(); ++i)
    if (liveAt(i, entry.peakStep))
      entry.peakValues.push_back(
          {sizes[i], lifetimes[i].first, lifetimes[i].second});
  std::stable_sort(entry.peakValues.begin(), entry.peakValues.end(),
                   [](const rt::Entry::LiveValue &a,
                      const rt::Entry::LiveValue &b) {
                     return a.bytes > b.bytes;
                   });
}

std::vector<int64_t>
planMemory(const std::vector<int64_t> &sizes,
           const std::vector<std::pair<int, int>> &lifetimes, int64_t &total) {
  std::vector<size_t> order(sizes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  std::vector<int64_t> offsets(sizes.size(), 0);
  std::vector<size_t> placed;
  total = 0;
  std::vector<size_t> live;
  for (size_t i : order) {
    // The lowest offset, 0 or just after a placed buffer that overlaps in
    // time, where nothing that does is in the way: the placed buffers live
    // at once with this one, by offset, each moving the offset past it
    // until one starts far enough above. (Candidates after any placed
    // buffer, each checked against all, was cubic in the buffers: minutes
    // for an unrolled LSTM's thousands.)
    live.clear();
    for (size_t p : placed)
      if (lifetimes[i].first <= lifetimes[p].second &&
          lifetimes[p].first <= lifetimes[i].second)
        live.push_back(p);
    std::sort(live.begin(), live.end(), [&](size_t a, size_t b) {
      return offsets[a] < offsets[b];
    });
    int64_t at = 0;
    for (size_t p : live) {
      if (offsets[p] >= at + sizes[i])
        break;
      if (offsets[p] + sizes[p] > at)
        at = std::max(at, alignUp(offsets[p] + sizes[p]));
    }
    offsets[i] = at;
    placed.push_back(i);
    total = std::max(total, alignUp(offsets[i] + sizes[i]));
  }
  return offsets;
}

FailureOr<EmittedProgram> emitProgram(func::FuncOp func, StringRef entry) {
  return Emitter(EmitOptions()).run({{func, entry.str()}});
}

FailureOr<EmittedProgram>
emitProgram(ArrayRef<std::pair<func::FuncOp, std::string>> functions,
            const EmitOptions &options) {
  return Emitter(options).run(functions);
}

FailureOr<EmittedProgram> emitModule(ModuleOp module,
                                     const EmitOptions &options) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return module.emitError() << "has no function @forward to compile";
  SmallVector<std::pair<func::FuncOp, std::string>> functions = {
      {forward, "forward"}};
  auto step = module.lookupSymbol<func::FuncOp>("train_step");
  if (step)
    functions.push_back({step, "train_step"});
  FailureOr<EmittedProgram> emitted = emitProgram(functions, options);
  if (failed(emitted) || !step)
    return emitted;
  auto info = module->getAttrOfType<DictionaryAttr>("kiln.training");
  if (!info)
    return module.emitError()
           << "has a @train_step but no kiln.training description";
  rt::TrainingInfo t;
  auto str = [&](StringRef key) {
    auto a = info.getAs<StringAttr>(key);
    return a ? a.str() : std::string();
  };
  auto real = [&](StringRef key, double fallback) {
    auto a = info.getAs<FloatAttr>(key);
    return a ? a.getValueAsDouble() : fallback;
  };
  auto names = [&](StringRef key) {
    std::vector<std::string> out;
    if (auto a = info.getAs<ArrayAttr>(key))
      for (Attribute e : a)
        out.push_back(cast<StringAttr>(e).str());
    return out;
  };
  t.loss = str("loss");
  t.labels = str("labels");
  t.optimizer = str("optimizer");
  t.beta1 = real("beta1", 0.9);
  t.beta2 = real("beta2", 0.999);
  t.eps = real("eps", 1e-8);
  t.momentum = real("momentum", 0);
  t.weightDecay = real("weight_decay", 0);
  t.gradClip = real("grad_clip", 0);
  t.parameters = names("parameters");
  t.state = names("state");
  t.statistics = names("statistics");
  emitted->program.training = std::move(t);
  return emitted;
}

std::vector<uint8_t> artifactBytes(const EmittedProgram &emitted) {
  rt::ArtifactWriter writer;
  std::string json = rt::programToJson(emitted.program);
  (void)writer.addSection("program", {json.begin(), json.end()});
  (void)writer.addSection("init", emitted.init);
  for (auto &[name, bytes] : emitted.extraSections)
    (void)writer.addSection(name, bytes);
  return writer.serialize();
}

} // namespace kiln::codegen
