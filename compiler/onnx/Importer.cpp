//===- Importer.cpp - ONNX models into the kiln graph dialect -------------===//
//
// GraphImporter walks one ModelProto:
//   1. read and check the model file (ModelReader);
//   2. give every graph input a static type (--input-shape for symbolic dims);
//   3. check the graph: every name defined, no cycle (nodes are put in
//      topological order), every op supported -- all unsupported ops are
//      reported together;
//   4. convert node by node through the per-op table, folding what is known
//      at compile time;
//   5. return the graph outputs from @forward and verify the module.
//
//===----------------------------------------------------------------------===//
#include "compiler/onnx/Importer.h"

#include "compiler/onnx/ModelReader.h"
#include "compiler/onnx/NodeImporter.h"
#include "compiler/onnx/TensorData.h"
#include "ir/graph/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

#include <deque>
#include <functional>
#include <map>

using namespace mlir;
namespace proto = ::onnx;

namespace kiln::onnx {

//===----------------------------------------------------------------------===//
// Subgraph scopes
//===----------------------------------------------------------------------===//

/// The subgraphs a node holds (a Loop's body, an If's two branches).
static SmallVector<const proto::GraphProto *>
subgraphsOf(const proto::NodeProto &node,
            SmallVector<std::string> *attributes = nullptr) {
  SmallVector<const proto::GraphProto *> graphs;
  for (const auto &a : node.attribute()) {
    if (a.has_g())
      graphs.push_back(&a.g());
    for (const auto &g : a.graphs())
      graphs.push_back(&g);
    if (attributes)
      attributes->resize(graphs.size(), a.name());
  }
  return graphs;
}

/// Adds to `names` what `graph` reads from enclosing scopes: names its nodes
/// (and their subgraphs) read, and outputs it returns, that it does not
/// define itself.
static void collectFreeNames(const proto::GraphProto &graph,
                             llvm::StringSet<> &names) {
  llvm::StringSet<> defined;
  for (const auto &input : graph.input())
    defined.insert(input.name());
  for (const auto &init : graph.initializer())
    defined.insert(init.name());
  for (const auto &node : graph.node())
    for (const auto &out : node.output())
      defined.insert(out);
  auto read = [&](StringRef name) {
    if (!name.empty() && !defined.contains(name))
      names.insert(name);
  };
  for (const auto &node : graph.node()) {
    for (const auto &in : node.input())
      read(in);
    for (const proto::GraphProto *sub : subgraphsOf(node)) {
      llvm::StringSet<> inner;
      collectFreeNames(*sub, inner);
      for (const auto &name : inner)
        read(name.getKey());
    }
  }
  for (const auto &out : graph.output())
    read(out.name());
}

/// Every name `node` reads: its inputs, then what its subgraphs read from
/// the graph around it (implicit inputs), each once.
static SmallVector<std::string> readsOf(const proto::NodeProto &node) {
  SmallVector<std::string> reads;
  llvm::StringSet<> seen;
  for (const auto &in : node.input())
    if (!in.empty() && seen.insert(in).second)
      reads.push_back(in);
  for (const proto::GraphProto *sub : subgraphsOf(node)) {
    llvm::StringSet<> inner;
    collectFreeNames(*sub, inner);
    // StringSet iterates in hash order: sort for stable diagnostics.
    SmallVector<std::string> sorted;
    for (const auto &name : inner)
      sorted.push_back(name.getKey().str());
    llvm::sort(sorted);
    for (auto &name : sorted)
      if (seen.insert(name).second)
        reads.push_back(name);
  }
  return reads;
}

/// Renames, in `graph` and the subgraphs within it, every name `rename`
/// maps (the names of one inlined copy of an enclosing body that `graph`
/// reads). ONNX names do not shadow outer ones, so no scope is checked.
static void renameIn(proto::GraphProto &graph,
                     const llvm::StringMap<std::string> &rename);

static void renameIn(proto::NodeProto &node,
                     const llvm::StringMap<std::string> &rename) {
  auto apply = [&](std::string *name) {
    if (auto it = rename.find(*name); it != rename.end())
      *name = it->second;
  };
  for (auto &in : *node.mutable_input())
    apply(&in);
  for (auto &out : *node.mutable_output())
    apply(&out);
  for (auto &a : *node.mutable_attribute()) {
    if (a.has_g())
      renameIn(*a.mutable_g(), rename);
    for (auto &g : *a.mutable_graphs())
      renameIn(g, rename);
  }
}

static void renameIn(proto::GraphProto &graph,
                     const llvm::StringMap<std::string> &rename) {
  for (auto &node : *graph.mutable_node())
    renameIn(node, rename);
  for (auto &out : *graph.mutable_output())
    if (auto it = rename.find(out.name()); it != rename.end())
      out.set_name(it->second);
}

/// Whether `type` is what the tensor type `declared` allows (its element
/// type, rank and fixed sizes; symbolic sizes match any); when not, sets
/// `text` to the declaration as "FLOAT [2, 'n']".
static bool matchesDeclared(const proto::TypeProto::Tensor &declared,
                            RankedTensorType type, std::string &text) {
  Type element = elementTypeFor(declared.elem_type(), type.getContext());
  bool ok = !element || element == type.getElementType();
  if (declared.has_shape()) {
    ok = ok && declared.shape().dim_size() == type.getRank();
    for (int d = 0; ok && d < declared.shape().dim_size(); ++d) {
      const auto &dim = declared.shape().dim(d);
      ok = !dim.has_dim_value() || dim.dim_value() == type.getDimSize(d);
    }
  }
  if (ok)
    return true;
  text = dataTypeName(declared.elem_type()).str();
  if (declared.has_shape()) {
    text += " [";
    for (int d = 0; d < declared.shape().dim_size(); ++d) {
      const auto &dim = declared.shape().dim(d);
      text += d ? ", " : "";
      text += dim.has_dim_value() ? std::to_string(dim.dim_value())
                                  : "'" + dim.dim_param() + "'";
    }
    text += "]";
  }
  return false;
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

class GraphImporter {
public:
  const ImportOptions &options() const { return options_; }
  GraphImporter(StringRef path, const ImportOptions &options,
                MLIRContext &context)
      : path_(path.str()), options_(options), context_(context),
        builder_(&context) {}

  OwningOpRef<ModuleOp> run();

  /// What the importer knows about one ONNX value.
  struct ValueInfo {
    Value value;                      // Materialized SSA value, if any.
    std::optional<HostTensor> folded; // Compile-time value that may fold.
    const proto::TensorProto *initializer = nullptr; // Float initializer.
    std::optional<SmallVector<Value>> sequence;      // Sequence elements.
  };

  ValueInfo *lookup(StringRef name) {
    auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }
  ValueInfo &define(StringRef name) { return values_[name]; }
  /// The SSA value of `info`, creating a constant or initializer op for it
  /// on first use.
  Value materialize(StringRef name, ValueInfo &info, Location loc);
  /// Reads an initializer's value as a host tensor (for compile-time inputs).
  std::optional<HostTensor> initializerValue(const proto::TensorProto &tensor,
                                             Location loc);
  bool isUsed(StringRef name) const { return used_.contains(name); }
  /// NodeImporter::inlineGraph, for the node at `loc`.
  std::optional<SmallVector<GraphValue>>
  inlineGraph(const proto::GraphProto &body, ArrayRef<GraphValue> inputs,
              const std::string &instance, Location loc);

  OpBuilder &builder() { return builder_; }
  MLIRContext &context() { return context_; }
  Location fileLoc() { return FileLineColLoc::get(&context_, path_, 0, 0); }
  Location nodeLoc(const proto::NodeProto &node, size_t index);
  static std::string nodeLabel(const proto::NodeProto &node, size_t index);

private:
  InFlightDiagnostic error() { return emitError(fileLoc()); }
  LogicalResult readOpset(const proto::ModelProto &model);
  LogicalResult addInputs(const proto::GraphProto &graph, func::FuncOp &func);
  LogicalResult orderNodes(const proto::GraphProto &graph,
                           std::vector<size_t> &order);
  LogicalResult checkSupported(const proto::GraphProto &graph);
  void warnSharedInitializers(const proto::GraphProto &graph);

  std::string path_;
  const ImportOptions &options_;
  MLIRContext &context_;
  OpBuilder builder_;
  int64_t opset_ = 0;
  llvm::StringMap<ValueInfo> values_;
  llvm::StringSet<> used_;
  /// Initializer ops go to the top of @forward, in first-use order.
  Block *entry_ = nullptr;
  Operation *lastInitializer_ = nullptr;
  /// The renamed copies of inlined subgraph nodes (NodeImporter keeps a
  /// reference to its node) and how many copies were made.
  std::deque<proto::NodeProto> inlinedNodes_;
  int64_t inlinedCopies_ = 0;
};

std::string GraphImporter::nodeLabel(const proto::NodeProto &node,
                                     size_t index) {
  std::string name = node.name().empty() ? "#" + std::to_string(index)
                                         : "'" + node.name() + "'";
  return "node " + name + " (" + node.op_type() + ")";
}

Location GraphImporter::nodeLoc(const proto::NodeProto &node, size_t index) {
  return NameLoc::get(StringAttr::get(&context_, nodeLabel(node, index)),
                      fileLoc());
}

LogicalResult GraphImporter::readOpset(const proto::ModelProto &model) {
  for (const auto &entry : model.opset_import()) {
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset_ = entry.version();
  }
  if (opset_ <= 0)
    return error() << "the model imports no version of the default ONNX "
                      "domain (opset_import has no entry for \"\")";
  // Each op's conversion says from which opset on it reads the op's form
  // (checkSupported): most from 7 (broadcasting as numpy does), unary ops
  // whose older forms differ only by a dropped hint from 1 or 6.
  return success();
}

LogicalResult GraphImporter::addInputs(const proto::GraphProto &graph,
                                       func::FuncOp &func) {
  llvm::StringSet<> initializers;
  for (const auto &init : graph.initializer())
    initializers.insert(init.name());

  SmallVector<Type> types;
  SmallVector<std::string> names;
  bool ok = true;
  llvm::StringSet<> known;
  for (const auto &input : graph.input()) {
    // Old exporters list initializers among the inputs too.
    if (initializers.contains(input.name()))
      continue;
    known.insert(input.name());
    if (auto bound = options_.constantInputs.find(input.name());
        bound != options_.constantInputs.end()) {
      define(input.name()).folded = HostTensor::fromAttr(bound->second);
      continue;
    }
    std::string what = "input '" + input.name() + "'";
    if (!input.type().has_tensor_type()) {
      error() << what << " is not a tensor; kiln takes tensor inputs only";
      ok = false;
      continue;
    }
    const auto &tensorType = input.type().tensor_type();
    Type element = elementTypeFor(tensorType.elem_type(), &context_);
    if (!element) {
      error() << what << " has element type "
              << dataTypeName(tensorType.elem_type())
              << ", which kiln does not support";
      ok = false;
      continue;
    }
    SmallVector<int64_t> shape;
    auto given = options_.inputShapes.find(input.name());
    bool hasShape = tensorType.has_shape();
    if (given != options_.inputShapes.end()) {
      shape = given->second;
      if (hasShape && tensorType.shape().dim_size() != (int)shape.size()) {
        error() << what << " has rank " << tensorType.shape().dim_size()
                << " but --input-shape gives " << shape.size() << " sizes";
        ok = false;
        continue;
      }
      for (int d = 0; hasShape && d < tensorType.shape().dim_size(); ++d) {
        const auto &dim = tensorType.shape().dim(d);
        if (dim.has_dim_value() && dim.dim_value() != shape[d]) {
          error() << what << " dimension " << d << " is " << dim.dim_value()
                  << " in the model but --input-shape gives " << shape[d];
          ok = false;
        }
      }
    } else if (!hasShape) {
      error() << what << " has no shape in the model; give one with "
              << "--input-shape " << input.name() << "=D0,D1,...";
      ok = false;
      continue;
    } else {
      for (int d = 0; d < tensorType.shape().dim_size(); ++d) {
        const auto &dim = tensorType.shape().dim(d);
        bool fixed = dim.has_dim_value() && dim.dim_value() >= 0;
        if (d == 0 && options_.batchSize > 0 &&
            !(fixed && options_.batchSizeIfSymbolic)) {
          if (fixed && dim.dim_value() != options_.batchSize) {
            error() << what << " has a fixed batch size of "
                    << dim.dim_value() << ", not " << options_.batchSize
                    << " (use --batch " << dim.dim_value()
                    << ", or export the model with a dynamic batch "
                       "dimension)";
            ok = false;
            break;
          }
          shape.push_back(options_.batchSize);
          continue;
        }
        if (fixed) {
          shape.push_back(dim.dim_value());
          continue;
        }
        auto diag = error() << what << " dimension " << d;
        if (dim.has_dim_param() && !dim.dim_param().empty())
          diag << " ('" << dim.dim_param() << "')";
        diag << " has no static size; give every size with --input-shape "
             << input.name() << "=D0,D1,...";
        ok = false;
        break;
      }
    }
    types.push_back(RankedTensorType::get(shape, element));
    names.push_back(input.name());
  }
  for (const auto &entry : options_.constantInputs) {
    if (!known.contains(entry.getKey())) {
      error() << "a constant is given for '" << entry.getKey()
              << "', which is not an input of the model";
      ok = false;
    }
  }
  for (const auto &entry : options_.inputShapes) {
    if (known.contains(entry.getKey()))
      continue;
    auto diag = error() << "--input-shape names '" << entry.getKey()
                        << "', which is not an input of the model (inputs:";
    for (const auto &name : known)
      diag << " '" << name.getKey() << "'";
    diag << ")";
    ok = false;
  }
  if (!ok)
    return failure();

  func = builder_.create<func::FuncOp>(fileLoc(), "forward",
                                       builder_.getFunctionType(types, {}));
  entry_ = func.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(names)) {
    func.setArgAttr(i, "kiln.name", builder_.getStringAttr(name));
    define(name).value = func.getArgument(i);
  }
  return success();
}

LogicalResult GraphImporter::orderNodes(const proto::GraphProto &graph,
                                        std::vector<size_t> &order) {
  // Every name a node reads must be a graph input, an initializer or some
  // node's output; each name is defined once.
  llvm::StringMap<int64_t> producer; // -1: input or initializer.
  for (const auto &input : graph.input())
    producer[input.name()] = -1;
  for (const auto &init : graph.initializer())
    producer[init.name()] = -1;
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto &out : graph.node(i).output()) {
      if (out.empty())
        continue;
      auto [it, inserted] = producer.try_emplace(out, i);
      if (!inserted)
        return error() << nodeLabel(graph.node(i), i) << " writes '" << out
                       << "', which "
                       << (it->second < 0
                               ? std::string("is a graph input or initializer")
                               : nodeLabel(graph.node(it->second), it->second) +
                                     " also writes");
    }
  }
  std::vector<SmallVector<std::string>> reads;
  for (int i = 0; i < graph.node_size(); ++i) {
    reads.push_back(readsOf(graph.node(i)));
    for (const auto &in : reads.back()) {
      if (!producer.count(in))
        return error() << nodeLabel(graph.node(i), i) << " reads '" << in
                       << "'"
                       << (llvm::is_contained(graph.node(i).input(), in)
                               ? ""
                               : " (in a subgraph)")
                       << ", which no graph input, initializer or node "
                          "defines";
    }
  }
  for (const auto &out : graph.output())
    if (!producer.count(out.name()))
      return error() << "graph output '" << out.name()
                     << "' is not defined by any input, initializer or node";

  // Kahn's algorithm in the model's own order where it is already sorted.
  std::vector<int> pending(graph.node_size(), 0);
  std::vector<std::vector<size_t>> users(graph.node_size());
  for (int i = 0; i < graph.node_size(); ++i) {
    for (const auto &in : reads[i]) {
      int64_t p = producer[in];
      if (p >= 0) {
        ++pending[i];
        users[p].push_back(i);
      }
    }
  }
  std::deque<size_t> ready;
  for (int i = 0; i < graph.node_size(); ++i)
    if (pending[i] == 0)
      ready.push_back(i);
  while (!ready.empty()) {
    size_t i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0)
        ready.push_back(u);
  }
  if (order.size() != static_cast<size_t>(graph.node_size())) {
    // Nodes left waiting are on a cycle or downstream of one; drop the
    // downstream ones (no waiting user) until only the cycle remains.
    for (bool changed = true; changed;) {
      changed = false;
      for (int i = 0; i < graph.node_size(); ++i) {
        if (pending[i] > 0 &&
            llvm::none_of(users[i], [&](size_t u) { return pending[u] > 0; })) {
          pending[i] = 0;
          changed = true;
        }
      }
    }
    auto diag = error() << "the graph has a cycle through";
    int shown = 0;
    for (int i = 0; i < graph.node_size() && shown < 8; ++i)
      if (pending[i] > 0) {
        diag << (shown++ ? ", " : " ") << nodeLabel(graph.node(i), i);
      }
    return diag;
  }
  return success();
}

