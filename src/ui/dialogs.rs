//! Native file dialogs (rfd) run on their own thread so the window keeps drawing while one is
//! open. Where no dialog is available (no desktop portal: rfd answers at once with nothing)
//! every file choice — open, save, export, models — asks for a typed path in a small window
//! instead, prefilled with a sensible one.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::app::OncoscopeApp;
use crate::app::state::Command;

/// A dialog that comes back empty sooner than this was never shown (a person takes longer to
/// cancel one).
const UNAVAILABLE_WITHIN: Duration = Duration::from_millis(1500);

/// What a picked path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    OpenCt,
    OpenGroundTruth,
    SaveSegmentation,
    ExportMeshes,
    SaveScreenshot,
    SaveSceneScreenshot,
    ChooseWeights,
    ChooseTrainingData,
    ChooseTrainingOutput,
}

impl DialogPurpose {
    fn command(self, path: PathBuf) -> Option<Command> {
        Some(match self {
            DialogPurpose::OpenCt => Command::OpenCase {
                ct: path,
                ground_truth: None,
                task: None,
            },
            DialogPurpose::OpenGroundTruth => Command::OpenGroundTruth(path),
            DialogPurpose::SaveSegmentation => Command::SaveSegmentation(path),
            DialogPurpose::ExportMeshes => Command::ExportMeshes(path),
            DialogPurpose::SaveScreenshot => Command::Screenshot(path),
            DialogPurpose::SaveSceneScreenshot => Command::SceneScreenshot(path),
            DialogPurpose::ChooseWeights => Command::ChooseWeights(path),
            DialogPurpose::ChooseTrainingData => Command::CheckTrainingData(path),
            DialogPurpose::ChooseTrainingOutput => Command::SetTrainingOutput(path),
        })
    }
}

/// A path being typed for `purpose` because no native dialog can be shown.
#[derive(Debug, Clone)]
pub struct PathPrompt {
    pub purpose: DialogPurpose,
    /// `None` until the window first shows, which fills in the suggested path.
    pub text: Option<String>,
}

/// The dialog in flight, if any (one at a time), or the typed-path prompt.
#[derive(Default)]
pub struct FileDialogs {
    pending: Option<(DialogPurpose, Receiver<Option<PathBuf>>, Instant)>,
    /// Set once a native dialog came back empty at once: none can be shown here, so paths are
    /// typed from then on.
    pub unavailable_hint: bool,
    prompt: Option<PathPrompt>,
}

impl FileDialogs {
    /// Typed paths only, never a native dialog (e.g. where one would hang).
    pub fn use_typed_paths(&mut self) {
        self.unavailable_hint = true;
    }

    /// The typed-path prompt open now, if any.
    pub fn prompt(&self) -> Option<&PathPrompt> {
        self.prompt.as_ref()
    }

    /// Opens the native dialog for `purpose` on a background thread, or the typed-path prompt
    /// where no native dialog can be shown.
    pub fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.pending.is_some() {
            return;
        }
        if self.unavailable_hint {
            self.prompt = Some(PathPrompt {
                purpose,
                text: None,
            });
            return;
        }
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("oncoscope-dialog".into())
            .spawn(move || {
                let nifti = ["nii", "gz", "hdr"];
                let dialog = rfd::FileDialog::new();
                let picked = match purpose {
                    DialogPurpose::OpenCt => dialog
                        .set_title("Open a CT (NIfTI)")
                        .add_filter("NIfTI", &nifti)
                        .pick_file(),
                    DialogPurpose::OpenGroundTruth => dialog
                        .set_title("Open a ground-truth label map (NIfTI)")
                        .add_filter("NIfTI", &nifti)
                        .pick_file(),
                    DialogPurpose::SaveSegmentation => dialog
                        .set_title("Save the segmentation")
                        .set_file_name("segmentation.nii.gz")
                        .save_file(),
                    DialogPurpose::ExportMeshes => dialog
                        .set_title("Folder for the meshes (PLY)")
                        .pick_folder(),
                    DialogPurpose::SaveScreenshot => dialog
                        .set_title("Save a screenshot of the window")
                        .set_file_name("oncoscope.png")
                        .save_file(),
                    DialogPurpose::SaveSceneScreenshot => dialog
                        .set_title("Save the 3D view")
                        .set_file_name("oncoscope-3d.png")
                        .save_file(),
                    DialogPurpose::ChooseWeights => dialog
                        .set_title("Folder with trained models (or a training run)")
                        .pick_folder(),
                    DialogPurpose::ChooseTrainingData => dialog
                        .set_title("Training data set (Decathlon layout)")
                        .pick_folder(),
                    DialogPurpose::ChooseTrainingOutput => dialog
                        .set_title("Folder for the training run")
                        .pick_folder(),
                };
                let _ = tx.send(picked);
            });
        if spawned.is_ok() {
            self.pending = Some((purpose, rx, Instant::now()));
        } else {
            self.unavailable_hint = true;
            self.prompt = Some(PathPrompt {
                purpose,
                text: None,
            });
        }
    }

    /// Whether a dialog (native or typed) is open.
    pub fn open(&self) -> bool {
        self.pending.is_some() || self.prompt.is_some()
    }

    /// The command for a path picked since the last call. A native dialog that comes back
    /// empty at once could not be shown: its purpose moves to the typed-path prompt.
    pub fn poll(&mut self) -> Option<Command> {
        let (purpose, rx, opened) = self.pending.as_ref()?;
        let (purpose, opened) = (*purpose, *opened);
        match rx.try_recv() {
            Ok(Some(path)) => {
                self.pending = None;
                purpose.command(path)
            }
            Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.pending = None;
                if opened.elapsed() < UNAVAILABLE_WITHIN {
                    self.unavailable_hint = true;
                    self.prompt = Some(PathPrompt {
                        purpose,
                        text: None,
                    });
                }
                None
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
        }
    }
}

