// Q5_K for the quant_bytes.wgsl interface (ggml-common.h block_q5_K, 176 bytes, 4-byte
// aligned): d:f16 @0, dmin:f16 @2, scales[12] @4, qh[32] @16, qs[128] @48. Q4_K's nibble plus
// bit s = i/32 of qh[i%32] as bit 4; w = d·sc·q − dmin·m with Q4_K's (sc, m) packing.

const QK: u32 = 256u;
const QB: u32 = 176u;
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
