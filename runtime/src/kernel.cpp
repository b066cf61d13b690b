//===- kernel.cpp - checks of the kernel description ----------------------===//
#include "kernel.h"

#include <algorithm>

namespace kiln::runtime {

const char *kopName(KOp op) {
  switch (op) {
  case KOp::Load:
    return "load";
  case KOp::Gather:
    return "gather";
  case KOp::Const:
    return "const";
  case KOp::Index:
    return "index";
  case KOp::Local:
    return "local";
  case KOp::Neg:
    return "neg";
  case KOp::Abs:
    return "abs";
  case KOp::Exp:
    return "exp";
  case KOp::Log:
    return "log";
  case KOp::Sqrt:
    return "sqrt";
  case KOp::Tanh:
    return "tanh";
  case KOp::Erf:
    return "erf";
  case KOp::Recip:
    return "recip";
  case KOp::Floor:
    return "floor";
  case KOp::Sin:
    return "sin";
  case KOp::Cos:
    return "cos";
  case KOp::Tan:
    return "tan";
  case KOp::Asin:
    return "asin";
  case KOp::Acos:
    return "acos";
  case KOp::Atan:
    return "atan";
  case KOp::Sinh:
    return "sinh";
  case KOp::Cosh:
    return "cosh";
  case KOp::Asinh:
    return "asinh";
  case KOp::Acosh:
    return "acosh";
  case KOp::Atanh:
    return "atanh";
  case KOp::Ceil:
    return "ceil";
  case KOp::Round:
    return "round";
  case KOp::Not:
    return "not";
  case KOp::IsNan:
    return "is_nan";
  case KOp::Cast:
    return "cast";
  case KOp::Add:
    return "add";
  case KOp::Sub:
    return "sub";
  case KOp::Mul:
    return "mul";
  case KOp::Div:
    return "div";
  case KOp::Rem:
    return "rem";
  case KOp::Pow:
    return "pow";
  case KOp::Max:
    return "max";
  case KOp::Min:
    return "min";
  case KOp::And:
    return "and";
  case KOp::Or:
    return "or";
  case KOp::Eq:
    return "eq";
  case KOp::Ne:
    return "ne";
  case KOp::Lt:
    return "lt";
  case KOp::Le:
    return "le";
  case KOp::Gt:
    return "gt";
  case KOp::Ge:
    return "ge";
  case KOp::Random:
    return "random";
  case KOp::Select:
    return "select";
  }
  return "?";
}

namespace {

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 ||
         t == DType::BF16;
}

/// How many operands (a, b, c) an opcode takes.
int arity(KOp op) {
  if (op <= KOp::Local)
    return 0;
  if (op <= KOp::Cast)
    return 1;
  if (op <= KOp::Random)
    return 2;
  return 3;
}

} // namespace

