// Q2_K for the quant_bytes.wgsl interface (ggml-common.h block_q2_K, 84 bytes, 4-byte aligned):
// scales[16] @0, qs[64] @16, d:f16 @80, dmin:f16 @82. Weight i: n = i/128, plane p = (i%128)/32,
// l = i%32, q = (qs[32n + l] >> 2p) & 3; sub-block i/16 has sc = scales[i/16]:
// w = d·(sc & 0xF)·q − dmin·(sc >> 4). Run j is exactly sub-block j (one scale, one min).

const QK: u32 = 256u;
const QB: u32 = 84u;
const UW: u32 = 16u;
const Q_MIN: bool = true;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let dd = unpack2x16float(ld_u32a(buf, blk + 80u)); // (d, dmin)
    let sc = ld_u8(buf, blk + j);
    let n = j / 8u;
    let sh = 2u * ((j % 8u) / 2u);
    let l0 = 16u * (j % 2u);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = u8x4((ld_u32a(buf, blk + 16u + 32u * n + l0 + 4u * i) >> sh) & 0x03030303u);
    }
    return Run(q, dd.x * f32(sc & 0xFu), -(dd.y * f32(sc >> 4u)));
}

fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    return unit_from_run(dq_run(buf, blk, j, lim));
}
