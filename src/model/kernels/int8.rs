//! Int8 matrix products for CPU inference: `out += x · Wᵀ` with `W` quantized once per
//! output row and `x` quantized per row as it arrives (dynamic quantization).
//!
//! - Weights: `w ≈ code · scale`, `scale = max|row| / 127`, codes in `[-127, 127]`.
//! - Activations: per row of `x`, unsigned codes over the row's own range,
//!   `x ≈ min + u · s`, `s = (max - min) / 255`, `u` in `[0, 255]` (the VNNI instruction
//!   multiplies unsigned bytes by signed ones). A row after GELU, nearly all positive,
//!   keeps all 256 levels where symmetric codes would waste half of them.
//! - `Σₖ x·w ≈ s_w · (s · Σₖ u·c_w + min · Σₖ c_w)`: the integer sum is exact, and the
//!   second term needs only the weight row's code sum, kept with the packed weight.
//!
//! On a CPU with AVX-512 VNNI (Intel since Cascade Lake, AMD since Zen 4), the kernel runs
//! `vpdpbusd` (64 byte products per instruction, four times the multiply-adds of an f32
//! FMA) on a 4-row × 64-column register tile. Elsewhere a portable loop computes the same
//! integers, so the int8 path gives the same answers on every CPU (only slower there).
//!
//! Unsafe code here: the AVX-512 intrinsics (called only after `vnni()` said the CPU has
//! them) and the tasks' shared output pointer (each task writes its own rectangle).
#![allow(unsafe_code)]

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use crate::model::error::Result;

/// Lanes of one packed block: 16 output rows, each 32-bit lane holding 4 bytes of k.
const LANES: usize = 16;
/// Register tile of the VNNI kernel: rows of `x` by blocks of 16 output columns.
const TILE_ROWS: usize = 4;
const TILE_BLOCKS: usize = 4;
/// Rows of `x` per parallel task.
const TASK_ROWS: usize = 64;
/// Groups of 4 k-values per pass over a task's rows: 384 values, so that the weight
/// columns of one pass (4 blocks x 16 rows x 384 bytes, 24 KiB) stay in the L1 cache.
const K_GROUPS: usize = 96;

/// Whether this CPU runs the VNNI kernel (otherwise the portable loop runs).
pub fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix `[n, k]` (one row per output column of the product), quantized per row
/// and packed in the kernel's order.
#[derive(Debug, Clone)]
pub struct PackedWeight {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 4.
    k4: usize,
    /// Per block of 16 rows, `k4 / 4` groups of 64 bytes: row `j`'s bytes `4g..4g+4` at
    /// lane `j`. Rows past `n` and columns past `k` are zero.
    codes: Vec<i8>,
    /// Per row, `max|w| / 127`.
    scales: Vec<f32>,
    /// Per row, `Σ codes` as f32 (what each activation row's minimum multiplies).
    sums: Vec<f32>,
}

impl PackedWeight {
    /// Quantizes and packs `w`, row-major `[n, k]`.
    pub fn new(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "weight of {n}x{k}");
        let k4 = k.div_ceil(4) * 4;
        let blocks = n.div_ceil(LANES);
        let mut codes = vec![0i8; blocks * k4 * LANES];
        let mut scales = Vec::with_capacity(n);
        let mut sums = Vec::with_capacity(n);
        for (row, values) in w.chunks_exact(k.max(1)).enumerate().take(n) {
            let (scale, sum) = quantize_row(values, |col, c| {
                let (b, j, g) = (row / LANES, row % LANES, col / 4);
                codes[(b * (k4 / 4) + g) * 64 + j * 4 + col % 4] = c;
            });
            scales.push(scale);
            sums.push(sum as f32);
        }
        Self { n, k, k4, codes, scales, sums }
    }

    /// Output columns (rows of the weight).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Bytes held (codes, scales and code sums).
    pub fn bytes(&self) -> usize {
        self.codes.len() + 8 * self.n
    }

    fn block(&self, b: usize) -> &[i8] {
        let len = self.k4 * LANES;
        &self.codes[b * len..(b + 1) * len]
    }

    /// Code of row `row`, column `col`.
    fn code(&self, row: usize, col: usize) -> i8 {
        let (b, j, g) = (row / LANES, row % LANES, col / 4);
        self.codes[(b * (self.k4 / 4) + g) * 64 + j * 4 + col % 4]
    }
}

