//===- nvrtc.cpp - NVRTC, loaded at run time -------------------------------===//
#include "nvrtc.h"

#include "api.h"

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace kiln::runtime::cuda {

// The parts of nvrtc.h kiln uses, declared here so that building needs no
// CUDA toolkit.
using nvrtcResult = int;
using nvrtcProgram = struct _nvrtcProgram *;

struct Nvrtc::Api {
  const char *(*getErrorString)(nvrtcResult);
  nvrtcResult (*version)(int *, int *);
  nvrtcResult (*createProgram)(nvrtcProgram *, const char *, const char *,
                               int, const char *const *, const char *const *);
  nvrtcResult (*destroyProgram)(nvrtcProgram *);
  nvrtcResult (*compileProgram)(nvrtcProgram, int, const char *const *);
  nvrtcResult (*getProgramLogSize)(nvrtcProgram, size_t *);
  nvrtcResult (*getProgramLog)(nvrtcProgram, char *);
  nvrtcResult (*getCUBINSize)(nvrtcProgram, size_t *);
  nvrtcResult (*getCUBIN)(nvrtcProgram, char *);
  nvrtcResult (*getPTXSize)(nvrtcProgram, size_t *);
  nvrtcResult (*getPTX)(nvrtcProgram, char *);
  // Optional (NVRTC 11.2 and later): what it can compile for.
  nvrtcResult (*getNumSupportedArchs)(int *) = nullptr;
  nvrtcResult (*getSupportedArchs)(int *) = nullptr;
};

int architectureNumber(const std::string &arch) {
  size_t digits = arch.rfind("sm_", 0) == 0        ? 3
                  : arch.rfind("compute_", 0) == 0 ? 8
                                                   : std::string::npos;
  if (digits == std::string::npos || arch.size() == digits ||
      arch.size() > digits + 4 || arch[digits] == '0')
    return -1;
  int n = 0;
  for (char c : arch.substr(digits)) {
    if (c < '0' || c > '9')
      return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

Status Nvrtc::get(Nvrtc *&out) {
  static Nvrtc instance;
  static std::string failure; // Why NVRTC cannot be used; empty if it can.
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    void *handle = openLibrary(
        {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}, tried);
    if (!handle) {
      failure = "NVRTC is not installed (tried " + tried +
                "); install the CUDA toolkit or set CUDA_HOME";
      return;
    }
    auto *api = new Api();
    bool ok = true;
    auto bind = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(handle, symbol));
      ok &= fn != nullptr;
    };
    bind(api->getErrorString, "nvrtcGetErrorString");
    bind(api->version, "nvrtcVersion");
    bind(api->createProgram, "nvrtcCreateProgram");
    bind(api->destroyProgram, "nvrtcDestroyProgram");
    bind(api->compileProgram, "nvrtcCompileProgram");
    bind(api->getProgramLogSize, "nvrtcGetProgramLogSize");
    bind(api->getProgramLog, "nvrtcGetProgramLog");
    bind(api->getCUBINSize, "nvrtcGetCUBINSize");
    bind(api->getCUBIN, "nvrtcGetCUBIN");
    bind(api->getPTXSize, "nvrtcGetPTXSize");
    bind(api->getPTX, "nvrtcGetPTX");
    if (!ok) {
      delete api;
      failure = "the NVRTC library found lacks functions kiln needs (CUDA "
                "12 or newer is required)";
      return;
    }
    instance.api_ = api;
    api->version(&instance.major_, &instance.minor_);
    api->getNumSupportedArchs = reinterpret_cast<nvrtcResult (*)(int *)>(
        dlsym(handle, "nvrtcGetNumSupportedArchs"));
    api->getSupportedArchs = reinterpret_cast<nvrtcResult (*)(int *)>(
        dlsym(handle, "nvrtcGetSupportedArchs"));
    int count = 0;
    if (api->getNumSupportedArchs && api->getSupportedArchs &&
        api->getNumSupportedArchs(&count) == 0 && count > 0) {
      instance.archs_.resize(size_t(count));
      if (api->getSupportedArchs(instance.archs_.data()) != 0)
        instance.archs_.clear();
      std::sort(instance.archs_.begin(), instance.archs_.end());
    }
  });
  if (!failure.empty())
    return Status(KILN_STATUS_UNAVAILABLE, failure);
  out = &instance;
  return Status();
}

