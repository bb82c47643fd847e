//! `oncoscope view CT [--label GT]` and `oncoscope` alone: the viewer window, optionally as a
//! scripted run that analyses the case, saves a screenshot and exits.

use std::path::PathBuf;

use anyhow::{Result, anyhow};

use oncoscope::app::state::{ComparedStructure, LabelDisplay};
use oncoscope::app::{DisplayOverrides, OncoscopeApp, StartupPlan, TrainingStart};
use oncoscope::volume::decathlon::Task;

#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// CT volume (.nii / .nii.gz); the bundled sample case when absent.
    pub ct: Option<PathBuf>,
    /// Ground-truth label map (default: the Decathlon `labelsTr` file beside the CT, if any).
    #[arg(long)]
    pub label: Option<PathBuf>,
    /// Task whose models run: liver or pancreas (default: the task of the data set the CT
    /// belongs to, for a Decathlon `imagesTr/` file; else the last one chosen in the viewer).
    #[arg(long)]
    pub task: Option<Task>,
    /// Folder of trained models or a training run (default: the shipped `weights/`).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Run classification and segmentation, show them, save the window to this PNG and exit.
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// Window size in points, "WIDTH,HEIGHT".
    #[arg(long, default_value = "1400,900", value_parser = parse_size)]
    pub size: [f32; 2],
    /// Labels shown in the slices and in 3D: none, prediction, truth, both or compare (true /
    /// false positive / false negative).
    #[arg(long, value_parser = parse_label_display)]
    pub labels: Option<LabelDisplay>,
    /// What `--labels compare` colours: organ or tumour.
    #[arg(long, value_parser = parse_compared)]
    pub compare: Option<ComparedStructure>,
    /// Show the three slice planes in the 3D view.
    #[arg(long)]
    pub planes: bool,
    /// Run the segmenter with this tumour sensitivity (each voxel's tumour probability × S
    /// before its label is chosen) instead of its card's, as the viewer's "tumour sensitivity
    /// ×" does. From 0.01 to 100.
    #[arg(long, value_name = "S", value_parser = super::tumour_sensitivity, allow_negative_numbers = true)]
    pub tumour_sensitivity: Option<f64>,
    /// Open the training panel and train on this data set (Decathlon layout) at once, with
    /// the panel's saved set-up; with --screenshot, the picture is taken after two epochs.
    #[arg(long, value_name = "DATA")]
    pub train: Option<PathBuf>,
    /// Run folder for --train (resumed when it holds a run).
    #[arg(long, value_name = "DIR", default_value = "runs/viewer-training")]
    pub train_out: PathBuf,
    #[arg(long, value_name = "N")]
    pub train_epochs: Option<usize>,
    /// Model grid for --train (voxels per axis, a multiple of 8).
    #[arg(long, value_name = "N")]
    pub train_grid: Option<usize>,
    /// Never open the system's file dialogs: every file choice asks for a typed path (for
    /// desktops where the file-dialog portal hangs or is missing).
    #[arg(long)]
    pub no_file_dialog: bool,
}

impl ViewArgs {
    /// The bundled sample case (what `oncoscope` with no subcommand opens).
    pub fn sample(screenshot: Option<PathBuf>) -> Self {
        Self {
            ct: None,
            label: None,
            task: None,
            weights: None,
            screenshot,
            size: [1400.0, 900.0],
            labels: None,
            compare: None,
            planes: false,
            tumour_sensitivity: None,
            train: None,
            train_out: PathBuf::from("runs/viewer-training"),
            train_epochs: None,
            train_grid: None,
            no_file_dialog: false,
        }
    }
}

fn parse_size(text: &str) -> Result<[f32; 2], String> {
    let parts: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [w, h] if w >= 320.0 && h >= 240.0 => Ok([w, h]),
        _ => Err(format!("{text:?}: give WIDTH,HEIGHT of at least 320,240")),
    }
}

fn parse_label_display(text: &str) -> Result<LabelDisplay, String> {
    Ok(match text {
        "none" => LabelDisplay::None,
        "prediction" => LabelDisplay::Prediction,
        "truth" => LabelDisplay::GroundTruth,
        "both" => LabelDisplay::Both,
        "compare" => LabelDisplay::Comparison,
        _ => {
            return Err(format!(
                "{text:?}: give none, prediction, truth, both or compare"
            ));
        }
    })
}

fn parse_compared(text: &str) -> Result<ComparedStructure, String> {
    match text {
        "organ" => Ok(ComparedStructure::Organ),
        "tumour" | "tumor" => Ok(ComparedStructure::Tumour),
        _ => Err(format!("{text:?}: give organ or tumour")),
    }
}

pub fn run_view(args: &ViewArgs) -> Result<()> {
    let case = match &args.ct {
        Some(ct) => {
            if !ct.is_file() {
                return Err(anyhow!("{}: no such file", ct.display()));
            }
            Some((ct.clone(), args.label.clone()))
        }
        // Training previews a validation case: that is the case to open.
        None if args.train.is_some() => None,
        None => {
            let (ct, label) = super::sample::sample_paths()?;
            Some((ct, Some(args.label.clone().unwrap_or(label))))
        }
    };
    let mut plan = match &args.screenshot {
        Some(png) => StartupPlan::screenshot(case, png.clone()),
        None => StartupPlan::open(case),
    };
    // Without --task, opening a data set's CT takes that data set's task.
    plan.task = args.task;
    plan.typed_paths = args.no_file_dialog;
    if let Some(data) = &args.train {
        if !data.is_dir() {
            return Err(anyhow!("{}: no such folder", data.display()));
        }
        plan.run_models = false;
        plan.training = Some(TrainingStart {
            data: data.clone(),
            out: args.train_out.clone(),
            epochs: args.train_epochs,
            grid: args.train_grid,
            screenshot_after_epochs: 2,
        });
    }
    plan.weights_dir = args.weights.clone();
    plan.display = DisplayOverrides {
        label_display: args.labels,
        // Asking what to compare implies comparing.
        compared: args.compare,
        show_planes_3d: args.planes.then_some(true),
        tumour_sensitivity: args.tumour_sensitivity,
    };
    if args.compare.is_some() && args.labels.is_none() {
        plan.display.label_display = Some(LabelDisplay::Comparison);
    }
    let scripted = args.screenshot.is_some();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Oncoscope")
            .with_inner_size(args.size)
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        // A scripted run must not restore (or overwrite) the user's layout.
        persist_window: !scripted,
        ..Default::default()
    };
    let app_name = if scripted {
        "oncoscope-scripted"
    } else {
        "oncoscope"
    };
    eframe::run_native(
        app_name,
        options,
        Box::new(move |cc| Ok(Box::new(OncoscopeApp::new(cc, plan)))),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))
}