/// Symmetric codes of one row: calls `put(column, code)` and returns the row's scale and
/// the sum of its codes.
fn quantize_row(values: &[f32], mut put: impl FnMut(usize, i8)) -> (f32, i32) {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let mut sum = 0i32;
    for (col, v) in values.iter().enumerate() {
        let c = (v * inv).round().clamp(-127.0, 127.0) as i8;
        sum += i32::from(c);
        put(col, c);
    }
    (scale, sum)
}

/// Rows of `x` quantized for the kernel: `k4` unsigned codes a row (the padding holds 0,
/// which meets zero weights), and each row's scale and minimum.
struct QuantRows {
    codes: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
    k4: usize,
}

impl QuantRows {
    fn new(x: &[f32], rows: usize, k: usize, k4: usize) -> Self {
        let mut codes = vec![0u8; rows * k4];
        let mut scales = vec![0f32; rows];
        let mut mins = vec![0f32; rows];
        let fast = vnni();
        let work = |(row, ((dst, scale), min)): (usize, ((&mut [u8], &mut f32), &mut f32))| {
            let values = &x[row * k..(row + 1) * k];
            #[cfg(target_arch = "x86_64")]
            if fast {
                // SAFETY: `fast` is `vnni()`, which includes AVX-512 F and BW.
                (*scale, *min) = unsafe { vnni_kernel::quantize_row(values, dst) };
                return;
            }
            let _ = fast;
            (*scale, *min) = quantize_row_portable(values, dst);
        };
        let rows_iter = codes.chunks_exact_mut(k4).zip(scales.iter_mut()).zip(mins.iter_mut());
        if rows * k >= 1 << 16 {
            rows_iter.enumerate().collect::<Vec<_>>().into_par_iter().for_each(work);
        } else {
            rows_iter.enumerate().for_each(work);
        }
        Self { codes, scales, mins, k4 }
    }

    fn row(&self, r: usize) -> &[u8] {
        &self.codes[r * self.k4..(r + 1) * self.k4]
    }
}

/// A row's scale and minimum from its range (a constant, or a row with a NaN or an
/// infinity, gets codes of 0 over the range `[0, 0]`).
fn row_scale(lo: f32, hi: f32) -> (f32, f32) {
    let (lo, hi) = if lo <= hi && (hi - lo).is_finite() { (lo, hi) } else { (0.0, 0.0) };
    (if hi > lo { (hi - lo) / 255.0 } else { 1.0 }, lo)
}

