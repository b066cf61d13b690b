//===- program.cpp - the compiled program an artifact carries -------------===//
#include "program.h"

#include <cmath>

#include "json.h"

#include <cstdio>

namespace kiln::runtime {
namespace {

//===--- Names in the JSON form -------------------------------------------===//

const char *kindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Parameter:
    return "parameter";
  case BufferKind::Constant:
    return "constant";
  case BufferKind::Input:
    return "input";
  case BufferKind::Output:
    return "output";
  case BufferKind::Temp:
    return "temp";
  }
  return "?";
}

const char *combineName(Combine c) {
  switch (c) {
  case Combine::None:
    return "none";
  case Combine::Sum:
    return "sum";
  case Combine::Prod:
    return "prod";
  case Combine::Max:
    return "max";
  case Combine::Min:
    return "min";
  }
  return "?";
}

std::string ints(const std::vector<int64_t> &v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i)
    out += (i ? "," : "") + std::to_string(v[i]);
  return out + "]";
}

std::string ints32(const std::vector<int32_t> &v) {
  return ints(std::vector<int64_t>(v.begin(), v.end()));
}

/// A JSON number; the non-finite values JSON lacks are strings ("inf",
/// "-inf", "nan"), which the reader accepts where a number belongs.
std::string number(double v) {
  if (std::isnan(v))
    return "\"nan\"";
  if (std::isinf(v))
    return v > 0 ? "\"inf\"" : "\"-inf\"";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

//===--- Reading: accessors that remember the first error -----------------===//

class Reader {
public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  bool failed() const { return !error_.empty(); }
  Status status() const {
    return Status(KILN_STATUS_DATA_LOSS,
                  origin_ + ": malformed program: " + error_);
  }
  void fail(const std::string &message) {
    if (error_.empty())
      error_ = message;
  }

  const JsonValue *field(const JsonValue &v, const char *key,
                         const std::string &where) {
    const JsonValue *f = v.isObject() ? v.get(key) : nullptr;
    if (!f)
      fail(where + " has no '" + key + "'");
    return f;
  }
  int64_t integer(const JsonValue &v, const char *key, const std::string &where,
                  int64_t fallback = 0, bool required = true) {
    const JsonValue *f = v.isObject() ? v.get(key) : nullptr;
    if (!f) {
      if (required)
        fail(where + " has no '" + key + "'");
      return fallback;
    }
    std::optional<int64_t> i = f->asInt();
    if (!i)
      fail(where + "'s '" + key + "' is not an integer");
    return i.value_or(fallback);
  }
  double real(const JsonValue &v, const char *key, const std::string &where,
              double fallback) {
    const JsonValue *f = v.isObject() ? v.get(key) : nullptr;
    if (!f)
      return fallback;
    std::optional<double> d = f->asDouble();
    if (f->isString() && f->str() == "inf")
      d = INFINITY;
    else if (f->isString() && f->str() == "-inf")
      d = -INFINITY;
    else if (f->isString() && f->str() == "nan")
      d = NAN;
    if (!d)
      fail(where + "'s '" + key + "' is not a number");
    return d.value_or(fallback);
  }
  bool boolean(const JsonValue &v, const char *key) {
    const JsonValue *f = v.isObject() ? v.get(key) : nullptr;
    return f && f->boolValue();
  }
  std::string string(const JsonValue &v, const char *key,
                     const std::string &where) {
    const JsonValue *f = field(v, key, where);
    if (f && !f->isString())
      fail(where + "'s '" + key + "' is not a string");
    return f ? f->str() : "";
  }
  std::vector<int64_t> intList(const JsonValue &v, const char *key,
                               const std::string &where) {
    std::vector<int64_t> out;
    const JsonValue *f = field(v, key, where);
    if (!f)
      return out;
    if (!f->isArray()) {
      fail(where + "'s '" + key + "' is not a list");
      return out;
    }
    for (const JsonValue &item : f->items()) {
      std::optional<int64_t> i = item.asInt();
      if (!i)
        fail(where + "'s '" + key + "' holds a non-integer");
      out.push_back(i.value_or(0));
    }
    return out;
  }
  std::vector<int32_t> intList32(const JsonValue &v, const char *key,
                                 const std::string &where) {
    std::vector<int64_t> wide = intList(v, key, where);
    return std::vector<int32_t>(wide.begin(), wide.end());
  }
  DType dtype(const JsonValue &v, const std::string &where) {
    std::string name = string(v, "dtype", where);
    std::optional<DType> t = dtypeFromName(name);
    if (!t && !failed())
      fail(where + " has unknown dtype '" + name + "'");
    return t.value_or(DType::F32);
  }
  const std::vector<JsonValue> &list(const JsonValue &v, const char *key,
                                     const std::string &where) {
    static const std::vector<JsonValue> empty;
    const JsonValue *f = field(v, key, where);
    if (f && !f->isArray())
      fail(where + "'s '" + key + "' is not a list");
    return f && f->isArray() ? f->items() : empty;
  }

private:
  std::string origin_;
  std::string error_;
};

} // namespace

int64_t Buffer::elements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t Buffer::bytes() const {
  return elements() * static_cast<int64_t>(dtypeSize(dtype));
}

int32_t Program::persistent(std::string_view name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].kind == BufferKind::Parameter && buffers[i].name == name)
      return int32_t(i);
  return -1;
}

