//===- BuildTrainStep.cpp - @forward to @train_step ------------------------===//
#include "passes/autodiff/Passes.h"

#include "passes/autodiff/GraphBuilder.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include "llvm/Support/GlobPattern.h"

#define DEBUG_TYPE "kiln-build-train-step"

namespace kiln::autodiff {

#define GEN_PASS_DEF_BUILDTRAINSTEPPASS
#include "passes/autodiff/Passes.h.inc"

namespace {

using namespace mlir;
using namespace kiln::graph;

using Builder = GraphBuilder;

/// A new persistent buffer shaped like `v`, starting at zero (optimizer
/// state).
Value zerosLike(Builder &b, Value v, StringRef name) {
  auto t = Builder::type(v);
  return b.make<InitializerOp>(
      b.b.getStringAttr(name),
      DenseElementsAttr::get(t, FloatAttr::get(t.getElementType(), 0.0)));
}

struct BuildTrainStepPass final
    : impl::BuildTrainStepPassBase<BuildTrainStepPass> {
  using BuildTrainStepPassBase::BuildTrainStepPassBase;

  void runOnOperation() override {
    if (failed(build()))
      signalPassFailure();
  }

  /// What the step writes back: a value and the initializer it replaces.
  struct Update {
    std::string name;
    Value value;
  };

  LogicalResult build();
  LogicalResult checkOptions(ModuleOp module);
  Value lossOf(Builder &b, Value output, Value labels);
  Value addArgument(func::FuncOp f, Type type, StringRef name);
};

LogicalResult BuildTrainStepPass::checkOptions(ModuleOp module) {
  auto bad = [&](StringRef what) {
    return module.emitError() << "kiln-build-train-step: " << what;
  };
  if (loss != "cross_entropy" && loss != "mse")
    return bad("unknown loss '" + loss + "' (expected cross_entropy or mse)");
  if (!llvm::is_contained({"sgd", "momentum", "nesterov", "adam", "adamw"},
                          optimizer))
    return bad("unknown optimizer '" + optimizer +
               "' (expected sgd, momentum, nesterov, adam or adamw)");
  if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
    return bad("betas must lie in [0, 1)");
  if (eps <= 0)
    return bad("eps must be positive");
  if (momentum < 0)
    return bad("momentum must not be negative");
  if (gradClip < 0)
    return bad("grad-clip must not be negative");
  for (const std::string &pattern : freeze)
    if (auto p = llvm::GlobPattern::create(pattern); !p)
      return bad("--freeze '" + pattern +
                 "' is not a valid pattern: " + llvm::toString(p.takeError()));
  return success();
}

Value BuildTrainStepPass::addArgument(func::FuncOp f, Type type,
                                      StringRef name) {
  OpBuilder b(f.getContext());
  unsigned index = f.getNumArguments();
  (void)f.insertArgument(
      index, type,
      b.getDictionaryAttr(b.getNamedAttr("kiln.name", b.getStringAttr(name))),
      f.getLoc());
  return f.getArgument(index);
}

Value BuildTrainStepPass::lossOf(Builder &b, Value output, Value labels) {
  auto type = cast<RankedTensorType>(output.getType());
  Type element = type.getElementType();
  if (loss == "mse") {
    Value diff = b.sub(output, labels);
    return b.mul(b.sumAll(b.mul(diff, diff)), 1.0 / double(type.getNumElements()));
  }
  // Cross-entropy: -mean over positions of log_softmax(output)[label],
  // picking with a one-hot mask (labels == iota over classes).
  int64_t classes = type.getShape().back();
  Value logp = b.make<LogSoftmaxOp>(output, b.b.getI64IntegerAttr(-1));
  SmallVector<int64_t> column(type.getShape().drop_back());
  column.push_back(1);
  Value ids = b.make<ReshapeOp>(labels, b.b.getDenseI64ArrayAttr(column));
  SmallVector<int64_t> iota(classes);
  for (int64_t c = 0; c < classes; ++c)
    iota[c] = c;
  auto iotaType = RankedTensorType::get({classes}, b.b.getI64Type());
  Value classIds = b.make<ConstantOp>(
      DenseElementsAttr::get(iotaType, ArrayRef<int64_t>(iota)));
  Value oneHot = b.make<CastOp>(b.make<EqualOp>(ids, classIds),
                                TypeAttr::get(element));
  double positions = double(type.getNumElements() / classes);
  return b.mul(b.sumAll(b.mul(logp, oneHot)), -1.0 / positions);
}

LogicalResult BuildTrainStepPass::build() {
  ModuleOp module = getOperation();
  if (failed(checkOptions(module)))
    return failure();
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return module.emitError() << "has no function @forward to train";
  if (module.lookupSymbol("train_step"))
    return module.emitError() << "already has a @train_step";
  if (forward.getNumResults() == 0)
    return forward.emitError() << "returns nothing to put a loss on";

  // The step starts as a copy of the forward function.
  func::FuncOp step = forward.clone();
  step.setSymName("train_step");
  module.push_back(step);
  auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
  OpBuilder builder(ret);
  Builder b{builder, step.getLoc()};

  // Dropout: training form, one random stream per op, all seeded by the
  // step's seed (a new argument, new each step); then the model's own
  // random draws without an ONNX seed (a dropout the exporter wrote as
  // RandomUniformLike < 1 - p), each a stream of its own after those.
  SmallVector<DropoutOp> dropouts;
  step.walk([&](DropoutOp op) { dropouts.push_back(op); });
  SmallVector<RandomUniformOp> draws;
  step.walk([&](RandomUniformOp op) {
    if (!op.getSeed() && !op.getStepSeed())
      draws.push_back(op);
  });
  if (!dropouts.empty() || !draws.empty()) {
    Value seed = addArgument(
        step, RankedTensorType::get({}, b.b.getI64Type()), "kiln.seed");
    for (auto [stream, op] : llvm::enumerate(dropouts)) {
      OpBuilder at(op);
      Value y = at.create<DropoutTrainOp>(op.getLoc(), op.getInput(), seed,
                                          op.getRatioAttr(),
                                          at.getI64IntegerAttr(stream));
      op.getResult().replaceAllUsesWith(y);
      op.erase();
    }
    for (auto [i, op] : llvm::enumerate(draws)) {
      op.getStepSeedMutable().assign(seed);
      op.setStreamAttr(b.b.getI64IntegerAttr(int64_t(dropouts.size() + i)));
    }
  }

  // 1. BatchNorm in training mode; running statistics updated.
  SmallVector<Update> running;
  llvm::StringSet<> statistics;
  SmallVector<BatchNormOp> norms;
  step.walk([&](BatchNormOp op) { norms.push_back(op); });
  for (BatchNormOp op : norms) {
    OpBuilder at(op);
    auto x = cast<RankedTensorType>(op.getInput().getType());
    double count = double(x.getNumElements() / x.getDimSize(1));
    Value result, batchMean, batchVar;
    Value unbiasAcrossRanks; // sync-batchnorm: n / (n - 1), n of all ranks
    if (syncBatchNorm) {
      // The statistics of the whole batch across data-parallel ranks: each
      // rank's mean averaged (equal shares), then the variance around that
      // mean averaged (two passes, as exact as one process's). Autodiff
      // differentiates through the collectives (kiln.all_reduce's rule).
      Builder s{at, op.getLoc()};
      Value in = op.getInput();
      int64_t rank = x.getRank(), channels = x.getDimSize(1);
      SmallVector<int64_t> axes, perChannel(rank, 1);
      for (int64_t a = 0; a < rank; ++a)
        if (a != 1)
          axes.push_back(a);
      perChannel[1] = channels;
      auto localMean = [&](Value v) {
        return s.make<ReduceMeanOp>(v, s.b.getDenseI64ArrayAttr(axes),
                                    s.b.getBoolAttr(true));
      };
      auto acrossRanks = [&](Value v, StringRef reduction) {
        return s.b
            .create<AllReduceOp>(s.loc, TypeRange{v.getType()}, ValueRange{v},
                                 s.b.getI64IntegerAttr(-1),
                                 s.b.getStringAttr(reduction))
            .getResult(0);
      };
      Value mean = acrossRanks(localMean(in), "mean");
      Value centered = s.sub(in, mean);
      Value var = acrossRanks(localMean(s.mul(centered, centered)), "mean");
      Value rstd = s.make<ReciprocalOp>(s.make<SqrtOp>(s.add(
          var, s.scalar(in, op.getEpsilon().convertToDouble()))));
      result = s.add(s.mul(s.mul(centered, rstd),
                           s.reshape(op.getScale(), perChannel)),
                     s.reshape(op.getBias(), perChannel));
      batchMean = s.reshape(mean, {channels});
      batchVar = s.reshape(var, {channels});
      Value n = acrossRanks(s.scalar(in, count), "sum");
      unbiasAcrossRanks = s.div(
          n, s.make<MaxOp>(s.sub(n, s.scalar(in, 1)), s.scalar(in, 1)));
    } else {
      auto train = at.create<BatchNormTrainOp>(op.getLoc(), op.getInput(),
                                               op.getScale(), op.getBias(),
                                               op.getEpsilonAttr());
      result = train.getResult();
      batchMean = train.getBatchMean();
      batchVar = train.getBatchVar();
    }
    op.getResult().replaceAllUsesWith(result);
    // ONNX's momentum is the share the running statistics keep; the batch's
    // share is PyTorch's momentum.
    // The f32 attribute read back as the decimal it was written as (0.9,
    // not 0.899999976), so that 1 - momentum is PyTorch's 0.1.
    float f = op.getMomentum().convertToFloat();
    double kept = f;
    for (int digits = 1; digits <= 9; ++digits) {
      char text[32];
      std::snprintf(text, sizeof text, "%.*g", digits, double(f));
      if (std::strtof(text, nullptr) == f) {
        kept = std::strtod(text, nullptr);
        break;
      }
    }
    auto update = [&](Value stat, Value batch, double unbias,
                      Value unbiasValue) {
      auto init = stat.getDefiningOp<InitializerOp>();
      if (!init)
        return;
      b.loc = NameLoc::get(
          b.b.getStringAttr("running statistic '" + init.getName() + "'"),
          step.getLoc());
      statistics.insert(init.getName());
      Value old = b.mul(stat, kept);
      Value added = unbiasValue
                        ? b.mul(b.mul(batch, unbiasValue), 1 - kept)
                        : b.mul(batch, (1 - kept) * unbias);
      running.push_back({init.getName().str(), b.add(old, added)});
    };
    update(op.getMean(), batchMean, 1.0, Value());
    update(op.getVar(), batchVar, count > 1 ? count / (count - 1) : 1.0,
           unbiasAcrossRanks);
    op.erase();
  }

  // 2. The loss on the first result.
  Value output = ret.getOperand(0);
  auto outType = dyn_cast<RankedTensorType>(output.getType());
  if (!outType || !isa<FloatType>(outType.getElementType()))
    return step.emitError() << "the first result is " << output.getType()
                            << "; a loss needs a float tensor";
  Type element = outType.getElementType();
  Type labelsType = outType;
  if (loss == "cross_entropy") {
    if (outType.getRank() == 0)
      return step.emitError()
             << "cross_entropy needs class scores along the last axis; the "
                "first result is a scalar";
    labelsType = RankedTensorType::get(outType.getShape().drop_back(),
                                       b.b.getI64Type());
  }
  Value labelsArg = addArgument(step, labelsType, labels);
  // The ops built here are named after what they do, as the importer names
  // ops after ONNX nodes (kiln inspect shows both).
  auto named = [&](const std::string &what) {
    b.loc = NameLoc::get(b.b.getStringAttr(what), step.getLoc());
  };
  named("loss (" + loss + ")");
  Value lossValue = lossOf(b, output, labelsArg);

  // 3. Trainable parameters and their gradients.
  SmallVector<llvm::GlobPattern> frozen;
  for (const std::string &p : freeze)
    frozen.push_back(std::move(*llvm::GlobPattern::create(p)));
  SmallVector<InitializerOp> candidates;
  step.walk([&](InitializerOp init) {
    auto t = cast<RankedTensorType>(init.getType());
    if (!isa<FloatType>(t.getElementType()) ||
        statistics.contains(init.getName()))
      return;
    for (llvm::GlobPattern &p : frozen)
      if (p.match(init.getName()))
        return;
    candidates.push_back(init);
  });
  SmallVector<Value> wrt;
  for (InitializerOp init : candidates)
    wrt.push_back(init.getResult());
  FailureOr<SmallVector<Value>> grads = gradients(b.b, lossValue, wrt);
  if (failed(grads))
    return failure();
  SmallVector<InitializerOp> params;
  SmallVector<Value> paramGrads;
  for (auto [init, grad] : llvm::zip(candidates, *grads))
    if (grad) {
      params.push_back(init);
      paramGrads.push_back(grad);
    }
  if (params.empty())
    return step.emitError() << "has no trainable parameter: no float "
                               "initializer reaches the loss"
                            << (freeze.empty() ? "" : " (after --freeze)");

  // 4. Global-norm clipping, then the optimizer (torch.optim's update).
  SmallVector<Value> used = paramGrads;
  named("gradient clipping");
  if (gradClip > 0) {
    Value total;
    for (Value g : used) {
      Value s = b.sumAll(b.mul(g, g));
      total = total ? b.add(total, s) : s;
    }
    Value norm = b.make<SqrtOp>(total);
    Value coef = b.div(b.scalar(element, gradClip),
                       b.add(norm, b.scalar(element, 1e-6)));
    coef = b.make<MinOp>(coef, b.scalar(element, 1.0));
    for (Value &g : used)
      g = b.mul(g, coef);
  }
  RankedTensorType scalarType = RankedTensorType::get({}, element);
  Value lr = addArgument(step, scalarType, "kiln.lr");
  bool adam = optimizer == "adam" || optimizer == "adamw";
  Value bc1, bc2sqrt;
  if (adam) {
    bc1 = addArgument(step, scalarType, "kiln.bias_correction1");
    bc2sqrt = addArgument(step, scalarType, "kiln.bias_correction2_sqrt");
  }
  double decay = weightDecay >= 0 ? weightDecay
                                  : (optimizer == "adamw" ? 0.01 : 0.0);
  SmallVector<Update> updates;
  SmallVector<std::string> stateNames;
  for (auto [init, g] : llvm::zip(params, used)) {
    std::string name = init.getName().str();
    named(optimizer + " '" + name + "'");
    Value p = init.getResult();
    if (optimizer == "adamw" && decay != 0) // decoupled: p *= 1 - lr wd
      p = b.mul(p, b.sub(b.scalar(element, 1), b.mul(lr, decay)));
    else if (decay != 0) // L2: g += wd p
      g = b.add(g, b.mul(p, decay));
    Value step;
    if (adam) {
      std::string m = "optimizer." + name + ".exp_avg";
      std::string v = "optimizer." + name + ".exp_avg_sq";
      Value m0 = zerosLike(b, p, m), v0 = zerosLike(b, p, v);
      Value m1 = b.add(b.mul(m0, beta1), b.mul(g, 1 - beta1));
      Value v1 = b.add(b.mul(v0, beta2), b.mul(b.mul(g, g), 1 - beta2));
      Value denom = b.add(b.div(b.make<SqrtOp>(v1), bc2sqrt),
                          b.scalar(element, eps));
      step = b.mul(b.div(lr, bc1), b.div(m1, denom));
      updates.push_back({m, m1});
      updates.push_back({v, v1});
      stateNames.append({m, v});
    } else if (optimizer == "sgd") {
      step = b.mul(lr, g);
    } else {
      std::string m = "optimizer." + name + ".momentum_buffer";
      Value buf = b.add(b.mul(zerosLike(b, p, m), momentum), g);
      Value dir = optimizer == "nesterov" ? b.add(g, b.mul(buf, momentum))
                                          : buf;
      step = b.mul(lr, dir);
      updates.push_back({m, buf});
      stateNames.push_back(m);
    }
    updates.push_back({name, b.sub(p, step)});
  }
  updates.append(running.begin(), running.end());

  // 5. The results: loss, gradients, then every write-back.
  SmallVector<Value> results = {lossValue};
  SmallVector<Attribute> resultAttrs;
  auto resultNamed = [&](StringRef name, StringRef update = {}) {
    SmallVector<NamedAttribute> attrs = {
        b.b.getNamedAttr("kiln.name", b.b.getStringAttr(name))};
    if (!update.empty())
      attrs.push_back(
          b.b.getNamedAttr("kiln.update", b.b.getStringAttr(update)));
    resultAttrs.push_back(b.b.getDictionaryAttr(attrs));
  };
  resultNamed("loss");
  for (auto [init, g] : llvm::zip(params, paramGrads)) {
    results.push_back(g);
    resultNamed(("grad." + init.getName()).str());
  }
  for (Update &u : updates) {
    results.push_back(u.value);
    resultNamed(u.name, u.name);
  }
  b.b.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  step.setFunctionType(FunctionType::get(
      &getContext(), step.getArgumentTypes(), ValueRange(results).getTypes()));
  step.setAllResultAttrs(resultAttrs);

  // 6. What the runtime needs to drive the step.
  auto strings = [&](auto &&range) {
    SmallVector<Attribute> out;
    for (auto &&s : range)
      out.push_back(b.b.getStringAttr(s));
    return b.b.getArrayAttr(out);
  };
  SmallVector<std::string> paramNames, statNames;
  for (InitializerOp init : params)
    paramNames.push_back(init.getName().str());
  for (Update &u : running)
    statNames.push_back(u.name);
  module->setAttr(
      "kiln.training",
      b.b.getDictionaryAttr({
          b.b.getNamedAttr("loss", b.b.getStringAttr(loss)),
          b.b.getNamedAttr("labels", b.b.getStringAttr(labels)),
          b.b.getNamedAttr("optimizer", b.b.getStringAttr(optimizer)),
          b.b.getNamedAttr("beta1", b.b.getF64FloatAttr(beta1)),
          b.b.getNamedAttr("beta2", b.b.getF64FloatAttr(beta2)),
          b.b.getNamedAttr("eps", b.b.getF64FloatAttr(eps)),
          b.b.getNamedAttr("momentum", b.b.getF64FloatAttr(momentum)),
          b.b.getNamedAttr("weight_decay", b.b.getF64FloatAttr(decay)),
          b.b.getNamedAttr("grad_clip", b.b.getF64FloatAttr(gradClip)),
          b.b.getNamedAttr("parameters", strings(paramNames)),
          b.b.getNamedAttr("state", strings(stateNames)),
          b.b.getNamedAttr("statistics", strings(statNames)),
      }));
  return success();
}

} // namespace
} // namespace kiln::autodiff
