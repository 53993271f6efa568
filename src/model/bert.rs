//! A BERT-family encoder on candle (BERT, and MPNet with the additions of
//! [`crate::model::mpnet`]) that returns what distillation and fusion need: every layer's
//! hidden states, attention scores before and after the softmax, and a hook that adds
//! extra vectors to the token embeddings (entity-embedding fusion).
//!
//! Tensor names follow the original checkpoints (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, ...; an optional `bert.` or `mpnet.`
//! prefix; a checkpoint's pooler is not read), as in Hugging Face's `modeling_bert.py` /
//! `modeling_mpnet.py` and candle-transformers' `models/bert.rs`.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use crate::model::config::{Config, Family};
use crate::model::error::{Error, Result};
use crate::model::kernels::Precision;
use crate::model::mpnet;

/// Token ids and masks of a batch, all `[batch, seq]`.
pub struct Inputs<'a> {
    /// Word-piece ids (u32).
    pub input_ids: &'a Tensor,
    /// Segment ids (u32).
    pub token_type_ids: &'a Tensor,
    /// 1 for real tokens, 0 for padding (u32 or f32).
    pub attention_mask: &'a Tensor,
    /// Vectors `[batch, seq, hidden]` added to the word embeddings (zero where nothing is
    /// fused): the entity-embedding fusion hook.
    pub extra_embeddings: Option<&'a Tensor>,
}

/// What a forward pass should return besides the last layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Collect {
    /// Every hidden state: the embedding output, then each layer's output.
    pub hidden_states: bool,
    /// Every layer's attention scores (scaled, masked, before softmax) and probabilities.
    pub attentions: bool,
    /// Only position 0 of the last layer is wanted (a head that reads the `[CLS]` vector):
    /// `last_hidden_state` is then `[batch, 1, hidden]`, and the fused inference path
    /// skips the rest of the last layer's work (hidden states, when collected, stay
    /// whole).
    pub first_token_only: bool,
}

/// `x` cut to its first position when `collect` asks for it and it is not cut already.
fn first_token(x: Tensor, collect: Collect) -> Result<Tensor> {
    if collect.first_token_only && x.dim(1)? != 1 {
        return Ok(x.narrow(1, 0, 1)?);
    }
    Ok(x)
}

