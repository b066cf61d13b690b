//===- GraphDialect.h - the kiln graph dialect ----------------------------===//
#ifndef KILN_IR_GRAPH_GRAPHDIALECT_H
#define KILN_IR_GRAPH_GRAPHDIALECT_H

#include "mlir/IR/Dialect.h"

#include "ir/graph/GraphDialect.h.inc"

#endif // KILN_IR_GRAPH_GRAPHDIALECT_H