impl DialogPurpose {
    /// What the typed-path window asks for.
    fn question(self) -> &'static str {
        match self {
            DialogPurpose::OpenCt => "CT to open (.nii / .nii.gz)",
            DialogPurpose::OpenGroundTruth => "Ground-truth label map to open (.nii / .nii.gz)",
            DialogPurpose::SaveSegmentation => "Save the segmentation as (.nii / .nii.gz)",
            DialogPurpose::ExportMeshes => "Folder for the meshes",
            DialogPurpose::SaveScreenshot => "Save a screenshot of the window as (.png)",
            DialogPurpose::SaveSceneScreenshot => "Save the 3D view as (.png)",
            DialogPurpose::ChooseWeights => "Folder with trained models (or a training run)",
            DialogPurpose::ChooseTrainingData => "Training data set folder (Decathlon layout)",
            DialogPurpose::ChooseTrainingOutput => "Folder for the training run",
        }
    }
}

/// The path first offered for `purpose`: beside the open CT where something is saved, the
/// models in use when choosing models.
fn suggested_path(app: &OncoscopeApp, purpose: DialogPurpose) -> String {
    let case = app.case.as_ref();
    let folder = case
        .and_then(|c| c.ct_path.parent())
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let stem = case
        .and_then(|c| c.ct_path.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .map(|n| {
            n.trim_end_matches(".gz")
                .trim_end_matches(".nii")
                .to_string()
        })
        .unwrap_or_else(|| "oncoscope".into());
    let beside = |name: String| folder.join(name).display().to_string();
    match purpose {
        DialogPurpose::OpenCt | DialogPurpose::OpenGroundTruth => {
            folder.display().to_string() + std::path::MAIN_SEPARATOR_STR
        }
        DialogPurpose::SaveSegmentation => beside(format!("{stem}_segmentation.nii.gz")),
        DialogPurpose::ExportMeshes => beside(format!("{stem}_meshes")),
        DialogPurpose::SaveScreenshot => beside(format!("{stem}_window.png")),
        DialogPurpose::SaveSceneScreenshot => beside(format!("{stem}_3d.png")),
        DialogPurpose::ChooseWeights => app.weights_dir().display().to_string(),
        DialogPurpose::ChooseTrainingData => app.prefs.training.data_dir.clone(),
        DialogPurpose::ChooseTrainingOutput => app.prefs.training.out_dir.clone(),
    }
}

/// `~/…` under the home folder; anything else as typed (trimmed).
fn expand_home(text: &str) -> PathBuf {
    let text = text.trim();
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    }
}

/// The typed-path window, while one is asked for: OK (or Enter) issues the purpose's command
/// with the typed path, Cancel (or Escape) closes it.
pub fn path_prompt_window(app: &mut OncoscopeApp, ctx: &egui::Context) {
    let Some(purpose) = app.dialogs.prompt.as_ref().map(|p| p.purpose) else {
        return;
    };
    let suggested = suggested_path(app, purpose);
    let Some(prompt) = app.dialogs.prompt.as_mut() else {
        return;
    };
    let first_frame = prompt.text.is_none();
    let text = prompt.text.get_or_insert(suggested);
    let (mut accepted, mut cancelled) = (false, false);
    egui::Window::new("Type a path")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
        .show(ctx, |ui| {
            ui.label(purpose.question());
            ui.label(
                egui::RichText::new("No file dialog can be shown here.")
                    .weak()
                    .small(),
            );
            let field = ui.add(egui::TextEdit::singleline(text).desired_width(420.0));
            if first_frame {
                field.request_focus();
            }
            if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                accepted = true;
            }
            ui.horizontal(|ui| {
                accepted |= ui.button("OK").clicked();
                cancelled |= ui.button("Cancel").clicked();
            });
        });
    cancelled |= ctx.input(|i| i.key_pressed(egui::Key::Escape));
    if accepted {
        let typed = text.trim().to_string();
        if typed.is_empty() {
            app.notify_error("Type a path first");
            return;
        }
        app.dialogs.prompt = None;
        if let Some(command) = purpose.command(expand_home(&typed)) {
            app.command(command);
        }
    } else if cancelled {
        app.dialogs.prompt = None;
    }
}