const Entry *Program::entry(std::string_view name) const {
  for (const Entry &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

bool Program::has(Step::Kind kind) const {
  for (const Entry &e : entries)
    for (const Step &step : e.steps)
      if (step.kind == kind)
        return true;
  return false;
}

int64_t Entry::peakBytes() const {
  int64_t bytes = 0;
  for (const LiveValue &v : peakValues)
    bytes += v.bytes;
  return bytes;
}

Status Program::verify() const {
  auto fail = [](const std::string &m) {
    return Status(KILN_STATUS_INTERNAL, "program: " + m);
  };
  if (initBytes < 0 || initBytes > arenaBytes)
    return fail("init region larger than the arena");
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Buffer &b = buffers[i];
    for (int64_t d : b.shape)
      if (d < 0)
        return fail("buffer " + std::to_string(i) + " has a negative size");
    if (b.offset < 0 || b.offset + b.bytes() > arenaBytes)
      return fail("buffer " + std::to_string(i) + " ('" + b.name +
                  "') lies outside the arena");
    // Constants live in the init region; a parameter either there or,
    // starting as zeros, wholly beyond it.
    if (b.kind == BufferKind::Constant && b.offset + b.bytes() > initBytes)
      return fail("constant buffer " + std::to_string(i) +
                  " lies outside the init region");
    if (b.kind == BufferKind::Parameter && b.offset < initBytes &&
        b.offset + b.bytes() > initBytes)
      return fail("parameter buffer " + std::to_string(i) +
                  " straddles the end of the init region");
  }
  for (const Kernel &k : kernels)
    if (Status s = k.verify(); !s.ok())
      return s;
  auto validBuffer = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < buffers.size();
  };
  for (const Entry &e : entries) {
    for (int32_t id : e.inputs)
      if (!validBuffer(id) || buffers[id].kind != BufferKind::Input)
        return fail("entry '" + e.name + "' lists a non-input as input");
    for (int32_t id : e.outputs)
      if (!validBuffer(id))
        return fail("entry '" + e.name + "' lists a missing output buffer");
    int64_t steps = int64_t(e.steps.size());
    if (e.peakStep >= steps)
      return fail("entry '" + e.name + "' has its peak after its last step");
    for (const Entry::LiveValue &v : e.peakValues)
      if (v.first < 0 || v.first > e.peakStep || v.last < e.peakStep ||
          v.last > steps || v.bytes < 0)
        return fail("entry '" + e.name +
                    "' lists a value that is not live at its peak");
    for (size_t s = 0; s < e.steps.size(); ++s) {
      const Step &step = e.steps[s];
      std::string where =
          "entry '" + e.name + "' step " + std::to_string(s) + ": ";
      if (step.kind == Step::Kind::Kernel) {
        if (step.kernel < 0 ||
            static_cast<size_t>(step.kernel) >= kernels.size())
          return fail(where + "no kernel " + std::to_string(step.kernel));
        const Kernel &k = kernels[step.kernel];
        if (step.args.size() != k.args.size())
          return fail(where + "kernel '" + k.name + "' takes " +
                      std::to_string(k.args.size()) +
                      " buffers, the step gives " +
                      std::to_string(step.args.size()));
        for (size_t a = 0; a < step.args.size(); ++a) {
          if (!validBuffer(step.args[a]))
            return fail(where + "no buffer " + std::to_string(step.args[a]));
          const Buffer &b = buffers[step.args[a]];
          if (b.dtype != k.args[a].dtype || b.shape != k.args[a].shape)
            return fail(where + "buffer '" + b.name +
                        "' does not match argument " + std::to_string(a) +
                        " of kernel '" + k.name + "'");
        }
        if (!step.segments.empty() && !k.segmented)
          return fail(where + "segments for kernel '" + k.name +
                      "', which is not segmented");
        for (const std::vector<int32_t> &g : step.segments) {
          if (g.size() != k.args.size())
            return fail(where + "a segment of kernel '" + k.name +
                        "' gives " + std::to_string(g.size()) + " buffers");
          int64_t count = -1;
          for (size_t a = 0; a < g.size(); ++a) {
            if (!validBuffer(g[a]))
              return fail(where + "no buffer " + std::to_string(g[a]));
            const Buffer &b = buffers[g[a]];
            bool scalar = k.args[a].shape.empty();
            bool ok = b.dtype == k.args[a].dtype &&
                      (scalar ? b.shape.empty() : b.shape.size() == 1);
            if (ok && !scalar) {
              if (count < 0)
                count = b.shape[0];
              ok = b.shape[0] == count;
            }
            if (!ok)
              return fail(where + "segment buffer '" + b.name +
                          "' does not match argument " + std::to_string(a) +
                          " of kernel '" + k.name + "'");
          }
        }
        continue;
      }
      if (step.kind == Step::Kind::AllReduce) {
        if (step.args.empty())
          return fail(where + "all-reduce of no buffer");
        for (int32_t id : step.args)
          if (!validBuffer(id))
            return fail(where + "all-reduce names a missing buffer");
        DType t = buffers[step.args[0]].dtype;
        if (t != DType::F32 && t != DType::F64)
          return fail(where + "all-reduce needs F32 or F64 buffers");
        for (size_t a = 0; a < step.args.size(); ++a) {
          const Buffer &b = buffers[step.args[a]];
          if (b.dtype != t)
            return fail(where + "all-reduce mixes dtypes");
          if (b.offset % int64_t(dtypeSize(t)))
            return fail(where + "all-reduce buffer '" + b.name +
                        "' is not aligned to its dtype");
          if (a && b.offset < buffers[step.args[a - 1]].offset +
                                  buffers[step.args[a - 1]].bytes())
            return fail(where + "all-reduce buffers overlap or are out of "
                                "order");
        }
        continue;
      }
      if (step.kind == Step::Kind::EmbeddingGrad) {
        const EmbeddingGradCall &c = step.embedding;
        for (int32_t id : {c.ids, c.updates, c.out, c.next, c.head})
          if (!validBuffer(id))
            return fail(where + "embedding gradient names a missing buffer");
        DType t = buffers[c.out].dtype, it = buffers[c.ids].dtype;
        if (c.n < 0 || c.width < 0 || c.rows < 0 ||
            buffers[c.ids].elements() != c.n ||
            buffers[c.updates].elements() != c.n * c.width ||
            buffers[c.out].elements() != c.rows * c.width ||
            buffers[c.next].elements() != c.n ||
            buffers[c.head].elements() != c.rows ||
            (t != DType::F32 && t != DType::F64) ||
            buffers[c.updates].dtype != t ||
            (it != DType::I64 && it != DType::I32) ||
            buffers[c.next].dtype != DType::I32 ||
            buffers[c.head].dtype != DType::I32 || c.n >= (int64_t(1) << 30))
          return fail(where + "embedding gradient's buffers do not match "
                              "its sizes (ids I64 or I32 [n], updates and "
                              "out F32 or F64 [n, width] and [rows, width], "
                              "next and head I32 [n] and [rows]; n below "
                              "2^30)");
        continue;
      }
      if (step.kind == Step::Kind::Conv) {
        const ConvCall &c = step.conv;
        for (int32_t id : {c.input, c.weight, c.out})
          if (!validBuffer(id))
            return fail(where + "convolution names a missing buffer");
        if (c.bias >= 0 && !validBuffer(c.bias))
          return fail(where + "convolution names a missing buffer");
        if (c.group < 1 || c.c % c.group || c.m % c.group || c.strideH < 1 ||
            c.strideW < 1 || c.dilationH < 1 || c.dilationW < 1)
          return fail(where + "convolution has invalid parameters");
        auto elements = [&](int32_t id) {
          return buffers[id].elements();
        };
        int64_t xs = c.n * c.c * c.h * c.w,
                ws = c.m * (c.c / c.group) * c.kh * c.kw,
                ys = c.n * c.m * c.oh * c.ow;
        int64_t in = xs, weight = ws, out = ys;
        if (c.mode == ConvCall::Mode::BackwardData)
          in = ys, out = xs;
        else if (c.mode == ConvCall::Mode::BackwardFilter)
          weight = ys, out = ws;
        if (elements(c.input) != in || elements(c.weight) != weight ||
            elements(c.out) != out ||
            (c.bias >= 0 && (elements(c.bias) != c.m ||
                             c.mode != ConvCall::Mode::Forward)))
          return fail(where + "convolution sizes do not match its buffers");
        DType t = buffers[c.out].dtype;
        if ((t != DType::F32 && t != DType::F64) ||
            buffers[c.input].dtype != t || buffers[c.weight].dtype != t ||
            (c.bias >= 0 && buffers[c.bias].dtype != t))
          return fail(where +
                      "convolution needs F32 or F64 buffers of one dtype");
        continue;
      }
      const GemmCall &g = step.gemm;
      for (int32_t id : {g.a, g.b, g.out})
        if (!validBuffer(id))
          return fail(where + "GEMM names a missing buffer");
      if (g.c >= 0 && !validBuffer(g.c))
        return fail(where + "GEMM names a missing buffer");
      if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 1)
        return fail(where + "GEMM has negative sizes");
      auto elements = [&](int32_t id) {
        return buffers[id].elements();
      };
      auto fits = [&](int32_t id, int64_t stride, int64_t matrix) {
        return (g.batch - 1) * stride + matrix <= elements(id);
      };
      if (!fits(g.a, g.strideA, g.m * g.k) ||
          !fits(g.b, g.strideB, g.k * g.n) ||
          !fits(g.out, g.strideOut, g.m * g.n))
        return fail(where + "GEMM sizes exceed its buffers");
      DType t = buffers[g.out].dtype;
      if ((t != DType::F32 && t != DType::F64) || buffers[g.a].dtype != t ||
          buffers[g.b].dtype != t || (g.c >= 0 && buffers[g.c].dtype != t))
        return fail(where + "GEMM needs F32 or F64 buffers of one dtype");
      if (g.c >= 0 && elements(g.c) != g.n && elements(g.c) != g.m * g.n &&
          elements(g.c) != 1)
        return fail(where + "GEMM's C has " + std::to_string(elements(g.c)) +
                    " elements; 1, N or M x N are supported");
      if (g.sumOf != GemmCall::SumOf::Out) {
        int64_t sums = g.sumOf == GemmCall::SumOf::A ? g.m : g.n;
        // (Alpha 1: whether cuBLASLt's BGRAD sums are scaled is not
        // documented.)
        if (!validBuffer(g.biasGrad) || g.reluMask >= 0 || g.relu ||
            g.c >= 0 || g.batch != 1 || g.alpha != 1 ||
            elements(g.biasGrad) != sums || buffers[g.biasGrad].dtype != t)
          return fail(where + "GEMM's sum of " +
                      (g.sumOf == GemmCall::SumOf::A ? "A" : "B") +
                      " needs a bias gradient of " + std::to_string(sums) +
                      " elements of its dtype, one batch, alpha 1 and no "
                      "other epilogue");
      } else if ((g.reluMask >= 0) != (g.biasGrad >= 0)) {
        return fail(where + "GEMM has a ReLU mask without a bias gradient, "
                            "or the reverse");
      }
      if (g.reluMask >= 0 &&
          (!validBuffer(g.reluMask) || !validBuffer(g.biasGrad) ||
           g.batch != 1 || elements(g.reluMask) != g.m * g.n ||
           elements(g.biasGrad) != g.n ||
           buffers[g.reluMask].dtype != t || buffers[g.biasGrad].dtype != t))
        return fail(where + "GEMM's ReLU mask or bias gradient does not "
                            "match its output");
    }
  }
  return Status();
}

