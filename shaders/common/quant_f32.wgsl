// F32 weights for the quant_bytes.wgsl interface: 4-byte little-endian floats, decoded as a
// virtual block of 16 (a = 1, b = 0). Rows of any length: a partial last block reads only the
// `lim` weights left in the row.

const QK: u32 = 16u;
const QB: u32 = 64u;
const UW: u32 = 16u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    var q: mat4x4<f32>;
    let w0 = blk >> 2u;
    if lim >= 16u {
        for (var i = 0u; i < 4u; i++) {
            let b = w0 + 4u * i;
            q[i] = bitcast<vec4<f32>>(
                vec4<u32>(wload(buf, b), wload(buf, b + 1u), wload(buf, b + 2u), wload(buf, b + 3u))
            );
        }
    } else {
        for (var e = 0u; e < 16u; e++) {
            let v = bitcast<f32>(wload(buf, w0 + min(e, lim - 1u)));
            q[e / 4u][e % 4u] = select(0.0, v, e < lim);
        }
    }
    return Run(q, 1.0, 0.0);
}

fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    return unit_from_run(dq_run(buf, blk, j, lim));
}
