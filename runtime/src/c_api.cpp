//===- c_api.cpp - the C API over Session ---------------------------------===//
#include "kiln/runtime.h"

#include "safetensors.h"
#include "session.h"

struct kiln_session_t {
  std::unique_ptr<kiln::runtime::Session> session;
};

using namespace kiln::runtime;

extern "C" {

kiln_status_t *kiln_session_open(const char *artifact_path,
                                 kiln_session_t **out_session) {
  if (!artifact_path || !out_session)
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                              "kiln_session_open: NULL argument");
  *out_session = nullptr;
  std::unique_ptr<Session> session;
  if (Status s = Session::open(artifact_path, session); !s.ok())
    return s.release();
  *out_session = new (std::nothrow) kiln_session_t{std::move(session)};
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
  SafeTensors file;
  if (Status s = SafeTensors::read(inputs_path, file); !s.ok())
    return s.release();
  // Only the entry's inputs are taken from the file (a batch file may also
  // hold labels).
  const Program &program = session->session->program();
  const Entry *e = program.entry(entry);
  std::vector<HostTensor> inputs;
  if (e) {
    for (int32_t id : e->inputs) {
      if (const TensorView *t = file.find(program.buffers[id].name))
        inputs.push_back({t->name, t->dtype, t->shape, t->data, t->bytes});
    }
  }
  std::vector<HostTensor> outputs;
  if (Status s = session->session->run(entry, inputs, outputs); !s.ok())
    return s.annotate(inputs_path).release();
  SafeTensorsWriter writer;
  for (const HostTensor &t : outputs)
    if (Status s = writer.add(t.name, t.dtype, t.shape, t.data, t.bytes);
        !s.ok())
      return s.release();
  writer.setMetadata("producer", "kiln");
  return writer.write(outputs_path).release();
}

void kiln_session_free(kiln_session_t *session) { delete session; }

} // extern "C"
