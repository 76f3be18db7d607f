// Q4_K for the quant_bytes.wgsl interface (ggml-common.h block_q4_K, 144 bytes, 4-byte
// aligned): d:f16 @0, dmin:f16 @2, scales[12] @4, qs[128] @16. Sub-block s = i/32 (two runs)
// uses qs[32·(s/2) + i%32], low nibble for even s, high for odd; its 6-bit (sc, m) come from
// k4_scale_min (quant_bytes.wgsl); w = d·sc·q − dmin·m.

const QK: u32 = 256u;
const QB: u32 = 144u;
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
