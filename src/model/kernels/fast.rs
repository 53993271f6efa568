//! One encoder layer as a single fused pass for CPU inference (`--features blas`).
//!
//! candle runs a layer as some thirty tensor operations, each allocating its output and
//! walking memory again (bias adds, transposes to heads and back, mask broadcast, softmax,
//! residual adds, layer norms, GELU); profiles put about half of inference outside the
//! matrix products. Here a layer is five BLAS products on row-major buffers with the
//! cheap work folded around them:
//! - every product starts from its bias (and the residual) already in the output and runs
//!   with `beta = 1`, so bias and residual adds cost no pass of their own;
//! - attention reads each head's query, key and value straight out of the stacked QKV
//!   output through strided views (no transposes, no copies) and writes each head's
//!   context into its columns of the output;
//! - mask, softmax, GELU and layer norm run in place on rows that are still in cache.
//!
//! Every stage shares rayon's pool: products are split into panels
//! ([`crate::model::kernels::blas::par_mat_mul`]), attention is one task per (sequence, head), the
//! row-wise passes run by blocks of rows.
//!
//! The weights are read in place from the model's tensors (no second copy in memory).
//! Training never comes here: it needs candle's operations for the backward pass.

use candle_core::{Device, Layout, Storage, Tensor};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Slice, s};
use rayon::prelude::*;

use crate::model::error::{Error, Result};
use crate::model::kernels::blas::{mat_mul, par_mat_mul};
use crate::model::kernels::int8::{self, Int8Layer, PackedWeight};

/// The tensors of one layer, as the checkpoint stores them (`[out, in]` weights).
pub struct LayerTensors<'a> {
    /// Query, key and value stacked, `[3 * hidden, hidden]`, and their biases.
    pub qkv: (&'a Tensor, &'a Tensor),
    /// Attention output projection and bias.
    pub attention_out: (&'a Tensor, &'a Tensor),
    /// Layer norm after attention: weight and bias.
    pub attention_norm: (&'a Tensor, &'a Tensor),
    /// Feed-forward expansion and bias.
    pub intermediate: (&'a Tensor, &'a Tensor),
    /// Feed-forward contraction and bias.
    pub output: (&'a Tensor, &'a Tensor),
    /// Layer norm after the feed-forward block: weight and bias.
    pub output_norm: (&'a Tensor, &'a Tensor),
    /// Layer norm epsilon.
    pub eps: f32,
    /// Attention heads.
    pub heads: usize,
    /// The same products in int8 (see [`Int8Layer`]), when the model runs them so.
    pub int8: Option<&'a Int8Layer>,
}

/// `out += x · wᵀ`, in int8 when `packed` is given (the same weight, quantized), else in
/// f32 through BLAS.
fn product(
    x: &ArrayView2<'_, f32>,
    w: &ArrayView2<'_, f32>,
    packed: Option<&PackedWeight>,
    out: &mut Array2<f32>,
) {
    match (packed, x.as_slice()) {
        (Some(p), Some(xs)) => {
            int8::mat_mul_acc(xs, x.nrows(), p, out.as_slice_mut().expect("standard layout"));
        }
        _ => par_mat_mul(1.0, x, &w.t(), 1.0, out.view_mut()),
    }
}

/// The additive attention mask of a `[batch, seq]` 0/1 mask: 0 where attended, `f32::MIN`
/// where padded (the same numbers the candle path adds).
pub fn additive_mask(attention_mask: &Tensor) -> Result<Vec<f32>> {
    let mask = attention_mask.to_dtype(candle_core::DType::F32)?.flatten_all()?;
    Ok(mask.to_vec1::<f32>()?.into_iter().map(|m| (1.0 - m) * f32::MIN).collect())
}

/// What attention adds to its scores: the padding mask of every sequence and, for
/// MPNet, the relative position bias shared by all sequences and layers.
pub struct Masks {
    /// `[batch * seq]`, from [`additive_mask`].
    pub mask: Vec<f32>,
    /// `[heads, seq, seq]`, added to each head's scores before the mask.
    pub bias: Option<Vec<f32>>,
}

