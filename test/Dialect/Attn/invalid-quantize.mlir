// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Verifier diagnostics of the quantization pre-step ops (attn.key_mean,
// attn.query_block_mean, attn.quantize_rows, attn.quantize_value) and of
// the quantized bundles of attn.attention.

func.func @key_mean_wrong_dim(%k: tensor<1x2x16x8xf16>, %m: tensor<1x2x4xf64>) {
  // expected-error @below {{'attn.key_mean' op mean dimension 2 is 4 but the key head dim D is 8}}
  %r = attn.key_mean ins(%k : tensor<1x2x16x8xf16>) outs(%m : tensor<1x2x4xf64>) -> tensor<1x2x4xf64>
  return
}

// -----

func.func @key_mean_rank(%k: tensor<2x16x8xf16>, %m: tensor<1x2x8xf64>) {
  // expected-error @below {{'attn.key_mean' op key must have shape [B, Hkv, Nk, D], got 'tensor<2x16x8xf16>'}}
  %r = attn.key_mean ins(%k : tensor<2x16x8xf16>) outs(%m : tensor<1x2x8xf64>) -> tensor<1x2x8xf64>
  return
}

// -----

func.func @key_mean_integer(%k: tensor<1x2x16x8xf16>, %m: tensor<1x2x8xi32>) {
  // expected-error @below {{'attn.key_mean' op mean must have a float element type, got 'i32'}}
  %r = attn.key_mean ins(%k : tensor<1x2x16x8xf16>) outs(%m : tensor<1x2x8xi32>) -> tensor<1x2x8xi32>
  return
}

// -----

func.func @key_mean_mixed(%k: tensor<1x2x16x8xf16>, %m: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.key_mean' op operands must be all tensors or all memrefs, but got 'memref<1x2x8xf64>'}}
  attn.key_mean ins(%k : tensor<1x2x16x8xf16>) outs(%m : memref<1x2x8xf64>)
  return
}

// -----

func.func @key_mean_result_type(%k: tensor<1x2x16x8xf16>, %m: tensor<1x2x8xf64>) {
  // expected-error @below {{'attn.key_mean' op on tensors the results must have the types of the outs operands}}
  %r = attn.key_mean ins(%k : tensor<1x2x16x8xf16>) outs(%m : tensor<1x2x8xf64>) -> tensor<1x2x8xf32>
  return
}

// -----

func.func @key_mean_memref_result(%k: memref<1x2x16x8xf16>, %m: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.key_mean' op on memrefs the op has no results}}
  %r = attn.key_mean ins(%k : memref<1x2x16x8xf16>) outs(%m : memref<1x2x8xf64>) -> tensor<1x2x8xf64>
  return
}

// -----

func.func @block_mean_blocks(%q: tensor<1x4x70x8xf16>, %k: tensor<1x2x16x8xf16>,
                             %m: tensor<1x4x1x8xf64>, %ds: tensor<1x4x1x16xf32>) {
  // expected-error @below {{'attn.query_block_mean' op mean dimension 2 is 1 but ceil(Nq / block_size) is 2}}
  %r:2 = attn.query_block_mean ins(%q, %k : tensor<1x4x70x8xf16>, tensor<1x2x16x8xf16>)
           outs(%m, %ds : tensor<1x4x1x8xf64>, tensor<1x4x1x16xf32>) block_size = 64
           -> tensor<1x4x1x8xf64>, tensor<1x4x1x16xf32>
  return
}

// -----

func.func @block_mean_block_size(%q: tensor<1x4x70x8xf16>, %k: tensor<1x2x16x8xf16>,
                                 %m: tensor<1x4x2x8xf64>, %ds: tensor<1x4x2x16xf32>) {
  // expected-error @below {{'attn.query_block_mean' op block_size = 0 must be positive}}
  %r:2 = attn.query_block_mean ins(%q, %k : tensor<1x4x70x8xf16>, tensor<1x2x16x8xf16>)
           outs(%m, %ds : tensor<1x4x2x8xf64>, tensor<1x4x2x16xf32>) block_size = 0
           -> tensor<1x4x2x8xf64>, tensor<1x4x2x16xf32>
  return
}

// -----

