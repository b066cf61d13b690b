//===- make_test_artifact.cpp - files for the runtime's end-to-end tests --===//
//
//   kiln_test_artifact write DIR   writes DIR/mlp.kiln (TestMlp.h's program)
//                                  and DIR/inputs.safetensors (its input x)
//   kiln_test_artifact check FILE  checks FILE's tensor y against the double
//                                  reference; exit 1 with the worst error
//
//===----------------------------------------------------------------------===//
#include "TestMlp.h"

#include "runtime/src/artifact.h"
#include "runtime/src/safetensors.h"

#include <cstdio>
#include <string>

using namespace kiln::runtime;
using namespace kiln::runtime::testing_mlp;

int main(int argc, char **argv) {
  std::string mode = argc == 3 ? argv[1] : "";
  Mlp m = makeMlp();
  std::vector<float> x = input();
  if (mode == "write") {
    std::string dir = argv[2];
    ArtifactWriter artifact;
    std::string json = programToJson(m.program);
    SafeTensorsWriter inputs;
    Status s = artifact.addSection("program", {json.begin(), json.end()});
    if (s.ok())
      s = artifact.addSection("init", m.init);
    if (s.ok())
      s = artifact.write(dir + "/mlp.kiln");
    if (s.ok())
      s = inputs.add("x", DType::F32, {B, I}, x.data(), x.size() * 4);
    if (s.ok())
      s = inputs.write(dir + "/inputs.safetensors");
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.toString().c_str());
      return 1;
    }
    return 0;
  }
  if (mode == "check") {
    SafeTensors file;
    if (Status s = SafeTensors::read(argv[2], file); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.toString().c_str());
      return 1;
    }
    const TensorView *y = file.find("y");
    if (!y || y->dtype != DType::F32 ||
        y->shape != std::vector<int64_t>{B, O}) {
      std::fprintf(stderr, "no F32 [%lld, %lld] tensor 'y'\n", (long long)B,
                   (long long)O);
      return 1;
    }
    std::vector<double> expected = reference(m, x);
    const float *got = reinterpret_cast<const float *>(y->data);
    double worst = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      double d = std::abs(got[i] - expected[i]) / (1 + std::abs(expected[i]));
      if (!(d <= worst)) // A NaN counts as the worst.
        worst = d;
    }
    std::printf("y matches the reference to %.3g (relative)\n", worst);
    return worst < 1e-5 ? 0 : 1;
  }
  std::fprintf(stderr, "usage: kiln_test_artifact write DIR | check FILE\n");
  return 2;
}
