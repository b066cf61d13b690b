//===- GradientInterface.cpp - the op interface autodiff uses -------------===//
#include "ir/graph/GradientInterface.h"

#include "ir/graph/GradientInterface.cpp.inc"
