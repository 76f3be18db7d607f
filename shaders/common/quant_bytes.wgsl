// Weight decoding: the interface every common/quant_<dtype>.wgsl snippet implements, and the
// byte loaders they share. Used by matvec.wgsl, matmul.wgsl and get_rows.wgsl; the snippet for
// a weight type is picked in src/backend/wgpu/kernels/quant.rs.
//
// A weight row is consecutive raw GGUF blocks of QK weights and QB bytes (float types use a
// virtual block of 16 weights, partial at the end of a row whose length is not a multiple of
// 16). Every block splits into QK/16 runs of 16 consecutive weights, and within a run every
// weight is affine in a small quant with ONE scale and ONE offset:
//     w[16·j + 4·i + e] = a·q[i][e] + b        (j = run of the block, i = quad, e = lane 0..3)
// because no GGUF format changes scale inside an aligned run of 16 (legacy blocks: one scale;
// K-quants: sub-blocks of 16 or 32). a·q is exact in f32 for every format (≤ 24 significant
// bits, kernels-brief §1), so a·q + b rounds at most once and not at all when b = 0.
//
// Each snippet defines:
//   const QK: u32              weights per block (16 for float types)
//   const QB: u32              bytes per block
//   const Q_MIN: bool          b can be non-zero (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K): matvec then
//                              uses Σ w·x = a·Σ q·x + b·Σ x (the K-quant "min trick")
//   fn dq_run(buf: u32, blk: u32, j: u32, lim: u32) -> Run
//                              run j of the block starting at byte `blk` of weight binding
//                              `buf`; only float types read `lim` (weights of the row left from
//                              the run's start): weights past it are 0 and never read.
//   const UW: u32              weights per UNIT (16, 32, 64 or 128, dividing QK or equal to it):
//                              the group of runs one dq_unit call decodes from one load of the
//                              words they share (a legacy block; a Q4_K 64-weight chunk …)
//   fn dq_unit(buf: u32, blk: u32, j: u32, lim: u32) -> Unit
//                              unit j of the block at byte `blk`: runs 0 .. UR of the unit are
//                              weights UW·j + 16·r .. of the block, each a·q + b as above
//                              (matvec_rows.wgsl; types without a better one wrap dq_run with
//                              unit_from_run, UW = 16).
// The kernel defines fn wload(buf: u32, i: u32) -> u32 = word i of weight binding `buf`. Blocks
// are only 2-byte aligned for most formats: ld_u32u loads across a word boundary and reads one
// word past the field, which the store's spare word at the end of every buffer covers.

struct Run {
    q: mat4x4<f32>, // column i = quad i: weights 16j + 4i .. 16j + 4i + 3
    a: f32,
    b: f32,
}

const UV: u32 = UW / 4u;  // quads of a unit
const UR: u32 = UW / 16u; // runs of a unit

struct Unit {
    q: array<vec4<f32>, UV>, // quad v: weights 4v .. 4v + 3 of the unit, run v / 4
    a: array<f32, UR>,
    b: array<f32, UR>,
}

// The unit of one run (UW = 16).
fn unit_from_run(r: Run) -> Unit {
    var u: Unit;
    u.q[0] = r.q[0];
    u.q[1] = r.q[1];
    u.q[2] = r.q[2];
    u.q[3] = r.q[3];
    u.a[0] = r.a;
    u.b[0] = r.b;
    return u;
}

// Word loads of 2-byte-aligned blocks without a branch per invocation: a block starts at byte
// 2·m of word 0 of its words w (m: the block is 2 past a word boundary). word_at0(w[i], w[i+1],
// m) is the u32 at block byte 4i; word_at2(w[i], w[i+1], m) the one at block byte 4i + 2.
fn word_at0(lo: u32, hi: u32, m: bool) -> u32 {
    return select(lo, (lo >> 16u) | (hi << 16u), m);
}

fn word_at2(lo: u32, hi: u32, m: bool) -> u32 {
    return select((lo >> 16u) | (hi << 16u), hi, m);
}

