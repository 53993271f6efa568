//! One AdamW step over all-MiniLM-L6-v2's parameters (22.7 M, weight decay on): the fused
//! CPU pass (`AdamW::new`) against candle's composed ops (`AdamW::composed`), alternating
//! in one run (a bench command, not a test).
//! Usage: `RAYON_NUM_THREADS=2 cargo bench --bench optim`

use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use kgqa::train::optim::{AdamW, AdamWConfig};

/// The parameters of a 6-layer, 384-wide BERT with a 30,522-word vocabulary.
fn minilm_shapes() -> Vec<(String, Vec<usize>)> {
    let (h, inner) = (384, 1536);
    let mut shapes = vec![
        ("embeddings.word_embeddings.weight".to_string(), vec![30522, h]),
        ("embeddings.position_embeddings.weight".into(), vec![512, h]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..6 {
        let p = format!("encoder.layer.{l}");
        for (name, dims) in [
            ("attention.self.query.weight", vec![h, h]),
            ("attention.self.query.bias", vec![h]),
            ("attention.self.key.weight", vec![h, h]),
            ("attention.self.key.bias", vec![h]),
            ("attention.self.value.weight", vec![h, h]),
            ("attention.self.value.bias", vec![h]),
            ("attention.output.dense.weight", vec![h, h]),
            ("attention.output.dense.bias", vec![h]),
            ("attention.output.LayerNorm.weight", vec![h]),
            ("attention.output.LayerNorm.bias", vec![h]),
            ("intermediate.dense.weight", vec![inner, h]),
            ("intermediate.dense.bias", vec![inner]),
            ("output.dense.weight", vec![h, inner]),
            ("output.dense.bias", vec![h]),
            ("output.LayerNorm.weight", vec![h]),
            ("output.LayerNorm.bias", vec![h]),
        ] {
            shapes.push((format!("{p}.{name}"), dims));
        }
    }
    shapes.push(("classifier.weight".into(), vec![1, h]));
    shapes
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dev = Device::Cpu;
    let make = || -> Vec<(String, Var)> {
        minilm_shapes()
            .into_iter()
            .map(|(name, dims)| {
                (name, Var::from_tensor(&Tensor::randn(0f32, 0.02, dims, &dev).unwrap()).unwrap())
            })
            .collect()
    };
    let (fused_vars, composed_vars) = (make(), make());
    let params: usize = fused_vars.iter().map(|(_, v)| v.elem_count()).sum();
    let grads = |vars: &[(String, Var)]| {
        let mut g = GradStore::default();
        for (_, v) in vars {
            g.insert(v.as_tensor(), Tensor::randn(0f32, 1e-3, v.shape(), &dev).unwrap());
        }
        g
    };
    let (fused_grads, composed_grads) = (grads(&fused_vars), grads(&composed_vars));
    let config = AdamWConfig::default();
    let mut fused = AdamW::new(fused_vars, config).unwrap();
    let mut composed = AdamW::composed(composed_vars, config).unwrap();
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(15);
    let (mut f_ms, mut c_ms) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let t = Instant::now();
        composed.step(&composed_grads, 1e-4).unwrap();
        let c = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        fused.step(&fused_grads, 1e-4).unwrap();
        let f = t.elapsed().as_secs_f64() * 1e3;
        if round > 0 {
            // The first round pays for first-touch page faults on both sides.
            c_ms.push(c);
            f_ms.push(f);
        }
    }
    let (c, f) = (median(c_ms), median(f_ms));
    println!(
        "adamw step, {params} parameters, {rounds} rounds: composed_ms={c:.1} fused_ms={f:.1} ratio={:.2}",
        c / f
    );
}
