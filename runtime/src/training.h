//===- training.h - driving a program's training step ---------------------===//
//
// A Trainer runs a session's "train_step" entry: it supplies the step's
// scalar inputs (the learning rate of the schedule, Adam's bias corrections,
// computed in double on the host as torch.optim does), counts steps, and
// saves and restores checkpoints (every parameter, optimizer state buffer and
// BatchNorm statistic, plus the step and whatever data-order state the
// caller adds) as safetensors, written atomically.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SRC_TRAINING_H
#define KILN_RUNTIME_SRC_TRAINING_H

#include "session.h"

#include <map>
#include <memory>

namespace kiln::runtime {

/// The learning rate of each step. `warmup` and `cosine` follow Hugging Face's
/// schedules (get_linear_schedule_with_warmup's warm-up, then constant;
/// get_cosine_schedule_with_warmup): step s < warmup has lr * s / warmup.
struct LearningRate {
  enum class Kind { Constant, Warmup, Cosine } kind = Kind::Constant;
  double base = 1e-3;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 0; ///< Cosine: where the rate reaches zero.
  /// The rate of step `step` (0 for the first).
  double at(int64_t step) const;
  /// Parses "constant", "warmup" or "cosine"; false for anything else.
  static bool parseKind(const std::string &text, Kind &out);
};

class Trainer {
public:
  /// `session` must outlive the trainer and hold a program with a
  /// "train_step" entry.
  static Status create(Session &session, LearningRate lr,
                       std::unique_ptr<Trainer> &out);

  /// One training step on `batch` (the model's inputs and the labels, by
  /// name; other tensors are ignored). `outputs` receives the step's outputs
  /// (loss, then the gradients before the update), valid until the next run;
  /// `loss` the loss as a double. `transfer` limits what crosses to and from
  /// a GPU (the loss is fetched, unless the step is queued without waiting:
  /// then `loss` is NaN).
  Status step(const std::vector<HostTensor> &batch,
              std::vector<HostTensor> &outputs, double &loss,
              const Transfer &transfer = Transfer());
  /// A step whose only output fetched is the loss (a training loop's).
  Status step(const std::vector<HostTensor> &batch, double &loss);

  /// The seed of the step's random numbers (dropout masks): step t draws
  /// from a stream of (seed, t), so a resumed run draws what it would have.
  void setSeed(uint64_t seed) { seed_ = seed; }

  /// Steps taken so far (restored by load()).
  int64_t steps() const { return steps_; }
  const TrainingInfo &info() const { return *session_.program().training; }
  /// Every persistent buffer a checkpoint holds: parameters, optimizer
  /// state, statistics.
  std::vector<std::string> checkpointNames() const;

  /// Writes the checkpoint atomically; `metadata` is stored beside the step.
  Status save(const std::string &path,
              const std::map<std::string, std::string> &metadata) const;
  /// Restores buffers and the step from `path`; `metadata` receives what
  /// save() stored. Fails, changing nothing, if a buffer is missing or of
  /// another dtype or shape.
  Status load(const std::string &path,
              std::map<std::string, std::string> &metadata);

private:
  Trainer(Session &session, LearningRate lr) : session_(session), lr_(lr) {}
  Session &session_;
  LearningRate lr_;
  int64_t steps_ = 0;
  uint64_t seed_ = 0;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_TRAINING_H
