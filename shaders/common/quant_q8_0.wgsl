// Q8_0 for the quant_bytes.wgsl interface (ggml-common.h block_q8_0, 34 bytes, 2-byte aligned):
// d:f16 @0, qs:i8[32] @2; w = d·qs[i]. Run j covers qs[16j .. 16j + 16].

const QK: u32 = 32u;
const QB: u32 = 34u;
const UW: u32 = 32u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = i8x4(ld_u32u(buf, blk + 2u + 16u * j + 4u * i));
    }
    return Run(q, d, 0.0);
}

// The whole block from the 9 words holding its 34 bytes (blk is 4-aligned or 2 past).
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    let m = (blk & 2u) != 0u;
    var w: array<u32, 9>;
    for (var i = 0u; i < 9u; i++) {
        w[i] = wload(buf, i0 + i);
    }
    var u: Unit;
    let d = unpack2x16float(select(w[0], w[0] >> 16u, m)).x;
    for (var i = 0u; i < 8u; i++) {
        u.q[i] = i8x4(word_at2(w[i], w[i + 1u], m));
    }
    u.a = array(d, d);
    u.b = array(0.0, 0.0);
    return u;
}
