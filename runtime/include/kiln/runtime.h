/*===- kiln/runtime.h - the kiln runtime's C API ---------------------------===
 *
 * The one header an application includes to embed kiln. Plain C (C99 and
 * later, and C++). Conventions, in the manner of IREE's runtime:
 *  - Types are opaque; objects are made by `kiln_*_create(..., T **out)` and
 *    released by `kiln_*_free`.
 *  - Fallible calls return `kiln_status_t *`: NULL means success, anything
 *    else is an error the caller owns and must pass to kiln_status_free.
 *    The runtime never aborts on a recoverable error.
 *  - Each type states its ownership and thread-safety where it is declared.
 *
 * So far: statuses, and sessions that run an artifact's entry points on the
 * CPU with tensors from and to safetensors files.
 *===----------------------------------------------------------------------===*/
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Version
 *===----------------------------------------------------------------------===*/

/** The runtime library's version, "MAJOR.MINOR.PATCH". Static storage. */
const char *kiln_runtime_version(void);

/*===----------------------------------------------------------------------===
 * Status
 *===----------------------------------------------------------------------===*/

/** What went wrong, coarsely; the message says exactly what. */
typedef enum kiln_status_code_e {
  KILN_STATUS_OK = 0,
  /** The caller passed something malformed (a bad shape, a NULL pointer). */
  KILN_STATUS_INVALID_ARGUMENT = 1,
  /** A named file, tensor or entry point does not exist. */
  KILN_STATUS_NOT_FOUND = 2,
  /** Stored data is truncated or corrupt (failed checksum, short file). */
  KILN_STATUS_DATA_LOSS = 3,
  /** Valid input this runtime cannot handle (a future artifact version). */
  KILN_STATUS_UNIMPLEMENTED = 4,
  /** A device or library is not usable here (no GPU, no NCCL). */
  KILN_STATUS_UNAVAILABLE = 5,
  /** Memory or another resource ran out. */
  KILN_STATUS_RESOURCE_EXHAUSTED = 6,
  /** A wait timed out (a collective whose peer died). */
  KILN_STATUS_DEADLINE_EXCEEDED = 7,
  /** The call is valid but not in the current state (train before load). */
  KILN_STATUS_FAILED_PRECONDITION = 8,
  /** A bug in kiln: an invariant did not hold. */
  KILN_STATUS_INTERNAL = 9,
} kiln_status_code_t;

/**
 * An error: a code and a message. NULL stands for success.
 * Ownership: whoever receives a non-NULL status owns it and frees it once.
 * Thread-safety: immutable; may be read from several threads and freed from
 * any thread, but not freed while another thread reads it.
 */
typedef struct kiln_status_t kiln_status_t;

/**
 * Makes an error status with a copy of `message` (NULL reads as ""). Returns
 * NULL for KILN_STATUS_OK. If memory runs out, returns a static status with
 * code KILN_STATUS_RESOURCE_EXHAUSTED that kiln_status_free accepts.
 */
kiln_status_t *kiln_status_create(kiln_status_code_t code, const char *message);

/** Makes an error status with a printf-style message. */
kiln_status_t *kiln_status_createf(kiln_status_code_t code, const char *format,
                                   ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/**
 * Prefixes a status's message with "`context`: ", as each layer says what it
 * was doing ("loading model.kiln: section 'kernels': checksum mismatch").
 * Takes ownership of `status` and returns the annotated one (NULL stays NULL).
 */
kiln_status_t *kiln_status_annotate(kiln_status_t *status, const char *context);

/** The code of `status`; KILN_STATUS_OK for NULL. */
kiln_status_code_t kiln_status_code(const kiln_status_t *status);

/** The message of `status` ("" for NULL), valid until the status is freed. */
const char *kiln_status_message(const kiln_status_t *status);

/** The code's name, "INVALID_ARGUMENT" and so on. Static storage. */
const char *kiln_status_code_name(kiln_status_code_t code);

/** Releases `status`; NULL is accepted. */
void kiln_status_free(kiln_status_t *status);

/*===----------------------------------------------------------------------===
 * Sessions
 *===----------------------------------------------------------------------===*/

/**
 * A loaded artifact and the memory it runs in (one arena, allocated once).
 * Ownership: the caller owns it and frees it with kiln_session_free.
 * Thread-safety: one call at a time per session; use one session per thread.
 */
typedef struct kiln_session_t kiln_session_t;

/** Loads the artifact at `artifact_path` (checked: a truncated, corrupt or
 * future-version file is refused) and prepares a session on the CPU. */
kiln_status_t *kiln_session_open(const char *artifact_path,
                                 kiln_session_t **out_session);

/**
 * As kiln_session_open, on `device`: "cpu"; "cuda" (GPU 0: fails, saying
 * why, where no GPU is usable or the artifact has no CUDA kernels); or
 * "auto" (the GPU when one is usable, else the CPU). NULL is "cpu".
 */
kiln_status_t *kiln_session_open_on(const char *artifact_path,
                                    const char *device,
                                    kiln_session_t **out_session);

/**
 * What `session` runs on ("cpu (8 threads, openblas GEMMs)", "cuda:0 NVIDIA
 * H100 ..."), and where "auto" chose the CPU, why not the GPU. Valid until
 * the session is freed.
 */
const char *kiln_session_device(const kiln_session_t *session);

/**
 * Runs the entry point `entry` ("forward") with the tensors of the
 * safetensors file `inputs_path` (one per model input, by name; others are
 * ignored) and writes the outputs, by name, to `outputs_path` (atomically:
 * no partial file on failure).
 */
kiln_status_t *kiln_session_run_files(kiln_session_t *session,
                                      const char *entry,
                                      const char *inputs_path,
                                      const char *outputs_path);

/** Releases `session`; NULL is accepted. */
void kiln_session_free(kiln_session_t *session);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_H */
