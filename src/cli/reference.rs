//! Finding the Python reference scripts (`../shared/bench`) and a Python that can run them,
//! for benchmarks that compare against them in the same run.

use std::path::PathBuf;

/// The path of reference script `name`: `$ONCOSCOPE_BENCH_DIR/name`, else `../shared/bench/name`.
pub fn reference_script(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("ONCOSCOPE_BENCH_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("../shared/bench")]);
    dirs.map(|d| d.join(name)).find(|p| p.is_file())
}

/// A Python interpreter that can `import module`: `$ONCOSCOPE_PYTHON`, the bench venv
/// `/opt/bench-venv/bin/python`, or `python3`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = std::env::var_os("ONCOSCOPE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from("/opt/bench-venv/bin/python"),
            PathBuf::from("python3"),
        ]);
    candidates.into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Median of a non-empty sample (0 for an empty one).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}
