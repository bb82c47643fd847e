//! `oncoscope view CT [--label GT]` and `oncoscope` alone: the viewer window, optionally as a
//! scripted run that analyses the case, saves a screenshot and exits.

use std::path::PathBuf;

use anyhow::{Result, anyhow};

use oncoscope::app::{OncoscopeApp, StartupPlan};
use oncoscope::volume::decathlon::Task;

#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// CT volume (.nii / .nii.gz); the bundled sample case when absent.
    pub ct: Option<PathBuf>,
    /// Ground-truth label map (default: the Decathlon `labelsTr` file beside the CT, if any).
    #[arg(long)]
    pub label: Option<PathBuf>,
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

pub fn run_view(args: &ViewArgs) -> Result<()> {
    let case = match &args.ct {
        Some(ct) => {
            if !ct.is_file() {
                return Err(anyhow!("{}: no such file", ct.display()));
            }
            Some((ct.clone(), args.label.clone()))
        }
        None => {
            let (ct, label) = super::sample::sample_paths()?;
            Some((ct, Some(args.label.clone().unwrap_or(label))))
        }
    };
    let mut plan = match &args.screenshot {
        Some(png) => StartupPlan::screenshot(case, png.clone()),
        None => StartupPlan::open(case),
    };
    plan.task = args.task;
    plan.weights_dir = args.weights.clone();
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
