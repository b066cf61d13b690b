//===- ProgramEmitterTest.cpp - the code generator's memory planner -------===//
#include "codegen/ProgramEmitter.h"

#include <gtest/gtest.h>

namespace {

using kiln::codegen::planMemory;

TEST(PlanMemory, ReusesSpaceAcrossDisjointLifetimes) {
  // a: steps 0-1, b: 1-2, c: 2-3. a and c never live together.
  int64_t total = 0;
  auto offsets =
      planMemory({1000, 1000, 1000}, {{0, 1}, {1, 2}, {2, 3}}, total);
  EXPECT_EQ(total, 2048); // Two 1024-byte (aligned) slots, not three.
  EXPECT_NE(offsets[0], offsets[1]);
  EXPECT_NE(offsets[1], offsets[2]);
  EXPECT_EQ(offsets[0], offsets[2]);
}

TEST(PlanMemory, OverlappingLifetimesNeverShare) {
  int64_t total = 0;
  std::vector<int64_t> sizes = {64, 200, 70, 500, 1};
  std::vector<std::pair<int, int>> lives = {
      {0, 4}, {1, 2}, {2, 3}, {0, 1}, {3, 4}};
  auto offsets = planMemory(sizes, lives, total);
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(offsets[i] % 64, 0);
    EXPECT_LE(offsets[i] + sizes[i], total);
    for (size_t j = i + 1; j < sizes.size(); ++j) {
      bool time = lives[i].first <= lives[j].second &&
                  lives[j].first <= lives[i].second;
      bool space = offsets[i] < offsets[j] + sizes[j] &&
                   offsets[j] < offsets[i] + sizes[i];
      EXPECT_FALSE(time && space) << i << " and " << j;
    }
  }
}

TEST(PlanMemory, Empty) {
  int64_t total = 7;
  EXPECT_TRUE(planMemory({}, {}, total).empty());
  EXPECT_EQ(total, 0);
}

} // namespace
