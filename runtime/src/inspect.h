//===- inspect.h - describe an artifact (kiln inspect) --------------------===//
#ifndef KILN_RUNTIME_SRC_INSPECT_H
#define KILN_RUNTIME_SRC_INSPECT_H

#include "kiln/runtime.hpp"

#include <string>

namespace kiln::runtime {

/// Describes the artifact at `path`: its sections, memory (arena, init
/// region, parameters), and per entry its inputs, outputs, kernel launches
/// and library calls. Text for people, or JSON (one object) for tools.
Status inspectArtifact(const std::string &path, bool json, std::string &out);

} // namespace kiln::runtime

#endif // KILN_RUNTIME_SRC_INSPECT_H
