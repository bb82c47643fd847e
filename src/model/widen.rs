//! Widening a trained UNet3D (Net2Net's "wider" transform): the weights of a U-Net with
//! channels `[c1, c2, c3, c4]` become those of one with more channels per level that computes
//! the same function, so that a wider run starts where the narrower model ended instead of
//! from scratch.
//!
//! A level of `c` channels widened to `c' ≥ c` keeps its channels and appends copies: new
//! channel `j` is old channel `j mod c`. A layer's output channels are copied with their bias
//! and InstanceNorm scale and shift (a copy sees the same input, so its normalised output is
//! the same); a layer reading a widened level divides each input channel's weights by the
//! number of copies of that channel, so the sum over copies is the old weight. The result is
//! exact up to float rounding. Copies would then learn in lockstep (same weights, same
//! gradients), so the copies' (not the originals') output weights get a little seeded noise.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};

use crate::volume::phantom::Rng;

/// Standard deviation of the noise added to each copied output channel's weights, as a
/// fraction of the standard deviation of the layer's old weights.
pub const COPY_NOISE: f64 = 0.02;

/// How a level's channels map from old to new: new channel `j` is old channel `source[j]`;
/// `copies[i]` is how many new channels old channel `i` became.
#[derive(Clone)]
struct ChannelMap {
    source: Vec<u32>,
    copies: Vec<f32>,
}

impl ChannelMap {
    fn new(old: usize, new: usize) -> Self {
        let source: Vec<u32> = (0..new).map(|j| (j % old) as u32).collect();
        let mut copies = vec![0f32; old];
        for &i in &source {
            copies[i as usize] += 1.0;
        }
        Self { source, copies }
    }

    /// The unchanged map of a level that is not widened (the input, the classes).
    fn identity(n: usize) -> Self {
        Self::new(n, n)
    }

    /// Two levels side by side, as a skip concatenation lays them out.
    fn concat(&self, other: &ChannelMap) -> Self {
        let offset = self.copies.len() as u32;
        Self {
            source: self
                .source
                .iter()
                .copied()
                .chain(other.source.iter().map(|&i| i + offset))
                .collect(),
            copies: self
                .copies
                .iter()
                .chain(other.copies.iter())
                .copied()
                .collect(),
        }
    }

    fn new_len(&self) -> usize {
        self.source.len()
    }

    fn old_len(&self) -> usize {
        self.copies.len()
    }
}

/// Where a weight's channel axes are: a convolution `(co, ci, …)` or a transposed convolution
/// `(ci, co, …)`.
#[derive(Clone, Copy)]
enum Layout {
    OutIn,
    InOut,
}

/// The U-Net's layers with the levels their input and output channels belong to, in the
/// parameter names of [`crate::model::UNet3D`].
fn unet_layers(
    input: &ChannelMap,
    levels: &[ChannelMap; 4],
    classes: &ChannelMap,
) -> Vec<(String, Layout, ChannelMap, ChannelMap)> {
    let [l1, l2, l3, l4] = levels;
    let mut layers = Vec::new();
    let mut double = |name: &str, inputs: ChannelMap, level: &ChannelMap| {
        layers.push((format!("{name}.0"), Layout::OutIn, inputs, level.clone()));
        layers.push((
            format!("{name}.1"),
            Layout::OutIn,
            level.clone(),
            level.clone(),
        ));
    };
    double("enc1", input.clone(), l1);
    double("enc2", l1.clone(), l2);
    double("enc3", l2.clone(), l3);
    double("bott", l3.clone(), l4);
    double("dec3", l3.concat(l3), l3);
    double("dec2", l2.concat(l2), l2);
    double("dec1", l1.concat(l1), l1);
    layers.push(("up3".into(), Layout::InOut, l4.clone(), l3.clone()));
    layers.push(("up2".into(), Layout::InOut, l3.clone(), l2.clone()));
    layers.push(("up1".into(), Layout::InOut, l2.clone(), l1.clone()));
    layers.push(("head".into(), Layout::OutIn, l1.clone(), classes.clone()));
    layers
}

