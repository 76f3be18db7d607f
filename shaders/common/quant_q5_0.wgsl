// Q5_0 for the quant_bytes.wgsl interface (ggml-common.h block_q5_0, 22 bytes, 2-byte aligned):
// d:f16 @0, qh:u32 @2, qs[16] @6. Weight i's low 4 bits are Q4_0's nibble, bit 4 is bit i of
// qh; w = d·(q − 16).

const QK: u32 = 32u;
const QB: u32 = 22u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk);
    let qh = ld_u32u(buf, blk + 2u);
    let sh = 4u * j;
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        let lo = (ld_u32u(buf, blk + 6u + 4u * i) >> sh) & 0x0F0F0F0Fu;
        let hi = spread4(qh >> (16u * j + 4u * i)) << 4u;
        q[i] = u8x4(lo | hi) - 16.0;
    }
    return Run(q, d, 0.0);
}
