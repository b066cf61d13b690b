//===- trainloop.cpp - the `kiln train` loop ------------------------------===//
#include "trainloop.h"

#include <chrono>
#include <cmath>
#include <cstring>

namespace kiln::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

/// How the data set's columns feed an entry's inputs.
struct Binding {
  const Buffer *input;          ///< The entry's input buffer.
  const Dataset::Column *column; ///< The column that feeds it.
};

Status bind(const Program &program, const Entry &entry, const Dataset &data,
            std::vector<Binding> &out) {
  out.clear();
  std::vector<const Buffer *> inputs;
  for (int32_t id : entry.inputs)
    if (program.buffers[id].name.rfind("kiln.", 0) != 0)
      inputs.push_back(&program.buffers[id]);
  const std::string &labels = program.training->labels;
  size_t features = 0;
  for (const Buffer *b : inputs)
    features += b->name != labels;
  for (const Buffer *b : inputs) {
    const Dataset::Column *c = data.find(b->name);
    if (!c && b->name == labels)
      c = data.find("labels");
    if (!c && b->name != labels && features == 1)
      c = data.find("images");
    if (!c)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    data.origin + " has no tensor '" + b->name +
                        "' for the model's input of that name");
    int64_t perExample = dtypeSize(b->dtype);
    for (size_t d = 1; d < b->shape.size(); ++d)
      perExample *= b->shape[d];
    if (b->shape.empty() || c->dtype != b->dtype ||
        c->rowBytes() != perExample)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    data.origin + ": '" + c->name + "' has examples of " +
                        std::string(dtypeName(c->dtype)) + " " +
                        formatShape(std::vector<int64_t>(c->shape.begin() + 1,
                                                         c->shape.end())) +
                        "; the model's input '" + b->name + "' takes " +
                        std::string(dtypeName(b->dtype)) + " " +
                        formatShape(b->shape) + " (batch first)");
    out.push_back({b, c});
  }
  return Status();
}

/// The batch of rows `rows` (`count` of them, padded with the last row up to
/// the model's batch size) as host tensors over `storage`.
std::vector<HostTensor> makeBatch(const std::vector<Binding> &bindings,
                                  const int64_t *rows, int64_t count,
                                  int64_t batch,
                                  std::vector<std::vector<uint8_t>> &storage) {
  std::vector<int64_t> padded(rows, rows + count);
  padded.resize(size_t(batch), rows[count - 1]);
  storage.resize(bindings.size());
  std::vector<HostTensor> out;
  for (size_t i = 0; i < bindings.size(); ++i) {
    gatherRows(*bindings[i].column, padded.data(), batch, storage[i]);
    const Buffer &b = *bindings[i].input;
    out.push_back({b.name, b.dtype, b.shape, storage[i].data(),
                   storage[i].size()});
  }
  return out;
}

double scalarAt(const HostTensor &t, int64_t i) {
  return t.dtype == DType::F64 ? static_cast<const double *>(t.data)[i]
                               : double(static_cast<const float *>(t.data)[i]);
}

