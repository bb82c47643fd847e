//! `oncoscope bench mesh DIR`: our marching cubes on the volumes that
//! `../shared/bench/bench_mc.py --save DIR` wrote, beside scikit-image's figures from the same
//! script run right after ours on the same machine. Prints one JSON line; progress on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use oncoscope::mesh::bench::{McTiming, identity_lut, time_marching_cubes};
use oncoscope::volume::nifti::read_labels;
use serde_json::{Value, json};

use super::reference::{python_with, reference_script};

/// The volumes `bench_mc.py` generates, in its order.
const VOLUMES: [&str; 3] = ["label96", "blobs256", "ellipsoids512"];

/// Arguments of `oncoscope bench mesh`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchMeshArgs {
    /// Folder written by `bench_mc.py --save DIR` (`<name>.nii.gz` per volume).
    pub dir: PathBuf,
    /// Timed runs per volume, after one warm-up; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = super::runs_count)]
    pub runs: usize,
}

/// Runs `oncoscope bench mesh`.
pub fn run_bench_mesh(dir: &Path, runs: usize) -> anyhow::Result<()> {
    let runs = runs.max(1);
    let present: Vec<&str> = VOLUMES
        .into_iter()
        .filter(|name| dir.join(format!("{name}.nii.gz")).exists())
        .collect();
    if present.is_empty() {
        bail!(
            "no bench volumes in {}: run `bench_mc.py --save {}` first",
            dir.display(),
            dir.display()
        );
    }
    let mut ours = Vec::new();
    for name in &present {
        let path = dir.join(format!("{name}.nii.gz"));
        let labels = read_labels(&path).with_context(|| format!("reading {}", path.display()))?;
        let foreground = labels.voxels.iter().filter(|&&v| v != 0).count();
        // The raw label values at level 0.5, as bench_mc.py gives them to scikit-image.
        let timing = time_marching_cubes(&labels, &identity_lut(), 0.5, runs)?;
        // scikit-image runs on one core: our single-thread time too, for a like-for-like ratio.
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()?
            .install(|| time_marching_cubes(&labels, &identity_lut(), 0.5, runs))?;
        eprintln!(
            "[{name}] ours: {:.4} s median ({:.4} s on one thread), {} triangles, area {:.1}",
            timing.median_s, single.median_s, timing.triangles, timing.area_mm2
        );
        ours.push((*name, foreground, timing, single.median_s));
    }

    let (skimage, note) = match run_skimage(&present, runs) {
        Ok(v) => (Some(v), None),
        Err(e) => (
            None,
            Some(format!("scikit-image figures unavailable: {e:#}")),
        ),
    };
    let mut volumes = serde_json::Map::new();
    for (name, foreground, timing, single_s) in &ours {
        let reference = skimage.as_ref().and_then(|s| s["volumes"].get(*name));
        let row = compare(*foreground, timing, *single_s, reference);
        volumes.insert((*name).to_string(), row);
    }
    let mut line = json!({
        "bench": "mesh",
        "level": 0.5,
        "threads": rayon::current_num_threads(),
        "runs": runs,
        "volumes": volumes,
    });
    if let Some(s) = &skimage {
        line["skimage"] = s["skimage"].clone();
        line["skimage_loadavg_start"] = s["loadavg_start"].clone();
    }
    if let Some(n) = note {
        line["note"] = Value::String(n);
    }
    println!("{line}");
    Ok(())
}

/// Our figures for one volume beside scikit-image's, with the speed-up and the area difference.
fn compare(foreground: usize, ours: &McTiming, single_s: f64, skimage: Option<&Value>) -> Value {
    let mut v = json!({
        "foreground_voxels": foreground,
        "ours": {
            "median_s": ours.median_s,
            "min_s": ours.min_s,
            "median_1thread_s": single_s,
            "vertices": ours.vertices,
            "triangles": ours.triangles,
            "area": (ours.area_mm2 * 10.0).round() / 10.0,
            "closed": ours.closed,
            "euler_characteristic": ours.euler_characteristic,
        },
    });
    if let Some(s) = skimage {
        let median = s["median_s"].as_f64().unwrap_or(f64::NAN);
        let area = s["mesh_area"].as_f64().unwrap_or(f64::NAN);
        v["skimage"] = json!({
            "median_s": s["median_s"],
            "vertices": s["vertices"],
            "faces": s["faces"],
            "area": s["mesh_area"],
        });
        v["same_input"] = json!(s["foreground_voxels"].as_u64() == Some(foreground as u64));
        v["speedup"] = json!((median / ours.median_s * 100.0).round() / 100.0);
        v["speedup_1thread"] = json!((median / single_s * 100.0).round() / 100.0);
        v["area_rel_diff"] = json!(((ours.area_mm2 - area) / area * 1e6).round() / 1e6);
    }
    v
}

/// Runs `bench_mc.py` on the same volumes and returns its JSON.
fn run_skimage(volumes: &[&str], runs: usize) -> anyhow::Result<Value> {
    let script = reference_script("bench_mc.py")
        .context("bench_mc.py not found (set ONCOSCOPE_BENCH_DIR)")?;
    let python = python_with("skimage")
        .context("no Python that can import skimage (set ONCOSCOPE_PYTHON)")?;
    eprintln!(
        "running {} {} (scikit-image, {runs} runs per volume)…",
        python.display(),
        script.display()
    );
    let out = Command::new(&python)
        .arg(&script)
        .arg("--volumes")
        .arg(volumes.join(","))
        .arg("--runs")
        .arg(runs.to_string())
        .output()
        .with_context(|| format!("starting {}", python.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        bail!(
            "bench_mc.py exited with {}: {}",
            out.status,
            tail.join(" | ")
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("bench_mc.py printed no JSON")?;
    serde_json::from_str(line).context("parsing bench_mc.py's JSON")
}