/// The parameters of a UNet3D with `old` channels (`tensors`, keyed as in its safetensors
/// file) widened to `new` channels, every `new[k] ≥ old[k]`; `input_channels` and `classes` stay.
/// `seed` fixes the copies' noise (0 noise when `noise` is 0).
pub fn widen_unet(
    tensors: &HashMap<String, Tensor>,
    old: [usize; 4],
    new: [usize; 4],
    input_channels: usize,
    classes: usize,
    noise: f64,
    seed: u64,
) -> Result<HashMap<String, Tensor>> {
    check_widening(old, new)?;
    let levels = [0, 1, 2, 3].map(|k| ChannelMap::new(old[k], new[k]));
    let input = ChannelMap::identity(input_channels);
    let classes = ChannelMap::identity(classes);
    let mut widened = HashMap::new();
    for (layer, layout, inputs, outputs) in unet_layers(&input, &levels, &classes) {
        let (conv, norm) = if matches!(layout, Layout::InOut) || layer == "head" {
            (layer.clone(), None)
        } else {
            (format!("{layer}.conv"), Some(format!("{layer}.norm")))
        };
        let get = |name: &str| {
            tensors
                .get(name)
                .with_context(|| format!("the U-Net has no parameter {name}"))
        };
        let weight_name = format!("{conv}.weight");
        let weight = get(&weight_name)?;
        let mut rng = Rng::stream(seed, &weight_name);
        widened.insert(
            weight_name.clone(),
            widen_weight(weight, layout, &inputs, &outputs, noise, &mut rng)
                .with_context(|| format!("widening {weight_name}"))?,
        );
        let mut per_output = vec![format!("{conv}.bias")];
        if let Some(norm) = norm {
            per_output.push(format!("{norm}.weight"));
            per_output.push(format!("{norm}.bias"));
        }
        for name in per_output {
            let value = get(&name)?;
            widened.insert(name.clone(), select(value, 0, &outputs.source)?);
        }
    }
    if let Some(extra) = tensors.keys().find(|name| !widened.contains_key(*name)) {
        bail!("{extra}: not a parameter of a UNet3D");
    }
    Ok(widened)
}

/// Refuses a widening that would narrow a level.
pub fn check_widening(old: [usize; 4], new: [usize; 4]) -> Result<()> {
    if old.iter().zip(&new).any(|(o, n)| n < o || *o == 0) {
        bail!("cannot widen a U-Net of channels {old:?} to {new:?}: every level must keep or grow");
    }
    Ok(())
}

fn select(tensor: &Tensor, dim: usize, source: &[u32]) -> Result<Tensor> {
    let ids = Tensor::new(source, tensor.device())?;
    Ok(tensor.index_select(&ids, dim)?)
}

/// One weight widened: output axis copied (copies perturbed), input axis copied and divided
/// by each channel's number of copies.
fn widen_weight(
    weight: &Tensor,
    layout: Layout,
    inputs: &ChannelMap,
    outputs: &ChannelMap,
    noise: f64,
    rng: &mut Rng,
) -> Result<Tensor> {
    let (out_dim, in_dim) = match layout {
        Layout::OutIn => (0, 1),
        Layout::InOut => (1, 0),
    };
    let dims = weight.dims();
    if dims[out_dim] != outputs.old_len() || dims[in_dim] != inputs.old_len() {
        bail!(
            "shape {dims:?} does not match {} inputs and {} outputs",
            inputs.old_len(),
            outputs.old_len()
        );
    }
    let spread = if noise > 0.0 {
        let values = weight.flatten_all()?.to_vec1::<f32>()?;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        noise * var.sqrt()
    } else {
        0.0
    };
    let copied = select(weight, out_dim, &outputs.source)?;
    let copied = select(&copied, in_dim, &inputs.source)?;
    // Divide along the input axis by the copies of each input channel.
    let divisors = inputs
        .source
        .iter()
        .map(|&i| 1.0 / inputs.copies[i as usize]);
    let mut widened =
        copied.broadcast_mul(&along(dims.len(), in_dim, divisors, weight.device())?)?;
    if spread > 0.0 {
        // Noise on the copies only: drawn everywhere, masked along the output axis.
        let draws: Vec<f32> = (0..widened.elem_count())
            .map(|_| (spread * rng.normal()) as f32)
            .collect();
        let draws = Tensor::from_vec(draws, widened.dims(), weight.device())?;
        let is_copy = (0..outputs.new_len()).map(|j| f32::from(u8::from(j >= outputs.old_len())));
        let mask = along(dims.len(), out_dim, is_copy, weight.device())?;
        widened = (widened + draws.broadcast_mul(&mask)?)?;
    }
    Ok(widened)
}

