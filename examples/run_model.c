/*===- run_model.c - embed the kiln runtime in a C program -----------------===
 *
 * Loads a compiled model (.kiln), runs its forward pass on tensors from a
 * safetensors file and writes the outputs to another. Link with
 * libkiln_runtime and include one header:
 *
 *   cc run_model.c -I runtime/include -L build/runtime -lkiln_runtime -lstdc++
 *   ./a.out model.kiln inputs.safetensors outputs.safetensors [cpu|cuda|auto]
 *
 * The device defaults to "auto": the GPU when one is usable, else the CPU.
 *
 *===----------------------------------------------------------------------===*/
#include "kiln/runtime.h"

#include <stdio.h>

/* Prints and frees a failed status; returns whether it failed. */
static int failed(kiln_status_t *status) {
  if (!status)
    return 0;
  fprintf(stderr, "run_model: %s: %s\n",
          kiln_status_code_name(kiln_status_code(status)),
          kiln_status_message(status));
  kiln_status_free(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr,
            "usage: %s MODEL.kiln INPUTS.safetensors OUTPUTS.safetensors "
            "[cpu|cuda|auto]\n",
            argv[0]);
    return 2;
  }
  kiln_session_t *session = NULL;
  if (failed(kiln_session_open_on(argv[1], argc == 5 ? argv[4] : "auto",
                                  &session)))
    return 1;
  printf("run_model: on %s\n", kiln_session_device(session));
  int rc = failed(kiln_session_run_files(session, "forward", argv[2], argv[3]));
  kiln_session_free(session);
  if (rc == 0)
    printf("run_model: wrote %s\n", argv[3]);
  return rc;
}
