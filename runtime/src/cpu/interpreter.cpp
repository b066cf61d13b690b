//===- interpreter.cpp - runs kernels on the CPU --------------------------===//
#include "interpreter.h"

#include "threads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

namespace kiln::runtime::cpu {
namespace {

constexpr int64_t kLanes = 256;

enum class Kind { Float, Double, Int };

Kind kindOf(DType t) {
  switch (t) {
  case DType::F32:
  case DType::F16:
  case DType::BF16:
    return Kind::Float;
  case DType::F64:
    return Kind::Double;
  default:
    return Kind::Int;
  }
}

//===--- 16-bit floats ----------------------------------------------------===//

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F,
           mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // Subnormal: normalize.
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = int32_t((x >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = x & 0x7FFFFF;
  if (((x >> 23) & 0xFF) == 0xFF) // Inf or NaN.
    return uint16_t(sign | 0x7C00 | (mant ? 0x200 : 0));
  if (exp >= 31)
    return uint16_t(sign | 0x7C00);
  if (exp <= 0) { // Subnormal or zero, rounded to nearest even.
    if (exp < -10)
      return uint16_t(sign);
    mant |= 0x800000;
    uint32_t shift = uint32_t(14 - exp);
    uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1),
             mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | (uint32_t(exp) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // May carry into the exponent, which is right.
  return uint16_t(half);
}

float bf16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000)
    return uint16_t((x >> 16) | 0x40); // Quiet NaN.
  x += 0x7FFF + ((x >> 16) & 1);       // Round to nearest even.
  return uint16_t(x >> 16);
}

//===--- Lanes ------------------------------------------------------------===//

/// One instruction's values for a chunk of lanes.
struct Lanes {
  Kind kind;
  std::vector<float> f;
  std::vector<double> d;
  std::vector<int64_t> i;

  void resize(int64_t n) {
    if (kind == Kind::Float)
      f.resize(n);
    else if (kind == Kind::Double)
      d.resize(n);
    else
      i.resize(n);
  }
  double get(int64_t l) const {
    return kind == Kind::Float    ? f[l]
           : kind == Kind::Double ? d[l]
                                  : double(i[l]);
  }
  int64_t getInt(int64_t l) const {
    return kind == Kind::Int ? i[l]
                             : int64_t(kind == Kind::Float ? f[l] : d[l]);
  }
};

/// Reads element `index` of a buffer of `dtype` into lane `l`.
void readElement(const void *base, DType dtype, int64_t index, Lanes &out,
                 int64_t l) {
  switch (dtype) {
  case DType::F32:
    out.f[l] = static_cast<const float *>(base)[index];
    break;
  case DType::F16:
    out.f[l] = halfToFloat(static_cast<const uint16_t *>(base)[index]);
    break;
  case DType::BF16:
    out.f[l] = bf16ToFloat(static_cast<const uint16_t *>(base)[index]);
    break;
  case DType::F64:
    out.d[l] = static_cast<const double *>(base)[index];
    break;
  case DType::I64:
    out.i[l] = static_cast<const int64_t *>(base)[index];
    break;
  case DType::I32:
    out.i[l] = static_cast<const int32_t *>(base)[index];
    break;
  case DType::I8:
    out.i[l] = static_cast<const int8_t *>(base)[index];
    break;
  case DType::U8:
    out.i[l] = static_cast<const uint8_t *>(base)[index];
    break;
  case DType::Bool:
    out.i[l] = static_cast<const uint8_t *>(base)[index] != 0;
    break;
  }
}

void writeElement(void *base, DType dtype, int64_t index, double fv, int64_t iv,
                  Kind kind) {
  switch (dtype) {
  case DType::F32:
    static_cast<float *>(base)[index] = float(fv);
    break;
  case DType::F16:
    static_cast<uint16_t *>(base)[index] = floatToHalf(float(fv));
    break;
  case DType::BF16:
    static_cast<uint16_t *>(base)[index] = floatToBf16(float(fv));
    break;
  case DType::F64:
    static_cast<double *>(base)[index] = fv;
    break;
  case DType::I64:
    static_cast<int64_t *>(base)[index] = iv;
    break;
  case DType::I32:
    static_cast<int32_t *>(base)[index] = int32_t(iv);
    break;
  case DType::I8:
    static_cast<int8_t *>(base)[index] = int8_t(iv);
    break;
  case DType::U8:
    static_cast<uint8_t *>(base)[index] = uint8_t(iv);
    break;
  case DType::Bool:
    static_cast<uint8_t *>(base)[index] = iv != 0;
    break;
  }
  (void)kind;
}

/// Wraps an int64 to the width of an integer dtype, as a cast does.
int64_t wrapInt(int64_t v, DType t) {
  switch (t) {
  case DType::I32:
    return int32_t(v);
  case DType::I8:
    return int8_t(v);
  case DType::U8:
    return uint8_t(v);
  case DType::Bool:
    return v != 0;
  default:
    return v;
  }
}

int64_t truncToInt(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= 9.2233720368547758e18)
    return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18)
    return std::numeric_limits<int64_t>::min();
  return int64_t(v);
}

