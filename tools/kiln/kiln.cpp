//===- kiln.cpp - the kiln command-line driver ----------------------------===//
#include "compiler/Driver.h"

int main(int argc, char **argv) { return kiln::driverMain(argc, argv); }