LogicalResult GraphImporter::checkSupported(const proto::GraphProto &graph) {
  // op type (with domain) -> node labels; reported all at once.
  std::map<std::string, std::vector<std::string>> unsupported;
  // The nodes of subgraphs too, labelled by the node holding them.
  std::function<void(const proto::GraphProto &, const std::string &)> visit =
      [&](const proto::GraphProto &g, const std::string &within) {
        for (int i = 0; i < g.node_size(); ++i) {
          const auto &node = g.node(i);
          std::string label = (node.name().empty() ? "#" + std::to_string(i)
                                                   : "'" + node.name() + "'") +
                              within;
          SmallVector<std::string> attributes;
          auto subgraphs = subgraphsOf(node, &attributes);
          for (auto [sub, attribute] : llvm::zip_equal(subgraphs, attributes))
            visit(*sub, " in " + attribute + " of " + label);
          std::string key = node.op_type();
          bool defaultDomain =
              node.domain().empty() || node.domain() == "ai.onnx";
          const OpConverter *converter =
              defaultDomain ? findConverter(node.op_type()) : nullptr;
          if (!defaultDomain)
            key = node.domain() + "." + node.op_type();
          else if (converter && opset_ < converter->minOpset)
            key += " (opset " + std::to_string(opset_) +
                   "; kiln reads opset " +
                   std::to_string(converter->minOpset) + " and later)";
          else if (converter)
            continue;
          unsupported[key].push_back(label);
        }
      };
  visit(graph, "");
  if (unsupported.empty())
    return success();
  size_t nodes = 0;
  for (auto &entry : unsupported)
    nodes += entry.second.size();
  auto diag = error() << "the model uses " << unsupported.size() << " op type"
                      << (unsupported.size() > 1 ? "s" : "")
                      << " kiln does not support (" << nodes << " node"
                      << (nodes > 1 ? "s" : "") << "):";
  for (auto &[op, names] : unsupported) {
    diag << "\n  " << op << ": " << names.size() << " node"
         << (names.size() > 1 ? "s" : "") << " (";
    for (size_t i = 0; i < names.size() && i < 5; ++i)
      diag << (i ? ", " : "") << names[i];
    if (names.size() > 5)
      diag << ", ...";
    diag << ")";
  }
  return failure();
}

