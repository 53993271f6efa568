//! 8-bit storage for large matrices of a model folder (the word embeddings dominate a
//! small student's size): each row is stored as `u8` codes with one F32 scale,
//! `x ≈ (code - 128) · scale`, `scale = max|row| / 127`. Loading turns them back into F32.

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use crate::model::error::Result;

/// Suffix of a quantized tensor's codes (`NAME.q8`, u8 `[rows, cols]`).
pub const CODES: &str = ".q8";
/// Suffix of its row scales (`NAME.q8scale`, F32 `[rows]`).
pub const SCALES: &str = ".q8scale";

/// Row-wise 8-bit codes and scales of a 2-D F32 tensor.
pub fn quantize_rows(t: &Tensor) -> Result<(Tensor, Tensor)> {
    let (rows, cols) = t.dims2()?;
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut codes = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks(cols.max(1)) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        codes.extend(row.iter().map(|v| ((v / scale).round().clamp(-127.0, 127.0) + 128.0) as u8));
    }
    Ok((
        Tensor::from_vec(codes, (rows, cols), t.device())?,
        Tensor::from_vec(scales, rows, t.device())?,
    ))
}

/// The F32 tensor that codes and scales stand for.
pub fn dequantize_rows(codes: &Tensor, scales: &Tensor) -> Result<Tensor> {
    let centred = (codes.to_dtype(DType::F32)? - 128.0)?;
    Ok(centred.broadcast_mul(&scales.unsqueeze(1)?)?)
}

/// Replaces every `NAME.q8` / `NAME.q8scale` pair of a loaded folder by `NAME` in F32.
pub fn dequantize_all(tensors: &mut HashMap<String, Tensor>) -> Result<()> {
    let names: Vec<String> =
        tensors.keys().filter_map(|k| k.strip_suffix(CODES).map(str::to_owned)).collect();
    for name in names {
        let codes = tensors.remove(&format!("{name}{CODES}")).expect("listed");
        let Some(scales) = tensors.remove(&format!("{name}{SCALES}")) else {
            return Err(crate::model::Error::Unsupported(format!("{name}{CODES} without scales")));
        };
        tensors.insert(name, dequantize_rows(&codes, &scales)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        let t =
            Tensor::new(&[[0.5f32, -1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let (codes, scales) = quantize_rows(&t).unwrap();
        assert_eq!(codes.dtype(), DType::U8);
        let back = dequantize_rows(&codes, &scales).unwrap().to_vec2::<f32>().unwrap();
        let step = 1.0 / 127.0;
        for (a, b) in t.to_vec2::<f32>().unwrap().iter().flatten().zip(back.iter().flatten()) {
            assert!((a - b).abs() <= step / 2.0 + 1e-7, "{a} vs {b}");
        }
        let mut map = HashMap::from([(format!("w{CODES}"), codes), (format!("w{SCALES}"), scales)]);
        dequantize_all(&mut map).unwrap();
        assert_eq!(map["w"].dims(), [2, 4]);
    }
}
