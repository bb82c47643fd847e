//! How the app starts: which case it opens, whether it runs the models at once, and the
//! scripted `--screenshot` run (open, analyse, show, save the window as PNG, exit). Also finds a
//! CT's ground truth in Decathlon layout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::OncoscopeApp;
use super::state::{ComparedStructure, LabelDisplay, Preferences};
use crate::jobs::JobKind;
use crate::volume::decathlon::Task;

/// Give up waiting for the models after this long and take the screenshot anyway.
const SCREENSHOT_DEADLINE: Duration = Duration::from_secs(600);

/// Frames to draw with everything ready before the screenshot (textures and the 3D view
/// catch up).
const SETTLE_FRAMES: u32 = 3;

/// Display choices given on the command line; `None` keeps the preference.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DisplayOverrides {
    pub label_display: Option<LabelDisplay>,
    pub compared: Option<ComparedStructure>,
    pub show_planes_3d: Option<bool>,
    /// The segmenter's tumour sensitivity for this session's runs (the model card's when
    /// `None`).
    pub tumour_sensitivity: Option<f64>,
}

impl DisplayOverrides {
    pub(crate) fn apply(&self, prefs: &mut Preferences) {
        if let Some(display) = self.label_display {
            prefs.label_display = display;
        }
        if let Some(compared) = self.compared {
            prefs.compared = compared;
        }
        if let Some(planes) = self.show_planes_3d {
            prefs.show_planes_3d = planes;
        }
        if let Some(sensitivity) = self.tumour_sensitivity {
            prefs.tumour_sensitivity = Some(sensitivity);
        }
    }
}

/// A training run to start at once (`view --train`): the training panel opens with this data
/// set and starts (or resumes) the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingStart {
    pub data: PathBuf,
    pub out: PathBuf,
    /// Over the panel's saved set-up.
    pub epochs: Option<usize>,
    pub grid: Option<usize>,
    /// A scripted screenshot waits for this many finished epochs.
    pub screenshot_after_epochs: usize,
}

/// What to do at start-up.
#[derive(Debug, Clone)]
pub struct StartupPlan {
    /// CT and optional ground truth to open.
    pub case: Option<(PathBuf, Option<PathBuf>)>,
    /// The task the models run for (`None`: the task of the data set the CT lies in, else the
    /// saved one).
    pub task: Option<Task>,
    pub weights_dir: Option<PathBuf>,
    /// Display choices for this run, over the saved preferences (a scripted run starts from
    /// the defaults).
    pub display: DisplayOverrides,
    /// Run classification and segmentation as soon as the CT is loaded.
    pub run_models: bool,
    /// Save the window to this PNG once the results are shown, then exit.
    pub screenshot: Option<PathBuf>,
    /// Start training at once.
    pub training: Option<TrainingStart>,
    /// Never try a native file dialog: every file choice asks for a typed path (where a
    /// desktop portal would keep one waiting).
    pub typed_paths: bool,
    pub(crate) screenshot_requested: bool,
    settled_frames: u32,
    started: Instant,
}

impl StartupPlan {
    /// Open `case` (if any) and wait for the user.
    pub fn open(case: Option<(PathBuf, Option<PathBuf>)>) -> Self {
        Self {
            case,
            task: None,
            weights_dir: None,
            display: DisplayOverrides::default(),
            run_models: false,
            screenshot: None,
            training: None,
            typed_paths: false,
            screenshot_requested: false,
            settled_frames: 0,
            started: Instant::now(),
        }
    }

    /// Open `case`, run both models, show the result, save the window to `png` and exit.
    pub fn screenshot(case: Option<(PathBuf, Option<PathBuf>)>, png: PathBuf) -> Self {
        Self {
            run_models: true,
            screenshot: Some(png),
            ..Self::open(case)
        }
    }

    /// Counts frames drawn in a row with `ready` true; true once the view has settled or the
    /// deadline has passed.
    pub(crate) fn settled(&mut self, ready: bool) -> bool {
        self.settled_frames = if ready { self.settled_frames + 1 } else { 0 };
        self.settled_frames > SETTLE_FRAMES || self.started.elapsed() > SCREENSHOT_DEADLINE
    }
}

