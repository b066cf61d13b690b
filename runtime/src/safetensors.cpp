//===- safetensors.cpp - tensors in and out as safetensors files ----------===//
#include "safetensors.h"

#include "io.h"
#include "json.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace kiln::runtime {
namespace {

/// Headers larger than this are refused, as the reference implementation
/// does (100 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

Status dataLoss(const std::string &origin, const std::string &message) {
  return Status(KILN_STATUS_DATA_LOSS, origin + ": " + message);
}

} // namespace

int64_t TensorView::elements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Status SafeTensors::read(const std::string &path, SafeTensors &out) {
  std::vector<uint8_t> bytes;
  if (Status status = readFile(path, bytes); !status.ok())
    return status;
  return parse(std::move(bytes), path, out);
}

Status SafeTensors::parse(std::vector<uint8_t> bytes, const std::string &origin,
                          SafeTensors &out) {
  // 1. The header's length and text.
  if (bytes.size() < 8)
    return dataLoss(origin, "is " + std::to_string(bytes.size()) +
                                " bytes, too short for a safetensors file");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | bytes[i];
  if (headerSize > kMaxHeaderBytes || headerSize > bytes.size() - 8)
    return dataLoss(origin,
                    "header length " + std::to_string(headerSize) +
                        " does not fit in the file (" +
                        std::to_string(bytes.size()) +
                        " bytes); not a safetensors file, or truncated");
  std::string_view text(reinterpret_cast<const char *>(bytes.data() + 8),
                        headerSize);
  if (text.empty() || text.front() != '{')
    return dataLoss(origin, "the header does not start with '{'; not a "
                            "safetensors file");
  std::string error;
  std::optional<JsonValue> header = JsonValue::parse(text, error);
  if (!header || !header->isObject())
    return dataLoss(origin, "malformed header: " +
                                (header ? "not a JSON object" : error));

  // 2. Each tensor's entry.
  const uint8_t *data = bytes.data() + 8 + headerSize;
  uint64_t dataSize = bytes.size() - 8 - headerSize;
  std::vector<TensorView> tensors;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::map<std::string, std::string> metadata;
  for (const auto &[name, entry] : header->members()) {
    if (name == "__metadata__") {
      if (!entry.isObject())
        return dataLoss(origin, "__metadata__ is not an object");
      for (const auto &[key, value] : entry.members()) {
        if (!value.isString())
          return dataLoss(origin, "__metadata__ value of '" + key +
                                      "' is not a string");
        metadata[key] = value.str();
      }
      continue;
    }
    std::string what = "tensor '" + name + "'";
    const JsonValue *dtype = entry.get("dtype");
    const JsonValue *shape = entry.get("shape");
    const JsonValue *offsets = entry.get("data_offsets");
    if (!entry.isObject() || !dtype || !shape || !offsets ||
        !dtype->isString() || !shape->isArray() || !offsets->isArray() ||
        offsets->items().size() != 2)
      return dataLoss(origin, what + " needs dtype, shape and data_offsets "
                                     "[begin, end]");
    std::optional<DType> type = dtypeFromName(dtype->str());
    if (!type)
      return Status(KILN_STATUS_UNIMPLEMENTED,
                    origin + ": " + what + " has dtype " + dtype->str() +
                        ", which kiln does not support");
    TensorView view;
    view.name = name;
    view.dtype = *type;
    uint64_t count = 1;
    for (const JsonValue &dim : shape->items()) {
      std::optional<int64_t> size = dim.asInt();
      if (!size || *size < 0)
        return dataLoss(origin, what + " has a shape entry that is not a "
                                       "non-negative integer");
      view.shape.push_back(*size);
      if (*size != 0 && count > UINT64_MAX / static_cast<uint64_t>(*size))
        return dataLoss(origin, what + " has too many elements");
      count *= static_cast<uint64_t>(*size);
    }
    std::optional<int64_t> begin = offsets->items()[0].asInt(),
                           end = offsets->items()[1].asInt();
    if (!begin || !end || *begin < 0 || *end < *begin ||
        static_cast<uint64_t>(*end) > dataSize)
      return dataLoss(origin, what + "'s data_offsets lie outside the " +
                                  std::to_string(dataSize) +
                                  " bytes of data (truncated file?)");
    uint64_t expected = count * dtypeSize(*type);
    if (count > UINT64_MAX / dtypeSize(*type) ||
        static_cast<uint64_t>(*end - *begin) != expected)
      return dataLoss(origin, what + " of shape " + formatShape(view.shape) +
                                  " (" + dtype->str() + ") needs " +
                                  std::to_string(expected) +
                                  " bytes but its data_offsets hold " +
                                  std::to_string(*end - *begin));
    view.data = data + *begin;
    view.bytes = static_cast<size_t>(expected);
    ranges.emplace_back(*begin, *end);
    tensors.push_back(std::move(view));
  }

  // 3. The data must be covered exactly: no overlaps, no holes.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  uint64_t at = 0;
  for (size_t i : order) {
    if (ranges[i].first != at)
      return dataLoss(origin,
                      "tensor '" + tensors[i].name + "' " +
                          (ranges[i].first < at ? "overlaps another"
                                                : "leaves a gap before it") +
                          " in the data");
    at = ranges[i].second;
  }
  if (at != dataSize)
    return dataLoss(origin, std::to_string(dataSize - at) +
                                " bytes of data after the last tensor");

  out.bytes_ = std::move(bytes);
  out.tensors_.clear();
  for (size_t i : order)
    out.tensors_.push_back(std::move(tensors[i]));
  out.metadata_ = std::move(metadata);
  return Status();
}