/// Applies a unary or binary float function lane by lane in the kind's type.
template <typename F>
void mapFloat(Lanes &out, const Lanes &a, const Lanes *b, int64_t n, F fn) {
  if (out.kind == Kind::Float)
    for (int64_t l = 0; l < n; ++l)
      out.f[l] = float(fn(a.f[l], b ? b->f[l] : 0.0f));
  else
    for (int64_t l = 0; l < n; ++l)
      out.d[l] = fn(a.d[l], b ? b->d[l] : 0.0);
}

//===--- The evaluator ----------------------------------------------------===//

class Evaluator {
public:
  Evaluator(const Kernel &k, const std::vector<void *> &args)
      : k_(k), args_(args), values_(k.body.size()) {
    for (size_t i = 0; i < k.body.size(); ++i)
      values_[i].kind = kindOf(k.body[i].type);
    // Flat strides of every argument; for each Load, the flat offset as an
    // affine function of the domain coordinates.
    for (const KArg &arg : k.args) {
      std::vector<int64_t> strides(arg.shape.size(), 1);
      for (int64_t j = int64_t(arg.shape.size()) - 2; j >= 0; --j)
        strides[j] = strides[j + 1] * arg.shape[j + 1];
      strides_.push_back(std::move(strides));
    }
    loadCoef_.resize(k.body.size());
    for (size_t i = 0; i < k.body.size(); ++i)
      if (k.body[i].op == KOp::Load)
        loadCoef_[i] = loadOffsets(k, k.body[i]);
  }

  /// Runs chunks [firstChunk, lastChunk) of the parallel domain.
  Status run(int64_t firstChunk, int64_t lastChunk) {
    size_t rank = k_.domain.size();
    int64_t parallel = 1, reduction = 1;
    for (size_t d = 0; d < rank; ++d)
      (int32_t(d) < k_.parallelDims ? parallel : reduction) *= k_.domain[d];
    coords_.assign(rank, std::vector<int64_t>(kLanes));
    std::vector<Lanes> acc(k_.outputs.size());
    for (int64_t start = firstChunk * kLanes;
         start < std::min(parallel, lastChunk * kLanes); start += kLanes) {
      int64_t n = std::min(kLanes, parallel - start);
      countCoords(0, k_.parallelDims, start, n);
      for (size_t o = 0; o < acc.size(); ++o)
        initAccumulator(acc[o], k_.outputs[o], n);
      for (int64_t r = 0; r < reduction; ++r) {
        int64_t flat = r;
        for (int64_t d = int64_t(rank) - 1; d >= k_.parallelDims; --d) {
          int64_t c = flat % k_.domain[d];
          flat /= k_.domain[d];
          std::fill(coords_[d].begin(), coords_[d].begin() + n, c);
        }
        if (Status s = evaluate(n); !s.ok())
          return s;
        for (size_t o = 0; o < acc.size(); ++o)
          combine(acc[o], k_.outputs[o], n);
      }
      for (size_t o = 0; o < acc.size(); ++o)
        store(acc[o], k_.outputs[o], start, n);
    }
    return Status();
  }

