//! Building a distillation student from its teacher.
//!
//! - The teacher's width: the student copies the embeddings, the head and the teacher
//!   layers it is given (DistilBERT's layer-skipping initialisation).
//! - Narrower: by default it copies those layers' weights at evenly spaced hidden
//!   channels, attention heads and feed-forward units ("weight selection", Xu et al.,
//!   *Initializing Models with Larger Ones*, ICLR 2024): the same channels in every
//!   tensor, so that each student channel starts as a teacher channel. TinyBERT's
//!   projection starts as the map that puts each student channel back in its place.
//!   [`NarrowInit::Random`] starts from BERT's random initialisation instead.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::model::head::normal;
use crate::model::{Bert, Config};
use crate::train::error::{Error, Result};
use crate::train::io;

/// The tensor name of the TinyBERT projection (student width -> teacher width).
pub const PROJECTION: &str = "distill_projection.weight";
/// Its bias.
pub const PROJECTION_BIAS: &str = "distill_projection.bias";

/// How a student narrower than its teacher starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NarrowInit {
    /// The teacher's weights at evenly spaced channels, heads and units.
    #[default]
    Select,
    /// BERT's random initialisation (N(0, 0.02) matrices), drawn from the run's seed.
    Random,
}

fn model_err(e: candle_core::Error) -> Error {
    Error::Model(e.into())
}

/// `k` of `0..n`, evenly spaced (`⌊j·n/k⌋`), in order.
pub fn evenly_spaced(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|j| j * n / k).collect()
}

/// Writes a student model folder at `out`: the teacher layers in `layers`, at the
/// teacher's width or at `hidden` (a multiple of 16, at most the teacher's), started as
/// `init` says when narrower (`seed` draws a random start: the same seed, the same
/// student).
pub fn build_student(
    teacher: &Path,
    out: &Path,
    layers: &[usize],
    hidden: Option<usize>,
    seed: u64,
    init: NarrowInit,
) -> Result<()> {
    let teacher_config = Config::read(&teacher.join("config.json"))?;
    let text = std::fs::read_to_string(teacher.join("config.json")).map_err(io(teacher))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid { field: "teacher", message: e.to_string() })?;
    let width = hidden.unwrap_or(teacher_config.hidden_size);
    if layers.iter().any(|&l| l >= teacher_config.num_hidden_layers) || layers.is_empty() {
        return Err(Error::Invalid {
            field: "layers",
            message: format!(
                "teacher layers must be in 0..{} (got {layers:?})",
                teacher_config.num_hidden_layers
            ),
        });
    }
    value["num_hidden_layers"] = layers.len().into();
    let tensors = if width == teacher_config.hidden_size {
        std::fs::create_dir_all(out).map_err(io(out))?;
        teacher_layers(teacher, layers)?
    } else {
        let shape = narrow_shape(&teacher_config, width, init)?;
        value["hidden_size"] = width.into();
        value["num_attention_heads"] = (width / shape.head).into();
        value["intermediate_size"] = shape.units.into();
        let config: Config = serde_json::from_value(value.clone())
            .map_err(|e| Error::Invalid { field: "student", message: e.to_string() })?;
        std::fs::create_dir_all(out).map_err(io(out))?;
        let shapes = student_shapes(&config)?;
        let mut tensors = match init {
            NarrowInit::Select => {
                let kept = teacher_layers(teacher, layers)?;
                selected(teacher, &teacher_config, &shape, &shapes, &kept)?
            }
            NarrowInit::Random => random(&shapes, teacher_config.hidden_size, width, seed)?,
        };
        let bias = Tensor::zeros(teacher_config.hidden_size, DType::F32, &Device::Cpu);
        tensors.insert(PROJECTION_BIAS.into(), bias.map_err(model_err)?);
        tensors
    };
    candle_core::safetensors::save(&tensors, out.join("model.safetensors")).map_err(model_err)?;
    std::fs::write(out.join("config.json"), serde_json::to_string_pretty(&value).expect("json"))
        .map_err(io(out))?;
    for file in ["tokenizer.json", "kgqa.json"] {
        if teacher.join(file).is_file() {
            std::fs::copy(teacher.join(file), out.join(file)).map_err(io(out))?;
        }
    }
    Ok(())
}

