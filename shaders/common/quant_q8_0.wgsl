// Q8_0 for the quant_bytes.wgsl interface (ggml-common.h block_q8_0, 34 bytes, 2-byte aligned):
// d:f16 @0, qs:i8[32] @2; w = d·qs[i]. Run j covers qs[16j .. 16j + 16].

const QK: u32 = 32u;
const QB: u32 = 34u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    let d = ld_f16(buf, blk);
    var q: mat4x4<f32>;
    for (var i = 0u; i < 4u; i++) {
        q[i] = i8x4(ld_u32u(buf, blk + 2u + 16u * j + 4u * i));
    }
    return Run(q, d, 0.0);
}
