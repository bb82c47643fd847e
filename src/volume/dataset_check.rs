//! Checking a Decathlon-layout data set before training: how many cases, which labels, how
//! many with tumour, and what is missing or malformed, each problem naming its file. Reads
//! every image and label map whole, so that a truncated file or a label map that does not lie
//! on its CT is found here rather than part-way through a training run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::VolumeError;
use super::decathlon::{ORGAN_LABEL, TUMOUR_LABEL, Task, list_dataset};
use super::nifti::{check_same_grid, read_ct, read_labels};

/// What was found for one training case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseCheck {
    pub id: String,
    /// Voxel counts of the image, in its file's axis order; `None` when unreadable.
    pub image_dims: Option<[usize; 3]>,
    /// Label values present in the label map (empty when unreadable).
    pub label_values: BTreeSet<u8>,
    /// Problems, each naming its file; empty for a usable case.
    pub problems: Vec<String>,
}

impl CaseCheck {
    pub fn is_usable(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn has_tumour(&self) -> bool {
        self.label_values.contains(&TUMOUR_LABEL)
    }
}

/// A data set as training would see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetCheck {
    pub root: PathBuf,
    /// `name` from `dataset.json`, if any.
    pub name: Option<String>,
    /// Label names from `dataset.json` (empty without one).
    pub labels: BTreeMap<u8, String>,
    /// The task the data set declares (organ label name or data set name), if any.
    pub declared_task: Option<Task>,
    pub cases: Vec<CaseCheck>,
    /// Problems of the data set as a whole (no cases, another task's data, …).
    pub dataset_problems: Vec<String>,
}

impl DatasetCheck {
    /// The declared labels as "0 background, 1 liver, 2 cancer"; `None` without any.
    pub fn labels_line(&self) -> Option<String> {
        (!self.labels.is_empty()).then(|| {
            self.labels
                .iter()
                .map(|(value, name)| format!("{value} {name}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    pub fn usable_cases(&self) -> usize {
        self.cases.iter().filter(|c| c.is_usable()).count()
    }

    /// Usable cases with tumour voxels.
    pub fn tumour_cases(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.is_usable() && c.has_tumour())
            .count()
    }

    /// Every problem: the data set's, then each case's.
    pub fn problems(&self) -> Vec<String> {
        self.dataset_problems
            .iter()
            .chain(self.cases.iter().flat_map(|c| &c.problems))
            .cloned()
            .collect()
    }

    /// One line: "`N` cases (`T` with tumour, `N − T` without)" plus the problem count.
    pub fn summary(&self) -> String {
        let usable = self.usable_cases();
        let tumour = self.tumour_cases();
        let problems = self.problems().len();
        let mut line = format!(
            "{usable} usable cases ({tumour} with tumour, {} without)",
            usable - tumour
        );
        if problems > 0 {
            line.push_str(&format!("; {problems} problem(s)"));
        }
        line
    }
}

/// Checks the data set in `root` for training on `task` (the declared task when `None`).
/// `on_case(done, total, id)` reports progress. Errors only when the folder itself cannot be
/// listed (not a folder, malformed `dataset.json`, unpaired files); everything found case by
/// case is reported in the result.
pub fn check_dataset(
    root: &Path,
    task: Option<Task>,
    on_case: &mut dyn FnMut(usize, usize, &str),
) -> Result<DatasetCheck, VolumeError> {
    let dataset = list_dataset(root)?;
    let declared_task = dataset.task();
    let mut dataset_problems = Vec::new();
    if dataset.training.is_empty() {
        dataset_problems.push(format!("{}: no training cases", root.display()));
    }
    if let (Some(wanted), Some(declared)) = (task, declared_task)
        && wanted != declared
    {
        dataset_problems.push(format!(
            "{}: a {} data set, not {}",
            root.display(),
            declared.organ(),
            wanted.organ()
        ));
    }
    let total = dataset.training.len();
    let mut cases = Vec::with_capacity(total);
    for (index, case) in dataset.training.iter().enumerate() {
        on_case(index, total, &case.id);
        cases.push(check_case(&case.id, &case.image, &case.label));
    }
    on_case(total, total, "");
    Ok(DatasetCheck {
        root: root.to_path_buf(),
        name: dataset.name,
        labels: dataset.labels,
        declared_task,
        cases,
        dataset_problems,
    })
}

fn check_case(id: &str, image: &Path, label: &Path) -> CaseCheck {
    let missing: Vec<String> = [image, label]
        .into_iter()
        .filter(|path| !path.is_file())
        .map(|path| format!("{}: listed in dataset.json but missing", path.display()))
        .collect();
    if !missing.is_empty() {
        return CaseCheck {
            id: id.to_string(),
            image_dims: None,
            label_values: BTreeSet::new(),
            problems: missing,
        };
    }
    let mut problems = Vec::new();
    let ct = match read_ct(image) {
        Ok(ct) => Some(ct),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let image_dims = ct
        .as_ref()
        .and_then(|ct| ct.source.as_ref())
        .map(|s| s.file_dims);
    let mut label_values = BTreeSet::new();
    match read_labels(label) {
        Ok(labels) => {
            let mut seen = [false; 256];
            for &v in &labels.voxels {
                seen[v as usize] = true;
            }
            label_values = (0..=255u8).filter(|&v| seen[v as usize]).collect();
            let file_dims = labels.source.as_ref().map(|s| s.file_dims);
            if let (Some(image_dims), Some(label_dims)) = (image_dims, file_dims)
                && image_dims != label_dims
            {
                problems.push(format!(
                    "{}: {label_dims:?} voxels, but its image has {image_dims:?}",
                    label.display()
                ));
            } else if let Some(ct) = &ct
                && let Err(why) = check_same_grid(&labels.grid, &ct.grid)
            {
                problems.push(format!(
                    "{}: does not lie on its image {}: {why}",
                    label.display(),
                    image.display()
                ));
            }
            let unexpected: Vec<u8> = label_values
                .iter()
                .copied()
                .filter(|&v| v > TUMOUR_LABEL)
                .collect();
            if !unexpected.is_empty() {
                problems.push(format!(
                    "{}: label values {unexpected:?} beyond 0 (background), 1 (organ), 2 (tumour)",
                    label.display()
                ));
            }
            if !label_values.contains(&ORGAN_LABEL) && !label_values.contains(&TUMOUR_LABEL) {
                problems.push(format!("{}: no organ or tumour voxels", label.display()));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    CaseCheck {
        id: id.to_string(),
        image_dims,
        label_values,
        problems,
    }
}
