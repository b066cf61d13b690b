//===- HostModule.h - printed CUDA kernels, compiled for the CPU ----------===//
#ifndef KILN_TEST_UNIT_HOSTMODULE_H
#define KILN_TEST_UNIT_HOSTMODULE_H

#include "codegen/cuda/CudaKernel.h"

#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace kiln::test {

/// The program's kernels as printHostModule writes them (CUDA's builtins
/// emulated: a launch is three blocks of a few threads, one after another,
/// or with `gpuGeometry` of a GPU's sizes), plus `extra` CUDA source
/// compiled under the same emulation, built by the host compiler in `dir`
/// and loaded: its dlopen handle, or null with `error` saying why.
inline void *buildHostModule(const std::vector<runtime::Kernel> &kernels,
                             const std::string &dir, std::string &error,
                             const std::string &extra = "",
                             bool gpuGeometry = false) {
  std::string source;
  if (!codegen::cuda::printHostModule(kernels, source, error, gpuGeometry))
    return nullptr;
  std::ofstream(dir + "/module.cpp") << source << extra;
  std::string command = std::string(KILN_HOST_CXX) +
                        " -std=c++17 -O1 -pthread -shared -fPIC -w " + dir +
                        "/module.cpp -o " + dir + "/module.so 2> " + dir +
                        "/log.txt";
  if (std::system(command.c_str()) != 0) {
    std::ifstream log(dir + "/log.txt");
    error = "the host compiler rejects the module: " +
            std::string(std::istreambuf_iterator<char>(log), {});
    return nullptr;
  }
  void *handle = dlopen((dir + "/module.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    error = dlerror();
  return handle;
}

/// kiln_host_launch(kernel, args, points) of a host module.
using LaunchFn = void (*)(int, void **, long long);

} // namespace kiln::test

#endif // KILN_TEST_UNIT_HOSTMODULE_H
