// Q5_0 for the quant_bytes.wgsl interface (ggml-common.h block_q5_0, 22 bytes, 2-byte aligned):
// d:f16 @0, qh:u32 @2, qs[16] @6. Weight i's low 4 bits are Q4_0's nibble, bit 4 is bit i of
// qh; w = d·(q − 16).

const QK: u32 = 32u;
const QB: u32 = 22u;
const UW: u32 = 32u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk);
    let qh = ld_u32u(buf, blk + 2u);
    let sh = 4u * j;
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32u(buf, blk + 6u + 4u * i) >> sh) & 0x0F0F0F0Fu;
        let hi = spread4(qh >> (16u * j + 4u * i)) << 4u;
        q[i] = u8x4(lo | hi) - 16.0;
    }
    return Run(q, d, 0.0);
}

// The whole block from the 6 words holding its 22 bytes (blk is 4-aligned or 2 past).
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    let m = (blk & 2u) != 0u;
    var w: array<u32, 6>;
    for (var i = 0u; i < 6u; i++) {
        w[i] = wload(buf, i0 + i);
    }
    var u: Unit;
    let d = unpack2x16float(select(w[0], w[0] >> 16u, m)).x;
    let qh = word_at2(w[0], w[1], m);
    for (var i = 0u; i < 4u; i++) {
        let qs = word_at2(w[1u + i], w[2u + i], m);
        let hl = spread4(qh >> (4u * i)) << 4u;
        let hh = spread4(qh >> (16u + 4u * i)) << 4u;
        u.q[i] = u8x4((qs & 0x0F0F0F0Fu) | hl) - 16.0;
        u.q[4u + i] = u8x4(((qs >> 4u) & 0x0F0F0F0Fu) | hh) - 16.0;
    }
    u.a = array(d, d);
    u.b = array(0.0, 0.0);
    return u;
}
