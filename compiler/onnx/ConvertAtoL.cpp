//===- ConvertAtoL.cpp - ONNX ops Abs..LogSoftmax into kiln ops -----------===//
//
// One function per ONNX op, named after it; each follows the ONNX operator
// spec for every opset the table below admits (`minOpset` and later).
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ConvertUtils.h"
#include "compiler/onnx/TensorData.h"

#include <cctype>
#include <cmath>
#include <map>
#include <limits>

using namespace mlir;
namespace proto = ::onnx;

namespace kiln::onnx {
namespace {

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult convertAbs(NodeImporter &n) {
  return convertUnary<graph::AbsOp>(
      n, [](double x) { return std::fabs(x); },
      [](int64_t x) { return x < 0 ? int64_t(0 - uint64_t(x)) : x; });
}

LogicalResult convertAdd(NodeImporter &n) {
  return convertBinary<graph::AddOp>(
      n, [](double a, double b) { return a + b; },
      [](int64_t a, int64_t b) { return a + b; });
}

LogicalResult convertAnd(NodeImporter &n) {
  return convertBinary<graph::AndOp>(
      n, nullptr, [](int64_t a, int64_t b) { return int64_t(a && b); });
}

LogicalResult convertDiv(NodeImporter &n) {
  const HostTensor *a = n.folded(0), *b = n.folded(1);
  if (a && b && !b->isFloat()) {
    for (int64_t i = 0; i < b->size(); ++i)
      if (b->intAt(i) == 0)
        return n.error() << "integer division by zero in a compile-time "
                            "computation";
    bool hasMin = false;
    for (int64_t i = 0; i < a->size(); ++i)
      hasMin |= a->intAt(i) == std::numeric_limits<int64_t>::min();
    for (int64_t i = 0; hasMin && i < b->size(); ++i)
      if (b->intAt(i) == -1)
        return n.error() << "integer division overflows (the smallest int64 "
                            "divided by -1) in a compile-time computation";
  }
  return convertBinary<graph::DivOp>(
      n, [](double a, double b) { return a / b; },
      [](int64_t a, int64_t b) { return a / b; });
}

LogicalResult convertEqual(NodeImporter &n) {
  return convertBinary<graph::EqualOp>(
      n, [](double a, double b) { return double(a == b); },
      [](int64_t a, int64_t b) { return int64_t(a == b); }, true);
}

LogicalResult convertGreater(NodeImporter &n) {
  return convertBinary<graph::GreaterOp>(
      n, [](double a, double b) { return double(a > b); },
      [](int64_t a, int64_t b) { return int64_t(a > b); }, true);
}

LogicalResult convertGreaterOrEqual(NodeImporter &n) {
  return convertBinary<graph::GreaterEqualOp>(
      n, [](double a, double b) { return double(a >= b); },
      [](int64_t a, int64_t b) { return int64_t(a >= b); }, true);
}

LogicalResult convertLess(NodeImporter &n) {
  return convertBinary<graph::LessOp>(
      n, [](double a, double b) { return double(a < b); },
      [](int64_t a, int64_t b) { return int64_t(a < b); }, true);
}

LogicalResult convertLessOrEqual(NodeImporter &n) {
  return convertBinary<graph::LessEqualOp>(
      n, [](double a, double b) { return double(a <= b); },
      [](int64_t a, int64_t b) { return int64_t(a <= b); }, true);
}

LogicalResult convertErf(NodeImporter &n) {
  return convertUnary<graph::ErfOp>(n, [](double x) { return std::erf(x); });
}

LogicalResult convertExp(NodeImporter &n) {
  return convertUnary<graph::ExpOp>(n, [](double x) { return std::exp(x); });
}

LogicalResult convertLog(NodeImporter &n) {
  return convertUnary<graph::LogOp>(n, [](double x) { return std::log(x); });
}

LogicalResult convertHardSwish(NodeImporter &n) {
  return convertUnary<graph::HardSwishOp>(n);
}

LogicalResult convertIsNaN(NodeImporter &n) {
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::IsNanOp>(x));
  return success(!n.failed());
}

/// IsInf: x equal to +inf (detect_positive) or to -inf (detect_negative).
LogicalResult convertIsInf(NodeImporter &n) {
  bool positive = n.attrInt("detect_positive", 1) != 0;
  bool negative = n.attrInt("detect_negative", 1) != 0;
  RankedTensorType type = n.inputType(0);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = type.getElementType();
  if (!isa<FloatType>(t))
    return n.error() << "input holds " << t << "; IsInf takes floats";
  double inf = std::numeric_limits<double>::infinity();
  Value found;
  for (auto [detect, sign] : {std::pair(positive, 1.0), std::pair(negative, -1.0)}) {
    if (!detect)
      continue;
    Value is = n.create<graph::EqualOp>(x, scalarConstant(n, t, sign * inf));
    found = found ? n.create<graph::OrOp>(found, is) : is;
  }
  if (!found) // Neither: false everywhere.
    found = n.create<graph::ConstantOp>(HostTensor::ofInts(
        RankedTensorType::get(type.getShape(), n.builder().getI1Type()),
        std::vector<int64_t>(size_t(type.getNumElements()), 0)).toAttr());
  n.setOutput(0, found);
  return success(!n.failed());
}

/// EyeLike: a constant of input 0's 2-D shape, ones on the k-th diagonal
/// (above the main one for k > 0), of type `dtype` or the input's.
LogicalResult convertEyeLike(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  int64_t k = n.attrInt("k", 0);
  Type element = type.getElementType();
  if (n.hasAttr("dtype")) {
    int64_t dtype = n.attrInt("dtype", 0);
    element = elementTypeFor(int(dtype), n.context());
    if (!element)
      return n.error() << "attribute 'dtype' is " << dtype
                       << ", an element type kiln does not support";
  }
  if (n.failed())
    return failure();
  if (type.getRank() != 2)
    return n.error() << "input of shape " << graph::formatShape(type.getShape())
                     << " is not 2-D";
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  auto result = RankedTensorType::get({rows, cols}, element);
  std::vector<double> values(size_t(rows * cols), 0.0);
  for (int64_t i = 0; i < rows; ++i)
    if (i + k >= 0 && i + k < cols)
      values[size_t(i * cols + i + k)] = 1.0;
  n.setFolded(0, HostTensor::ofDoubles(result, std::move(values)));
  return success(!n.failed());
}

/// HannWindow, HammingWindow and BlackmanWindow: constants of a known
/// size, a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N) with N the size
/// (periodic, the default) or the size - 1 (symmetric).
LogicalResult convertWindow(NodeImporter &n, double a0, double a1,
                            double a2) {
  int64_t periodic = n.attrInt("periodic", 1);
  int64_t dtype = n.attrInt("output_datatype", 1);
  if (n.failed())
    return failure();
  Type element = elementTypeFor(int(dtype), n.context());
  if (!element)
    return n.error() << "attribute 'output_datatype' is " << dtype
                     << ", an element type kiln does not support";
  std::optional<HostTensor> size = constantScalar(n, 0, "size");
  if (!size)
    return failure();
  int64_t count = size->intAt(0);
  if (count < 0)
    return n.error() << "size is " << count << "; it must not be negative";
  double N = double(periodic ? count : count - 1);
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    double x = N > 0 ? 2 * M_PI * double(i) / N : 0;
    values[size_t(i)] = a0 - a1 * std::cos(x) + a2 * std::cos(2 * x);
  }
  n.setFolded(0, HostTensor::ofDoubles(RankedTensorType::get({count}, element),
                                       std::move(values)));
  return success(!n.failed());
}

LogicalResult convertHannWindow(NodeImporter &n) {
  return convertWindow(n, 0.5, 0.5, 0);
}

LogicalResult convertHammingWindow(NodeImporter &n) {
  return convertWindow(n, 25.0 / 46, 1 - 25.0 / 46, 0);
}

LogicalResult convertBlackmanWindow(NodeImporter &n) {
  return convertWindow(n, 0.42, 0.5, 0.08);
}

/// LRN: x / (bias + alpha / size * s)^beta, s the sum of squares over the
/// `size` channels around each one (zeros past the ends): the squares
/// padded along the channels and `size` shifted slices added.
LogicalResult convertLRN(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1e-4f), beta = n.attrFloat("beta", 0.75f);
  float bias = n.attrFloat("bias", 1.0f);
  int64_t size = n.attrInt("size", 0);
  RankedTensorType type = n.inputType(0);
  if (!n.hasAttr("size")) {
    n.missingAttr("size");
    return failure();
  }
  if (n.failed())
    return failure();
  if (size < 1)
    return n.error() << "attribute 'size' is " << size
                     << "; it must be at least 1";
  if (!spatialAxes(n, type))
    return failure();
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = type.getElementType();
  int64_t C = type.getDimSize(1), before = (size - 1) / 2,
          after = size - 1 - before;
  Value squares = n.create<graph::MulOp>(x, x);
  Value padded = padAlong(n, squares, 1, before, after);
  Value sum;
  for (int64_t k = 0; k < size; ++k) {
    Value shifted = sliceAlong(n, padded, 1, k, C);
    sum = sum ? n.create<graph::AddOp>(sum, shifted) : shifted;
  }
  Value scale = n.create<graph::AddOp>(
      scalarConstant(n, t, bias),
      n.create<graph::MulOp>(scalarConstant(n, t, double(alpha) / double(size)),
                             sum));
  n.setOutput(0, n.create<graph::DivOp>(
                     x, n.create<graph::PowOp>(scale, scalarConstant(n, t, beta))));
  return success(!n.failed());
}

