//===- NodeImporter.h - what an op converter sees of one ONNX node --------===//
//
// Each ONNX op has one conversion function, `LogicalResult(NodeImporter &)`,
// in ConvertAtoL.cpp / ConvertMtoZ.cpp. NodeImporter gives it the node's
// inputs (as SSA values, or as compile-time values where known), attributes
// with the spec's defaults and type checks, and a way to build kiln ops that
// reports shape errors instead of aborting.
//
// Errors are sticky: an accessor that fails (a missing input, an attribute of
// the wrong type) reports a message naming the node and returns a harmless
// default; the converter checks `failed()` before it builds ops.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_COMPILER_ONNX_NODEIMPORTER_H
#define KILN_COMPILER_ONNX_NODEIMPORTER_H

#include "compiler/onnx/HostTensor.h"

#include "onnx/onnx_pb.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"

#include "compiler/onnx/Importer.h"

#include <optional>
#include <string>
#include <vector>

namespace kiln::onnx {

class GraphImporter;

/// A value of the graph being imported, as a subgraph (a Loop's body, an
/// If's branch) takes or gives it: a tensor known at compile time or an SSA
/// value, or a sequence of tensors (its elements' SSA values).
struct GraphValue {
  mlir::Value value;
  std::optional<HostTensor> folded;
  std::optional<llvm::SmallVector<mlir::Value>> sequence;
  bool isSequence() const { return sequence.has_value(); }
  /// The tensor's type (not for a sequence).
  mlir::RankedTensorType type() const {
    return folded ? folded->type()
                  : mlir::cast<mlir::RankedTensorType>(value.getType());
  }
};

class NodeImporter {
public:
  NodeImporter(GraphImporter &graph, const ::onnx::NodeProto &node,
               int64_t opset, mlir::Location loc);

  const ::onnx::NodeProto &node() const { return node_; }
  /// The model's default-domain opset: conversions that changed between
  /// opsets branch on it.
  int64_t opset() const { return opset_; }
  mlir::Location loc() const { return loc_; }
  mlir::OpBuilder &builder();
  mlir::MLIRContext *context();
  /// The options the model is imported with.
  const ImportOptions &options() const;

  //===--- Inputs ---------------------------------------------------------===//

  /// Whether input `i` is given (present and not the empty name).
  bool hasInput(size_t i) const;
  /// Input `i` as an SSA value (constants are materialized on demand).
  mlir::Value input(size_t i);
  /// The type of input `i`.
  mlir::RankedTensorType inputType(size_t i);
  /// Input `i`'s value when the importer knows it and may fold it: Constant
  /// nodes, integer and bool initializers, and results of folded nodes, but
  /// never float initializers (weights must stay weights). Null otherwise.
  const HostTensor *folded(size_t i);
  /// Input `i`'s value when the conversion needs it at compile time (a
  /// Reshape's shape, Clip's bounds, Slice's starts): like `folded`, and
  /// float initializers too. Reports an error naming `what` otherwise.
  std::optional<HostTensor> constantInput(size_t i, llvm::StringRef what);
  /// constantInput as integers.
  std::optional<std::vector<int64_t>> constantInts(size_t i,
                                                   llvm::StringRef what);
  /// Input `i` as a GraphValue: its elements when it is a sequence, its
  /// compile-time value where `folded` has one, else its SSA value. None,
  /// with an error, when missing.
  std::optional<GraphValue> inputValue(size_t i);
  /// The elements of sequence input `i` (SplitToSequence's result).
  std::optional<llvm::SmallVector<mlir::Value>> sequenceInput(size_t i);

  //===--- Attributes -----------------------------------------------------===//

  bool hasAttr(llvm::StringRef name) const;
  int64_t attrInt(llvm::StringRef name, int64_t fallback);
  float attrFloat(llvm::StringRef name, float fallback);
  std::string attrString(llvm::StringRef name, llvm::StringRef fallback);
  std::vector<int64_t> attrInts(llvm::StringRef name,
                                std::vector<int64_t> fallback = {});
  std::vector<float> attrFloats(llvm::StringRef name);
  std::vector<std::string> attrStrings(llvm::StringRef name);
  /// A TENSOR attribute, or null when absent (or of the wrong type).
  const ::onnx::TensorProto *attrTensor(llvm::StringRef name);
  /// A GRAPH attribute (a Loop's body, an If's branch); null, with an
  /// error, when absent or of another type.
  const ::onnx::GraphProto *attrGraph(llvm::StringRef name);
  /// A required attribute that is missing.
  void missingAttr(llvm::StringRef name);
  /// The value of a TensorProto held by an attribute (Constant's `value`).
  std::optional<HostTensor> tensorValue(const ::onnx::TensorProto &tensor);