void GraphImporter::warnSharedInitializers(const proto::GraphProto &graph) {
  // A float initializer read by several node inputs: either real weight
  // tying, or the dynamo exporter's optimizer having merged equal
  // initializers (two zero biases become one), which would tie parameters
  // that were separate in the original model. Single values are left out:
  // exporters lift scalar constants (-inf, a scale) into shared initializers,
  // and those are no parameters. So are reads of only the shape or type
  // (Shape, Size, CastLike's target) and Resize's scales and roi.
  llvm::MapVector<StringRef, SmallVector<std::string>> uses;
  llvm::StringSet<> tensors, readWhole;
  for (const auto &init : graph.initializer()) {
    Type element = elementTypeFor(init.data_type(), &context_);
    int64_t count = 1;
    for (int64_t d : init.dims())
      count *= std::max<int64_t>(d, 0);
    if (element && isa<FloatType>(element) && count > 1)
      tensors.insert(init.name());
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    const proto::NodeProto &node = graph.node(i);
    for (auto [j, in] : llvm::enumerate(node.input())) {
      // (Resize's roi and scales are read at compile time, as constants.)
      bool metadataOnly = node.op_type() == "Shape" ||
                          node.op_type() == "Size" ||
                          (node.op_type() == "CastLike" && j == 1) ||
                          ((node.op_type() == "Resize" ||
                            node.op_type() == "Upsample") &&
                           j >= 1);
      if (!tensors.contains(in) || metadataOnly)
        continue;
      if (node.op_type() != "Slice" || j != 0)
        readWhole.insert(in);
      uses[in].push_back(nodeLabel(node, i) + " input " + std::to_string(j));
    }
  }
  for (auto &[name, sites] : uses) {
    // Read only in pieces (Slices): one parameter cut up, as PyTorch's
    // exporter reorders a recurrent layer's gates, not two merged.
    if (sites.size() < 2 || !readWhole.contains(name))
      continue;
    auto diag = emitWarning(fileLoc()) << "initializer '" << name << "' feeds "
                                       << sites.size() << " inputs (";
    for (size_t i = 0; i < sites.size() && i < 4; ++i)
      diag << (i ? ", " : "") << sites[i];
    if (sites.size() > 4)
      diag << ", ...";
    diag << "); training updates it as one parameter. If these were separate "
            "parameters in the original model, the exporter merged them: "
            "export for training with optimize=False (dynamo) or "
            "do_constant_folding=False (TorchScript)";
  }
}

