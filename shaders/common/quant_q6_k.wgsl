// Q6_K for the quant_bytes.wgsl interface (ggml-common.h block_q6_K, 210 bytes, 2-byte
// aligned): ql[128] @0, qh[64] @128, scales:i8[16] @192, d:f16 @208 (d is LAST). Weight i:
// h = i/128, g = (i%128)/32, l = i%32; low 4 bits from ql[64h + 32(g&1) + l] (low nibble for
// g < 2, high for g ≥ 2), high 2 bits (qh[32h + l] >> 2g) & 3; w = d·scales[i/16]·(q − 32).
// Run j is exactly sub-block j.

const QK: u32 = 256u;
const QB: u32 = 210u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk + 208u);
    let sc = sx8(ld_u8(buf, blk + 192u + j));
    let h = j / 8u;
    let g = (j % 8u) / 2u;
    let l0 = 16u * (j % 2u);
    let at_l = blk + 64u * h + 32u * (g % 2u) + l0;
    let at_h = blk + 128u + 32u * h + l0;
    let sh = 4u * (g / 2u);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32u(buf, at_l + 4u * i) >> sh) & 0x0F0F0F0Fu;
        let hi = ((ld_u32u(buf, at_h + 4u * i) >> (2u * g)) & 0x03030303u) << 4u;
        q[i] = u8x4(lo | hi) - 32.0;
    }
    return Run(q, d * f32(sc), 0.0);
}