/// One row's codes (round half to even, as the CPU's conversion does), scale and minimum.
fn quantize_row_portable(values: &[f32], dst: &mut [u8]) -> (f32, f32) {
    let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let (scale, lo) = row_scale(lo, hi);
    let inv = 1.0 / scale;
    for (d, v) in dst.iter_mut().zip(values) {
        *d = ((v - lo) * inv).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    (scale, lo)
}

/// `out += x · Wᵀ`: `x` is `[rows, k]`, `out` is `[rows, n]`, both row-major.
pub fn mat_mul_acc(x: &[f32], rows: usize, w: &PackedWeight, out: &mut [f32]) {
    assert_eq!(x.len(), rows * w.k, "input of {rows}x{}", w.k);
    assert_eq!(out.len(), rows * w.n, "output of {rows}x{}", w.n);
    let q = QuantRows::new(x, rows, w.k, w.k4);
    let groups = w.n.div_ceil(LANES * TILE_BLOCKS);
    let row_tasks = rows.div_ceil(TASK_ROWS);
    let out_ptr = SharedOut(out.as_mut_ptr());
    let fast = vnni();
    (0..row_tasks * groups).into_par_iter().for_each(|t| {
        let rows_here = (t / groups) * TASK_ROWS..((t / groups + 1) * TASK_ROWS).min(rows);
        let first_block = (t % groups) * TILE_BLOCKS;
        let blocks = TILE_BLOCKS.min(w.n.div_ceil(LANES) - first_block);
        tile_task(&q, w, rows_here, first_block, blocks, out_ptr, fast);
    });
}

/// A layer's four products as int8 weights (per-row scales, packed for the kernel), for
/// [`super::Precision::Int8`]. The query and the key/value parts of the stacked
/// projection are packed apart as well, for the fused path's first-token layer.
#[derive(Debug)]
pub struct Int8Layer {
    /// Query, key and value stacked.
    pub(crate) qkv: PackedWeight,
    /// The query part alone.
    pub(crate) q: PackedWeight,
    /// The key and value parts.
    pub(crate) kv: PackedWeight,
    /// Attention output projection.
    pub(crate) attention_out: PackedWeight,
    /// Feed-forward expansion.
    pub(crate) intermediate: PackedWeight,
    /// Feed-forward contraction.
    pub(crate) output: PackedWeight,
}

impl Int8Layer {
    /// Quantizes a layer's four weights (`[out, in]` each): the stacked query, key and
    /// value projection, the attention output, the feed-forward expansion and contraction.
    pub fn new(
        qkv: &Tensor,
        attention_out: &Tensor,
        intermediate: &Tensor,
        output: &Tensor,
    ) -> Result<Self> {
        let pack = |w: &Tensor| -> Result<PackedWeight> {
            let (n, k) = w.dims2()?;
            let values = w.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            Ok(PackedWeight::new(&values, n, k))
        };
        let hidden = qkv.dim(1)?;
        Ok(Self {
            qkv: pack(qkv)?,
            q: pack(&qkv.narrow(0, 0, hidden)?)?,
            kv: pack(&qkv.narrow(0, hidden, 2 * hidden)?)?,
            attention_out: pack(attention_out)?,
            intermediate: pack(intermediate)?,
            output: pack(output)?,
        })
    }

    /// Bytes held by the packed weights.
    pub fn bytes(&self) -> usize {
        [&self.qkv, &self.q, &self.kv, &self.attention_out, &self.intermediate, &self.output]
            .iter()
            .map(|w| w.bytes())
            .sum()
    }
}

/// A raw pointer to `mat_mul_acc`'s output, shared by tasks that write disjoint
/// (row range, column range) rectangles of it through the pointer alone (no task holds a
/// reference to the whole output), while the output outlives the parallel loop.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every task writes its own rectangle only, through the raw pointer.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn tile_task(
    q: &QuantRows,
    w: &PackedWeight,
    rows: std::ops::Range<usize>,
    first_block: usize,
    blocks: usize,
    out: SharedOut,
    fast: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if fast {
        // SAFETY: `fast` is `vnni()`: the CPU has the features the kernel is built for.
        unsafe { vnni_kernel::task(q, w, rows, first_block, blocks, out) };
        return;
    }
    let _ = fast;
    portable_task(q, w, rows, first_block, blocks, out);
}

