//===- Registration.cpp - dialects and passes the compiler knows ----------===//
#include "compiler/Registration.h"

#include "compiler/Pipeline.h"
#include "ir/graph/GraphDialect.h"
#include "passes/Passes.h"
#include "passes/autodiff/Autodiff.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<graph::KilnDialect, mlir::func::FuncDialect,
                  mlir::linalg::LinalgDialect, mlir::tensor::TensorDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect>();
  autodiff::registerGradientRules(registry);
}

void registerAllPassesAndPipelines() {
  registerAllPasses();
  registerPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::registerRemoveDeadValuesPass();
}

} // namespace kiln