Status Nvrtc::target(const std::string &arch, std::string &out) const {
  int n = architectureNumber(arch);
  if (archs_.empty() || n < 0 ||
      std::find(archs_.begin(), archs_.end(), n) != archs_.end()) {
    out = arch;
    return Status();
  }
  // The newest architecture NVRTC knows that is not newer than the GPU.
  auto below = std::upper_bound(archs_.begin(), archs_.end(), n);
  if (below == archs_.begin())
    return Status(KILN_STATUS_UNAVAILABLE,
                  "NVRTC " + version() + " cannot compile for " + arch +
                      ": it supports " + architecturesText());
  out = "compute_" + std::to_string(*(below - 1));
  return Status();
}

std::string Nvrtc::architecturesText() const {
  if (archs_.empty())
    return "architectures it does not list";
  std::string list;
  for (int n : archs_)
    list += (list.empty() ? "" : ", ") + std::to_string(n);
  return "sm_" + std::to_string(archs_.front()) + " to sm_" +
         std::to_string(archs_.back()) + " (" + list + ")";
}

std::string Nvrtc::version() const {
  return std::to_string(major_) + "." + std::to_string(minor_);
}

Status Nvrtc::compile(const std::string &source, const std::string &name,
                      const std::string &arch,
                      std::vector<uint8_t> &cubin) const {
  nvrtcProgram program = nullptr;
  auto fail = [&](const std::string &what, nvrtcResult r) {
    return Status(KILN_STATUS_INTERNAL, "NVRTC " + what + " of kernel '" +
                                            name + "' failed: " +
                                            api_->getErrorString(r));
  };
  nvrtcResult r = api_->createProgram(&program, source.c_str(),
                                      (name + ".cu").c_str(), 0, nullptr,
                                      nullptr);
  if (r != 0)
    return fail("nvrtcCreateProgram", r);
  std::string archOption = "--gpu-architecture=" + arch;
  // A program's kernels are one translation unit: NVRTC 12.4 and later
  // optimize its functions on all the cores (--split-compile=0), the
  // difference between a cold first step of seconds and of a fraction.
  bool split = major_ > 12 || (major_ == 12 && minor_ >= 4);
  const char *options[] = {archOption.c_str(), "--std=c++17",
                           "-default-device", "--split-compile=0"};
  r = api_->compileProgram(program, split ? 4 : 3, options);
  std::string log;
  size_t logSize = 0;
  if (api_->getProgramLogSize(program, &logSize) == 0 && logSize > 1) {
    log.resize(logSize);
    api_->getProgramLog(program, log.data());
    log.resize(logSize - 1);
  }
  if (r != 0) {
    api_->destroyProgram(&program);
    return Status(KILN_STATUS_INTERNAL,
                  "NVRTC cannot compile kernel '" + name + "' for " + arch +
                      " (" + api_->getErrorString(r) + "):\n" + log);
  }
  // A virtual architecture's code is PTX (text, its size counting the NUL).
  bool ptx = arch.rfind("compute_", 0) == 0;
  size_t size = 0;
  r = ptx ? api_->getPTXSize(program, &size)
          : api_->getCUBINSize(program, &size);
  if (r != 0 || size == 0) {
    api_->destroyProgram(&program);
    return fail(ptx ? "nvrtcGetPTXSize" : "nvrtcGetCUBINSize", r);
  }
  cubin.resize(size);
  r = ptx ? api_->getPTX(program, reinterpret_cast<char *>(cubin.data()))
          : api_->getCUBIN(program, reinterpret_cast<char *>(cubin.data()));
  api_->destroyProgram(&program);
  if (r != 0)
    return fail(ptx ? "nvrtcGetPTX" : "nvrtcGetCUBIN", r);
  return Status();
}

} // namespace kiln::runtime::cuda
