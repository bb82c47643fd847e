//! Datasets in Medical Segmentation Decathlon layout: `dataset.json`, `imagesTr/*.nii.gz`,
//! `labelsTr/*.nii.gz` (same file names), optionally `imagesTs/`.
//!
//! Writing: [`DatasetWriter`] stores cases (CT as int16, labels as uint8, in any voxel order) and
//! finally `dataset.json`. Reading: [`read_dataset`] lists the cases from `dataset.json` or,
//! without one, by pairing `imagesTr/` and `labelsTr/` by file name. Every error names the
//! folder or file at fault. Labels: 0 background, 1 organ, 2 tumour ("cancer").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::nifti::write_volume;
use super::{AxisMap, CtVolume, LabelVolume, Volume, VolumeError};

/// The Decathlon tasks Oncoscope works on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Task03_Liver: liver and liver tumours.
    Liver,
    /// Task07_Pancreas: pancreas and pancreatic tumours.
    Pancreas,
}

impl Task {
    /// Both tasks.
    pub const ALL: [Task; 2] = [Task::Liver, Task::Pancreas];

    /// The organ's name as used in labels and file names: `"liver"` or `"pancreas"`.
    pub fn organ(self) -> &'static str {
        match self {
            Task::Liver => "liver",
            Task::Pancreas => "pancreas",
        }
    }

    /// The Decathlon folder name, e.g. `"Task03_Liver"`.
    pub fn decathlon_name(self) -> &'static str {
        match self {
            Task::Liver => "Task03_Liver",
            Task::Pancreas => "Task07_Pancreas",
        }
    }

    /// Label values and names: 0 background, 1 the organ, 2 cancer.
    pub fn labels(self) -> BTreeMap<u8, String> {
        BTreeMap::from([
            (0, "background".to_string()),
            (ORGAN_LABEL, self.organ().to_string()),
            (TUMOUR_LABEL, "cancer".to_string()),
        ])
    }
}

/// Label value of organ voxels in the Decathlon liver and pancreas tasks.
pub const ORGAN_LABEL: u8 = 1;
/// Label value of tumour voxels in the Decathlon liver and pancreas tasks.
pub const TUMOUR_LABEL: u8 = 2;

/// Refuses a ground-truth label map that uses values beyond 0 (background), 1 (organ) and
/// 2 (tumour), e.g. a multi-organ map, which would otherwise be scored as if its other
/// structures were background. `path` names the file.
pub fn check_task_labels(path: &Path, labels: &LabelVolume) -> Result<(), VolumeError> {
    let mut seen = [false; 256];
    for &v in &labels.voxels {
        seen[v as usize] = true;
    }
    let beyond: Vec<usize> = (usize::from(TUMOUR_LABEL) + 1..256)
        .filter(|&v| seen[v])
        .collect();
    if beyond.is_empty() {
        return Ok(());
    }
    Err(VolumeError::format(
        path,
        format!(
            "label values {beyond:?} beyond 0 (background), 1 (organ), 2 (tumour): not a liver \
             or pancreas ground truth as the Decathlon lays it out"
        ),
    ))
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.organ())
    }
}

impl FromStr for Task {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "liver" | "task03_liver" => Ok(Task::Liver),
            "pancreas" | "task07_pancreas" => Ok(Task::Pancreas),
            other => Err(format!(
                "unknown task {other:?}: expected liver or pancreas"
            )),
        }
    }
}

/// One training case: an image and its label map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecathlonCase {
    /// The file name without `.nii.gz`/`.nii`, e.g. `"liver_7"`.
    pub id: String,
    pub image: PathBuf,
    pub label: PathBuf,
}

/// A dataset folder's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct DecathlonDataset {
    pub root: PathBuf,
    /// `name` from `dataset.json`, if there is one.
    pub name: Option<String>,
    /// Label values and names (from `dataset.json`; empty without one).
    pub labels: BTreeMap<u8, String>,
    /// Training cases, sorted by id (numbers in ids compare numerically).
    pub training: Vec<DecathlonCase>,
    /// Test images (no labels), sorted.
    pub test_images: Vec<PathBuf>,
}