  /// The split-reduction schedule, for kernels whose parallel domain is too
  /// small to fill the lanes (a batch norm's channels, a loss's one value):
  /// lanes run over reduction points of one parallel point instead. Segment
  /// `s` covers reduction points [q * segment, (q + 1) * segment) of parallel
  /// point s / perPoint (q = s % perPoint) and leaves one partial per output
  /// in partials[s * outputs + o]. Segments are fixed in size, so results do
  /// not depend on the thread count.
  Status runSegments(int64_t first, int64_t last, int64_t perPoint,
                     int64_t segment, std::vector<Lanes> &partials) {
    size_t rank = k_.domain.size();
    int64_t reduction = 1;
    for (size_t d = k_.parallelDims; d < rank; ++d)
      reduction *= k_.domain[d];
    coords_.assign(rank, std::vector<int64_t>(kLanes));
    size_t outputs = k_.outputs.size();
    std::vector<Lanes> acc(outputs);
    for (int64_t s = first; s < last; ++s) {
      int64_t flat = s / perPoint;
      for (int64_t d = k_.parallelDims - 1; d >= 0; --d) {
        std::fill(coords_[d].begin(), coords_[d].end(), flat % k_.domain[d]);
        flat /= k_.domain[d];
      }
      for (size_t o = 0; o < outputs; ++o)
        initAccumulator(acc[o], k_.outputs[o], kLanes);
      int64_t begin = s % perPoint * segment;
      int64_t end = std::min(reduction, begin + segment);
      for (int64_t start = begin; start < end; start += kLanes) {
        int64_t n = std::min(kLanes, end - start);
        countCoords(k_.parallelDims, int64_t(rank), start, n);
        if (Status st = evaluate(n); !st.ok())
          return st;
        for (size_t o = 0; o < outputs; ++o)
          combine(acc[o], k_.outputs[o], n);
      }
      // Lanes the segment did not reach still hold the identity.
      for (size_t o = 0; o < outputs; ++o) {
        Lanes &partial = partials[s * outputs + o];
        partial.kind = acc[o].kind;
        partial.resize(1);
        for (int64_t l = 0; l < kLanes; ++l)
          combineLane(partial, 0, acc[o], l, k_.outputs[o].combine, l == 0);
      }
    }
    return Status();
  }

  /// Combines the partials of every segment in order and stores each
  /// parallel point's results.
  void storeSegments(int64_t parallel, int64_t perPoint,
                     const std::vector<Lanes> &partials) {
    size_t outputs = k_.outputs.size();
    Lanes result;
    for (int64_t p = 0; p < parallel; ++p)
      for (size_t o = 0; o < outputs; ++o) {
        for (int64_t q = 0; q < perPoint; ++q) {
          const Lanes &part = partials[(p * perPoint + q) * outputs + o];
          if (q == 0) {
            result.kind = part.kind;
            result.resize(1);
          }
          combineLane(result, 0, part, 0, k_.outputs[o].combine, q == 0);
        }
        store(result, k_.outputs[o], p, 1);
      }
  }

private:
  /// Lanes [0, n) at the points flat, flat + 1, ... of domain dims
  /// [lo, hi) (row-major): the first by division, the rest by counting up
  /// with carries.
  void countCoords(int64_t lo, int64_t hi, int64_t flat, int64_t n) {
    for (int64_t d = hi - 1; d >= lo; --d) {
      coords_[d][0] = flat % k_.domain[d];
      flat /= k_.domain[d];
    }
    for (int64_t l = 1; l < n; ++l) {
      bool carry = true;
      for (int64_t d = hi - 1; d >= lo; --d) {
        int64_t c = coords_[d][l - 1] + (carry ? 1 : 0);
        carry = c == k_.domain[d];
        coords_[d][l] = carry ? 0 : c;
      }
    }
  }

  /// `acc` combined with `x`. NaN wins Max and Min, as in PyTorch.
  template <typename T> static T combineValue(Combine c, T acc, T x) {
    switch (c) {
    case Combine::None:
      return x;
    case Combine::Sum:
      return acc + x;
    case Combine::Prod:
      return acc * x;
    case Combine::Max:
      return (x > acc || x != x) ? x : acc;
    case Combine::Min:
      return (x < acc || x != x) ? x : acc;
    }
    return x;
  }

