// The kiln driver: help, version, and what a wrong command line is told.
// RUN: kiln --help | FileCheck %s --check-prefix=HELP
// HELP: OVERVIEW: kiln - compile ONNX models into training executables
// HELP-DAG: compile - Compile MODEL
// HELP-DAG: inspect - Describe a compiled artifact
// HELP-DAG: run - Run MODEL

// RUN: kiln compile --help | FileCheck %s --check-prefix=COMPILE-HELP
// COMPILE-HELP: USAGE: kiln compile [options] MODEL
// COMPILE-HELP-DAG: --dump-ir-after-all
// COMPILE-HELP-DAG: --emit=<STAGE>
// COMPILE-HELP-DAG: -o <OUT>

// RUN: kiln --version | FileCheck %s --check-prefix=VERSION
// VERSION: kiln {{[0-9]+\.[0-9]+\.[0-9]+}} (MLIR 19.

// RUN: not kiln 2>&1 | FileCheck %s --check-prefix=NONE
// NONE: kiln: error: no command given; commands: compile run step train export inspect (kiln --help explains them)

// RUN: not kiln frobnicate 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: kiln: error: unknown command 'frobnicate'; commands: compile run step train export inspect