std::optional<HostTensor>
GraphImporter::initializerValue(const proto::TensorProto &tensor,
                                Location loc) {
  auto attr =
      tensorToAttr(tensor, path_, /*resourceThresholdBytes=*/0, &context_);
  if (!attr) {
    emitError(loc) << llvm::toString(attr.takeError());
    return std::nullopt;
  }
  return HostTensor::fromAttr(cast<DenseElementsAttr>(*attr));
}

Value GraphImporter::materialize(StringRef name, ValueInfo &info,
                                 Location loc) {
  if (info.value)
    return info.value;
  if (info.initializer) {
    auto attr = tensorToAttr(*info.initializer, path_,
                             options_.resourceThresholdBytes, &context_);
    if (!attr) {
      emitError(loc) << llvm::toString(attr.takeError());
      return {};
    }
    OpBuilder::InsertionGuard guard(builder_);
    if (lastInitializer_)
      builder_.setInsertionPointAfter(lastInitializer_);
    else
      builder_.setInsertionPointToStart(entry_);
    auto op = builder_.create<graph::InitializerOp>(
        NameLoc::get(StringAttr::get(&context_, "initializer '" + name + "'"),
                     fileLoc()),
        builder_.getStringAttr(name), *attr);
    lastInitializer_ = op;
    return info.value = op.getResult();
  }
  if (info.folded)
    return info.value =
               builder_.create<graph::ConstantOp>(loc, info.folded->toAttr());
  return {};
}

