// Q4_K for the quant_bytes.wgsl interface (ggml-common.h block_q4_K, 144 bytes, 4-byte
// aligned): d:f16 @0, dmin:f16 @2, scales[12] @4, qs[128] @16. Sub-block s = i/32 (two runs)
// uses qs[32·(s/2) + i%32], low nibble for even s, high for odd; its 6-bit (sc, m) come from
// k4_scale_min (quant_bytes.wgsl); w = d·sc·q − dmin·m.

const QK: u32 = 256u;
const QB: u32 = 144u;
const UW: u32 = 64u;
const Q_MIN: bool = true;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let dd = unpack2x16float(ld_u32a(buf, blk)); // (d, dmin)
    let s = j / 2u;
    let sm = k4_scale_min(buf, blk + 4u, s);
    let at = blk + 16u + 32u * (s / 2u) + 16u * (j % 2u);
    let sh = 4u * (s % 2u);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = u8x4((ld_u32a(buf, at + 4u * i) >> sh) & 0x0F0F0F0Fu);
    }
    return Run(q, dd.x * sm.x, -(dd.y * sm.y));
}

// Unit j = 64-weight chunk j (sub-blocks 2j, 2j + 1: low and high nibbles of qs[32j ..]) from
// 12 words: (d, dmin), the three scale words (all (sc, m) decoded word-wide, as
// ggml-vulkan's mul_mat_vec_q4_k.comp does) and the chunk's 8 qs words.
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let i0 = blk >> 2u;
    let dd = unpack2x16float(wload(buf, i0));
    let sm = k4_scales_mins(wload(buf, i0 + 1u), wload(buf, i0 + 2u), wload(buf, i0 + 3u), j);
    var u: Unit;
    for (var i = 0u; i < 8u; i++) {
        let qs = wload(buf, i0 + 4u + 8u * j + i);
        u.q[i] = u8x4(qs & 0x0F0F0F0Fu);
        u.q[8u + i] = u8x4((qs >> 4u) & 0x0F0F0F0Fu);
    }
    let a0 = dd.x * sm.x;
    let a1 = dd.x * sm.y;
    let b0 = -(dd.y * sm.z);
    let b1 = -(dd.y * sm.w);
    u.a = array(a0, a0, a1, a1);
    u.b = array(b0, b0, b1, b1);
    return u;
}
