//===- training.cpp - driving a program's training step -------------------===//
#include "training.h"

#include "safetensors.h"

#include <cmath>
#include <cstring>

namespace kiln::runtime {

double LearningRate::at(int64_t step) const {
  if (kind == Kind::Constant)
    return base;
  if (step < warmupSteps)
    return base * double(step) / double(std::max<int64_t>(1, warmupSteps));
  if (kind == Kind::Warmup)
    return base;
  double progress = std::min(
      1.0, double(step - warmupSteps) /
               double(std::max<int64_t>(1, totalSteps - warmupSteps)));
  return base * std::max(0.0, 0.5 * (1 + std::cos(M_PI * progress)));
}

bool LearningRate::parseKind(const std::string &text, Kind &out) {
  if (text == "constant")
    out = Kind::Constant;
  else if (text == "warmup")
    out = Kind::Warmup;
  else if (text == "cosine")
    out = Kind::Cosine;
  else
    return false;
  return true;
}

Status Trainer::create(Session &session, LearningRate lr,
                       std::unique_ptr<Trainer> &out) {
  if (!session.program().entry("train_step") || !session.program().training)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "the program has no training step (it was compiled with "
                  "--inference); compile it without --inference to train");
  out.reset(new Trainer(session, lr));
  return Status();
}

std::vector<std::string> Trainer::checkpointNames() const {
  std::vector<std::string> names = info().parameters;
  names.insert(names.end(), info().state.begin(), info().state.end());
  names.insert(names.end(), info().statistics.begin(), info().statistics.end());
  return names;
}

namespace {
/// A scalar of `dtype` (F32 or F64) holding `v`.
struct Scalar {
  double f64;
  float f32;
  HostTensor tensor(const std::string &name, DType dtype, double v) {
    f64 = v;
    f32 = float(v);
    bool wide = dtype == DType::F64;
    return {name, dtype, {}, wide ? static_cast<const void *>(&f64) : &f32,
            wide ? sizeof f64 : sizeof f32};
  }
};
} // namespace

Status Trainer::step(const std::vector<HostTensor> &batch, double &loss) {
  std::vector<HostTensor> outputs;
  Transfer transfer;
  transfer.fetch = {"loss"};
  return step(batch, outputs, loss, transfer);
}

Status Trainer::step(const std::vector<HostTensor> &batch,
                     std::vector<HostTensor> &outputs, double &loss,
                     const Transfer &transfer) {
  const Program &program = session_.program();
  const Entry &entry = *program.entry("train_step");
  // The step's own inputs: learning rate and bias corrections for step t.
  int64_t t = steps_ + 1;
  const TrainingInfo &ti = info();
  Scalar lr, bc1, bc2;
  int64_t stepSeed = int64_t(randomBits(uint64_t(t), seed_) >> 1);
  std::vector<HostTensor> inputs;
  for (int32_t id : entry.inputs) {
    const Buffer &b = program.buffers[id];
    if (b.name == "kiln.lr")
      inputs.push_back(lr.tensor(b.name, b.dtype, lr_.at(steps_)));
    else if (b.name == "kiln.bias_correction1")
      inputs.push_back(
          bc1.tensor(b.name, b.dtype, 1 - std::pow(ti.beta1, double(t))));
    else if (b.name == "kiln.seed")
      inputs.push_back({b.name, DType::I64, {}, &stepSeed, sizeof stepSeed});
    else if (b.name == "kiln.bias_correction2_sqrt")
      inputs.push_back(bc2.tensor(
          b.name, b.dtype, std::sqrt(1 - std::pow(ti.beta2, double(t)))));
    else
      for (const HostTensor &given : batch)
        if (given.name == b.name)
          inputs.push_back(given);
  }
  Transfer fetch = transfer;
  const std::string &lossName = program.buffers[entry.outputs.at(0)].name;
  if (!fetch.fetch.empty())
    fetch.fetch.push_back(lossName);
  if (Status s = session_.run("train_step", inputs, outputs, fetch); !s.ok())
    return s;
  // (A queued step's loss is not known yet.)
  const HostTensor &l = outputs.at(0);
  loss = !l.data                 ? std::nan("")
         : l.dtype == DType::F64 ? *static_cast<const double *>(l.data)
                                 : double(*static_cast<const float *>(l.data));
  ++steps_;
  return Status();
}

Status Trainer::save(const std::string &path,
                     const std::map<std::string, std::string> &metadata) const {
  SafeTensorsWriter writer;
  std::vector<std::string> names = checkpointNames();
  std::vector<std::vector<uint8_t>> data(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const Buffer *b = session_.persistent(names[i]);
    if (!b)
      return Status(KILN_STATUS_INTERNAL, "the program has no buffer '" +
                                              names[i] + "' to checkpoint");
    data[i].resize(size_t(b->bytes()));
    if (Status s = session_.read(*b, data[i].data()); !s.ok())
      return s;
    if (Status s = writer.add(names[i], b->dtype, b->shape, data[i].data(),
                              data[i].size());
        !s.ok())
      return s;
  }
  for (auto &[key, value] : metadata)
    writer.setMetadata(key, value);
  writer.setMetadata("kiln.step", std::to_string(steps_));
  writer.setMetadata("kiln.optimizer", info().optimizer);
  return writer.write(path);
}

Status Trainer::load(const std::string &path,
                     std::map<std::string, std::string> &metadata) {
  SafeTensors file;
  if (Status s = SafeTensors::read(path, file); !s.ok())
    return s;
  auto step = file.metadata().find("kiln.step");
  if (step == file.metadata().end())
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  path + " has no kiln.step; it was not written by kiln");
  if (Status s = session_.restore(file, path, checkpointNames()); !s.ok())
    return s;
  steps_ = std::stoll(step->second);
  metadata = file.metadata();
  return Status();
}

} // namespace kiln::runtime
