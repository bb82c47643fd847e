//! Running a trained model on a CT: classification (logit, probability of cancer, label) and
//! segmentation (label map in the CT's own grid), with progress stages and cancellation. A
//! model of the organ's region first runs its locator on the whole CT to find the organ's
//! cube, sees only that cube, and (segmentation) writes its labels back inside it.

use super::checkpoint::{LoadedModel, weights_path};
use super::config::{ModelKind, Network};
use super::postprocess::drop_small_lesions;
use super::preprocess::{model_volume, tensor_from_voxels, voxels_from_tensor};
use super::progress::CancelToken;
use super::region::{Region, RegionBox, main_organ_pieces, organ_cube};
use super::tiles::forward_tiled;
use crate::volume::decathlon::TUMOUR_LABEL;
use crate::volume::{CtVolume, LabelVolume, Volume, resample_argmax, resample_argmax_where};
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
    /// A segmenter re-centres its cube on its own outline and runs again
    /// ([`ModelCard::cube_refinements`](super::checkpoint::ModelCard::cube_refinements)):
    /// reported once per pass, after the first pass's stages; the passes stop once one would
    /// see what the last one saw (it would give the same labels).
    Refining,
}

/// What part of a CT a model is to see.
enum View {
    WholeBox,
    /// The organ's cube, and the locator's labels (on the CT's grid) that found it.
    Region(RegionBox, Box<LabelVolume>),
    /// The locator found no organ.
    NoOrgan,
    Cancelled,
}

/// The view of `ct` for `model`: the whole box, or the cube around the organ its locator
/// finds (the pieces of the locator's organ that are not stray specks: [`main_organ_pieces`]).
/// `locator_labels`: the locator's labels on `ct` when already made (not run again).
fn view_for(
    model: &LoadedModel,
    ct: &CtVolume,
    locator_labels: Option<&LabelVolume>,
    cancel: &CancelToken,
) -> Result<View> {
    let Region::OrganCube { margin_mm } = model.card.preprocessing.region else {
        return Ok(View::WholeBox);
    };
    let organ = match locator_labels {
        Some(labels) => {
            if labels.grid != ct.grid {
                bail!(
                    "{}: the locator's labels given are not on this CT's grid",
                    model.path.display()
                );
            }
            main_organ_pieces(labels)
        }
        None => {
            let locator = model.locator.as_ref().with_context(|| {
                format!(
                    "{}: a model of the organ's region without its locator",
                    model.path.display()
                )
            })?;
            let Some(organ) = find_organ(locator, ct, cancel)? else {
                return Ok(View::Cancelled);
            };
            organ
        }
    };
    Ok(match organ_cube(&organ, margin_mm) {
        Some(region) => View::Region(region, Box::new(organ)),
        None => View::NoOrgan,
    })
}