impl DecathlonDataset {
    /// The task, guessed from the organ label name or the dataset name.
    pub fn task(&self) -> Option<Task> {
        let label = self.labels.get(&1).map(|s| s.to_ascii_lowercase());
        let name = self.name.as_deref().unwrap_or("").to_ascii_lowercase();
        Task::ALL.into_iter().find(|t| {
            label.as_deref() == Some(t.organ()) || (label.is_none() && name.contains(t.organ()))
        })
    }
}

/// `dataset.json` as written by the Decathlon (field order kept).
#[derive(Debug, Serialize)]
struct DatasetJsonOut<'a> {
    name: &'a str,
    description: &'a str,
    reference: &'a str,
    licence: &'a str,
    release: &'a str,
    #[serde(rename = "tensorImageSize")]
    tensor_image_size: &'a str,
    modality: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    #[serde(rename = "numTraining")]
    num_training: usize,
    #[serde(rename = "numTest")]
    num_test: usize,
    training: Vec<TrainingEntry>,
    test: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TrainingEntry {
    image: String,
    label: String,
}

/// The parts of `dataset.json` we read; everything else is ignored.
#[derive(Debug, Deserialize)]
struct DatasetJsonIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    training: Vec<TrainingEntry>,
    #[serde(default)]
    test: Vec<serde_json::Value>,
}

/// The paths of one written case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFiles {
    /// Relative to the dataset root, e.g. `imagesTr/liver_000.nii.gz`.
    pub image: PathBuf,
    pub label: PathBuf,
}

/// Writes a dataset case by case; [`DatasetWriter::finish`] writes `dataset.json` last, so a
/// folder with a `dataset.json` is complete.
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    task: Task,
    name: String,
    description: String,
    ids: Vec<String>,
}

impl DatasetWriter {
    /// Prepares `root` (creating it and `imagesTr/`, `labelsTr/`). Files of the same names
    /// already there are overwritten.
    pub fn create(
        root: &Path,
        task: Task,
        name: &str,
        description: &str,
    ) -> Result<Self, VolumeError> {
        for dir in [root.join("imagesTr"), root.join("labelsTr")] {
            std::fs::create_dir_all(&dir).map_err(|e| VolumeError::io(&dir, e))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            task,
            name: name.to_string(),
            description: description.to_string(),
            ids: Vec::new(),
        })
    }

    /// The dataset folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one case: the CT rounded to int16 HU and the labels as uint8, both with their
    /// voxels in `file_order` (applied to the volumes' RAS order; world positions unchanged).
    pub fn add_case(
        &mut self,
        id: &str,
        ct: &CtVolume,
        labels: &LabelVolume,
        file_order: AxisMap,
    ) -> Result<CaseFiles, VolumeError> {
        let valid = !id.is_empty()
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid {
            return Err(VolumeError::format(
                &self.root,
                format!("case id {id:?} is not a plain file name (letters, digits, _ - .)"),
            ));
        }
        if self.ids.iter().any(|existing| existing == id) {
            return Err(VolumeError::format(
                &self.root,
                format!("case id {id:?} written twice"),
            ));
        }
        if ct.grid.dims != labels.grid.dims {
            return Err(VolumeError::Mismatch(format!(
                "case {id}: CT grid {:?} and label grid {:?} differ",
                ct.grid.dims, labels.grid.dims
            )));
        }
        let files = CaseFiles {
            image: Path::new("imagesTr").join(format!("{id}.nii.gz")),
            label: Path::new("labelsTr").join(format!("{id}.nii.gz")),
        };
        write_volume(&self.root.join(&files.image), &hu_to_i16(ct), file_order)?;
        write_volume(&self.root.join(&files.label), labels, file_order)?;
        self.ids.push(id.to_string());
        Ok(files)
    }

    /// Writes `dataset.json` listing every case added; returns its path.
    pub fn finish(self) -> Result<PathBuf, VolumeError> {
        let to_strings = |m: BTreeMap<u8, String>| {
            m.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>()
        };
        let json = DatasetJsonOut {
            name: &self.name,
            description: &self.description,
            reference: "Oncoscope synthetic phantom generator (oncoscope synth)",
            licence: "synthetic data, no patient data; free to use",
            release: env!("CARGO_PKG_VERSION"),
            tensor_image_size: "3D",
            modality: BTreeMap::from([("0".to_string(), "CT".to_string())]),
            labels: to_strings(self.task.labels()),
            num_training: self.ids.len(),
            num_test: 0,
            training: self
                .ids
                .iter()
                .map(|id| TrainingEntry {
                    image: format!("./imagesTr/{id}.nii.gz"),
                    label: format!("./labelsTr/{id}.nii.gz"),
                })
                .collect(),
            test: Vec::new(),
        };
        let path = self.root.join("dataset.json");
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| VolumeError::format(&path, e.to_string()))?;
        std::fs::write(&path, text + "\n").map_err(|e| VolumeError::io(&path, e))?;
        Ok(path)
    }
}