Traffic stepTraffic(const Program &p, const Step &step) {
  Traffic t;
  auto bytes = [&](int32_t id) { return id >= 0 ? p.buffers[id].bytes() : 0; };
  switch (step.kind) {
  case Step::Kind::Kernel: {
    const Kernel &k = p.kernels[step.kernel];
    for (size_t a = 0; a < step.args.size() && a < k.args.size(); ++a)
      (k.args[a].output ? t.written : t.read) += bytes(step.args[a]);
    for (const std::vector<int32_t> &g : step.segments)
      for (size_t a = 0; a < g.size() && a < k.args.size(); ++a)
        (k.args[a].output ? t.written : t.read) += bytes(g[a]);
    break;
  }
  case Step::Kind::Gemm:
    t.read = bytes(step.gemm.a) + bytes(step.gemm.b) + bytes(step.gemm.c) +
             bytes(step.gemm.reluMask);
    t.written = bytes(step.gemm.out) + bytes(step.gemm.biasGrad);
    break;
  case Step::Kind::Conv:
    t.read = bytes(step.conv.input) + bytes(step.conv.weight) +
             bytes(step.conv.bias);
    t.written = bytes(step.conv.out);
    break;
  case Step::Kind::EmbeddingGrad:
    // The ids, read once per position (each position's scan reads them
    // from a cache), the updates once; the workspace links.
    t.read = bytes(step.embedding.ids) + bytes(step.embedding.updates) +
             bytes(step.embedding.next) + bytes(step.embedding.head);
    t.written = bytes(step.embedding.out) + bytes(step.embedding.next) +
                bytes(step.embedding.head);
    break;
  case Step::Kind::AllReduce:
    // Nothing in one process; across processes, network traffic (kiln
    // inspect reports the buckets' sizes apart).
    break;
  }
  return t;
}