impl Masks {
    /// The masks of every sequence.
    pub fn all(&self) -> Attn<'_> {
        Attn { mask: &self.mask, bias: self.bias.as_deref() }
    }
}

/// [`Masks`] borrowed for a block of sequences.
#[derive(Clone, Copy)]
pub struct Attn<'a> {
    /// `[block * seq]` additive mask.
    pub mask: &'a [f32],
    /// `[heads, seq, seq]` position bias.
    pub bias: Option<&'a [f32]>,
}

/// Most rows one pass of [`encoder`] takes: OpenBLAS runs this model's products fastest
/// at a few hundred rows (`benches/gemm.rs`: about 290 GFLOP/s at 320 or 640 rows, 190 at
/// 10,240), and the activations of a block this size stay in the L2 cache.
const BLOCK_ROWS: usize = 640;

/// Runs every layer on `x` (`[batch, seq, hidden]`), a block of whole sequences at a
/// time. With `first_only`, the last layer computes position 0 alone (see
/// [`first_token_layer`]) and the result is `[batch, 1, hidden]`.
pub fn encoder(
    x: &Tensor,
    masks: &Masks,
    layers: &[LayerTensors<'_>],
    first_only: bool,
) -> Result<Tensor> {
    let (batch, seq, _) = x.dims3()?;
    let per_block = (BLOCK_ROWS / seq.max(1)).max(1);
    let mut blocks = Vec::with_capacity(batch.div_ceil(per_block));
    for start in (0..batch).step_by(per_block) {
        let n = per_block.min(batch - start);
        let mut h = x.narrow(0, start, n)?;
        let m = Attn { mask: &masks.mask[start * seq..(start + n) * seq], ..masks.all() };
        for (i, t) in layers.iter().enumerate() {
            h = if first_only && i + 1 == layers.len() {
                first_token_layer(&h, m, t)?
            } else {
                layer(&h, m, t)?
            };
        }
        blocks.push(h);
    }
    if blocks.len() == 1 {
        return Ok(blocks.pop().expect("one block"));
    }
    Ok(Tensor::cat(&blocks, 0)?)
}

/// Runs one layer on `x` (`[batch, seq, hidden]`, f32 on the CPU).
pub fn layer(x: &Tensor, mask: Attn<'_>, t: &LayerTensors<'_>) -> Result<Tensor> {
    with_weights(x, mask, t, |x, mask, w, sh, eps| {
        let out = run(x, mask, w, sh, eps)?;
        Ok(Tensor::from_vec(out, (sh.batch, sh.seq, sh.hidden), &Device::Cpu)?)
    })
}

/// One layer's output at position 0 only, `[batch, 1, hidden]` (what a head that reads
/// the `[CLS]` vector needs of the last layer). Keys and values still come from every
/// position, but the query, the attention output, the feed-forward block and both layer
/// norms run on one row per sequence: about a sixth of a full layer's products.
pub fn first_token_layer(x: &Tensor, mask: Attn<'_>, t: &LayerTensors<'_>) -> Result<Tensor> {
    with_weights(x, mask, t, |x, mask, w, sh, eps| {
        let out = run_first(x, mask, w, sh, eps)?;
        Ok(Tensor::from_vec(out, (sh.batch, 1, sh.hidden), &Device::Cpu)?)
    })
}

/// Borrows `x` and the layer's weights as f32 slices and hands them to `body`.
fn with_weights(
    x: &Tensor,
    mask: Attn<'_>,
    t: &LayerTensors<'_>,
    body: impl FnOnce(&[f32], Attn<'_>, &Weights<'_>, Shapes, f32) -> Result<Tensor>,
) -> Result<Tensor> {
    let (batch, seq, hidden) = x.dims3()?;
    let x = x.contiguous()?;
    let tensors = [
        &x,
        t.qkv.0,
        t.qkv.1,
        t.attention_out.0,
        t.attention_out.1,
        t.attention_norm.0,
        t.attention_norm.1,
        t.intermediate.0,
        t.intermediate.1,
        t.output.0,
        t.output.1,
        t.output_norm.0,
        t.output_norm.1,
    ];
    let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
    let f: Vec<&[f32]> = guards.iter().map(|(s, l)| cpu_f32(s, l)).collect::<Result<_>>()?;
    let inner = t.intermediate.1.dim(0)?;
    let shapes = Shapes { batch, seq, hidden, heads: t.heads };
    let bias_fits = mask.bias.is_none_or(|b| b.len() == t.heads * seq * seq);
    if mask.mask.len() != batch * seq || hidden % t.heads != 0 || !bias_fits {
        return Err(Error::Unsupported(format!(
            "fused layer: mask of {} (bias {:?}) for {batch}x{seq}, {hidden} wide with {} heads",
            mask.mask.len(),
            mask.bias.map(<[f32]>::len),
            t.heads
        )));
    }
    let w = Weights {
        qkv: (matrix(f[1], 3 * hidden, hidden)?, f[2]),
        attention_out: (matrix(f[3], hidden, hidden)?, f[4]),
        attention_norm: (f[5], f[6]),
        intermediate: (matrix(f[7], inner, hidden)?, f[8]),
        output: (matrix(f[9], hidden, inner)?, f[10]),
        output_norm: (f[11], f[12]),
        int8: t.int8,
    };
    body(f[0], mask, &w, shapes, t.eps)
}

#[derive(Clone, Copy)]
struct Shapes {
    batch: usize,
    seq: usize,
    hidden: usize,
    heads: usize,
}

struct Weights<'a> {
    qkv: (ArrayView2<'a, f32>, &'a [f32]),
    attention_out: (ArrayView2<'a, f32>, &'a [f32]),
    attention_norm: (&'a [f32], &'a [f32]),
    intermediate: (ArrayView2<'a, f32>, &'a [f32]),
    output: (ArrayView2<'a, f32>, &'a [f32]),
    output_norm: (&'a [f32], &'a [f32]),
    int8: Option<&'a Int8Layer>,
}

