//===- GraphDialect.cpp - the kiln graph dialect --------------------------===//
#include "ir/graph/GraphDialect.h"
#include "ir/graph/GraphOps.h"

#include "ir/graph/GraphDialect.cpp.inc"

using namespace mlir;
using namespace kiln::graph;

void KilnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/graph/GraphOps.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return builder.create<ConstantOp>(loc, elements);
}