func.func @block_mean_correction_keys(%q: tensor<1x4x70x8xf16>, %k: tensor<1x2x16x8xf16>,
                                      %m: tensor<1x4x2x8xf64>, %ds: tensor<1x4x2x15xf32>) {
  // expected-error @below {{'attn.query_block_mean' op score_correction dimension 3 is 15 but the key length Nk is 16}}
  %r:2 = attn.query_block_mean ins(%q, %k : tensor<1x4x70x8xf16>, tensor<1x2x16x8xf16>)
           outs(%m, %ds : tensor<1x4x2x8xf64>, tensor<1x4x2x15xf32>) block_size = 64
           -> tensor<1x4x2x8xf64>, tensor<1x4x2x15xf32>
  return
}

// -----

func.func @block_mean_heads(%q: tensor<1x3x70x8xf16>, %k: tensor<1x2x16x8xf16>,
                            %m: tensor<1x3x2x8xf64>, %ds: tensor<1x3x2x16xf32>) {
  // expected-error @below {{'attn.query_block_mean' op the number of query heads Hq = 3 is not a multiple of the number of key heads Hkv = 2}}
  %r:2 = attn.query_block_mean ins(%q, %k : tensor<1x3x70x8xf16>, tensor<1x2x16x8xf16>)
           outs(%m, %ds : tensor<1x3x2x8xf64>, tensor<1x3x2x16xf32>) block_size = 64
           -> tensor<1x3x2x8xf64>, tensor<1x3x2x16xf32>
  return
}

// -----

func.func @block_mean_key_mean(%q: memref<1x4x70x8xf16>, %k: memref<1x2x16x8xf16>, %km: memref<1x4x8xf64>,
                               %m: memref<1x4x2x8xf64>, %ds: memref<1x4x2x16xf32>) {
  // expected-error @below {{'attn.query_block_mean' op key_mean dimension 1 is 4 but the number of key heads Hkv is 2}}
  attn.query_block_mean ins(%q, %k : memref<1x4x70x8xf16>, memref<1x2x16x8xf16>) key_mean(%km : memref<1x4x8xf64>)
    outs(%m, %ds : memref<1x4x2x8xf64>, memref<1x4x2x16xf32>) block_size = 64
  return
}

// -----

func.func @rows_missing_scales(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op qk = 'i8' needs a scales operand of shape [B, H, N, S]}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>)
    precision = #attn.precision<qk = i8, qk_granularity = token>
  return
}

// -----

func.func @rows_scales_without_quantization(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>, %s: memref<1x2x16x1xf32>) {
  // expected-error @below {{'attn.quantize_rows' op scales given but qk = 'bf16' rounds without scales}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>, %s : memref<1x2x16x1xf32>)
    precision = #attn.precision<qk = bf16>
  return
}

// -----

func.func @rows_scales_without_precision(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>, %s: memref<1x2x16x1xf32>) {
  // expected-error @below {{'attn.quantize_rows' op scales given but there is no precision to quantize with}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>, %s : memref<1x2x16x1xf32>)
  return
}

// -----

func.func @rows_nvfp4_scale_blocks(%x: memref<1x2x16x40xf16>, %v: memref<1x2x16x40xf32>, %s: memref<1x2x16x2xf32>) {
  // expected-error @below {{'attn.quantize_rows' op scales dimension 3 is 2 but the number of scale blocks is 3}}
  attn.quantize_rows ins(%x : memref<1x2x16x40xf16>) outs(%v : memref<1x2x16x40xf32>, %s : memref<1x2x16x2xf32>)
    precision = #attn.precision<qk = f4E2M1FN>
  return
}

// -----

func.func @rows_precision_fields(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>, %s: memref<1x2x16x1xf32>) {
  // expected-error @below {{'attn.quantize_rows' op precision #attn.precision<sage1> may set only qk and qk_granularity (the smoothing is the mean operand)}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>, %s : memref<1x2x16x1xf32>)
    precision = #attn.precision<sage1>
  return
}

// -----

func.func @rows_precision_without_qk(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op precision #attn.precision<pv = f16> sets no qk}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>)
    precision = #attn.precision<pv = f16>
  return
}

// -----

func.func @rows_block_mean_without_size(%x: memref<1x2x16x8xf16>, %m: memref<1x2x1x8xf64>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op a mean of shape [B, H, blocks, D] needs mean_block_size}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) mean(%m : memref<1x2x1x8xf64>) outs(%v : memref<1x2x16x8xf32>)
  return
}

// -----

func.func @rows_size_without_block_mean(%x: memref<1x2x16x8xf16>, %m: memref<1x2x8xf64>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op mean_block_size needs a mean of shape [B, H, blocks, D], got 'memref<1x2x8xf64>'}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) mean(%m : memref<1x2x8xf64>) outs(%v : memref<1x2x16x8xf32>)
    mean_block_size = 4
  return
}