/// The outputs of a forward pass.
#[derive(Debug)]
pub struct Outputs {
    /// The last layer `[batch, seq, hidden]` (`[batch, 1, hidden]` with
    /// [`Collect::first_token_only`]).
    pub last_hidden_state: Tensor,
    /// `hidden_states[0]` is the embedding output, `hidden_states[i]` layer i's output.
    pub hidden_states: Vec<Tensor>,
    /// Per layer, `[batch, heads, seq, seq]`, before the softmax (mask added).
    pub attention_scores: Vec<Tensor>,
    /// Per layer, `[batch, heads, seq, seq]`, after the softmax.
    pub attention_probs: Vec<Tensor>,
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    /// Segment embeddings (BERT; MPNet has none).
    token_type: Option<Embedding>,
    norm: LayerNorm,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    /// Query, key and value stacked (`[3 * hidden, hidden]`): one matrix product at
    /// inference instead of three. `None` when the weights are trainable variables (a
    /// stacked copy would go stale as they change), and never used in training.
    qkv: Option<Linear>,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A BERT-family encoder (BERT or MPNet, by the configuration's `model_type`).
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// MPNet's relative position bias table `[buckets, heads]`, shared by all layers.
    relative_bias: Option<Embedding>,
    config: Config,
    device: Device,
    /// State of the dropout masks' generator (splitmix64), seeded per training step so
    /// that a resumed run draws the same masks.
    dropout_state: std::sync::Mutex<u64>,
    /// Every layer's products in int8, when inference runs at [`Precision::Int8`].
    #[cfg(feature = "blas")]
    int8: Option<Vec<crate::model::kernels::int8::Int8Layer>>,
}

impl Bert {
    /// Builds the encoder from a var builder rooted at the checkpoint's top level.
    pub fn load(vb: VarBuilder<'_>, config: &Config) -> Result<Self> {
        config.check()?;
        let vb = ["bert", "mpnet"]
            .into_iter()
            .find(|p| vb.contains_tensor(&format!("{p}.embeddings.word_embeddings.weight")))
            .map_or_else(|| vb.clone(), |p| vb.pp(p));
        let mpnet = config.family() == Family::Mpnet;
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let e = vb.pp("embeddings");
        let embeddings = Embeddings {
            word: candle_nn::embedding(config.vocab_size, h, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                config.max_position_embeddings,
                h,
                e.pp("position_embeddings"),
            )?,
            token_type: if mpnet {
                None
            } else {
                Some(candle_nn::embedding(
                    config.type_vocab_size,
                    h,
                    e.pp("token_type_embeddings"),
                )?)
            },
            norm: candle_nn::layer_norm(h, eps, e.pp("LayerNorm"))?,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<Result<Vec<_>>>()?;
        let relative_bias = if mpnet {
            Some(candle_nn::embedding(
                config.relative_attention_num_buckets,
                config.num_attention_heads,
                vb.pp("encoder.relative_attention_bias"),
            )?)
        } else {
            None
        };
        Ok(Bert {
            embeddings,
            layers,
            relative_bias,
            config: config.clone(),
            device: vb.device().clone(),
            dropout_state: std::sync::Mutex::new(0),
            #[cfg(feature = "blas")]
            int8: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Chooses the precision of inference's matrix products (training always runs f32).
    /// Int8 quantizes every layer's weights once, here. Without the fused CPU path
    /// (`blas` feature off, or a GPU) products stay f32.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        #[cfg(feature = "blas")]
        {
            self.int8 = None;
            if precision == Precision::Int8 && self.device.is_cpu() {
                use crate::model::kernels::int8::Int8Layer;
                let layers = self.fast_tensors().ok_or_else(|| {
                    Error::Unsupported("int8 products need the fused layer's shapes".into())
                })?;
                let packed = layers
                    .iter()
                    .map(|t| {
                        let (qkv, out) = (t.qkv.0, t.attention_out.0);
                        Int8Layer::new(qkv, out, t.intermediate.0, t.output.0)
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.int8 = Some(packed);
            }
        }
        #[cfg(not(feature = "blas"))]
        let _ = precision;
        Ok(())
    }

    /// The precision inference's products run at.
    pub fn precision(&self) -> Precision {
        #[cfg(feature = "blas")]
        if self.int8.is_some() {
            return Precision::Int8;
        }
        Precision::F32
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the encoder. `train` turns dropout on.
    pub fn forward(&self, inputs: &Inputs<'_>, collect: Collect, train: bool) -> Result<Outputs> {
        let (batch, seq) = inputs.input_ids.dims2()?;
        if seq > self.config.max_position_embeddings {
            return Err(Error::Unsupported(format!(
                "sequence of {seq} tokens, longer than max_position_embeddings {}",
                self.config.max_position_embeddings
            )));
        }
        let mut x = self.embed(inputs, seq, train)?;
        let bias = match &self.relative_bias {
            Some(table) => Some(mpnet::position_bias(table, seq, &self.device)?),
            None => None,
        };
        let mut out = Outputs {
            last_hidden_state: x.clone(),
            hidden_states: Vec::new(),
            attention_scores: Vec::new(),
            attention_probs: Vec::new(),
        };
        if collect.hidden_states {
            out.hidden_states.push(x.clone());
        }
        #[cfg(feature = "blas")]
        if let Some(fast) = self.fast_layers(&x, collect, train) {
            use crate::model::kernels::fast;
            let bias = match &bias {
                Some(b) => Some(b.flatten_all()?.to_vec1::<f32>()?),
                None => None,
            };
            let m = fast::Masks { mask: fast::additive_mask(inputs.attention_mask)?, bias };
            if collect.hidden_states {
                for t in &fast {
                    x = fast::layer(&x, m.all(), t)?;
                    out.hidden_states.push(x.clone());
                }
            } else {
                x = fast::encoder(&x, &m, &fast, collect.first_token_only)?;
            }
            out.last_hidden_state = first_token(x, collect)?;
            return Ok(out);
        }
        // [batch, 1, 1, seq]: 0 where attended, a large negative number where padded.
        let mask = inputs.attention_mask.to_dtype(DType::F32)?;
        let mask = ((mask.affine(-1.0, 1.0)?) * f64::from(f32::MIN))?
            .reshape((batch, 1, 1, seq))?
            .contiguous()?;
        let bias = match bias {
            Some(b) => Some(b.unsqueeze(0)?),
            None => None,
        };
        for layer in &self.layers {
            x = self.layer(layer, &x, (&mask, bias.as_ref()), collect, &mut out, train)?;
            if collect.hidden_states {
                out.hidden_states.push(x.clone());
            }
        }
        out.last_hidden_state = first_token(x, collect)?;
        Ok(out)
    }

    fn embed(&self, inputs: &Inputs<'_>, seq: usize, train: bool) -> Result<Tensor> {
        let e = &self.embeddings;
        let mut words = e.word.forward(inputs.input_ids)?;
        if let Some(extra) = inputs.extra_embeddings {
            words = (words + extra)?;
        }
        let x = if self.relative_bias.is_some() {
            let pad = self.config.pad_token_id.unwrap_or(1);
            let positions = mpnet::position_ids(inputs.attention_mask, pad)?;
            (words + e.position.forward(&positions)?)?
        } else {
            let positions = Tensor::arange(0u32, seq as u32, &self.device)?;
            words.broadcast_add(&e.position.forward(&positions)?.unsqueeze(0)?)?
        };
        let x = match &e.token_type {
            Some(types) => x.add(&types.forward(inputs.token_type_ids)?)?,
            None => x,
        };
        let x = norm(&e.norm, &x, train)?;
        self.dropout(&x, self.config.hidden_dropout_prob, train)
    }

    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        (mask, bias): (&Tensor, Option<&Tensor>),
        collect: Collect,
        out: &mut Outputs,
        train: bool,
    ) -> Result<Tensor> {
        let (batch, seq, hidden) = x.dims3()?;
        let heads = self.config.num_attention_heads;
        let head = self.config.head_size();
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((batch, seq, heads, head))?.transpose(1, 2)?.contiguous()?)
        };
        let scale = 1.0 / (head as f64).sqrt();
        let (q, k, v) = if let (Some(stacked), false) = (&l.qkv, train) {
            // One product for the three, then [batch, seq, 3, heads, head] -> three
            // [batch, heads, seq, head].
            let qkv = flat(stacked, x)?.reshape((batch, seq, 3, heads, head))?;
            let part = |i: usize| -> Result<Tensor> {
                Ok(qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?)
            };
            (part(0)?, part(1)?, part(2)?)
        } else {
            let q = split(flat(&l.query, x)?)?;
            (q, split(flat(&l.key, x)?)?, split(flat(&l.value, x)?)?)
        };
        // Scaling q (seq x head) is cheaper than scaling the scores (seq x seq).
        let raw = (q * scale)?.matmul(&k.t()?)?;
        let raw = match bias {
            Some(b) => raw.broadcast_add(b)?,
            None => raw,
        };
        // candle's fused softmax has no backward pass: training takes ours, which has one
        // (and adds the mask in its own pass when the masked scores are not wanted).
        let probs = if collect.attentions {
            let scores = raw.broadcast_add(mask)?;
            let probs = if train {
                crate::model::kernels::softmax::softmax_last_dim_train(&scores)?
            } else {
                candle_nn::ops::softmax_last_dim(&scores)?
            };
            out.attention_scores.push(scores);
            out.attention_probs.push(probs.clone());
            probs
        } else if train {
            crate::model::kernels::softmax::masked_softmax_train(&raw, mask)?
        } else {
            candle_nn::ops::softmax_last_dim(&raw.broadcast_add(mask)?)?
        };
        let probs = self.dropout(&probs, self.config.attention_probs_dropout_prob, train)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch, seq, hidden))?;
        let attended = flat(&l.attention_out, &context)?;
        let attended = self.dropout(&attended, self.config.hidden_dropout_prob, train)?;
        let attended = norm(&l.attention_norm, &(attended + x)?, train)?;
        let inner = flat(&l.intermediate, &attended)?;
        let inner = match self.config.hidden_act.as_str() {
            "gelu" if train => crate::model::kernels::gelu::gelu_erf_train(&inner)?,
            "gelu" => crate::model::kernels::gelu::gelu_erf(&inner)?,
            "gelu_new" => inner.gelu()?,
            _ => inner.relu()?,
        };
        let output = flat(&l.output, &inner)?;
        let output = self.dropout(&output, self.config.hidden_dropout_prob, train)?;
        norm(&l.output_norm, &(output + attended)?, train)
    }

    /// Every layer's tensors for the fused inference pass, when it can take them: CPU f32
    /// inference without attentions to return, stacked QKV present, biases everywhere,
    /// exact GELU.
    #[cfg(feature = "blas")]
    fn fast_layers(
        &self,
        x: &Tensor,
        collect: Collect,
        train: bool,
    ) -> Option<Vec<crate::model::kernels::fast::LayerTensors<'_>>> {
        if train || collect.attentions || !x.device().is_cpu() || x.dtype() != DType::F32 {
            return None;
        }
        let mut layers = self.fast_tensors()?;
        if let Some(packed) = &self.int8 {
            for (t, p) in layers.iter_mut().zip(packed) {
                t.int8 = Some(p);
            }
        }
        Some(layers)
    }