std::optional<SmallVector<GraphValue>>
GraphImporter::inlineGraph(const proto::GraphProto &body,
                           ArrayRef<GraphValue> inputs,
                           const std::string &instance, Location loc) {
  std::string graphName =
      "subgraph" + (body.name().empty() ? "" : " '" + body.name() + "'");
  if (static_cast<size_t>(body.input_size()) != inputs.size()) {
    emitError(loc) << graphName << " takes " << body.input_size()
                   << " input" << (body.input_size() == 1 ? "" : "s") << ", "
                   << inputs.size() << " given";
    return std::nullopt;
  }
  // Each copy's own names get a suffix saying which copy they belong to
  // ("y_out in iteration 2 of node 'loop' (Loop)"); names the body reads
  // from enclosing graphs stay as they are.
  llvm::StringMap<std::string> rename;
  auto addLocal = [&](const std::string &name) {
    if (!name.empty())
      rename.try_emplace(name, name);
  };
  for (const auto &input : body.input())
    addLocal(input.name());
  for (const auto &init : body.initializer())
    addLocal(init.name());
  for (const auto &node : body.node())
    for (const auto &out : node.output())
      addLocal(out);
  std::string suffix = " in " + instance;
  ++inlinedCopies_;
  if (llvm::any_of(rename, [&](const auto &entry) {
        return values_.contains(entry.getKey().str() + suffix);
      }))
    suffix += " #" + std::to_string(inlinedCopies_);
  for (auto &entry : rename)
    entry.second = entry.getKey().str() + suffix;

  // Bind the inputs, checking them against the types the body declares.
  for (auto [k, input] : llvm::enumerate(body.input())) {
    const GraphValue &given = inputs[k];
    const proto::TypeProto &declaredType = input.type();
    if (declaredType.has_optional_type() ||
        (declaredType.has_sequence_type() && !given.isSequence()) ||
        (declaredType.has_tensor_type() && given.isSequence())) {
      emitError(loc) << graphName << " input " << k << " ('" << input.name()
                     << "') is declared as "
                     << (declaredType.has_optional_type()
                             ? "an optional, which kiln does not support"
                         : declaredType.has_sequence_type()
                             ? "a sequence but is given a tensor"
                             : "a tensor but is given a sequence")
                     << " (" << instance << ")";
      return std::nullopt;
    }
    std::string declared;
    if (declaredType.has_tensor_type() &&
        !matchesDeclared(declaredType.tensor_type(), given.type(), declared)) {
      emitError(loc) << graphName << " input " << k << " ('" << input.name()
                     << "') is declared as " << declared << " but is given "
                     << given.type() << " (" << instance << ")";
      return std::nullopt;
    }
    ValueInfo &info = define(rename.lookup(input.name()));
    info.value = given.value;
    info.folded = given.folded;
    info.sequence = given.sequence;
  }
  // A subgraph's initializers are constants of the body, not parameters.
  for (const auto &init : body.initializer()) {
    auto value = initializerValue(init, loc);
    if (!value)
      return std::nullopt;
    define(rename.lookup(init.name())).folded = std::move(*value);
  }

  // The renamed copies, then each converted in the body's order.
  size_t first = inlinedNodes_.size();
  std::vector<SmallVector<std::string>> reads;
  for (const auto &node : body.node()) {
    proto::NodeProto &copy = inlinedNodes_.emplace_back(node);
    renameIn(copy, rename);
    reads.push_back(readsOf(copy));
    for (const auto &in : reads.back())
      used_.insert(in);
  }
  SmallVector<std::string> outputs;
  for (const auto &out : body.output()) {
    outputs.push_back(rename.count(out.name()) ? rename.lookup(out.name())
                                               : out.name());
    used_.insert(outputs.back());
  }
  for (int j = 0; j < body.node_size(); ++j) {
    const proto::NodeProto &copy = inlinedNodes_[first + j];
    Location nodeLocation = NameLoc::get(
        StringAttr::get(&context_,
                        nodeLabel(body.node(j), j) + " in " + instance),
        fileLoc());
    for (auto [k, in] : llvm::enumerate(reads[j])) {
      if (!lookup(in)) {
        // (The name as the model spells it: renaming keeps the order.)
        emitError(nodeLocation)
            << "reads '" << readsOf(body.node(j))[k]
            << "', which is not defined before it (a subgraph's nodes must "
               "be in topological order)";
        return std::nullopt;
      }
    }
    const OpConverter *converter = findConverter(copy.op_type());
    if (!converter) {
      emitError(nodeLocation) << "internal error: no conversion for "
                              << copy.op_type();
      return std::nullopt;
    }
    NodeImporter importer(*this, copy, opset_, nodeLocation);
    if (failed(converter->convert(importer)) || importer.failed())
      return std::nullopt;
  }

  SmallVector<GraphValue> results;
  for (auto [k, name] : llvm::enumerate(outputs)) {
    ValueInfo *info = lookup(name);
    GraphValue result;
    if (info && info->sequence)
      result.sequence = info->sequence;
    else if (info && info->folded)
      result.folded = info->folded;
    else if (info)
      result.value = materialize(name, *info, loc);
    if (!result.value && !result.folded && !result.sequence) {
      emitError(loc) << graphName << " output " << k << " ('"
                     << body.output(k).name() << "') has no value ("
                     << instance << ")";
      return std::nullopt;
    }
    std::string declared;
    if (result.isSequence() != body.output(k).type().has_sequence_type() &&
        (body.output(k).type().has_sequence_type() ||
         body.output(k).type().has_tensor_type())) {
      emitError(loc) << graphName << " output " << k << " ('"
                     << body.output(k).name() << "') is declared as a "
                     << (result.isSequence() ? "tensor" : "sequence")
                     << " but kiln computes a "
                     << (result.isSequence() ? "sequence" : "tensor") << " ("
                     << instance << ")";
      return std::nullopt;
    }
    if (!result.isSequence() && body.output(k).type().has_tensor_type() &&
        !matchesDeclared(body.output(k).type().tensor_type(), result.type(),
                         declared)) {
      emitError(loc) << graphName << " output " << k << " ('"
                     << body.output(k).name() << "') is declared as "
                     << declared << " but kiln computes " << result.type()
                     << " (" << instance << ")";
      return std::nullopt;
    }
    results.push_back(std::move(result));
  }
  return results;
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  // 1. Read the model.
  auto model = readModel(path_);
  if (!model) {
    emitError(UnknownLoc::get(&context_)) << llvm::toString(model.takeError());
    return {};
  }
  const proto::GraphProto &graph = (*model)->graph();
  if (failed(readOpset(**model)))
    return {};

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc());
  builder_.setInsertionPointToEnd(module->getBody());

  // 2-3. Inputs and the graph's structure.
  func::FuncOp func;
  std::vector<size_t> order;
  if (failed(orderNodes(graph, order)) || failed(checkSupported(graph)) ||
      failed(addInputs(graph, func)))
    return {};
  warnSharedInitializers(graph);

  // Initializers: float ones stay weights; integer and bool ones are known
  // values (shape constants) that may fold.
  for (const auto &init : graph.initializer()) {
    Type element = elementTypeFor(init.data_type(), &context_);
    ValueInfo &info = define(init.name());
    if (element && isa<FloatType>(element)) {
      info.initializer = &init;
      continue;
    }
    auto value = initializerValue(init, fileLoc());
    if (!value)
      return {};
    info.folded = std::move(*value);
  }
  for (const auto &node : graph.node())
    for (const auto &in : readsOf(node))
      used_.insert(in);
  for (const auto &out : graph.output())
    used_.insert(out.name());

  // 4. Convert node by node.
  builder_.setInsertionPointToEnd(entry_);
  for (size_t index : order) {
    const proto::NodeProto &node = graph.node(index);
    NodeImporter importer(*this, node, opset_, nodeLoc(node, index));
    const OpConverter *converter = findConverter(node.op_type());
    if (failed(converter->convert(importer)) || importer.failed())
      return {};
    for (auto [i, out] : llvm::enumerate(node.output())) {
      if (out.empty() || !isUsed(out))
        continue;
      ValueInfo *info = lookup(out);
      if (!info || (!info->value && !info->folded && !info->sequence)) {
        emitError(nodeLoc(node, index))
            << "internal error: the " << node.op_type()
            << " conversion gave no value for output " << i << " ('" << out
            << "')";
        return {};
      }
    }
  }

  // 5. Return the graph outputs.
  SmallVector<Value> results;
  for (const auto &out : graph.output()) {
    ValueInfo *info = lookup(out.name());
    Value value = info ? materialize(out.name(), *info, fileLoc()) : Value();
    if (!value) {
      error() << "graph output '" << out.name() << "' is "
              << (info && info->sequence ? "a sequence" : "not a tensor")
              << "; kiln returns tensor outputs only";
      return {};
    }
    // The model's declared output type, where it gives one, must be what
    // the conversion computed: a cheap check of both the model and kiln.
    std::string declared;
    if (out.type().has_tensor_type() &&
        !matchesDeclared(out.type().tensor_type(),
                         cast<RankedTensorType>(value.getType()), declared)) {
      error() << "graph output '" << out.name() << "' is declared as "
              << declared << " but kiln computes " << value.getType();
      return {};
    }
    results.push_back(value);
  }
  builder_.create<func::ReturnOp>(fileLoc(), results);
  func.setFunctionType(builder_.getFunctionType(
      func.getArgumentTypes(), ValueRange(results).getTypes()));
  for (auto [i, out] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "kiln.name", builder_.getStringAttr(out.name()));
  if (failed(verify(*module)))
    return {};
  return module;
}

