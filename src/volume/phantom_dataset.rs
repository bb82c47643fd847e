//! Whole synthetic data sets: `count` phantoms of one task written in the Decathlon layout,
//! case `i` from a seed derived from the data-set seed, so one call always writes the same
//! files. Shared by `oncoscope synth` and the training panel's "Generate".

use std::path::{Path, PathBuf};

use super::VolumeError;
use super::decathlon::{CaseFiles, DatasetWriter, Task};
use super::phantom::{PhantomCase, PhantomOptions, case_seed, generate_case};

/// Writes `count` phantoms for `task` into `out` (created if needed) with `dataset.json`;
/// `on_case(index, id, case, files)` follows each written case. Returns the `dataset.json`
/// path.
pub fn write_phantom_dataset(
    out: &Path,
    task: Task,
    count: usize,
    seed: u64,
    options: &PhantomOptions,
    on_case: &mut dyn FnMut(usize, &str, &PhantomCase, &CaseFiles),
) -> Result<PathBuf, VolumeError> {
    if count == 0 {
        return Err(VolumeError::format(
            out,
            "a data set needs at least one case",
        ));
    }
    let description = format!(
        "Synthetic abdominal CT phantoms ({}; labels 0 background, 1 {}, 2 cancer), written by \
         `oncoscope synth --task {} --cases {count} --seed {seed}`. No patient data.",
        task.decathlon_name(),
        task.organ(),
        task.organ(),
    );
    let mut writer = DatasetWriter::create(
        out,
        task,
        &format!("{}_synthetic", task.decathlon_name()),
        &description,
    )?;
    let width = (count - 1).to_string().len().max(3);
    for index in 0..count {
        let id = format!("{}_{index:0width$}", task.organ());
        let case = generate_case(task, case_seed(seed, index as u64), options)?;
        let files = writer.add_case(&id, &case.ct, &case.labels, case.file_order)?;
        on_case(index, &id, &case, &files);
    }
    writer.finish()
}