  /// acc[al] = combine(acc[al], x[xl]), or x[xl] when `first`.
  static void combineLane(Lanes &acc, int64_t al, const Lanes &x, int64_t xl,
                          Combine c, bool first) {
    auto apply = [&](auto &a, const auto &v) {
      a[al] = first ? v[xl] : combineValue(c, a[al], v[xl]);
    };
    if (acc.kind == Kind::Float)
      apply(acc.f, x.f);
    else if (acc.kind == Kind::Double)
      apply(acc.d, x.d);
    else
      apply(acc.i, x.i);
  }

  void initAccumulator(Lanes &acc, const KOutput &out, int64_t n) {
    acc.kind = kindOf(k_.args[out.arg].dtype);
    // Float sums and products accumulate in double: a long float32 sum of
    // values that nearly cancel (a bias's gradient) loses digits that
    // PyTorch's cascade summation keeps. Stored back as float.
    if (acc.kind == Kind::Float &&
        (out.combine == Combine::Sum || out.combine == Combine::Prod))
      acc.kind = Kind::Double;
    acc.resize(n);
    double f = 0;
    int64_t i = 0;
    switch (out.combine) {
    case Combine::Prod:
      f = 1;
      i = 1;
      break;
    case Combine::Max:
      f = -INFINITY;
      i = std::numeric_limits<int64_t>::min();
      break;
    case Combine::Min:
      f = INFINITY;
      i = std::numeric_limits<int64_t>::max();
      break;
    default:
      break;
    }
    if (acc.kind == Kind::Float)
      std::fill(acc.f.begin(), acc.f.end(), float(f));
    else if (acc.kind == Kind::Double)
      std::fill(acc.d.begin(), acc.d.end(), f);
    else
      std::fill(acc.i.begin(), acc.i.end(), i);
  }

  void combine(Lanes &acc, const KOutput &out, int64_t n) {
    const Lanes &v = values_[out.value];
    auto apply = [&](auto &a, const auto &x) {
      using T = std::decay_t<decltype(a[0])>;
      for (int64_t l = 0; l < n; ++l)
        a[l] = combineValue<T>(out.combine, a[l], T(x[l]));
    };
    if (acc.kind == Kind::Float)
      apply(acc.f, v.f);
    else if (acc.kind == Kind::Double && v.kind == Kind::Float)
      apply(acc.d, v.f); // A float sum in a double accumulator.
    else if (acc.kind == Kind::Double)
      apply(acc.d, v.d);
    else
      apply(acc.i, v.i);
  }

  void store(const Lanes &acc, const KOutput &out, int64_t start, int64_t n) {
    DType t = k_.args[out.arg].dtype;
    void *base = args_[out.arg];
    // The common cases without a per-element switch.
    if (t == DType::F32 && acc.kind == Kind::Float) {
      std::memcpy(static_cast<float *>(base) + start, acc.f.data(), n * 4);
      return;
    }
    if (t == DType::F64 && acc.kind == Kind::Double) {
      std::memcpy(static_cast<double *>(base) + start, acc.d.data(), n * 8);
      return;
    }
    if (t == DType::I64 && acc.kind == Kind::Int) {
      std::memcpy(static_cast<int64_t *>(base) + start, acc.i.data(), n * 8);
      return;
    }
    for (int64_t l = 0; l < n; ++l)
      writeElement(base, t, start + l, acc.kind == Kind::Int ? 0.0 : acc.get(l),
                   acc.kind == Kind::Int ? acc.i[l] : 0, acc.kind);
  }

