// RUN: attn-opt %s -split-input-file -attn-materialize-mask -verify-diagnostics
// RUN: not attn-opt %s -split-input-file -attn-materialize-mask=max-pairs=15 2>&1 | FileCheck %s --check-prefix=SMALL
// RUN: not attn-opt %s -split-input-file -attn-materialize-mask=max-pairs=0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not attn-opt %s -split-input-file -attn-materialize-mask=max-pairs=-1 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// Masks that cannot become an explicit boolean mask, and the max-pairs option.

// max-pairs must be positive; the pass fails on the whole module.
// ZERO: error: attn-materialize-mask: max-pairs = 0 must be positive
// NEGATIVE: error: attn-materialize-mask: max-pairs = -1 must be positive

// With max-pairs = 15, a 4 x 4 mask (16 pairs per head) is refused.
// SMALL: error: 'attn.attention' op mask has 16 pairs per head, more than max-pairs = 15
func.func @four_by_four(%q: tensor<1x1x4x4xf16>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.causal -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

// The default max-pairs is 16777216 = 4096 x 4096 pairs per head.
func.func @max_pairs_default(%q: tensor<1x1x4097x4xf16>, %kv: tensor<1x1x4096x4xf16>, %o: tensor<1x1x4097x4xf16>) -> tensor<1x1x4097x4xf16> {
  // expected-error @below {{mask has 16781312 pairs per head, more than max-pairs = 16777216}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x1x4097x4xf16>, tensor<1x1x4096x4xf16>, tensor<1x1x4096x4xf16>) outs(%o : tensor<1x1x4097x4xf16>) mask = #attn.sliding_window<left = 128, right = 0> -> tensor<1x1x4097x4xf16>
  return %r : tensor<1x1x4097x4xf16>
}

// -----

func.func @runtime_segments(%q: tensor<2x1x8x4xf16>, %s: tensor<2x3xi32>, %o: tensor<2x1x8x4xf16>) -> tensor<2x1x8x4xf16> {
  // expected-error @below {{cannot materialize a mask with run-time segment sizes}}
  %r = attn.attention ins(%q, %q, %q : tensor<2x1x8x4xf16>, tensor<2x1x8x4xf16>, tensor<2x1x8x4xf16>) segment_offsets(%s : tensor<2x3xi32>) outs(%o : tensor<2x1x8x4xf16>) mask = #attn.segments<query = [?, ?], visibility = [[full, none], [full, causal]]> -> tensor<2x1x8x4xf16>
  return %r : tensor<2x1x8x4xf16>
}

// -----

func.func @runtime_segments_nested(%q: tensor<2x1x8x4xf16>, %s: tensor<2x3xi32>, %o: tensor<2x1x8x4xf16>) -> tensor<2x1x8x4xf16> {
  // expected-error @below {{cannot materialize a mask with run-time segment sizes}}
  %r = attn.attention ins(%q, %q, %q : tensor<2x1x8x4xf16>, tensor<2x1x8x4xf16>, tensor<2x1x8x4xf16>) segment_offsets(%s : tensor<2x3xi32>) outs(%o : tensor<2x1x8x4xf16>) mask = #attn.or<#attn.causal, #attn.segments<query = [?, ?], visibility = [[full, none], [none, full]]>> -> tensor<2x1x8x4xf16>
  return %r : tensor<2x1x8x4xf16>
}

// -----

func.func @runtime_segments_in_group(%q: tensor<1x2x8x4xf16>, %s: tensor<1x3xi32>, %o: tensor<1x2x8x4xf16>) -> tensor<1x2x8x4xf16> {
  // expected-error @below {{cannot materialize a mask with run-time segment sizes}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>) segment_offsets(%s : tensor<1x3xi32>) outs(%o : tensor<1x2x8x4xf16>) mask = #attn.causal heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.segments<query = [?, ?], visibility = [[full, none], [full, causal]]>>]> -> tensor<1x2x8x4xf16>
  return %r : tensor<1x2x8x4xf16>
}

// -----

// renormalize = false changes the softmax denominator, which an explicit mask
// cannot say.
func.func @no_renormalize(%q: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  // expected-error @below {{cannot materialize segments with renormalize = false as an explicit mask}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) outs(%o : tensor<1x1x8x4xf16>) mask = #attn.segments<query = [3, 5], visibility = [[full, none], [full, causal]], renormalize = false> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

func.func @no_renormalize_nested(%q: tensor<1x1x8x4xf16>, %o: tensor<1x1x8x4xf16>) -> tensor<1x1x8x4xf16> {
  // expected-error @below {{cannot materialize segments with renormalize = false as an explicit mask}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>, tensor<1x1x8x4xf16>) outs(%o : tensor<1x1x8x4xf16>) mask = #attn.and<#attn.causal, #attn.segments<query = [8], visibility = [[#attn.segments<query = [4, 4], visibility = [[full, none], [none, full]], renormalize = false>]]>> -> tensor<1x1x8x4xf16>
  return %r : tensor<1x1x8x4xf16>
}

// -----

func.func @dynamic_length(%q: tensor<1x1x?x4xf16>, %o: tensor<1x1x?x4xf16>) -> tensor<1x1x?x4xf16> {
  // expected-error @below {{cannot materialize a mask with dynamic sequence lengths or head count}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x?x4xf16>, tensor<1x1x?x4xf16>, tensor<1x1x?x4xf16>) outs(%o : tensor<1x1x?x4xf16>) mask = #attn.causal -> tensor<1x1x?x4xf16>
  return %r : tensor<1x1x?x4xf16>
}

// -----

func.func @dynamic_heads_with_groups(%q: tensor<1x?x4x4xf16>, %kv: tensor<1x1x4x4xf16>, %o: tensor<1x?x4x4xf16>) -> tensor<1x?x4x4xf16> {
  // expected-error @below {{cannot materialize a mask with dynamic sequence lengths or head count}}
  %r = attn.attention ins(%q, %kv, %kv : tensor<1x?x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) outs(%o : tensor<1x?x4x4xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.causal>]> -> tensor<1x?x4x4xf16>
  return %r : tensor<1x?x4x4xf16>
}

// -----

// A run-time explicit mask of another shape cannot be ANDed elementwise.
func.func @runtime_mask_other_shape(%q: tensor<1x1x4x4xf16>, %m: tensor<1x1x4x4xi1>, %o: tensor<1x1x4x4xf16>) -> tensor<1x1x4x4xf16> {
  // expected-error @below {{cannot AND the materialized mask 'tensor<4x4xi1>' with the non-constant explicit_mask of type 'tensor<1x1x4x4xi1>': only a constant or an equally shaped mask is combined}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>, tensor<1x1x4x4xf16>) explicit_mask(%m : tensor<1x1x4x4xi1>) outs(%o : tensor<1x1x4x4xf16>) mask = #attn.causal -> tensor<1x1x4x4xf16>
  return %r : tensor<1x1x4x4xf16>
}

// -----

func.func @memref_existing_mask(%q: memref<1x1x4x4xf16>, %m: memref<4x4xi1>, %o: memref<1x1x4x4xf16>) {
  // expected-error @below {{cannot combine the materialized mask with an existing memref explicit_mask}}
  attn.attention ins(%q, %q, %q : memref<1x1x4x4xf16>, memref<1x1x4x4xf16>, memref<1x1x4x4xf16>) explicit_mask(%m : memref<4x4xi1>) outs(%o : memref<1x1x4x4xf16>) mask = #attn.causal
  return
}

// -----

// The longest sequences the verifier accepts: 2^62 pairs, refused.
func.func @longest_sequences(%q: tensor<1x1x2147483648x4xf16>, %o: tensor<1x1x2147483648x4xf16>) -> tensor<1x1x2147483648x4xf16> {
  // expected-error @below {{mask has 4611686018427387904 pairs per head, more than max-pairs = 16777216}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x2147483648x4xf16>, tensor<1x1x2147483648x4xf16>, tensor<1x1x2147483648x4xf16>) outs(%o : tensor<1x1x2147483648x4xf16>) mask = #attn.causal -> tensor<1x1x2147483648x4xf16>
  return %r : tensor<1x1x2147483648x4xf16>
}
