// Q5_1 for the quant_bytes.wgsl interface (ggml-common.h block_q5_1, 24 bytes, 4-byte aligned):
// d:f16 @0, m:f16 @2, qh:u32 @4, qs[16] @8; 5-bit quants as Q5_0; w = d·q + m.

const QK: u32 = 32u;
const QB: u32 = 24u;
const UW: u32 = 32u;
const Q_MIN: bool = true;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let dm = unpack2x16float(ld_u32a(buf, blk));
    let qh = ld_u32a(buf, blk + 4u);
    let sh = 4u * j;
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32a(buf, blk + 8u + 4u * i) >> sh) & 0x0F0F0F0Fu;
        let hi = spread4(qh >> (16u * j + 4u * i)) << 4u;
        q[i] = u8x4(lo | hi);
    }
    return Run(q, dm.x, dm.y);
}

// The whole block from its 6 words.
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    var w: array<u32, 6>;
    for (var i = 0u; i < 6u; i++) {
        w[i] = wload(buf, i0 + i);
    }
    var u: Unit;
    let dm = unpack2x16float(w[0]);
    let qh = w[1];
    for (var i = 0u; i < 4u; i++) {
        let hl = spread4(qh >> (4u * i)) << 4u;
        let hh = spread4(qh >> (16u + 4u * i)) << 4u;
        u.q[i] = u8x4((w[2u + i] & 0x0F0F0F0Fu) | hl);
        u.q[4u + i] = u8x4(((w[2u + i] >> 4u) & 0x0F0F0F0Fu) | hh);
    }
    u.a = array(dm.x, dm.x);
    u.b = array(dm.y, dm.y);
    return u;
}
