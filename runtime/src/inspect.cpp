//===- inspect.cpp - describe an artifact (kiln inspect) ------------------===//
#include "inspect.h"

#include "artifact.h"
#include "json.h"
#include "program.h"

#include <set>

namespace kiln::runtime {
namespace {

/// A kernel's instructions: its body's and its stages' (a row kernel's).
size_t instructions(const Kernel &k) {
  size_t n = k.body.size();
  for (const KStage &st : k.stages)
    n += st.body.size();
  return n;
}

std::string tensorJson(const Buffer &b) {
  return "{\"name\":" + jsonQuote(b.name) + ",\"dtype\":\"" +
         std::string(dtypeName(b.dtype)) +
         "\",\"shape\":" + formatShape(b.shape) + "}";
}

} // namespace

std::string shortNumber(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

std::string megabytes(int64_t bytes) {
  if (bytes < 1000000)
    return std::to_string(bytes) + " bytes";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f MB", double(bytes) / 1e6);
  return buffer;
}

/// The ONNX nodes (and training-step parts) a kernel computes, from its
/// name: "k3 node 'a' (Relu) + node 'b' (Add)".
std::vector<std::string> fusedOps(const std::string &name) {
  std::vector<std::string> ops;
  size_t space = name.find(' ');
  if (space == std::string::npos)
    return ops;
  std::string rest = name.substr(space + 1);
  for (size_t at = 0;;) {
    size_t plus = rest.find(" + ", at);
    ops.push_back(rest.substr(at, plus == std::string::npos ? plus : plus - at));
    if (plus == std::string::npos)
      break;
    at = plus + 3;
  }
  return ops;
}

namespace {

/// The entry's memory peak, in words: the bytes of its temporaries and
/// outputs live at once, the step, and the largest of those values with
/// the steps they live over (the listing below names the steps).
std::string peakText(const Entry &e) {
  if (e.peakStep < 0)
    return "";
  std::string out = "  memory at peak: " + megabytes(e.peakBytes()) + " in " +
                    std::to_string(e.peakValues.size()) +
                    " temporaries and outputs live at step " +
                    std::to_string(e.peakStep);
  constexpr size_t kShown = 6;
  for (size_t v = 0; v < e.peakValues.size() && v < kShown; ++v)
    out += std::string(v ? ", " : "; the largest: ") +
           megabytes(e.peakValues[v].bytes) + " (steps " +
           std::to_string(e.peakValues[v].first) + "-" +
           std::to_string(e.peakValues[v].last) + ")";
  if (e.peakValues.size() > kShown)
    out += ", ...";
  return out + "\n";
}

std::string peakJson(const Entry &e) {
  if (e.peakStep < 0)
    return "";
  std::string values;
  for (const Entry::LiveValue &v : e.peakValues)
    values += (values.empty() ? "{" : ",{") +
              std::string("\"bytes\":") + std::to_string(v.bytes) +
              ",\"first_step\":" + std::to_string(v.first) +
              ",\"last_step\":" + std::to_string(v.last) + "}";
  return ",\"peak\":{\"step\":" + std::to_string(e.peakStep) +
         ",\"bytes\":" + std::to_string(e.peakBytes()) + ",\"live\":[" +
         values + "]}";
}

} // namespace

const char *convMode(ConvCall::Mode mode) {
  return mode == ConvCall::Mode::BackwardData     ? "backward-data "
         : mode == ConvCall::Mode::BackwardFilter ? "backward-filter "
                                                  : "";
}

Status inspectArtifact(const std::string &path, bool json, std::string &out) {
  Artifact artifact;
  if (Status s = Artifact::read(path, artifact); !s.ok())
    return s;
  const std::vector<uint8_t> *section = artifact.section("program");
  if (!section)
    return Status(KILN_STATUS_DATA_LOSS, path + " has no 'program' section");
  Program p;
  if (Status s = programFromJson(
          std::string_view(reinterpret_cast<const char *>(section->data()),
                           section->size()),
          path, p);
      !s.ok())
    return s;

  // (A parameter's other views, such as the flat one a multi-tensor update
  // reads, are the same storage: counted once.)
  int64_t parameters = 0, parameterElements = 0, constants = 0;
  std::set<std::pair<std::string, int64_t>> seen;
  for (const Buffer &b : p.buffers) {
    if (b.kind == BufferKind::Parameter && seen.insert({b.name, b.offset}).second) {
      ++parameters;
      parameterElements += b.elements();
    }
    constants += b.kind == BufferKind::Constant;
  }
  // What the training step updates: trainable parameters, optimizer state,
  // statistics (all persistent buffers; counted by element).
  auto elementsOf = [&](const std::vector<std::string> &names) {
    int64_t n = 0;
    for (const std::string &name : names)
      if (int32_t id = p.persistent(name); id >= 0)
        n += p.buffers[id].elements();
    return n;
  };
  std::string trainingText, trainingJson;
  if (p.training) {
    const TrainingInfo &t = *p.training;
    trainingText = "training: " + t.loss + " loss on labels '" + t.labels +
"', " + t.optimizer + " (default lr " + shortNumber(t.lr) +
                   "); " + std::to_string(t.parameters.size()) +
                   " trainable tensors (" +
                   std::to_string(elementsOf(t.parameters)) + " elements), " +
                   std::to_string(t.state.size()) + " optimizer state tensors, " +
                   std::to_string(t.statistics.size()) + " statistics\n";
    trainingJson = ",\"training\":{\"loss\":" + jsonQuote(t.loss) +
                   ",\"optimizer\":" + jsonQuote(t.optimizer) +
                   ",\"trainable_tensors\":" +
                   std::to_string(t.parameters.size()) +
                   ",\"trainable_elements\":" +
                   std::to_string(elementsOf(t.parameters)) +
                   ",\"state_tensors\":" + std::to_string(t.state.size()) +
                   ",\"state_elements\":" +
                   std::to_string(elementsOf(t.state)) + "}";
  }

  if (json) {
    out = "{\"artifact\":" + jsonQuote(path) +
          ",\"format_version\":" + std::to_string(artifact.version()) +
          ",\"arena_bytes\":" + std::to_string(p.arenaBytes) +
          ",\"init_bytes\":" + std::to_string(p.initBytes) +
          ",\"parameters\":" + std::to_string(parameters) +
          ",\"parameter_elements\":" + std::to_string(parameterElements) +
          ",\"constants\":" + std::to_string(constants) + trainingJson +
          ",\"entries\":[";
    for (size_t i = 0; i < p.entries.size(); ++i) {
      const Entry &e = p.entries[i];
      int64_t launches = 0, calls = 0, collectives = 0, read = 0,
              written = 0;
      std::string steps;
      for (const Step &s : e.steps) {
        steps += steps.empty() ? "" : ",";
        Traffic t = stepTraffic(p, s);
        read += t.read;
        written += t.written;
        std::string traffic = ",\"bytes_read\":" + std::to_string(t.read) +
                              ",\"bytes_written\":" + std::to_string(t.written);
        if (s.kind == Step::Kind::Kernel) {
          ++launches;
          const Kernel &k = p.kernels[s.kernel];
          std::string ops;
          for (const std::string &op : fusedOps(k.name))
            ops += (ops.empty() ? "" : ",") + jsonQuote(op);
          steps += "{\"kind\":\"kernel\",\"name\":" + jsonQuote(k.name) +
                   ",\"ops\":[" + ops + "]" +
                   (s.segments.empty()
                        ? std::string()
                        : ",\"segments\":" +
                              std::to_string(s.segments.size() + 1)) +
                   ",\"domain\":" + formatShape(k.domain) +
                   ",\"parallel\":" + std::to_string(k.parallelDims) +
                   ",\"reduce\":" +
                   (k.stages.empty() &&
                            k.parallelDims == int32_t(k.domain.size())
                        ? std::string("null")
                    : k.reduce == Kernel::Reduce::Block
                        ? std::string("\"block\"")
                    : k.reduce == Kernel::Reduce::Warp
                        ? std::string("\"warp\"")
                    : k.reduce == Kernel::Reduce::Columns
                        ? std::string("\"columns\"")
                        : std::string("\"thread\"")) +
                   ",\"vector\":" + std::to_string(k.vector) +
                   ",\"block_threads\":" + std::to_string(k.blockThreads) +
                   ",\"tile_dim\":" + std::to_string(k.tileDim) +
                   ",\"instructions\":" + std::to_string(instructions(k)) +
                   (k.stages.empty()
                        ? std::string()
                        : ",\"rows\":" + std::to_string(k.rowDims) +
                              ",\"stages\":" +
                              std::to_string(k.stages.size())) +
                   traffic + "}";
        } else if (s.kind == Step::Kind::AllReduce) {
          ++collectives;
          std::string values;
          for (int32_t id : s.args)
            values += (values.empty() ? "" : ",") + jsonQuote(p.buffers[id].name);
          steps += "{\"kind\":\"all_reduce\",\"bucket\":" +
                   std::to_string(s.bucket) + ",\"reduction\":" +
                   (s.mean ? "\"mean\"" : "\"sum\"") + ",\"values\":[" +
                   values + "],\"bucket_bytes\":" +
                   std::to_string(bucketSpan(p, s).bytes) + traffic + "}";
        } else if (s.kind == Step::Kind::EmbeddingGrad) {
          ++calls;
          const EmbeddingGradCall &c = s.embedding;
          steps += "{\"kind\":\"embedding_grad\",\"ids\":" +
                   std::to_string(c.n) + ",\"rows\":" +
                   std::to_string(c.rows) + ",\"width\":" +
                   std::to_string(c.width) + traffic + "}";
        } else if (s.kind == Step::Kind::Conv) {
          ++calls;
          const ConvCall &c = s.conv;
          steps += std::string("{\"kind\":\"conv") +
                   (c.mode == ConvCall::Mode::BackwardData ? "_backward_data"
                    : c.mode == ConvCall::Mode::BackwardFilter
                        ? "_backward_filter"
                        : "") +
                   "\",\"input\":" +
                   formatShape({c.n, c.c, c.h, c.w}) + ",\"kernel\":" +
                   formatShape({c.m, c.c / c.group, c.kh, c.kw}) +
                   ",\"group\":" + std::to_string(c.group) + traffic + "}";
        } else {
          ++calls;
          const GemmCall &g = s.gemm;
          steps += "{\"kind\":\"gemm\"" +
                   std::string(g.relu ? ",\"epilogue\":\"relu\""
                               : g.reluMask >= 0
                                   ? ",\"epilogue\":\"drelu_bgrad\""
                               : g.sumOf == GemmCall::SumOf::A
                                   ? ",\"epilogue\":\"bgrad_a\""
                               : g.sumOf == GemmCall::SumOf::B
                                   ? ",\"epilogue\":\"bgrad_b\""
                                   : "") +
                   ",\"m\":" + std::to_string(g.m) +
                   ",\"n\":" + std::to_string(g.n) +
                   ",\"k\":" + std::to_string(g.k) +
                   ",\"batch\":" + std::to_string(g.batch) + traffic + "}";
        }
      }
      std::string inputs, outputs;
      for (int32_t id : e.inputs)
        inputs += (inputs.empty() ? "" : ",") + tensorJson(p.buffers[id]);
      for (int32_t id : e.outputs)
        outputs += (outputs.empty() ? "" : ",") + tensorJson(p.buffers[id]);
      out += std::string(i ? "," : "") + "{\"name\":" + jsonQuote(e.name) +
             ",\"inputs\":[" + inputs + "],\"outputs\":[" + outputs +
             "],\"kernel_launches\":" + std::to_string(launches) +
             ",\"library_calls\":" + std::to_string(calls) +
             ",\"collectives\":" + std::to_string(collectives) +
             ",\"bytes_read\":" + std::to_string(read) +
             ",\"bytes_written\":" + std::to_string(written) +
             ",\"bytes_moved\":" + std::to_string(read + written) +
             (e.unfusedLaunches >= 0
                  ? ",\"unfused_kernel_launches\":" +
                        std::to_string(e.unfusedLaunches) +
                        ",\"unfused_bytes_moved\":" +
                        std::to_string(e.unfusedBytes)
                  : std::string()) +
             peakJson(e) + ",\"steps\":[" + steps + "]}";
    }
    out += "]}\n";
    return Status();
  }

  out = path + ": kiln artifact, format version " +
        std::to_string(artifact.version()) + "\n";
  out += "memory: arena " + std::to_string(p.arenaBytes) + " bytes, of which " +
         std::to_string(p.initBytes) + " hold " + std::to_string(parameters) +
         " parameters (" + std::to_string(parameterElements) +
         " elements) and " + std::to_string(constants) + " constants\n";
  out += trainingText;
  // What the CUDA backend gets: the kernels' source, and cubins where
  // `kiln compile --precompile` made them.
  if (artifact.section("cuda.source")) {
    std::string archs, ptx;
    for (const std::string &name : artifact.sectionNames())
      if (name.rfind("cuda.cubin.compute_", 0) == 0)
        ptx += (ptx.empty() ? "" : ", ") + name.substr(11);
      else if (name.rfind("cuda.cubin.", 0) == 0)
        archs += (archs.empty() ? "" : ", ") + name.substr(11);
    out += "cuda: " + std::to_string(p.kernels.size()) +
           " kernels as CUDA C++; " +
           (archs.empty() ? std::string("no cubins (compiled on first load)")
                          : "cubins for " + archs) +
           (ptx.empty() ? std::string()
                        : "; PTX for " + ptx + " (and newer GPUs)") +
           "\n";
  }
  for (const Entry &e : p.entries) {
    out += "entry '" + e.name + "':\n  inputs:";
    for (int32_t id : e.inputs)
      out += " " + p.buffers[id].name + " " +
             std::string(dtypeName(p.buffers[id].dtype)) +
             formatShape(p.buffers[id].shape);
    out += "\n  outputs:";
    for (int32_t id : e.outputs)
      out += " " + p.buffers[id].name + " " +
             std::string(dtypeName(p.buffers[id].dtype)) +
             formatShape(p.buffers[id].shape);
    int64_t launches = 0, collectives = 0, bucketBytes = 0;
    for (const Step &s : e.steps) {
      launches += s.kind == Step::Kind::Kernel;
      if (s.kind == Step::Kind::AllReduce) {
        ++collectives;
        bucketBytes += bucketSpan(p, s).bytes;
      }
    }
    int64_t moved = 0;
    for (const Step &s : e.steps) {
      Traffic t = stepTraffic(p, s);
      moved += t.read + t.written;
    }
    out += "\n  " + std::to_string(e.steps.size()) +
           " steps: " + std::to_string(launches) + " kernel launches, " +
           std::to_string(e.steps.size() - launches - collectives) +
           " library calls" +
           (collectives ? ", " + std::to_string(collectives) +
                              (collectives == 1 ? " collective" : " collectives") +
                              " across data-parallel ranks (" +
                              megabytes(bucketBytes) + " per step)"
                        : std::string()) +
           "\n";
    out += "  memory traffic: " + megabytes(moved);
    if (e.unfusedLaunches >= 0)
      out += " (without fusion: " + std::to_string(e.unfusedLaunches) +
             " kernel launches, " + megabytes(e.unfusedBytes) + ")";
    out += "\n" + peakText(e);
    for (size_t i = 0; i < e.steps.size(); ++i) {
      const Step &s = e.steps[i];
      out += "    " + std::to_string(i) + ": ";
      if (s.kind == Step::Kind::Kernel) {
        const Kernel &k = p.kernels[s.kernel];
        out += "kernel '" + k.name + "' over " + formatShape(k.domain) + " (" +
               std::to_string(k.parallelDims) + " parallel" +
               (!k.stages.empty()
                    ? std::string(k.reduce == Kernel::Reduce::Warp
                                      ? ", a warp"
                                  : k.blockThreads != kBlockReduceThreads
                                      ? ", a block of " +
                                            std::to_string(k.blockThreads) +
                                            " threads"
                                      : ", a block") +
                          " per row of the first " +
                          std::to_string(k.rowDims) + ", " +
                          std::to_string(k.stages.size()) +
                          (k.stages.size() == 1 ? " stage" : " stages") +
                          " reducing each row first"
                : k.reduce == Kernel::Reduce::Block
                    ? ", block reduction" +
                          (k.blockThreads != kBlockReduceThreads
                               ? " (" + std::to_string(k.blockThreads) +
                                     " threads)"
                               : std::string())
                : k.reduce == Kernel::Reduce::Warp  ? ", warp reduction"
                : k.reduce == Kernel::Reduce::Columns
                    ? ", column reduction"
                : k.vector != 1
                    ? ", " + std::to_string(k.vector) + " points a thread"
                : k.tileDim != -1
                    ? ", 32 x 32 tiles of dimensions " +
                          std::to_string(k.tileDim) + " and " +
                          std::to_string(k.domain.size() - 1)
                                                    : "") +
               "), " + std::to_string(instructions(k)) + " instructions";
        if (!s.segments.empty()) {
          // A multi-tensor launch: the segments' points, and the tensors
          // each updates (named after its first output's buffer).
          int64_t points = k.domain[0];
          for (const std::vector<int32_t> &g : s.segments)
            for (size_t a = 0; a < g.size(); ++a)
              if (!k.args[a].shape.empty()) {
                points += p.buffers[g[a]].shape[0];
                break;
              }
          out += "; one launch over " + std::to_string(s.segments.size() + 1) +
                 " tensors, " + std::to_string(points) + " points";
        }
        out += "\n";
      } else if (s.kind == Step::Kind::AllReduce) {
        out += "all-reduce (" + std::string(s.mean ? "mean" : "sum") + ") " +
               (s.bucket >= 0 ? "of bucket " + std::to_string(s.bucket)
                              : std::string("in the step")) +
               ", " +
               megabytes(bucketSpan(p, s).bytes) + ":";
        for (int32_t id : s.args)
          out += " " + p.buffers[id].name;
        out += "\n";
      } else if (s.kind == Step::Kind::EmbeddingGrad) {
        const EmbeddingGradCall &c = s.embedding;
        out += "embedding gradient: " + std::to_string(c.n) +
               " ids' rows summed into " + formatShape({c.rows, c.width}) +
               "\n";
      } else if (s.kind == Step::Kind::Conv) {
        const ConvCall &c = s.conv;
        out += std::string("conv ") + convMode(c.mode) + std::to_string(c.kh) + "x" + std::to_string(c.kw) +
               " " + std::to_string(c.c) + "->" + std::to_string(c.m) +
               " channels on " + formatShape({c.n, c.c, c.h, c.w}) +
               (c.group > 1 ? ", group " + std::to_string(c.group) : "") +
               (c.bias >= 0 ? " + bias" : "") + "\n";
      } else {
        const GemmCall &g = s.gemm;
        out += "gemm " + std::to_string(g.m) + "x" + std::to_string(g.k) +
               (g.transA ? "^T" : "") + " * " + std::to_string(g.k) + "x" +
               std::to_string(g.n) + (g.transB ? "^T" : "") +
               (g.c >= 0 ? " + bias" : "") + (g.relu ? ", relu" : "") +
               (g.reluMask >= 0 ? ", relu gradient + bias gradient" : "") +
               (g.sumOf == GemmCall::SumOf::A   ? " + bias gradient (A's sum over k)"
                : g.sumOf == GemmCall::SumOf::B ? " + bias gradient (B's sum over k)"
                                                : "") +
               (g.batch > 1 ? ", batch " + std::to_string(g.batch) : "") + "\n";
      }
    }
  }
  return Status();
}

} // namespace kiln::runtime
