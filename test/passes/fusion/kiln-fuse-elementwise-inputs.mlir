// RUN: kiln-opt %s --kiln-lower-to-linalg --kiln-fuse-elementwise | FileCheck %s

// A kernel reads at most 64 inputs (each a kernel parameter): a sum of 70
// tensors (a weight's gradient over a loop unrolled 70 times) is a kernel
// of the first 64, then one adding the other 6 to its result. Without the
// bound it was one kernel of 70 inputs, built one fusion at a time.
// CHECK-LABEL: func.func @sum70
// CHECK: %[[FIRST:.*]] = linalg.generic {{.*}} ins(%arg0, {{(%arg[0-9]+, )+}}%arg63 :
// CHECK: linalg.generic {{.*}} ins(%[[FIRST]], %arg64, %arg65, %arg66, %arg67, %arg68, %arg69 :
// CHECK-NOT: linalg.generic
func.func @sum70(%a0: tensor<4xf32>, %a1: tensor<4xf32>, %a2: tensor<4xf32>, %a3: tensor<4xf32>, %a4: tensor<4xf32>, %a5: tensor<4xf32>, %a6: tensor<4xf32>, %a7: tensor<4xf32>, %a8: tensor<4xf32>, %a9: tensor<4xf32>, %a10: tensor<4xf32>, %a11: tensor<4xf32>, %a12: tensor<4xf32>, %a13: tensor<4xf32>, %a14: tensor<4xf32>, %a15: tensor<4xf32>, %a16: tensor<4xf32>, %a17: tensor<4xf32>, %a18: tensor<4xf32>, %a19: tensor<4xf32>, %a20: tensor<4xf32>, %a21: tensor<4xf32>, %a22: tensor<4xf32>, %a23: tensor<4xf32>, %a24: tensor<4xf32>, %a25: tensor<4xf32>, %a26: tensor<4xf32>, %a27: tensor<4xf32>, %a28: tensor<4xf32>, %a29: tensor<4xf32>, %a30: tensor<4xf32>, %a31: tensor<4xf32>, %a32: tensor<4xf32>, %a33: tensor<4xf32>, %a34: tensor<4xf32>, %a35: tensor<4xf32>, %a36: tensor<4xf32>, %a37: tensor<4xf32>, %a38: tensor<4xf32>, %a39: tensor<4xf32>, %a40: tensor<4xf32>, %a41: tensor<4xf32>, %a42: tensor<4xf32>, %a43: tensor<4xf32>, %a44: tensor<4xf32>, %a45: tensor<4xf32>, %a46: tensor<4xf32>, %a47: tensor<4xf32>, %a48: tensor<4xf32>, %a49: tensor<4xf32>, %a50: tensor<4xf32>, %a51: tensor<4xf32>, %a52: tensor<4xf32>, %a53: tensor<4xf32>, %a54: tensor<4xf32>, %a55: tensor<4xf32>, %a56: tensor<4xf32>, %a57: tensor<4xf32>, %a58: tensor<4xf32>, %a59: tensor<4xf32>, %a60: tensor<4xf32>, %a61: tensor<4xf32>, %a62: tensor<4xf32>, %a63: tensor<4xf32>, %a64: tensor<4xf32>, %a65: tensor<4xf32>, %a66: tensor<4xf32>, %a67: tensor<4xf32>, %a68: tensor<4xf32>, %a69: tensor<4xf32>) -> tensor<4xf32> {
  %s1 = kiln.add %a0, %a1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s2 = kiln.add %s1, %a2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s3 = kiln.add %s2, %a3 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s4 = kiln.add %s3, %a4 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s5 = kiln.add %s4, %a5 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s6 = kiln.add %s5, %a6 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s7 = kiln.add %s6, %a7 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s8 = kiln.add %s7, %a8 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s9 = kiln.add %s8, %a9 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s10 = kiln.add %s9, %a10 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s11 = kiln.add %s10, %a11 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s12 = kiln.add %s11, %a12 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s13 = kiln.add %s12, %a13 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s14 = kiln.add %s13, %a14 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s15 = kiln.add %s14, %a15 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s16 = kiln.add %s15, %a16 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s17 = kiln.add %s16, %a17 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s18 = kiln.add %s17, %a18 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s19 = kiln.add %s18, %a19 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s20 = kiln.add %s19, %a20 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s21 = kiln.add %s20, %a21 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s22 = kiln.add %s21, %a22 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s23 = kiln.add %s22, %a23 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s24 = kiln.add %s23, %a24 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s25 = kiln.add %s24, %a25 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s26 = kiln.add %s25, %a26 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s27 = kiln.add %s26, %a27 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s28 = kiln.add %s27, %a28 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s29 = kiln.add %s28, %a29 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s30 = kiln.add %s29, %a30 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s31 = kiln.add %s30, %a31 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s32 = kiln.add %s31, %a32 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s33 = kiln.add %s32, %a33 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s34 = kiln.add %s33, %a34 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s35 = kiln.add %s34, %a35 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s36 = kiln.add %s35, %a36 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s37 = kiln.add %s36, %a37 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s38 = kiln.add %s37, %a38 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s39 = kiln.add %s38, %a39 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s40 = kiln.add %s39, %a40 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s41 = kiln.add %s40, %a41 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s42 = kiln.add %s41, %a42 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s43 = kiln.add %s42, %a43 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s44 = kiln.add %s43, %a44 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s45 = kiln.add %s44, %a45 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s46 = kiln.add %s45, %a46 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s47 = kiln.add %s46, %a47 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s48 = kiln.add %s47, %a48 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s49 = kiln.add %s48, %a49 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s50 = kiln.add %s49, %a50 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s51 = kiln.add %s50, %a51 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s52 = kiln.add %s51, %a52 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s53 = kiln.add %s52, %a53 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s54 = kiln.add %s53, %a54 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s55 = kiln.add %s54, %a55 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s56 = kiln.add %s55, %a56 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s57 = kiln.add %s56, %a57 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s58 = kiln.add %s57, %a58 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s59 = kiln.add %s58, %a59 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s60 = kiln.add %s59, %a60 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s61 = kiln.add %s60, %a61 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s62 = kiln.add %s61, %a62 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s63 = kiln.add %s62, %a63 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s64 = kiln.add %s63, %a64 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s65 = kiln.add %s64, %a65 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s66 = kiln.add %s65, %a66 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s67 = kiln.add %s66, %a67 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s68 = kiln.add %s67, %a68 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %s69 = kiln.add %s68, %a69 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %s69 : tensor<4xf32>
}