const TensorView *SafeTensors::find(std::string_view name) const {
  for (const TensorView &t : tensors_)
    if (t.name == name)
      return &t;
  return nullptr;
}

Status SafeTensorsWriter::add(const std::string &name, DType dtype,
                              const std::vector<int64_t> &shape,
                              const void *data, size_t bytes) {
  if (name.empty() || name == "__metadata__")
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "invalid tensor name '" + name + "'");
  for (const Entry &e : entries_)
    if (e.name == name)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "tensor '" + name + "' is added twice");
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return Status(KILN_STATUS_INVALID_ARGUMENT,
                    "tensor '" + name + "' has a negative dimension");
    count *= static_cast<uint64_t>(d);
  }
  if (count * dtypeSize(dtype) != bytes)
    return Status(KILN_STATUS_INVALID_ARGUMENT,
                  "tensor '" + name + "' of shape " + formatShape(shape) +
                      " needs " + std::to_string(count * dtypeSize(dtype)) +
                      " bytes, got " + std::to_string(bytes));
  entries_.push_back({name, dtype, shape, data, bytes});
  return Status();
}

std::string SafeTensorsWriter::header() const {
  std::string json = "{";
  bool first = true;
  if (!metadata_.empty()) {
    json += "\"__metadata__\":{";
    for (auto it = metadata_.begin(); it != metadata_.end(); ++it)
      json += (it == metadata_.begin() ? "" : ",") + jsonQuote(it->first) +
              ":" + jsonQuote(it->second);
    json += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const Entry &e : entries_) {
    json += (first ? "" : ",") + jsonQuote(e.name) + ":{\"dtype\":\"" +
            std::string(dtypeName(e.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < e.shape.size(); ++i)
      json += (i ? "," : "") + std::to_string(e.shape[i]);
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + e.bytes) + "]}";
    offset += e.bytes;
    first = false;
  }
  json += "}";
  // Pad with spaces so that the data starts 8-byte aligned.
  while ((8 + json.size()) % 8 != 0)
    json += ' ';
  return json;
}

std::vector<Chunk> SafeTensorsWriter::layout(std::string &text,
                                             uint8_t (&length)[8]) const {
  text = header();
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
  std::vector<Chunk> chunks = {{length, 8}, {text.data(), text.size()}};
  for (const Entry &e : entries_)
    chunks.push_back({e.data, e.bytes});
  return chunks;
}

std::vector<uint8_t> SafeTensorsWriter::serialize() const {
  std::string text;
  uint8_t length[8];
  std::vector<uint8_t> out;
  for (const Chunk &chunk : layout(text, length)) {
    const uint8_t *p = static_cast<const uint8_t *>(chunk.data);
    out.insert(out.end(), p, p + chunk.size);
  }
  return out;
}

Status SafeTensorsWriter::write(const std::string &path) const {
  std::string text;
  uint8_t length[8];
  return writeFileAtomically(path, layout(text, length));
}

} // namespace kiln::runtime