Status Kernel::verify() const {
  auto fail = [&](const std::string &message) {
    return Status(KILN_STATUS_INTERNAL, "kernel '" + name + "': " + message);
  };
  size_t rank = domain.size();
  if (segmented) {
    if (rank != 1 || parallelDims > 1)
      return fail("a segmented kernel has one dimension, parallel or "
                  "reduced to scalars");
    for (const KArg &a : args)
      if (!(a.shape.empty() || a.shape == domain))
        return fail("a segmented kernel's arguments are scalars or shaped "
                    "like its domain");
    for (const KInstr &in : body)
      if (in.op == KOp::Index || in.op == KOp::Gather)
        return fail("a segmented kernel reads no coordinate (index or "
                    "gather)");
  }
  if (reduce != Reduce::Thread && stages.empty()) {
    const char *how = reduce == Reduce::Block  ? "block"
                      : reduce == Reduce::Warp ? "warp"
                                               : "column";
    if (parallelDims >= int32_t(rank) || (segmented && parallelDims != 0))
      return fail(std::string("a ") + how +
                  " reduction needs reduction dimensions");
    for (const KOutput &o : outputs)
      if (o.combine == Combine::None)
        return fail(std::string("a ") + how +
                    " reduction combines every output");
  }
  if (vector != 1) {
    if (vector != 2 && vector != 4)
      return fail("vector width " + std::to_string(vector) +
                  " is not 1, 2 or 4");
    // (A segmented kernel's size comes with the launch: its last vector
    // may be partial.)
    if (!stages.empty() || rank == 0 || parallelDims != int32_t(rank) ||
        (!segmented && domain.back() % vector != 0))
      return fail("a vector width needs an elementwise kernel whose last "
                  "dimension it divides (or a segmented one)");
    for (const KOutput &o : outputs)
      if (args[o.arg].dtype != DType::F32)
        return fail("a vector width needs F32 outputs");
  }
  if (blockThreads != kBlockReduceThreads &&
      (blockThreads != kLongBlockThreads || reduce != Reduce::Block))
    return fail("a block of " + std::to_string(blockThreads) +
                " threads (only a block reduction may have " +
                std::to_string(kLongBlockThreads) + ")");
  if (tileDim != -1 &&
      (tileDim < 0 || size_t(tileDim) + 1 >= rank || segmented ||
       !stages.empty() || parallelDims != int32_t(rank) || vector != 1))
    return fail("transpose tiles need an elementwise kernel and a dimension "
                "before its last");
  if (reduce == Reduce::Columns && (segmented || parallelDims == 0))
    return fail("a column reduction needs parallel points and no segments");
  if (reduce == Reduce::Warp) {
    if (segmented)
      return fail("a segmented kernel reduces by thread or block");
    // Lanes exchange accumulators by shuffles: 4- or 8-byte values.
    for (const KOutput &o : outputs)
      if (!o.local && o.combine != Combine::None &&
          args[o.arg].dtype == DType::Bool)
        return fail("a warp reduction cannot combine BOOL values");
    for (const KStage &st : stages)
      for (const KStageValue &v : st.values)
        if (v.value >= 0 && size_t(v.value) < st.body.size() &&
            st.body[v.value].type == DType::Bool)
          return fail("a warp reduction cannot combine BOOL values");
  }
  if (parallelDims < 0 || static_cast<size_t>(parallelDims) > rank)
    return fail("parallelDims " + std::to_string(parallelDims) +
                " exceeds the domain's rank " + std::to_string(rank));
  for (int64_t size : domain)
    if (size < 0)
      return fail("negative domain size");
  std::vector<int64_t> outShape(domain.begin(), domain.begin() + parallelDims);

  std::vector<DType> locals = localTypes();
  // Every instruction of `b` (a stage's body, or the kernel's) well formed;
  // the first `visible` locals may be read.
  auto checkBody = [&](const std::vector<KInstr> &b, const std::string &where,
                       size_t visible) -> Status {
    for (size_t i = 0; i < b.size(); ++i) {
      const KInstr &in = b[i];
      std::string what = where + "instruction " + std::to_string(i) + " (" +
                         kopName(in.op) + ")";
      int n = arity(in.op);
      for (int k = 0; k < 3; ++k) {
        int32_t operand = k == 0 ? in.a : k == 1 ? in.b : in.c;
        if (k < n && (operand < 0 || static_cast<size_t>(operand) >= i))
          return fail(what + " uses operand " + std::to_string(operand) +
                      ", which is not an earlier instruction");
      }
      auto typeOf = [&](int32_t k) { return b[k].type; };
      switch (in.op) {
      case KOp::Load:
      case KOp::Gather: {
        if (in.arg < 0 || static_cast<size_t>(in.arg) >= args.size())
          return fail(what + " reads argument " + std::to_string(in.arg) +
                      ", which does not exist");
        const KArg &arg = args[in.arg];
        if (arg.dtype != in.type)
          return fail(what + " has type " + std::string(dtypeName(in.type)) +
                      " but argument " + std::to_string(in.arg) + " holds " +
                      std::string(dtypeName(arg.dtype)));
        if (in.op == KOp::Gather) {
          if (in.indices.size() != arg.shape.size())
            return fail(what + " needs one index per dimension of argument " +
                        std::to_string(in.arg));
          for (int32_t k : in.indices)
            if (k < 0 || static_cast<size_t>(k) >= i || isFloat(typeOf(k)))
              return fail(what + " takes its indices from earlier integer "
                                 "instructions");
          break;
        }
        size_t cols = rank + 1;
        if (in.map.size() != arg.shape.size() * cols)
          return fail(what + " has a map of " + std::to_string(in.map.size()) +
                      " entries; argument rank x (domain rank + 1) is " +
                      std::to_string(arg.shape.size() * cols));
        // An affine map's extremes over the domain box are at its corners:
        // check every coordinate stays inside the argument.
        for (size_t j = 0; j < arg.shape.size(); ++j) {
          int64_t lo = in.map[j * cols + rank], hi = lo;
          for (size_t d = 0; d < rank; ++d) {
            int64_t m = in.map[j * cols + d], extent = domain[d] - 1;
            if (domain[d] == 0)
              continue;
            lo += std::min<int64_t>(0, m * extent);
            hi += std::max<int64_t>(0, m * extent);
          }
          bool empty = std::any_of(domain.begin(), domain.end(),
                                   [](int64_t s) { return s == 0; });
          if (!empty && (lo < 0 || hi >= arg.shape[j]))
            return fail(what + " reads argument " + std::to_string(in.arg) +
                        " dimension " + std::to_string(j) + " at " +
                        std::to_string(lo) + ".." + std::to_string(hi) +
                        ", outside its size " + std::to_string(arg.shape[j]));
        }
        break;
      }
      case KOp::Index:
        if (in.ivalue < 0 || static_cast<size_t>(in.ivalue) >= rank)
          return fail(what + " names dimension " + std::to_string(in.ivalue) +
                      " of a rank-" + std::to_string(rank) + " domain");
        if (isFloat(in.type))
          return fail(what + " must have an integer type");
        break;
      case KOp::Local:
        if (in.ivalue < 0 || static_cast<size_t>(in.ivalue) >= visible)
          return fail(what + " reads local " + std::to_string(in.ivalue) +
                      (visible ? " (" + std::to_string(visible) +
                                     " are computed before it)"
                               : " (no stage computes one before it)"));
        if (locals[in.ivalue] != in.type)
          return fail(what + " has type " + std::string(dtypeName(in.type)) +
                      " but local " + std::to_string(in.ivalue) + " holds " +
                      std::string(dtypeName(locals[in.ivalue])));
        break;
      case KOp::Cast:
      case KOp::Const:
        break;
      case KOp::Not:
      case KOp::And:
      case KOp::Or:
        if (in.type != DType::Bool || typeOf(in.a) != DType::Bool ||
            (n == 2 && typeOf(in.b) != DType::Bool))
          return fail(what + " works on BOOL values");
        break;
      case KOp::IsNan:
        if (in.type != DType::Bool || !isFloat(typeOf(in.a)))
          return fail(what + " maps a float to BOOL");
        break;
      case KOp::Eq:
      case KOp::Ne:
      case KOp::Lt:
      case KOp::Le:
      case KOp::Gt:
      case KOp::Ge:
        if (in.type != DType::Bool || typeOf(in.a) != typeOf(in.b))
          return fail(what + " compares two values of one type into BOOL");
        break;
      case KOp::Random:
        if ((in.type != DType::F32 && in.type != DType::F64) ||
            typeOf(in.a) != DType::I64 || typeOf(in.b) != DType::I64)
          return fail(what + " maps two I64 values to F32 or F64");
        break;
      case KOp::Select:
        if (typeOf(in.a) != DType::Bool || typeOf(in.b) != in.type ||
            typeOf(in.c) != in.type)
          return fail(what + " needs a BOOL condition and two values of its "
                             "type");
        break;
      default:
        if (typeOf(in.a) != in.type || (n == 2 && typeOf(in.b) != in.type))
          return fail(what + " has operands of another type than its result");
        break;
      }
    }
    return Status();
  };

  // The stages of a staged kernel, each over the rows' points.
  if (!stages.empty() || rowDims != 0) {
    if (stages.empty())
      return fail("rowDims without stages");
    if (segmented)
      return fail("a segmented kernel has no stages");
    if (reduce != Reduce::Block && reduce != Reduce::Warp)
      return fail("a staged kernel runs a block or a warp per row (reduce = "
                  "block or warp)");
    if (rowDims < 0 || rowDims > parallelDims ||
        static_cast<size_t>(rowDims) >= rank)
      return fail("a staged kernel's rows (" + std::to_string(rowDims) +
                  " dimensions) come before its parallel ones and leave "
                  "dimensions to reduce");
    if (parallelDims != rowDims && static_cast<size_t>(parallelDims) != rank)
      return fail("a staged kernel's body writes every point of a row or "
                  "reduces the row");
  }
  size_t visible = 0;
  for (size_t s = 0; s < stages.size(); ++s) {
    std::string where = "stage " + std::to_string(s) + " ";
    if (stages[s].values.empty())
      return fail(where + "reduces nothing");
    if (Status st = checkBody(stages[s].body, where, visible); !st.ok())
      return st;
    for (const KStageValue &v : stages[s].values) {
      if (v.value < 0 || static_cast<size_t>(v.value) >= stages[s].body.size())
        return fail(where + "reduces instruction " + std::to_string(v.value) +
                    ", which does not exist");
      if (v.combine == Combine::None)
        return fail(where + "reduces a value without a combine");
    }
    visible += stages[s].values.size();
  }
  if (Status st = checkBody(body, "", visible); !st.ok())
    return st;

  bool reduces = static_cast<size_t>(parallelDims) < rank;
  for (size_t o = 0; o < outputs.size(); ++o) {
    const KOutput &out = outputs[o];
    std::string what = "output " + std::to_string(o);
    if (out.arg < 0 || static_cast<size_t>(out.arg) >= args.size() ||
        !args[out.arg].output)
      return fail(what + " writes argument " + std::to_string(out.arg) +
                  ", which is not an output argument");
    if (out.local) {
      if (out.value < 0 || static_cast<size_t>(out.value) >= locals.size())
        return fail(what + " writes local " + std::to_string(out.value) +
                    ", which does not exist");
      if (args[out.arg].shape !=
          std::vector<int64_t>(domain.begin(), domain.begin() + rowDims))
        return fail(what + "'s argument is not shaped like the rows");
      if (locals[out.value] != args[out.arg].dtype)
        return fail(what + " writes a " +
                    std::string(dtypeName(locals[out.value])) + " local to a " +
                    std::string(dtypeName(args[out.arg].dtype)) + " argument");
      if (out.combine != Combine::None)
        return fail(what + " writes a local, which has no combine");
      continue;
    }
    if (out.value < 0 || static_cast<size_t>(out.value) >= body.size())
      return fail(what + " takes instruction " + std::to_string(out.value) +
                  ", which does not exist");
    if (args[out.arg].shape != outShape)
      return fail(what + "'s argument is not shaped like the parallel domain");
    if (body[out.value].type != args[out.arg].dtype)
      return fail(what + " writes a " +
                  std::string(dtypeName(body[out.value].type)) +
                  " value to a " + std::string(dtypeName(args[out.arg].dtype)) +
                  " argument");
    if ((out.combine == Combine::None) == reduces)
      return fail(what + (reduces
                              ? " needs a combine: the kernel has reduction "
                                "dimensions"
                              : " has a combine but nothing to reduce"));
  }
  return Status();
}

