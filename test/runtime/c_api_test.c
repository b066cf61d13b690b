/*===- c_api_test.c - the runtime's C API, used from C ---------------------===
 * Compiled as C: proves kiln/runtime.h is valid C and the library links into
 * a C program. Exits non-zero, naming the check, when any check fails.
 *===----------------------------------------------------------------------===*/
#include "kiln/runtime.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  kiln_status_t *ok = kiln_status_create(KILN_STATUS_OK, "ignored");
  CHECK(ok == NULL);
  CHECK(kiln_status_code(ok) == KILN_STATUS_OK);

  kiln_status_t *status = kiln_status_createf(
      KILN_STATUS_DATA_LOSS, "section '%s' is %d bytes short", "kernels", 12);
  CHECK(status != NULL);
  CHECK(kiln_status_code(status) == KILN_STATUS_DATA_LOSS);
  status = kiln_status_annotate(status, "loading model.kiln");
  CHECK(strcmp(kiln_status_message(status),
               "loading model.kiln: section 'kernels' is 12 bytes short") == 0);
  CHECK(strcmp(kiln_status_code_name(kiln_status_code(status)), "DATA_LOSS") ==
        0);
  kiln_status_free(status);
  kiln_status_free(NULL);

  CHECK(strlen(kiln_runtime_version()) > 0);

  /* Sessions: an unknown device and a missing file are clear errors. */
  kiln_session_t *session = (kiln_session_t *)&failures;
  status = kiln_session_open_on("model.kiln", "tpu", &session);
  CHECK(kiln_status_code(status) == KILN_STATUS_INVALID_ARGUMENT);
  CHECK(strcmp(kiln_status_message(status),
               "unknown device 'tpu' (expected cpu, cuda or auto)") == 0);
  CHECK(session == NULL);
  kiln_status_free(status);
  status = kiln_session_open_on("no-such-model.kiln", "auto", &session);
  CHECK(kiln_status_code(status) == KILN_STATUS_NOT_FOUND);
  CHECK(strstr(kiln_status_message(status), "no-such-model.kiln") != NULL);
  kiln_status_free(status);
  CHECK(strcmp(kiln_session_device(NULL), "") == 0);
  if (failures == 0)
    printf("c_api: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
