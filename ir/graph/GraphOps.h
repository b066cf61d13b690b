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

#define GET_OP_CLASSES
#include "ir/graph/GraphOps.h.inc"

#endif // KILN_IR_GRAPH_GRAPHOPS_H
