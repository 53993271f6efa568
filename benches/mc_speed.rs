//! Multiple-choice scoring speed of our encoder (a bench command, not a test): one
//! 5-choice question at sequence lengths 32, 64 and 128, and 32 questions at 64, fp32,
//! on the CPU, each measured three times: as the engine scores (the last layer at the
//! [CLS] position only) with f32 products, the same with int8 products ("kgqa_int8"), and
//! with the whole last layer in f32. The token ids follow the same formula
//! as `mc_speed_torch.py`, so both sides run the same inputs. Usage (see `benches/mc_speed.sh`):
//! `cargo bench --bench mc_speed -- MODEL_DIR [REPEATS]`

use std::time::Instant;

use candle_core::{Device, Module, Tensor};
use kgqa::model::kernels::Precision;
use kgqa::model::{Collect, Inputs, load_bert};

/// The allocator the `kgqa` binary runs with (`src/main.rs`); `mc_speed.sh` sets its
/// purge delay to "never", as the binary does.
#[global_allocator]
static ALLOCATOR: kgqa::alloc::Allocator = kgqa::alloc::Allocator;

fn ids(rows: usize, len: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(rows * len);
    for r in 0..rows {
        for i in 0..len {
            out.push(match i {
                0 => 101,
                _ if i + 1 == len => 102,
                _ => 1000 + ((r * 7919 + i * 104_729) % 28_000) as u32,
            });
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("usage: mc_speed MODEL_DIR [REPEATS]"));
    let repeats: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    let dev = Device::Cpu;
    let mut bert = load_bert(&dir, &dev).expect("model loads");
    let classifier = candle_nn::Linear::new(
        Tensor::zeros((1, bert.config().hidden_size), candle_core::DType::F32, &dev).unwrap(),
        None,
    );
    for (questions, len) in [(1usize, 32usize), (1, 64), (1, 128), (32, 64)] {
        let rows = questions * 5;
        let input_ids = Tensor::from_vec(ids(rows, len), (rows, len), &dev).unwrap();
        let types = input_ids.zeros_like().unwrap();
        let mask = input_ids.ones_like().unwrap();
        let inputs = Inputs {
            input_ids: &input_ids,
            token_type_ids: &types,
            attention_mask: &mask,
            extra_embeddings: None,
        };
        // `first_token_only` is what the engine's multiple-choice head asks for (it reads
        // the [CLS] vector); "kgqa_full" computes every position of the last layer, as
        // PyTorch's BertForMultipleChoice does.
        let runs = [
            ("kgqa", true, Precision::F32),
            ("kgqa_int8", true, Precision::Int8),
            ("kgqa_full", false, Precision::F32),
        ];
        for (name, first_token_only, precision) in runs {
            bert.set_precision(precision).expect("precision");
            let bert = &bert;
            let collect = Collect { first_token_only, ..Collect::default() };
            let run = || {
                let out = bert.forward(&inputs, collect, false).unwrap();
                let cls = out.last_hidden_state.narrow(1, 0, 1).unwrap().squeeze(1).unwrap();
                let logits = classifier.forward(&cls).unwrap().reshape((questions, 5)).unwrap();
                candle_nn::ops::softmax_last_dim(&logits).unwrap().to_vec2::<f32>().unwrap()
            };
            // Warm-up: the first calls fault in buffers and start the thread pools.
            for _ in 0..3 {
                run();
            }
            let mut times: Vec<f64> = (0..repeats)
                .map(|_| {
                    let t = Instant::now();
                    run();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!("{name} questions={questions} len={len} median_ms={median:.2}");
        }
    }
}
