//===- Passes.td - fusing kernels -------------------------*- tablegen -*-===//
#ifndef KILN_PASSES_FUSION_PASSES_TD
#define KILN_PASSES_FUSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def FuseElementwisePass : Pass<"kiln-fuse-elementwise", "mlir::func::FuncOp"> {
  let summary = "Fuses chains of elementwise kernels into their consumers";
  let description = [{
    On kernel-level IR (after `kiln-lower-to-linalg`): an all-parallel
    `linalg.generic` whose result has one user, a `linalg.generic` that reads
    it point for point (a permutation map, no broadcast), is merged into that
    user; repeated until nothing changes. Its value is then computed where it
    is used and never written to memory. The consumer may be a reduction, so
    an elementwise producer fuses into the sum that consumes it.

    Not fused: a producer read twice by one consumer (it would be computed
    twice), a producer read through a broadcast (it would be recomputed per
    broadcast element), library calls (GEMM, convolution) and views. The
    exception is a small scalar kernel (no loops, at most 8 body ops, from
    scalars: a learning rate times a weight decay, a bias correction): it is
    recomputed inside every consumer, a copy each, broadcast or not, and
    its own launch disappears.

    The fused kernel's location fuses those of its parts, so `kiln inspect`
    names every ONNX node in a kernel.

    ```mlir
    // Before: two kernels, one temporary
    %e = linalg.generic ins(%x) { exp }      // 4x8
    %r = linalg.generic ins(%e, %y) { mul }   // 4x8
    // After: one kernel
    %r = linalg.generic ins(%x, %y) { exp; mul }
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def FuseGemmEpiloguePass : Pass<"kiln-fuse-gemm-epilogue", "mlir::func::FuncOp"> {
  let summary = "Folds a ReLU into the GEMM whose result it is (the library call's epilogue)";
  let description = [{
    On graph-level IR: `kiln.relu` of a `kiln.gemm` result that nothing else
    reads becomes that GEMM with `relu = true`: cuBLASLt's RELU(_BIAS)
    epilogue, and on the CPU a pass over the result while it is in cache;
    one launch and one round trip of the activation through memory fewer.
    Runs after the training step is built (ReLU's gradient reads the
    result, so the pre-activation has no other reader).

    ```mlir
    // Before
    %0 = kiln.gemm %x, %w, %b {trans_b = true} : ...
    %1 = kiln.relu %0 : ...
    // After
    %1 = kiln.gemm %x, %w, %b {relu = true, trans_b = true} : ...
    ```
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
}

#endif // KILN_PASSES_FUSION_PASSES_TD
