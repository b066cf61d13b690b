//===- FoldGemmTransposes.cpp - transposes into GEMM operand flags --------===//
#include "passes/fusion/Passes.h"

#include "ir/graph/GraphOps.h"

namespace kiln::fusion {

#define GEN_PASS_DEF_FOLDGEMMTRANSPOSESPASS
#include "passes/fusion/Passes.h.inc"

namespace {

using namespace mlir;
namespace g = kiln::graph;

/// The input of a 2-D transpose (perm [1, 0]), or null.
Value transposed2d(Value v) {
  auto t = v.getDefiningOp<g::TransposeOp>();
  if (!t || t.getPerm() != ArrayRef<int64_t>{1, 0})
    return Value();
  return t.getInput();
}

/// F32 and F64: the element types kiln's GEMM library calls take.
bool gemmType(Type type) {
  Type e = cast<RankedTensorType>(type).getElementType();
  return e.isF32() || e.isF64();
}

struct FoldGemmTransposesPass final
    : impl::FoldGemmTransposesPassBase<FoldGemmTransposesPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<g::MatMulOp, g::TransposeOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto matmul = dyn_cast<g::MatMulOp>(op))
        foldIntoMatMul(matmul);
      else
        foldGemmTranspose(cast<g::TransposeOp>(op));
    }
    // Transposes nobody reads any more.
    SmallVector<g::TransposeOp> dead;
    getOperation().walk([&](g::TransposeOp t) {
      if (t->use_empty())
        dead.push_back(t);
    });
    for (g::TransposeOp t : dead)
      t.erase();
  }

  /// A transpose of the last two dimensions (batch dimensions in place) of
  /// a value of rank 3 or more: its input, or null.
  static Value transposedBatch(Value v) {
    auto t = v.getDefiningOp<g::TransposeOp>();
    if (!t)
      return Value();
    ArrayRef<int64_t> perm = t.getPerm();
    size_t n = perm.size();
    if (n < 3 || perm[n - 1] != int64_t(n - 2) || perm[n - 2] != int64_t(n - 1))
      return Value();
    for (size_t i = 0; i + 2 < n; ++i)
      if (perm[i] != int64_t(i))
        return Value();
    return t.getInput();
  }

  /// Batched products with an operand transposed in its last two
  /// dimensions (attention's K^T, and the backward's transposes) read it
  /// transposed instead: trans_a / trans_b on the kiln.matmul.
  void foldIntoBatchedMatMul(g::MatMulOp op) {
    if (op.getTransA() || op.getTransB() || !gemmType(op.getType()))
      return;
    Value a = transposedBatch(op.getLhs()), b = transposedBatch(op.getRhs());
    if (!a && !b)
      return;
    OpBuilder builder(op);
    auto fused = builder.create<g::MatMulOp>(
        op.getLoc(), op.getType(), a ? a : op.getLhs(), b ? b : op.getRhs(),
        builder.getBoolAttr(bool(a)), builder.getBoolAttr(bool(b)));
    op.getResult().replaceAllUsesWith(fused.getResult());
    op.erase();
  }

  /// matmul(x, w^T) and matmul(a^T, b) as GEMMs reading the operand
  /// transposed.
  void foldIntoMatMul(g::MatMulOp op) {
    if (op.getTransA() || op.getTransB())
      return;
    if (cast<RankedTensorType>(op.getRhs().getType()).getRank() > 2) {
      foldIntoBatchedMatMul(op);
      return;
    }
    auto lhs = cast<RankedTensorType>(op.getLhs().getType());
    auto rhs = cast<RankedTensorType>(op.getRhs().getType());
    auto type = cast<RankedTensorType>(op.getType());
    if (!gemmType(type) || !type.hasStaticShape() || !lhs.hasStaticShape() ||
        rhs.getRank() != 2 || lhs.getRank() < 2)
      return;
    Value w = transposed2d(op.getRhs());
    Value a = lhs.getRank() == 2 ? transposed2d(op.getLhs()) : Value();
    if (!w && !a)
      return;
    OpBuilder b(op);
    Location loc = op.getLoc();
    // The lhs's leading dimensions fold into the rows: [rows, K].
    Value x = a ? a : op.getLhs();
    if (!a && lhs.getRank() > 2) {
      int64_t k = lhs.getShape().back();
      x = b.create<g::ReshapeOp>(
          loc, RankedTensorType::get({lhs.getNumElements() / k, k},
                                     lhs.getElementType()),
          x, b.getDenseI64ArrayAttr({lhs.getNumElements() / k, k}));
    }
    int64_t n = type.getShape().back();
    auto flat = RankedTensorType::get({type.getNumElements() / n, n},
                                      type.getElementType());
    Value product = b.create<g::GemmOp>(
        loc, flat, x, w ? w : op.getRhs(), Value(), APFloat(1.0f),
        APFloat(1.0f), /*transA=*/bool(a), /*transB=*/bool(w),
        /*relu=*/false);
    if (flat != type)
      product = b.create<g::ReshapeOp>(loc, type, product,
                                       b.getDenseI64ArrayAttr(type.getShape()));
    op.getResult().replaceAllUsesWith(product);
    op.erase();
  }

  /// transpose(gemm(a, b)) = gemm(b, a) with the operands' flags swapped
  /// and inverted: (op(A) op(B))^T = op(B)^T op(A)^T.
  void foldGemmTranspose(g::TransposeOp t) {
    if (t.getPerm() != ArrayRef<int64_t>{1, 0})
      return;
    auto gemm = t.getInput().getDefiningOp<g::GemmOp>();
    if (!gemm || gemm.getC() || gemm.getRelu() ||
        !gemm.getResult().hasOneUse() || !gemmType(t.getType()))
      return;
    OpBuilder b(t);
    auto fused = b.create<g::GemmOp>(
        FusedLoc::get(&getContext(), {gemm->getLoc(), t->getLoc()}),
        t.getType(), gemm.getB(), gemm.getA(), Value(), gemm.getAlphaAttr(),
        gemm.getBetaAttr(), b.getBoolAttr(!gemm.getTransB()),
        b.getBoolAttr(!gemm.getTransA()), gemm.getReluAttr());
    t.getResult().replaceAllUsesWith(fused.getResult());
    t.erase();
    gemm.erase();
  }
};

} // namespace

} // namespace kiln::fusion
