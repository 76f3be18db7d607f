// Q3_K for the quant_bytes.wgsl interface (ggml-common.h block_q3_K, 110 bytes, 2-byte
// aligned): hmask[32] @0, qs[64] @32, scales[12] @96, d:f16 @108. Weight i: n = i/128,
// plane p = (i%128)/32, l = i%32; low bits (qs[32n + l] >> 2p) & 3, high bit
// (hmask[l] >> (4n + p)) & 1, q = low + 4·high − 4 (−4..3). Sub-block s = i/16 has a 6-bit scale
// minus 32: low 4 bits from the nibble s/8 of scales[s%8], high 2 bits from bits 2·(s/4) of
// scales[8 + s%4]; w = d·sc·q. Run j is exactly sub-block j.

const QK: u32 = 256u;
const QB: u32 = 110u;
const UW: u32 = 16u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk + 108u);
    let low = (ld_u8(buf, blk + 96u + j % 8u) >> (4u * (j / 8u))) & 0xFu;
    let high = (ld_u8(buf, blk + 104u + j % 4u) >> (2u * (j / 4u))) & 3u;
    let sc = i32(low | (high << 4u)) - 32;
    let n = j / 8u;
    let p = (j % 8u) / 2u;
    let l0 = 16u * (j % 2u);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32u(buf, blk + 32u + 32u * n + l0 + 4u * i) >> (2u * p)) & 0x03030303u;
        let hi = ((ld_u32u(buf, blk + l0 + 4u * i) >> (4u * n + p)) & 0x01010101u) << 2u;
        q[i] = u8x4(lo | hi) - 4.0;
    }
    return Run(q, d * f32(sc), 0.0);
}

fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    return unit_from_run(dq_run(buf, blk, j, lim));
}
