// Q4_0 for the quant_bytes.wgsl interface (ggml-common.h block_q4_0, 18 bytes, 2-byte aligned):
// d:f16 @0, qs[16] @2. Weight i < 16 is the low nibble of qs[i], weight 16 + i the high nibble;
// w = d·(q − 8). Run j = 0 takes the low nibbles of all 16 bytes, run 1 the high ones.

const QK: u32 = 32u;
const QB: u32 = 18u;
const UW: u32 = 32u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk);
    let sh = 4u * j;
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = u8x4((ld_u32u(buf, blk + 2u + 4u * i) >> sh) & 0x0F0F0F0Fu) - 8.0;
    }
    return Run(q, d, 0.0);
}

// The whole block from the 5 words holding its 18 bytes (blk is 4-aligned or 2 past).
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    let m = (blk & 2u) != 0u;
    var w: array<u32, 5>;
    for (var i = 0u; i < 5u; i++) {
        w[i] = wload(buf, i0 + i);
    }
    var u: Unit;
    let d = unpack2x16float(select(w[0], w[0] >> 16u, m)).x;
    for (var i = 0u; i < 4u; i++) {
        let qs = word_at2(w[i], w[i + 1u], m);
        u.q[i] = u8x4(qs & 0x0F0F0F0Fu) - 8.0;
        u.q[4u + i] = u8x4((qs >> 4u) & 0x0F0F0F0Fu) - 8.0;
    }
    u.a = array(d, d);
    u.b = array(0.0, 0.0);
    return u;
}