/// The teacher's tensors without the `bert.` prefix, its encoder layers renumbered to the
/// student's (`layers[m]` becomes layer `m`; layers not listed are left out).
fn teacher_layers(teacher: &Path, layers: &[usize]) -> Result<HashMap<String, Tensor>> {
    let all = candle_core::safetensors::load(teacher.join("model.safetensors"), &Device::Cpu)
        .map_err(model_err)?;
    let mut kept = HashMap::new();
    for (name, t) in all {
        let bare = name.strip_prefix("bert.").unwrap_or(&name).to_owned();
        if let Some(rest) = bare.strip_prefix("encoder.layer.") {
            let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let index: usize = index.parse().unwrap_or(usize::MAX);
            for (m, &src) in layers.iter().enumerate() {
                if src == index {
                    kept.insert(format!("encoder.layer.{m}.{tail}"), t.clone());
                }
            }
        } else {
            kept.insert(bare, t);
        }
    }
    Ok(kept)
}

/// A narrower student's shape: its width, attention head size and feed-forward units.
struct NarrowShape {
    width: usize,
    head: usize,
    units: usize,
}

/// The shape of a student `width` wide: a selected student keeps whole teacher heads and
/// the teacher's ratio of units to width; a random one has heads of 32 dimensions
/// (MiniLM's), or 16 for widths that are not multiples of 32, and 4 units per channel.
fn narrow_shape(teacher: &Config, width: usize, init: NarrowInit) -> Result<NarrowShape> {
    let t = teacher.hidden_size;
    if width == 0 || !width.is_multiple_of(16) || width > t {
        return Err(Error::Invalid {
            field: "student_hidden",
            message: format!(
                "{width}: a student width is a multiple of 16 up to the teacher's {t}"
            ),
        });
    }
    let teacher_head = t / teacher.num_attention_heads;
    let head = match init {
        NarrowInit::Select if width.is_multiple_of(teacher_head) => teacher_head,
        NarrowInit::Select => {
            return Err(Error::Invalid {
                field: "student_hidden",
                message: format!(
                    "{width} is not a whole number of the teacher's {teacher_head}-wide \
                     attention heads, which a student started from the teacher's weights \
                     keeps; pick such a width or a random start"
                ),
            });
        }
        NarrowInit::Random if width.is_multiple_of(32) => 32,
        NarrowInit::Random => 16,
    };
    let units = match init {
        NarrowInit::Select => teacher.intermediate_size * width / t,
        NarrowInit::Random => 4 * width,
    };
    Ok(NarrowShape { width, head, units })
}

/// The shape of every tensor of a BERT encoder with `config`.
fn student_shapes(config: &Config) -> Result<HashMap<String, candle_core::Shape>> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Bert::load(vb, config)?;
    let data = varmap.data().lock().expect("varmap");
    Ok(data.iter().map(|(n, v)| (n.clone(), v.as_tensor().shape().clone())).collect())
}