fn cpu_f32<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = storage else {
        return Err(Error::Unsupported("fused layer: tensor not on the CPU".into()));
    };
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Unsupported("fused layer: non-contiguous weight".into()))?;
    Ok(&cpu.as_slice::<f32>()?[start..end])
}

fn matrix(data: &[f32], rows: usize, cols: usize) -> Result<ArrayView2<'_, f32>> {
    ArrayView2::from_shape((rows, cols), data)
        .map_err(|e| Error::Unsupported(format!("fused layer: weight of {rows}x{cols}: {e}")))
}

/// `rows` copies of `bias` (plus `residual` when given), the starting value of a product
/// run with `beta = 1`.
fn start(rows: usize, bias: &[f32], residual: Option<&[f32]>) -> Array2<f32> {
    let width = bias.len();
    let mut data = Vec::with_capacity(rows * width);
    match residual {
        Some(r) => {
            for row in r.chunks_exact(width) {
                data.extend(row.iter().zip(bias).map(|(a, b)| a + b));
            }
        }
        None => {
            for _ in 0..rows {
                data.extend_from_slice(bias);
            }
        }
    }
    Array2::from_shape_vec((rows, width), data).expect("rows * width elements")
}

fn run(x: &[f32], mask: Attn<'_>, w: &Weights<'_>, sh: Shapes, eps: f32) -> Result<Vec<f32>> {
    let Shapes { batch, seq, hidden, .. } = sh;
    let rows = batch * seq;
    let xv = matrix(x, rows, hidden)?;
    let mut qkv = start(rows, w.qkv.1, None);
    product(&xv, &w.qkv.0, w.int8.map(|i| &i.qkv), &mut qkv);
    let context = attention(&qkv, mask, sh);
    finish(&context, x, w, eps)
}

/// [`run`] for position 0 of each sequence only: keys and values for every row, the
/// query and everything after attention for the first rows.
fn run_first(x: &[f32], mask: Attn<'_>, w: &Weights<'_>, sh: Shapes, eps: f32) -> Result<Vec<f32>> {
    let Shapes { batch, seq, hidden, .. } = sh;
    let xv = matrix(x, batch * seq, hidden)?;
    let (wq, wkv) = w.qkv.0.split_at(Axis(0), hidden);
    let (bq, bkv) = w.qkv.1.split_at(hidden);
    let mut kv = start(batch * seq, bkv, None);
    product(&xv, &wkv, w.int8.map(|i| &i.kv), &mut kv);
    let first: Vec<f32> =
        x.chunks_exact(seq * hidden).flat_map(|s| s[..hidden].iter().copied()).collect();
    let fv = matrix(&first, batch, hidden)?;
    let mut q = start(batch, bq, None);
    product(&fv, &wq, w.int8.map(|i| &i.q), &mut q);
    let context = first_attention(&q, &kv, mask, sh);
    finish(&context, &first, w, eps)
}