/// Test loss and accuracy (cross-entropy) or mean squared error (mse).
/// In a data-parallel run each rank evaluates every size-th batch and the
/// sums are all-reduced.
Status evaluate(Session &session, const Dataset &test, int64_t batch,
                double &loss, double &accuracy) {
  Communicator *comm = session.communicator();
  int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
  const Program &program = session.program();
  const Entry &forward = *program.entry("forward");
  std::vector<Binding> bindings;
  if (Status s = bind(program, forward, test, bindings); !s.ok())
    return s;
  const Dataset::Column *labels = test.find(program.training->labels);
  if (!labels)
    labels = test.find("labels");
  if (!labels)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  test.origin + " has no labels ('" +
                      program.training->labels + "')");
  bool ce = program.training->loss == "cross_entropy";
  double totalLoss = 0, correct = 0, positions = 0;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<HostTensor> outputs;
  std::vector<int64_t> rows(static_cast<size_t>(test.size()));
  for (int64_t i = 0; i < test.size(); ++i)
    rows[i] = i;
  for (int64_t at = rank * batch; at < test.size(); at += ranks * batch) {
    int64_t count = std::min(batch, test.size() - at);
    std::vector<HostTensor> inputs =
        makeBatch(bindings, rows.data() + at, count, batch, storage);
    if (Status s = session.run("forward", inputs, outputs); !s.ok())
      return s;
    const HostTensor &out = outputs.at(0);
    int64_t perExample = 1;
    for (size_t d = 1; d < out.shape.size(); ++d)
      perExample *= out.shape[d];
    int64_t classes = out.shape.empty() ? 1 : out.shape.back();
    for (int64_t e = 0; e < count; ++e) {
      const uint8_t *label = labels->bytes.data() + (at + e) * labels->rowBytes();
      if (!ce) {
        for (int64_t j = 0; j < perExample; ++j) {
          double target = labels->dtype == DType::F64
                              ? reinterpret_cast<const double *>(label)[j]
                              : reinterpret_cast<const float *>(label)[j];
          double d = scalarAt(out, e * perExample + j) - target;
          totalLoss += d * d;
          positions += 1;
        }
        continue;
      }
      // Every position along the other axes is one classification.
      for (int64_t p = 0; p < perExample / classes; ++p) {
        int64_t base = e * perExample + p * classes;
        int64_t want = reinterpret_cast<const int64_t *>(label)[p], best = 0;
        double top = scalarAt(out, base), sum = 0;
        for (int64_t c = 1; c < classes; ++c)
          if (scalarAt(out, base + c) > top) {
            top = scalarAt(out, base + c);
            best = c;
          }
        for (int64_t c = 0; c < classes; ++c)
          sum += std::exp(scalarAt(out, base + c) - top);
        if (want >= 0 && want < classes)
          totalLoss += top + std::log(sum) - scalarAt(out, base + want);
        correct += best == want;
        positions += 1;
      }
    }
  }
  if (comm) {
    double sums[3] = {totalLoss, correct, positions};
    if (Status s = comm->sum(sums, 3, "the all-reduce of the test metrics");
        !s.ok())
      return s;
    totalLoss = sums[0];
    correct = sums[1];
    positions = sums[2];
  }
  loss = positions ? totalLoss / positions : 0;
  accuracy = ce && positions ? correct / positions : -1;
  return Status();
}

void drawProgress(FILE *out, int64_t epoch, int64_t epochs, int64_t done,
                  int64_t total, double loss, double rate) {
  const int width = 30;
  int filled = total ? int(width * done / total) : width;
  std::fprintf(out, "\repoch %lld/%lld [%.*s%*s] %lld/%lld  loss %.4f  %.1f steps/s ",
               (long long)epoch, (long long)epochs, filled,
               "##############################", width - filled, "",
               (long long)done, (long long)total, loss, rate);
  std::fflush(out);
}

} // namespace

