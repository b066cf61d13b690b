//===- Loops.h - kernels' loops as the code generator orders them; moves -===//
#ifndef KILN_PASSES_FUSION_LOOPS_H
#define KILN_PASSES_FUSION_LOOPS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::fusion {

/// `op`'s loops in the code generator's order: the parallel ones, then the
/// reduced ones (each in loop order). A row kernel's rows are the first
/// loops in this order; a reduction's points are its parallel loops.
inline llvm::SmallVector<unsigned> kernelOrder(mlir::linalg::GenericOp op) {
  llvm::SmallVector<unsigned> order;
  auto iterators = op.getIteratorTypesArray();
  for (bool reduction : {false, true})
    for (unsigned d = 0; d < iterators.size(); ++d)
      if ((iterators[d] == mlir::utils::IteratorType::reduction) == reduction)
        order.push_back(d);
  return order;
}

/// `op`'s loop sizes in kernelOrder().
inline llvm::SmallVector<int64_t> kernelRanges(mlir::linalg::GenericOp op) {
  llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges(), ordered;
  for (unsigned d : kernelOrder(op))
    ordered.push_back(ranges[d]);
  return ordered;
}

/// Reductions with this many steps or more, over fewer points than a GPU
/// runs threads at once, reduce each point with a block of threads (or, read
/// along the points, a tile of columns): kiln-schedule-kernels.
constexpr int64_t kFewPointsMinSteps = 1024;
constexpr int64_t kFewPointsMaxPoints = 4096;

/// Whether reduction `op` reads along its points: every input that moves
/// with the reduction moves by one element with the last parallel loop (in
/// the code generator's order), or not at all (a statistic of each row,
/// the same for all its points), and some input does: a column sum over
/// [rows, features], whose consecutive points are consecutive elements.
/// (ScheduleKernels.cpp.)
bool readsAlongPoints(mlir::linalg::GenericOp op);

/// Whether `op`'s body gathers (tensor.extract at computed coordinates):
/// what it reads then depends on its values.
inline bool gathers(mlir::linalg::GenericOp op) {
  return op.getBody()
      ->walk([](mlir::tensor::ExtractOp) { return mlir::WalkResult::interrupt(); })
      .wasInterrupted();
}

/// The ops before `after` in its block that read `values`, or read what
/// those compute (inside their regions too), in block order.
inline llvm::SmallVector<mlir::Operation *>
readersBefore(llvm::ArrayRef<mlir::Value> values, mlir::Operation *after) {
  llvm::DenseSet<mlir::Value> reached(values.begin(), values.end());
  llvm::SmallVector<mlir::Operation *> readers;
  for (mlir::Operation &o : *after->getBlock()) {
    if (&o == after)
      break;
    bool reads = false;
    o.walk([&](mlir::Operation *inner) {
      reads |= llvm::any_of(inner->getOperands(),
                            [&](mlir::Value v) { return reached.contains(v); });
    });
    if (reads) {
      readers.push_back(&o);
      reached.insert(o.result_begin(), o.result_end());
    }
  }
  return readers;
}

/// Moves readersBefore(values, after) to just after `after`, in their
/// order (`after` must read none of them).
inline void moveReadersAfter(llvm::ArrayRef<mlir::Value> values,
                             mlir::Operation *after) {
  for (mlir::Operation *o : readersBefore(values, after)) {
    o->moveAfter(after);
    after = o;
  }
}

} // namespace kiln::fusion

#endif // KILN_PASSES_FUSION_LOOPS_H