/// What follows attention: output projection with the residual, layer norm, feed-forward
/// block with its residual, layer norm. `context` and `x` have the same rows.
fn finish(context: &Array2<f32>, x: &[f32], w: &Weights<'_>, eps: f32) -> Result<Vec<f32>> {
    let rows = context.nrows();
    let mut attended = start(rows, w.attention_out.1, Some(x));
    product(&context.view(), &w.attention_out.0, w.int8.map(|i| &i.attention_out), &mut attended);
    layer_norm(attended.view_mut(), w.attention_norm, eps);
    let mut expanded = start(rows, w.intermediate.1, None);
    product(&attended.view(), &w.intermediate.0, w.int8.map(|i| &i.intermediate), &mut expanded);
    let inner = expanded.ncols();
    gelu(expanded.as_slice_mut().expect("standard layout"), inner);
    let residual = attended.as_slice().expect("standard layout");
    let mut out = start(rows, w.output.1, Some(residual));
    product(&expanded.view(), &w.output.0, w.int8.map(|i| &i.output), &mut out);
    layer_norm(out.view_mut(), w.output_norm, eps);
    Ok(out.into_raw_vec_and_offset().0)
}

/// Scaled dot-product attention per sequence and head over the stacked `[rows, 3 *
/// hidden]` projections; returns `[rows, hidden]` with each head in its columns. Each
/// (sequence, head) pair is one task on rayon's pool, writing its own block of the output.
/// Its query, key and value are strided views into the stacked rows (no copies); its two
/// products go to BLAS on the task's thread (its small-matrix kernels beat plain loops
/// here), the mask and softmax run in place on the task's scores.
fn attention(qkv: &Array2<f32>, masks: Attn<'_>, sh: Shapes) -> Array2<f32> {
    let Shapes { batch, seq, hidden, heads, .. } = sh;
    let head = hidden / heads;
    let scale = 1.0 / (head as f32).sqrt();
    let mut context = Array2::<f32>::zeros((batch * seq, hidden));
    let mut tasks = Vec::with_capacity(batch * heads);
    for (b, rows) in chunks(context.view_mut(), Axis(0), seq).into_iter().enumerate() {
        tasks.extend(chunks(rows, Axis(1), head).into_iter().enumerate().map(|(h, c)| (b, h, c)));
    }
    tasks.into_par_iter().for_each_init(
        || Array2::<f32>::zeros((seq, seq)),
        |scores, (b, h, mut c)| {
            let rows = b * seq..(b + 1) * seq;
            let cols = h * head..(h + 1) * head;
            let part = |offset: usize| {
                qkv.view()
                    .slice_axis_move(Axis(0), Slice::from(rows.clone()))
                    .slice_axis_move(Axis(1), Slice::from(offset + cols.start..offset + cols.end))
            };
            let (q, k, v) = (part(0), part(hidden), part(2 * hidden));
            mat_mul(scale, &q, &k.t(), 0.0, &mut scores.view_mut());
            let s = scores.as_slice_mut().expect("standard layout");
            if let Some(bias) = masks.bias {
                add(s, &bias[h * seq * seq..(h + 1) * seq * seq]);
            }
            let row_mask = &masks.mask[rows];
            simd(|| {
                for row in s.chunks_exact_mut(seq) {
                    softmax(row, row_mask);
                }
            });
            mat_mul(1.0, &scores.view(), &v, 0.0, &mut c);
        },
    );
    context
}