// -----

func.func @rows_size_without_mean(%x: memref<1x2x16x8xf16>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op mean_block_size needs a mean operand}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x16x8xf32>) mean_block_size = 4
  return
}

// -----

func.func @rows_block_mean_blocks(%x: memref<1x2x16x8xf16>, %m: memref<1x2x3x8xf64>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op mean dimension 2 is 3 but ceil(N / mean_block_size) is 4}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) mean(%m : memref<1x2x3x8xf64>) outs(%v : memref<1x2x16x8xf32>)
    mean_block_size = 4
  return
}

// -----

func.func @rows_values_shape(%x: memref<1x2x16x8xf16>, %v: memref<1x2x15x8xf32>) {
  // expected-error @below {{'attn.quantize_rows' op values dimension 2 is 15 but the length N is 16}}
  attn.quantize_rows ins(%x : memref<1x2x16x8xf16>) outs(%v : memref<1x2x15x8xf32>)
  return
}

// -----

func.func @value_type(%v: memref<1x2x16x8xf16>, %o: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_value' op to = 'i8' must be f16, bf16, f8E4M3FN or f4E2M1FN}}
  attn.quantize_value ins(%v : memref<1x2x16x8xf16>) outs(%o : memref<1x2x16x8xf32>) to = i8
  return
}

// -----

func.func @value_missing_scales(%v: memref<1x2x16x8xf16>, %o: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.quantize_value' op to = 'f8E4M3FN' needs a scales operand of shape [B, Hkv, Dv]}}
  attn.quantize_value ins(%v : memref<1x2x16x8xf16>) outs(%o : memref<1x2x16x8xf32>) to = f8E4M3FN
  return
}

// -----

func.func @value_scales_shape(%v: memref<1x2x16x8xf16>, %o: memref<1x2x16x8xf32>, %s: memref<1x2x16xf32>) {
  // expected-error @below {{'attn.quantize_value' op scales dimension 2 is 16 but the value head dim Dv is 8}}
  attn.quantize_value ins(%v : memref<1x2x16x8xf16>) outs(%o : memref<1x2x16x8xf32>, %s : memref<1x2x16xf32>) to = f8E4M3FN
  return
}

// -----

func.func @value_scales_nvfp4(%v: memref<1x2x16x8xf16>, %o: memref<1x2x16x8xf32>, %s: memref<1x2x8xf32>) {
  // expected-error @below {{'attn.quantize_value' op scales given but to = 'f4E2M1FN' has no per-channel scales}}
  attn.quantize_value ins(%v : memref<1x2x16x8xf16>) outs(%o : memref<1x2x16x8xf32>, %s : memref<1x2x8xf32>) to = f4E2M1FN
  return
}

// -----

func.func @value_values_shape(%v: memref<1x2x16x8xf16>, %o: memref<1x2x16x9xf32>) {
  // expected-error @below {{'attn.quantize_value' op values dimension 3 is 9 but the value head dim Dv is 8}}
  attn.quantize_value ins(%v : memref<1x2x16x8xf16>) outs(%o : memref<1x2x16x9xf32>) to = f16
  return
}

// -----

//===----------------------------------------------------------------------===//
// Quantized bundles of attn.attention
//===----------------------------------------------------------------------===//

func.func @bundle_missing_role(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                               %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op the quantized bundle of the op's precision lacks key, which #attn.precision<smooth_k> needs}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(key_mean = %km : memref<1x2x8xf64>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_k>
  return
}

// -----

func.func @bundle_extra_role(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                             %km: memref<1x2x8xf64>, %k: memref<1x2x16x8xf32>, %v: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.attention' op the quantized bundle of the op's precision has value, which #attn.precision<smooth_k> does not use}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(key_mean = %km : memref<1x2x8xf64>, key = %k : memref<1x2x16x8xf32>, value = %v : memref<1x2x16x8xf32>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_k>
  return
}

// -----

func.func @bundle_out_of_order(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                               %km: memref<1x2x8xf64>, %k: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.attention' op quantized operand key_mean is repeated or out of order (expected key_mean, query_block_mean, score_correction, query, query_scales, key, key_scales, value, value_scales)}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(key = %k : memref<1x2x16x8xf32>, key_mean = %km : memref<1x2x8xf64>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_k>
  return
}

// -----