  Status evaluate(int64_t n) {
    size_t rank = k_.domain.size();
    for (size_t idx = 0; idx < k_.body.size(); ++idx) {
      const KInstr &in = k_.body[idx];
      Lanes &out = values_[idx];
      out.resize(n);
      const Lanes *a = in.a >= 0 ? &values_[in.a] : nullptr;
      const Lanes *b = in.b >= 0 ? &values_[in.b] : nullptr;
      const Lanes *c = in.c >= 0 ? &values_[in.c] : nullptr;
      switch (in.op) {
      case KOp::Load: {
        const std::vector<int64_t> &coef = loadCoef_[idx];
        const void *base = args_[in.arg];
        offsets_.assign(n, coef[rank]);
        for (size_t d = 0; d < rank; ++d) {
          int64_t m = coef[d];
          if (m == 0)
            continue;
          const int64_t *cd = coords_[d].data();
          for (int64_t l = 0; l < n; ++l)
            offsets_[l] += m * cd[l];
        }
        // Typed loops for the common cases; contiguous F32 is a memcpy.
        if (in.type == DType::F32) {
          const float *p = static_cast<const float *>(base);
          if (offsets_[n - 1] - offsets_[0] == n - 1 &&
              std::adjacent_find(offsets_.begin(), offsets_.end(),
                                 [](int64_t x, int64_t y) {
                                   return y != x + 1;
                                 }) == offsets_.end()) {
            std::memcpy(out.f.data(), p + offsets_[0], n * 4);
          } else {
            for (int64_t l = 0; l < n; ++l)
              out.f[l] = p[offsets_[l]];
          }
        } else if (in.type == DType::F64) {
          const double *p = static_cast<const double *>(base);
          for (int64_t l = 0; l < n; ++l)
            out.d[l] = p[offsets_[l]];
        } else if (in.type == DType::I64) {
          const int64_t *p = static_cast<const int64_t *>(base);
          for (int64_t l = 0; l < n; ++l)
            out.i[l] = p[offsets_[l]];
        } else {
          for (int64_t l = 0; l < n; ++l)
            readElement(base, in.type, offsets_[l], out, l);
        }
        break;
      }
      case KOp::Gather: {
        const KArg &arg = k_.args[in.arg];
        const std::vector<int64_t> &strides = strides_[in.arg];
        for (int64_t l = 0; l < n; ++l) {
          int64_t offset = 0;
          for (size_t j = 0; j < in.indices.size(); ++j) {
            int64_t v = values_[in.indices[j]].getInt(l);
            if (v < 0 || v >= arg.shape[j])
              return Status(KILN_STATUS_INVALID_ARGUMENT,
                            "kernel '" + k_.name + "': index " +
                                std::to_string(v) + " is out of range [0, " +
                                std::to_string(arg.shape[j]) +
                                ") for dimension " + std::to_string(j) +
                                " of argument " + std::to_string(in.arg));
            offset += v * strides[j];
          }
          readElement(args_[in.arg], in.type, offset, out, l);
        }
        break;
      }
      case KOp::Const:
        for (int64_t l = 0; l < n; ++l) {
          if (out.kind == Kind::Float)
            out.f[l] = float(in.fvalue);
          else if (out.kind == Kind::Double)
            out.d[l] = in.fvalue;
          else
            out.i[l] = in.ivalue;
        }
        break;
      case KOp::Index:
        for (int64_t l = 0; l < n; ++l)
          out.i[l] = coords_[in.ivalue][l];
        break;
      case KOp::Local: // runStaged() turns them into loads.
        return Status(KILN_STATUS_INTERNAL,
                      "kernel '" + k_.name + "' reads a local outside a stage");
      case KOp::Cast:
        for (int64_t l = 0; l < n; ++l) {
          if (out.kind == Kind::Int)
            out.i[l] =
                wrapInt(a->kind == Kind::Int ? a->i[l] : truncToInt(a->get(l)),
                        in.type);
          else if (out.kind == Kind::Float)
            out.f[l] = a->kind == Kind::Int ? float(a->i[l]) : float(a->get(l));
          else
            out.d[l] = a->get(l);
        }
        // Casts to 16-bit floats round to them.
        if (in.type == DType::F16)
          for (int64_t l = 0; l < n; ++l)
            out.f[l] = halfToFloat(floatToHalf(out.f[l]));
        if (in.type == DType::BF16)
          for (int64_t l = 0; l < n; ++l)
            out.f[l] = bf16ToFloat(floatToBf16(out.f[l]));
        break;
      case KOp::IsNan:
        for (int64_t l = 0; l < n; ++l)
          out.i[l] = std::isnan(a->get(l));
        break;
      case KOp::Not:
        for (int64_t l = 0; l < n; ++l)
          out.i[l] = !a->i[l];
        break;
      case KOp::Eq:
      case KOp::Ne:
      case KOp::Lt:
      case KOp::Le:
      case KOp::Gt:
      case KOp::Ge:
        compare(in.op, out, *a, *b, n);
        break;
      case KOp::Random:
        for (int64_t l = 0; l < n; ++l) {
          double u = randomUniform(uint64_t(a->i[l]), uint64_t(b->i[l]),
                                   out.kind == Kind::Double);
          if (out.kind == Kind::Double)
            out.d[l] = u;
          else
            out.f[l] = float(u);
        }
        break;
      case KOp::Select:
        for (int64_t l = 0; l < n; ++l) {
          const Lanes &pick = a->i[l] ? *b : *c;
          if (out.kind == Kind::Float)
            out.f[l] = pick.f[l];
          else if (out.kind == Kind::Double)
            out.d[l] = pick.d[l];
          else
            out.i[l] = pick.i[l];
        }
        break;
      default:
        if (out.kind == Kind::Int)
          integerOp(in.op, out, a, b, n);
        else
          floatOp(in.op, out, *a, b, n);
        break;
      }
    }
    return Status();
  }