/// Attention of each sequence's first position over all of its positions: `q` is
/// `[batch, hidden]`, `kv` the stacked keys and values `[batch * seq, 2 * hidden]`;
/// returns `[batch, hidden]`. One task per sequence (the work is small).
fn first_attention(q: &Array2<f32>, kv: &Array2<f32>, masks: Attn<'_>, sh: Shapes) -> Array2<f32> {
    let Shapes { seq, hidden, heads, .. } = sh;
    let head = hidden / heads;
    let scale = 1.0 / (head as f32).sqrt();
    let mut context = Array2::<f32>::zeros(q.dim());
    let out = context.as_slice_mut().expect("standard layout");
    out.par_chunks_mut(hidden).enumerate().for_each_init(
        || Array2::<f32>::zeros((1, seq)),
        |scores, (b, c)| {
            let rows = b * seq..(b + 1) * seq;
            for h in 0..heads {
                let cols = h * head..(h + 1) * head;
                let part = |offset: usize| {
                    kv.view().slice_axis_move(Axis(0), Slice::from(rows.clone())).slice_axis_move(
                        Axis(1),
                        Slice::from(offset + cols.start..offset + cols.end),
                    )
                };
                let (k, v) = (part(0), part(hidden));
                let qh = q.slice(s![b..b + 1, cols.clone()]);
                mat_mul(scale, &qh, &k.t(), 0.0, &mut scores.view_mut());
                let row = scores.as_slice_mut().expect("standard layout");
                if let Some(bias) = masks.bias {
                    add(row, &bias[h * seq * seq..h * seq * seq + seq]);
                }
                simd(|| softmax(row, &masks.mask[rows.clone()]));
                let mut ch = ArrayViewMut2::from_shape((1, head), &mut c[cols]).expect("1 x head");
                mat_mul(1.0, &scores.view(), &v, 0.0, &mut ch);
            }
        },
    );
    context
}

/// `a += b`, element by element.
fn add(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// `view` cut into consecutive pieces of `size` along `axis` (the last may be shorter),
/// each a mutable view of its own.
fn chunks(
    mut view: ArrayViewMut2<'_, f32>,
    axis: Axis,
    size: usize,
) -> Vec<ArrayViewMut2<'_, f32>> {
    let mut out = Vec::with_capacity(view.len_of(axis).div_ceil(size.max(1)));
    while view.len_of(axis) > size {
        let (piece, rest) = view.split_at(axis, size);
        out.push(piece);
        view = rest;
    }
    out.push(view);
    out
}

/// Rows per rayon task in the row-wise passes (layer norm, GELU).
const ROWS_PER_TASK: usize = 32;

/// Runs `f` compiled for the best vector instructions this CPU has (AVX2 + FMA or
/// AVX-512 where present; pulp checks the CPU once and dispatches safely). The loops `f`
/// inlines vectorize at that width instead of baseline x86-64's SSE2.
fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// Softmax of `row + mask` in place.
#[inline(always)]
fn softmax(row: &mut [f32], mask: &[f32]) {
    for (x, m) in row.iter_mut().zip(mask) {
        *x += m;
    }
    let max = lanes(row, f32::NEG_INFINITY, |acc, x| if x > acc { x } else { acc }, f32::max);
    for x in row.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / lanes(row, 0.0, |acc, x| acc + x, |a, b| a + b);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// Lanes of a reduction: [`lanes`] keeps this many partial results, so that the loop
/// runs on whole vectors (a single running sum or maximum is a chain of scalar
/// operations: float addition is not associative, so the compiler may not reorder it).
const LANES: usize = 16;

/// Reduces `xs` with `step` into [`LANES`] partial results started at `init`, then
/// combines them (and the tail) with `merge`.
#[inline(always)]
fn lanes(
    xs: &[f32],
    init: f32,
    step: impl Fn(f32, f32) -> f32,
    merge: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = step(*a, x);
        }
    }
    let mut out = acc.into_iter().fold(init, &merge);
    for &x in tail {
        out = step(out, x);
    }
    out
}

/// `e^x` without a libm call, so that loops over it vectorize: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its degree-6 Taylor polynomial (relative error below 2e-7
/// there), `2^n` built in the exponent bits. Inputs below -87 give 0 (as they underflow
/// anyway), which is what masked positions need.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Round to nearest by the 1.5 * 2^23 trick: two additions, no `round` call (which
    // would stop the loop from vectorizing on baseline x86-64).
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    // ln 2 in two parts (Cody and Waite), so that `n ln 2` subtracts exactly.
    let r = (x - n * 0.693_359_4) + n * 2.121_944_4e-4;
    let mut p = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Layer norm of every row in place (biased variance, as BERT).