//===----------------------------------------------------------------------===//
// NodeImporter
//===----------------------------------------------------------------------===//

NodeImporter::NodeImporter(GraphImporter &graph, const proto::NodeProto &node,
                           int64_t opset, Location loc)
    : graph_(graph), node_(node), opset_(opset), loc_(loc) {}

OpBuilder &NodeImporter::builder() { return graph_.builder(); }
MLIRContext *NodeImporter::context() { return &graph_.context(); }

const ImportOptions &NodeImporter::options() const {
  return graph_.options();
}

InFlightDiagnostic NodeImporter::error() {
  failed_ = true;
  return emitError(loc_);
}

bool NodeImporter::hasInput(size_t i) const {
  return i < static_cast<size_t>(node_.input_size()) && !node_.input(i).empty();
}

Value NodeImporter::input(size_t i) {
  if (!hasInput(i)) {
    error() << "needs input " << i << ", which is missing";
    return {};
  }
  auto *info = graph_.lookup(node_.input(i));
  Value value =
      info ? graph_.materialize(node_.input(i), *info, loc_) : Value();
  if (!value) {
    if (info && info->sequence)
      error() << "input " << i << " ('" << node_.input(i)
              << "') is a sequence; a tensor is needed";
    failed_ = true;
  }
  return value;
}

