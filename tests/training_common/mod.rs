//! Shared by the training tests: small generated data sets and a tiny, fast training set-up.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::path::Path;

use candle_core::Device;
use oncoscope::model::preprocess::Preprocessing;
use oncoscope::model::progress::RunControl;
use oncoscope::model::training::data::Augmentation;
use oncoscope::model::training::{TrainConfig, TrainingOutcome, train};
use oncoscope::model::{Architecture, GlobalPool, ModelKind};
use oncoscope::volume::decathlon::{DatasetWriter, Task};
use oncoscope::volume::phantom::{PhantomOptions, case_seed, generate_case};

/// Writes `n` small phantoms of `task` (about 40–48 voxels per axis) into `root` as a
/// Decathlon data set, with `lesion_count` lesions each (`None`: at random).
pub fn write_phantoms(root: &Path, task: Task, n: usize, seed: u64, lesion_count: Option<usize>) {
    let mut writer = DatasetWriter::create(root, task, task.decathlon_name(), "test").unwrap();
    let options = PhantomOptions {
        voxels_per_axis: Some((40, 48)),
        lesion_count,
        ..PhantomOptions::small()
    };
    for i in 0..n {
        let case = generate_case(task, case_seed(seed, i as u64), &options).unwrap();
        writer
            .add_case(
                &format!("{}_{i:03}", task.organ()),
                &case.ct,
                &case.labels,
                case.file_order,
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

/// A tiny liver model (widths 4/8/8/8, 16³ whole box, no augmentation) of `kind`, trained on
/// `data` for `epochs` into `out`.
pub fn tiny_config(data: &Path, out: &Path, kind: ModelKind, epochs: usize) -> TrainConfig {
    TrainConfig {
        data: data.to_path_buf(),
        task: Task::Liver,
        architecture: Architecture {
            kind,
            channels: [4, 8, 8, 8],
            global_pool: GlobalPool::Average,
        },
        preprocessing: Preprocessing::cube(16),
        epochs,
        batch_size: 2,
        learning_rate: 3e-3,
        validation_fraction: 0.25,
        seed: 1,
        augmentation: Augmentation::NONE,
        normals: None,
        out: out.to_path_buf(),
        max_cases: None,
        locator: None,
        init_from: None,
        cube_refinements: None,
        min_lesion_ml: None,
        tumour_weight: None,
        balance_lesions: None,
        lesion_crop_voxels: None,
        lesion_loss: None,
        false_piece_loss: None,
    }
}

/// Trains `config` from scratch on the CPU, without a control or progress events.
pub fn train_from_scratch(config: &TrainConfig) -> anyhow::Result<TrainingOutcome> {
    train(config, &Device::Cpu, false, &RunControl::new(), &mut |_| {})
}