/// Whether `classifier`'s locator is `segmenter` itself (the same model files, run with the
/// same card settings): then the segmenter's labels on a CT are what the classifier's locator
/// finds there, and [`classify_reusing`] spares running the segmenter (and its own locator)
/// twice.
pub fn locator_is(classifier: &LoadedModel, segmenter: &LoadedModel) -> bool {
    let same_file = |a: &std::path::Path, b: &std::path::Path| match (
        weights_path(a).canonicalize(),
        weights_path(b).canonicalize(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    // A segmenter run with other settings than its card's (a user's tumour sensitivity) labels
    // otherwise than the classifier's locator, which then runs itself.
    classifier.locator.as_ref().is_some_and(|locator| {
        same_file(&locator.path, &segmenter.path) && locator.card == segmenter.card
    })
}

/// The organ (and its tumour) as `locator` finds it in `ct`: its main pieces (stray specks dropped),
/// on the CT's grid; no voxel set when it finds none. `Ok(None)` when cancelled.
pub fn find_organ(
    locator: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
) -> Result<Option<LabelVolume>> {
    Ok(segment(locator, ct, cancel, &mut |_| {})?.map(|organ| main_organ_pieces(&organ)))
}

/// Preprocesses `region` of `ct` (filling outside the locator's `organ` when the model asks
/// for it) and runs the network, reporting the stages; `Ok(None)` when
/// cancelled before or after the network. Returns the raw network output.
fn run_network(
    model: &LoadedModel,
    ct: &CtVolume,
    region: Option<&RegionBox>,
    organ: Option<&LabelVolume>,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<candle_core::Tensor>> {
    let pre = model.card.preprocessing;
    let input = pre
        .network_input(ct, region, organ)
        .map_err(|e| anyhow::anyhow!("{}: {e}", model.path.display()))?;
    if cancel.is_cancelled() {
        return Ok(None);
    }
    on_stage(Stage::Network);
    let xs = tensor_from_voxels(&input, pre.grid, &model.device)?;
    let output = match model.card.tile_voxels {
        0 => model.network.forward_t(&xs, false)?,
        tile => forward_tiled(&model.network, &xs, tile)?,
    };
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
    classify_with(model, ct, None, cancel, on_stage)
}

/// [`classify`], given what a segmenter already found on `ct` (`segmented`: the segmenter and
/// its labels there): when that segmenter is the classifier's locator ([`locator_is`]) its
/// labels are reused, otherwise the classifier runs as [`classify`] does. The same verdict
/// either way.
pub fn classify_reusing(
    model: &LoadedModel,
    ct: &CtVolume,
    segmented: Option<(&LoadedModel, &LabelVolume)>,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<Classification>> {
    let locator_labels = segmented
        .filter(|(segmenter, _)| locator_is(model, segmenter))
        .map(|(_, labels)| labels);
    classify_with(model, ct, locator_labels, cancel, on_stage)
}

fn classify_with(
    model: &LoadedModel,
    ct: &CtVolume,
    locator_labels: Option<&LabelVolume>,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<Classification>> {
    if model.card.architecture.kind != ModelKind::Cnn {
        bail!("{}: not a classifier (CNN) model", model.path.display());
    }
    on_stage(Stage::Preprocessing);
    let (region, organ) = match view_for(model, ct, locator_labels, cancel)? {
        View::WholeBox => (None, None),
        View::Region(region, organ) => (Some(region), Some(*organ)),
        View::NoOrgan => bail!(
            "the {} locator found no {} in this CT, so there is nothing to classify",
            model.card.task,
            model.card.task
        ),
        View::Cancelled => return Ok(None),
    };
    let Some(output) = run_network(model, ct, region.as_ref(), organ.as_ref(), cancel, on_stage)?
    else {
        return Ok(None);
    };
    let logit = output.flatten_all()?.to_vec1::<f32>()?[0] as f64;
    let pre = model.card.preprocessing;
    let probability = 1.0 / (1.0 + (-logit).exp());
    let [nx, ny, nz] = pre.grid;
    Ok(Some(Classification {
        input_shape: [pre.input_channels(), nz, ny, nx],
        logit,
        probability,
        cancer: probability >= 0.5,
    }))
}

/// Segments `ct` with a U-Net model: labels 0/1/2 on the CT's grid, linked to the CT's file so
/// that it saves in its original grid; a region model re-centres its cube as its card says,
/// and tumour pieces below the card's `min_lesion_ml` become organ. `Ok(None)` when cancelled.
pub fn segment(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<LabelVolume>> {
    Ok(segment_reporting(model, ct, cancel, on_stage)?.map(|(labels, _)| labels))
}

/// What [`segment`] did beyond one pass of the network, for a user to see.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SegmentationReport {
    /// Passes run again on a cube re-centred on the model's own outline.
    pub recentrings: usize,
    /// Predicted tumour pieces turned into organ for being smaller than `min_lesion_ml`.
    pub lesions_dropped: usize,
    /// The model card's `min_lesion_ml` (mL; 0: every piece kept).
    pub min_lesion_ml: f64,
    /// The tumour sensitivity the labels were chosen at: the model card's
    /// `tumour_sensitivity`, or another given to [`SegmenterOutput::relabel`] (1: the plain
    /// most probable label).
    pub tumour_sensitivity: f64,
}

/// A segmentation and how it was made.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// Labels 0/1/2 on the CT's grid, linked to the CT's file.
    pub labels: LabelVolume,
    pub report: SegmentationReport,
    /// The network's last pass, to label again at another tumour sensitivity; `None` when the
    /// locator found no organ (no pass ran: background at any sensitivity).
    pub output: Option<SegmenterOutput>,
}

/// A segmenter's last pass on a CT: the probability of each class on the model's grid and
/// what decides the labels from it, kept so that the labels can be chosen again at another
/// tumour sensitivity without running the network: [`SegmenterOutput::relabel`] gives the
/// labels a run at that sensitivity gives (the cube is re-centred on the model's plain,
/// sensitivity 1 outline either way).
#[derive(Debug, Clone)]
pub struct SegmenterOutput {
    /// Probability of class `c` (the label value) at `channels[c]`, on the model's grid
    /// (its world geometry matches the CT's; about 10 MB for 3 classes at 96³).
    channels: Vec<Volume<f32>>,
    /// The cube of CT voxels the pass saw (background outside); `None`: the whole box.
    region: Option<RegionBox>,
    /// The card's `min_lesion_ml` (mL).
    min_lesion_ml: f64,
}

impl SegmenterOutput {
    /// The labels on `ct`'s grid (the CT this pass ran on) with each voxel's tumour
    /// probability multiplied by `tumour_sensitivity` before the most probable class is taken,
    /// and tumour pieces under `min_lesion_ml` turned into organ; also how many were.
    pub fn relabel(&self, ct: &CtVolume, tumour_sensitivity: f64) -> Result<(LabelVolume, usize)> {
        let mut labels = self.labels_before_dropping(ct, tumour_sensitivity)?;
        let dropped = if self.min_lesion_ml > 0.0 {
            drop_small_lesions(&mut labels, self.min_lesion_ml)
        } else {
            0
        };
        Ok((labels, dropped))
    }

    /// The most probable class at each voxel of `ct`'s grid, the tumour's probability scaled
    /// first (interpolation is linear, so scaling before or after it is the same).
    fn labels_before_dropping(
        &self,
        ct: &CtVolume,
        tumour_sensitivity: f64,
    ) -> Result<LabelVolume> {
        let tumour = usize::from(TUMOUR_LABEL);
        let scaled;
        let channels = if tumour_sensitivity != 1.0 && tumour < self.channels.len() {
            let factor = tumour_sensitivity as f32;
            let mut copy = self.channels.clone();
            copy[tumour].voxels.iter_mut().for_each(|p| *p *= factor);
            scaled = copy;
            &scaled
        } else {
            &self.channels
        };
        // Outside its cube a region model saw nothing: background there.
        let labels = match &self.region {
            Some(region) => resample_argmax_where(channels, &ct.grid, |v| region.contains(v)),
            None => resample_argmax(channels, &ct.grid),
        };
        let mut labels = ct.with_voxels(labels.voxels)?;
        labels.source = ct.source.clone();
        Ok(labels)
    }
}

/// [`segment`], also saying what it did beyond one pass of the network.
pub fn segment_reporting(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<(LabelVolume, SegmentationReport)>> {
    Ok(segment_keeping(model, ct, cancel, on_stage)?.map(|s| (s.labels, s.report)))
}

/// [`segment_reporting`], also keeping the network's last pass
/// ([`Segmentation::output`]) so that the labels can be chosen again at another tumour
/// sensitivity.
pub fn segment_keeping(
    model: &LoadedModel,
    ct: &CtVolume,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<Segmentation>> {
    let mut report = SegmentationReport {
        min_lesion_ml: model.card.min_lesion_ml,
        tumour_sensitivity: model.card.tumour_sensitivity,
        ..SegmentationReport::default()
    };
    let Network::Unet(_) = &model.network else {
        bail!("{}: not a segmentation (U-Net) model", model.path.display());
    };
    on_stage(Stage::Preprocessing);
    let (region, organ) = match view_for(model, ct, None, cancel)? {
        View::WholeBox => (None, None),
        View::Region(region, organ) => (Some(region), Some(*organ)),
        View::NoOrgan => {
            // No organ, so no tumour: an empty label map.
            let mut labels = ct.with_voxels(vec![0u8; ct.voxels.len()])?;
            labels.source = ct.source.clone();
            return Ok(Some(Segmentation {
                labels,
                report,
                output: None,
            }));
        }
        View::Cancelled => return Ok(None),
    };
    let Some(mut output) =
        segment_view(model, ct, region.as_ref(), organ.as_ref(), cancel, on_stage)?
    else {
        return Ok(None);
    };
    let pre = &model.card.preprocessing;
    if let (Region::OrganCube { margin_mm }, Some(mut seen_region), Some(mut seen_organ)) =
        (pre.region, region, organ)
    {
        for _ in 0..model.card.cube_refinements {
            // The cube around what the model itself outlined as it was validated (tumour
            // sensitivity 1: the organ's place does not depend on how eagerly tumour is
            // labelled); where it outlined nothing, the locator's (or the last) answer stands.
            let organ = main_organ_pieces(&output.labels_before_dropping(ct, 1.0)?);
            let Some(region) = organ_cube(&organ, margin_mm) else {
                break;
            };
            // The input of the pass just run would give its labels again: they stand.
            let same_organ = !pre.reads_organ_labels() || organ.voxels == seen_organ.voxels;
            if region == seen_region && same_organ {
                break;
            }
            on_stage(Stage::Refining);
            match segment_view(model, ct, Some(&region), Some(&organ), cancel, &mut |_| {})? {
                Some(refined) => output = refined,
                None => return Ok(None),
            }
            report.recentrings += 1;
            (seen_region, seen_organ) = (region, organ);
        }
    }
    let (labels, dropped) = output.relabel(ct, model.card.tumour_sensitivity)?;
    report.lesions_dropped = dropped;
    Ok(Some(Segmentation {
        labels,
        report,
        output: Some(output),
    }))
}

/// Runs the U-Net `model` on `region` of `ct` (the whole box when `None`; `organ`: the
/// outline that chose the region) and returns its class probabilities, to be labelled on the
/// CT's grid (background outside the region). `Ok(None)` when cancelled.
fn segment_view(
    model: &LoadedModel,
    ct: &CtVolume,
    region: Option<&RegionBox>,
    organ: Option<&LabelVolume>,
    cancel: &CancelToken,
    on_stage: &mut dyn FnMut(Stage),
) -> Result<Option<SegmenterOutput>> {
    let Some(logits) = run_network(model, ct, region, organ, cancel, on_stage)? else {
        return Ok(None);
    };
    let pre = model.card.preprocessing;
    let probabilities = candle_nn::ops::softmax(&logits, 1)?.squeeze(0)?;
    let classes = probabilities.dim(0)?;
    let channels = (0..classes)
        .map(|c| {
            let voxels = voxels_from_tensor(&probabilities.get(c)?)?;
            model_volume(&pre, &ct.grid, region, voxels).context("model output size")
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(SegmenterOutput {
        channels,
        region: region.copied(),
        min_lesion_ml: model.card.min_lesion_ml,
    }))
}