RankedTensorType NodeImporter::inputType(size_t i) {
  if (const HostTensor *known = folded(i))
    return known->type();
  if (hasInput(i)) {
    auto *info = graph_.lookup(node_.input(i));
    if (info && info->initializer && !info->value) {
      // The type without materializing the initializer's data.
      const auto &t = *info->initializer;
      return RankedTensorType::get(
          SmallVector<int64_t>(t.dims().begin(), t.dims().end()),
          elementTypeFor(t.data_type(), context()));
    }
  }
  Value value = input(i);
  if (!value)
    return RankedTensorType::get({}, builder().getNoneType());
  return cast<RankedTensorType>(value.getType());
}

const HostTensor *NodeImporter::folded(size_t i) {
  if (!hasInput(i))
    return nullptr;
  auto *info = graph_.lookup(node_.input(i));
  return info && info->folded ? &*info->folded : nullptr;
}

std::optional<HostTensor> NodeImporter::constantInput(size_t i,
                                                      StringRef what) {
  if (const HostTensor *known = folded(i))
    return *known;
  if (hasInput(i)) {
    auto *info = graph_.lookup(node_.input(i));
    if (info && info->initializer) {
      auto value = graph_.initializerValue(*info->initializer, loc_);
      if (!value)
        failed_ = true;
      return value;
    }
    error() << what << " (input " << i << ", '" << node_.input(i)
            << "') must be known at compile time, but it is computed from "
               "the model's inputs; kiln needs static shapes";
  } else {
    error() << "needs " << what << " (input " << i << "), which is missing";
  }
  return std::nullopt;
}

std::optional<std::vector<int64_t>> NodeImporter::constantInts(size_t i,
                                                               StringRef what) {
  auto value = constantInput(i, what);
  if (!value)
    return std::nullopt;
  if (value->isFloat()) {
    error() << what << " (input " << i << ") must be integers, got "
            << value->type().getElementType();
    return std::nullopt;
  }
  return value->ints();
}

std::optional<GraphValue> NodeImporter::inputValue(size_t i) {
  if (const HostTensor *known = folded(i))
    return GraphValue{Value(), *known, std::nullopt};
  if (auto *info = hasInput(i) ? graph_.lookup(node_.input(i)) : nullptr;
      info && info->sequence)
    return GraphValue{Value(), std::nullopt, *info->sequence};
  Value value = input(i);
  if (!value)
    return std::nullopt;
  return GraphValue{value, std::nullopt, std::nullopt};
}

std::optional<SmallVector<Value>> NodeImporter::sequenceInput(size_t i) {
  auto *info = hasInput(i) ? graph_.lookup(node_.input(i)) : nullptr;
  if (info && info->sequence)
    return *info->sequence;
  if (!hasInput(i))
    error() << "needs input " << i << ", which is missing";
  else
    error() << "input " << i << " ('" << node_.input(i)
            << "') is a tensor; a sequence is needed";
  return std::nullopt;
}

bool NodeImporter::hasAttr(StringRef name) const {
  return llvm::any_of(node_.attribute(),
                      [&](const auto &a) { return a.name() == name; });
}

const proto::AttributeProto *
NodeImporter::attr(StringRef name, proto::AttributeProto::AttributeType type) {
  for (const auto &a : node_.attribute()) {
    if (a.name() != name)
      continue;
    // Old exporters leave `type` unset; accept a set field of the right kind.
    auto actual = a.type();
    if (actual == proto::AttributeProto::UNDEFINED) {
      if (a.has_i())
        actual = proto::AttributeProto::INT;
      else if (a.has_f())
        actual = proto::AttributeProto::FLOAT;
      else if (a.has_s())
        actual = proto::AttributeProto::STRING;
      else if (a.has_t())
        actual = proto::AttributeProto::TENSOR;
      else if (a.ints_size())
        actual = proto::AttributeProto::INTS;
      else if (a.floats_size())
        actual = proto::AttributeProto::FLOATS;
      else if (a.strings_size())
        actual = proto::AttributeProto::STRINGS;
      else if (a.has_g())
        actual = proto::AttributeProto::GRAPH;
    }
    if (actual != type) {
      error() << "attribute '" << name << "' must be "
              << proto::AttributeProto::AttributeType_Name(type) << ", got "
              << proto::AttributeProto::AttributeType_Name(actual);
      return nullptr;
    }
    return &a;
  }
  return nullptr;
}

