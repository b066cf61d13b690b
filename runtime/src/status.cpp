//===- status.cpp - kiln_status_t -----------------------------------------===//
#include "kiln/runtime.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

struct kiln_status_t {
  kiln_status_code_t code;
  std::string message;
};

namespace {

/// Returned when allocating a status fails; never freed.
kiln_status_t outOfMemory{KILN_STATUS_RESOURCE_EXHAUSTED,
                          "out of memory while reporting an error"};

kiln_status_t *makeStatus(kiln_status_code_t code, std::string message) {
  kiln_status_t *status = new (std::nothrow) kiln_status_t;
  if (!status)
    return &outOfMemory;
  status->code = code;
  status->message = std::move(message);
  return status;
}

} // namespace

extern "C" {

const char *kiln_runtime_version(void) { return KILN_VERSION; }

kiln_status_t *kiln_status_create(kiln_status_code_t code,
                                  const char *message) {
  if (code == KILN_STATUS_OK)
    return nullptr;
  return makeStatus(code, message ? message : "");
}

kiln_status_t *kiln_status_createf(kiln_status_code_t code, const char *format,
                                   ...) {
  if (code == KILN_STATUS_OK)
    return nullptr;
  va_list args, copy;
  va_start(args, format);
  va_copy(copy, args);
  int size = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string message;
  if (size > 0) {
    message.resize(static_cast<size_t>(size) + 1);
    std::vsnprintf(message.data(), message.size(), format, args);
    message.resize(static_cast<size_t>(size));
  }
  va_end(args);
  return makeStatus(code, std::move(message));
}

kiln_status_t *kiln_status_annotate(kiln_status_t *status,
                                    const char *context) {
  if (!status || !context || !*context)
    return status;
  if (status == &outOfMemory)
    return status;
  status->message = std::string(context) + ": " + status->message;
  return status;
}

kiln_status_code_t kiln_status_code(const kiln_status_t *status) {
  return status ? status->code : KILN_STATUS_OK;
}

const char *kiln_status_message(const kiln_status_t *status) {
  return status ? status->message.c_str() : "";
}

const char *kiln_status_code_name(kiln_status_code_t code) {
  switch (code) {
  case KILN_STATUS_OK:
    return "OK";
  case KILN_STATUS_INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case KILN_STATUS_NOT_FOUND:
    return "NOT_FOUND";
  case KILN_STATUS_DATA_LOSS:
    return "DATA_LOSS";
  case KILN_STATUS_UNIMPLEMENTED:
    return "UNIMPLEMENTED";
  case KILN_STATUS_UNAVAILABLE:
    return "UNAVAILABLE";
  case KILN_STATUS_RESOURCE_EXHAUSTED:
    return "RESOURCE_EXHAUSTED";
  case KILN_STATUS_DEADLINE_EXCEEDED:
    return "DEADLINE_EXCEEDED";
  case KILN_STATUS_FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case KILN_STATUS_INTERNAL:
    return "INTERNAL";
  }
  return "UNKNOWN";
}

void kiln_status_free(kiln_status_t *status) {
  if (status != &outOfMemory)
    delete status;
}

} // extern "C"
