//! `oncoscope bench models`: forward time at batch 1 and one training step at batch 2 for both
//! networks at 96³, with peak memory — one JSON line per network, shaped like
//! `../shared/bench/bench_torch.py`'s — optionally with that script run beside it.

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde_json::json;

use oncoscope::model::checkpoint::{device_by_name, device_name};
use oncoscope::model::config::frozen;
use oncoscope::model::losses::{bce_with_logits, dice_ce_loss};
use oncoscope::model::{Architecture, ModelKind, Network};

use super::reference::{median, python_with, reference_script};

#[derive(clap::Args, Debug)]
pub struct BenchModelsArgs {
    /// Which network; both when omitted (each in its own process, so peak memory is its own).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Edge of the cubic input grid.
    #[arg(long, default_value_t = 96)]
    pub size: usize,
    /// Timed runs after two warm-ups; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = super::runs_count)]
    pub runs: usize,
    /// Also run `bench_torch.py` with the same settings and print the ratio (CPU only: the
    /// reference script runs on the CPU).
    #[arg(long)]
    pub reference: bool,
    /// cpu, cuda or metal (the last two in builds with those features).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

pub fn run_bench_models(args: &BenchModelsArgs) -> Result<()> {
    let device = device_by_name(&args.device)?;
    anyhow::ensure!(
        !args.reference || device.is_cpu(),
        "--reference compares with PyTorch on the CPU: use it with --device cpu"
    );
    let Some(kind) = args.model else {
        for kind in [ModelKind::Cnn, ModelKind::Unet] {
            let exe = std::env::current_exe().context("locating the oncoscope executable")?;
            let mut cmd = std::process::Command::new(exe);
            cmd.args(["bench", "models", "--model", kind.name()]).args([
                "--size",
                &args.size.to_string(),
                "--runs",
                &args.runs.to_string(),
                "--device",
                &args.device,
            ]);
            if args.reference {
                cmd.arg("--reference");
            }
            let status = cmd.status().context("running the per-model benchmark")?;
            anyhow::ensure!(status.success(), "benchmark of {} failed", kind.name());
        }
        return Ok(());
    };
    // The reference runs first, from this still-small process: Linux keeps a process's peak
    // RSS across fork and exec, so a child spawned after our own run would report ours.
    let theirs = args
        .reference
        .then(|| torch_reference(kind, args.size, args.runs));
    let ours = bench_one(kind, args.size, args.runs, &device)?;
    println!("{ours}");
    if let Some(theirs) = theirs {
        let ratio = |phase: &str| {
            let a = ours[phase]["median_s"].as_f64()?;
            let b = theirs[phase]["median_s"].as_f64()?;
            Some(a / b)
        };
        println!(
            "{}",
            json!({
                "model": kind.name(),
                "ratio_oncoscope_over_torch": { "infer": ratio("infer"), "train_step": ratio("train_step") },
                "torch": theirs,
            })
        );
    }
    Ok(())
}

/// Times one network on `device`. Each timed call ends by reading a value back to the host,
/// which waits for the device's queued work, so GPU timings are complete.
fn bench_one(
    kind: ModelKind,
    size: usize,
    runs: usize,
    device: &Device,
) -> Result<serde_json::Value> {
    let device = device.clone();
    let arch = Architecture::reference(kind);
    let varmap = VarMap::new();
    let network = Network::new(
        &arch,
        1,
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
    )?;
    let params: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    let rss_after_build = peak_rss_mib();

    // Inference: batch 1, parameters frozen (no graph kept).
    let inference = frozen(&arch, 1, &varmap, &device)?;
    let x1 = Tensor::randn(0f32, 1.0, (1, 1, size, size, size), &device)?;
    let infer_s = timed(runs, || {
        let y = inference.forward_t(&x1, false)?;
        y.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    let rss_after_infer = peak_rss_mib();

    // Training step: batch 2, Adam(lr 1e-3) as the reference script.
    let x2 = Tensor::randn(0f32, 1.0, (2, 1, size, size, size), &device)?;
    let labels = Tensor::rand(0f32, 3.0, (2, size, size, size), &device)?
        .floor()?
        .clamp(0f32, 2f32)?
        .to_dtype(DType::U32)?;
    let targets = Tensor::new(&[[1f32], [0f32]], &device)?;
    let mut optimizer = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 1e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut last_loss = 0.0;
    let train_s = timed(runs, || {
        let out = network.forward_t(&x2, true)?;
        let loss = match kind {
            ModelKind::Unet => dice_ce_loss(&out, &labels, &[1.0; 3])?,
            ModelKind::Cnn => bce_with_logits(&out, &targets, 1.0)?,
        };
        optimizer.backward_step(&loss)?;
        last_loss = loss.to_scalar::<f32>()?;
        Ok(())
    })?;
    let rss_after_train = peak_rss_mib();
    Ok(json!({
        "bench": "oncoscope models",
        "model": kind.name(),
        "size": size,
        "device": device_name(&device),
        "threads": candle_core::utils::get_num_threads(),
        "params": params,
        "rss_after_build_mib": rss_after_build,
        "infer": summary(&infer_s, 1),
        "rss_peak_after_infer_mib": rss_after_infer,
        "train_step": { "batch": 2, "optimizer": "Adam(lr=1e-3)", "last_loss": last_loss, "timing": summary(&train_s, 2) , "median_s": median(&train_s) },
        "rss_peak_after_train_mib": rss_after_train,
    }))
}

fn summary(runs_s: &[f64], batch: usize) -> serde_json::Value {
    json!({
        "median_s": median(runs_s),
        "min_s": runs_s.iter().copied().fold(f64::INFINITY, f64::min),
        "max_s": runs_s.iter().copied().fold(0.0, f64::max),
        "runs_s": runs_s,
        "batch": batch,
    })
}

/// Two untimed warm-ups, then `runs` timed calls.
fn timed(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..2 {
        f()?;
    }
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f()?;
            Ok(t.elapsed().as_secs_f64())
        })
        .collect()
}

/// The process's peak resident memory (VmHWM) in MiB, or 0 where /proc is unavailable.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn torch_reference(kind: ModelKind, size: usize, runs: usize) -> serde_json::Value {
    let Some(script) = reference_script("bench_torch.py") else {
        return json!({"skipped": "bench_torch.py not found"});
    };
    let Some(python) = python_with("torch") else {
        return json!({"skipped": "no Python with torch (install ../shared/bench/requirements.txt)"});
    };
    let threads = candle_core::utils::get_num_threads().to_string();
    let output = std::process::Command::new(&python)
        .arg(&script)
        .args(["--model", kind.name(), "--size", &size.to_string()])
        .args(["--runs", &runs.to_string(), "--threads", &threads])
        .output();
    match output {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            serde_json::from_str(text.lines().last().unwrap_or(""))
                .unwrap_or_else(|e| json!({"skipped": format!("unparsable output: {e}")}))
        }
        Ok(o) => {
            json!({"skipped": format!("bench_torch.py failed: {}", String::from_utf8_lossy(&o.stderr))})
        }
        Err(e) => json!({"skipped": format!("could not run {}: {e}", python.display())}),
    }
}
