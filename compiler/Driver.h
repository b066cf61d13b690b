//===- Driver.h - the `kiln` command line ---------------------------------===//
#ifndef KILN_COMPILER_DRIVER_H
#define KILN_COMPILER_DRIVER_H

namespace kiln {

/// The whole `kiln` command: parses the subcommand and its options, runs it,
/// and returns the process exit code (0 success, 1 user error).
int driverMain(int argc, char **argv);

} // namespace kiln

#endif // KILN_COMPILER_DRIVER_H
