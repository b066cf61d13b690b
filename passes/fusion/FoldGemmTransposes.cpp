//===- FoldGemmTransposes.cpp - transposes into GEMM operand flags --------===//
#include "passes/fusion/Passes.h"

#include "ir/graph/GraphOps.h"
#include "mlir/IR/IRMapping.h"

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
    eraseDeadTransposes();
    // Transposes that move the innermost dimension (strided copies) next
    // to batched products: the product takes the last two dimensions'
    // swap, the copy keeps the innermost dimension innermost.
    // (A transpose and a product with a scaling between them, attention's
    // K^T times d^-1/4 and its gradient, first trade places with it.)
    SmallVector<g::TransposeOp> transposes;
    getOperation().walk([&](g::TransposeOp t) { transposes.push_back(t); });
    for (g::TransposeOp &t : transposes)
      t = moveNextToProduct(t);
    for (g::TransposeOp t : transposes)
      if (!reorderIntoProduct(t))
        reorderOutOfProduct(t);
    eraseDeadTransposes();
  }

  /// Transposes nobody reads any more.
  void eraseDeadTransposes() {
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

  /// The operand of `op` other than `v` when `op` is a binary elementwise
  /// kiln op (mul, div, add, sub) of `v` and a one-element tensor (a
  /// scale): such an op commutes with a transpose.
  static Value scalarPartner(Operation *op, Value v) {
    if (!op || !isa<g::MulOp, g::DivOp, g::AddOp, g::SubOp>(op) ||
        op->getNumOperands() != 2 || op->getResult(0).getType() != v.getType())
      return Value();
    Value other = op->getOperand(0) == v ? op->getOperand(1) : op->getOperand(0);
    if (other == v)
      return Value();
    auto t = dyn_cast<RankedTensorType>(other.getType());
    if (!t || !t.hasStaticShape() || t.getNumElements() != 1 ||
        t.getRank() > cast<RankedTensorType>(v.getType()).getRank())
      return Value();
    return other;
  }

  /// `op` (scalarPartner()) applied to `x` instead of `v`, in place of `v`.
  static Value reapply(OpBuilder &b, Operation *op, Value v, Value x) {
    IRMapping map;
    map.map(v, x);
    Operation *copy = b.clone(*op, map);
    copy->getResult(0).setType(x.getType());
    return copy->getResult(0);
  }

  /// A transpose whose one reader is a scale that only batched products
  /// read (scale(transpose(x)) = transpose(scale(x))), or that reads a
  /// scale of a batched product read by nothing else
  /// (transpose(scale(p)) = scale(transpose(p))), trades places with the
  /// scale, so that the transpose and the product meet; the transpose that
  /// results (or `t` itself).
  g::TransposeOp moveNextToProduct(g::TransposeOp t) {
    Value tv = t.getResult();
    if (tv.hasOneUse()) {
      Operation *scale = *tv.getUsers().begin();
      Value s = scalarPartner(scale, tv);
      if (s && !scale->getResult(0).use_empty() &&
          llvm::all_of(scale->getResult(0).getUsers(), [](Operation *user) {
            auto m = dyn_cast<g::MatMulOp>(user);
            return m && batchedProduct(m);
          })) {
        {
          OpBuilder b(scale);
          Value scaled = reapply(b, scale, tv, t.getInput());
          auto moved = b.create<g::TransposeOp>(t.getLoc(), t.getType(), scaled,
                                                t.getPermAttr());
          scale->getResult(0).replaceAllUsesWith(moved.getResult());
          scale->erase();
          t.erase();
          return moved;
        }
      }
    }
    Operation *scale = t.getInput().getDefiningOp();
    if (!scale || !scale->getResult(0).hasOneUse())
      return t;
    for (Value operand : scale->getOperands()) {
      auto m = operand.getDefiningOp<g::MatMulOp>();
      if (!m || !m.getResult().hasOneUse() || !batchedProduct(m) ||
          !scalarPartner(scale, operand))
        continue;
      OpBuilder b(t);
      auto moved = b.create<g::TransposeOp>(t.getLoc(), t.getType(), operand,
                                            t.getPermAttr());
      Value scaled = reapply(b, scale, operand, moved.getResult());
      t.getResult().replaceAllUsesWith(scaled);
      t.erase();
      scale->erase();
      return moved;
    }
    return t;
  }

  /// `perm` with its last two entries swapped.
  static SmallVector<int64_t> swapLastTwo(ArrayRef<int64_t> perm) {
    SmallVector<int64_t> p(perm.begin(), perm.end());
    std::swap(p[p.size() - 2], p[p.size() - 1]);
    return p;
  }

  /// Whether `perm` moves the innermost dimension (the copy reads strided).
  static bool movesInnermost(ArrayRef<int64_t> perm) {
    return perm.back() != int64_t(perm.size() - 1);
  }

  /// A batched product (operands of one rank, 3 or more, batch dimensions
  /// of one shape).
  static bool batchedProduct(g::MatMulOp m) {
    auto a = cast<RankedTensorType>(m.getLhs().getType());
    auto b = cast<RankedTensorType>(m.getRhs().getType());
    return a.getRank() >= 3 && a.getRank() == b.getRank() &&
           a.getShape().drop_back(2) == b.getShape().drop_back(2) &&
           gemmType(m.getType());
  }

  /// transpose(x, p) read only by batched products, where p moves the
  /// innermost dimension but p with its last two entries swapped (p') does
  /// not (attention's K^T, [b, t, h, d] as [b, h, d, t]): transpose(x, p'),
  /// a copy of consecutive elements, read by the products transposed in
  /// its last two dimensions (the operand's trans flag flipped).
  bool reorderIntoProduct(g::TransposeOp t) {
    ArrayRef<int64_t> perm = t.getPerm();
    if (perm.size() < 3 || !movesInnermost(perm) ||
        movesInnermost(swapLastTwo(perm)) || t->use_empty())
      return false;
    for (Operation *user : t->getUsers()) {
      auto m = dyn_cast<g::MatMulOp>(user);
      if (!m || !batchedProduct(m) || m.getLhs() == m.getRhs())
        return false;
    }
    OpBuilder b(t);
    SmallVector<int64_t> swapped = swapLastTwo(perm);
    auto type = cast<RankedTensorType>(t.getType());
    SmallVector<int64_t> shape(type.getShape());
    std::swap(shape[shape.size() - 2], shape[shape.size() - 1]);
    Value copy = t.getInput();
    if (swapped != llvm::to_vector(llvm::seq<int64_t>(0, perm.size())))
      copy = b.create<g::TransposeOp>(
          t.getLoc(), RankedTensorType::get(shape, type.getElementType()),
          copy, b.getDenseI64ArrayAttr(swapped));
    for (Operation *user : llvm::make_early_inc_range(t->getUsers())) {
      auto m = cast<g::MatMulOp>(user);
      bool lhs = m.getLhs() == t.getResult();
      OpBuilder at(m);
      auto fused = at.create<g::MatMulOp>(
          m.getLoc(), m.getType(), lhs ? copy : m.getLhs(),
          lhs ? m.getRhs() : copy,
          at.getBoolAttr(lhs ? !m.getTransA() : m.getTransA()),
          at.getBoolAttr(lhs ? m.getTransB() : !m.getTransB()));
      m.getResult().replaceAllUsesWith(fused.getResult());
      m.erase();
    }
    t.erase();
    return true;
  }

  /// transpose(product, p) where p moves the innermost dimension but, on
  /// the product's last two dimensions swapped, would not (the backward's
  /// dK^T back to [b, t, h, d]): the product of the operands swapped and
  /// their flags inverted ((op(A) op(B))^T = op(B)^T op(A)^T), then a
  /// transpose that keeps the innermost dimension (or none).
  void reorderOutOfProduct(g::TransposeOp t) {
    ArrayRef<int64_t> perm = t.getPerm();
    auto m = t.getInput().getDefiningOp<g::MatMulOp>();
    if (!m || perm.size() < 3 || !movesInnermost(perm) ||
        !m.getResult().hasOneUse() || !batchedProduct(m))
      return;
    // t's dimension i is the swapped product's dimension s[perm[i]].
    size_t n = perm.size();
    SmallVector<int64_t> composed;
    for (int64_t p : perm)
      composed.push_back(p == int64_t(n - 1)   ? int64_t(n - 2)
                         : p == int64_t(n - 2) ? int64_t(n - 1)
                                               : p);
    if (movesInnermost(composed))
      return;
    auto type = cast<RankedTensorType>(m.getType());
    SmallVector<int64_t> shape(type.getShape());
    std::swap(shape[n - 2], shape[n - 1]);
    OpBuilder b(t);
    Value product = b.create<g::MatMulOp>(
        FusedLoc::get(&getContext(), {m->getLoc(), t->getLoc()}),
        RankedTensorType::get(shape, type.getElementType()), m.getRhs(),
        m.getLhs(), b.getBoolAttr(!m.getTransB()),
        b.getBoolAttr(!m.getTransA()));
    if (composed != llvm::to_vector(llvm::seq<int64_t>(0, n)))
      product = b.create<g::TransposeOp>(t.getLoc(), t.getType(), product,
                                         b.getDenseI64ArrayAttr(composed));
    t.getResult().replaceAllUsesWith(product);
    t.erase();
    m.erase();
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
