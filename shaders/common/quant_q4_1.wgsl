// Q4_1 for the quant_bytes.wgsl interface (ggml-common.h block_q4_1, 20 bytes, 4-byte aligned):
// d:f16 @0, m:f16 @2, qs[16] @4; nibbles as Q4_0; w = d·q + m. Run j = 0 takes the low
// nibbles, run 1 the high ones.

const QK: u32 = 32u;
const QB: u32 = 20u;
const UW: u32 = 32u;
const Q_MIN: bool = true;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let dm = unpack2x16float(ld_u32a(buf, blk));
    let sh = 4u * j;
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = u8x4((ld_u32a(buf, blk + 4u + 4u * i) >> sh) & 0x0F0F0F0Fu);
    }
    return Run(q, dm.x, dm.y);
}

// The whole block from its 5 words.
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    var w: array<u32, 5>;
    for (var i = 0u; i < 5u; i++) {
        w[i] = wload(buf, i0 + i);
    }
    var u: Unit;
    let dm = unpack2x16float(w[0]);
    for (var i = 0u; i < 4u; i++) {
        u.q[i] = u8x4(w[1u + i] & 0x0F0F0F0Fu);
        u.q[4u + i] = u8x4((w[1u + i] >> 4u) & 0x0F0F0F0Fu);
    }
    u.a = array(dm.x, dm.x);
    u.b = array(dm.y, dm.y);
    return u;
}