fn layer_norm(mut x: ArrayViewMut2<'_, f32>, (gamma, beta): (&[f32], &[f32]), eps: f32) {
    let width = x.ncols();
    let data = x.as_slice_mut().expect("standard layout");
    data.par_chunks_mut(width * ROWS_PER_TASK).for_each(|block| {
        simd(|| {
            for row in block.chunks_exact_mut(width) {
                norm_row(row, gamma, beta, eps);
            }
        })
    });
}

#[inline(always)]
fn norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = row.len() as f32;
    let add = |a: f32, b: f32| a + b;
    let mean = lanes(row, 0.0, add, add) / width;
    for v in row.iter_mut() {
        *v -= mean;
    }
    let var = lanes(row, 0.0, |acc, v| acc + v * v, add) / width;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = *v * inv * g + b;
    }
}

/// Exact-form GELU in place ([`crate::model::kernels::gelu::gelu`]), `width`-wide rows.
fn gelu(x: &mut [f32], width: usize) {
    x.par_chunks_mut(width * ROWS_PER_TASK).for_each(|block| {
        simd(|| {
            for v in block.iter_mut() {
                *v = crate::model::kernels::gelu::gelu(*v);
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first-token layer gives position 0 of the whole layer, padding included.
    #[test]
    fn first_token_layer_is_position_zero_of_the_layer() {
        let dev = Device::Cpu;
        let (batch, seq, hidden, inner) = (3, 7, 16, 24);
        // Seeded uniform values in [-0.87, 0.87) (standard deviation 0.5): the same on every run.
        let state = std::cell::Cell::new(7u64);
        let r = |dims: &[usize]| {
            let n: usize = dims.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| {
                    let mut s = state.get();
                    let v = crate::model::rng::splitmix64(&mut s);
                    state.set(s);
                    ((v >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1.732
                })
                .collect();
            Tensor::from_vec(values, dims, &dev).unwrap()
        };
        let one =
            |n: usize| (Tensor::ones(n, candle_core::DType::F32, &dev).unwrap() + r(&[n])).unwrap();
        let (qkv, qkv_b) = (r(&[3 * hidden, hidden]), r(&[3 * hidden]));
        let (ao, ao_b, an, an_b) = (r(&[hidden, hidden]), r(&[hidden]), one(hidden), r(&[hidden]));
        let (it, it_b, o, o_b) =
            (r(&[inner, hidden]), r(&[inner]), r(&[hidden, inner]), r(&[hidden]));
        let (on, on_b) = (one(hidden), r(&[hidden]));
        let t = LayerTensors {
            qkv: (&qkv, &qkv_b),
            attention_out: (&ao, &ao_b),
            attention_norm: (&an, &an_b),
            intermediate: (&it, &it_b),
            output: (&o, &o_b),
            output_norm: (&on, &on_b),
            eps: 1e-12,
            heads: 4,
            int8: None,
        };
        let x = r(&[batch, seq, hidden]);
        // The second sequence ends in two padded positions.
        let mut m = vec![1f32; batch * seq];
        m[2 * seq - 2..2 * seq].fill(0.0);
        let mask = additive_mask(&Tensor::new(m, &dev).unwrap()).unwrap();
        // Without and with an MPNet-style position bias.
        let bias = r(&[4, seq, seq]).flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for bias in [None, Some(bias)] {
            let masks = Masks { mask: mask.clone(), bias };
            let whole = layer(&x, masks.all(), &t).unwrap().narrow(1, 0, 1).unwrap();
            let first = first_token_layer(&x, masks.all(), &t).unwrap();
            assert_eq!(first.dims(), [batch, 1, hidden]);
            let d = (whole - first).unwrap().abs().unwrap().flatten_all().unwrap();
            let d = d.max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(d < 1e-5, "max |diff| {d}");
        }
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f32;
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(exp(f32::MIN), 0.0f32.max(exp(-87.0)));
        assert!(exp(f32::MIN) < 1e-37);
    }
}
