//! Shared by the viewer tests: the bundled sample case and the models they run: the shipped
//! liver U-Net and a tiny real CNN trained on the spot (fast, and independent of the shipped
//! classifier).

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../training_common/mod.rs"]
mod training_common;

use oncoscope::model::ModelKind;
use oncoscope::volume::decathlon::{DatasetWriter, Task};
use oncoscope::volume::phantom::{PhantomOptions, case_seed, generate_case};
use training_common::{tiny_config, train_from_scratch};

pub fn sample() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample");
    (dir.join("ct.nii.gz"), dir.join("label.nii.gz"))
}

/// A weights folder with the shipped liver U-Net and the tiny CNN of [`tiny_weights`]. The
/// shipped U-Net outlines the sample's liver every time; a one-epoch U-Net's organ can be too
/// small to show in 3D or to overlap the ground truth, depending on the run.
pub fn viewer_weights(root: &Path) -> PathBuf {
    let weights = tiny_weights(root);
    copy_shipped_liver_unet(&weights);
    weights
}

/// Copies the shipped liver U-Net into `weights`, with its organ locator when it is a model of
/// the organ's region.
pub fn copy_shipped_liver_unet(weights: &Path) {
    let shipped = oncoscope::model::weights::shipped_weights_dir();
    for name in ["liver_unet", "liver_locator"] {
        for ext in ["json", "safetensors"] {
            let file = shipped.join(format!("{name}.{ext}"));
            if file.is_file() {
                std::fs::copy(&file, weights.join(format!("{name}.{ext}"))).unwrap();
            }
        }
    }
}

/// Writes `n` small liver phantoms (40–48 voxels per axis) as a Decathlon data set.
pub fn phantom_dataset(data: &Path, n: u64, seed: u64) {
    let mut writer = DatasetWriter::create(data, Task::Liver, "Task03_Liver", "ui test").unwrap();
    let options = PhantomOptions {
        voxels_per_axis: Some((40, 48)),
        ..PhantomOptions::small()
    };
    for i in 0..n {
        let case = generate_case(Task::Liver, case_seed(seed, i), &options).unwrap();
        writer
            .add_case(
                &format!("liver_{i}"),
                &case.ct,
                &case.labels,
                case.file_order,
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

/// Trains a tiny U-Net and CNN for one epoch on generated phantoms and puts them in a weights
/// folder named as the shipped one is (`liver_unet`, `liver_cnn`).
pub fn tiny_weights(root: &Path) -> PathBuf {
    let data = root.join("data");
    phantom_dataset(&data, 4, 5);
    let weights = root.join("weights");
    std::fs::create_dir_all(&weights).unwrap();
    for kind in [ModelKind::Unet, ModelKind::Cnn] {
        let run = root.join(format!("run_{}", kind.name()));
        let config = tiny_config(&data, &run, kind, 1);
        train_from_scratch(&config).unwrap();
        for ext in ["json", "safetensors"] {
            std::fs::copy(
                run.join(format!("best.{ext}")),
                weights.join(format!("liver_{}.{ext}", kind.name())),
            )
            .unwrap();
        }
    }
    weights
}
