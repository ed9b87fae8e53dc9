// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of the attn attribute and op parsers (syntax errors).
// Verifier diagnostics are in invalid.mlir.

func.func @unknown_attribute(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown attn attribute: window}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.window<left = 1, right = 1> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @mask_not_a_mask(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{invalid kind of attribute specified}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.precision<sage1> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_not_a_precision(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unexpected attribute #attn.causal}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.causal -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @heads_not_heads(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unexpected attribute #attn.softpag<u = 5.000000e-01, heads = [0]>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.softpag<u = 0.5, heads = [0]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @scale_integer(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unexpected decimal integer literal for a floating point value}}
  // expected-note @below {{add a trailing dot to make the literal a float}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) scale = 2 -> tensor<1x1x16x8xf16>
  return
}

// -----

// The optional clauses come in a fixed order: bias before gates.
func.func @clause_order(%q: tensor<1x1x16x8xf16>, %b: tensor<16x16xf32>, %g: tensor<1x16x1xf32>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected 'outs'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) gates(%g : tensor<1x16x1xf32>) bias(%b : tensor<16x16xf32>) outs(%o : tensor<1x1x16x8xf16>) -> tensor<1x1x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Precision
//===----------------------------------------------------------------------===//

// -----

func.func @precision_unknown_field(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown precision field 'sage3', expected a preset (sage1, sage2_8b, sage2_4b, fp8, nvfp4) or qk, qk_granularity, smooth_k, smooth_q, pv, pv_accum}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<sage3> -> tensor<1x1x16x8xf16>
  return
}

// -----