  static void compare(KOp op, Lanes &out, const Lanes &a, const Lanes &b,
                      int64_t n) {
    auto run = [&](const auto &x, const auto &y) {
      for (int64_t l = 0; l < n; ++l) {
        bool r = false;
        switch (op) {
        case KOp::Eq:
          r = x[l] == y[l];
          break;
        case KOp::Ne:
          r = x[l] != y[l];
          break;
        case KOp::Lt:
          r = x[l] < y[l];
          break;
        case KOp::Le:
          r = x[l] <= y[l];
          break;
        case KOp::Gt:
          r = x[l] > y[l];
          break;
        default:
          r = x[l] >= y[l];
          break;
        }
        out.i[l] = r;
      }
    };
    if (a.kind == Kind::Float)
      run(a.f, b.f);
    else if (a.kind == Kind::Double)
      run(a.d, b.d);
    else
      run(a.i, b.i);
  }

  static void floatOp(KOp op, Lanes &out, const Lanes &a, const Lanes *b,
                      int64_t n) {
    using std::abs;
    switch (op) {
    case KOp::Neg:
      mapFloat(out, a, b, n, [](auto x, auto) { return -x; });
      break;
    case KOp::Abs:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::abs(x); });
      break;
    case KOp::Exp:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::exp(x); });
      break;
    case KOp::Log:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::log(x); });
      break;
    case KOp::Sqrt:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::sqrt(x); });
      break;
    case KOp::Tanh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::tanh(x); });
      break;
    case KOp::Erf:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::erf(x); });
      break;
    case KOp::Recip:
      mapFloat(out, a, b, n, [](auto x, auto) { return decltype(x)(1) / x; });
      break;
    case KOp::Floor:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::floor(x); });
      break;
    case KOp::Sin:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::sin(x); });
      break;
    case KOp::Cos:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::cos(x); });
      break;
    case KOp::Tan:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::tan(x); });
      break;
    case KOp::Asin:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::asin(x); });
      break;
    case KOp::Acos:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::acos(x); });
      break;
    case KOp::Atan:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::atan(x); });
      break;
    case KOp::Sinh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::sinh(x); });
      break;
    case KOp::Cosh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::cosh(x); });
      break;
    case KOp::Asinh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::asinh(x); });
      break;
    case KOp::Acosh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::acosh(x); });
      break;
    case KOp::Atanh:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::atanh(x); });
      break;
    case KOp::Ceil:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::ceil(x); });
      break;
    case KOp::Round:
      mapFloat(out, a, b, n, [](auto x, auto) { return std::nearbyint(x); });
      break;
    case KOp::Add:
      mapFloat(out, a, b, n, [](auto x, auto y) { return x + y; });
      break;
    case KOp::Sub:
      mapFloat(out, a, b, n, [](auto x, auto y) { return x - y; });
      break;
    case KOp::Mul:
      mapFloat(out, a, b, n, [](auto x, auto y) { return x * y; });
      break;
    case KOp::Div:
      mapFloat(out, a, b, n, [](auto x, auto y) { return x / y; });
      break;
    case KOp::Rem:
      mapFloat(out, a, b, n, [](auto x, auto y) { return std::fmod(x, y); });
      break;
    case KOp::Pow:
      mapFloat(out, a, b, n, [](auto x, auto y) { return std::pow(x, y); });
      break;
    // NaN wins, as in PyTorch's maximum and minimum.
    case KOp::Max:
      mapFloat(out, a, b, n,
               [](auto x, auto y) { return (x > y || x != x) ? x : y; });
      break;
    case KOp::Min:
      mapFloat(out, a, b, n,
               [](auto x, auto y) { return (x < y || x != x) ? x : y; });
      break;
    default:
      break;
    }
  }

  static void integerOp(KOp op, Lanes &out, const Lanes *a, const Lanes *b,
                        int64_t n) {
    const std::vector<int64_t> &x = a->i;
    for (int64_t l = 0; l < n; ++l) {
      int64_t y = b ? b->i[l] : 0;
      switch (op) {
      case KOp::Neg:
        out.i[l] = int64_t(0 - uint64_t(x[l]));
        break;
      case KOp::Abs:
        out.i[l] = x[l] < 0 ? int64_t(0 - uint64_t(x[l])) : x[l];
        break;
      case KOp::Add:
        out.i[l] = int64_t(uint64_t(x[l]) + uint64_t(y));
        break;
      case KOp::Sub:
        out.i[l] = int64_t(uint64_t(x[l]) - uint64_t(y));
        break;
      case KOp::Mul:
        out.i[l] = int64_t(uint64_t(x[l]) * uint64_t(y));
        break;
      // Integer division by zero gives 0 rather than trapping; INT64_MIN / -1
      // wraps.
      case KOp::Div:
        out.i[l] =
            y == 0 ? 0 : (y == -1 ? int64_t(0 - uint64_t(x[l])) : x[l] / y);
        break;
      case KOp::Rem:
        out.i[l] = (y == 0 || y == -1) ? 0 : x[l] % y;
        break;
      case KOp::Max:
        out.i[l] = std::max(x[l], y);
        break;
      case KOp::Min:
        out.i[l] = std::min(x[l], y);
        break;
      case KOp::And:
        out.i[l] = x[l] && y;
        break;
      case KOp::Or:
        out.i[l] = x[l] || y;
        break;
      case KOp::Pow: {
        int64_t r = 1, base = x[l], e = y;
        for (; e > 0; e >>= 1, base = int64_t(uint64_t(base) * uint64_t(base)))
          if (e & 1)
            r = int64_t(uint64_t(r) * uint64_t(base));
        out.i[l] = y < 0 ? 0 : r;
        break;
      }
      default:
        out.i[l] = 0;
        break;
      }
    }
  }

  const Kernel &k_;
  const std::vector<void *> &args_;
  std::vector<Lanes> values_;
  std::vector<std::vector<int64_t>> strides_;
  std::vector<std::vector<int64_t>> loadCoef_;
  std::vector<std::vector<int64_t>> coords_;
  std::vector<int64_t> offsets_; // Scratch: one Load's element offsets.
};