    /// Every layer's tensors for the fused path (without int8 weights), or `None` when a
    /// layer does not fit it (no stacked QKV, a missing bias, another activation).
    #[cfg(feature = "blas")]
    fn fast_tensors(&self) -> Option<Vec<crate::model::kernels::fast::LayerTensors<'_>>> {
        if self.config.hidden_act != "gelu" {
            return None;
        }
        fn lin(l: &Linear) -> Option<(&Tensor, &Tensor)> {
            Some((l.weight(), l.bias()?))
        }
        fn ln(l: &LayerNorm) -> Option<(&Tensor, &Tensor)> {
            Some((l.weight(), l.bias()?))
        }
        self.layers
            .iter()
            .map(|l| {
                Some(crate::model::kernels::fast::LayerTensors {
                    qkv: lin(l.qkv.as_ref()?)?,
                    attention_out: lin(&l.attention_out)?,
                    attention_norm: ln(&l.attention_norm)?,
                    intermediate: lin(&l.intermediate)?,
                    output: lin(&l.output)?,
                    output_norm: ln(&l.output_norm)?,
                    eps: self.config.layer_norm_eps as f32,
                    heads: self.config.num_attention_heads,
                    int8: None,
                })
            })
            .collect()
    }

    /// Seeds the dropout masks (call once per training step with a step-derived seed).
    pub fn seed_dropout(&self, seed: u64) {
        *self.dropout_state.lock().expect("dropout state") = seed;
    }