// A preset is only recognized as the first field.
func.func @precision_preset_not_first(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{precision preset 'sage1' must be the first field}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<pv_accum = f32, sage1> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_smooth_not_bool(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{smooth_q must be true or false}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<sage1, smooth_q = yes> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_unknown_granularity(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown qk_granularity 'warp', expected tensor, block(n), thread(n) or token}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = warp(32)> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_unknown_accumulation(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown pv_accum 'f64', expected f32, f16 or two_level}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<pv_accum = f64> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_qk_not_a_type(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected non-function type}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<qk = int8> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_block_without_size(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{qk_granularity block needs a size: block(n)}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = block> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_unknown_field_with_value(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown precision field 'accum', expected a preset}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<sage1, accum = f32> -> tensor<1x1x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Heads
//===----------------------------------------------------------------------===//

// -----

func.func @heads_unknown_field(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown heads field 'gates', expected one of: weights, softpag, groups}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<gates = [1.0]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @heads_softpag_not_softpag(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{softpag expects #attn.softpag<...>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<softpag = #attn.head_group<heads = [0]>> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @heads_groups_not_groups(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{groups expects #attn.head_group<...>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<groups = [#attn.causal]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @heads_integer_weight(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unexpected decimal integer literal for a floating point value}}
  // expected-note @below {{add a trailing dot to make the literal a float}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<weights = [1]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @softpag_fields_out_of_order(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected 'u'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<softpag = #attn.softpag<heads = [0], u = 0.5>> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @head_group_without_heads(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected 'heads'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<mask = #attn.causal>]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @head_group_unknown_field(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected mask = <mask attribute> or precision = #attn.precision<...>, got scale = 5.000000e-01 : f64}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], scale = 0.5>]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @head_group_mask_not_a_mask(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected mask = <mask attribute> or precision = #attn.precision<...>, got mask = #attn.precision<sage1>}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [0], mask = #attn.precision<sage1>>]> -> tensor<1x1x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Masks
//===----------------------------------------------------------------------===//

// -----

func.func @causal_unknown_alignment(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected ::mlir::attn::CausalAlignment to be one of: top_left, bottom_right}}
  // expected-error @below {{failed to parse Attn_CausalMaskAttr parameter 'alignment'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.causal<center> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @sliding_window_missing_right(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{struct is missing required parameter: right}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.sliding_window<left = 4> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @power_law_missing_window(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{struct is missing required parameter: window}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.power_law<block = 4, sink = 1> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @neighborhood_unknown_field(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown neighborhood field 'kernel', expected one of: grid, window, stride, dilation, causal}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [16], kernel = [3]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @neighborhood_missing_window(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{neighborhood needs grid = [...] and window = [...]}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [16], stride = [1]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @neighborhood_causal_not_bool(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected true or false, got yes}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [4, 4], window = [3, 3], causal = [yes, false]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @neighborhood_dynamic_extent(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected integer value}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [?], window = [3]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_unknown_field(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown segments field 'sizes', expected one of: query, key, visibility, renormalize}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<sizes = [8, 8], visibility = [[full, none], [full, full]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_missing_visibility(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{segments need query = [...] and visibility = [...]}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_empty_query(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{segments need query = [...] and visibility = [...]}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [], visibility = []> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_unknown_entry(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{unknown visibility entry 'partial', expected none, full, causal or a mask attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[full, none], [full, partial]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_entry_not_a_mask(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{visibility entry #attn.precision<fp8> is not a mask attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[full, none], [full, #attn.precision<fp8>]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_ragged_rows(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{visibility row 1 has 1 entries but row 0 has 2}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[full, none], [full]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_too_few_rows(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{visibility table is 1 x 2 but there are 2 query and 2 key segments}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[full, none]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_too_few_columns(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{visibility table is 2 x 2 but there are 2 query and 3 key segments}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], key = [4, 4, 8], visibility = [[full, none], [full, full]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_renormalize_not_bool(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{renormalize must be true or false}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], visibility = [[full, none], [full, full]], renormalize = no> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @and_member_not_a_mask(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{member #attn.heads<weights = [1.000000e+00]> is not a mask attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.and<#attn.causal, #attn.heads<weights = [1.0]>> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @or_member_not_a_mask(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{member 3 : i64 is not a mask attribute}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.or<#attn.causal, 3> -> tensor<1x1x16x8xf16>
  return
}

//===----------------------------------------------------------------------===//
// Repeated fields
//===----------------------------------------------------------------------===//

// -----

func.func @neighborhood_field_twice(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{neighborhood field 'grid' given twice}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.neighborhood<grid = [16], window = [3], grid = [16]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @segments_field_twice(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{segments field 'query' given twice}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.segments<query = [8, 8], query = [8, 8], visibility = [[full, none], [full, full]]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @heads_field_twice(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{heads field 'weights' given twice}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) heads = #attn.heads<weights = [1.0], weights = [0.5]> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @precision_field_twice(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{precision field 'qk' given twice}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) precision = #attn.precision<qk = i8, qk_granularity = token, qk = bf16> -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @and_without_angle_brackets(%q: tensor<1x1x16x8xf16>, %o: tensor<1x1x16x8xf16>) {
  // expected-error @below {{expected '<'}}
  %r = attn.attention ins(%q, %q, %q : tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>, tensor<1x1x16x8xf16>) outs(%o : tensor<1x1x16x8xf16>) mask = #attn.and -> tensor<1x1x16x8xf16>
  return
}

// -----

func.func @quantized_unknown_role(%q: memref<1x1x16x8xf16>, %o: memref<1x1x16x8xf16>, %m: memref<1x1x8xf64>) {
  // expected-error @below {{unknown quantized operand 'mean', expected key_mean, query_block_mean, score_correction, query, query_scales, key, key_scales, value or value_scales}}
  attn.attention ins(%q, %q, %q : memref<1x1x16x8xf16>, memref<1x1x16x8xf16>, memref<1x1x16x8xf16>) quantized(mean = %m : memref<1x1x8xf64>) outs(%o : memref<1x1x16x8xf16>)
  return
}

// -----

func.func @quantized_negative_group(%q: memref<1x1x16x8xf16>, %o: memref<1x1x16x8xf16>, %m: memref<1x1x8xf64>) {
  // expected-error @below {{head group index -1 must not be negative}}
  attn.attention ins(%q, %q, %q : memref<1x1x16x8xf16>, memref<1x1x16x8xf16>, memref<1x1x16x8xf16>) quantized(group = -1, key_mean = %m : memref<1x1x8xf64>) outs(%o : memref<1x1x16x8xf16>)
  return
}