std::vector<int32_t> stepBuffers(const Step &step) {
  std::vector<int32_t> ids;
  switch (step.kind) {
  case Step::Kind::Kernel:
  case Step::Kind::AllReduce:
    ids = step.args;
    for (const std::vector<int32_t> &g : step.segments)
      ids.insert(ids.end(), g.begin(), g.end());
    break;
  case Step::Kind::Gemm:
    ids = {step.gemm.a, step.gemm.b, step.gemm.out};
    for (int32_t id : {step.gemm.c, step.gemm.reluMask, step.gemm.biasGrad})
      if (id >= 0)
        ids.push_back(id);
    break;
  case Step::Kind::EmbeddingGrad:
    ids = {step.embedding.ids, step.embedding.updates, step.embedding.out,
           step.embedding.next, step.embedding.head};
    break;
  case Step::Kind::Conv:
    ids = {step.conv.input, step.conv.weight, step.conv.out};
    if (step.conv.bias >= 0)
      ids.push_back(step.conv.bias);
    break;
  }
  return ids;
}

Span bucketSpan(const Program &p, const Step &step) {
  Span s;
  if (step.args.empty())
    return s;
  const Buffer &first = p.buffers[step.args.front()];
  const Buffer &last = p.buffers[step.args.back()];
  s.offset = first.offset;
  s.bytes = last.offset + last.bytes() - first.offset;
  return s;
}

std::vector<std::vector<size_t>> collectiveAwaits(const Program &p,
                                                  const Entry &entry) {
  std::vector<std::vector<size_t>> awaits(entry.steps.size() + 1);
  std::vector<std::pair<size_t, Span>> inFlight;
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const Step &step = entry.steps[i];
    if (!inFlight.empty()) {
      std::vector<int32_t> touched = stepBuffers(step);
      for (size_t f = 0; f < inFlight.size();) {
        const Span &span = inFlight[f].second;
        bool overlaps = false;
        for (int32_t id : touched) {
          const Buffer &b = p.buffers[id];
          overlaps |= b.offset < span.offset + span.bytes &&
                      span.offset < b.offset + b.bytes();
        }
        if (overlaps) {
          awaits[i].push_back(inFlight[f].first);
          inFlight.erase(inFlight.begin() + long(f));
        } else {
          ++f;
        }
      }
    }
    if (step.kind == Step::Kind::AllReduce)
      inFlight.push_back({i, bucketSpan(p, step)});
  }
  for (const auto &f : inFlight)
    awaits.back().push_back(f.first);
  return awaits;
}

/// A kernel body (or a stage's) as a JSON list of instructions.
std::string bodyToJson(const std::vector<KInstr> &body) {
  std::string j = "[";
    for (size_t n = 0; n < body.size(); ++n) {
      const KInstr &in = body[n];
      j += std::string(n ? "," : "") + "{\"op\":\"" + kopName(in.op) +
           "\",\"type\":\"" + std::string(dtypeName(in.type)) + "\"";
      for (auto [key, v] : {std::pair("a", in.a), std::pair("b", in.b),
                            std::pair("c", in.c), std::pair("arg", in.arg)})
        if (v >= 0)
          j += std::string(",\"") + key + "\":" + std::to_string(v);
      if (in.op == KOp::Load)
        j += ",\"map\":" + ints(in.map);
      if (in.op == KOp::Gather)
        j += ",\"indices\":" + ints32(in.indices);
      if (in.op == KOp::Const)
        j += ",\"f\":" + number(in.fvalue) +
             ",\"i\":" + std::to_string(in.ivalue);
      if (in.op == KOp::Index || in.op == KOp::Local)
        j += ",\"i\":" + std::to_string(in.ivalue);
      j += "}";
    }
  return j + "]";
}

