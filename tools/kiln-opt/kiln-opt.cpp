//===- kiln-opt.cpp - mlir-opt with kiln's dialects and passes ------------===//
#include "compiler/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  kiln::registerAllPassesAndPipelines();
  mlir::DialectRegistry registry;
  kiln::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "kiln optimizer driver: runs kiln and upstream passes on IR\n",
      registry));
}
