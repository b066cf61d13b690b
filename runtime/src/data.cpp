//===- data.cpp - training data: IDX (Fashion-MNIST) and safetensors sets -===//
#include "data.h"

#include "io.h"
#include "safetensors.h"

#include <cstring>

#ifdef KILN_HAVE_ZLIB
#include <zlib.h>
#endif

namespace kiln::runtime {

int64_t Dataset::Column::rowBytes() const {
  int64_t n = dtypeSize(dtype);
  for (size_t d = 1; d < shape.size(); ++d)
    n *= shape[d];
  return n;
}

const Dataset::Column *Dataset::find(const std::string &name) const {
  for (const Column &c : columns)
    if (c.name == name)
      return &c;
  return nullptr;
}

namespace {

/// Reads `path`, or `path.gz` decompressed.
Status readMaybeGzipped(const std::string &path, std::vector<uint8_t> &out) {
  if (readFile(path, out).ok())
    return Status();
#ifdef KILN_HAVE_ZLIB
  std::string gz = path + ".gz";
  gzFile f = gzopen(gz.c_str(), "rb");
  if (!f)
    return Status(KILN_STATUS_NOT_FOUND,
                  "cannot read " + path + " or " + gz +
                      " (is the dataset installed? apt install "
                      "dataset-fashion-mnist)");
  out.clear();
  uint8_t buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof buffer)) > 0)
    out.insert(out.end(), buffer, buffer + n);
  bool bad = n < 0;
  gzclose(f);
  if (bad)
    return Status(KILN_STATUS_DATA_LOSS, gz + " is not a valid gzip file");
  return Status();
#else
  return Status(KILN_STATUS_NOT_FOUND,
                "cannot read " + path +
                    " (this runtime was built without zlib, so .gz files "
                    "must be decompressed first)");
#endif
}

uint32_t bigEndian(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
         uint32_t(p[3]);
}

/// An IDX file of unsigned bytes: its dimensions and data.
Status readIdx(const std::string &path, uint32_t rank,
               std::vector<int64_t> &dims, std::vector<uint8_t> &data) {
  std::vector<uint8_t> bytes;
  if (Status s = readMaybeGzipped(path, bytes); !s.ok())
    return s;
  size_t header = 4 + 4 * size_t(rank);
  if (bytes.size() < header || bigEndian(bytes.data()) != (0x0800u | rank))
    return Status(KILN_STATUS_DATA_LOSS,
                  path + " is not an IDX file of " + std::to_string(rank) +
                      "-D unsigned bytes");
  dims.clear();
  int64_t count = 1;
  for (uint32_t d = 0; d < rank; ++d) {
    dims.push_back(bigEndian(bytes.data() + 4 + 4 * d));
    count *= dims.back();
  }
  if (int64_t(bytes.size() - header) != count)
    return Status(KILN_STATUS_DATA_LOSS,
                  path + " is truncated: " +
                      std::to_string(bytes.size() - header) +
                      " data bytes for " + formatShape(dims));
  data.assign(bytes.begin() + header, bytes.end());
  return Status();
}

} // namespace

Status loadIdxDataset(const std::string &dir, bool train, Dataset &out) {
  std::string prefix = dir + "/" + (train ? "train" : "t10k");
  std::vector<int64_t> imageDims, labelDims;
  std::vector<uint8_t> images, labels;
  if (Status s = readIdx(prefix + "-images-idx3-ubyte", 3, imageDims, images);
      !s.ok())
    return s;
  if (Status s = readIdx(prefix + "-labels-idx1-ubyte", 1, labelDims, labels);
      !s.ok())
    return s;
  if (imageDims[0] != labelDims[0])
    return Status(KILN_STATUS_DATA_LOSS,
                  prefix + ": " + std::to_string(imageDims[0]) + " images but " +
                      std::to_string(labelDims[0]) + " labels");
  int64_t n = imageDims[0], pixels = imageDims[1] * imageDims[2];
  Dataset d;
  d.origin = dir;
  Dataset::Column x{"images", DType::F32, {n, pixels}, {}};
  x.bytes.resize(size_t(n * pixels) * sizeof(float));
  auto *xf = reinterpret_cast<float *>(x.bytes.data());
  for (size_t i = 0; i < images.size(); ++i)
    xf[i] = float(images[i]) / 255.0f;
  Dataset::Column y{"labels", DType::I64, {n}, {}};
  y.bytes.resize(size_t(n) * sizeof(int64_t));
  auto *yi = reinterpret_cast<int64_t *>(y.bytes.data());
  for (int64_t i = 0; i < n; ++i)
    yi[i] = labels[i];
  d.columns.push_back(std::move(x));
  d.columns.push_back(std::move(y));
  out = std::move(d);
  return Status();
}

Status loadSafeTensorsDataset(const std::string &path, Dataset &out) {
  SafeTensors file;
  if (Status s = SafeTensors::read(path, file); !s.ok())
    return s;
  Dataset d;
  d.origin = path;
  for (const TensorView &t : file.tensors()) {
    if (t.shape.empty())
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    path + ": '" + t.name +
                        "' is a scalar; every tensor of a data set has the "
                        "examples along dimension 0");
    if (!d.columns.empty() && t.shape[0] != d.columns[0].shape[0])
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    path + ": '" + t.name + "' has " +
                        std::to_string(t.shape[0]) + " examples but '" +
                        d.columns[0].name + "' has " +
                        std::to_string(d.columns[0].shape[0]));
    d.columns.push_back(
        {t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.bytes)});
  }
  if (d.columns.empty())
    return Status(KILN_STATUS_INVALID_ARGUMENT, path + " holds no tensors");
  out = std::move(d);
  return Status();
}

std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, int64_t epoch) {
  // splitmix64 over (seed, epoch): fully specified, unlike std::shuffle.
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1;
  auto next = [&] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    order[i] = i;
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[next() % uint64_t(i + 1)]);
  return order;
}

void gatherRows(const Dataset::Column &column, const int64_t *rows,
                int64_t count, std::vector<uint8_t> &out) {
  int64_t row = column.rowBytes();
  out.resize(size_t(count * row));
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(out.data() + i * row, column.bytes.data() + rows[i] * row,
                size_t(row));
}

} // namespace kiln::runtime
