//===- ShapeInferenceTest.cpp - shape rules shared by kiln ops ------------===//
#include "ir/graph/ShapeInference.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace kiln::graph;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Runs broadcastShapes and captures the error message, if any.
struct Broadcast {
  MLIRContext context;
  std::string error;

  FailureOr<SmallVector<int64_t>> operator()(ArrayRef<int64_t> a,
                                             ArrayRef<int64_t> b) {
    error.clear();
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      error = diag.str();
      return success();
    });
    return broadcastShapes(
        a, b, [&] { return emitError(UnknownLoc::get(&context)); });
  }
};

TEST(BroadcastShapes, NumpyRules) {
  Broadcast broadcast;
  EXPECT_EQ(*broadcast({256, 1024}, {1024}), (SmallVector<int64_t>{256, 1024}));
  EXPECT_EQ(*broadcast({4, 1, 3}, {5, 1}), (SmallVector<int64_t>{4, 5, 3}));
  EXPECT_EQ(*broadcast({}, {2, 3}), (SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(*broadcast({1}, {}), (SmallVector<int64_t>{1}));
  EXPECT_EQ(*broadcast({0, 3}, {1, 3}), (SmallVector<int64_t>{0, 3}));
}

TEST(BroadcastShapes, DynamicSizes) {
  Broadcast broadcast;
  // ? against a static size other than 1 must be that size.
  EXPECT_EQ(*broadcast({kDyn, 3}, {8, 3}), (SmallVector<int64_t>{8, 3}));
  EXPECT_EQ(*broadcast({8, 3}, {kDyn, 1}), (SmallVector<int64_t>{8, 3}));
  // ? against 1 or ? stays unknown.
  EXPECT_EQ(*broadcast({kDyn, 3}, {1, 3}), (SmallVector<int64_t>{kDyn, 3}));
  EXPECT_EQ(*broadcast({kDyn}, {kDyn}), (SmallVector<int64_t>{kDyn}));
}

TEST(BroadcastShapes, ErrorNamesDimensions) {
  Broadcast broadcast;
  EXPECT_TRUE(failed(broadcast({2, 3}, {4})));
  EXPECT_EQ(broadcast.error,
            "operands are not broadcast-compatible: lhs dimension 1 is 3 but "
            "rhs dimension 0 is 4 (shapes 2x3 and 4)");
  EXPECT_TRUE(failed(broadcast({7, 2, 3}, {5, 1, 3})));
  EXPECT_EQ(broadcast.error,
            "operands are not broadcast-compatible: lhs dimension 0 is 7 but "
            "rhs dimension 0 is 5 (shapes 7x2x3 and 5x1x3)");
}

TEST(BroadcastShapes, InactiveDiagnosticIsSilent) {
  // Inference without a location reports nothing and still fails.
  auto result = broadcastShapes({2}, {3}, [] { return InFlightDiagnostic(); });
  EXPECT_TRUE(failed(result));
}

TEST(FormatShape, AsInTensorTypes) {
  EXPECT_EQ(formatShape({8, kDyn, 3}), "8x?x3");
  EXPECT_EQ(formatShape({}), "scalar");
}

TEST(Types, CompatibilityAndMeet) {
  MLIRContext context;
  Builder b(&context);
  auto t = [&](ArrayRef<int64_t> shape, Type elt) {
    return RankedTensorType::get(shape, elt);
  };
  Type f32 = b.getF32Type(), f64 = b.getF64Type();
  EXPECT_TRUE(isCompatibleType(t({8, 3}, f32), t({kDyn, 3}, f32)));
  EXPECT_TRUE(isCompatibleType(t({kDyn, 3}, f32), t({8, 3}, f32)));
  EXPECT_FALSE(isCompatibleType(t({8, 3}, f32), t({4, 3}, f32)));
  EXPECT_FALSE(isCompatibleType(t({8, 3}, f32), t({8, 3}, f64)));
  EXPECT_FALSE(isCompatibleType(t({8, 3}, f32), t({8, 3, 1}, f32)));
  EXPECT_FALSE(isCompatibleType(t({8}, f32), UnrankedTensorType::get(f32)));
  EXPECT_EQ(meetTypes(t({kDyn, 3}, f32), t({8, kDyn}, f32)), t({8, 3}, f32));
}

TEST(NormalizeAxis, OnnxConvention) {
  EXPECT_EQ(normalizeAxis(-1, 3), 2);
  EXPECT_EQ(normalizeAxis(0, 3), 0);
  EXPECT_EQ(normalizeAxis(-3, 3), 0);
  EXPECT_EQ(normalizeAxis(3, 3), std::nullopt);
  EXPECT_EQ(normalizeAxis(-4, 3), std::nullopt);
  EXPECT_EQ(normalizeAxis(0, 0), std::nullopt);
}

} // namespace