std::vector<int64_t> loadOffsets(const Kernel &k, const KInstr &in) {
  size_t rank = k.domain.size();
  const std::vector<int64_t> &shape = k.args[in.arg].shape;
  std::vector<int64_t> coef(rank + 1, 0);
  int64_t stride = 1;
  for (size_t j = shape.size(); j-- > 0;) {
    for (size_t d = 0; d <= rank; ++d)
      coef[d] += stride * in.map[j * (rank + 1) + d];
    stride *= shape[j];
  }
  return coef;
}

int64_t Kernel::sharedBytes() const {
  int64_t arrays = 0, threads = blockThreads;
  bool reduces = static_cast<size_t>(parallelDims) < domain.size();
  if (reduce == Reduce::Block) {
    arrays = int64_t(localTypes().size());
    for (const KOutput &o : outputs)
      arrays += !o.local && (stages.empty() || reduces);
  } else if (reduce == Reduce::Columns) {
    arrays = int64_t(outputs.size());
    threads = kBlockReduceThreads;
  }
  int64_t bytes = arrays * threads * 8;
  if (tileDim >= 0)
    for (const KInstr &in : body)
      if (in.op == KOp::Load)
        bytes += int64_t(kColumnTile) * (kColumnTile + 1) * 8;
  return bytes;
}

std::vector<DType> Kernel::localTypes() const {
  std::vector<DType> types;
  for (const KStage &s : stages)
    for (const KStageValue &v : s.values)
      types.push_back(v.value >= 0 &&
                              static_cast<size_t>(v.value) < s.body.size()
                          ? s.body[v.value].type
                          : DType::F32);
  return types;
}

} // namespace kiln::runtime
