//===- trainloop.h - the `kiln train` loop --------------------------------===//
#ifndef KILN_RUNTIME_SRC_TRAINLOOP_H
#define KILN_RUNTIME_SRC_TRAINLOOP_H

#include "data.h"
#include "training.h"

#include <cstdio>

namespace kiln::runtime {

struct TrainLoopOptions {
  int64_t epochs = 1;
  /// Stop after this many steps in all (counting steps before a resume);
  /// negative: no limit.
  int64_t maxSteps = -1;
  uint64_t seed = 0;
  /// Where checkpoint.safetensors goes; empty: no checkpoints.
  std::string checkpointDir;
  /// Also checkpoint every this many steps (0: at the end of each epoch and
  /// of the run only).
  int64_t checkpointEvery = 0;
  bool resume = false;
  /// Metrics, one JSON object per line and epoch; empty: none.
  std::string metricsPath;
  /// A progress bar on `progress` (stderr when it is a terminal), or null.
  FILE *progress = nullptr;
  /// Epoch summaries (stdout), or null.
  FILE *log = stdout;
};

/// What the loop measured last.
struct TrainLoopResult {
  int64_t steps = 0;
  double lastEpochLoss = 0;
  double testLoss = -1, testAccuracy = -1; ///< -1: not measured.
  double seconds = 0;
};

/// In a data-parallel run (the session has a communicator of N ranks) every
/// rank runs this loop: a step takes N batches of the model's size from the
/// epoch's one order, rank r the r-th; the program averages the gradients;
/// rank 0 alone writes checkpoints (which record N: resuming needs the same
/// N); the test set is split across ranks and its metrics all-reduced.
/// Trains on `train` for the options' epochs: each epoch shuffles with
/// (seed, epoch), runs one step per full batch (the model's batch size; a
/// last partial batch is dropped, as DataLoader(drop_last=True) does),
/// then evaluates on `test` (if any) with the "forward" entry: loss, and
/// accuracy for cross-entropy. Data columns bind to the model's inputs by
/// name; a data set with one "images" column feeds a model with one input,
/// reshaped to the input's per-example shape.
Status trainLoop(Session &session, Trainer &trainer, const Dataset &train,
                 const Dataset *test, const TrainLoopOptions &options,
                 TrainLoopResult &result);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_TRAINLOOP_H
