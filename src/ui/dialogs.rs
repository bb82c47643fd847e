//! Native file dialogs (rfd) run on their own thread so the window keeps drawing while one is
//! open. Where no dialog is available (no desktop portal, no zenity) the dialog returns nothing
//! and the user types or pastes the path in the side panel instead.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

use crate::app::state::Command;

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

/// The dialog in flight, if any (one at a time).
#[derive(Default)]
pub struct FileDialogs {
    pending: Option<(DialogPurpose, Receiver<Option<PathBuf>>)>,
    /// Set when a dialog returned nothing because none could be shown.
    pub unavailable_hint: bool,
}

impl FileDialogs {
    /// Opens the native dialog for `purpose` on a background thread.
    pub fn open_dialog(&mut self, purpose: DialogPurpose) {
        if self.pending.is_some() {
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
            self.pending = Some((purpose, rx));
        }
    }

    /// Whether a dialog is open.
    pub fn open(&self) -> bool {
        self.pending.is_some()
    }

    /// The command for a path picked since the last call.
    pub fn poll(&mut self) -> Option<Command> {
        let (purpose, rx) = self.pending.as_ref()?;
        match rx.try_recv() {
            Ok(Some(path)) => {
                let purpose = *purpose;
                self.pending = None;
                self.unavailable_hint = false;
                purpose.command(path)
            }
            Ok(None) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.pending = None;
                self.unavailable_hint = true;
                None
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
        }
    }
}