/// A kernel's (or a stage's) "body" list of instructions.
std::vector<KInstr> readBody(Reader &r, const JsonValue &jk,
                             const std::string &where) {
  std::vector<KInstr> body;
  for (const JsonValue &ji : r.list(jk, "body", where)) {
      KInstr in;
      std::string op = r.string(ji, "op", where);
      bool known = false;
      for (int o = 0; o <= static_cast<int>(KOp::Select); ++o)
        if (op == kopName(static_cast<KOp>(o))) {
          in.op = static_cast<KOp>(o);
          known = true;
        }
      if (!known)
        r.fail(where + " has unknown op '" + op + "'");
      std::optional<DType> t = dtypeFromName(r.string(ji, "type", where));
      if (!t)
        r.fail(where + " has an instruction of unknown type");
      in.type = t.value_or(DType::F32);
      in.a = static_cast<int32_t>(r.integer(ji, "a", where, -1, false));
      in.b = static_cast<int32_t>(r.integer(ji, "b", where, -1, false));
      in.c = static_cast<int32_t>(r.integer(ji, "c", where, -1, false));
      in.arg = static_cast<int32_t>(r.integer(ji, "arg", where, -1, false));
      if (in.op == KOp::Load)
        in.map = r.intList(ji, "map", where);
      if (in.op == KOp::Gather)
        in.indices = r.intList32(ji, "indices", where);
      in.fvalue = r.real(ji, "f", where, 0);
      in.ivalue = r.integer(ji, "i", where, 0, false);
      body.push_back(std::move(in));
    }
  return body;
}