LogicalResult convertHardSigmoid(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 0.2f), beta = n.attrFloat("beta", 0.5f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(
      0, n.create<graph::HardSigmoidOp>(x, n.builder().getF32FloatAttr(alpha),
                                        n.builder().getF32FloatAttr(beta)));
  return success(!n.failed());
}

LogicalResult convertLeakyRelu(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 0.01f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(
      0, n.create<graph::LeakyReluOp>(x, n.builder().getF32FloatAttr(alpha)));
  return success(!n.failed());
}

/// Einsum's equation, parsed: each operand's labels and the result's, one
/// per dimension. Letters are their character; the dimensions an ellipsis
/// stands for are labels kEllipsis + k, k counted from the right, so that
/// operands' ellipses line up as broadcasting does.
struct EinsumEquation {
  static constexpr int kEllipsis = 1000;
  SmallVector<SmallVector<int>, 2> inputs;
  SmallVector<int> output;
};

/// Parses `equation` for operands of `ranks`; an error on `n` otherwise.
FailureOr<EinsumEquation> parseEinsum(NodeImporter &n, StringRef equation,
                                      ArrayRef<int64_t> ranks) {
  std::string text;
  for (char c : equation)
    if (c != ' ')
      text += c;
  StringRef all(text), lhs = all, rhs;
  bool explicitOutput = false;
  if (size_t arrow = all.find("->"); arrow != StringRef::npos) {
    lhs = all.take_front(arrow);
    rhs = all.drop_front(arrow + 2);
    explicitOutput = true;
  }
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != ranks.size())
    return n.error() << "equation '" << equation << "' has " << terms.size()
                     << " operand terms for " << ranks.size() << " inputs";
  EinsumEquation eq;
  int64_t ellipsisRank = 0;
  // A term's labels; `rank` < 0: the result's (its ellipsis is the
  // widest of the operands').
  auto parseTerm = [&](StringRef term, int64_t rank,
                       SmallVector<int> &labels) -> LogicalResult {
    size_t dots = term.find("...");
    StringRef before = term, after;
    if (dots != StringRef::npos) {
      before = term.take_front(dots);
      after = term.drop_front(dots + 3);
    }
    for (StringRef part : {before, after})
      for (char c : part)
        if (!std::isalpha(static_cast<unsigned char>(c)))
          return n.error() << "equation '" << equation
                           << "' has the character '" << c
                           << "' in a term; labels are letters, and '...'";
    int64_t letters = int64_t(before.size() + after.size());
    int64_t ellipsis = 0;
    if (dots != StringRef::npos)
      ellipsis = rank < 0 ? ellipsisRank : rank - letters;
    if (rank >= 0 && (ellipsis < 0 ||
                      (dots == StringRef::npos && letters != rank)))
      return n.error() << "equation term '" << term << "' has " << letters
                       << " labels for an input of rank " << rank;
    for (char c : before)
      labels.push_back(c);
    for (int64_t k = ellipsis - 1; k >= 0; --k)
      labels.push_back(EinsumEquation::kEllipsis + int(k));
    for (char c : after)
      labels.push_back(c);
    if (rank >= 0)
      ellipsisRank = std::max(ellipsisRank, ellipsis);
    return success();
  };
  for (auto [term, rank] : llvm::zip(terms, ranks)) {
    eq.inputs.emplace_back();
    if (failed(parseTerm(term, rank, eq.inputs.back())))
      return failure();
    // (A label twice in one operand takes a diagonal: convertEinsum.)
  }
  if (explicitOutput) {
    if (failed(parseTerm(rhs, -1, eq.output)))
      return failure();
    for (int label : eq.output) {
      if (llvm::count(eq.output, label) != 1)
        return n.error() << "equation '" << equation
                         << "' repeats a label in its result";
      if (llvm::none_of(eq.inputs, [&](ArrayRef<int> in) {
            return llvm::is_contained(in, label);
          }))
        return n.error() << "equation '" << equation << "' has the label '"
                         << char(label) << "' in its result only";
    }
  } else {
    // Implicit: the ellipsis, then the letters that appear once, in
    // alphabetical order.
    for (int64_t k = ellipsisRank - 1; k >= 0; --k)
      eq.output.push_back(EinsumEquation::kEllipsis + int(k));
    std::map<int, int> counts;
    for (ArrayRef<int> in : eq.inputs)
      for (int label : in)
        if (label < EinsumEquation::kEllipsis)
          ++counts[label];
    for (auto [label, count] : counts)
      if (count == 1)
        eq.output.push_back(label);
  }
  return eq;
}

/// Einsum: the operands multiplied left to right, each product batched over
/// the labels both factors have and the result or a later operand needs,
/// reducing the labels both have and nothing later needs, with each
/// factor's own labels as its rows and columns (transposes and reshapes
/// around one kiln.matmul); labels that only one factor has and nothing
/// later needs are summed first. One operand: sums and a transpose. The
/// result is transposed to the equation's order. Graph ops only, so Einsum
/// trains through their gradients. A label twice in one operand takes its
/// diagonal first. Not supported: dimensions that differ where a label
/// repeats (no broadcasting of size-1 ellipsis dimensions).
LogicalResult convertEinsum(NodeImporter &n) {
  std::string equation = n.attrString("equation", "");
  int inputs = n.node().input_size();
  if (inputs < 1)
    return n.error() << "has no inputs";
  SmallVector<Value, 2> values;
  SmallVector<RankedTensorType, 2> types;
  SmallVector<int64_t, 2> ranks;
  for (int i = 0; i < inputs; ++i) {
    values.push_back(n.input(i));
    types.push_back(n.inputType(i));
  }
  if (n.failed())
    return failure();
  for (RankedTensorType t : types) {
    if (!t.hasStaticShape())
      return n.error() << "has an input of dynamic shape " << t
                       << "; Einsum needs static ones";
    ranks.push_back(t.getRank());
  }
  FailureOr<EinsumEquation> parsed = parseEinsum(n, equation, ranks);
  if (failed(parsed))
    return failure();
  EinsumEquation &eq = *parsed;
  // Each label's size, the same wherever it appears.
  std::map<int, int64_t> sizes;
  auto labelName = [](int label) {
    return label >= EinsumEquation::kEllipsis
               ? std::string("an ellipsis dimension")
               : "'" + std::string(1, char(label)) + "'";
  };
  for (int i = 0; i < inputs; ++i)
    for (auto [d, label] : llvm::enumerate(eq.inputs[i])) {
      int64_t size = types[i].getDimSize(d);
      auto [it, inserted] = sizes.try_emplace(label, size);
      if (!inserted && it->second != size)
        return n.error() << "label " << labelName(label) << " is "
                         << it->second << " in one place and " << size
                         << " in another";
    }
  OpBuilder &b = n.builder();
  // A label twice in one operand: its diagonal, the operand times the
  // identity over the two axes, summed over the second (so that it trains
  // through a product and a sum), until no label repeats.
  for (int i = 0; i < inputs; ++i) {
    SmallVector<int> &labels = eq.inputs[i];
    for (size_t p = 0; p < labels.size(); ++p) {
      for (size_t q = p + 1; q < labels.size(); ++q) {
        if (labels[q] != labels[p])
          continue;
        int64_t size = sizes[labels[p]];
        SmallVector<int64_t> shape(labels.size(), 1);
        shape[p] = shape[q] = size;
        std::vector<double> eye(size_t(size * size), 0.0);
        for (int64_t k = 0; k < size; ++k)
          eye[size_t(k * size + k)] = 1;
        Value mask = n.create<graph::ConstantOp>(
            HostTensor::ofDoubles(
                RankedTensorType::get(shape, types[i].getElementType()),
                std::move(eye))
                .toAttr());
        values[i] = n.create<graph::ReduceSumOp>(
            n.create<graph::MulOp>(values[i], mask),
            b.getDenseI64ArrayAttr({int64_t(q)}), b.getBoolAttr(false));
        if (!values[i])
          return failure();
        labels.erase(labels.begin() + q);
        --q;
      }
    }
  }
  // `value` (labels `labels`) with the labels not in `keep` summed away.
  auto sumAway = [&](Value &value, SmallVector<int> &labels,
                     ArrayRef<int> keep) {
    SmallVector<int64_t> axes;
    SmallVector<int> kept;
    for (auto [d, label] : llvm::enumerate(labels))
      if (llvm::is_contained(keep, label))
        kept.push_back(label);
      else
        axes.push_back(int64_t(d));
    if (axes.empty())
      return;
    value = n.create<graph::ReduceSumOp>(value, b.getDenseI64ArrayAttr(axes),
                                         b.getBoolAttr(false));
    labels = kept;
  };
  // `value` with labels `from` transposed to the order `to` (a permutation
  // of them).
  auto permuted = [&](Value value, ArrayRef<int> from,
                      ArrayRef<int> to) -> Value {
    SmallVector<int64_t> perm;
    for (int label : to)
      perm.push_back(llvm::find(from, label) - from.begin());
    if (llvm::equal(perm, llvm::seq<int64_t>(0, int64_t(perm.size()))))
      return value;
    return n.create<graph::TransposeOp>(value, b.getDenseI64ArrayAttr(perm));
  };
  auto product = [&](ArrayRef<int> labels) {
    int64_t p = 1;
    for (int label : labels)
      p *= sizes[label];
    return p;
  };
  auto shapeOf = [&](ArrayRef<int> labels) {
    SmallVector<int64_t> shape;
    for (int label : labels)
      shape.push_back(sizes[label]);
    return shape;
  };
  // x (labels lx) times y (ly), keeping the labels in `keep`: the batched
  // product [batch, rows, contracted] x [batch, contracted, columns], its
  // labels [batch, rows, columns].
  auto contract = [&](Value x, SmallVector<int> lx, Value y,
                      SmallVector<int> ly, ArrayRef<int> keep,
                      SmallVector<int> &labels) -> Value {
    SmallVector<int> keepX(keep), keepY(keep);
    keepX.append(ly.begin(), ly.end());
    keepY.append(lx.begin(), lx.end());
    sumAway(x, lx, keepX);
    sumAway(y, ly, keepY);
    SmallVector<int> batch, contracted, rows, columns;
    for (int label : lx)
      if (llvm::is_contained(ly, label))
        (llvm::is_contained(keep, label) ? batch : contracted).push_back(label);
      else
        rows.push_back(label);
    for (int label : ly)
      if (!llvm::is_contained(lx, label))
        columns.push_back(label);
    SmallVector<int> xOrder(batch), yOrder(batch);
    xOrder.append(rows.begin(), rows.end());
    xOrder.append(contracted.begin(), contracted.end());
    yOrder.append(contracted.begin(), contracted.end());
    yOrder.append(columns.begin(), columns.end());
    int64_t m = product(rows), k = product(contracted),
            cols = product(columns);
    SmallVector<int64_t> xShape = {m, k}, yShape = {k, cols};
    if (!batch.empty()) {
      xShape.insert(xShape.begin(), product(batch));
      yShape.insert(yShape.begin(), product(batch));
    }
    Value lhs = reshape(n, permuted(x, lx, xOrder), xShape);
    Value rhs = reshape(n, permuted(y, ly, yOrder), yShape);
    if (n.failed())
      return Value();
    Value mul = n.create<graph::MatMulOp>(lhs, rhs);
    labels = batch;
    labels.append(rows.begin(), rows.end());
    labels.append(columns.begin(), columns.end());
    return n.failed() ? Value() : reshape(n, mul, shapeOf(labels));
  };
  // Left to right, each product keeping the labels of the result and of the
  // operands still to come.
  Value result = values[0];
  SmallVector<int> labels = eq.inputs[0];
  if (inputs == 1)
    sumAway(result, labels, eq.output);
  for (int i = 1; i < inputs && !n.failed(); ++i) {
    SmallVector<int> keep(eq.output);
    for (int j = i + 1; j < inputs; ++j)
      keep.append(eq.inputs[j].begin(), eq.inputs[j].end());
    SmallVector<int> next;
    result = contract(result, labels, values[i], eq.inputs[i], keep, next);
    labels = next;
  }
  if (n.failed())
    return failure();
  n.setOutput(0, permuted(result, labels, eq.output));
  return success(!n.failed());
}