/// `values` laid along axis `dim` of a tensor of `rank` axes (size 1 on every other axis), to
/// broadcast against a weight.
fn along(
    rank: usize,
    dim: usize,
    values: impl Iterator<Item = f32>,
    device: &Device,
) -> Result<Tensor> {
    let values: Vec<f32> = values.collect();
    let mut shape = vec![1; rank];
    shape[dim] = values.len();
    Ok(Tensor::from_vec(values, shape, device)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Module, Tensor};
    use candle_nn::{VarBuilder, VarMap};

    use super::*;
    use crate::model::UNet3D;

    /// A randomly initialised U-Net of `channels` and its parameters by name.
    fn unet(channels: [usize; 4], input: usize) -> (UNet3D, HashMap<String, Tensor>) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = UNet3D::new(input, channels, 3, vb).unwrap();
        let tensors = varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        (net, tensors)
    }

    fn from_tensors(
        tensors: HashMap<String, Tensor>,
        channels: [usize; 4],
        input: usize,
    ) -> UNet3D {
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        UNet3D::new(input, channels, 3, vb).unwrap()
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn a_widened_unet_computes_the_same_logits() {
        let (old_channels, new_channels) = ([2, 3, 4, 5], [4, 5, 8, 7]);
        let (narrow, tensors) = unet(old_channels, 2);
        let xs = Tensor::randn(0f32, 1.0, (1, 2, 8, 16, 8), &Device::Cpu).unwrap();
        let before = narrow.forward(&xs).unwrap();
        let widened = widen_unet(&tensors, old_channels, new_channels, 2, 3, 0.0, 1).unwrap();
        assert_eq!(widened.len(), tensors.len());
        assert_eq!(widened["bott.1.conv.weight"].dims(), &[7, 7, 3, 3, 3]);
        assert_eq!(widened["up3.weight"].dims(), &[7, 8, 2, 2, 2]);
        assert_eq!(widened["dec1.0.conv.weight"].dims(), &[4, 8, 3, 3, 3]);
        let wide = from_tensors(widened, new_channels, 2);
        let after = wide.forward(&xs).unwrap();
        let scale = before
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = max_abs_diff(&before, &after);
        assert!(
            diff < 1e-4 * scale.max(1.0),
            "logits moved by {diff} (scale {scale})"
        );

        // With noise the copies differ from their originals and the logits move a little,
        // the same way for the same seed.
        let noisy = |seed| widen_unet(&tensors, old_channels, new_channels, 2, 3, COPY_NOISE, seed);
        let (a, b, c) = (noisy(1).unwrap(), noisy(1).unwrap(), noisy(2).unwrap());
        let w = &a["enc2.1.conv.weight"];
        let copy_gap = max_abs_diff(&w.narrow(0, 0, 2).unwrap(), &w.narrow(0, 3, 2).unwrap());
        assert!(copy_gap > 0.0);
        assert_eq!(
            max_abs_diff(&a["enc2.1.conv.weight"], &b["enc2.1.conv.weight"]),
            0.0
        );
        assert!(max_abs_diff(&a["enc2.1.conv.weight"], &c["enc2.1.conv.weight"]) > 0.0);
        let moved = max_abs_diff(
            &before,
            &from_tensors(a, new_channels, 2).forward(&xs).unwrap(),
        );
        assert!(
            moved > diff && moved < 0.2 * scale.max(1.0),
            "noise moved logits by {moved}"
        );
    }

    #[test]
    fn narrowing_or_foreign_parameters_are_refused() {
        let (_, tensors) = unet([2, 2, 2, 2], 1);
        let err = widen_unet(&tensors, [2, 2, 2, 2], [1, 2, 2, 2], 1, 3, 0.0, 1).unwrap_err();
        assert!(err.to_string().contains("keep or grow"), "{err}");
        // Channels that do not match the tensors are named.
        let err = widen_unet(&tensors, [3, 2, 2, 2], [4, 2, 2, 2], 1, 3, 0.0, 1).unwrap_err();
        assert!(format!("{err:#}").contains("enc1.0.conv.weight"), "{err:#}");
        let mut extra = tensors.clone();
        extra.insert(
            "fc.weight".into(),
            Tensor::zeros(1, DType::F32, &Device::Cpu).unwrap(),
        );
        let err = widen_unet(&extra, [2, 2, 2, 2], [2, 2, 2, 2], 1, 3, 0.0, 1).unwrap_err();
        assert!(err.to_string().contains("fc.weight"), "{err}");
    }
}