Status trainLoop(Session &session, Trainer &trainer, const Dataset &train,
                 const Dataset *test, const TrainLoopOptions &options,
                 TrainLoopResult &result) {
  const Program &program = session.program();
  const Entry &step = *program.entry("train_step");
  std::vector<Binding> bindings;
  if (Status s = bind(program, step, train, bindings); !s.ok())
    return s;
  // In a data-parallel run, a step takes `ranks` batches of the model's
  // size, one per rank, from one global order: rank r takes the r-th.
  Communicator *comm = session.communicator();
  const int64_t rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
  int64_t batch = bindings[0].input->shape[0];
  int64_t global = batch * ranks;
  int64_t perEpoch = train.size() / global;
  if (perEpoch == 0)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  train.origin + " has " + std::to_string(train.size()) +
                      " examples, fewer than one batch of " +
                      std::to_string(global) +
                      (ranks > 1 ? " (" + std::to_string(ranks) + " ranks × " +
                                       std::to_string(batch) + ")"
                                 : std::string()));
  std::string checkpoint =
      options.checkpointDir.empty()
          ? ""
          : options.checkpointDir + "/checkpoint.safetensors";
  // BatchNorm's running statistics are each rank's own (its batches' unless
  // --sync-batchnorm); as DDP's broadcast_buffers, rank 0's are the
  // model's: every rank takes them before it evaluates or checkpoints.
  auto syncStatistics = [&]() -> Status {
    if (ranks < 2)
      return Status();
    for (const std::string &name : program.training->statistics) {
      const Buffer *b = session.persistent(name);
      if (!b)
        continue;
      std::vector<uint8_t> data(size_t(b->bytes()));
      if (Status s = session.read(*b, data.data()); !s.ok())
        return s;
      if (Status s = comm->broadcast(data.data(), b->bytes(), 0,
                                     "the broadcast of rank 0's BatchNorm "
                                     "statistic '" + name + "'");
          !s.ok())
        return s;
      if (Status s = session.write(*b, data.data()); !s.ok())
        return s;
    }
    return Status();
  };
  // Every rank holds the same parameters and state: rank 0 writes.
  auto save = [&](int64_t epoch, int64_t next) {
    if (Status s = syncStatistics(); !s.ok())
      return s;
    if (rank != 0)
      return Status();
    return trainer.save(checkpoint,
                        {{"kiln.epoch", std::to_string(epoch)},
                         {"kiln.next_batch", std::to_string(next)},
                         {"kiln.seed", std::to_string(options.seed)},
                         {"kiln.batch_size", std::to_string(global)},
                         {"kiln.world_size", std::to_string(ranks)}});
  };

  // Where to start: the beginning, or where the checkpoint left off.
  int64_t startEpoch = 0, startBatch = 0;
  if (options.resume) {
    if (checkpoint.empty())
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "--resume needs --checkpoint DIR");
    std::map<std::string, std::string> meta;
    if (Status s = trainer.load(checkpoint, meta); !s.ok())
      return s;
    auto get = [&](const char *key) {
      auto it = meta.find(key);
      return it == meta.end() ? std::string() : it->second;
    };
    std::string world = get("kiln.world_size");
    if (world.empty())
      world = "1"; // Written before data-parallel runs existed.
    if (world != std::to_string(ranks))
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    checkpoint + " was written by a run of " + world +
                        " rank(s); resuming needs the same number (this run "
                        "has " +
                        std::to_string(ranks) +
                        "): the data order and batch of every step depend "
                        "on it");
    if (get("kiln.seed") != std::to_string(options.seed) ||
        get("kiln.batch_size") != std::to_string(global))
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    checkpoint + " was written with seed " + get("kiln.seed") +
                        " and batch " + get("kiln.batch_size") +
                        "; resuming needs the same (--seed " +
                        std::to_string(options.seed) + ", batch " +
                        std::to_string(global) + " now)");
    startEpoch = std::stoll(get("kiln.epoch"));
    startBatch = std::stoll(get("kiln.next_batch"));
    if (options.log)
      std::fprintf(options.log, "resumed from %s at step %lld (epoch %lld)\n",
                   checkpoint.c_str(), (long long)trainer.steps(),
                   (long long)startEpoch + 1);
  }

  FILE *metrics = nullptr;
  if (!options.metricsPath.empty()) {
    metrics = std::fopen(options.metricsPath.c_str(), options.resume ? "a" : "w");
    if (!metrics)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "cannot write metrics to " + options.metricsPath);
  }
  struct Closer {
    FILE *f;
    ~Closer() {
      if (f)
        std::fclose(f);
    }
  } closer{metrics};

  auto begin = Clock::now();
  std::vector<std::vector<uint8_t>> storage;
  bool stop = false;
  for (int64_t epoch = startEpoch; epoch < options.epochs && !stop; ++epoch) {
    std::vector<int64_t> order = shuffledOrder(train.size(), options.seed, epoch);
    auto epochStart = Clock::now();
    double lossSum = 0;
    int64_t taken = 0;
    int64_t first = epoch == startEpoch ? startBatch : 0;
    for (int64_t b = first; b < perEpoch; ++b) {
      if (options.maxSteps >= 0 && trainer.steps() >= options.maxSteps) {
        stop = true;
        if (!checkpoint.empty())
          if (Status s = save(epoch, b); !s.ok())
            return s;
        break;
      }
      std::vector<HostTensor> inputs = makeBatch(
          bindings, order.data() + b * global + rank * batch, batch, batch,
          storage);
      double loss;
      if (Status s = trainer.step(inputs, loss); !s.ok())
        return s;
      if (!std::isfinite(loss))
        return Status(KILN_STATUS_FAILED_PRECONDITION,
                      "the loss became " + std::to_string(loss) + " at step " +
                          std::to_string(trainer.steps()) +
                          "; lower the learning rate or clip gradients "
                          "(--grad-clip)");
      lossSum += loss;
      ++taken;
      if (options.progress &&
          (b + 1 == perEpoch || (b - first) % 10 == 0))
        drawProgress(options.progress, epoch + 1, options.epochs, b + 1,
                     perEpoch, lossSum / double(taken),
                     double(taken) / std::max(1e-9, seconds(epochStart)));
      if (!checkpoint.empty() && options.checkpointEvery > 0 &&
          trainer.steps() % options.checkpointEvery == 0)
        if (Status s = save(epoch, b + 1); !s.ok())
          return s;
    }
    if (options.progress)
      std::fprintf(options.progress, "\n");
    if (taken == 0)
      break;
    double epochSeconds = seconds(epochStart);
    result.lastEpochLoss = lossSum / double(taken);
    if (test && !stop)
      if (Status s = syncStatistics(); !s.ok())
        return s;
    if (test && !stop)
      if (Status s = evaluate(session, *test, batch, result.testLoss,
                              result.testAccuracy);
          !s.ok())
        return s;
    if (options.log) {
      std::fprintf(options.log, "epoch %lld/%lld: train loss %.4f",
                   (long long)epoch + 1, (long long)options.epochs,
                   result.lastEpochLoss);
      if (test && !stop) {
        std::fprintf(options.log, ", test loss %.4f", result.testLoss);
        if (result.testAccuracy >= 0)
          std::fprintf(options.log, ", test accuracy %.2f%%",
                       100 * result.testAccuracy);
      }
      std::fprintf(options.log, " (%lld steps, %.1f s, %.1f steps/s)\n",
                   (long long)taken, epochSeconds,
                   double(taken) / std::max(1e-9, epochSeconds));
      std::fflush(options.log);
    }
    if (metrics) {
      std::fprintf(metrics,
                   "{\"epoch\":%lld,\"step\":%lld,\"train_loss\":%.9g,"
                   "\"seconds\":%.3f,\"steps_per_s\":%.3f",
                   (long long)epoch + 1, (long long)trainer.steps(),
                   result.lastEpochLoss, epochSeconds,
                   double(taken) / std::max(1e-9, epochSeconds));
      if (test && !stop) {
        std::fprintf(metrics, ",\"test_loss\":%.9g", result.testLoss);
        if (result.testAccuracy >= 0)
          std::fprintf(metrics, ",\"test_accuracy\":%.6f", result.testAccuracy);
      }
      std::fprintf(metrics, "}\n");
      std::fflush(metrics);
    }
    if (!checkpoint.empty() && !stop)
      if (Status s = save(epoch + 1, 0); !s.ok())
        return s;
  }
  result.steps = trainer.steps();
  result.seconds = seconds(begin);
  return Status();
}

} // namespace kiln::runtime
