//! Where trained models are found: the shipped `weights/` folder, `<organ>_<kind>` file names,
//! and training run folders (their `best` checkpoint).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::checkpoint::{LoadedModel, read_card_to_edit};
use super::config::ModelKind;
use crate::volume::decathlon::Task;

/// The shipped weights folder: `weights/` beside the crate the binary was built from, else in
/// the current folder, else beside the executable. The first that exists; the crate's when
/// none does (so error messages name the expected place).
pub fn shipped_weights_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let mut candidates = vec![crate_dir.clone(), PathBuf::from("weights")];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(exe_dir.join("weights"));
    }
    candidates
        .into_iter()
        .find(|dir| dir.is_dir())
        .unwrap_or(crate_dir)
}

/// The model files (stem, without extension) for `task` and `kind` in `dir`:
/// `DIR/<organ>_<kind>.{json,safetensors}`; for a training run folder `DIR/best` when it
/// holds a model of that kind; for the training panel's two-model runs `DIR/<kind>/best`.
/// `None` when none exists.
pub fn model_stem(dir: &Path, task: Task, kind: ModelKind) -> Option<PathBuf> {
    let named = dir.join(format!("{}_{}", task.organ(), kind.name()));
    if named.with_extension("json").is_file() {
        return Some(named);
    }
    [dir.join("best"), dir.join(kind.name()).join("best")]
        .into_iter()
        .find(|best| read_card_to_edit(best).is_ok_and(|card| card.architecture.kind == kind))
}

/// Refuses a model trained for another task than `task` (a run folder or a renamed file of the
/// other organ), naming its weights file.
pub fn check_model_task(model: &LoadedModel, task: Task) -> Result<()> {
    if model.card.task != task.organ() {
        bail!(
            "{}: a {} model, not a {} one: choose the {} task or other weights",
            model.path.display(),
            model.card.task,
            task.organ(),
            model.card.task
        );
    }
    Ok(())
}
