//===- ConvertControlFlow.cpp - ONNX If, Loop and Scan into kiln ops ------===//
//
// kiln's graphs have static shapes and no control flow, so the importer
// resolves ONNX's at compile time, converting copies of the subgraphs in
// place (NodeImporter::inlineGraph):
//
//   If    the branch the condition picks, where the condition is known;
//         otherwise both branches, each output selected by kiln.where (so
//         both must give the same shapes).
//   Loop  unrolled: the body once per iteration, its iteration number and
//         condition known, so shape computations in it fold. The trip count
//         must be known; the condition may become known only at run time,
//         and from then on every further iteration runs with its updates
//         masked (kiln.where) -- as long as the loop has no scan outputs,
//         whose length would then be known only at run time.
//   Scan  unrolled over the scanned axis, which is static.
//
// Training goes through the unrolled graph ops' gradients.
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/ConvertUtils.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <limits>
#include <string>

using namespace mlir;

namespace kiln::onnx {
namespace {

/// Iterations past which an unrolled Loop is refused: a loop whose
/// condition never turns false, or one too long to unroll.
constexpr int64_t kMaxIterations = 10000;

/// The subgraph attribute `name` with `inputs` inputs and at least
/// `minOutputs` outputs; null (after an error) otherwise.
const ::onnx::GraphProto *subgraph(NodeImporter &n, StringRef name,
                                   int64_t inputs, int64_t minOutputs) {
  const ::onnx::GraphProto *g = n.attrGraph(name);
  if (!g)
    return nullptr;
  if (g->input_size() != inputs) {
    n.error() << "attribute '" << name << "' takes " << g->input_size()
              << " input" << (g->input_size() == 1 ? "" : "s") << "; a "
              << n.node().op_type() << " with these inputs gives it " << inputs;
    return nullptr;
  }
  if (g->output_size() < minOutputs) {
    n.error() << "attribute '" << name << "' gives " << g->output_size()
              << " output" << (g->output_size() == 1 ? "" : "s")
              << "; it needs at least " << minOutputs;
    return nullptr;
  }
  return g;
}

/// A compile-time boolean scalar (one element of any rank).
GraphValue knownBool(NodeImporter &n, bool value) {
  return {Value(),
          HostTensor::ofInts(RankedTensorType::get({}, n.builder().getI1Type()),
                             {value ? 1 : 0}),
          std::nullopt};
}

/// Checks that `type` is a boolean with one element: a condition.
bool isCondition(NodeImporter &n, RankedTensorType type, StringRef what) {
  if (!type.getElementType().isInteger(1) || type.getNumElements() != 1) {
    n.error() << what << " must be one bool, got " << type;
    return false;
  }
  return true;
}

/// A GraphValue's type in diagnostics, quoted as MLIR's diagnostics quote
/// types: "'tensor<2x3xf32>'", or "a sequence of 2 ('tensor<3xf32>',
/// 'tensor<3xf32>')".
std::string describe(const GraphValue &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (!value.isSequence()) {
    os << "'" << value.type() << "'";
    return text;
  }
  os << "a sequence of " << value.sequence->size();
  if (value.sequence->empty())
    return text;
  os << " (";
  llvm::interleaveComma(*value.sequence, os,
                        [&](Value v) { os << "'" << v.getType() << "'"; });
  os << ")";
  return text;
}

/// `cond ? a : b` for values of one type: tensors by kiln.where, sequences
/// element by element. None when their types differ (the caller says how).
std::optional<GraphValue> select(NodeImporter &n, Value cond,
                                 const GraphValue &a, const GraphValue &b) {
  if (a.isSequence() != b.isSequence())
    return std::nullopt;
  if (!a.isSequence()) {
    if (a.type() != b.type())
      return std::nullopt;
    return GraphValue{
        n.create<graph::WhereOp>(cond, n.materialize(a), n.materialize(b)),
        std::nullopt, std::nullopt};
  }
  if (a.sequence->size() != b.sequence->size())
    return std::nullopt;
  SmallVector<Value> elements;
  for (auto [x, y] : llvm::zip_equal(*a.sequence, *b.sequence)) {
    if (x.getType() != y.getType())
      return std::nullopt;
    elements.push_back(x == y ? x : n.create<graph::WhereOp>(cond, x, y));
  }
  return GraphValue{Value(), std::nullopt, std::move(elements)};
}

/// `parts` (one per iteration, of one type) stacked along a new axis
/// `axis` of the result, which is what a Loop's and a Scan's scan outputs
/// are.
std::optional<Value> stack(NodeImporter &n, ArrayRef<GraphValue> parts,
                           int64_t axis, StringRef what) {
  if (parts.front().isSequence()) {
    n.error() << what << " is a sequence; kiln stacks tensors only";
    return std::nullopt;
  }
  RankedTensorType type = parts.front().type();
  SmallVector<Value> values;
  for (auto [i, part] : llvm::enumerate(parts)) {
    if (part.isSequence() || part.type() != type) {
      n.error() << what << " is " << type << " in the first iteration but "
                << describe(part) << " in iteration " << i
                << "; stacking them needs one type";
      return std::nullopt;
    }
    values.push_back(n.materialize(part));
  }
  Value stacked = concatAlong(n, values, axis, /*newAxis=*/true);
  if (!stacked)
    return std::nullopt;
  return stacked;
}

} // namespace

//===----------------------------------------------------------------------===//
// If
//===----------------------------------------------------------------------===//

LogicalResult convertIf(NodeImporter &n) {
  int64_t outputs = static_cast<int64_t>(n.numOutputs());
  const auto *thenBranch = subgraph(n, "then_branch", 0, outputs);
  const auto *elseBranch = subgraph(n, "else_branch", 0, outputs);
  if (n.failed() || !isCondition(n, n.inputType(0), "the condition (input 0)"))
    return failure();
  for (auto [name, branch] : {std::pair{"then_branch", thenBranch},
                              std::pair{"else_branch", elseBranch}})
    if (branch->output_size() != outputs)
      return n.error() << "attribute '" << name << "' gives "
                       << branch->output_size() << " outputs; the node has "
                       << outputs;

  if (const HostTensor *cond = n.folded(0)) {
    bool taken = cond->intAt(0) != 0;
    auto results = n.inlineGraph(taken ? *thenBranch : *elseBranch, {},
                                 taken ? "then_branch" : "else_branch");
    if (!results)
      return failure();
    for (int64_t i = 0; i < outputs; ++i)
      n.setOutputValue(i, (*results)[i]);
    return success();
  }

  // Known only at run time: both branches, each output chosen by the
  // condition.
  auto thenResults = n.inlineGraph(*thenBranch, {}, "then_branch");
  if (!thenResults)
    return failure();
  auto elseResults = n.inlineGraph(*elseBranch, {}, "else_branch");
  if (!elseResults)
    return failure();
  Value cond = reshape(n, n.input(0), {});
  for (int64_t i = 0; i < outputs; ++i) {
    const GraphValue &a = (*thenResults)[i], &b = (*elseResults)[i];
    auto chosen = select(n, cond, a, b);
    if (!chosen)
      return n.error() << "output " << i << " is " << describe(a)
                       << " in then_branch but " << describe(b)
                       << " in else_branch; the condition (input 0, '"
                       << n.node().input(0)
                       << "') is known only at run time, so kiln computes both "
                          "branches and selects, which needs one static type";
    n.setOutputValue(i, std::move(*chosen));
  }
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Loop
//===----------------------------------------------------------------------===//

LogicalResult convertLoop(NodeImporter &n) {
  int64_t carried = n.node().input_size() - 2;
  if (carried < 0)
    return n.error() << "needs inputs M and cond (either may be empty), then "
                        "the loop-carried values";
  const auto *body = subgraph(n, "body", 2 + carried, 1 + carried);
  if (!body)
    return failure();
  int64_t scans = body->output_size() - 1 - carried;
  if (static_cast<int64_t>(n.numOutputs()) != carried + scans)
    return n.error() << "has " << n.numOutputs() << " outputs; its body gives "
                     << carried << " loop-carried value"
                     << (carried == 1 ? "" : "s") << " and " << scans
                     << " scan output" << (scans == 1 ? "" : "s");

  // The trip count and the first condition, which unrolling needs.
  auto known = [&](size_t i, StringRef what) -> const HostTensor * {
    if (const HostTensor *value = n.folded(i))
      return value;
    n.error() << what << " (input " << i << ", '" << n.node().input(i)
              << "') must be known at compile time, but it is computed from "
                 "the model's inputs; kiln unrolls a Loop";
    return nullptr;
  };
  int64_t tripCount = std::numeric_limits<int64_t>::max();
  if (n.hasInput(0)) {
    const HostTensor *m = known(0, "the trip count M");
    if (!m)
      return failure();
    if (m->isFloat() || m->size() != 1)
      return n.error() << "the trip count M (input 0) must be one integer, got "
                       << m->type();
    tripCount = m->intAt(0);
  }
  std::optional<GraphValue> running = knownBool(n, true);
  if (n.hasInput(1)) {
    running = n.inputValue(1);
    if (!running || running->isSequence() ||
        !isCondition(n, running->type(), "the condition (input 1)"))
      return failure();
  }
  SmallVector<GraphValue> state;
  for (int64_t k = 0; k < carried; ++k) {
    auto value = n.inputValue(2 + k);
    if (!value)
      return failure();
    state.push_back(std::move(*value));
  }
  if (n.failed())
    return failure();
  if (!running->folded && tripCount == std::numeric_limits<int64_t>::max())
    return n.error() << "has no trip count M and its condition (input 1, '"
                     << n.node().input(1)
                     << "') is known only at run time; kiln unrolls a Loop, "
                        "which needs a bound on its iterations";

  SmallVector<SmallVector<GraphValue>> scanned(scans);
  int64_t iterations = 0;
  for (; iterations < tripCount; ++iterations) {
    if (running->folded && running->folded->intAt(0) == 0)
      break;
    if (iterations == kMaxIterations)
      return n.error() << "runs more than " << kMaxIterations
                       << " iterations (trip count "
                       << (n.hasInput(0) ? std::to_string(tripCount)
                                         : std::string("none"))
                       << "); kiln unrolls a Loop, and does not unroll one "
                          "this long";
    std::string instance = "iteration " + std::to_string(iterations);
    SmallVector<GraphValue> inputs = {
        {Value(),
         HostTensor::ofInts(RankedTensorType::get({}, n.builder().getI64Type()),
                            {iterations}),
         std::nullopt},
        *running};
    inputs.append(state.begin(), state.end());
    auto results = n.inlineGraph(*body, inputs, instance);
    if (!results)
      return failure();
    GraphValue &cond = (*results)[0];
    if (cond.isSequence())
      return n.error() << "the body's condition (output 0, '"
                       << body->output(0).name() << "') is a sequence";
    if (!isCondition(n, cond.type(),
                     "the body's condition (output 0, '" +
                         body->output(0).name() + "') in " + instance))
      return failure();
    bool masked = !running->folded;
    if (masked || !cond.folded) {
      // The loop may have stopped before this iteration, known only at run
      // time: every update is kept only where it is still running.
      if (scans > 0)
        return n.error()
               << "its condition is known only at run time (the body's output "
                  "0, '"
               << body->output(0).name() << "', in " << instance
               << "), so the number of iterations, and the length of its "
               << scans << " scan output" << (scans == 1 ? "" : "s")
               << ", is too; kiln needs static shapes";
      if (masked) {
        Value active = reshape(n, n.materialize(*running), {});
        for (int64_t k = 0; k < carried; ++k) {
          GraphValue &next = (*results)[1 + k];
          auto kept = select(n, active, next, state[k]);
          if (!kept)
            return n.error()
                   << "loop-carried value " << k << " ('"
                   << body->input(2 + k).name() << "') changes from "
                   << describe(state[k]) << " to " << describe(next) << " in "
                   << instance
                   << ", which may not run (its condition is known only at "
                      "run time); kiln needs one static type";
          next = std::move(*kept);
        }
        cond = GraphValue{
            n.create<graph::AndOp>(
                n.materialize(*running),
                reshape(n, n.materialize(cond), running->type().getShape())),
            std::nullopt, std::nullopt};
      }
    }
    running = cond;
    state.assign(results->begin() + 1, results->begin() + 1 + carried);
    for (int64_t k = 0; k < scans; ++k)
      scanned[k].push_back((*results)[1 + carried + k]);
    if (n.failed())
      return failure();
  }

  for (int64_t k = 0; k < carried; ++k)
    n.setOutputValue(k, state[k]);
  for (int64_t k = 0; k < scans; ++k) {
    if (!n.outputUsed(carried + k))
      continue;
    std::string what = "scan output " + std::to_string(k) + " ('" +
                       body->output(1 + carried + k).name() + "')";
    if (iterations == 0)
      return n.error() << "runs no iterations, so its " << what
                       << " is empty, of a shape kiln cannot know";
    auto stacked = stack(n, scanned[k], 0, what);
    if (!stacked)
      return failure();
    n.setOutput(carried + k, *stacked);
  }
  return success(!n.failed());
}

//===----------------------------------------------------------------------===//
// Scan
//===----------------------------------------------------------------------===//

LogicalResult convertScan(NodeImporter &n) {
  if (!n.hasAttr("num_scan_inputs"))
    return n.missingAttr("num_scan_inputs"), failure();
  int64_t numScanInputs = n.attrInt("num_scan_inputs", 0);
  int64_t numInputs = n.node().input_size();
  int64_t states = numInputs - numScanInputs;
  if (numScanInputs < 1 || states < 0)
    return n.error() << "attribute 'num_scan_inputs' is " << numScanInputs
                     << "; it must be in [1, " << numInputs
                     << "], the number of inputs";
  const auto *body = subgraph(n, "body", numInputs, states);
  if (!body)
    return failure();
  int64_t scans = body->output_size() - states;
  if (static_cast<int64_t>(n.numOutputs()) != body->output_size())
    return n.error() << "has " << n.numOutputs() << " outputs; its body gives "
                     << body->output_size();

  auto readAttr = [&](StringRef name, int64_t count,
                      bool directions) -> std::optional<std::vector<int64_t>> {
    std::vector<int64_t> values =
        n.attrInts(name, std::vector<int64_t>(count, 0));
    if (static_cast<int64_t>(values.size()) != count) {
      n.error() << "attribute '" << name << "' has " << values.size()
                << " entries; it needs " << count;
      return std::nullopt;
    }
    if (directions)
      for (auto [i, d] : llvm::enumerate(values))
        if (d != 0 && d != 1) {
          n.error() << "attribute '" << name << "'[" << i << "] is " << d
                    << "; a direction is 0 (forward) or 1 (reverse)";
          return std::nullopt;
        }
    return values;
  };
  auto inAxes = readAttr("scan_input_axes", numScanInputs, false);
  auto inDirections = readAttr("scan_input_directions", numScanInputs, true);
  auto outAxes = readAttr("scan_output_axes", scans, false);
  auto outDirections = readAttr("scan_output_directions", scans, true);
  if (!inAxes || !inDirections || !outAxes || !outDirections)
    return failure();

  SmallVector<GraphValue> state;
  for (int64_t k = 0; k < states; ++k) {
    auto value = n.inputValue(k);
    if (!value)
      return failure();
    if (value->isSequence())
      return n.error() << "state " << k << " (input " << k
                       << ") is a sequence; kiln scans with tensor states";
    state.push_back(std::move(*value));
  }
  SmallVector<Value> sequences;
  int64_t length = -1;
  for (int64_t j = 0; j < numScanInputs; ++j) {
    Value x = n.input(states + j);
    if (!x)
      return failure();
    auto type = cast<RankedTensorType>(x.getType());
    auto axis = normalizeAxisAt(n, (*inAxes)[j], type.getRank(),
                                "scan_input_axes[" + std::to_string(j) + "]");
    if (!axis)
      return failure();
    (*inAxes)[j] = *axis;
    int64_t size = type.getDimSize(*axis);
    if (length >= 0 && size != length)
      return n.error() << "scan input " << j << " (input " << states + j
                       << ") has " << size << " elements along axis " << *axis
                       << ", scan input 0 has " << length
                       << "; every scan input needs the same length";
    length = size;
    sequences.push_back(x);
  }
  if (length == 0 && scans > 0)
    return n.error() << "scans a sequence of length 0, so its scan outputs "
                        "are empty, of a shape kiln cannot know";

  SmallVector<SmallVector<GraphValue>> scanned(scans);
  for (int64_t t = 0; t < length; ++t) {
    SmallVector<GraphValue> inputs(state);
    for (auto [j, x] : llvm::enumerate(sequences)) {
      int64_t axis = (*inAxes)[j];
      int64_t at = (*inDirections)[j] ? length - 1 - t : t;
      SmallVector<int64_t> shape(
          cast<RankedTensorType>(x.getType()).getShape());
      shape.erase(shape.begin() + axis);
      inputs.push_back({reshape(n, sliceAlong(n, x, axis, at, 1), shape),
                        std::nullopt, std::nullopt});
    }
    if (n.failed())
      return failure();
    auto results =
        n.inlineGraph(*body, inputs, "iteration " + std::to_string(t));
    if (!results)
      return failure();
    for (int64_t k = 0; k < states; ++k) {
      if ((*results)[k].isSequence() || (*results)[k].type() != state[k].type())
        return n.error() << "state " << k << " ('" << body->input(k).name()
                         << "') is " << state[k].type() << " but the body "
                         << "gives " << describe((*results)[k])
                         << " in iteration " << t
                         << "; a Scan's state keeps its type";
      state[k] = (*results)[k];
    }
    for (int64_t k = 0; k < scans; ++k)
      scanned[k].push_back((*results)[states + k]);
  }

  for (int64_t k = 0; k < states; ++k)
    n.setOutputValue(k, state[k]);
  for (int64_t k = 0; k < scans; ++k) {
    if (!n.outputUsed(states + k))
      continue;
    std::string what = "scan output " + std::to_string(k) + " ('" +
                       body->output(states + k).name() + "')";
    if (scanned[k].front().isSequence())
      return n.error() << what << " is a sequence; kiln stacks tensors only";
    int64_t rank = scanned[k].front().type().getRank() + 1;
    auto axis = normalizeAxisAt(n, (*outAxes)[k], rank,
                                "scan_output_axes[" + std::to_string(k) + "]");
    if (!axis)
      return failure();
    if ((*outDirections)[k])
      std::reverse(scanned[k].begin(), scanned[k].end());
    auto stacked = stack(n, scanned[k], *axis, what);
    if (!stacked)
      return failure();
    n.setOutput(states + k, *stacked);
  }
  return success(!n.failed());
}

} // namespace kiln::onnx
