//===- BlockOrderTest.cpp - BlockOrder against MLIR's op order ------------===//
//
// BlockOrder (passes/BlockOrder.h) answers order queries while a pass
// inserts, moves and erases ops; its answers must be MLIR's. Ops are
// inserted many times at one place (so that its gaps run out and it
// renumbers), moved and erased at random, and random pairs compared with
// Operation::isBeforeInBlock after each change.
//
//===----------------------------------------------------------------------===//
#include "passes/BlockOrder.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/PatternMatch.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace mlir;

namespace {

TEST(BlockOrder, AgreesWithMlirThroughInsertsMovesAndErasures) {
  MLIRContext context;
  context.allowUnregisteredDialects();
  Location loc = UnknownLoc::get(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  Block &block = *module->getBody();
  auto makeOp = [&]() {
    OperationState state(loc, "test.op");
    return Operation::create(state);
  };
  for (int i = 0; i < 50; ++i)
    block.push_back(makeOp());

  kiln::BlockOrder order(block);
  IRRewriter rewriter(&context, &order);
  std::mt19937 rng(7);
  auto ops = [&]() {
    std::vector<Operation *> all;
    for (Operation &op : block)
      all.push_back(&op);
    return all;
  };
  auto check = [&](int round) {
    std::vector<Operation *> all = ops();
    for (int k = 0; k < 40; ++k) {
      Operation *a = all[rng() % all.size()], *b = all[rng() % all.size()];
      ASSERT_EQ(order.isBefore(a, b), a->isBeforeInBlock(b))
          << "round " << round;
    }
  };
  Operation *hot = &*std::next(block.begin(), 25);
  for (int round = 0; round < 600; ++round) {
    std::vector<Operation *> all = ops();
    switch (round % 4) {
    case 0: // Before one op, again and again: the gaps run out there.
      rewriter.setInsertionPoint(hot);
      rewriter.insert(makeOp());
      break;
    case 1: // Anywhere.
      rewriter.setInsertionPoint(all[rng() % all.size()]);
      rewriter.insert(makeOp());
      break;
    case 2: { // A move, announced as a pass announces one.
      Operation *op = all[rng() % all.size()];
      Operation *to = all[rng() % all.size()];
      if (op != to && op != hot) {
        op->moveAfter(to);
        order.placed(op);
      }
      break;
    }
    case 3: { // An erasure through the rewriter.
      Operation *op = all[rng() % all.size()];
      if (op != hot)
        rewriter.eraseOp(op);
      break;
    }
    }
    check(round);
  }
  // The last op, and the first: inserted at the ends.
  rewriter.setInsertionPointToEnd(&block);
  Operation *last = rewriter.insert(makeOp());
  rewriter.setInsertionPointToStart(&block);
  Operation *first = rewriter.insert(makeOp());
  EXPECT_TRUE(order.isBefore(first, last));
  EXPECT_TRUE(order.isBefore(hot, last));
  EXPECT_FALSE(order.isBefore(last, first));
  check(-1);
}

} // namespace