  //===--- Outputs --------------------------------------------------------===//

  size_t numOutputs() const { return node_.output_size(); }
  /// Whether output `i` exists and some node or the graph output reads it.
  bool outputUsed(size_t i) const;
  void setOutput(size_t i, mlir::Value value);
  void setFolded(size_t i, HostTensor value);
  void setSequence(size_t i, llvm::SmallVector<mlir::Value> elements);
  /// Sets output `i` to a GraphValue (folded where it is known, a sequence
  /// where it is one).
  void setOutputValue(size_t i, GraphValue value);

  //===--- Subgraphs ------------------------------------------------------===//

  /// Converts one copy of subgraph `body` in place, in the current block:
  /// its inputs bound to `inputs`, the names it reads from enclosing graphs
  /// resolved there. `instance` says which copy in diagnostics ("iteration
  /// 3", "then_branch"). Returns the body's outputs; none after an error.
  std::optional<llvm::SmallVector<GraphValue>>
  inlineGraph(const ::onnx::GraphProto &body, llvm::ArrayRef<GraphValue> inputs,
              llvm::StringRef instance);
  /// A tensor GraphValue as an SSA value (a kiln.constant where it is
  /// folded).
  mlir::Value materialize(const GraphValue &value);

  //===--- Building ops ---------------------------------------------------===//

  /// Builds a single-result kiln op from the builder arguments `args`
  /// (operands and attributes, no result type): runs the op's shape rule
  /// first and reports, at this node, why it fails instead of aborting.
  /// Returns null on failure.
  template <typename OpTy, typename... Args>
  mlir::Value create(Args &&...args) {
    mlir::Operation *op =
        createWithResults<OpTy>(1, std::forward<Args>(args)...);
    return op ? op->getResult(0) : mlir::Value();
  }

  /// As create, for an op with `numResults` results.
  template <typename OpTy, typename... Args>
  mlir::Operation *createWithResults(unsigned numResults, Args &&...args) {
    if (failed_)
      return nullptr;
    mlir::OperationState state(loc_, OpTy::getOperationName());
    llvm::SmallVector<mlir::Type> placeholders(numResults,
                                               mlir::NoneType::get(context()));
    OpTy::build(builder(), state, mlir::TypeRange(placeholders),
                std::forward<Args>(args)...);
    state.types.clear();
    if (mlir::failed(OpTy::inferReturnTypes(
            context(), loc_, state.operands,
            state.attributes.getDictionary(context()), state.getRawProperties(),
            state.regions, state.types))) {
      failed_ = true;
      return nullptr;
    }
    return builder().create(state);
  }

  //===--- Errors ---------------------------------------------------------===//

  /// Reports an error at this node; the conversion has failed.
  mlir::InFlightDiagnostic error();
  bool failed() const { return failed_; }

private:
  const ::onnx::AttributeProto *
  attr(llvm::StringRef name, ::onnx::AttributeProto::AttributeType type);

  GraphImporter &graph_;
  const ::onnx::NodeProto &node_;
  int64_t opset_;
  mlir::Location loc_;
  bool failed_ = false;
};

/// One ONNX op's conversion.
using ConvertFn = llvm::LogicalResult (*)(NodeImporter &);

struct OpConverter {
  llvm::StringRef opType;
  /// The oldest opset whose form of the op the conversion handles.
  int64_t minOpset;
  ConvertFn convert;
};

/// Every conversion, by op type (ConvertAtoL.cpp, ConvertMtoZ.cpp).
llvm::ArrayRef<OpConverter> convertersAtoL();
llvm::ArrayRef<OpConverter> convertersMtoZ();
/// The conversion for `opType`, or null.
const OpConverter *findConverter(llvm::StringRef opType);

} // namespace kiln::onnx

#endif // KILN_COMPILER_ONNX_NODEIMPORTER_H
