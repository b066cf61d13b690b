//===- OnnxImportTest.cpp - importer pieces without a model file ----------===//
#include "compiler/onnx/HostTensor.h"
#include "compiler/onnx/Importer.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace kiln::onnx;

namespace {

class HostTensorTest : public ::testing::Test {
protected:
  RankedTensorType i64(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getI64Type());
  }
  RankedTensorType f32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, b.getF32Type());
  }
  MLIRContext context;
  Builder b{&context};
};

TEST_F(HostTensorTest, RoundTripsThroughAttributes) {
  HostTensor t = HostTensor::ofInts(i64({2, 2}), {1, -2, 3, 4});
  DenseElementsAttr attr = t.toAttr();
  EXPECT_EQ(attr.getType(), i64({2, 2}));
  HostTensor back = HostTensor::fromAttr(attr);
  EXPECT_EQ(back.ints(), (std::vector<int64_t>{1, -2, 3, 4}));

  HostTensor f = HostTensor::ofDoubles(f32({3}), {0.5, -1.25, 3.0});
  HostTensor fb = HostTensor::fromAttr(f.toAttr());
  EXPECT_DOUBLE_EQ(fb.doubleAt(1), -1.25);
}

TEST_F(HostTensorTest, EqualValuesBecomeASplat) {
  HostTensor t =
      HostTensor::ofDoubles(f32({256, 256}), std::vector<double>(65536, 1.5));
  DenseElementsAttr attr = t.toAttr();
  EXPECT_TRUE(attr.isSplat());
  EXPECT_EQ(attr.getSplatValue<APFloat>().convertToDouble(), 1.5);
}

TEST_F(HostTensorTest, CastFollowsOnnx) {
  HostTensor f = HostTensor::ofDoubles(f32({4}), {-2.7, 3.9, 0.0, 0.25});
  EXPECT_EQ(f.cast(b.getI64Type()).ints(), (std::vector<int64_t>{-2, 3, 0, 0}));
  EXPECT_EQ(f.cast(b.getI1Type()).ints(), (std::vector<int64_t>{1, 1, 0, 1}));
  HostTensor big = HostTensor::ofInts(i64({1}), {(int64_t(1) << 53) + 1});
  // Integer to integer keeps values a double could not hold.
  EXPECT_EQ(big.cast(b.getI64Type()).intAt(0), (int64_t(1) << 53) + 1);
}

TEST_F(HostTensorTest, BroadcastBinary) {
  HostTensor a = HostTensor::ofInts(i64({2, 1}), {10, 20});
  HostTensor c = HostTensor::ofInts(i64({3}), {1, 2, 3});
  HostTensor sum = HostTensor::broadcastBinary(
      a, c, b.getI64Type(), [](double x, double y) { return x + y; },
      [](int64_t x, int64_t y) { return x + y; });
  EXPECT_EQ(sum.type(), i64({2, 3}));
  EXPECT_EQ(sum.ints(), (std::vector<int64_t>{11, 12, 13, 21, 22, 23}));
  HostTensor less = HostTensor::broadcastBinary(
      c, HostTensor::ofInts(i64({}), {2}), b.getI1Type(),
      [](double x, double y) { return double(x < y); },
      [](int64_t x, int64_t y) { return int64_t(x < y); });
  EXPECT_EQ(less.type(), RankedTensorType::get({3}, b.getI1Type()));
  EXPECT_EQ(less.ints(), (std::vector<int64_t>{1, 0, 0}));
}

TEST_F(HostTensorTest, RemapAndBroadcastSource) {
  HostTensor t = HostTensor::ofInts(i64({2, 3}), {1, 2, 3, 4, 5, 6});
  // Reverse, with -1 reading as zero.
  HostTensor r =
      t.remap(i64({7}), [](int64_t i) { return i == 6 ? -1 : 5 - i; });
  EXPECT_EQ(r.ints(), (std::vector<int64_t>{6, 5, 4, 3, 2, 1, 0}));
  // Element 4 of a 2x3 result reads element 1 of a [3] operand.
  EXPECT_EQ(broadcastSource(4, {2, 3}, {3}), 1);
  EXPECT_EQ(broadcastSource(4, {2, 3}, {2, 1}), 1);
  EXPECT_EQ(stridesOf({2, 3, 4}), (SmallVector<int64_t>{12, 4, 1}));
}

TEST(ParseInputShape, AcceptsAndExplains) {
  std::string name, error;
  SmallVector<int64_t> shape;
  ASSERT_TRUE(parseInputShape("input=256,784", name, shape, error));
  EXPECT_EQ(name, "input");
  EXPECT_EQ(shape, (SmallVector<int64_t>{256, 784}));
  // A name with '=' in it: the last '=' separates.
  ASSERT_TRUE(parseInputShape("a=b=3", name, shape, error));
  EXPECT_EQ(name, "a=b");
  ASSERT_TRUE(parseInputShape("scalar=", name, shape, error));
  EXPECT_TRUE(shape.empty());
  EXPECT_FALSE(parseInputShape("input", name, shape, error));
  EXPECT_EQ(error, "expected NAME=D0,D1,... (e.g. input=256,784), got 'input'");
  EXPECT_FALSE(parseInputShape("x=3,two", name, shape, error));
  EXPECT_EQ(error, "size 'two' of input 'x' is not a non-negative integer");
}

} // namespace
