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

/// Owns a kiln_session_t: a loaded artifact and its arena. Move-only; one
/// call at a time, as the C type.
class SessionHandle {
public:
  SessionHandle() = default;
  SessionHandle(SessionHandle &&other) noexcept
      : session_(std::exchange(other.session_, nullptr)) {}
  SessionHandle &operator=(SessionHandle &&other) noexcept {
    std::swap(session_, other.session_);
    return *this;
  }
  SessionHandle(const SessionHandle &) = delete;
  SessionHandle &operator=(const SessionHandle &) = delete;
  ~SessionHandle() { kiln_session_free(session_); }

  /// Loads the artifact at `path`.
  static Status open(const std::string &path, SessionHandle &out) {
    kiln_session_t *session = nullptr;
    Status status(kiln_session_open(path.c_str(), &session));
    if (status.ok())
      out = SessionHandle(session);
    return status;
  }
  /// Runs `entry` on the tensors of `inputs` (safetensors), writing `outputs`.
  Status runFiles(const std::string &entry, const std::string &inputs,
                  const std::string &outputs) {
    return Status(kiln_session_run_files(session_, entry.c_str(),
                                         inputs.c_str(), outputs.c_str()));
  }
  kiln_session_t *get() const { return session_; }

private:
  explicit SessionHandle(kiln_session_t *session) : session_(session) {}
  kiln_session_t *session_ = nullptr;
};

} // namespace kiln::runtime

#endif // KILN_RUNTIME_HPP