/// A selected student's tensors (weight selection: evenly spaced channels, whole heads and
/// units of the teacher's `kept` layers), the head and other tensors outside BERT, and the
/// projection that maps student channel j back to teacher channel `channels[j]`.
fn selected(
    teacher: &Path,
    config: &Config,
    shape: &NarrowShape,
    shapes: &HashMap<String, candle_core::Shape>,
    kept: &HashMap<String, Tensor>,
) -> Result<HashMap<String, Tensor>> {
    let (t, width, head) = (config.hidden_size, shape.width, shape.head);
    let channels = evenly_spaced(t, width);
    let heads = evenly_spaced(config.num_attention_heads, width / head);
    let head_dims: Vec<usize> = heads.iter().flat_map(|h| h * head..(h + 1) * head).collect();
    let units = evenly_spaced(config.intermediate_size, shape.units);
    let pick = Selection { width: t, channels: &channels, head_dims: &head_dims, units: &units };
    let mut tensors = HashMap::new();
    for (name, shape) in shapes {
        let source = kept.get(name).ok_or_else(|| Error::Invalid {
            field: "teacher",
            message: format!("{}: no tensor {name}", teacher.display()),
        })?;
        let selected = pick.apply(name, source)?;
        if selected.shape() != shape {
            return Err(Error::Invalid {
                field: "teacher",
                message: format!(
                    "{name}: selected {:?}, the student needs {shape:?}",
                    selected.dims()
                ),
            });
        }
        tensors.insert(name.clone(), selected);
    }
    // The head and anything else outside BERT (e.g. entity fusion's).
    for (name, source) in kept {
        if !shapes.contains_key(name) && !name.starts_with("encoder.") {
            tensors.insert(name.clone(), pick.apply(name, source)?);
        }
    }
    let mut map = vec![0f32; t * width];
    for (j, &c) in channels.iter().enumerate() {
        map[c * width + j] = 1.0;
    }
    let projection = Tensor::from_vec(map, (t, width), &Device::Cpu).map_err(model_err)?;
    tensors.insert(PROJECTION.into(), projection);
    Ok(tensors)
}

/// A random student's tensors: BERT's initialisation drawn from `seed` (candle's own is
/// unseeded): weights N(0, 0.02), biases 0, layer norms 1 and 0, names in sorted order;
/// the projection is the identity on the first `width` teacher channels plus noise.
fn random(
    shapes: &HashMap<String, candle_core::Shape>,
    t: usize,
    width: usize,
    seed: u64,
) -> Result<HashMap<String, Tensor>> {
    let device = Device::Cpu;
    let mut state = seed ^ 0x57D0_1417;
    let mut names: Vec<&String> = shapes.keys().collect();
    names.sort();
    let mut tensors = HashMap::new();
    for name in names {
        let shape = shapes[name].clone();
        let t = if name.ends_with("bias") {
            Tensor::zeros(shape, DType::F32, &device)
        } else if name.contains("LayerNorm") {
            Tensor::ones(shape, DType::F32, &device)
        } else {
            let values = (0..shape.elem_count()).map(|_| 0.02 * normal(&mut state)).collect();
            Tensor::from_vec(values, shape, &device)
        };
        tensors.insert(name.clone(), t.map_err(model_err)?);
    }
    let noise: Vec<f32> = (0..t * width).map(|_| 0.02 * normal(&mut state)).collect();
    let eye = Tensor::eye(width, DType::F32, &device)
        .and_then(|e| e.pad_with_zeros(0, 0, t - width))
        .map_err(model_err)?;
    let noise = Tensor::from_vec(noise, (t, width), &device).map_err(model_err)?;
    tensors.insert(PROJECTION.into(), (noise + eye).map_err(model_err)?);
    Ok(tensors)
}

/// Which indices of each teacher dimension a selected student keeps.
struct Selection<'a> {
    /// The teacher's hidden width.
    width: usize,
    /// Hidden channels (the residual stream).
    channels: &'a [usize],
    /// The dimensions of the kept attention heads (queries, keys, values).
    head_dims: &'a [usize],
    /// Feed-forward units.
    units: &'a [usize],
}