/// The CT rounded to the nearest integer HU and clamped to the int16 range.
pub fn hu_to_i16(ct: &CtVolume) -> Volume<i16> {
    let voxels = ct
        .voxels
        .iter()
        .map(|&v| v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16)
        .collect();
    Volume {
        grid: ct.grid.clone(),
        voxels,
        source: ct.source.clone(),
    }
}

/// The id of a NIfTI file name (`x.nii.gz` or `x.nii` → `x`), or `None` for other files.
fn nifti_id(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".nii.gz")
        .or_else(|| file_name.strip_suffix(".nii"))
        .filter(|id| !id.is_empty())
}

/// NIfTI files in `dir` by id, skipping hidden files (the Decathlon archives hold `._*`
/// resource forks beside the real files).
fn nifti_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>, VolumeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| VolumeError::io(dir, e))?;
    let mut out = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| VolumeError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Some(id) = nifti_id(&name) {
            out.insert(id.to_string(), entry.path());
        }
    }
    Ok(out)
}

/// Compares ids so that `case_2` sorts before `case_10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<(bool, String)> {
        let mut parts: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match parts.last_mut() {
                Some((d, part)) if *d == digit => part.push(c),
                _ => parts.push((digit, c.to_string())),
            }
        }
        parts
    };
    let (pa, pb) = (split(a), split(b));
    for ((da, sa), (db, sb)) in pa.iter().zip(&pb) {
        let ord = if *da && *db {
            let (ta, tb) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord.is_ne() {
            return ord;
        }
    }
    pa.len().cmp(&pb.len()).then_with(|| a.cmp(b))
}

/// What to do with a training file that `dataset.json` lists but the folder lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingFiles {
    /// Refuse the data set, naming the file (training and evaluation need every case).
    Refuse,
    /// Keep the case (for a check that reports it as that case's problem).
    Keep,
}

/// Resolves a path from `dataset.json` (`./imagesTr/x.nii.gz`) against the dataset root and,
/// with `MissingFiles::Refuse`, checks that the file exists.
fn resolve_listed(
    root: &Path,
    json_path: &Path,
    listed: &str,
    missing: MissingFiles,
) -> Result<PathBuf, VolumeError> {
    let relative = listed.strip_prefix("./").unwrap_or(listed);
    if relative.is_empty() || Path::new(relative).is_absolute() {
        return Err(VolumeError::format(
            json_path,
            format!("entry {listed:?} is not a path inside the dataset folder"),
        ));
    }
    let path = root.join(relative);
    if missing == MissingFiles::Refuse && !path.is_file() {
        return Err(VolumeError::format(
            &path,
            format!("listed in {} but missing", json_path.display()),
        ));
    }
    Ok(path)
}

/// Lists a Decathlon dataset folder: from `dataset.json` when present, else by pairing
/// `imagesTr/*.nii(.gz)` with `labelsTr/` files of the same name. Refuses folders with missing
/// or unpaired files, naming them.
pub fn read_dataset(root: &Path) -> Result<DecathlonDataset, VolumeError> {
    read_dataset_with(root, MissingFiles::Refuse)
}

