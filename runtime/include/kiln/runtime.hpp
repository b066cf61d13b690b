//===- kiln/runtime.hpp - a thin C++ wrapper over the runtime's C API -----===//
//
// Header-only; owns C handles with RAII. Thread-safety is that of the wrapped
// C type.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_HPP
#define KILN_RUNTIME_HPP

#include "kiln/runtime.h"

#include <string>
#include <utility>

namespace kiln::runtime {

/// Owns a kiln_status_t. A default-constructed Status is success.
class Status {
public:
  Status() = default;
  /// Takes ownership of `status` (NULL is success).
  explicit Status(kiln_status_t *status) : status_(status) {}
  Status(kiln_status_code_t code, const std::string &message)
      : status_(kiln_status_create(code, message.c_str())) {}
  Status(Status &&other) noexcept
      : status_(std::exchange(other.status_, nullptr)) {}
  Status &operator=(Status &&other) noexcept {
    std::swap(status_, other.status_);
    return *this;
  }
  Status(const Status &) = delete;
  Status &operator=(const Status &) = delete;
  ~Status() { kiln_status_free(status_); }

  bool ok() const { return status_ == nullptr; }
  explicit operator bool() const { return ok(); }
  kiln_status_code_t code() const { return kiln_status_code(status_); }
  const char *message() const { return kiln_status_message(status_); }
  /// "OK", or "CODE_NAME: message".
  std::string toString() const {
    if (ok())
      return "OK";
    return std::string(kiln_status_code_name(code())) + ": " + message();
  }
  /// Prefixes the message with "`context`: "; success stays success.
  Status &annotate(const std::string &context) {
    status_ = kiln_status_annotate(status_, context.c_str());
    return *this;
  }
  /// Gives the C status back to the caller, who then owns it.
  kiln_status_t *release() { return std::exchange(status_, nullptr); }

private:
  kiln_status_t *status_ = nullptr;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_HPP