impl Selection<'_> {
    /// The teacher tensor `name` cut to the student, each dimension by what it indexes. In
    /// BERT's layout (`[out, in]` matrices) the query, key and value rows index head
    /// dimensions, as do the attention output's columns; the intermediate rows and the
    /// output's columns index units; every other dimension as long as the hidden width
    /// indexes channels (embeddings' columns, layer norms, the pooler, the head's inputs).
    fn apply(&self, name: &str, t: &Tensor) -> Result<Tensor> {
        let attention_in = name.contains("attention.self.");
        let attention_out = name.contains("attention.output.dense");
        let ffn_in = name.contains("intermediate.dense");
        let ffn_out = !attention_out && name.contains("output.dense");
        let mut t = t.clone();
        for (dim, &size) in t.dims().to_vec().iter().enumerate() {
            let rows = dim == 0;
            let index = if (rows && attention_in) || (!rows && attention_out) {
                Some(self.head_dims)
            } else if (rows && ffn_in) || (!rows && ffn_out) {
                Some(self.units)
            } else if size == self.width {
                Some(self.channels)
            } else {
                None
            };
            if let Some(index) = index {
                let ids: Vec<u32> = index.iter().map(|&i| i as u32).collect();
                let ids = Tensor::new(ids, t.device()).map_err(model_err)?;
                t = t.index_select(&ids, dim).map_err(model_err)?;
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_keeps_the_ends_apart() {
        assert_eq!(evenly_spaced(12, 8), [0, 1, 3, 4, 6, 7, 9, 10]);
        assert_eq!(evenly_spaced(4, 4), [0, 1, 2, 3]);
        assert_eq!(evenly_spaced(384, 256).len(), 256);
    }

    /// Each kind of tensor is cut along the dimensions it indexes: here a teacher of width
    /// 4 (two heads of 2) and 8 units cut to width 2 (channels 0 and 2, head 1, units 0,
    /// 2, 4, 6), on matrices whose entries name their row and column.
    #[test]
    fn each_tensor_is_cut_along_what_it_indexes() {
        let d = Device::Cpu;
        let pick =
            Selection { width: 4, channels: &[0, 2], head_dims: &[2, 3], units: &[0, 2, 4, 6] };
        let grid = |r: usize, c: usize| {
            let v: Vec<f32> = (0..r * c).map(|i| ((i / c) * 10 + i % c) as f32).collect();
            Tensor::from_vec(v, (r, c), &d).unwrap()
        };
        let cut = |name: &str, t: &Tensor| pick.apply(name, t).unwrap().to_vec2::<f32>().unwrap();
        // Query rows: head dimensions 2, 3; columns: channels 0, 2.
        let q = cut("encoder.layer.0.attention.self.query.weight", &grid(4, 4));
        assert_eq!(q, [[20.0, 22.0], [30.0, 32.0]]);
        // Attention output: rows channels, columns head dimensions.
        let o = cut("encoder.layer.0.attention.output.dense.weight", &grid(4, 4));
        assert_eq!(o, [[2.0, 3.0], [22.0, 23.0]]);
        // Intermediate [8, 4]: rows units, columns channels; output [4, 8] the other way.
        let i = cut("encoder.layer.0.intermediate.dense.weight", &grid(8, 4));
        assert_eq!(i, [[0.0, 2.0], [20.0, 22.0], [40.0, 42.0], [60.0, 62.0]]);
        let f = cut("encoder.layer.0.output.dense.weight", &grid(4, 8));
        assert_eq!(f, [[0.0, 2.0, 4.0, 6.0], [20.0, 22.0, 24.0, 26.0]]);
        // Embeddings keep every row; the head keeps its one output.
        assert_eq!(cut("embeddings.word_embeddings.weight", &grid(5, 4))[4], [40.0, 42.0]);
        assert_eq!(cut("classifier.weight", &grid(1, 4)), [[0.0, 2.0]]);
        let bias = |name: &str| {
            let t = Tensor::new(&[0f32, 1.0, 2.0, 3.0], &d).unwrap();
            pick.apply(name, &t).unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(bias("encoder.layer.0.attention.self.key.bias"), [2.0, 3.0]);
        assert_eq!(bias("encoder.layer.0.attention.output.dense.bias"), [0.0, 2.0]);
        assert_eq!(bias("encoder.layer.0.output.LayerNorm.weight"), [0.0, 2.0]);
    }
}
