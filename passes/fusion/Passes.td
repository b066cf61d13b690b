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

    Not fused: a producer read through a broadcast (it would be recomputed
    per broadcast element), library calls (GEMM, convolution) and views. A
    value one consumer reads twice is one operand (duplicates are merged,
    and results nobody reads are dropped), so it is computed once.

    A producer read by other kernels too is not made an extra output of a
    consumer whose one reader is a reduction reading it point for point:
    that consumer fuses into the reduction instead, which reads the
    producer's value (written once either way) rather than the consumer's
    result written and read back.

    Recomputed instead of written: a small scalar kernel (no loops, at most
    8 body ops: a learning rate times a weight decay, a bias correction) is
    copied into every consumer, broadcast or not; a cheap elementwise kernel
    (at most 4 body ops, at most 2 full-size inputs, the others broadcast:
    a one-hot mask of the labels times a scale) read point for point by
    several kernels is copied into each. Its own launch disappears, and its
    inputs are read instead of its result.

    An elementwise kernel (at most 16 body ops) whose readers are all
    kernels reading it point for point, with several readers or results,
    is recomputed in each reader where that moves fewer bytes than writing
    its results and reading them back (readers x inputs < inputs + results
    + results read): BatchNorm's backward writes no normalized input and
    masked gradient for its sums and input gradient to read back. Not a
    kernel that gathers (what it reads depends on its indices).

    A small per-row kernel (at most 8 body ops: a mean from a sum, a
    reciprocal standard deviation) read through a broadcast at least 8
    times per element is recomputed in each consumer too. A kernel reading
    a view reads the viewed value instead, the view's index arithmetic in
    its indexing map, so that views do not keep kernels apart: a
    `kiln.reshape` that splits dimensions (heads) or adds or drops unit
    ones (BatchNorm and LayerNorm statistics), a `tensor.extract_slice` at
    static offsets (Split's thirds; not one that a plain loop index would
    read at another size than the loop's). "Point for point" means an
    indexing map that reads each element once (permutations, offsets,
    split dimensions in mixed radix).

    A kernel that gathers from a small elementwise kernel's result (a
    `tensor.extract` at computed coordinates in its body: a Concat, a Pad,
    a Slice's or Split's gradient), where every reader of that result is
    such a gather, computes the element itself: the producer's inputs are
    read at its indexing maps applied to the coordinates (through reshapes,
    the coordinates split or merged again), its body is copied in, and it
    is neither launched nor written (attention's backward: dq, dk and dv
    transposed from heads, gathered into the Split's [.., 3d] gradient).
    At most 8 body ops, linear maps, one result written through a
    permutation.

    Then sibling reductions over one loop nest (the same sizes, iterator
    types and output maps; neither reading the other: a LayerNorm's or
    BatchNorm's weight and bias gradients, the two sums of their backward),
    and sibling elementwise kernels over one loop nest that read one value
    (attention's q, k and v split from one projection into heads), become
    one kernel with one output each, at the first one's place (the
    second's initial accumulators moved up) or, when the second reads what
    is computed after the first, at the second's (when nothing reads the
    first before it): one launch instead of two, at most 4 outputs a kernel.

    A kernel that kiln-rematerialize copied into the backward
    (`kiln.recomputed`) keeps the mark through fusion and merges; it is not
    merged with the forward's identical kernel (no common subexpression),
    nor joins an earlier unmarked sibling, and joins a later unmarked one
    (the GELU gradient beside a GELU output computed again) at that one's
    place, what reads the copy in between (the weight gradient) moving after
    the two.

    Fusion copies small kernels into their consumers, so two kernels may
    end up computing the same thing from the same operands (a LayerNorm's
    variance, recomputed by its gradient): common subexpressions are then
    eliminated before siblings merge.

    A reduction over few points, each long (fewer than 96 points, at least
    16384 steps each and 65536 in all: a loss summed over all positions and
    classes, one point; a BatchNorm channel's statistics over N x H x W, 64
    channels) is split in two: a partial reduction that keeps its outer
    reduced loops as points too (each position's row; each image's channel),
    until it has 1024 points or would leave fewer than 256 steps each, then
    a reduction of those partial results with the same combines (sums and
    products starting from 0 and 1, maxima and minima; summands that read
    no accumulator). A GPU then
    reduces on all its multiprocessors instead of one block per point (an
    H100 has 132), for a second, small launch; the loss's row reduction joins
    the row kernel of the statistics it reads. A split two-pass variance
    (the sum of squared deviations from the mean of a split sum: BatchNorm's)
    takes Chan et al.'s parallel form: each part's squared deviations from
    its own mean (its partial sum over its step count), plus, when the parts
    are combined, each part's steps times the square of its mean's
    deviation from the whole's (only for the mean of the same input, read
    at the variance's own point). The partial variance then joins the partial
    sums as one row kernel (the input read once, not twice), and the two
    combinations one more: two launches for BatchNorm's statistics.

    Last, row kernels: a kernel that reads, at the row, the results of
    reductions over its own loop nest is grouped with those reductions (and
    the reductions they read likewise) into one `kiln.row_kernel rows N`,
    emitted as one staged kernel that a GPU runs with a block of threads
    per row. Rows are the first N loops in the code generator's order
    (parallel loops, then reduced ones): for a kernel that writes every
    point, its first N loops; for one that reduces, its parallel loops. A
    LayerNorm's sum and sum of squares with its normalization, a softmax's
    maximum and sum of exponentials with its quotient, BatchNorm's channel
    sum with its sum of squared deviations. The group stands where the reading
    kernel stood; a reduction whose result is read elsewhere too joins only
    when every such reader comes later (views of it move after the group),
    and the group yields it. Working from the last kernel up, the group's
    main kernel is the last reader its statistics' other readers follow.
    A row reduction over the same loop nest that reads the group's stages
    at the row and a full-size input of the main kernel's (the
    cross-entropy's per-row loss beside its gradient) joins as one more
    stage, yielded, so that the input is read once; kernels reading it
    before the group (the sum of the per-row losses) move after it.
    Not grouped: fewer than 32 rows longer than 1024 points (a few blocks
    would leave most of a GPU idle), statistics read other than at the row.

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
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::kiln::graph::KilnDialect"];
}

def RematerializePass : Pass<"kiln-rematerialize", "mlir::func::FuncOp"> {
  let summary = "Recomputes cheap activations in the backward instead of keeping them from the forward";
  let description = [{
    On kernel-level IR of a training step (after `kiln-lower-to-linalg` and
    CSE, before fusion). The forward ends at the loss (the ops that
    `kiln-build-train-step` names "loss (...)"); a value the forward
    computes and a library call of the backward reads (a GEMM's or
    convolution's operand: the GELU output that the next layer's weight
    gradient reads, a ReLU of a BatchNorm that the next convolution's
    filter gradient reads) is otherwise written once and kept in memory
    from the forward to that read, across the peak of the step.

    Where the value is computed by cheap ops (all-parallel kernels of at
    most 16 body ops that gather nothing, views, and batched products with
    a short reduction, at most 128 terms: attention's scores q k^T; at most
    16 ops in all) from values the backward keeps anyway (read at the first
    backward reader of the value or later, or read there through a cheap
    kernel that no library call reads, which fusion computes from them:
    GELU's input, which its gradient reads; the convolution output that
    BatchNorm's gradient reads; attention's q and k, which dq and dk read),
    from values at most 1/64 of its size (batch and row statistics: a
    softmax's maxima and sums, as flash attention keeps them), arguments
    and constants, those ops are copied just before the backward's first
    reader of the value, which reads the copy from there on. The original
    then dies with its last forward reader. The copies (views aside) are
    marked `kiln.recomputed`: kiln-fuse-elementwise then neither merges
    them back into the forward's identical kernels (common subexpressions)
    nor into an earlier kernel of the forward (siblings), and keeps the
    mark on what they fuse or merge into. A copy costs its inputs read
    again and its value written once more (a product, its operations
    again), and saves the value's storage across the peak; `kiln compile
    --no-recompute` leaves the step without copies.

    The forward's values are visited from the last one up, so a copy may
    read an earlier value that is then recomputed in its turn where the
    backward first reads it. A function without a loss is left alone.

    ```mlir
    // Before: %g is kept from the forward to the weight gradient
    %g = linalg.generic ins(%h) { gelu }
    %y = kiln.gemm %g, %w
    %l = ... loc("loss (cross_entropy)")
    ...
    %dw = kiln.gemm %dy, %g {trans_a = true}
    %dh = linalg.generic ins(%dg, %h) { gelu gradient }
    // After
    %g = linalg.generic ins(%h) { gelu }
    %y = kiln.gemm %g, %w
    %l = ... loc("loss (cross_entropy)")
    ...
    %g2 = linalg.generic ins(%h) { gelu }
    %dw = kiln.gemm %dy, %g2 {trans_a = true}
    %dh = linalg.generic ins(%dg, %h) { gelu gradient }
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def FoldGemmTransposesPass : Pass<"kiln-fold-gemm-transposes", "mlir::func::FuncOp"> {
  let summary = "Reads GEMM operands transposed instead of transposing them first";
  let description = [{
    On graph-level IR, after the training step is built. A 2-D transpose
    next to a matrix product becomes the product's `trans_a` / `trans_b`
    (the library call reads the operand transposed):

    - `kiln.matmul %x, (kiln.transpose %w)` with a 2-D `%w` (a Linear layer
      as exported, y = x W^T; `%x` of any rank, its leading dimensions
      folded into the rows) becomes `kiln.gemm %x', %w {trans_b = true}`
      between free reshapes;
    - `kiln.matmul (kiln.transpose %a), %b` with 2-D operands becomes
      `kiln.gemm %a, %b {trans_a = true}`;
    - `kiln.transpose` of a `kiln.gemm` without C or epilogue (the weight
      gradient of such a layer, (x^T dy)^T) becomes the GEMM of the
      operands swapped, (dy^T x): op(B)^T op(A)^T;
    - a batched `kiln.matmul` whose operand is transposed in its last two
      dimensions (attention's q k^T, its backward's transposes) reads it
      transposed: `trans_a` / `trans_b` on the matmul.

    Each removes a transpose kernel and a round trip of the matrix through
    memory (for a GPT, one per weight in each direction). A transpose that
    has other readers stays for them.

    Then transposes that move the innermost dimension (strided copies)
    beside batched products (operands of one rank, batch dimensions alike):
    - `transpose(x, p)` read only by such products, where p with its last
      two entries swapped (p') keeps the innermost dimension (attention's
      K^T, [b, t, h, d] as [b, h, d, t]), becomes `transpose(x, p')` (a
      copy of consecutive elements, or nothing when p' is the identity)
      read by each product with that operand's trans flag flipped;
    - `transpose(matmul(a, b), p)` where the product's last two dimensions
      swapped would keep the innermost one (the gradient dK^T back to
      [b, t, h, d]) becomes the product of the operands swapped, flags
      inverted, then a transpose that keeps the innermost dimension;
    - a scale between the two (mul, div, add or sub by a one-element
      tensor: K^T times d^-1/2) trades places with the transpose first.

    ```mlir
    // Before
    %t = kiln.transpose %w {perm = array<i64: 1, 0>} : (tensor<1536x512xf32>) -> tensor<512x1536xf32>
    %y = kiln.matmul %x, %t : (tensor<16x256x512xf32>, tensor<512x1536xf32>) -> tensor<16x256x1536xf32>
    // After
    %x2 = kiln.reshape %x {shape = array<i64: 4096, 512>} : ...
    %y2 = kiln.gemm %x2, %w {trans_b = true} : (tensor<4096x512xf32>, tensor<1536x512xf32>) -> tensor<4096x1536xf32>
    %y = kiln.reshape %y2 {shape = array<i64: 16, 256, 1536>} : ...
    ```
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
}

def FuseGemmEpiloguePass : Pass<"kiln-fuse-gemm-epilogue", "mlir::func::FuncOp"> {
  let summary = "Folds ReLUs, their gradients and bias gradients into the GEMMs beside them (the library call's epilogues)";
  let description = [{
    On graph-level IR, after the training step is built:

    - `kiln.relu` of a `kiln.gemm` result that nothing else reads becomes
      that GEMM with `relu = true`: cuBLASLt's RELU(_BIAS) epilogue (ReLU's
      gradient reads the result, so the pre-activation has no other
      reader);
    - the gradient through a ReLU, `where(y > 0, gemm(a, b), 0)`, becomes
      `kiln.gemm_relu_grad a, b, y` (cuBLASLt's DRELU_BGRAD), and a sum of
      it over the rows (the gradient of the bias before that ReLU) is its
      second result;
    - a bias's gradient, `reduce_sum` of dy over all axes but the last,
      becomes the second result of the GEMM that reads dy (or its
      [rows, C] reshape) with K along those rows, `kiln.gemm_bias_grad`
      (cuBLASLt's BGRADB / BGRADA): the weight's gradient dy^T x. Readers
      of the sum placed before the GEMM move after it; a GEMM whose
      operands are computed from the sum, or that scales by an alpha, is
      left alone.

    Each saves a launch and a round trip of an activation-sized tensor
    through memory.

    ```mlir
    // Before
    %0 = kiln.gemm %x, %w, %b {trans_b = true} : ...
    %1 = kiln.relu %0 : ...
    // After
    %1 = kiln.gemm %x, %w, %b {relu = true, trans_b = true} : ...

    // Before (the backward of that layer)
    %g = kiln.gemm %dnext, %w2 : ...
    %p = kiln.greater %1, %zero : ...
    %dz = kiln.where %p, %g, %zero : ...
    %db = kiln.reduce_sum %dz {axes = array<i64: 0>} : ...
    // After
    %dz, %db0 = kiln.gemm_relu_grad %dnext, %w2, %1 : ...
    %db = kiln.reshape %db0 ...

    // Before (a Linear layer without ReLU over [B, T] rows)
    %s = kiln.reduce_sum %dy {axes = array<i64: 0, 1>} : ...
    %r = kiln.reshape %dy {shape = array<i64: 4096, 512>} : ...
    %dw = kiln.gemm %r, %x {trans_a = true} : ...
    // After
    %dw, %db = kiln.gemm_bias_grad %r, %x {of = "a", trans_a = true} : ...
    %s = kiln.reshape %db ...
    ```
  }];
  let dependentDialects = ["::kiln::graph::KilnDialect"];
}

def ScheduleKernelsPass : Pass<"kiln-schedule-kernels", "mlir::func::FuncOp"> {
  let summary = "Chooses how a GPU runs each reduction kernel (kiln.schedule)";
  let description = [{
    On kernel-level IR, after fusion: every reducing `linalg.generic` and
    every `kiln.row_kernel` of the function gets `kiln.schedule`, which the
    code generator follows (runtime/src/kernel.h, `Kernel::Reduce`) and
    `kiln inspect` shows:

    - `"columns"`: the reduction reads along its points (every input that
      moves with the reduction moves by one element with the last parallel
      loop: a bias's gradient over [rows, features]), with few points
      (under 4096) and long reductions (1024 steps or more): tiles of 32
      consecutive points, 8 phases striding the rows, so that a warp reads
      consecutive elements;
    - `"thread"` for other reductions read along their points (a thread per
      point reads coalesced), and for reductions shorter than a warp;
    - `"block"`: few points, long reductions read along the reduction
      (BatchNorm's channel statistics): a block of 256 threads per point;
      `"block1024"` for reductions of 16384 steps or more (few blocks, each
      with as many loads in flight as it can);
    - `"warp"`: otherwise (many points, at least 32 steps each: a row sum
      over [rows, features]): a warp per point, lanes reading consecutive
      elements, combined by shuffles (not for i1 values);
    - a row kernel runs a `"warp"` per row for rows of up to 1024 points,
      else a `"block"` per row (`"block1024"` from 16384 points on).

    An elementwise kernel whose last loop 4 divides, with f32 outputs, gets
    `"vector4"`: each thread takes 4 consecutive points, reading what runs
    along the last dimension from a multiple of 4 elements as one 16-byte
    load and storing one 16-byte vector (the kernel falls back to a point
    a thread where a pointer is not 16-byte aligned); other elementwise
    kernels get nothing (a point a thread), except one that reads an input
    transposed (moving by more than one element along its last loop and
    by one along another): `"transpose"`, 32 x 32 tiles through shared
    memory, read along the one loop and written along the last, both
    coalesced. A kernel that has a schedule already (written by hand in
    kernel-level IR) keeps it.
    Multi-tensor kernels, formed by the code generator, reduce by block.

    ```mlir
    %s = linalg.generic {indexing_maps = [...], iterator_types = ["parallel", "reduction"]}
        ins(%x : tensor<4096x512xf32>) outs(%init : tensor<4096xf32>)
        attrs = {kiln.schedule = "warp"} {...}
    ```
  }];
}

#endif // KILN_PASSES_FUSION_PASSES_TD
