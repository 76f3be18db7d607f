// F16 weights for the quant_bytes.wgsl interface: IEEE binary16, widened exactly with
// unpack2x16float, as a virtual block of 16 (a = 1, b = 0). Rows of odd length leave every other
// row 2-byte aligned, hence the unaligned loader; a partial last block reads only the `lim`
// weights left in the row.

const QK: u32 = 16u;
const QB: u32 = 32u;
const UW: u32 = 16u;
const Q_MIN: bool = false;

fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run {
    var q: mat4x4<f32>;
    if lim >= 16u {
        for (var i = 0u; i < 4u; i++) {
            let lo = unpack2x16float(ld_u32u(buf, blk + 8u * i));
            let hi = unpack2x16float(ld_u32u(buf, blk + 8u * i + 4u));
            q[i] = vec4<f32>(lo, hi);
        }
    } else {
        for (var e = 0u; e < 16u; e++) {
            let v = unpack2x16float(ld_u16(buf, blk + 2u * min(e, lim - 1u))).x;
            q[e / 4u][e % 4u] = select(0.0, v, e < lim);
        }
    }
    return Run(q, 1.0, 0.0);
}

fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit {
    return unit_from_run(dq_run(buf, blk, j, lim));
}