/// Elu: x where x > 0, alpha * (exp(x) - 1) elsewhere; composed of graph
/// ops (as are Celu, Selu, Softplus, Softsign and ThresholdedRelu).
LogicalResult convertElu(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1.0f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(0, eluOf(n, x, alpha));
  return success(!n.failed());
}

/// Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
LogicalResult convertCelu(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1.0f);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  Type t = cast<RankedTensorType>(x.getType()).getElementType();
  Value zero = scalarConstant(n, t, 0), a = scalarConstant(n, t, alpha);
  Value curve = n.create<graph::MulOp>(
      a, n.create<graph::SubOp>(
             n.create<graph::ExpOp>(n.create<graph::DivOp>(x, a)),
             scalarConstant(n, t, 1)));
  n.setOutput(0, n.create<graph::AddOp>(n.create<graph::MaxOp>(x, zero),
                                        n.create<graph::MinOp>(curve, zero)));
  return success(!n.failed());
}

LogicalResult convertGelu(NodeImporter &n) {
  std::string approximate = n.attrString("approximate", "none");
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(
      0, n.create<graph::GeluOp>(x, n.builder().getStringAttr(approximate)));
  return success(!n.failed());
}

LogicalResult convertClip(NodeImporter &n) {
  // Opsets before 11 hold the bounds as attributes, later ones as optional
  // inputs; an absent bound does not apply.
  std::optional<double> bounds[2];
  if (n.opset() < 11) {
    if (n.hasAttr("min"))
      bounds[0] = n.attrFloat("min", 0);
    if (n.hasAttr("max"))
      bounds[1] = n.attrFloat("max", 0);
  } else {
    for (int i = 0; i < 2; ++i) {
      if (!n.hasInput(i + 1))
        continue;
      auto value = constantScalar(n, i + 1, i ? "max" : "min");
      if (!value)
        return failure();
      bounds[i] = value->doubleAt(0);
    }
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  auto attr = [&](std::optional<double> v) {
    return v ? b.getF64FloatAttr(*v) : FloatAttr();
  };
  n.setOutput(0, n.create<graph::ClipOp>(x, attr(bounds[0]), attr(bounds[1])));
  return success(!n.failed());
}

LogicalResult castTo(NodeImporter &n, Type element) {
  if (const HostTensor *x = n.folded(0)) {
    n.setFolded(0, x->cast(element));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  if (cast<RankedTensorType>(x.getType()).getElementType() == element)
    n.setOutput(0, x);
  else
    n.setOutput(0, n.create<graph::CastOp>(x, TypeAttr::get(element)));
  return success(!n.failed());
}

LogicalResult convertCast(NodeImporter &n) {
  if (!n.hasAttr("to"))
    return n.missingAttr("to"), failure();
  int64_t to = n.attrInt("to", 0);
  Type element = elementTypeFor(static_cast<int32_t>(to), n.context());
  if (n.failed())
    return failure();
  if (!element)
    return n.error() << "cannot cast to " << dataTypeName(to)
                     << ", which kiln does not support";
  return castTo(n, element);
}

LogicalResult convertCastLike(NodeImporter &n) {
  Type element = n.inputType(1).getElementType();
  if (n.failed())
    return failure();
  return castTo(n, element);
}

LogicalResult convertIdentity(NodeImporter &n) {
  if (const HostTensor *x = n.folded(0)) {
    n.setFolded(0, *x);
    return success();
  }
  n.setOutput(0, n.input(0));
  return success(!n.failed());
}

LogicalResult convertDropout(NodeImporter &n) {
  // Opsets 12+ say whether to train (input 2, default false) and the ratio
  // (input 1, default 0.5); earlier opsets have no training flag, and kiln
  // reads them with inference semantics: the identity.
  bool training = false;
  double ratio = 0.5;
  if (n.opset() >= 12) {
    if (n.hasInput(2)) {
      auto mode = constantScalar(n, 2, "training_mode");
      if (!mode)
        return failure();
      training = mode->intAt(0) != 0;
    }
    if (n.hasInput(1)) {
      auto value = constantScalar(n, 1, "ratio");
      if (!value)
        return failure();
      ratio = value->doubleAt(0);
    }
  }
  if (!training || ratio == 0.0) {
    // Nothing is dropped: the mask, where asked for, is all true.
    if (n.outputUsed(1)) {
      RankedTensorType type = n.inputType(0);
      if (n.failed())
        return failure();
      Value one = n.create<graph::ConstantOp>(DenseElementsAttr::get(
          RankedTensorType::get({}, n.builder().getI1Type()), true));
      n.setOutput(
          1, type.getRank() == 0
                 ? one
                 : n.create<graph::BroadcastToOp>(
                       one, n.builder().getDenseI64ArrayAttr(type.getShape())));
    }
    return convertIdentity(n);
  }
  if (n.outputUsed(1))
    return n.error() << "the mask output (output 1) of training-mode dropout "
                        "is not supported";
  Value x = n.input(0);
  if (n.failed())
    return failure();
  n.setOutput(
      0, n.create<graph::DropoutOp>(x, n.builder().getF64FloatAttr(ratio)));
  return success(!n.failed());
}

LogicalResult convertCumSum(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  bool exclusive = n.attrInt("exclusive", 0) != 0;
  bool reverse = n.attrInt("reverse", 0) != 0;
  auto given = constantScalar(n, 1, "axis");
  if (!given || n.failed())
    return failure();
  auto axis = normalizeAxisAt(n, given->intAt(0), type.getRank(), "axis");
  if (!axis)
    return failure();
  if (const HostTensor *x = n.folded(0)) {
    // Walk each line along `axis`, forwards or backwards, keeping the sum
    // (ints exactly, floats in double).
    ArrayRef<int64_t> shape = type.getShape();
    int64_t size = shape[*axis], stride = stridesOf(shape)[*axis];
    std::vector<double> doubles(x->size());
    std::vector<int64_t> ints(x->size());
    for (int64_t base = 0; base < x->size(); ++base) {
      if ((base / stride) % size != 0)
        continue; // Not the start of a line.
      double fsum = 0;
      int64_t isum = 0;
      for (int64_t j = 0; j < size; ++j) {
        int64_t at = base + (reverse ? size - 1 - j : j) * stride;
        if (!exclusive) {
          fsum += x->doubleAt(at);
          isum += x->intAt(at);
        }
        doubles[at] = fsum;
        ints[at] = isum;
        if (exclusive) {
          fsum += x->doubleAt(at);
          isum += x->intAt(at);
        }
      }
    }
    n.setFolded(0, x->isFloat()
                       ? HostTensor::ofDoubles(type, std::move(doubles))
                       : HostTensor::ofInts(type, std::move(ints)));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  n.setOutput(0, n.create<graph::CumSumOp>(x, b.getI64IntegerAttr(*axis),
                                           b.getBoolAttr(exclusive),
                                           b.getBoolAttr(reverse)));
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

LogicalResult convertConstant(NodeImporter &n) {
  OpBuilder &b = n.builder();
  if (const proto::TensorProto *tensor = n.attrTensor("value")) {
    auto value = n.tensorValue(*tensor);
    if (!value)
      return failure();
    n.setFolded(0, std::move(*value));
    return success();
  }
  if (n.hasAttr("value_float")) {
    n.setFolded(0,
                HostTensor::ofDoubles(RankedTensorType::get({}, b.getF32Type()),
                                      {n.attrFloat("value_float", 0)}));
  } else if (n.hasAttr("value_floats")) {
    std::vector<float> v = n.attrFloats("value_floats");
    n.setFolded(0,
                HostTensor::ofDoubles(
                    RankedTensorType::get({(int64_t)v.size()}, b.getF32Type()),
                    std::vector<double>(v.begin(), v.end())));
  } else if (n.hasAttr("value_int")) {
    n.setFolded(0, HostTensor::ofInts(RankedTensorType::get({}, b.getI64Type()),
                                      {n.attrInt("value_int", 0)}));
  } else if (n.hasAttr("value_ints")) {
    std::vector<int64_t> v = n.attrInts("value_ints");
    n.setFolded(
        0, HostTensor::ofInts(
               RankedTensorType::get({(int64_t)v.size()}, b.getI64Type()), v));
  } else if (n.hasAttr("sparse_value") || n.hasAttr("value_string") ||
             n.hasAttr("value_strings")) {
    return n.error() << "sparse and string constants are not supported";
  } else {
    return n.error() << "has none of the attributes value, value_float, "
                        "value_floats, value_int, value_ints";
  }
  return success(!n.failed());
}

LogicalResult convertConstantOfShape(NodeImporter &n) {
  auto shape = n.constantInts(0, "shape");
  if (!shape)
    return failure();
  std::optional<int64_t> count = checkedElementCount(*shape);
  if (!count)
    return n.error() << "shape ["
                     << llvm::make_range(shape->begin(), shape->end())
                     << "] has a negative size or too many elements";
  HostTensor value = HostTensor::ofDoubles(
      RankedTensorType::get({}, n.builder().getF32Type()), {0.0});
  if (const proto::TensorProto *tensor = n.attrTensor("value")) {
    auto given = n.tensorValue(*tensor);
    if (!given)
      return failure();
    if (given->size() != 1)
      return n.error() << "attribute 'value' must hold one element, got "
                       << given->size();
    value = *given;
  }
  auto type = RankedTensorType::get(*shape, value.type().getElementType());
  if (*count <= kMaxFoldedElements) {
    n.setFolded(0, value.remap(type, [](int64_t) { return 0; }));
    return success(!n.failed());
  }
  // Too large to compute here: fill it at run time.
  Value scalar = n.create<graph::ConstantOp>(value.reshape({}).toAttr());
  n.setOutput(0, n.create<graph::BroadcastToOp>(
                     scalar, n.builder().getDenseI64ArrayAttr(*shape)));
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Shape and data movement
//===----------------------------------------------------------------------===//

LogicalResult convertConcatFromSequence(NodeImporter &n) {
  if (!n.hasAttr("axis"))
    return n.missingAttr("axis"), failure();
  auto elements = n.sequenceInput(0);
  bool newAxis = n.attrInt("new_axis", 0) != 0;
  if (!elements || n.failed())
    return failure();
  if (elements->empty())
    return n.error() << "concatenates an empty sequence, of a shape kiln "
                        "cannot know";
  auto first = cast<RankedTensorType>(elements->front().getType());
  // With new_axis the tensors are stacked: the axis may be one past the
  // last.
  auto axis = normalizeAxisAt(n, n.attrInt("axis", 0),
                              first.getRank() + (newAxis ? 1 : 0), "axis");
  if (!axis)
    return failure();
  for (auto [i, element] : llvm::enumerate(*elements))
    if (newAxis && element.getType() != first)
      return n.error() << "element " << i << " is " << element.getType()
                       << ", element 0 " << first
                       << "; stacking (new_axis) needs one type";
  n.setOutput(0, concatAlong(n, *elements, *axis, newAxis));
  return success(!n.failed());
}

LogicalResult convertConcat(NodeImporter &n) {
  if (!n.hasAttr("axis"))
    return n.missingAttr("axis"), failure();
  int64_t count = n.node().input_size();
  if (count == 0)
    return n.error() << "needs at least one input";
  RankedTensorType first = n.inputType(0);
  auto axis = normalizeAxisAt(n, n.attrInt("axis", 0), first.getRank(), "axis");
  if (!axis)
    return failure();
  // Fold when every input is known (shape vectors built by Concat).
  std::vector<const HostTensor *> known;
  for (int64_t i = 0; i < count; ++i)
    known.push_back(n.folded(i));
  if (llvm::all_of(known, [](const HostTensor *t) { return t != nullptr; })) {
    SmallVector<int64_t> shape(first.getShape());
    shape[*axis] = 0;
    for (auto [i, t] : llvm::enumerate(known)) {
      if (t->type().getRank() != first.getRank() ||
          t->type().getElementType() != first.getElementType())
        return n.error() << "inputs must have the same rank and element type";
      for (int64_t d = 0; d < first.getRank(); ++d)
        if (d != *axis && t->shape()[d] != first.getDimSize(d))
          return n.error() << "input " << i << " dimension " << d << " is "
                           << t->shape()[d] << " but input 0's is "
                           << first.getDimSize(d)
                           << " (only the axis dimension may differ)";
      shape[*axis] += t->shape()[*axis];
    }
    // Concatenate along `axis`: outer blocks of each input in turn.
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d)
      outer *= shape[d];
    std::vector<double> doubles;
    std::vector<int64_t> ints;
    for (int64_t o = 0; o < outer; ++o) {
      for (const HostTensor *t : known) {
        int64_t block = t->size() / std::max<int64_t>(outer, 1);
        for (int64_t j = 0; j < block; ++j) {
          if (t->isFloat())
            doubles.push_back(t->doubleAt(o * block + j));
          else
            ints.push_back(t->intAt(o * block + j));
        }
      }
    }
    auto type = first.clone(shape);
    n.setFolded(0, isa<FloatType>(first.getElementType())
                       ? HostTensor::ofDoubles(type, std::move(doubles))
                       : HostTensor::ofInts(type, std::move(ints)));
    return success();
  }
  SmallVector<Value> inputs;
  for (int64_t i = 0; i < count; ++i)
    inputs.push_back(n.input(i));
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::ConcatOp>(
                     inputs, n.builder().getI64IntegerAttr(*axis)));
  return success(!n.failed());
}

LogicalResult convertExpand(NodeImporter &n) {
  auto target = n.constantInts(1, "shape");
  RankedTensorType type = n.inputType(0);
  if (!target || n.failed())
    return failure();
  if (!checkedElementCount(*target))
    return n.error() << "shape ["
                     << llvm::make_range(target->begin(), target->end())
                     << "] has a negative size or too many elements";
  // Expand broadcasts both ways: the result is the broadcast of the input's
  // shape and the given one.
  auto shape = graph::broadcastShapes(type.getShape(), *target, errorAt(n),
                                      "input", "shape");
  if (failed(shape))
    return failure();
  const HostTensor *known = n.folded(0);
  if (known && *checkedElementCount(*shape) <= kMaxFoldedElements) {
    auto resultType = type.clone(*shape);
    n.setFolded(0, known->remap(resultType, [&](int64_t i) {
      return broadcastSource(i, *shape, type.getShape());
    }));
    return success();
  }
  Value x = n.input(0);
  if (n.failed())
    return failure();
  if (ArrayRef<int64_t>(*shape) == type.getShape())
    n.setOutput(0, x);
  else
    n.setOutput(0, n.create<graph::BroadcastToOp>(
                       x, n.builder().getDenseI64ArrayAttr(*shape)));
  return success(!n.failed());
}

LogicalResult convertFlatten(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  int64_t rank = type.getRank(), axis = n.attrInt("axis", 1);
  if (n.failed())
    return failure();
  // Flatten's axis may equal the rank (everything in the first dimension).
  if (axis < -rank || axis > rank)
    return n.error() << "axis " << axis << " is out of range for rank " << rank
                     << " (expected " << -rank << " to " << rank << ")";
  if (axis < 0)
    axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d)
    (d < axis ? outer : inner) *= type.getDimSize(d);
  return setReshaped(n, {outer, inner});
}

LogicalResult convertGather(NodeImporter &n) {
  RankedTensorType dataType = n.inputType(0), indicesType = n.inputType(1);
  if (n.failed())
    return failure();
  auto axis =
      normalizeAxisAt(n, n.attrInt("axis", 0), dataType.getRank(), "axis");
  if (!axis)
    return failure();
  const HostTensor *data = n.folded(0), *indices = n.folded(1);
  if (data && indices) {
    // Gather on known values: picking sizes out of a Shape, mostly.
    int64_t size = dataType.getDimSize(*axis);
    std::vector<int64_t> idx = indices->ints();
    for (int64_t &i : idx) {
      if (i < -size || i >= size)
        return n.error() << "index " << i << " is out of range for axis "
                         << *axis << " of size " << size;
      if (i < 0)
        i += size;
    }
    SmallVector<int64_t> shape(dataType.getShape().take_front(*axis));
    llvm::append_range(shape, indicesType.getShape());
    llvm::append_range(shape, dataType.getShape().drop_front(*axis + 1));
    int64_t inner = 1;
    for (int64_t d = *axis + 1; d < dataType.getRank(); ++d)
      inner *= dataType.getDimSize(d);
    int64_t count = static_cast<int64_t>(idx.size());
    n.setFolded(0, data->remap(dataType.clone(shape), [&](int64_t i) {
      int64_t in = i % inner, rest = i / inner;
      int64_t which = rest % std::max<int64_t>(count, 1);
      int64_t out = rest / std::max<int64_t>(count, 1);
      return (out * size + idx[which]) * inner + in;
    }));
    return success();
  }
  Value dataValue = n.input(0), indexValue = n.input(1);
  if (n.failed())
    return failure();
  n.setOutput(0,
              n.create<graph::GatherOp>(dataValue, indexValue,
                                        n.builder().getI64IntegerAttr(*axis)));
  return success(!n.failed());
}

LogicalResult convertGatherND(NodeImporter &n) {
  int64_t batchDims = n.attrInt("batch_dims", 0);
  Value data = n.input(0), indices = n.input(1);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::GatherNdOp>(
                     data, indices, n.builder().getI64IntegerAttr(batchDims)));
  return success(!n.failed());
}

LogicalResult convertGatherElements(NodeImporter &n) {
  int64_t axis = n.attrInt("axis", 0);
  Value data = n.input(0), indices = n.input(1);
  if (n.failed())
    return failure();
  n.setOutput(0, n.create<graph::GatherElementsOp>(
                     data, indices, n.builder().getI64IntegerAttr(axis)));
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Contractions, convolution, pooling
//===----------------------------------------------------------------------===//

LogicalResult convertGemm(NodeImporter &n) {
  float alpha = n.attrFloat("alpha", 1.0f), beta = n.attrFloat("beta", 1.0f);
  bool transA = n.attrInt("transA", 0), transB = n.attrInt("transB", 0);
  Value a = n.input(0), b = n.input(1);
  Value c = n.hasInput(2) ? n.input(2) : Value();
  if (n.failed())
    return failure();
  OpBuilder &builder = n.builder();
  n.setOutput(0, n.create<graph::GemmOp>(
                     a, b, c, builder.getF32FloatAttr(alpha),
                     builder.getF32FloatAttr(beta), builder.getBoolAttr(transA),
                     builder.getBoolAttr(transB)));
  return success(!n.failed());
}

/// DepthToSpace (and SpaceToDepth, ConvertMtoZ): a reshape, a transpose and
/// a reshape, so it trains through their gradients. The channels read as
/// [b, b, C'] (DCR, the default) or [C', b, b] (CRD), moved to [N, C', H, b,
/// W, b].
LogicalResult convertDepthToSpace(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  std::string mode = n.attrString("mode", "DCR");
  if (n.failed())
    return failure();
  std::optional<int64_t> block = blockSize(n, type);
  if (!block)
    return failure();
  int64_t b = *block;
  if (mode != "DCR" && mode != "CRD")
    return n.error() << "mode '" << mode << "' is not DCR or CRD";
  auto shape = type.getShape();
  int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
  if (C % (b * b) != 0)
    return n.error() << "channels " << C << " are not a multiple of blocksize "
                     << b << " squared";
  int64_t c = C / (b * b);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  bool dcr = mode == "DCR";
  Value split = reshape(n, x,
                        dcr ? SmallVector<int64_t>{N, b, b, c, H, W}
                            : SmallVector<int64_t>{N, c, b, b, H, W});
  SmallVector<int64_t> perm = dcr ? SmallVector<int64_t>{0, 3, 4, 1, 5, 2}
                                  : SmallVector<int64_t>{0, 1, 4, 2, 5, 3};
  Value moved = n.create<graph::TransposeOp>(
      split, n.builder().getDenseI64ArrayAttr(perm));
  n.setOutput(0, reshape(n, moved, {N, c, H * b, W * b}));
  return success(!n.failed());
}

/// The kernel's spatial sizes of Conv or ConvTranspose (input 0 N x C x
/// spatial, input 1 the weight, laid out as `layout` says), checked against
/// the kernel_shape attribute; none, with an error, when they do not fit.
std::optional<std::vector<int64_t>> convKernel(NodeImporter &n,
                                               RankedTensorType xType,
                                               RankedTensorType wType,
                                               StringRef layout) {
  if (xType.getRank() < 3 || wType.getRank() != xType.getRank()) {
    n.error() << "input of shape " << graph::formatShape(xType.getShape())
              << " and weight of shape " << graph::formatShape(wType.getShape())
              << " are not N x C x spatial and " << layout;
    return std::nullopt;
  }
  std::vector<int64_t> kernel(wType.getShape().begin() + 2,
                              wType.getShape().end());
  if (n.hasAttr("kernel_shape") && n.attrInts("kernel_shape") != kernel) {
    n.error() << "attribute 'kernel_shape' does not match the weight's "
                 "spatial sizes "
              << graph::formatShape(kernel);
    return std::nullopt;
  }
  return kernel;
}

LogicalResult convertConv(NodeImporter &n) {
  RankedTensorType xType = n.inputType(0), wType = n.inputType(1);
  if (n.failed())
    return failure();
  auto found = convKernel(n, xType, wType, "M x C/group x kernel");
  if (!found)
    return failure();
  std::vector<int64_t> kernel = *found;
  int64_t spatial = xType.getRank() - 2;
  std::vector<int64_t> ones(spatial, 1);
  std::vector<int64_t> strides = n.attrInts("strides", ones);
  std::vector<int64_t> dilations = n.attrInts("dilations", ones);
  int64_t group = n.attrInt("group", 1);
  if (n.failed())
    return failure();
  if ((int64_t)strides.size() != spatial ||
      (int64_t)dilations.size() != spatial)
    return n.error() << "attributes 'strides' and 'dilations' need " << spatial
                     << " entries each";
  auto pads =
      windowPads(n, xType.getShape().drop_front(2), kernel, strides, dilations);
  if (!pads)
    return failure();
  Value x = n.input(0), w = n.input(1);
  Value bias = n.hasInput(2) ? n.input(2) : Value();
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  n.setOutput(0, n.create<graph::ConvOp>(x, w, bias,
                                         b.getDenseI64ArrayAttr(strides),
                                         b.getDenseI64ArrayAttr(*pads),
                                         b.getDenseI64ArrayAttr(dilations),
                                         b.getI64IntegerAttr(group)));
  return success(!n.failed());
}

/// ConvTranspose: the gradient of a convolution with respect to its input,
/// taken of X (kiln.conv_backward_data): the forward convolution reads an
/// input shaped like the output, with the weight [C, M / group, k...] as
/// its own, and writes X's shape. Output size per spatial dimension:
/// stride * (in - 1) + output_padding + dilation * (k - 1) + 1 - pads.
/// Then the bias, per output channel.
LogicalResult convertConvTranspose(NodeImporter &n) {
  RankedTensorType xType = n.inputType(0), wType = n.inputType(1);
  if (n.failed())
    return failure();
  auto found = convKernel(n, xType, wType, "C x M/group x kernel");
  if (!found)
    return failure();
  std::vector<int64_t> kernel = *found;
  int64_t spatial = xType.getRank() - 2;
  std::vector<int64_t> ones(spatial, 1), zeros(spatial, 0),
      zeroPads(2 * spatial, 0);
  std::vector<int64_t> strides = n.attrInts("strides", ones);
  std::vector<int64_t> dilations = n.attrInts("dilations", ones);
  std::vector<int64_t> pads = n.attrInts("pads", zeroPads);
  std::vector<int64_t> extra = n.attrInts("output_padding", zeros);
  int64_t group = n.attrInt("group", 1);
  std::string autoPad = n.attrString("auto_pad", "NOTSET");
  if (n.failed())
    return failure();
  if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER" && autoPad != "VALID")
    return n.error() << "auto_pad '" << autoPad
                     << "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID";
  std::vector<int64_t> wanted = n.attrInts("output_shape");
  if (n.failed())
    return failure();
  if (!wanted.empty() && int64_t(wanted.size()) == spatial + 2)
    wanted.erase(wanted.begin(), wanted.begin() + 2); // N and C given too
  if (!wanted.empty() && int64_t(wanted.size()) != spatial)
    return n.error() << "attribute 'output_shape' has " << wanted.size()
                     << " entries; the input has " << spatial
                     << " spatial dimensions";
  if (int64_t(strides.size()) != spatial ||
      int64_t(dilations.size()) != spatial ||
      int64_t(extra.size()) != spatial || int64_t(pads.size()) != 2 * spatial)
    return n.error() << "attributes 'strides', 'dilations' and "
                        "'output_padding' need "
                     << spatial << " entries each and 'pads' " << 2 * spatial;
  if (group < 1 || xType.getDimSize(1) != wType.getDimSize(0) ||
      wType.getDimSize(0) % group != 0)
    return n.error() << "weight of shape "
                     << graph::formatShape(wType.getShape())
                     << " does not fit input channels " << xType.getDimSize(1)
                     << " in " << group << " group(s)";
  // An output_shape (or SAME auto_pad: the input's size times the stride)
  // sets the pads: the full output's size less the one wanted, split as
  // the spec says (the odd one at the end for SAME_UPPER, at the start
  // otherwise). A negative pad is output past the full one, which no input
  // reaches: zeros, added after the product.
  if (autoPad == "VALID")
    pads = zeroPads;
  if (wanted.empty() && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"))
    for (int64_t d = 0; d < spatial; ++d)
      wanted.push_back(xType.getDimSize(2 + d) * strides[d]);
  std::vector<int64_t> grow(2 * spatial, 0);
  if (!wanted.empty()) {
    for (int64_t d = 0; d < spatial; ++d) {
      int64_t full = strides[d] * (xType.getDimSize(2 + d) - 1) + extra[d] +
                     dilations[d] * (kernel[d] - 1) + 1;
      int64_t total = full - wanted[d];
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2); // floor
      pads[d] = autoPad == "SAME_UPPER" ? half : total - half;
      pads[d + spatial] = total - pads[d];
    }
    for (int64_t i = 0; i < 2 * spatial; ++i)
      if (pads[i] < 0) {
        grow[i] = -pads[i];
        pads[i] = 0;
      }
  }
  SmallVector<int64_t> outShape = {xType.getDimSize(0),
                                   wType.getDimSize(1) * group};
  for (int64_t d = 0; d < spatial; ++d) {
    if (extra[d] < 0 || extra[d] >= std::max(strides[d], dilations[d]))
      return n.error() << "output_padding " << extra[d]
                       << " must be below the stride or dilation";
    int64_t size = strides[d] * (xType.getDimSize(2 + d) - 1) + extra[d] +
                   dilations[d] * (kernel[d] - 1) + 1 - pads[d] -
                   pads[d + spatial];
    if (size < 1)
      return n.error() << "the output would have size " << size
                       << " in spatial dimension " << d;
    outShape.push_back(size);
  }
  Value x = n.input(0), w = n.input(1);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  Value y = n.create<graph::ConvBackwardDataOp>(
      x, w, b.getDenseI64ArrayAttr(outShape), b.getDenseI64ArrayAttr(strides),
      b.getDenseI64ArrayAttr(pads), b.getDenseI64ArrayAttr(dilations),
      b.getI64IntegerAttr(group));
  for (int64_t d = 0; d < spatial && y; ++d)
    y = padAlong(n, y, 2 + d, grow[d], grow[d + spatial]);
  if (n.hasInput(2)) {
    SmallVector<int64_t> perChannel(xType.getRank() - 1, 1);
    perChannel[0] = outShape[1];
    y = n.create<graph::AddOp>(y, reshape(n, n.input(2), perChannel));
  }
  n.setOutput(0, y);
  return success(!n.failed());
}

/// Reads the window attributes of MaxPool and AveragePool.
struct PoolWindow {
  std::vector<int64_t> kernel, strides, pads, dilations;
  bool ceilMode;
};

std::optional<PoolWindow> poolWindow(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return std::nullopt;
  auto spatialOrNone = spatialAxes(n, type);
  if (!spatialOrNone)
    return std::nullopt;
  int64_t spatial = *spatialOrNone;
  if (!n.hasAttr("kernel_shape")) {
    n.missingAttr("kernel_shape");
    return std::nullopt;
  }
  PoolWindow w;
  std::vector<int64_t> ones(spatial, 1);
  w.kernel = n.attrInts("kernel_shape");
  w.strides = n.attrInts("strides", ones);
  w.dilations = n.attrInts("dilations", ones);
  w.ceilMode = n.attrInt("ceil_mode", 0);
  if (n.failed())
    return std::nullopt;
  for (auto [name, values] :
       {std::pair("kernel_shape", &w.kernel), std::pair("strides", &w.strides),
        std::pair("dilations", &w.dilations)}) {
    if ((int64_t)values->size() != spatial) {
      n.error() << "attribute '" << name << "' has " << values->size()
                << " entries; " << spatial << " spatial dimensions need "
                << spatial;
      return std::nullopt;
    }
  }
  auto pads = windowPads(n, type.getShape().drop_front(2), w.kernel, w.strides,
                         w.dilations);
  if (!pads)
    return std::nullopt;
  w.pads = *pads;
  return w;
}

LogicalResult convertAveragePool(NodeImporter &n) {
  auto w = poolWindow(n);
  bool countIncludePad = n.attrInt("count_include_pad", 0);
  Value x = n.input(0);
  if (!w || n.failed())
    return failure();
  OpBuilder &b = n.builder();
  n.setOutput(0,
              n.create<graph::AvgPoolOp>(x, b.getDenseI64ArrayAttr(w->kernel),
                                         b.getDenseI64ArrayAttr(w->strides),
                                         b.getDenseI64ArrayAttr(w->pads),
                                         b.getDenseI64ArrayAttr(w->dilations),
                                         b.getBoolAttr(w->ceilMode),
                                         b.getBoolAttr(countIncludePad)));
  return success(!n.failed());
}

/// GlobalAveragePool and GlobalMaxPool: the mean (max) over the spatial
/// dimensions, kept as size 1.
template <typename ReduceOp>
LogicalResult convertGlobalPool(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  Value x = n.input(0);
  if (n.failed())
    return failure();
  if (!spatialAxes(n, type))
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < type.getRank(); ++d)
    axes.push_back(d);
  n.setOutput(0, n.create<ReduceOp>(x, n.builder().getDenseI64ArrayAttr(axes),
                                    n.builder().getBoolAttr(true)));
  return success(!n.failed());
}

LogicalResult convertGlobalAveragePool(NodeImporter &n) {
  return convertGlobalPool<graph::ReduceMeanOp>(n);
}

LogicalResult convertGlobalMaxPool(NodeImporter &n) {
  return convertGlobalPool<graph::ReduceMaxOp>(n);
}

/// GridSample (2-D, as PyTorch's grid_sample): each output point reads the
/// input at the grid's normalized (x, y) -- unnormalized to pixels (with
/// align_corners, -1 and 1 are the corner pixels' centers; without, their
/// outer edges), then clamped (border) or reflected and clamped
/// (reflection) -- bilinearly from its four neighbours (or from the nearest,
/// half to even; or bicubically from sixteen, each tap's coordinate padded,
/// as PyTorch); a neighbour outside the input adds nothing (zeros). The
/// neighbours are gathered from the input's flattened plane
/// (GatherElements), so training reaches the input through the gather and
/// the grid through the weights.
LogicalResult convertGridSample(NodeImporter &n) {
  RankedTensorType xType = n.inputType(0), gType = n.inputType(1);
  std::string mode = n.attrString("mode", n.opset() >= 20 ? "linear" : "bilinear");
  std::string padding = n.attrString("padding_mode", "zeros");
  bool alignCorners = n.attrInt("align_corners", 0) != 0;
  if (n.failed())
    return failure();
  bool nearest = mode == "nearest";
  bool cubic = mode == "bicubic" || mode == "cubic";
  if (!nearest && !cubic && mode != "bilinear" && mode != "linear")
    return n.error() << "mode '" << mode
                     << "' is not bilinear (linear), nearest or bicubic (cubic)";
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    return n.error() << "padding_mode '" << padding
                     << "' is not zeros, border or reflection";
  if (xType.getRank() != 4 || gType.getRank() != 4 ||
      gType.getDimSize(0) != xType.getDimSize(0) || gType.getDimSize(3) != 2)
    return n.error() << "input of shape " << graph::formatShape(xType.getShape())
                     << " and grid of shape "
                     << graph::formatShape(gType.getShape())
                     << " are not N x C x H x W and N x H_out x W_out x 2 "
                        "(kiln samples 2-D inputs only)";
  Type t = xType.getElementType();
  if (!isa<FloatType>(t) || gType.getElementType() != t)
    return n.error() << "input and grid must be floats of one type, got "
                     << t << " and " << gType.getElementType();
  Value x = n.input(0), grid = n.input(1);
  if (n.failed())
    return failure();
  int64_t N = xType.getDimSize(0), C = xType.getDimSize(1),
          H = xType.getDimSize(2), W = xType.getDimSize(3);
  int64_t P = gType.getDimSize(1) * gType.getDimSize(2);
  OpBuilder &b = n.builder();
  auto c = [&](double v) { return scalarConstant(n, t, v); };
  // A coordinate in [-1, 1] along a dimension of `size` pixels, in pixels:
  // [N, 1, P].
  auto unnormalized = [&](int64_t component, int64_t size) -> Value {
    Value g = reshape(n, sliceAlong(n, grid, 3, component, 1), {N, 1, P});
    return
        alignCorners
            ? n.create<graph::MulOp>(n.create<graph::AddOp>(g, c(1)),
                                     c(double(size - 1) / 2))
            : n.create<graph::DivOp>(
                  n.create<graph::SubOp>(
                      n.create<graph::MulOp>(n.create<graph::AddOp>(g, c(1)),
                                             c(double(size))),
                      c(1)),
                  c(2));
  };
  // A pixel coordinate as the padding mode leaves it (bilinear and nearest
  // pad the source coordinate, bicubic each tap's).
  auto padded = [&](Value coord, int64_t size) -> Value {
    if (padding == "reflection") {
      // Reflected at the borders (the pixel centers with align_corners,
      // the edges without), as often as it takes.
      double low = alignCorners ? 0 : -0.5;
      double span = alignCorners ? double(size - 1) : double(size);
      if (span <= 0) {
        coord = n.create<graph::MulOp>(coord, c(0));
      } else {
        Value from = n.create<graph::AbsOp>(n.create<graph::SubOp>(coord, c(low)));
        Value flips = n.create<graph::FloorOp>(n.create<graph::DivOp>(from, c(span)));
        Value extra = n.create<graph::SubOp>(
            from, n.create<graph::MulOp>(flips, c(span)));
        Value half = n.create<graph::MulOp>(flips, c(0.5));
        Value odd = n.create<graph::GreaterOp>(
            n.create<graph::SubOp>(half, n.create<graph::FloorOp>(half)),
            c(0.25));
        coord = n.create<graph::WhereOp>(
            odd, n.create<graph::SubOp>(c(span + low), extra),
            n.create<graph::AddOp>(extra, c(low)));
      }
    }
    if (padding != "zeros")
      coord = n.create<graph::ClipOp>(coord, b.getF64FloatAttr(0),
                                      b.getF64FloatAttr(double(size - 1)));
    return coord;
  };
  Value ix = unnormalized(0, W), iy = unnormalized(1, H);
  if (!cubic) {
    ix = padded(ix, W);
    iy = padded(iy, H);
  }
  Value plane = reshape(n, x, {N, C, H * W});
  Type i64 = b.getI64Type();
  // The input at integer (float-valued) pixel (px, py), times `weight`,
  // zero where the pixel is outside.
  auto tap = [&](Value px, Value py, Value weight) -> Value {
    Value inside = n.create<graph::AndOp>(
        n.create<graph::AndOp>(n.create<graph::GreaterEqualOp>(px, c(0)),
                               n.create<graph::LessOp>(px, c(double(W)))),
        n.create<graph::AndOp>(n.create<graph::GreaterEqualOp>(py, c(0)),
                               n.create<graph::LessOp>(py, c(double(H)))));
    auto clamped = [&](Value v, int64_t size) {
      return n.create<graph::ClipOp>(v, b.getF64FloatAttr(0),
                                     b.getF64FloatAttr(double(size - 1)));
    };
    Value at = n.create<graph::CastOp>(
        n.create<graph::AddOp>(
            n.create<graph::MulOp>(clamped(py, H), c(double(W))),
            clamped(px, W)),
        TypeAttr::get(i64));
    Value value = n.create<graph::GatherElementsOp>(
        plane, n.create<graph::BroadcastToOp>(at, b.getDenseI64ArrayAttr({N, C, P})),
        b.getI64IntegerAttr(2));
    Value w = n.create<graph::WhereOp>(inside, weight, c(0));
    return n.create<graph::MulOp>(value, w);
  };
  Value out;
  if (nearest) {
    out = tap(n.create<graph::RoundOp>(ix), n.create<graph::RoundOp>(iy), c(1));
  } else if (cubic) {
    // Four taps a dimension around the floor, cubic convolution weights
    // (A = -0.75, as PyTorch), each tap's coordinate padded.
    auto weights = [&](Value coord, Value base) {
      double A = -0.75;
      Value t = n.create<graph::SubOp>(coord, base);
      auto far = [&](Value d) { // 1 <= d <= 2
        Value v = n.create<graph::SubOp>(n.create<graph::MulOp>(d, c(A)),
                                         c(5 * A));
        v = n.create<graph::AddOp>(n.create<graph::MulOp>(v, d), c(8 * A));
        return n.create<graph::SubOp>(n.create<graph::MulOp>(v, d), c(4 * A));
      };
      auto near = [&](Value d) { // 0 <= d <= 1
        Value v = n.create<graph::SubOp>(n.create<graph::MulOp>(d, c(A + 2)),
                                         c(A + 3));
        return n.create<graph::AddOp>(
            n.create<graph::MulOp>(n.create<graph::MulOp>(v, d), d), c(1));
      };
      Value rest = n.create<graph::SubOp>(c(1), t);
      return SmallVector<Value, 4>{far(n.create<graph::AddOp>(t, c(1))),
                                   near(t), near(rest),
                                   far(n.create<graph::AddOp>(rest, c(1)))};
    };
    Value x0 = n.create<graph::FloorOp>(ix), y0 = n.create<graph::FloorOp>(iy);
    SmallVector<Value, 4> wx = weights(ix, x0), wy = weights(iy, y0);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        Value px = padded(n.create<graph::AddOp>(x0, c(double(j - 1))), W);
        Value py = padded(n.create<graph::AddOp>(y0, c(double(i - 1))), H);
        Value term = tap(px, py, n.create<graph::MulOp>(wx[j], wy[i]));
        out = out ? n.create<graph::AddOp>(out, term) : term;
      }
  } else {
    Value x0 = n.create<graph::FloorOp>(ix), y0 = n.create<graph::FloorOp>(iy);
    Value x1 = n.create<graph::AddOp>(x0, c(1)),
          y1 = n.create<graph::AddOp>(y0, c(1));
    Value wx1 = n.create<graph::SubOp>(ix, x0), wy1 = n.create<graph::SubOp>(iy, y0);
    Value wx0 = n.create<graph::SubOp>(c(1), wx1),
          wy0 = n.create<graph::SubOp>(c(1), wy1);
    for (auto [px, wx] : {std::pair(x0, wx0), std::pair(x1, wx1)})
      for (auto [py, wy] : {std::pair(y0, wy0), std::pair(y1, wy1)}) {
        Value term = tap(px, py, n.create<graph::MulOp>(wx, wy));
        out = out ? n.create<graph::AddOp>(out, term) : term;
      }
  }
  n.setOutput(0, reshape(n, out, {N, C, gType.getDimSize(1), gType.getDimSize(2)}));
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

LogicalResult convertBatchNormalization(NodeImporter &n) {
  float epsilon = n.attrFloat("epsilon", 1e-5f);
  float momentum = n.attrFloat("momentum", 0.9f);
  // Opset 14 made training explicit; before, training mode was the form
  // with the statistics outputs.
  bool training =
      n.opset() >= 14 ? n.attrInt("training_mode", 0) != 0 : n.numOutputs() > 1;
  if (!training && (n.outputUsed(1) || n.outputUsed(2)))
    return n.error() << "outputs 1 and 2 (the updated running mean and "
                        "variance) exist only in training mode "
                        "(training_mode = 1)";
  if (n.outputUsed(3) || n.outputUsed(4))
    return n.error() << "the saved_mean / saved_var outputs (opsets before "
                        "14) are not supported";
  Value x = n.input(0), scale = n.input(1), bias = n.input(2);
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  if (training && n.options().batchNormForTraining && !n.outputUsed(1) &&
      !n.outputUsed(2))
    training = false; // kiln-build-train-step makes its own training form.
  if (!training) {
    Value mean = n.input(3), var = n.input(4);
    if (n.failed())
      return failure();
    n.setOutput(0, n.create<graph::BatchNormOp>(x, scale, bias, mean, var,
                                                b.getF32FloatAttr(epsilon),
                                                b.getF32FloatAttr(momentum)));
    return success(!n.failed());
  }
  Operation *op = n.createWithResults<graph::BatchNormTrainOp>(
      3, x, scale, bias, b.getF32FloatAttr(epsilon));
  if (!op)
    return failure();
  n.setOutput(0, op->getResult(0));
  // running = input_running * momentum + batch * (1 - momentum), as the
  // ONNX spec defines the updated statistics.
  for (int i = 1; i <= 2; ++i) {
    if (!n.outputUsed(i))
      continue;
    Value running = n.input(2 + i);
    if (n.failed())
      return failure();
    Type element = cast<RankedTensorType>(running.getType()).getElementType();
    Value kept =
        n.create<graph::MulOp>(running, scalarConstant(n, element, momentum));
    Value fresh = n.create<graph::MulOp>(
        op->getResult(i), scalarConstant(n, element, 1.0 - momentum));
    n.setOutput(i, n.create<graph::AddOp>(kept, fresh));
  }
  return success(!n.failed());
}

LogicalResult convertLayerNormalization(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  float epsilon = n.attrFloat("epsilon", 1e-5f);
  if (n.failed())
    return failure();
  auto axis = normalizeAxisAt(n, n.attrInt("axis", -1), type.getRank(), "axis");
  if (!axis)
    return failure();
  Value x = n.input(0), scale = n.input(1);
  Value bias = n.hasInput(2) ? n.input(2) : Value();
  if (n.failed())
    return failure();
  OpBuilder &b = n.builder();
  n.setOutput(0, n.create<graph::LayerNormOp>(x, scale, bias,
                                              b.getI64IntegerAttr(*axis),
                                              b.getF32FloatAttr(epsilon)));
  if (n.outputUsed(1) || n.outputUsed(2)) {
    // The statistics outputs, from ordinary ops: the mean and 1 / sqrt(var +
    // epsilon) over the normalized dims, kept as size 1.
    SmallVector<int64_t> axes;
    for (int64_t d = *axis; d < type.getRank(); ++d)
      axes.push_back(d);
    auto axesAttr = b.getDenseI64ArrayAttr(axes);
    Value mean =
        n.create<graph::ReduceMeanOp>(x, axesAttr, b.getBoolAttr(true));
    Value centered = n.create<graph::SubOp>(x, mean);
    Value var = n.create<graph::ReduceMeanOp>(
        n.create<graph::MulOp>(centered, centered), axesAttr,
        b.getBoolAttr(true));
    Value eps = scalarConstant(n, type.getElementType(), epsilon);
    n.setOutput(1, mean);
    n.setOutput(2, n.create<graph::ReciprocalOp>(n.create<graph::SqrtOp>(
                       n.create<graph::AddOp>(var, eps))));
  }
  return success(!n.failed());
}

/// InstanceNormalization (a GroupNorm with a group per channel, as PyTorch
/// exports it): each (n, c)'s spatial values normalized, as a layer norm
/// over the dimensions from 2 on, then the channel's scale and bias.
LogicalResult convertInstanceNormalization(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  float epsilon = n.attrFloat("epsilon", 1e-5f);
  Value x = n.input(0), scale = n.input(1), bias = n.input(2);
  if (n.failed())
    return failure();
  if (type.getRank() < 3)
    return n.error() << "input 0 has rank " << type.getRank()
                     << "; InstanceNormalization needs [N, C, D1, ...]";
  OpBuilder &b = n.builder();
  Type element = type.getElementType();
  Value normalized = n.create<graph::LayerNormOp>(
      x, scalarConstant(n, element, 1.0), Value(), b.getI64IntegerAttr(2),
      b.getF32FloatAttr(epsilon));
  // [C] as [C, 1, ..., 1]: per channel, broadcast over the spatial dims.
  SmallVector<int64_t> perChannel(type.getRank() - 1, 1);
  perChannel[0] = type.getDimSize(1);
  Value scaled =
      n.create<graph::MulOp>(normalized, reshape(n, scale, perChannel));
  n.setOutput(0, n.create<graph::AddOp>(scaled, reshape(n, bias, perChannel)));
  return success(!n.failed());
}

/// Softmax and LogSoftmax. From opset 13 they normalize along `axis`
/// (default -1); before, over all dimensions from `axis` (default 1) on,
/// which kiln writes as a reshape to 2-D around the op.
template <typename OpTy> LogicalResult convertSoftmaxLike(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  bool modern = n.opset() >= 13;
  auto axis =
      normalizeAxisAt(n, n.attrInt("axis", modern ? -1 : 1), rank, "axis");
  Value x = n.input(0);
  if (!axis || n.failed())
    return failure();
  OpBuilder &b = n.builder();
  if (modern || *axis == rank - 1) {
    n.setOutput(0, n.create<OpTy>(x, b.getI64IntegerAttr(*axis)));
    return success(!n.failed());
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d)
    (d < *axis ? outer : inner) *= type.getDimSize(d);
  Value flat = reshape(n, x, {outer, inner});
  Value normalized = n.create<OpTy>(flat, b.getI64IntegerAttr(1));
  n.setOutput(0, reshape(n, normalized, type.getShape()));
  return success(!n.failed());
}

LogicalResult convertLogSoftmax(NodeImporter &n) {
  return convertSoftmaxLike<graph::LogSoftmaxOp>(n);
}

/// ArgMax, ArgMin: composed of graph ops (see argExtreme). NaN counts as
/// the max and the min, as in numpy.
LogicalResult convertArgExtreme(NodeImporter &n, bool isMax) {
  RankedTensorType type = n.inputType(0);
  int64_t axis = n.attrInt("axis", 0);
  bool keepdims = n.attrInt("keepdims", 1) != 0;
  bool last = n.attrInt("select_last_index", 0) != 0;
  if (n.failed())
    return failure();
  auto a = normalizeAxisAt(n, axis, type.getRank(), "axis");
  Value x = n.input(0);
  if (!a || n.failed())
    return failure();
  n.setOutput(0, argExtreme(n, x, *a, isMax, last, keepdims));
  return success(!n.failed());
}

/// Hardmax: one where the first max along the axis is, zero elsewhere.
/// Before opset 13 the input is seen as 2-D ([:axis] x [axis:]), as
/// Softmax then did.
LogicalResult convertHardmax(NodeImporter &n) {
  RankedTensorType type = n.inputType(0);
  if (n.failed())
    return failure();
  int64_t rank = type.getRank();
  bool modern = n.opset() >= 13;
  auto axis =
      normalizeAxisAt(n, n.attrInt("axis", modern ? -1 : 1), rank, "axis");
  Value x = n.input(0);
  if (!axis || n.failed())
    return failure();
  int64_t along = *axis;
  if (!modern && *axis != rank - 1) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d)
      (d < *axis ? outer : inner) *= type.getDimSize(d);
    x = reshape(n, x, {outer, inner});
    along = 1;
  }
  Value iota;
  Value index = argExtreme(n, x, along, true, false, true, &iota);
  Value oneHot = n.create<graph::CastOp>(n.create<graph::EqualOp>(iota, index),
                                         TypeAttr::get(type.getElementType()));
  n.setOutput(0, reshape(n, oneHot, type.getShape()));
  return success(!n.failed());
}