/// An output's or a stage value's "combine".
Combine readCombine(Reader &r, const JsonValue &jo, const std::string &where) {
  std::string c = r.string(jo, "combine", where);
  for (Combine k : {Combine::None, Combine::Sum, Combine::Prod, Combine::Max,
                    Combine::Min})
    if (c == combineName(k))
      return k;
  r.fail(where + " has unknown combine '" + c + "'");
  return Combine::None;
}
std::string programToJson(const Program &p) {
  std::string j = "{\"arena_bytes\":" + std::to_string(p.arenaBytes) +
                  ",\"init_bytes\":" + std::to_string(p.initBytes) +
                  ",\n\"buffers\":[";
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const Buffer &b = p.buffers[i];
    j += std::string(i ? ",\n" : "\n") + "{\"name\":" + jsonQuote(b.name) +
         ",\"kind\":\"" + kindName(b.kind) + "\",\"dtype\":\"" +
         std::string(dtypeName(b.dtype)) + "\",\"shape\":" + ints(b.shape) +
         ",\"offset\":" + std::to_string(b.offset) + "}";
  }
  j += "],\n\"kernels\":[";
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel &k = p.kernels[i];
    j += std::string(i ? ",\n" : "\n") + "{\"name\":" + jsonQuote(k.name) +
         ",\"domain\":" + ints(k.domain) +
         ",\"parallel\":" + std::to_string(k.parallelDims) +
         (k.segmented ? ",\"segmented\":true" : "") +
         (k.vector != 1 ? ",\"vector\":" + std::to_string(k.vector) : "") +
         (k.tileDim != -1 ? ",\"tile_dim\":" + std::to_string(k.tileDim)
                          : "") +
         (k.blockThreads != kBlockReduceThreads
              ? ",\"block_threads\":" + std::to_string(k.blockThreads)
              : "") +
         (k.reduce == Kernel::Reduce::Block  ? ",\"reduce\":\"block\""
          : k.reduce == Kernel::Reduce::Warp ? ",\"reduce\":\"warp\""
          : k.reduce == Kernel::Reduce::Columns
              ? ",\"reduce\":\"columns\""
              : "") +
         ",\"args\":[";
    for (size_t a = 0; a < k.args.size(); ++a)
      j += std::string(a ? "," : "") + "{\"dtype\":\"" +
           std::string(dtypeName(k.args[a].dtype)) +
           "\",\"shape\":" + ints(k.args[a].shape) +
           ",\"output\":" + (k.args[a].output ? "true" : "false") + "}";
    j += "],\"body\":" + bodyToJson(k.body);
    if (!k.stages.empty()) {
      j += ",\"rows\":" + std::to_string(k.rowDims) + ",\"stages\":[";
      for (size_t st = 0; st < k.stages.size(); ++st) {
        j += std::string(st ? "," : "") +
             "{\"body\":" + bodyToJson(k.stages[st].body) + ",\"values\":[";
        for (size_t v = 0; v < k.stages[st].values.size(); ++v)
          j += std::string(v ? "," : "") + "{\"value\":" +
               std::to_string(k.stages[st].values[v].value) +
               ",\"combine\":\"" +
               combineName(k.stages[st].values[v].combine) + "\"}";
        j += "]}";
      }
      j += "]";
    }
    j += ",\"outputs\":[";
    for (size_t o = 0; o < k.outputs.size(); ++o)
      j += std::string(o ? "," : "") +
           "{\"arg\":" + std::to_string(k.outputs[o].arg) +
           ",\"value\":" + std::to_string(k.outputs[o].value) +
           ",\"combine\":\"" + combineName(k.outputs[o].combine) + "\"" +
           (k.outputs[o].local ? ",\"local\":true}" : "}");
    j += "]}";
  }
  j += "],\n\"entries\":[";
  for (size_t i = 0; i < p.entries.size(); ++i) {
    const Entry &e = p.entries[i];
    j += std::string(i ? ",\n" : "\n") + "{\"name\":" + jsonQuote(e.name) +
         ",\"inputs\":" + ints32(e.inputs) +
         ",\"outputs\":" + ints32(e.outputs) +
         (e.unfusedLaunches >= 0
              ? ",\"unfused_launches\":" + std::to_string(e.unfusedLaunches) +
                    ",\"unfused_bytes\":" + std::to_string(e.unfusedBytes)
              : std::string());
    if (e.peakStep >= 0) {
      j += ",\"peak\":{\"step\":" + std::to_string(e.peakStep) +
           ",\"values\":[";
      for (size_t v = 0; v < e.peakValues.size(); ++v)
        j += std::string(v ? "," : "") + "[" +
             std::to_string(e.peakValues[v].bytes) + "," +
             std::to_string(e.peakValues[v].first) + "," +
             std::to_string(e.peakValues[v].last) + "]";
      j += "]}";
    }
    j += ",\"steps\":[";
    for (size_t s = 0; s < e.steps.size(); ++s) {
      const Step &st = e.steps[s];
      j += std::string(s ? ",\n" : "\n");
      if (st.kind == Step::Kind::Kernel) {
        j += "{\"kernel\":" + std::to_string(st.kernel) +
             ",\"args\":" + ints32(st.args);
        if (!st.segments.empty()) {
          j += ",\"segments\":[";
          for (size_t g = 0; g < st.segments.size(); ++g)
            j += std::string(g ? "," : "") + ints32(st.segments[g]);
          j += "]";
        }
        j += "}";
        continue;
      }
      if (st.kind == Step::Kind::AllReduce) {
        j += "{\"all_reduce\":" + std::to_string(st.bucket) +
             ",\"args\":" + ints32(st.args) +
             (st.mean ? "" : ",\"reduction\":\"sum\"") + "}";
        continue;
      }
      if (st.kind == Step::Kind::EmbeddingGrad) {
        const EmbeddingGradCall &c = st.embedding;
        j += "{\"embedding_grad\":" +
             ints({c.ids, c.updates, c.out, c.next, c.head, c.n, c.width,
                   c.rows}) +
             "}";
        continue;
      }
      if (st.kind == Step::Kind::Conv) {
        const ConvCall &c = st.conv;
        j += "{\"conv\":" +
             ints({c.input,     c.weight,    c.bias,   c.out,     c.n,
                   c.c,         c.h,         c.w,      c.m,       c.kh,
                   c.kw,        c.oh,        c.ow,     c.strideH, c.strideW,
                   c.dilationH, c.dilationW, c.padTop, c.padLeft, c.group}) +
             (c.mode == ConvCall::Mode::BackwardData ? ",\"mode\":\"backward_data\""
              : c.mode == ConvCall::Mode::BackwardFilter
                  ? ",\"mode\":\"backward_filter\""
                  : "") +
             "}";
        continue;
      }
      const GemmCall &g = st.gemm;
      j += "{\"gemm\":{\"a\":" + std::to_string(g.a) +
           ",\"b\":" + std::to_string(g.b) + ",\"c\":" + std::to_string(g.c) +
           ",\"out\":" + std::to_string(g.out) +
           ",\"trans_a\":" + (g.transA ? "true" : "false") +
           ",\"trans_b\":" + (g.transB ? "true" : "false") +
           (g.relu ? ",\"relu\":true" : "") +
           (g.reluMask >= 0
                ? ",\"relu_mask\":" + std::to_string(g.reluMask)
                : std::string()) +
           (g.biasGrad >= 0
                ? ",\"bias_grad\":" + std::to_string(g.biasGrad)
                : std::string()) +
           (g.sumOf != GemmCall::SumOf::Out
                ? std::string(",\"bias_grad_of\":\"") +
                      (g.sumOf == GemmCall::SumOf::A ? "a" : "b") + "\""
                : std::string()) +
           ",\"m\":" + std::to_string(g.m) + ",\"n\":" + std::to_string(g.n) +
           ",\"k\":" + std::to_string(g.k) +
           ",\"batch\":" + std::to_string(g.batch) +
           ",\"stride_a\":" + std::to_string(g.strideA) +
           ",\"stride_b\":" + std::to_string(g.strideB) +
           ",\"stride_out\":" + std::to_string(g.strideOut) +
           ",\"alpha\":" + number(g.alpha) + ",\"beta\":" + number(g.beta) +
           "}}";
    }
    j += "]}";
  }
  j += "]";
  if (p.training) {
    const TrainingInfo &t = *p.training;
    auto names = [](const std::vector<std::string> &v) {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i)
        out += (i ? "," : "") + jsonQuote(v[i]);
      return out + "]";
    };
    j += ",\n\"training\":{\"loss\":" + jsonQuote(t.loss) +
         ",\"labels\":" + jsonQuote(t.labels) +
         ",\"optimizer\":" + jsonQuote(t.optimizer) +
         ",\"lr\":" + number(t.lr) + ",\"beta1\":" + number(t.beta1) + ",\"beta2\":" + number(t.beta2) +
         ",\"eps\":" + number(t.eps) + ",\"momentum\":" + number(t.momentum) +
         ",\"weight_decay\":" + number(t.weightDecay) +
         ",\"grad_clip\":" + number(t.gradClip) +
         ",\n\"parameters\":" + names(t.parameters) +
         ",\n\"state\":" + names(t.state) +
         ",\n\"statistics\":" + names(t.statistics) + "}";
  }
  return j + "}\n";
}

