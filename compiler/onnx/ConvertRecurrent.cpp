//===- ConvertRecurrent.cpp - ONNX GRU, LSTM and RNN into kiln ops --------===//
//
// The recurrent layers, unrolled over their (static) sequence into graph ops:
// one GEMM projects every step's input at once (biases added there), then
// each step multiplies the previous hidden state by the recurrence weights
// (a GEMM that adds the step's projection) and computes the gates
// elementwise, which fusion turns into one kernel per step. Graph ops only,
// so training goes through their gradients: backpropagation through time.
//
// `sequence_lens` masks the steps past each sequence's end: the state stays,
// the output there is zero. The reverse direction then runs each sequence
// from its own last element: its projections are gathered in that order
// (position t <-> len - 1 - t within the length, itself elsewhere) and its
// outputs gathered back by the same permutation.
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ConvertUtils.h"

#include "llvm/ADT/STLExtras.h"

#include <cstdio>
#include <string>

using namespace mlir;

namespace kiln::onnx {
namespace {

enum class Cell { RNN, GRU, LSTM };

/// An activation function the `activations` attribute may name.
struct ActivationKind {
  StringRef name;     // as the spec spells it; matched ignoring case
  int params;         // what it takes from activation_alpha/beta: 0, 1 or 2
  double alpha, beta; // the defaults (those of the ONNX op of that name)
};

constexpr ActivationKind kActivations[] = {
    {"Relu", 0, 0, 0},         {"Tanh", 0, 0, 0},
    {"Sigmoid", 0, 0, 0},      {"Affine", 2, 1, 0},
    {"LeakyRelu", 1, 0.01, 0}, {"ThresholdedRelu", 1, 1, 0},
    {"ScaledTanh", 2, 1, 1},   {"HardSigmoid", 2, 0.2, 0.5},
    {"Elu", 1, 1, 0},          {"Softsign", 0, 0, 0},
    {"Softplus", 0, 0, 0},
};

struct Activation {
  const ActivationKind *kind;
  double alpha, beta;
};

Value activate(NodeImporter &n, const Activation &a, Value x) {
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  OpBuilder &b = n.builder();
  StringRef name = a.kind->name;
  if (name == "Relu")
    return n.create<graph::ReluOp>(x);
  if (name == "Tanh")
    return n.create<graph::TanhOp>(x);
  if (name == "Sigmoid")
    return n.create<graph::SigmoidOp>(x);
  if (name == "Affine")
    return n.create<graph::AddOp>(
        n.create<graph::MulOp>(scalarConstant(n, t, a.alpha), x),
        scalarConstant(n, t, a.beta));
  if (name == "LeakyRelu")
    return n.create<graph::LeakyReluOp>(x, b.getF32FloatAttr(a.alpha));
  if (name == "ThresholdedRelu")
    return thresholdedReluOf(n, x, a.alpha);
  if (name == "ScaledTanh")
    return n.create<graph::MulOp>(
        scalarConstant(n, t, a.alpha),
        n.create<graph::TanhOp>(
            n.create<graph::MulOp>(scalarConstant(n, t, a.beta), x)));
  if (name == "HardSigmoid")
    return n.create<graph::HardSigmoidOp>(x, b.getF32FloatAttr(a.alpha),
                                          b.getF32FloatAttr(a.beta));
  if (name == "Elu")
    return eluOf(n, x, a.alpha);
  if (name == "Softsign")
    return softsignOf(n, x);
  return softplusOf(n, x);
}

/// The `activations` attribute, `defaults.size()` functions per direction
/// (the defaults where it is absent), with their alphas and betas taken in
/// order from activation_alpha and activation_beta by the functions that
/// use them (the op's defaults once a list runs out).
std::optional<SmallVector<Activation>>
activations(NodeImporter &n, ArrayRef<StringRef> defaults, int64_t directions,
            const std::string &layer) {
  std::vector<std::string> names = n.attrStrings("activations");
  std::vector<float> alphas = n.attrFloats("activation_alpha");
  std::vector<float> betas = n.attrFloats("activation_beta");
  if (n.failed())
    return std::nullopt;
  size_t want = defaults.size() * directions;
  if (names.empty()) {
    for (int64_t d = 0; d < directions; ++d)
      for (StringRef name : defaults)
        names.push_back(name.str());
  } else if (names.size() != want) {
    n.error() << "attribute 'activations' names " << names.size()
              << " functions; " << layer << " takes " << want
              << (directions == 2 ? " (" + std::to_string(defaults.size()) +
                                        " for each direction)"
                                  : std::string());
    return std::nullopt;
  }
  SmallVector<Activation> result;
  size_t nextAlpha = 0, nextBeta = 0;
  for (const std::string &name : names) {
    const ActivationKind *kind =
        llvm::find_if(kActivations, [&](const ActivationKind &k) {
          return k.name.equals_insensitive(name);
        });
    if (kind == std::end(kActivations)) {
      auto diag = n.error() << "activation '" << name
                            << "' is not one the spec lists (";
      llvm::interleaveComma(kActivations, diag,
                            [&](const ActivationKind &k) { diag << k.name; });
      diag << ")";
      return std::nullopt;
    }
    Activation a{kind, kind->alpha, kind->beta};
    if (kind->params >= 1 && nextAlpha < alphas.size())
      a.alpha = alphas[nextAlpha++];
    if (kind->params >= 2 && nextBeta < betas.size())
      a.beta = betas[nextBeta++];
    result.push_back(a);
  }
  return result;
}

/// Checks input `i`'s shape (and, unless null, its element type); reports
/// what `layer` needs otherwise.
bool expectInput(NodeImporter &n, size_t i, StringRef what,
                 ArrayRef<int64_t> shape, Type element,
                 const std::string &layer) {
  RankedTensorType type = n.inputType(i);
  if (n.failed())
    return false;
  if (type.getShape() != shape) {
    n.error() << "input " << i << " (" << what << ") has shape "
              << graph::formatShape(type.getShape()) << "; " << layer
              << " needs " << graph::formatShape(shape);
    return false;
  }
  if (element && type.getElementType() != element) {
    n.error() << "input " << i << " (" << what << ") holds "
              << type.getElementType() << ", but X holds " << element;
    return false;
  }
  return true;
}

LogicalResult convertRecurrent(NodeImporter &n, Cell cell) {
  StringRef cellName = cell == Cell::LSTM  ? "LSTM"
                       : cell == Cell::GRU ? "GRU"
                                           : "RNN";
  std::string article = cell == Cell::GRU ? "a " : "an ";
  int64_t gates = cell == Cell::LSTM ? 4 : cell == Cell::GRU ? 3 : 1;
  static constexpr StringRef lstmDefaults[] = {"Sigmoid", "Tanh", "Tanh"};
  static constexpr StringRef gruDefaults[] = {"Sigmoid", "Tanh"};
  static constexpr StringRef rnnDefaults[] = {"Tanh"};
  ArrayRef<StringRef> defaults = cell == Cell::LSTM ? ArrayRef(lstmDefaults)
                                 : cell == Cell::GRU ? ArrayRef(gruDefaults)
                                                     : ArrayRef(rnnDefaults);

  std::string direction = n.attrString("direction", "forward");
  int64_t layout = n.attrInt("layout", 0);
  bool clipped = n.hasAttr("clip");
  float clip = n.attrFloat("clip", 0);
  bool linearBeforeReset =
      cell == Cell::GRU && n.attrInt("linear_before_reset", 0) != 0;
  bool inputForget = cell == Cell::LSTM && n.attrInt("input_forget", 0) != 0;
  RankedTensorType xType = n.inputType(0), rType = n.inputType(2);
  if (n.failed())
    return failure();
  if (direction != "forward" && direction != "reverse" &&
      direction != "bidirectional")
    return n.error() << "attribute 'direction' is '" << direction
                     << "'; it must be forward, reverse or bidirectional";
  if (layout != 0 && layout != 1)
    return n.error() << "attribute 'layout' is " << layout
                     << "; it must be 0 (sequence first) or 1 (batch first)";
  if (clipped && !(clip > 0)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", clip);
    return n.error() << "attribute 'clip' is " << text
                     << "; it must be positive";
  }
  Type element = xType.getElementType();
  if (xType.getRank() != 3 || !isa<FloatType>(element))
    return n.error() << "input 0 (X) is " << xType << "; it must be floats "
                     << (layout ? "[batch_size, seq_length, input_size]"
                                : "[seq_length, batch_size, input_size]");
  int64_t D = direction == "bidirectional" ? 2 : 1;
  int64_t S = xType.getDimSize(layout ? 1 : 0);
  int64_t B = xType.getDimSize(layout ? 0 : 1), I = xType.getDimSize(2);
  if (S < 1 || B < 1)
    return n.error() << "input 0 (X) has shape "
                     << graph::formatShape(xType.getShape())
                     << "; kiln needs at least one step and one sequence";
  if (rType.getRank() != 3)
    return n.error() << "input 2 (R) has shape "
                     << graph::formatShape(rType.getShape())
                     << "; it must be [num_directions, " << gates
                     << " * hidden_size, hidden_size]";
  int64_t H = rType.getDimSize(2);
  if (n.hasAttr("hidden_size") && n.attrInt("hidden_size", H) != H)
    return n.error() << "attribute 'hidden_size' is "
                     << n.attrInt("hidden_size", H) << ", but R has shape "
                     << graph::formatShape(rType.getShape())
                     << ", whose last axis is the hidden size";
  int64_t G = gates * H;
  std::string layer = (D == 2 ? "a bidirectional " : article) + cellName.str() +
                      " of hidden_size " + std::to_string(H) +
                      " over input_size " + std::to_string(I);
  auto state = [&](int64_t size) {
    return layout ? SmallVector<int64_t>{B, D, size}
                  : SmallVector<int64_t>{D, B, size};
  };
  if (!expectInput(n, 1, "W", {D, G, I}, element, layer) ||
      !expectInput(n, 2, "R", {D, G, H}, element, layer) ||
      (n.hasInput(3) &&
       !expectInput(n, 3, "B", {D, 2 * G}, element, layer)) ||
      (n.hasInput(4) &&
       !expectInput(n, 4, "sequence_lens", {B}, Type(), layer)) ||
      (n.hasInput(5) &&
       !expectInput(n, 5, "initial_h", state(H), element, layer)))
    return failure();
  if (cell == Cell::LSTM &&
      ((n.hasInput(6) &&
        !expectInput(n, 6, "initial_c", state(H), element, layer)) ||
       (n.hasInput(7) && !expectInput(n, 7, "P", {D, 3 * H}, element, layer))))
    return failure();
  if (cell != Cell::LSTM && n.hasInput(6))
    return n.error() << "has " << n.node().input_size() << " inputs; a "
                     << cellName << " takes at most 6";
  if (cell == Cell::LSTM && n.numOutputs() > 3)
    return n.error() << "has " << n.numOutputs()
                     << " outputs; an LSTM has at most 3 (Y, Y_h, Y_c)";
  if (cell != Cell::LSTM && n.numOutputs() > 2)
    return n.error() << "has " << n.numOutputs() << " outputs; a "
                     << cellName << " has at most 2 (Y, Y_h)";
  auto acts = activations(n, defaults, D,
                          (D == 2 ? "a bidirectional " : article) +
                              cellName.str());
  if (!acts)
    return failure();

  // sequence_lens: integers in [0, seq_length]; ignored when known to be
  // seq_length everywhere.
  bool masked = n.hasInput(4);
  if (masked) {
    RankedTensorType lensType = n.inputType(4);
    if (!lensType.getElementType().isInteger(32) &&
        !lensType.getElementType().isInteger(64))
      return n.error() << "input 4 (sequence_lens) holds "
                       << lensType.getElementType() << "; it must be int32";
    if (const HostTensor *lens = n.folded(4)) {
      bool full = true;
      for (int64_t b = 0; b < lens->size(); ++b) {
        int64_t len = lens->intAt(b);
        if (len < 0 || len > S)
          return n.error() << "sequence_lens[" << b << "] is " << len
                           << ", outside [0, " << S << "], seq_length";
        full &= len == S;
      }
      masked = !full;
    }
  }

  OpBuilder &b = n.builder();
  Value x = n.input(0), w = n.input(1), r = n.input(2);
  Value bias = n.hasInput(3) ? n.input(3) : Value();
  Value h0 = n.hasInput(5) ? n.input(5) : Value();
  Value c0 = cell == Cell::LSTM && n.hasInput(6) ? n.input(6) : Value();
  Value peep = cell == Cell::LSTM && n.hasInput(7) ? n.input(7) : Value();
  Value lens = masked ? n.input(4) : Value();
  if (n.failed())
    return failure();
  auto transpose = [&](Value v, ArrayRef<int64_t> perm) -> Value {
    return v ? n.create<graph::TransposeOp>(v, b.getDenseI64ArrayAttr(perm))
             : v;
  };
  if (layout) {
    x = transpose(x, {1, 0, 2});
    h0 = transpose(h0, {1, 0, 2});
    c0 = transpose(c0, {1, 0, 2});
  }
  auto gemm = [&](Value a, Value weight, Value c) {
    return n.create<graph::GemmOp>(a, weight, c, b.getF32FloatAttr(1),
                                   b.getF32FloatAttr(1), b.getBoolAttr(false),
                                   b.getBoolAttr(true), b.getBoolAttr(false));
  };
  auto clipped_ = [&](Value v) -> Value {
    return clipped ? n.create<graph::ClipOp>(v, b.getF64FloatAttr(-clip),
                                             b.getF64FloatAttr(clip))
                   : v;
  };
  // Of direction d's [D, ...] tensor, the d-th, without the leading axis.
  auto ofDirection = [&](Value v, int64_t d) -> Value {
    if (!v)
      return v;
    auto shape = cast<RankedTensorType>(v.getType()).getShape();
    return reshape(n, sliceAlong(n, v, 0, d, 1), shape.drop_front());
  };

  // With sequence_lens: `valid` [S, B], step s < len; `order` [S, B, 1], the
  // position a reversed sequence takes at step s (len - 1 - s within it).
  Value valid, order;
  Value zero = scalarConstant(n, element, 0);
  if (masked)
    order = reshape(n, reversedPositions(n, lens, S, &valid), {S, B, 1});
  auto reorder = [&](Value v) -> Value {
    auto shape = cast<RankedTensorType>(v.getType()).getShape();
    return n.create<graph::GatherElementsOp>(
        v, n.create<graph::BroadcastToOp>(order, b.getDenseI64ArrayAttr(shape)),
        b.getI64IntegerAttr(0));
  };

  SmallVector<Value> ys, hs, cs;
  for (int64_t d = 0; d < D; ++d) {
    bool reverse = direction == "reverse" || d == 1;
    ArrayRef<Activation> act = ArrayRef(*acts).slice(d * defaults.size(),
                                                     defaults.size());
    Value wd = ofDirection(w, d), rd = ofDirection(r, d);
    // What the input projection adds: W's and R's biases, except R's bias
    // of a GRU's candidate when linear_before_reset (it is reset with it).
    Value inBias, candidateBias;
    if (Value bd = ofDirection(bias, d)) {
      Value wb = sliceAlong(n, bd, 0, 0, G), rb = sliceAlong(n, bd, 0, G, G);
      if (linearBeforeReset) {
        inBias = n.create<graph::ConcatOp>(
            ValueRange{n.create<graph::AddOp>(sliceAlong(n, wb, 0, 0, 2 * H),
                                              sliceAlong(n, rb, 0, 0, 2 * H)),
                       sliceAlong(n, wb, 0, 2 * H, H)},
            b.getI64IntegerAttr(0));
        candidateBias = sliceAlong(n, rb, 0, 2 * H, H);
      } else {
        inBias = n.create<graph::AddOp>(wb, rb);
      }
    }
    Value projected =
        reshape(n, gemm(reshape(n, x, {S * B, I}), wd, inBias), {S, B, G});
    bool gathered = reverse && masked;
    if (gathered)
      projected = reorder(projected);
    Value rzr, rh, pi, po, pf;
    if (cell == Cell::GRU) {
      rzr = sliceAlong(n, rd, 0, 0, 2 * H);
      rh = sliceAlong(n, rd, 0, 2 * H, H);
    }
    if (Value pd = ofDirection(peep, d)) {
      pi = sliceAlong(n, pd, 0, 0, H);
      po = sliceAlong(n, pd, 0, H, H);
      pf = sliceAlong(n, pd, 0, 2 * H, H);
    }
    Value h = ofDirection(h0, d), c = ofDirection(c0, d);
    SmallVector<Value> outputs(S);
    for (int64_t k = 0; k < S && !n.failed(); ++k) {
      // The projection's row this step reads, and where its output goes.
      int64_t t = reverse && !gathered ? S - 1 - k : k;
      Value xt = reshape(n, sliceAlong(n, projected, 0, t, 1), {B, G});
      Value hNew, cNew;
      if (cell == Cell::RNN) {
        hNew = activate(n, act[0], clipped_(h ? gemm(h, rd, xt) : xt));
      } else if (cell == Cell::LSTM) {
        Value pre = h ? gemm(h, rd, xt) : xt;
        Value gi = sliceAlong(n, pre, 1, 0, H), go = sliceAlong(n, pre, 1, H, H),
              gf = sliceAlong(n, pre, 1, 2 * H, H),
              gc = sliceAlong(n, pre, 1, 3 * H, H);
        if (pi && c) {
          gi = n.create<graph::AddOp>(gi, n.create<graph::MulOp>(pi, c));
          gf = n.create<graph::AddOp>(gf, n.create<graph::MulOp>(pf, c));
        }
        Value i = activate(n, act[0], clipped_(gi));
        cNew = n.create<graph::MulOp>(i, activate(n, act[1], clipped_(gc)));
        if (c) {
          Value f = inputForget ? n.create<graph::SubOp>(
                                      scalarConstant(n, element, 1), i)
                                : activate(n, act[0], clipped_(gf));
          cNew = n.create<graph::AddOp>(n.create<graph::MulOp>(f, c), cNew);
        }
        if (po)
          go = n.create<graph::AddOp>(go, n.create<graph::MulOp>(po, cNew));
        hNew = n.create<graph::MulOp>(activate(n, act[0], clipped_(go)),
                                      activate(n, act[2], cNew));
      } else {
        Value xzr = sliceAlong(n, xt, 1, 0, 2 * H),
              xh = sliceAlong(n, xt, 1, 2 * H, H);
        Value zr = h ? gemm(h, rzr, xzr) : xzr;
        Value z = activate(n, act[0], clipped_(sliceAlong(n, zr, 1, 0, H)));
        Value reset = activate(n, act[0], clipped_(sliceAlong(n, zr, 1, H, H)));
        Value pre = xh;
        if (linearBeforeReset) {
          Value recurrent = h ? gemm(h, rh, candidateBias) : candidateBias;
          if (recurrent)
            pre = n.create<graph::AddOp>(
                xh, n.create<graph::MulOp>(reset, recurrent));
        } else if (h) {
          pre = gemm(n.create<graph::MulOp>(reset, h), rh, xh);
        }
        Value candidate = activate(n, act[1], clipped_(pre));
        // (1 - z) * candidate + z * h
        hNew = n.create<graph::SubOp>(
            candidate,
            n.create<graph::MulOp>(
                z, h ? n.create<graph::SubOp>(candidate, h) : candidate));
      }
      if (masked) {
        Value live = reshape(n, sliceAlong(n, valid, 0, k, 1), {B, 1});
        outputs[t] = n.create<graph::WhereOp>(live, hNew, zero);
        h = n.create<graph::WhereOp>(live, hNew, h ? h : zero);
        if (cNew)
          c = n.create<graph::WhereOp>(live, cNew, c ? c : zero);
      } else {
        outputs[t] = h = hNew;
        c = cNew;
      }
    }
    if (n.failed())
      return failure();
    if (n.outputUsed(0)) {
      Value y = concatAlong(n, outputs, 0, /*newAxis=*/true);
      if (gathered)
        y = reorder(y);
      ys.push_back(reshape(n, y, {S, 1, B, H}));
    }
    hs.push_back(reshape(n, h, {1, B, H}));
    if (c)
      cs.push_back(reshape(n, c, {1, B, H}));
  }
  auto join = [&](ArrayRef<Value> parts, int64_t axis) {
    return concatAlong(n, parts, axis);
  };
  if (!ys.empty())
    n.setOutput(0, layout ? transpose(join(ys, 1), {2, 0, 1, 3}) : join(ys, 1));
  n.setOutput(1, layout ? transpose(join(hs, 0), {1, 0, 2}) : join(hs, 0));
  if (cell == Cell::LSTM && n.outputUsed(2))
    n.setOutput(2, layout ? transpose(join(cs, 0), {1, 0, 2}) : join(cs, 0));
  return success(!n.failed());
}

} // namespace

LogicalResult convertGRU(NodeImporter &n) {
  return convertRecurrent(n, Cell::GRU);
}

LogicalResult convertLSTM(NodeImporter &n) {
  return convertRecurrent(n, Cell::LSTM);
}

LogicalResult convertRNN(NodeImporter &n) {
  return convertRecurrent(n, Cell::RNN);
}

} // namespace kiln::onnx
