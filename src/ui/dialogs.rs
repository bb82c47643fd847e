//! Native file dialogs (rfd) run on their own thread so the window keeps drawing while one is
//! open. Where no dialog is available (no desktop portal: rfd answers at once with nothing)
//! every file choice — open, save, export, models — asks for a typed path in a small window
//! instead, prefilled with a sensible one.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::app::OncoscopeApp;
use crate::app::state::Command;

/// A dialog that comes back empty sooner than this was never shown: without a desktop portal
/// rfd answers within milliseconds, and a person takes longer to cancel one.
const UNAVAILABLE_WITHIN: Duration = Duration::from_millis(300);

/// What a picked path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogPurpose {
    /// A CT to open (a file).
    OpenCt,
    /// A ground-truth label map for the open CT (a file).
    OpenGroundTruth,
    /// Where to save the predicted label map (a `.nii` / `.nii.gz` file).
    SaveSegmentation,
    /// The folder the meshes are exported to.
    ExportMeshes,
    /// Where to save a screenshot of the window (a `.png` file).
    SaveScreenshot,
    /// Where to save the 3D view (a `.png` file).
    SaveSceneScreenshot,
    /// A folder of trained models, or a training run.
    ChooseWeights,
    /// A training data set folder.
    ChooseTrainingData,
    /// The folder for a training run.
    ChooseTrainingOutput,
}

impl DialogPurpose {
    /// The command that acts on `path` picked for this purpose.
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
pub(crate) struct PathPrompt {
    /// What the path is for.
    pub purpose: DialogPurpose,
    /// `None` until the window first shows, which fills in the suggested path.
    pub text: Option<String>,
    /// The CT open when the window first showed: a prompt for one case never acts on another.
    pub case_ct: Option<PathBuf>,
    /// An existing file the person was told the save would replace: OK on the same path again
    /// replaces it.
    pub replace_warned: Option<PathBuf>,
}

impl PathPrompt {
    fn new(purpose: DialogPurpose) -> Self {
        PathPrompt {
            purpose,
            text: None,
            case_ct: None,
            replace_warned: None,
        }
    }
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
    pub(crate) fn prompt(&self) -> Option<&PathPrompt> {
        self.prompt.as_ref()
    }

    /// Opens the native dialog for `purpose` on a background thread, or the typed-path prompt
    /// where no native dialog can be shown.
    pub fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.pending.is_some() {
            return;
        }
        if self.unavailable_hint {
            self.prompt = Some(PathPrompt::new(purpose));
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
            self.prompt = Some(PathPrompt::new(purpose));
        }
    }

    /// Whether a native dialog is open, whose answer the app must poll for (the typed-path
    /// window repaints on input like any other).
    pub fn waiting(&self) -> bool {
        self.pending.is_some()
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
                    self.prompt = Some(PathPrompt::new(purpose));
                }
                None
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
        }
    }
}