/// The same integers as the VNNI kernel, one (row, column) at a time.
fn portable_task(
    q: &QuantRows,
    w: &PackedWeight,
    rows: std::ops::Range<usize>,
    first_block: usize,
    blocks: usize,
    out: SharedOut,
) {
    let cols = first_block * LANES..((first_block + blocks) * LANES).min(w.n);
    for r in rows {
        let xr = q.row(r);
        for c in cols.clone() {
            let dot: i32 = (0..w.k).map(|col| i32::from(xr[col]) * i32::from(w.code(c, col))).sum();
            let value = w.scales[c] * (q.scales[r] * dot as f32 + q.mins[r] * w.sums[c]);
            // SAFETY: (r, c) lies in this task's rectangle of the rows x n output.
            unsafe { *out.get().add(r * w.n + c) += value };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni_kernel {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{
        K_GROUPS, LANES, PackedWeight, QuantRows, SharedOut, TILE_BLOCKS, TILE_ROWS, row_scale,
    };

    /// [`super::quantize_row_portable`] 16 values at a time.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_row(values: &[f32], dst: &mut [u8]) -> (f32, f32) {
        let chunks = values.chunks_exact(16);
        let rest = chunks.remainder();
        let (mut lo, mut hi) = (_mm512_set1_ps(f32::MAX), _mm512_set1_ps(f32::MIN));
        for c in chunks.clone() {
            let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
            (lo, hi) = (_mm512_min_ps(lo, v), _mm512_max_ps(hi, v));
        }
        let (mut l, mut h) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
        for v in rest {
            (l, h) = (l.min(*v), h.max(*v));
        }
        let (scale, l) = row_scale(l, h);
        let inv = 1.0 / scale;
        let (lv, iv) = (_mm512_set1_ps(l), _mm512_set1_ps(inv));
        for (i, c) in chunks.enumerate() {
            let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
            let t = _mm512_mul_ps(_mm512_sub_ps(v, lv), iv);
            // Round half to even, clamp at 0, then narrow with unsigned saturation at 255.
            let q = _mm512_max_epi32(_mm512_cvtps_epi32(t), _mm512_setzero_si512());
            let bytes = _mm512_cvtusepi32_epi8(q);
            unsafe { _mm_storeu_si128(dst[i * 16..i * 16 + 16].as_mut_ptr().cast(), bytes) };
        }
        let done = values.len() - rest.len();
        for (d, v) in dst[done..].iter_mut().zip(rest) {
            *d = ((v - l) * inv).round_ties_even().clamp(0.0, 255.0) as u8;
        }
        (scale, l)
    }

    /// One task: `rows` of `x` against `blocks` blocks of 16 output columns.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW and VNNI.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn task(
        q: &QuantRows,
        w: &PackedWeight,
        rows: Range<usize>,
        first_block: usize,
        blocks: usize,
        out: SharedOut,
    ) {
        let total = q.k4 / 4;
        for g0 in (0..total).step_by(K_GROUPS) {
            let k = Pass { groups: g0..(g0 + K_GROUPS).min(total), first: g0 == 0 };
            let mut r = rows.start;
            while r < rows.end {
                let n = TILE_ROWS.min(rows.end - r);
                let mut b = first_block;
                while b < first_block + blocks {
                    let whole = first_block + blocks - b >= TILE_BLOCKS;
                    match (n == TILE_ROWS, whole) {
                        (true, true) => tile::<TILE_ROWS, TILE_BLOCKS>(q, w, r, b, &k, out),
                        (true, false) => tile::<TILE_ROWS, 1>(q, w, r, b, &k, out),
                        (false, true) => {
                            for i in 0..n {
                                tile::<1, TILE_BLOCKS>(q, w, r + i, b, &k, out);
                            }
                        }
                        (false, false) => {
                            for i in 0..n {
                                tile::<1, 1>(q, w, r + i, b, &k, out);
                            }
                        }
                    }
                    b += if whole { TILE_BLOCKS } else { 1 };
                }
                r += n;
            }
        }
    }

    /// The part of k one call of [`tile`] sums over (in groups of 4), and whether it is
    /// the first part (which also adds the activation minimum's term).
    struct Pass {
        groups: Range<usize>,
        first: bool,
    }

    /// `R` rows from `row` against `B` blocks from `block`, accumulated in registers over
    /// the pass's part of k, then scaled and added into `out`.
    // Indexed loops over the register tile: what keeps the accumulators in registers.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn tile<const R: usize, const B: usize>(
        q: &QuantRows,
        w: &PackedWeight,
        row: usize,
        block: usize,
        pass: &Pass,
        out: SharedOut,
    ) {
        let mut acc = [[_mm512_setzero_si512(); B]; R];
        let xs: [&[u8]; R] = std::array::from_fn(|i| q.row(row + i));
        let ws: [&[i8]; B] = std::array::from_fn(|j| w.block(block + j));
        for g in pass.groups.clone() {
            let wv: [__m512i; B] = std::array::from_fn(|j| unsafe {
                _mm512_loadu_si512(ws[j][g * 64..].as_ptr().cast())
            });
            for i in 0..R {
                let four = i32::from_le_bytes(xs[i][g * 4..g * 4 + 4].try_into().expect("4 bytes"));
                let xb = _mm512_set1_epi32(four);
                for j in 0..B {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xb, wv[j]);
                }
            }
        }
        for j in 0..B {
            let c0 = (block + j) * LANES;
            let valid = LANES.min(w.n - c0);
            let mask: __mmask16 = if valid == LANES { 0xffff } else { (1u16 << valid) - 1 };
            let sums = unsafe { _mm512_maskz_loadu_ps(mask, w.sums[c0..].as_ptr()) };
            let scale = unsafe { _mm512_maskz_loadu_ps(mask, w.scales[c0..].as_ptr()) };
            for i in 0..R {
                // s_w · (s_x · dot + min_x · Σ c_w)
                let dot = _mm512_cvtepi32_ps(acc[i][j]);
                let min = if pass.first { q.mins[row + i] } else { 0.0 };
                let min_term = _mm512_mul_ps(_mm512_set1_ps(min), sums);
                let inner = _mm512_fmadd_ps(dot, _mm512_set1_ps(q.scales[row + i]), min_term);
                // SAFETY: rows `row..row + R` and columns `c0..c0 + valid` (the masked
                // lanes) lie in this task's rectangle of the rows x n output.
                let dst = unsafe { out.get().add((row + i) * w.n + c0) };
                unsafe {
                    let old = _mm512_maskz_loadu_ps(mask, dst);
                    _mm512_mask_storeu_ps(dst, mask, _mm512_fmadd_ps(inner, scale, old));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..rows * cols)
            .map(|_| {
                let r = crate::model::rng::splitmix64(&mut s);
                (r >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn reference(x: &[f32], w: &[f32], rows: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
            }
        }
        out
    }

    /// Shapes that hit every tail: rows not a multiple of the tile, columns not a multiple
    /// of 16 or 64, k not a multiple of 4, and more rows than one task.
    #[test]
    fn int8_product_is_close_to_f32_and_equal_on_both_paths() {
        for &(rows, n, k) in
            &[(5, 64, 384), (7, 50, 30), (130, 200, 97), (1, 1, 1), (3, 1152, 384), (9, 80, 1000)]
        {
            let x = matrix(rows, k, 1);
            let wf = matrix(n, k, 2);
            let w = PackedWeight::new(&wf, n, k);
            let mut fast = vec![0.5f32; rows * n];
            mat_mul_acc(&x, rows, &w, &mut fast);
            let q = QuantRows::new(&x, rows, k, w.k4);
            let mut slow = vec![0.5f32; rows * n];
            let blocks = n.div_ceil(LANES);
            portable_task(&q, &w, 0..rows, 0, blocks, SharedOut(slow.as_mut_ptr()));
            let exact = reference(&x, &wf, rows, n, k);
            for i in 0..rows * n {
                assert!((fast[i] - slow[i]).abs() <= 1e-4 * slow[i].abs().max(1.0), "{i}");
                // Two 8-bit roundings per product: error grows like sqrt(k) / 127.
                let tol = 0.02 * (k as f32).sqrt();
                assert!((fast[i] - 0.5 - exact[i]).abs() < tol, "{rows}x{n}x{k} at {i}");
            }
        }
    }

    /// The AVX-512 quantizer gives the portable one's codes, scale and minimum exactly.
    #[test]
    fn both_quantizers_agree() {
        #[cfg(target_arch = "x86_64")]
        if vnni() {
            for len in [1, 15, 16, 17, 40, 384] {
                let mut x = matrix(1, len, len as u64);
                x[0] = 3.5; // a value exactly half-way between two codes somewhere
                let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                let fast = unsafe { vnni_kernel::quantize_row(&x, &mut a) };
                let slow = quantize_row_portable(&x, &mut b);
                assert_eq!((fast, &a), (slow, &b), "length {len}");
            }
        }
        let mut codes = [0u8; 3];
        assert_eq!(quantize_row_portable(&[2.0, 2.0, 2.0], &mut codes), (1.0, 2.0));
        assert_eq!(codes, [0, 0, 0]);
    }

    #[test]
    fn zero_rows_and_zero_weights_give_the_bias() {
        let w = PackedWeight::new(&[0.0; 8], 2, 4);
        let mut out = vec![1.0, 2.0];
        mat_mul_acc(&[0.0; 4], 1, &w, &mut out);
        assert_eq!(out, vec![1.0, 2.0]);
    }
}