LogicalResult convertArgMax(NodeImporter &n) {
  return convertArgExtreme(n, true);
}
LogicalResult convertArgMin(NodeImporter &n) {
  return convertArgExtreme(n, false);
}

LogicalResult convertCos(NodeImporter &n) {
  return convertUnary<graph::CosOp>(n, [](double x) { return std::cos(x); });
}
LogicalResult convertAsin(NodeImporter &n) {
  return convertUnary<graph::AsinOp>(n, [](double x) { return std::asin(x); });
}
LogicalResult convertAcos(NodeImporter &n) {
  return convertUnary<graph::AcosOp>(n, [](double x) { return std::acos(x); });
}
LogicalResult convertAtan(NodeImporter &n) {
  return convertUnary<graph::AtanOp>(n, [](double x) { return std::atan(x); });
}
LogicalResult convertCosh(NodeImporter &n) {
  return convertUnary<graph::CoshOp>(n, [](double x) { return std::cosh(x); });
}
LogicalResult convertAsinh(NodeImporter &n) {
  return convertUnary<graph::AsinhOp>(n,
                                      [](double x) { return std::asinh(x); });
}
LogicalResult convertAcosh(NodeImporter &n) {
  return convertUnary<graph::AcoshOp>(n,
                                      [](double x) { return std::acosh(x); });
}
LogicalResult convertAtanh(NodeImporter &n) {
  return convertUnary<graph::AtanhOp>(n,
                                      [](double x) { return std::atanh(x); });
}
LogicalResult convertCeil(NodeImporter &n) {
  return convertUnary<graph::CeilOp>(n, [](double x) { return std::ceil(x); });
}
LogicalResult convertFloor(NodeImporter &n) {
  return convertUnary<graph::FloorOp>(n,
                                      [](double x) { return std::floor(x); });
}

