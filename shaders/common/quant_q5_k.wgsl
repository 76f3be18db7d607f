// Q5_K for the quant_bytes.wgsl interface (ggml-common.h block_q5_K, 176 bytes, 4-byte
// aligned): d:f16 @0, dmin:f16 @2, scales[12] @4, qh[32] @16, qs[128] @48. Q4_K's nibble plus
// bit s = i/32 of qh[i%32] as bit 4; w = d·sc·q − dmin·m with Q4_K's (sc, m) packing.

const QK: u32 = 256u;
const QB: u32 = 176u;
const UW: u32 = 64u;
const Q_MIN: bool = true;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let dd = unpack2x16float(ld_u32a(buf, blk)); // (d, dmin)
    let s = j / 2u;
    let sm = k4_scale_min(buf, blk + 4u, s);
    let l0 = 16u * (j % 2u);
    let at = blk + 48u + 32u * (s / 2u) + l0;
    let sh = 4u * (s % 2u);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32a(buf, at + 4u * i) >> sh) & 0x0F0F0F0Fu;
        let hi = ((ld_u32a(buf, blk + 16u + l0 + 4u * i) >> s) & 0x01010101u) << 4u;
        q[i] = u8x4(lo | hi);
    }
    return Run(q, dd.x * sm.x, -(dd.y * sm.y));
}

// Unit j = 64-weight chunk j (sub-blocks 2j, 2j + 1) from 20 words: (d, dmin), the three scale
// words, all 8 qh words (bits 2j, 2j + 1) and the chunk's 8 qs words.
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    let dd = unpack2x16float(wload(buf, i0));
    let sm = k4_scales_mins(wload(buf, i0 + 1u), wload(buf, i0 + 2u), wload(buf, i0 + 3u), j);
    var u: Unit;
    for (var i = 0u; i < 8u; i++) {
        let qh = wload(buf, i0 + 4u + i);
        let qs = wload(buf, i0 + 12u + 8u * j + i);
        let hl = ((qh >> (2u * j)) & 0x01010101u) << 4u;
        let hh = ((qh >> (2u * j + 1u)) & 0x01010101u) << 4u;
        u.q[i] = u8x4((qs & 0x0F0F0F0Fu) | hl);
        u.q[8u + i] = u8x4(((qs >> 4u) & 0x0F0F0F0Fu) | hh);
    }
    let a0 = dd.x * sm.x;
    let a1 = dd.x * sm.y;
    let b0 = -(dd.y * sm.z);
    let b1 = -(dd.y * sm.w);
    u.a = array(a0, a0, a1, a1);
    u.b = array(b0, b0, b1, b1);
    return u;
}
