// Q6_K for the quant_bytes.wgsl interface (ggml-common.h block_q6_K, 210 bytes, 2-byte
// aligned): ql[128] @0, qh[64] @128, scales:i8[16] @192, d:f16 @208 (d is LAST). Weight i:
// h = i/128, g = (i%128)/32, l = i%32; low 4 bits from ql[64h + 32(g&1) + l] (low nibble for
// g < 2, high for g ≥ 2), high 2 bits (qh[32h + l] >> 2g) & 3; w = d·scales[i/16]·(q − 32).
// Run j is exactly sub-block j.

const QK: u32 = 256u;
const QB: u32 = 210u;
const UW: u32 = 64u;
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

// Unit j = half j of the block (ql[64j ..], qh[32j ..], scales[8j ..]; weights 128j ..) from 30
// words: every field of the half starts at a block offset ≡ 0 (mod 4), so one extra word per
// field and word_at0 cover a 2-misaligned block. Quad v: g = v/8 (group of 32), l = 4·(v%8).
fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    let h = j / 2u;
    let gp = j % 2u;
    let i0 = blk >> 2u;
    let m = (blk & 2u) != 0u;
    var ql: array<u32, 17>;
    for (var i = 0u; i < 17u; i++) {
        ql[i] = wload(buf, i0 + 16u * h + i);
    }
    var qh: array<u32, 9>;
    for (var i = 0u; i < 9u; i++) {
        qh[i] = wload(buf, i0 + 32u + 8u * h + i);
    }
    let s0 = wload(buf, i0 + 48u + 2u * h);
    let s1 = wload(buf, i0 + 49u + 2u * h);
    let s2 = wload(buf, i0 + 50u + 2u * h);
    let dw = wload(buf, i0 + 52u);
    let d = unpack2x16float(select(dw, dw >> 16u, m)).x;
    var u: Unit;
    for (var g2 = 0u; g2 < 2u; g2++) {
        let g = 2u * gp + g2;
        let o = 8u * g2;
        let sl = 4u * gp;
        for (var i = 0u; i < 8u; i++) {
            let lo = (word_at0(ql[o + i], ql[o + i + 1u], m) >> sl) & 0x0F0F0F0Fu;
            let hi = ((word_at0(qh[i], qh[i + 1u], m) >> (2u * g)) & 0x03030303u) << 4u;
            u.q[8u * g2 + i] = u8x4(lo | hi) - 32.0;
        }
    }
    let sc = select(word_at0(s0, s1, m), word_at0(s1, s2, m), gp == 1u);
    for (var r = 0u; r < 4u; r++) {
        u.a[r] = d * f32(sx8(sc >> (8u * r)));
        u.b[r] = 0.0;
    }
    return u;
}