    /// Inverted dropout with masks from the seeded generator: each element is kept with
    /// probability `1 - p` and scaled by `1 / (1 - p)`.
    fn dropout(&self, x: &Tensor, p: f32, train: bool) -> Result<Tensor> {
        if !train || p <= 0.0 {
            return Ok(x.clone());
        }
        let mut state = self.dropout_state.lock().expect("dropout state");
        Ok(crate::model::kernels::dropout::dropout_train(x, p, &mut state)?)
    }
}

/// Layer norm: candle's fused op for inference, ours (fused, with a backward pass) for
/// training.
fn norm(ln: &LayerNorm, x: &Tensor, train: bool) -> Result<Tensor> {
    match (train, ln.bias()) {
        (true, Some(bias)) => Ok(crate::model::kernels::layernorm::layer_norm_train(
            x,
            ln.weight(),
            bias,
            ln.eps() as f32,
        )?),
        _ => Ok(ln.forward(x)?),
    }
}

/// A linear layer on `[batch, seq, in]` as one 2-D matrix product over `batch * seq` rows
/// (one large gemm instead of `batch` small ones).
fn flat(linear: &Linear, x: &Tensor) -> Result<Tensor> {
    let (batch, seq, width) = x.dims3()?;
    let x2 = x.reshape((batch * seq, width))?;
    #[cfg(feature = "blas")]
    let y = match linear.bias() {
        Some(b) => crate::model::kernels::blas::linear_t(&x2, linear.weight(), b)?,
        None => crate::model::kernels::blas::matmul_t(&x2, linear.weight())?,
    };
    #[cfg(not(feature = "blas"))]
    let y = linear.forward(&x2)?;
    let out = y.dim(1)?;
    Ok(y.reshape((batch, seq, out))?)
}

/// Mean of the hidden states over real tokens, `[batch, hidden]`.
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// Rows divided by their L2 norm.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&norm)?)
}

impl Layer {
    /// One encoder layer's weights from `l` (BERT's or MPNet's names); frozen weights also
    /// get the fused query-key-value product.
    fn load(l: VarBuilder<'_>, config: &Config) -> Result<Self> {
        let mpnet = config.family() == Family::Mpnet;
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let a = l.pp("attention");
        let [q_name, k_name, v_name, o_name, norm_name] = mpnet::attention_names(mpnet);
        let query = candle_nn::linear(h, h, a.pp(q_name))?;
        let key = candle_nn::linear(h, h, a.pp(k_name))?;
        let value = candle_nn::linear(h, h, a.pp(v_name))?;
        let stack = |f: &dyn Fn(&Linear) -> Option<Tensor>| -> Result<Option<Tensor>> {
            match (f(&query), f(&key), f(&value)) {
                (Some(q), Some(k), Some(v)) => {
                    Ok(Some(Tensor::cat(&[q.detach(), k.detach(), v.detach()], 0)?))
                }
                _ => Ok(None),
            }
        };
        let qkv = if query.weight().is_variable() {
            None
        } else {
            let weight = stack(&|l| Some(l.weight().clone()))?.expect("weights exist");
            Some(Linear::new(weight, stack(&|l| l.bias().cloned())?))
        };
        let units = config.intermediate_size;
        Ok(Layer {
            query,
            key,
            value,
            qkv,
            attention_out: candle_nn::linear(h, h, a.pp(o_name))?,
            attention_norm: candle_nn::layer_norm(h, eps, a.pp(norm_name))?,
            intermediate: candle_nn::linear(h, units, l.pp("intermediate.dense"))?,
            output: candle_nn::linear(units, h, l.pp("output.dense"))?,
            output_norm: candle_nn::layer_norm(h, eps, l.pp("output.LayerNorm"))?,
        })
    }
}
