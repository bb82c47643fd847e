//! The training job: one run at a time (U-Net, CNN or both, one after the other) on the
//! training thread, its progress forwarded as [`Event::Training`], and after every epoch the
//! model of that moment run on one validation case, so the viewer can show what it learns.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::requests::{Event, JobKind, TrainingPreview, TrainingRequest};
use super::worker::Reporter;
use crate::model::ModelKind;
use crate::model::checkpoint::{LoadedModel, device_by_name};
use crate::model::inference::{classify, segment};
use crate::model::organ_fill::OutsideOrgan;
use crate::model::training::data::open_dataset;
use crate::model::training::{CaseRef, TrainingEvent, TrainingOutcome, train};
use crate::volume::CtVolume;
use crate::volume::nifti::read_ct;

/// The run folder of `kind` in a run rooted at `root`: the root itself for a one-model run
/// (as `oncoscope train --out` writes it), `root/<kind>` when both models train.
pub fn run_dir_of(root: &std::path::Path, kinds: &[ModelKind], kind: ModelKind) -> PathBuf {
    if kinds.len() > 1 {
        root.join(kind.name())
    } else {
        root.to_path_buf()
    }
}

/// Runs the request's models in turn; stops early when the run is stopped or one fails.
pub(super) fn training_job(request: TrainingRequest, reporter: &Reporter) -> Result<()> {
    let device = device_by_name(&request.device)?;
    let mut outcomes: Vec<(ModelKind, TrainingOutcome)> = Vec::new();
    // The validation case the models are previewed on, read once.
    let mut preview: Option<(PathBuf, Arc<CtVolume>)> = None;
    for &kind in &request.kinds {
        let mut config = request.config.clone();
        config.architecture.kind = kind;
        if kind == ModelKind::Unet {
            // Filling outside the organ and the locator's tumour are for the classifier: a
            // segmenter must see the organ's edges to draw them, and find lesions itself.
            config.preprocessing.outside_organ = OutsideOrgan::Keep;
            config.preprocessing.locator_tumour_channel = false;
        } else {
            // Re-centring, dropping tumour pieces and weighing tumour are the segmenter's.
            config.cube_refinements = None;
            config.min_lesion_ml = None;
            config.tumour_weight = None;
            config.balance_lesions = None;
            config.lesion_loss = None;
            config.false_piece_loss = None;
            config.lesion_crop_voxels = None;
        }
        config.out = run_dir_of(&request.config.out, &request.kinds, kind);
        let mut on_event = |event: &TrainingEvent| {
            reporter.send(Event::Training {
                kind,
                event: event.clone(),
            });
            let result = match event {
                TrainingEvent::Started { validation, .. }
                    if request.preview && preview.is_none() =>
                {
                    open_preview_case(&config.data, validation, reporter).map(|p| preview = p)
                }
                TrainingEvent::Epoch(summary) => match &preview {
                    Some((ct_path, ct)) => preview_epoch(
                        &config.out,
                        kind,
                        summary.epoch,
                        (ct_path, ct),
                        &device,
                        reporter,
                    ),
                    None => Ok(()),
                },
                _ => Ok(()),
            };
            // A failing preview is reported but does not stop the training.
            if let Err(e) = result {
                reporter.failed(JobKind::Preview, format!("{e:#}"));
            }
        };
        // Resuming a two-model run: a model that never started starts afresh.
        let resume = request.resume && config.out.join("last.json").is_file();
        let outcome = train(&config, &device, resume, &request.control, &mut on_event)
            .with_context(|| format!("training the {}", kind.label()))?;
        let cancelled = outcome.cancelled;
        outcomes.push((kind, outcome));
        if cancelled {
            break;
        }
    }
    reporter.send(Event::TrainingFinished {
        root: request.config.out.clone(),
        outcomes,
    });
    Ok(())
}

/// Picks the validation case to preview (the first with a tumour, else the first), tells the
/// viewer about it and reads its CT.
fn open_preview_case(
    data: &std::path::Path,
    validation: &[CaseRef],
    reporter: &Reporter,
) -> Result<Option<(PathBuf, Arc<CtVolume>)>> {
    let Some(chosen) = validation
        .iter()
        .find(|c| c.has_tumour)
        .or(validation.first())
    else {
        return Ok(None);
    };
    let dataset = open_dataset(data)?;
    let Some(case) = dataset.training.iter().find(|c| c.id == chosen.id) else {
        // An extra normal scan: no label map to compare with; skip the preview.
        return Ok(None);
    };
    let ct = Arc::new(read_ct(&case.image)?);
    reporter.send(Event::TrainingPreviewCase {
        ct: case.image.clone(),
        ground_truth: case.label.clone(),
    });
    Ok(Some((case.image.clone(), ct)))
}

/// Runs the run's `last` checkpoint (the model after `epoch`) on the preview CT.
fn preview_epoch(
    run_dir: &std::path::Path,
    kind: ModelKind,
    epoch: usize,
    (ct_path, ct): (&std::path::Path, &CtVolume),
    device: &candle_core::Device,
    reporter: &Reporter,
) -> Result<()> {
    let model = LoadedModel::load(&run_dir.join("last"), device)?;
    let never = crate::model::progress::CancelToken::new();
    let preview = match kind {
        ModelKind::Unet => segment(&model, ct, &never, &mut |_| {})?
            .map(|labels| TrainingPreview::Segmentation(Arc::new(labels))),
        ModelKind::Cnn => {
            classify(&model, ct, &never, &mut |_| {})?.map(TrainingPreview::Classification)
        }
    };
    if let Some(preview) = preview {
        reporter.send(Event::TrainingPreviewReady {
            kind,
            epoch,
            ct_path: ct_path.to_path_buf(),
            model: model.path.clone(),
            preview,
        });
    }
    Ok(())
}
