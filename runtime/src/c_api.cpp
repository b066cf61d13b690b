//===- c_api.cpp - the C API over Session ---------------------------------===//
#include "kiln/runtime.h"

#include "session.h"

struct kiln_session_t {
  std::unique_ptr<kiln::runtime::Session> session;
  std::string device;
};

using namespace kiln::runtime;

extern "C" {

kiln_status_t *kiln_session_open(const char *artifact_path,
                                 kiln_session_t **out_session) {
  return kiln_session_open_on(artifact_path, "cpu", out_session);
}

kiln_status_t *kiln_session_open_on(const char *artifact_path,
                                    const char *device,
                                    kiln_session_t **out_session) {
  if (!artifact_path || !out_session)
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                              "kiln_session_open: NULL argument");
  *out_session = nullptr;
  SessionOptions options;
  if (device && !parseDevice(device, options.device))
    return kiln_status_createf(KILN_STATUS_INVALID_ARGUMENT,
                               "unknown device '%s' (expected cpu, cuda or "
                               "auto)",
                               device);
  std::unique_ptr<Session> session;
  if (Status s = Session::open(artifact_path, session, options); !s.ok())
    return s.release();
  std::string where = session->device();
  if (!session->fallback().empty())
    where += " (no usable GPU: " + session->fallback() + ")";
  *out_session =
      new (std::nothrow) kiln_session_t{std::move(session), std::move(where)};
  if (!*out_session)
    return kiln_status_create(KILN_STATUS_RESOURCE_EXHAUSTED,
                              "out of memory creating a session");
  return nullptr;
}

kiln_status_t *kiln_session_run_files(kiln_session_t *session,
                                      const char *entry,
                                      const char *inputs_path,
                                      const char *outputs_path) {
  if (!session || !entry || !inputs_path || !outputs_path)
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                              "kiln_session_run_files: NULL argument");
  return session->session->runFiles(entry, inputs_path, outputs_path).release();
}

const char *kiln_session_device(const kiln_session_t *session) {
  return session ? session->device.c_str() : "";
}

void kiln_session_free(kiln_session_t *session) { delete session; }

} // extern "C"