func.func @bundle_shape(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                        %km: memref<1x4x8xf64>, %k: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.attention' op quantized key_mean of the op's precision dimension 1 is 4 but Hkv is 2}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(key_mean = %km : memref<1x4x8xf64>, key = %k : memref<1x2x16x8xf32>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_k>
  return
}

// -----

func.func @bundle_scale_blocks(%q: memref<1x4x16x40xf16>, %kv: memref<1x2x16x40xf16>, %v: memref<1x2x16x8xf16>,
                               %o: memref<1x4x16x8xf16>, %qv: memref<1x4x16x40xf32>, %qs: memref<1x4x16x1xf32>,
                               %kq: memref<1x2x16x40xf32>, %ks: memref<1x2x16x3xf32>) {
  // expected-error @below {{'attn.attention' op quantized query_scales of the op's precision dimension 3 is 1 but the number of scale blocks is 3}}
  attn.attention ins(%q, %kv, %v : memref<1x4x16x40xf16>, memref<1x2x16x40xf16>, memref<1x2x16x8xf16>)
    quantized(query = %qv : memref<1x4x16x40xf32>, query_scales = %qs : memref<1x4x16x1xf32>,
              key = %kq : memref<1x2x16x40xf32>, key_scales = %ks : memref<1x2x16x3xf32>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<qk = f4E2M1FN>
  return
}

// -----

func.func @bundle_query_blocks(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                               %m: memref<1x4x2x8xf64>, %ds: memref<1x4x2x16xf32>, %qv: memref<1x4x16x8xf32>) {
  // expected-error @below {{'attn.attention' op quantized query_block_mean of the op's precision dimension 2 is 2 but the number of query blocks is 1}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(query_block_mean = %m : memref<1x4x2x8xf64>, score_correction = %ds : memref<1x4x2x16xf32>,
              query = %qv : memref<1x4x16x8xf32>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_q>
  return
}

// -----

func.func @bundle_group_without_precision(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                                          %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op has a quantized bundle for head group 0, which has no precision}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(group = 0, key_mean = %km : memref<1x2x8xf64>)
    outs(%o : memref<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], mask = #attn.causal>]>
  return
}

// -----

func.func @bundle_unknown_group(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                                %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op quantized_layout entry 48 names no role of the op's precision or of one of its 0 head groups}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(group = 2, key_mean = %km : memref<1x2x8xf64>)
    outs(%o : memref<1x4x16x8xf16>) precision = #attn.precision<smooth_k>
  return
}

// -----

func.func @bundle_group_needs_more(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                                   %km: memref<1x2x8xf64>, %k: memref<1x2x16x8xf32>) {
  // expected-error @below {{'attn.attention' op the quantized bundle of head group 0 lacks query, which #attn.precision<sage1> needs}}
  attn.attention ins(%q, %kv, %kv : memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>)
    quantized(group = 0, key_mean = %km : memref<1x2x8xf64>, key = %k : memref<1x2x16x8xf32>)
    outs(%o : memref<1x4x16x8xf16>) heads = #attn.heads<groups = [#attn.head_group<heads = [1], precision = #attn.precision<sage1>>]>
  return
}

// -----

func.func @bundle_layout_size(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                              %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op quantized_layout has 2 entries for 1 quantized operands}}
  "attn.attention"(%q, %kv, %kv, %km, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 1, 0>, quantized_layout = array<i64: 0, 5>, precision = #attn.precision<smooth_k>}> : (memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x8xf64>, memref<1x4x16x8xf16>) -> ()
  return
}

// -----

func.func @bundle_without_layout(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                                 %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op has 1 quantized operands but no quantized_layout}}
  "attn.attention"(%q, %kv, %kv, %km, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 1, 0>, precision = #attn.precision<smooth_k>}> : (memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x8xf64>, memref<1x4x16x8xf16>) -> ()
  return
}

// -----

func.func @bundle_unknown_role(%q: memref<1x4x16x8xf16>, %kv: memref<1x2x16x8xf16>, %o: memref<1x4x16x8xf16>,
                               %km: memref<1x2x8xf64>) {
  // expected-error @below {{'attn.attention' op quantized_layout entry 12 names no role of the op's precision or of one of its 0 head groups}}
  "attn.attention"(%q, %kv, %kv, %km, %o) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 1, 0>, quantized_layout = array<i64: 12>, precision = #attn.precision<smooth_k>}> : (memref<1x4x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x16x8xf16>, memref<1x2x8xf64>, memref<1x4x16x8xf16>) -> ()
  return
}