// Q4_K/Q5_K (sc, m) of sub-blocks 2c and 2c + 1 as (sc_2c, sc_2c+1, m_2c, m_2c+1), from the
// three scale words s0..s2 (bytes 0..11): bytes 0..3 hold sc0..3 in their low 6 bits and the
// top 2 bits of sc4..7, bytes 4..7 the same for m, bytes 8..11 the low nibbles of sc4..7 (low
// half) and m4..7 (high half); k4_scale_min's formula, four bytes at a time.
fn k4_scales_mins(s0: u32, s1: u32, s2: u32, c: u32) -> vec4<f32> {
    let lo = c < 2u;
    let sc = select((s2 & 0x0F0F0F0Fu) | ((s0 >> 2u) & 0x30303030u), s0 & 0x3F3F3F3Fu, lo);
    let mn = select(((s2 >> 4u) & 0x0F0F0F0Fu) | ((s1 >> 2u) & 0x30303030u), s1 & 0x3F3F3F3Fu, lo);
    let e = 16u * (c % 2u);
    let sh = vec4<u32>(e, e + 8u, e, e + 8u);
    return vec4<f32>((vec4<u32>(sc, sc, mn, mn) >> sh) & vec4<u32>(0xFFu));
}

// u32 at byte offset b, b % 4 == 0.
fn ld_u32a(buf: u32, b: u32) -> u32 {
    return wload(buf, b >> 2u);
}

// u32 at byte offset b, b % 2 == 0: a funnel shift of two words when b % 4 == 2.
fn ld_u32u(buf: u32, b: u32) -> u32 {
    let i = b >> 2u;
    let lo = wload(buf, i);
    if (b & 2u) == 0u {
        return lo;
    }
    return (lo >> 16u) | (wload(buf, i + 1u) << 16u);
}

// u16 at byte offset b, b % 2 == 0.
fn ld_u16(buf: u32, b: u32) -> u32 {
    return (wload(buf, b >> 2u) >> ((b & 2u) * 8u)) & 0xFFFFu;
}

// Byte at offset b.
fn ld_u8(buf: u32, b: u32) -> u32 {
    return (wload(buf, b >> 2u) >> ((b & 3u) * 8u)) & 0xFFu;
}

// f16 at byte offset b (b % 2 == 0), exactly widened.
fn ld_f16(buf: u32, b: u32) -> f32 {
    return unpack2x16float(ld_u16(buf, b)).x;
}

// The low byte of v as a signed integer.
fn sx8(v: u32) -> i32 {
    return bitcast<i32>(v << 24u) >> 24u;
}

// The four bytes of v as unsigned values.
fn u8x4(v: u32) -> vec4<f32> {
    return vec4<f32>(unpack4xU8(v));
}

// The four bytes of v as signed values.
fn i8x4(v: u32) -> vec4<f32> {
    return vec4<f32>(unpack4xI8(v));
}

// Bits 0..3 of h moved to bit 0 of bytes 0..3 (the fifth bit of four consecutive Q5 quants):
// h·0x00204081 = h | h << 7 | h << 14 | h << 21, four copies that never overlap.
fn spread4(h: u32) -> u32 {
    return ((h & 0xFu) * 0x00204081u) & 0x01010101u;
}

// Q4_K/Q5_K (sc, m) of sub-block s (0..8) from the 12 scale bytes at byte `at`
// (ggml-quants.c get_scale_min_k4): s < 4: sc = b[s] & 63, m = b[s+4] & 63; s ≥ 4:
// sc = b[s+4] & 0xF | (b[s−4] >> 6) << 4, m = b[s+4] >> 4 | (b[s] >> 6) << 4. b0, b1, b2 are
// byte s%4 of each third of the scales, which covers both cases.
fn k4_scale_min(buf: u32, at: u32, s: u32) -> vec2<f32> {
    let b0 = ld_u8(buf, at + s % 4u);
    let b1 = ld_u8(buf, at + 4u + s % 4u);
    let b2 = ld_u8(buf, at + 8u + s % 4u);
    let sc = select((b2 & 0xFu) | ((b0 >> 6u) << 4u), b0 & 63u, s < 4u);
    let m = select((b2 >> 4u) | ((b1 >> 6u) << 4u), b1 & 63u, s < 4u);
    return vec2<f32>(f32(sc), f32(m));
}
