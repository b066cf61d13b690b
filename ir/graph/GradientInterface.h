//===- GradientInterface.h - the op interface autodiff uses ---------------===//
#ifndef KILN_IR_GRAPH_GRADIENTINTERFACE_H
#define KILN_IR_GRAPH_GRADIENTINTERFACE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"

#include "ir/graph/GradientInterface.h.inc"

#endif // KILN_IR_GRAPH_GRADIENTINTERFACE_H