const OpConverter table[] = {
    {"Abs", 6, convertAbs},
    {"Acos", 7, convertAcos},
    {"Acosh", 9, convertAcosh},
    {"Add", 7, convertAdd},
    {"And", 7, convertAnd},
    {"ArgMax", 7, convertArgMax},
    {"ArgMin", 7, convertArgMin},
    {"Asin", 7, convertAsin},
    {"Asinh", 9, convertAsinh},
    {"Atan", 7, convertAtan},
    {"Atanh", 9, convertAtanh},
    {"AveragePool", 7, convertAveragePool},
    {"BatchNormalization", 9, convertBatchNormalization},
    {"BlackmanWindow", 17, convertBlackmanWindow},
    {"Cast", 7, convertCast},
    {"CastLike", 15, convertCastLike},
    {"Ceil", 6, convertCeil},
    {"Celu", 12, convertCelu},
    {"Clip", 7, convertClip},
    {"Concat", 7, convertConcat},
    {"ConcatFromSequence", 11, convertConcatFromSequence},
    {"Constant", 7, convertConstant},
    {"ConstantOfShape", 9, convertConstantOfShape},
    {"Conv", 7, convertConv},
    {"ConvTranspose", 7, convertConvTranspose},
    {"Cos", 7, convertCos},
    {"Cosh", 9, convertCosh},
    {"CumSum", 11, convertCumSum},
    {"DFT", 17, convertDFT},
    {"DepthToSpace", 7, convertDepthToSpace},
    {"Div", 7, convertDiv},
    {"Dropout", 7, convertDropout},
    {"Einsum", 12, convertEinsum},
    {"Elu", 6, convertElu},
    {"Equal", 7, convertEqual},
    {"Erf", 9, convertErf},
    {"Exp", 6, convertExp},
    {"EyeLike", 9, convertEyeLike},
    {"Expand", 8, convertExpand},
    {"Flatten", 7, convertFlatten},
    {"Floor", 6, convertFloor},
    {"Gather", 7, convertGather},
    {"GatherElements", 11, convertGatherElements},
    {"GatherND", 12, convertGatherND},
    {"Gelu", 20, convertGelu},
    {"Gemm", 7, convertGemm},
    {"GlobalAveragePool", 1, convertGlobalAveragePool},
    {"GlobalMaxPool", 1, convertGlobalMaxPool},
    {"GridSample", 16, convertGridSample},
    {"GRU", 7, convertGRU},
    {"Greater", 7, convertGreater},
    {"GreaterOrEqual", 12, convertGreaterOrEqual},
    {"HammingWindow", 17, convertHammingWindow},
    {"HannWindow", 17, convertHannWindow},
    {"HardSigmoid", 6, convertHardSigmoid},
    {"HardSwish", 14, convertHardSwish},
    {"Hardmax", 7, convertHardmax},
    {"Identity", 1, convertIdentity},
    {"If", 1, convertIf},
    {"InstanceNormalization", 6, convertInstanceNormalization},
    {"IsInf", 10, convertIsInf},
    {"IsNaN", 9, convertIsNaN},
    {"LayerNormalization", 17, convertLayerNormalization},
    {"LRN", 1, convertLRN},
    {"LSTM", 7, convertLSTM},
    {"LeakyRelu", 6, convertLeakyRelu},
    {"Less", 7, convertLess},
    {"LessOrEqual", 12, convertLessOrEqual},
    {"Log", 6, convertLog},
    {"LogSoftmax", 7, convertLogSoftmax},
    {"Loop", 1, convertLoop},
};

} // namespace

LogicalResult convertSoftmax(NodeImporter &n) {
  return convertSoftmaxLike<graph::SoftmaxOp>(n);
}

ArrayRef<OpConverter> convertersAtoL() { return table; }

} // namespace kiln::onnx