/// Runs fn(first, last) over [0, items): at once where `small` or there is
/// one item, else in up to four tasks per thread. Returns the first failure.
Status spread(int64_t items, bool small,
              const std::function<Status(int64_t, int64_t)> &fn) {
  if (small || items < 2)
    return fn(0, items);
  int64_t tasks = std::min<int64_t>(items, threadCount() * 4);
  std::vector<Status> statuses(tasks);
  parallelFor(tasks, [&](int64_t t) {
    statuses[t] = fn(items * t / tasks, items * (t + 1) / tasks);
  });
  for (Status &s : statuses)
    if (!s.ok())
      return std::move(s);
  return Status();
}

/// A staged kernel on the CPU: each stage runs as a kernel of its own over
/// the rows, writing its values (the locals) to a row-shaped scratch (or to
/// the argument of the output that writes the local), then the body runs
/// reading them. The same arithmetic in the same order as the unfused
/// kernels, so fusing rows changes no bit on the CPU.
Status runStaged(const Kernel &k, const std::vector<void *> &args) {
  size_t rank = k.domain.size();
  std::vector<int64_t> rowShape(k.domain.begin(), k.domain.begin() + k.rowDims);
  int64_t rows = 1;
  for (int64_t d : rowShape)
    rows *= d;
  std::vector<DType> types = k.localTypes();
  std::vector<void *> local(types.size(), nullptr);
  for (const KOutput &o : k.outputs)
    if (o.local)
      local[o.value] = args[o.arg];
  std::vector<std::vector<uint8_t>> scratch(types.size());
  for (size_t l = 0; l < types.size(); ++l)
    if (!local[l]) {
      scratch[l].resize(size_t(rows) * dtypeSize(types[l]));
      local[l] = scratch[l].data();
    }
  // A local is read at the row: its coordinate j is domain coordinate j.
  std::vector<int64_t> rowMap(size_t(k.rowDims) * (rank + 1), 0);
  for (int32_t j = 0; j < k.rowDims; ++j)
    rowMap[j * (rank + 1) + j] = 1;
  // `body` over `k`'s domain and arguments, then the first `n` locals as
  // arguments that its Local instructions load.
  auto lowered = [&](const std::vector<KInstr> &body, size_t n) {
    Kernel sub;
    sub.name = k.name;
    sub.domain = k.domain;
    sub.args = k.args;
    for (size_t l = 0; l < n; ++l)
      sub.args.push_back({types[l], rowShape, false});
    sub.body = body;
    for (KInstr &in : sub.body)
      if (in.op == KOp::Local) {
        in.op = KOp::Load;
        in.arg = int32_t(k.args.size() + size_t(in.ivalue));
        in.map = rowMap;
        in.ivalue = 0;
      }
    return sub;
  };
  size_t first = 0;
  for (const KStage &stage : k.stages) {
    Kernel sub = lowered(stage.body, first);
    sub.parallelDims = k.rowDims;
    std::vector<void *> a = args;
    a.insert(a.end(), local.begin(), local.begin() + first);
    for (size_t v = 0; v < stage.values.size(); ++v) {
      sub.args.push_back({types[first + v], rowShape, true});
      a.push_back(local[first + v]);
      sub.outputs.push_back({int32_t(sub.args.size() - 1),
                             stage.values[v].value, stage.values[v].combine});
    }
    if (Status s = runKernel(sub, a); !s.ok())
      return s;
    first += stage.values.size();
  }
  Kernel body = lowered(k.body, first);
  body.parallelDims = k.parallelDims;
  for (const KOutput &o : k.outputs)
    if (!o.local)
      body.outputs.push_back(o);
  std::vector<void *> a = args;
  a.insert(a.end(), local.begin(), local.end());
  return runKernel(body, a);
}

} // namespace

