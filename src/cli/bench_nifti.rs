//! `oncoscope bench nifti FILE`: our NIfTI load time beside nibabel's and the zlib floor,
//! measured in the same run, printed as one JSON line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use oncoscope::volume::nifti::read_ct;

use super::reference::{median, python_with, reference_script};

#[derive(clap::Args, Debug)]
pub struct BenchNiftiArgs {
    /// A .nii or .nii.gz file, e.g. the 512×512×300 case `bench_nifti.py --make` writes.
    pub file: PathBuf,
    /// Timed runs (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3, value_parser = super::runs_count)]
    pub runs: usize,
    /// Skip the Python reference even when it is available.
    #[arg(long)]
    pub no_reference: bool,
}

pub fn run_bench_nifti(args: &BenchNiftiArgs) -> Result<()> {
    let runs = args.runs.max(1);
    let mut load_s = Vec::new();
    let mut inflate_s = Vec::new();
    let mut summary = None;
    for run in 0..=runs {
        let t = Instant::now();
        let ct = read_ct(&args.file)?;
        let elapsed = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let inflated = inflate(&args.file)?;
        let inflate_elapsed = t.elapsed().as_secs_f64();
        if run > 0 {
            load_s.push(elapsed);
            inflate_s.push(inflate_elapsed);
        }
        let sum: f64 = ct.voxels.iter().map(|&v| v as f64).sum();
        summary = Some((ct.grid.dims, sum, inflated));
    }
    let (dims_ras, sum, inflated_bytes) = summary.context("no run")?;
    let mut out = json!({
        "bench": "nifti",
        "file": args.file.display().to_string(),
        "dims_ras": dims_ras,
        "voxel_sum": sum,
        "inflated_bytes": inflated_bytes,
        "runs": runs,
        "oncoscope_read_ct_s": { "median_s": median(&load_s), "all_s": load_s },
        "oncoscope_inflate_only_s": { "median_s": median(&inflate_s), "all_s": inflate_s },
    });
    if !args.no_reference {
        out["reference"] = reference(&args.file, runs);
        let nibabel_s = out["reference"]["get_fdata_f32"]["median_s"].as_f64();
        if let Some(nib) = nibabel_s {
            out["ratio_oncoscope_over_nibabel_f32"] = json!(median(&load_s) / nib);
        }
        let zlib_s = out["reference"]["zlib_decompress"]["median_s"].as_f64();
        if let Some(z) = zlib_s {
            out["ratio_oncoscope_over_python_zlib"] = json!(median(&load_s) / z);
        }
    }
    println!("{out}");
    Ok(())
}

/// Decompresses the file into memory and returns the byte count (the floor of any reader).
fn inflate(path: &Path) -> Result<usize> {
    use std::io::Read;
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.len());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .with_context(|| path.display().to_string())?;
    Ok(out.len())
}

/// Runs `bench_nifti.py` on the same file, or explains why it could not.
fn reference(file: &Path, runs: usize) -> serde_json::Value {
    let Some(script) = reference_script("bench_nifti.py") else {
        return json!({"skipped": "bench_nifti.py not found (set ONCOSCOPE_BENCH_DIR or keep ../shared/bench)"});
    };
    let Some(python) = python_with("nibabel") else {
        return json!({"skipped": "no Python with nibabel (set ONCOSCOPE_PYTHON, or install ../shared/bench/requirements.txt into /opt/bench-venv)"});
    };
    let output = std::process::Command::new(&python)
        .arg(&script)
        .arg(file)
        .args([
            "--runs",
            &runs.to_string(),
            "--skip",
            "get_fdata_f64,gzip_cli",
        ])
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(
                |e| json!({"skipped": format!("could not parse bench_nifti.py output: {e}")}),
            )
        }
        Ok(o) => {
            json!({"skipped": format!("bench_nifti.py failed: {}", String::from_utf8_lossy(&o.stderr))})
        }
        Err(e) => json!({"skipped": format!("could not run {}: {e}", python.display())}),
    }
}