/// Whether the scripted run has everything it waits for on screen: the case, the models'
/// results and the surfaces, or an error.
pub(crate) fn ready_for_screenshot(app: &OncoscopeApp) -> bool {
    if let Some(start) = &app.startup.training {
        // Mid-training: enough epochs done and the preview on screen, or the run over.
        let Some(run) = &app.training.run else {
            return !app.notices().is_empty();
        };
        let preview_shown = !app.prefs.training.preview
            || app
                .case()
                .and_then(|c| c.prediction.as_ref())
                .is_some_and(|p| p.surfaces.is_some() && p.origin.starts_with(&run.root));
        return !run.status.is_active()
            || (run.epochs_finished >= start.screenshot_after_epochs
                && preview_shown
                && !app.busy());
    }
    {
        let Some(case) = app.case() else {
            // Loading failed: the error is on screen once no job runs.
            return !app.busy() && !app.notices().is_empty();
        };
        let jobs_done = !app.jobs.iter().any(|j| {
            matches!(
                j.kind,
                JobKind::Load | JobKind::Classify | JobKind::Segment | JobKind::Surfaces
            )
        });
        let surfaces_done = case
            .prediction
            .as_ref()
            .or(case.ground_truth.as_ref())
            .is_none_or(|l| l.surfaces.is_some());
        let compared = case.ground_truth.is_none()
            || case.prediction.is_none()
            || case.current_comparison().is_some();
        jobs_done && surfaces_done && compared
    }
}

/// The ground truth of a CT in Decathlon layout: `…/imagesTr/x.nii.gz` ↔ `…/labelsTr/x.nii.gz`
/// (also `imagesTs`/`labelsTs`, and nnU-Net's `x_0000.nii.gz` ↔ `x.nii.gz`), or for a CT named
/// `ct.nii[.gz]` a `label`/`labels`/`seg` file of the same extension beside it (the layout of
/// the bundled sample). `None` when there is no such file.
pub fn decathlon_label_for(ct: &Path) -> Option<PathBuf> {
    let folder = ct.parent()?;
    let name = ct.file_name()?.to_str()?;
    if let Some(extension) = name.strip_prefix("ct.") {
        return ["label", "labels", "seg"]
            .into_iter()
            .map(|stem| folder.join(format!("{stem}.{extension}")))
            .find(|p| p.is_file());
    }
    let labels_folder = match folder.file_name()?.to_str()? {
        "imagesTr" => "labelsTr",
        "imagesTs" => "labelsTs",
        _ => return None,
    };
    let labels_dir = folder.parent()?.join(labels_folder);
    let without_channel = name.replacen("_0000.nii", ".nii", 1);
    [name.to_string(), without_channel]
        .into_iter()
        .map(|n| labels_dir.join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_label_beside_a_decathlon_image_and_nothing_elsewhere() {
        let root = tempfile::tempdir().unwrap();
        let images = root.path().join("imagesTr");
        let labels = root.path().join("labelsTr");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::create_dir_all(&labels).unwrap();
        std::fs::write(images.join("liver_1.nii.gz"), b"x").unwrap();
        std::fs::write(labels.join("liver_1.nii.gz"), b"x").unwrap();
        std::fs::write(images.join("liver_2_0000.nii.gz"), b"x").unwrap();
        std::fs::write(labels.join("liver_2.nii.gz"), b"x").unwrap();
        std::fs::write(images.join("liver_3.nii.gz"), b"x").unwrap();
        assert_eq!(
            decathlon_label_for(&images.join("liver_1.nii.gz")),
            Some(labels.join("liver_1.nii.gz"))
        );
        assert_eq!(
            decathlon_label_for(&images.join("liver_2_0000.nii.gz")),
            Some(labels.join("liver_2.nii.gz"))
        );
        assert_eq!(decathlon_label_for(&images.join("liver_3.nii.gz")), None);
        assert_eq!(
            decathlon_label_for(&root.path().join("liver_1.nii.gz")),
            None
        );
        std::fs::write(root.path().join("ct.nii.gz"), b"x").unwrap();
        assert_eq!(decathlon_label_for(&root.path().join("ct.nii.gz")), None);
        std::fs::write(root.path().join("label.nii.gz"), b"x").unwrap();
        assert_eq!(
            decathlon_label_for(&root.path().join("ct.nii.gz")),
            Some(root.path().join("label.nii.gz"))
        );
    }
}