Status programFromJson(std::string_view json, const std::string &origin,
                       Program &out) {
  std::string error;
  std::optional<JsonValue> doc = JsonValue::parse(json, error);
  if (!doc || !doc->isObject())
    return Status(KILN_STATUS_DATA_LOSS,
                  origin + ": the program section is not JSON: " + error);
  Reader r(origin);
  Program p;
  p.arenaBytes = r.integer(*doc, "arena_bytes", "the program");
  p.initBytes = r.integer(*doc, "init_bytes", "the program");
  for (const JsonValue &jb : r.list(*doc, "buffers", "the program")) {
    std::string where = "buffer " + std::to_string(p.buffers.size());
    Buffer b;
    b.name = r.string(jb, "name", where);
    std::string kind = r.string(jb, "kind", where);
    bool known = false;
    for (BufferKind k :
         {BufferKind::Parameter, BufferKind::Constant, BufferKind::Input,
          BufferKind::Output, BufferKind::Temp})
      if (kind == kindName(k)) {
        b.kind = k;
        known = true;
      }
    if (!known)
      r.fail(where + " has unknown kind '" + kind + "'");
    b.dtype = r.dtype(jb, where);
    b.shape = r.intList(jb, "shape", where);
    b.offset = r.integer(jb, "offset", where);
    p.buffers.push_back(std::move(b));
  }
  for (const JsonValue &jk : r.list(*doc, "kernels", "the program")) {
    std::string where = "kernel " + std::to_string(p.kernels.size());
    Kernel k;
    k.name = r.string(jk, "name", where);
    k.domain = r.intList(jk, "domain", where);
    k.parallelDims = static_cast<int32_t>(r.integer(jk, "parallel", where));
    k.segmented = r.boolean(jk, "segmented");
    k.vector = static_cast<int32_t>(r.integer(jk, "vector", where, 1, false));
    k.tileDim =
        static_cast<int32_t>(r.integer(jk, "tile_dim", where, -1, false));
    k.blockThreads = static_cast<int32_t>(
        r.integer(jk, "block_threads", where, kBlockReduceThreads, false));
    if (const JsonValue *red = jk.get("reduce")) {
      if (red->str() == "block")
        k.reduce = Kernel::Reduce::Block;
      else if (red->str() == "warp")
        k.reduce = Kernel::Reduce::Warp;
      else if (red->str() == "columns")
        k.reduce = Kernel::Reduce::Columns;
      else if (red->str() != "thread")
        r.fail(where + " has unknown reduce strategy '" + red->str() + "'");
    }
    for (const JsonValue &ja : r.list(jk, "args", where)) {
      KArg a;
      a.dtype = r.dtype(ja, where);
      a.shape = r.intList(ja, "shape", where);
      a.output = r.boolean(ja, "output");
      k.args.push_back(std::move(a));
    }
    k.body = readBody(r, jk, where);
    if (jk.get("stages")) {
      k.rowDims = static_cast<int32_t>(r.integer(jk, "rows", where));
      for (const JsonValue &js : r.list(jk, "stages", where)) {
        KStage st;
        st.body = readBody(r, js, where);
        for (const JsonValue &jv : r.list(js, "values", where))
          st.values.push_back(
              {static_cast<int32_t>(r.integer(jv, "value", where)),
               readCombine(r, jv, where)});
        k.stages.push_back(std::move(st));
      }
    }
    for (const JsonValue &jo : r.list(jk, "outputs", where)) {
      KOutput o;
      o.arg = static_cast<int32_t>(r.integer(jo, "arg", where));
      o.value = static_cast<int32_t>(r.integer(jo, "value", where));
      o.combine = readCombine(r, jo, where);
      o.local = r.boolean(jo, "local");
      k.outputs.push_back(o);
    }
    p.kernels.push_back(std::move(k));
  }
  for (const JsonValue &je : r.list(*doc, "entries", "the program")) {
    Entry e;
    std::string where = "entry " + std::to_string(p.entries.size());
    e.name = r.string(je, "name", where);
    e.inputs = r.intList32(je, "inputs", where);
    e.outputs = r.intList32(je, "outputs", where);
    e.unfusedLaunches = r.integer(je, "unfused_launches", where, -1, false);
    e.unfusedBytes = r.integer(je, "unfused_bytes", where, -1, false);
    if (const JsonValue *peak = je.isObject() ? je.get("peak") : nullptr) {
      std::string at = where + "'s peak";
      e.peakStep = int32_t(r.integer(*peak, "step", at));
      for (const JsonValue &v : r.list(*peak, "values", at)) {
        std::optional<int64_t> bytes, first, last;
        if (v.isArray() && v.items().size() == 3) {
          bytes = v.items()[0].asInt();
          first = v.items()[1].asInt();
          last = v.items()[2].asInt();
        }
        if (!bytes || !first || !last) {
          r.fail(at + " has a value that is not [bytes, first, last]");
          break;
        }
        e.peakValues.push_back({*bytes, int32_t(*first), int32_t(*last)});
      }
    }
    for (const JsonValue &js : r.list(je, "steps", where)) {
      Step s;
      if (js.get("embedding_grad")) {
        s.kind = Step::Kind::EmbeddingGrad;
        std::vector<int64_t> v = r.intList(js, "embedding_grad", where);
        if (v.size() != 8)
          r.fail(where + " has an embedding_grad step with " +
                 std::to_string(v.size()) + " fields, not 8");
        else
          s.embedding = {int32_t(v[0]), int32_t(v[1]), int32_t(v[2]),
                         int32_t(v[3]), int32_t(v[4]), v[5],
                         v[6],          v[7]};
      } else if (js.get("conv")) {
        s.kind = Step::Kind::Conv;
        std::vector<int64_t> v = r.intList(js, "conv", where);
        if (v.size() != 20) {
          r.fail(where + " has a conv step with " + std::to_string(v.size()) +
                 " fields, not 20");
        } else {
          ConvCall &c = s.conv;
          c = {int32_t(v[0]), int32_t(v[1]), int32_t(v[2]), int32_t(v[3]),
               v[4],          v[5],          v[6],          v[7],
               v[8],          v[9],          v[10],         v[11],
               v[12],         v[13],         v[14],         v[15],
               v[16],         v[17],         v[18],         v[19]};
          if (const JsonValue *mode = js.get("mode")) {
            if (mode->str() == "backward_data")
              c.mode = ConvCall::Mode::BackwardData;
            else if (mode->str() == "backward_filter")
              c.mode = ConvCall::Mode::BackwardFilter;
            else
              r.fail(where + " has a conv step of unknown mode '" +
                     mode->str() + "'");
          }
        }
      } else if (js.get("all_reduce")) {
        s.kind = Step::Kind::AllReduce;
        s.bucket = static_cast<int32_t>(r.integer(js, "all_reduce", where));
        s.args = r.intList32(js, "args", where);
        if (const JsonValue *red = js.get("reduction")) {
          if (red->str() == "sum")
            s.mean = false;
          else if (red->str() != "mean")
            r.fail(where + " has an all-reduce of unknown reduction '" +
                   red->str() + "'");
        }
      } else if (const JsonValue *jg = js.get("gemm")) {
        s.kind = Step::Kind::Gemm;
        GemmCall &g = s.gemm;
        g.a = static_cast<int32_t>(r.integer(*jg, "a", where));
        g.b = static_cast<int32_t>(r.integer(*jg, "b", where));
        g.c = static_cast<int32_t>(r.integer(*jg, "c", where, -1, false));
        g.out = static_cast<int32_t>(r.integer(*jg, "out", where));
        g.transA = r.boolean(*jg, "trans_a");
        g.transB = r.boolean(*jg, "trans_b");
        g.relu = r.boolean(*jg, "relu");
        g.reluMask =
            static_cast<int32_t>(r.integer(*jg, "relu_mask", where, -1, false));
        g.biasGrad =
            static_cast<int32_t>(r.integer(*jg, "bias_grad", where, -1, false));
        if (jg->get("bias_grad_of")) {
          std::string of = r.string(*jg, "bias_grad_of", where);
          if (of == "a")
            g.sumOf = GemmCall::SumOf::A;
          else if (of == "b")
            g.sumOf = GemmCall::SumOf::B;
          else
            r.fail(where + " has a GEMM whose bias gradient sums '" + of +
                   "' (not 'a' or 'b')");
        }
        g.m = r.integer(*jg, "m", where);
        g.n = r.integer(*jg, "n", where);
        g.k = r.integer(*jg, "k", where);
        g.batch = r.integer(*jg, "batch", where, 1, false);
        g.strideA = r.integer(*jg, "stride_a", where, 0, false);
        g.strideB = r.integer(*jg, "stride_b", where, 0, false);
        g.strideOut = r.integer(*jg, "stride_out", where, 0, false);
        g.alpha = r.real(*jg, "alpha", where, 1);
        g.beta = r.real(*jg, "beta", where, 1);
      } else {
        s.kind = Step::Kind::Kernel;
        s.kernel = static_cast<int32_t>(r.integer(js, "kernel", where));
        s.args = r.intList32(js, "args", where);
        if (js.get("segments"))
          for (const JsonValue &g : r.list(js, "segments", where)) {
            std::vector<int32_t> ids;
            for (const JsonValue &v : g.items()) {
              std::optional<int64_t> id = v.asInt();
              if (!id)
                r.fail(where + " has a segment with a non-integer buffer");
              ids.push_back(static_cast<int32_t>(id.value_or(-1)));
            }
            s.segments.push_back(std::move(ids));
          }
      }
      e.steps.push_back(std::move(s));
    }
    p.entries.push_back(std::move(e));
  }
  if (const JsonValue *jt = doc->get("training")) {
    TrainingInfo t;
    t.loss = r.string(*jt, "loss", "training");
    t.labels = r.string(*jt, "labels", "training");
    t.optimizer = r.string(*jt, "optimizer", "training");
    t.lr = r.real(*jt, "lr", "training", 1e-3);
    t.beta1 = r.real(*jt, "beta1", "training", 0.9);
    t.beta2 = r.real(*jt, "beta2", "training", 0.999);
    t.eps = r.real(*jt, "eps", "training", 1e-8);
    t.momentum = r.real(*jt, "momentum", "training", 0);
    t.weightDecay = r.real(*jt, "weight_decay", "training", 0);
    t.gradClip = r.real(*jt, "grad_clip", "training", 0);
    for (auto [key, list] :
         {std::pair("parameters", &t.parameters), std::pair("state", &t.state),
          std::pair("statistics", &t.statistics)})
      for (const JsonValue &v : r.list(*jt, key, "training"))
        list->push_back(v.str());
    p.training = std::move(t);
  }
  if (r.failed())
    return r.status();
  if (Status s = p.verify(); !s.ok())
    return Status(KILN_STATUS_DATA_LOSS,
                  origin + ": " + std::string(s.message()));
  out = std::move(p);
  return Status();
}

} // namespace kiln::runtime
