# lit.cfg.py - kiln's lit configuration: .mlir tests under test/, run with
# kiln-opt / kiln and checked with FileCheck.
import os

import lit.formats

config.name = "kiln"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test", ".onnxtxt"]
config.test_source_root = os.path.join(config.kiln_src_root, "test")
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "unit", "runtime", "Inputs", "fixtures"]

# Tools first from the build, then LLVM's (FileCheck, not, count).
for d in (config.llvm_tools_dir, config.kiln_tools_dir,
          os.path.join(config.kiln_obj_root, "test", "runtime"),
          os.path.join(config.kiln_obj_root, "bench")):
    config.environment["PATH"] = os.pathsep.join([d, config.environment.get("PATH", "")])
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

config.substitutions.append(("%kiln_src", config.kiln_src_root))
config.substitutions.append(("%fixtures", os.path.join(config.kiln_src_root, "test", "onnx", "fixtures")))
config.substitutions.append(("%training", os.path.join(config.kiln_src_root, "test", "training")))

# Data-parallel tests: two ranks under Open MPI's mpirun (Debian's
# openmpi-bin), on this machine's CPU. CI runs as root, which mpirun refuses
# unless told; the shared-memory transport's single-copy mode needs ptrace
# rights containers often withhold.
config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
config.environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
config.substitutions.append(("%mpirun", "mpirun --oversubscribe -np"))

# The CUDA toolkit's stub driver library (it links, but cuInit fails): what
# the device tests load in place of an NVIDIA driver.
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
stub = os.path.join(cuda_home, "lib64", "stubs", "libcuda.so")
if os.path.exists(stub):
    config.available_features.add("cuda-stub-driver")
config.substitutions.append(("%cuda_stub_driver", stub))
# Kernel caches of the tests' runs stay in the build tree.
config.environment["KILN_CACHE_DIR"] = os.path.join(config.kiln_obj_root, "test", "kernel-cache")
