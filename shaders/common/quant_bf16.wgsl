// BF16 weights for the quant_bytes.wgsl interface: bfloat16 is the upper half of an f32, so
// `bits << 16` widens it exactly (ggml_compute_bf16_to_fp32). A virtual block of 16 (a = 1,
// b = 0); rows of odd length are 2-byte aligned; a partial last block reads only the `lim`
// weights left in the row.

const QK: u32 = 16u;
const QB: u32 = 32u;
const UW: u32 = 16u;
const Q_MIN: bool = false;

// The two bf16 halves of word v as f32.
fn bf16x2(v: u32) -> vec2<f32> {
    return bitcast<vec2<f32>>(vec2<u32>(v << 16u, v & 0xFFFF0000u));
}

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    var q: mat4x4<f32>;
    if lim >= 16u {
        for (var i = 0u; i < 4u; i++) {
            let lo = bf16x2(ld_u32u(buf, blk + 8u * i));
            let hi = bf16x2(ld_u32u(buf, blk + 8u * i + 4u));
            q[i] = vec4<f32>(lo, hi);
        }
    } else {
        for (var e = 0u; e < 16u; e++) {
            let v = bitcast<f32>(ld_u16(buf, blk + 2u * min(e, lim - 1u)) << 16u);
            q[e / 4u][e % 4u] = select(0.0, v, e < lim);
        }
    }
    return Run(q, 1.0, 0.0);
}

fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    return unit_from_run(dq_run(buf, blk, j, lim));
}
