//===- GraphOpsTest.cpp - building kiln ops from C++ ----------------------===//
//
// The importer builds ops through OpBuilder without result types; these
// tests check that inference gives the ONNX result types and that a failed
// inference reports a located message.
//
//===----------------------------------------------------------------------===//
#include "ir/graph/GraphOps.h"
#include "compiler/Registration.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace kiln::graph;

namespace {

class GraphOpsTest : public ::testing::Test {
protected:
  GraphOpsTest() : context(makeRegistry()), builder(&context) {
    context.loadAllAvailableDialects();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    kiln::registerAllDialects(registry);
    return registry;
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elt = {}) {
    return RankedTensorType::get(shape, elt ? elt : builder.getF32Type());
  }

  /// A function whose arguments have `types`; the builder inserts into it.
  func::FuncOp makeFunc(ArrayRef<Type> types) {
    auto func = builder.create<func::FuncOp>(
        builder.getUnknownLoc(), "f", builder.getFunctionType(types, {}));
    builder.setInsertionPointToEnd(func.addEntryBlock());
    return func;
  }

  MLIRContext context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
};

TEST_F(GraphOpsTest, BuildersInferOnnxResultTypes) {
  func::FuncOp f = makeFunc({tensor({256, 784}), tensor({784, 1024}),
                             tensor({1024}), tensor({1024, 10})});
  Location loc = builder.getUnknownLoc();
  Value mm = builder.create<MatMulOp>(loc, f.getArgument(0), f.getArgument(1));
  EXPECT_EQ(mm.getType(), tensor({256, 1024}));
  Value add = builder.create<AddOp>(loc, mm, f.getArgument(2));
  EXPECT_EQ(add.getType(), tensor({256, 1024}));
  Value relu = builder.create<ReluOp>(loc, add);
  EXPECT_EQ(relu.getType(), tensor({256, 1024}));
  Value gemm = builder.create<GemmOp>(loc, relu, f.getArgument(3), Value());
  EXPECT_EQ(gemm.getType(), tensor({256, 10}));
  Value logits = builder.create<LogSoftmaxOp>(loc, gemm);
  EXPECT_EQ(logits.getType(), tensor({256, 10}));
  builder.create<func::ReturnOp>(loc);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(GraphOpsTest, GemmTransposesFollowAttributes) {
  func::FuncOp f = makeFunc({tensor({784, 256}), tensor({10, 784})});
  auto gemm = builder.create<GemmOp>(builder.getUnknownLoc(), f.getArgument(0),
                                     f.getArgument(1), Value(),
                                     /*transA=*/true, /*transB=*/true);
  EXPECT_EQ(gemm.getType(), tensor({256, 10}));
}

TEST_F(GraphOpsTest, FailedInferenceReportsLocatedError) {
  func::FuncOp f = makeFunc({tensor({2, 3}), tensor({4})});
  std::string error;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    error = diag.str();
    return success();
  });
  SmallVector<Type> results;
  Location loc = FileLineColLoc::get(&context, "model.onnx", 12, 3);
  AddOp::Adaptor adaptor(ValueRange{f.getArgument(0), f.getArgument(1)});
  EXPECT_TRUE(failed(AddOp::inferReturnTypes(&context, loc, adaptor, results)));
  EXPECT_EQ(error, "'kiln.add' op operands are not broadcast-compatible: lhs "
                   "dimension 1 is 3 but rhs dimension 0 is 4 (shapes 2x3 and "
                   "4)");
  EXPECT_TRUE(results.empty());
}

TEST_F(GraphOpsTest, ConstantFoldsAndMaterializes) {
  auto value = DenseElementsAttr::get(tensor({2}), ArrayRef<float>{1.0f, 2.0f});
  Operation *op = context.getLoadedDialect<KilnDialect>()->materializeConstant(
      builder, value, value.getType(), builder.getUnknownLoc());
  auto constant = dyn_cast_or_null<ConstantOp>(op);
  ASSERT_TRUE(constant);
  EXPECT_EQ(constant.getType(), tensor({2}));
  EXPECT_EQ(constant.getValueAttr(), value);
  // A type that does not match the value is not materialized.
  EXPECT_EQ(context.getLoadedDialect<KilnDialect>()->materializeConstant(
                builder, value, tensor({3}), builder.getUnknownLoc()),
            nullptr);
}

TEST_F(GraphOpsTest, ParsedIRVerifies) {
  const char *ir = R"mlir(
    func.func @f(%x: tensor<8x3xf32>, %b: tensor<3xf32>) -> tensor<8x3xf32> {
      %0 = kiln.add %x, %b : (tensor<8x3xf32>, tensor<3xf32>) -> tensor<8x3xf32>
      return %0 : tensor<8x3xf32>
    })mlir";
  OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(ir, &context);
  ASSERT_TRUE(parsed);
  auto add = *parsed->getBody()->front().getRegion(0).getOps<AddOp>().begin();
  EXPECT_EQ(add.getType(), tensor({8, 3}));
}

} // namespace