impl DialogPurpose {
    /// Whether the path picked is a file this purpose writes (a native save dialog asks before
    /// replacing one; the typed-path window must too).
    fn writes_a_file(self) -> bool {
        matches!(
            self,
            DialogPurpose::SaveSegmentation
                | DialogPurpose::SaveScreenshot
                | DialogPurpose::SaveSceneScreenshot
        )
    }

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
/// models in use when choosing models, the training panel's folders for training.
fn suggested_path(app: &OncoscopeApp, purpose: DialogPurpose) -> String {
    let case = app.case.as_ref();
    let folder = typed_path_base(app);
    let stem = case
        .and_then(|c| c.ct_path.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .map(|n| {
            let n = n.strip_suffix(".gz").unwrap_or(&n);
            let n = n
                .strip_suffix(".nii")
                .or(n.strip_suffix(".hdr"))
                .unwrap_or(n);
            n.to_string()
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

/// The folder a relative typed path is taken from: the open CT's, else the working folder.
fn typed_path_base(app: &OncoscopeApp) -> PathBuf {
    app.case
        .as_ref()
        .and_then(|c| c.ct_path.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// The path a person typed or pasted: trimmed, without surrounding quotes or a `file://`
/// prefix, `~` standing for `home` (when known), and relative to `base`.
pub fn resolve_typed_path(text: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    let mut text = text.trim();
    for quote in ['"', '\''] {
        if text.len() >= 2 && text.starts_with(quote) && text.ends_with(quote) {
            text = text[1..text.len() - 1].trim();
        }
    }
    let text = text.strip_prefix("file://").unwrap_or(text);
    let path = match (home, text) {
        (Some(home), "~") => home.to_path_buf(),
        (Some(home), _) if text.starts_with("~/") || text.starts_with("~\\") => {
            home.join(&text[2..])
        }
        _ => PathBuf::from(text),
    };
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// Whether accepting `path` typed for `purpose` must first warn that it replaces an existing
/// file: a save onto an existing file asks once, and OK on the same path again replaces it.
pub fn must_warn_before_replacing(
    purpose: DialogPurpose,
    path: &Path,
    warned: Option<&Path>,
) -> bool {
    purpose.writes_a_file() && path.is_file() && warned != Some(path)
}

/// The typed-path window, while one is asked for (modal): OK (or Enter) issues the purpose's
/// command with the typed path, Cancel (Escape, a click outside) closes it, and *Use the system
/// dialog* tries the native one again. A save onto an existing file asks once before replacing
/// it. A window asked for on one case closes when another opens.
pub fn path_prompt_window(app: &mut OncoscopeApp, ctx: &egui::Context) {
    let Some(prompt) = app.dialogs.prompt.as_ref() else {
        return;
    };
    let purpose = prompt.purpose;
    let open_ct = app.case.as_ref().map(|c| c.ct_path.clone());
    let first_frame = prompt.text.is_none();
    if first_frame {
        let suggested = suggested_path(app, purpose);
        if let Some(prompt) = app.dialogs.prompt.as_mut() {
            prompt.text = Some(suggested);
            prompt.case_ct = open_ct.clone();
        }
    } else if prompt.case_ct != open_ct {
        app.dialogs.prompt = None;
        app.notify_info("Another case opened: the path asked for the previous one was not used");
        return;
    }
    let base = typed_path_base(app);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let Some(prompt) = app.dialogs.prompt.as_mut() else {
        return;
    };
    let Some(text) = prompt.text.as_mut() else {
        return;
    };
    let typed = resolve_typed_path(text, &base, home.as_deref());
    let replacing = prompt.replace_warned.as_deref() == Some(typed.as_path());
    let (mut accepted, mut cancelled, mut native) = (false, false, false);
    let modal = egui::Modal::new(egui::Id::unique("oncoscope_path_prompt")).show(ctx, |ui| {
        ui.label(egui::RichText::new("Type a path").strong());
        ui.label(purpose.question());
        ui.label(
            egui::RichText::new("No file dialog can be shown here. Relative paths start beside the open CT; ~ is your home folder.")
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
        if replacing {
            let name = typed.file_name().unwrap_or(typed.as_os_str());
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} already exists. Replace it, or type another name.",
                    name.to_string_lossy()
                ),
            );
        }
        ui.horizontal(|ui| {
            accepted |= ui.button(if replacing { "Replace" } else { "OK" }).clicked();
            cancelled |= ui.button("Cancel").clicked();
            native |= ui.button("Use the system dialog").clicked();
        });
    });
    cancelled |= modal.should_close();
    if accepted {
        if text.trim().is_empty() {
            app.notify_error("Type a path first");
            return;
        }
        let path = resolve_typed_path(text, &base, home.as_deref());
        if must_warn_before_replacing(purpose, &path, prompt.replace_warned.as_deref()) {
            prompt.replace_warned = Some(path);
            return;
        }
        app.dialogs.prompt = None;
        if let Some(command) = purpose.command(path) {
            app.command(command);
        }
    } else if native {
        app.dialogs.prompt = None;
        app.dialogs.unavailable_hint = false;
        app.dialogs.open_dialog(purpose);
    } else if cancelled {
        app.dialogs.prompt = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_paths_are_cleaned_and_taken_from_the_ct_s_folder() {
        let base = Path::new("/data/case");
        let home = Some(Path::new("/home/ana"));
        let resolve = |text: &str| resolve_typed_path(text, base, home);
        assert_eq!(
            resolve("  /tmp/seg.nii.gz "),
            PathBuf::from("/tmp/seg.nii.gz")
        );
        assert_eq!(
            resolve("seg.nii.gz"),
            PathBuf::from("/data/case/seg.nii.gz")
        );
        assert_eq!(
            resolve("out/my meshes"),
            PathBuf::from("/data/case/out/my meshes")
        );
        assert_eq!(resolve("~"), PathBuf::from("/home/ana"));
        assert_eq!(
            resolve("~/scans/a.png"),
            PathBuf::from("/home/ana/scans/a.png")
        );
        assert_eq!(resolve("\"/tmp/a b.png\""), PathBuf::from("/tmp/a b.png"));
        assert_eq!(resolve("'/tmp/c.png'"), PathBuf::from("/tmp/c.png"));
        assert_eq!(resolve("file:///tmp/d.png"), PathBuf::from("/tmp/d.png"));
        // Without a home folder `~` is an ordinary name.
        assert_eq!(
            resolve_typed_path("~", base, None),
            PathBuf::from("/data/case/~")
        );
    }

    #[test]
    fn a_typed_save_onto_an_existing_file_warns_once() {
        let dir = std::env::temp_dir().join(format!("oncoscope-replace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let existing = dir.join("seg.nii.gz");
        std::fs::write(&existing, b"earlier").unwrap();
        let new = dir.join("other.nii.gz");
        let save = DialogPurpose::SaveSegmentation;
        assert!(must_warn_before_replacing(save, &existing, None));
        // Warned about another file: this one still needs its own warning.
        assert!(must_warn_before_replacing(save, &existing, Some(&new)));
        // OK again on the path it warned about replaces it.
        assert!(!must_warn_before_replacing(
            save,
            &existing,
            Some(&existing)
        ));
        // A new file, a folder and opening a file never warn.
        assert!(!must_warn_before_replacing(save, &new, None));
        assert!(!must_warn_before_replacing(save, &dir, None));
        assert!(!must_warn_before_replacing(
            DialogPurpose::OpenCt,
            &existing,
            None
        ));
        assert!(must_warn_before_replacing(
            DialogPurpose::SaveScreenshot,
            &existing,
            None
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
