//===- run_step.cpp - one training step of an artifact, on a device -------===//
//
//   kiln_run_step MODEL.kiln BATCH.safetensors OUT.safetensors
//                 [--device auto|cpu|cuda] [--replay] [--one-rank]
//
// What `kiln step` writes (loss, grad.*, then param.* and stat.* after the
// update), from the runtime alone: the GPU test set runs it on a machine
// without the compiler and compares OUT with the fixture's PyTorch
// reference (kiln_compare_tensors). --replay checkpoints the initial state,
// takes two steps, restores it and takes the step it writes: on the CUDA
// backend the first step runs eagerly, the second is captured as a CUDA
// graph, and the written one replays that graph. --one-rank runs the step
// as a data-parallel job of one rank: on the GPU its gradient all-reduces
// go through NCCL (a communicator of one), inside the captured graph with
// --replay, and must leave the step's result as it was.
//
//===----------------------------------------------------------------------===//
#include "runtime/src/collectives.h"
#include "runtime/src/safetensors.h"
#include "runtime/src/session.h"
#include "runtime/src/training.h"

#include <cstdio>
#include <cstring>
#include <string>

using namespace kiln::runtime;

static int fail(const Status &s) {
  std::fprintf(stderr, "kiln_run_step: %s\n", s.toString().c_str());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: kiln_run_step MODEL.kiln BATCH.safetensors "
                         "OUT.safetensors [--device auto|cpu|cuda] "
                         "[--replay] [--one-rank]\n");
    return 2;
  }
  SessionOptions options;
  options.device = Device::Auto;
  bool replay = false, oneRank = false;
  for (int i = 4; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--replay"))
      replay = true;
    else if (!std::strcmp(argv[i], "--one-rank"))
      oneRank = true;
    else if (!std::strcmp(argv[i], "--device") && i + 1 < argc &&
             parseDevice(argv[i + 1], options.device))
      ++i;
    else {
      std::fprintf(stderr, "kiln_run_step: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::unique_ptr<Communicator> job; // Outlives the session that uses it.
  std::unique_ptr<Session> session;
  if (Status s = Session::open(argv[1], session, options); !s.ok())
    return fail(s);
  if (oneRank) {
    job = makeOneRankCommunicator(/*timeoutSeconds=*/120);
    session->setCommunicator(job.get());
  }
  std::fprintf(stderr, "kiln_run_step: %s on %s%s\n", argv[1],
               session->device().c_str(), oneRank ? ", a job of one rank" : "");
  SafeTensors batch;
  if (Status s = SafeTensors::read(argv[2], batch); !s.ok())
    return fail(s);
  std::vector<HostTensor> inputs, outputs;
  for (const TensorView &t : batch.tensors())
    inputs.push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
  if (!session->program().training)
    return fail(Status(KILN_STATUS_INVALID_ARGUMENT,
                       std::string(argv[1]) + " has no training step"));
  LearningRate lr;
  lr.base = session->program().training->lr;
  std::unique_ptr<Trainer> trainer;
  if (Status s = Trainer::create(*session, lr, trainer); !s.ok())
    return fail(s);
  double loss = 0;
  if (replay) {
    std::string initial = std::string(argv[3]) + ".initial.safetensors";
    std::map<std::string, std::string> metadata;
    if (Status s = trainer->save(initial, {}); !s.ok())
      return fail(s);
    for (int i = 0; i < 2; ++i)
      if (Status s = trainer->step(inputs, outputs, loss); !s.ok())
        return fail(s);
    if (Status s = trainer->load(initial, metadata); !s.ok())
      return fail(s);
    std::remove(initial.c_str());
  }
  if (Status s = trainer->step(inputs, outputs, loss); !s.ok())
    return fail(s);
  SafeTensorsWriter writer;
  std::vector<std::vector<uint8_t>> copies;
  for (const HostTensor &t : outputs) {
    copies.emplace_back(static_cast<const uint8_t *>(t.data),
                        static_cast<const uint8_t *>(t.data) + t.bytes);
    if (Status s = writer.add(t.name, t.dtype, t.shape, copies.back().data(),
                              t.bytes);
        !s.ok())
      return fail(s);
  }
  for (auto [prefix, names] :
       {std::pair("param.", &trainer->info().parameters),
        std::pair("stat.", &trainer->info().statistics)})
    for (const std::string &name : *names) {
      const Buffer *b = session->persistent(name);
      copies.emplace_back(size_t(b->bytes()));
      if (Status s = session->read(*b, copies.back().data()); !s.ok())
        return fail(s);
      if (Status s = writer.add(prefix + name, b->dtype, b->shape,
                                copies.back().data(), copies.back().size());
          !s.ok())
        return fail(s);
    }
  if (Status s = writer.write(argv[3]); !s.ok())
    return fail(s);
  return 0;
}
