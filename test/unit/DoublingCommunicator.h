//===- DoublingCommunicator.h - a second rank, simulated, for tests -------===//
#ifndef KILN_TEST_UNIT_DOUBLINGCOMMUNICATOR_H
#define KILN_TEST_UNIT_DOUBLINGCOMMUNICATOR_H

#include "runtime/src/collectives.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <utility>
#include <vector>

namespace kiln::test {

namespace rt = kiln::runtime;

/// Two ranks where the other rank's values are three times this one's: the
/// mean doubles them. The work happens in wait(), so a step that read a
/// bucket before waiting would read the values from before the reduction.
class DoublingCommunicator final : public rt::Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int localRank() const override { return 0; }
  int localSize() const override { return 1; }
  std::string describe() const override { return "test"; }
  double timeout() const override { return timeoutSeconds; }
  rt::Status start(void *data, int64_t count, rt::DType dtype, bool mean,
                   const std::string &, int &handle) override {
    EXPECT_EQ(dtype, rt::DType::F32);
    EXPECT_TRUE(mean);
    pending.push_back({static_cast<float *>(data), count});
    handle = int(pending.size() - 1);
    ++started;
    return rt::Status();
  }
  void poll() override {}
  rt::Status wait(int handle) override {
    auto [data, count] = pending.at(size_t(handle));
    for (int64_t i = 0; i < count; ++i)
      data[i] = (data[i] + 3 * data[i]) / 2;
    ++waited;
    return rt::Status();
  }
  rt::Status barrier(const std::string &) override { return rt::Status(); }
  rt::Status broadcast(void *, int64_t, int, const std::string &) override {
    return rt::Status();
  }
  [[noreturn]] void abort(int) override { std::abort(); }

  std::vector<std::pair<float *, int64_t>> pending;
  int started = 0, waited = 0;
  double timeoutSeconds = 600;
};

} // namespace kiln::test

#endif // KILN_TEST_UNIT_DOUBLINGCOMMUNICATOR_H