/// The task of the data set that holds `ct` as one of its images (`ROOT/imagesTr/…` or
/// `ROOT/imagesTs/…`), as `ROOT/dataset.json` names it ([`DecathlonDataset::task`]); `None`
/// for a CT anywhere else or a data set without a `dataset.json` that says.
pub fn task_of_image(ct: &Path) -> Option<Task> {
    let folder = ct.parent()?;
    let in_images = folder
        .file_name()
        .is_some_and(|name| name == "imagesTr" || name == "imagesTs");
    if !in_images {
        return None;
    }
    list_dataset(folder.parent()?).ok()?.task()
}

/// Lists a Decathlon dataset folder as [`read_dataset`] does, but keeps the training cases
/// whose files `dataset.json` lists and the folder lacks (for a check that reports them).
pub fn list_dataset(root: &Path) -> Result<DecathlonDataset, VolumeError> {
    read_dataset_with(root, MissingFiles::Keep)
}

fn read_dataset_with(root: &Path, missing: MissingFiles) -> Result<DecathlonDataset, VolumeError> {
    if !root.is_dir() {
        return Err(VolumeError::format(
            root,
            "not a folder (expected a Decathlon dataset folder)",
        ));
    }
    let json_path = root.join("dataset.json");
    let mut dataset = if json_path.is_file() {
        read_with_json(root, &json_path, missing)?
    } else {
        read_by_pairing(root)?
    };
    dataset.training.sort_by(|a, b| natural_cmp(&a.id, &b.id));
    dataset.test_images.sort();
    Ok(dataset)
}

fn read_with_json(
    root: &Path,
    json_path: &Path,
    missing: MissingFiles,
) -> Result<DecathlonDataset, VolumeError> {
    let text = std::fs::read_to_string(json_path).map_err(|e| VolumeError::io(json_path, e))?;
    let json: DatasetJsonIn = serde_json::from_str(&text).map_err(|e| {
        VolumeError::format(
            json_path,
            format!("not a valid Decathlon dataset.json: {e}"),
        )
    })?;
    let mut labels = BTreeMap::new();
    for (key, name) in json.labels {
        let value: u8 = key.trim().parse().map_err(|_| {
            VolumeError::format(
                json_path,
                format!("label key {key:?} is not an integer from 0 to 255"),
            )
        })?;
        labels.insert(value, name);
    }
    let mut training = Vec::with_capacity(json.training.len());
    let mut seen = BTreeSet::new();
    for entry in &json.training {
        let image = resolve_listed(root, json_path, &entry.image, missing)?;
        let label = resolve_listed(root, json_path, &entry.label, missing)?;
        let file_name = image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = nifti_id(&file_name)
            .ok_or_else(|| VolumeError::format(&image, "not a .nii or .nii.gz file"))?
            .to_string();
        if !seen.insert(id.clone()) {
            return Err(VolumeError::format(
                json_path,
                format!("case {id:?} is listed twice"),
            ));
        }
        training.push(DecathlonCase { id, image, label });
    }
    let mut test_images = Vec::new();
    for entry in &json.test {
        // Test entries are plain paths (the Decathlon) or {"image": path} objects.
        let listed = entry
            .as_str()
            .or_else(|| entry.get("image").and_then(|v| v.as_str()))
            .ok_or_else(|| {
                VolumeError::format(json_path, format!("test entry {entry} is not a path"))
            })?;
        test_images.push(resolve_listed(
            root,
            json_path,
            listed,
            MissingFiles::Refuse,
        )?);
    }
    Ok(DecathlonDataset {
        root: root.to_path_buf(),
        name: json.name,
        labels,
        training,
        test_images,
    })
}