int64_t NodeImporter::attrInt(StringRef name, int64_t fallback) {
  auto *a = attr(name, proto::AttributeProto::INT);
  return a ? a->i() : fallback;
}

float NodeImporter::attrFloat(StringRef name, float fallback) {
  auto *a = attr(name, proto::AttributeProto::FLOAT);
  return a ? a->f() : fallback;
}

std::string NodeImporter::attrString(StringRef name, StringRef fallback) {
  auto *a = attr(name, proto::AttributeProto::STRING);
  return a ? a->s() : fallback.str();
}

std::vector<int64_t> NodeImporter::attrInts(StringRef name,
                                            std::vector<int64_t> fallback) {
  auto *a = attr(name, proto::AttributeProto::INTS);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end())
           : fallback;
}

std::vector<float> NodeImporter::attrFloats(StringRef name) {
  auto *a = attr(name, proto::AttributeProto::FLOATS);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end())
           : std::vector<float>();
}

std::vector<std::string> NodeImporter::attrStrings(StringRef name) {
  auto *a = attr(name, proto::AttributeProto::STRINGS);
  return a ? std::vector<std::string>(a->strings().begin(), a->strings().end())
           : std::vector<std::string>();
}

const proto::TensorProto *NodeImporter::attrTensor(StringRef name) {
  auto *a = attr(name, proto::AttributeProto::TENSOR);
  return a ? &a->t() : nullptr;
}

std::optional<HostTensor>
NodeImporter::tensorValue(const proto::TensorProto &tensor) {
  auto value = graph_.initializerValue(tensor, loc_);
  if (!value)
    failed_ = true;
  return value;
}

const proto::GraphProto *NodeImporter::attrGraph(StringRef name) {
  if (!hasAttr(name)) {
    missingAttr(name);
    return nullptr;
  }
  auto *a = attr(name, proto::AttributeProto::GRAPH);
  return a ? &a->g() : nullptr;
}

void NodeImporter::missingAttr(StringRef name) {
  error() << "needs attribute '" << name << "', which is missing";
}

bool NodeImporter::outputUsed(size_t i) const {
  return i < numOutputs() && !node_.output(i).empty() &&
         graph_.isUsed(node_.output(i));
}

void NodeImporter::setOutput(size_t i, Value value) {
  if (i < numOutputs() && !node_.output(i).empty())
    graph_.define(node_.output(i)).value = value;
}

void NodeImporter::setFolded(size_t i, HostTensor value) {
  if (i < numOutputs() && !node_.output(i).empty())
    graph_.define(node_.output(i)).folded = std::move(value);
}

void NodeImporter::setSequence(size_t i, SmallVector<Value> elements) {
  if (i < numOutputs() && !node_.output(i).empty())
    graph_.define(node_.output(i)).sequence = std::move(elements);
}

void NodeImporter::setOutputValue(size_t i, GraphValue value) {
  if (value.sequence)
    setSequence(i, std::move(*value.sequence));
  else if (value.folded)
    setFolded(i, std::move(*value.folded));
  else
    setOutput(i, value.value);
}

Value NodeImporter::materialize(const GraphValue &value) {
  if (value.value || !value.folded)
    return value.value;
  return builder().create<graph::ConstantOp>(loc_, value.folded->toAttr());
}

std::optional<SmallVector<GraphValue>>
NodeImporter::inlineGraph(const proto::GraphProto &body,
                          ArrayRef<GraphValue> inputs, StringRef instance) {
  if (failed_)
    return std::nullopt;
  std::string label = "this node";
  if (auto name = dyn_cast<NameLoc>(loc_))
    label = name.getName().str();
  auto results =
      graph_.inlineGraph(body, inputs, instance.str() + " of " + label, loc_);
  if (!results)
    failed_ = true;
  return results;
}

const OpConverter *findConverter(StringRef opType) {
  for (ArrayRef<OpConverter> table : {convertersAtoL(), convertersMtoZ()})
    for (const OpConverter &c : table)
      if (c.opType == opType)
        return &c;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Entry points
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> importModel(StringRef path, const ImportOptions &options,
                                  MLIRContext &context) {
  context.loadDialect<graph::KilnDialect, func::FuncDialect>();
  return GraphImporter(path, options, context).run();
}

bool parseInputShape(StringRef text, std::string &name,
                     SmallVector<int64_t> &shape, std::string &error) {
  auto [lhs, rhs] = text.rsplit('=');
  if (lhs.empty() || !text.contains('=')) {
    error = "expected NAME=D0,D1,... (e.g. input=256,784), got '" + text.str() +
            "'";
    return false;
  }
  name = lhs.str();
  shape.clear();
  if (rhs.empty())
    return true; // A scalar.
  SmallVector<StringRef> parts;
  rhs.split(parts, ',');
  for (StringRef part : parts) {
    int64_t size;
    if (part.trim().getAsInteger(10, size) || size < 0) {
      error = "size '" + part.str() + "' of input '" + name +
              "' is not a non-negative integer";
      return false;
    }
    shape.push_back(size);
  }
  return true;
}

} // namespace kiln::onnx
