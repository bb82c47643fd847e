//! Running a trained model on a CT: classification (logit, probability of cancer, label) and
//! segmentation (label map in the CT's own grid), with progress stages and cancellation.

use super::checkpoint::LoadedModel;
use super::config::{ModelKind, Network};
use super::preprocess::{model_volume, tensor_from_voxels, voxels_from_tensor};
use super::progress::CancelToken;
use crate::volume::{CtVolume, LabelVolume, resample_argmax};
use anyhow::{Context, Result, bail};

/// The classifier's verdict on one CT, as the seed project printed it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Classification {
    /// Shape of the network input `[channels, d, h, w]`.
    pub input_shape: [usize; 4],
    pub logit: f64,
    /// Probability of cancer: sigmoid of the logit.
    pub probability: f64,
    /// Cancer when the probability is at least 0.5.
    pub cancer: bool,
}

/// Inference stages, reported in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Preprocessing,
    Network,
    Postprocessing,
}

/// Preprocesses `ct` and runs the network, reporting the stages; `Ok(None)` when cancelled
/// before or after the network. Returns the raw network output.
fn run_network(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<candle_core::Tensor>> {
    let pre = model.card.preprocessing;
    on_stage(Stage::Preprocessing);
    let input = pre.input_voxels(ct);
    if cancel.is_cancelled() {
        return Ok(None);
    }
    on_stage(Stage::Network);
    let xs = tensor_from_voxels(&input, pre.grid, &model.device)?;
    let output = model.network.forward_t(&xs, false)?;
    if cancel.is_cancelled() {
        return Ok(None);
    }
    on_stage(Stage::Postprocessing);
    Ok(Some(output))
}

/// Classifies `ct` with a CNN model. `Ok(None)` when cancelled.
pub fn classify(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<Classification>> {
    if model.card.architecture.kind != ModelKind::Cnn {
        bail!("{}: not a classifier (CNN) model", model.path.display());
    }
    let Some(output) = run_network(model, ct, cancel, on_stage)? else {
        return Ok(None);
    };
    let logit = output.flatten_all()?.to_vec1::<f32>()?[0] as f64;
    let pre = model.card.preprocessing;
    let probability = 1.0 / (1.0 + (-logit).exp());
    let [nx, ny, nz] = pre.grid;
    Ok(Some(Classification {
        input_shape: [1, nz, ny, nx],
        logit,
        probability,
        cancer: probability >= 0.5,
    }))
}

/// Segments `ct` with a U-Net model: labels 0/1/2 on the CT's grid, linked to the CT's file so
/// that it saves in its original grid. `Ok(None)` when cancelled.
pub fn segment(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<LabelVolume>> {
    let Network::Unet(_) = &model.network else {
        bail!("{}: not a segmentation (U-Net) model", model.path.display());
    };
    let Some(logits) = run_network(model, ct, cancel, on_stage)? else {
        return Ok(None);
    };
    let pre = model.card.preprocessing;
    let probabilities = candle_nn::ops::softmax(&logits, 1)?.squeeze(0)?;
    let classes = probabilities.dim(0)?;
    let channels = (0..classes)
        .map(|c| {
            let voxels = voxels_from_tensor(&probabilities.get(c)?)?;
            model_volume(&pre, &ct.grid, voxels).context("model output size")
        })
        .collect::<Result<Vec<_>>>()?;
    let labels = resample_argmax(&channels, &ct.grid);
    let mut labels = ct.with_voxels(labels.voxels)?;
    labels.source = ct.source.clone();
    Ok(Some(labels))
}
