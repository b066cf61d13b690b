//===- GraphOps.h - ops of the kiln graph dialect -------------------------===//
#ifndef KILN_IR_GRAPH_GRAPHOPS_H
#define KILN_IR_GRAPH_GRAPHOPS_H

#include "ir/graph/GraphDialect.h"
#include "ir/graph/ShapeInference.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace kiln::graph {
/// The random number generator's state, which random ops read and advance.
struct RandomStateResource
    : mlir::SideEffects::Resource::Base<RandomStateResource> {
  llvm::StringRef getName() final { return "RandomState"; }
};
/// The ranks' shared sequence of collectives (kiln.all_reduce).
struct CollectiveResource
    : mlir::SideEffects::Resource::Base<CollectiveResource> {
  llvm::StringRef getName() final { return "Collective"; }
};
/// The attribute naming how a GPU runs a kernel (a linalg.generic or a
/// kiln.row_kernel of kernel-level IR): "thread", "block", "warp" or
/// "columns" (runtime/src/kernel.h, Kernel::Reduce). Set by
/// kiln-schedule-kernels; the code generator follows it.
inline constexpr llvm::StringLiteral kScheduleAttr = "kiln.schedule";
} // namespace kiln::graph

#define GET_OP_CLASSES
#include "ir/graph/GraphOps.h.inc"

#endif // KILN_IR_GRAPH_GRAPHOPS_H