fn read_by_pairing(root: &Path) -> Result<DecathlonDataset, VolumeError> {
    let images_dir = root.join("imagesTr");
    let labels_dir = root.join("labelsTr");
    if !images_dir.is_dir() {
        return Err(VolumeError::format(
            root,
            "not a Decathlon dataset: neither dataset.json nor an imagesTr/ folder is there",
        ));
    }
    if !labels_dir.is_dir() {
        return Err(VolumeError::format(
            &labels_dir,
            "missing: a Decathlon dataset needs labelsTr/ beside imagesTr/",
        ));
    }
    let images = nifti_files(&images_dir)?;
    let mut labels = nifti_files(&labels_dir)?;
    if images.is_empty() {
        return Err(VolumeError::format(
            &images_dir,
            "holds no .nii or .nii.gz images",
        ));
    }
    let mut training = Vec::with_capacity(images.len());
    for (id, image) in images {
        let Some(label) = labels.remove(&id) else {
            let name = image
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(VolumeError::format(
                &labels_dir.join(&name),
                format!("label missing for image imagesTr/{name}"),
            ));
        };
        training.push(DecathlonCase { id, image, label });
    }
    if let Some((_, orphan)) = labels.into_iter().next() {
        return Err(VolumeError::format(
            &orphan,
            "label has no image of the same name in imagesTr/",
        ));
    }
    let test_dir = root.join("imagesTs");
    let test_images = if test_dir.is_dir() {
        nifti_files(&test_dir)?.into_values().collect()
    } else {
        Vec::new()
    };
    Ok(DecathlonDataset {
        root: root.to_path_buf(),
        name: None,
        labels: BTreeMap::new(),
        training,
        test_images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_naturally_and_parse() {
        let mut ids = vec!["liver_10", "liver_2", "liver_1", "liver_02b"];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(ids, ["liver_1", "liver_2", "liver_02b", "liver_10"]);
        assert_eq!(nifti_id("a.nii.gz"), Some("a"));
        assert_eq!(nifti_id("a.nii"), Some("a"));
        assert_eq!(nifti_id("a.txt"), None);
        assert_eq!(nifti_id(".nii.gz"), None);
        assert_eq!("Liver".parse::<Task>(), Ok(Task::Liver));
        assert_eq!("task07_pancreas".parse::<Task>(), Ok(Task::Pancreas));
        assert!("kidney".parse::<Task>().is_err());
    }

    #[test]
    fn an_image_of_a_data_set_takes_its_task_from_the_data_set() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Task07_Pancreas_small");
        std::fs::create_dir_all(root.join("imagesTr")).unwrap();
        let ct = root.join("imagesTr/pancreas_001.nii.gz");
        // Without dataset.json or label maps nothing says which organ.
        assert_eq!(task_of_image(&ct), None);
        std::fs::write(
            root.join("dataset.json"),
            r#"{"name": "Task07_Pancreas_small", "labels": {"0": "background",
                "1": "pancreas", "2": "cancer"}, "training": []}"#,
        )
        .unwrap();
        assert_eq!(task_of_image(&ct), Some(Task::Pancreas));
        assert_eq!(
            task_of_image(&root.join("imagesTs/pancreas_002.nii.gz")),
            Some(Task::Pancreas)
        );
        // A CT outside imagesTr/imagesTs is not a data set's image.
        assert_eq!(task_of_image(&root.join("pancreas_001.nii.gz")), None);
        assert_eq!(task_of_image(Path::new("ct.nii.gz")), None);
    }

    #[test]
    fn reads_the_shared_real_datasets_when_present() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let liver = root.join("Task03_Liver_mini");
        if !liver.is_dir() {
            eprintln!("skipped: {} is absent", liver.display());
            return;
        }
        let ds = read_dataset(&liver).unwrap();
        assert_eq!(ds.training.len(), 3);
        assert_eq!(ds.task(), Some(Task::Liver));
        assert_eq!(ds.training[0].id, "liver_117");
        let ds = read_dataset(&root.join("Task07_Pancreas_mini")).unwrap();
        assert_eq!(ds.task(), Some(Task::Pancreas));
        assert_eq!(ds.training.len(), 2);
    }
}