Status runKernel(const Kernel &kernel, const std::vector<void *> &args) {
  if (args.size() != kernel.args.size())
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "kernel '" + kernel.name + "' takes " +
                      std::to_string(kernel.args.size()) + " arguments, got " +
                      std::to_string(args.size()));
  if (!kernel.stages.empty())
    return runStaged(kernel, args);
  // Chunks of lanes (or segments of split reductions) are independent:
  // spread them over the cores when the kernel has enough work to pay for it.
  int64_t parallel = 1, total = 1;
  for (size_t d = 0; d < kernel.domain.size(); ++d) {
    total *= kernel.domain[d];
    if (int32_t(d) < kernel.parallelDims)
      parallel *= kernel.domain[d];
  }
  int64_t chunks = (parallel + kLanes - 1) / kLanes;
  int64_t reduction = total / std::max<int64_t>(parallel, 1);
  bool combinable = !kernel.outputs.empty();
  for (const KOutput &out : kernel.outputs)
    combinable &= out.combine != Combine::None;
  bool small =
      threadCount() == 1 || total * int64_t(kernel.body.size()) < (1 << 16);
  if (combinable && parallel < kLanes && reduction >= kLanes) {
    // Too few parallel points to fill the lanes: split the reductions.
    constexpr int64_t kSegment = kLanes * 64;
    int64_t perPoint = (reduction + kSegment - 1) / kSegment;
    int64_t segments = parallel * perPoint;
    std::vector<Lanes> partials(segments * kernel.outputs.size());
    if (Status s = spread(segments, small,
                          [&](int64_t first, int64_t last) {
                            return Evaluator(kernel, args)
                                .runSegments(first, last, perPoint, kSegment,
                                             partials);
                          });
        !s.ok())
      return s;
    Evaluator(kernel, args).storeSegments(parallel, perPoint, partials);
    return Status();
  }
  return spread(chunks, small, [&](int64_t first, int64_t last) {
    return Evaluator(kernel, args).run(first, last);
  });
}

} // namespace kiln::runtime::cpu
