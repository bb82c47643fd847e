//! The real application window under Xvfb: `oncoscope view CT --screenshot PNG` opens the
//! sample case, runs both models (the shipped U-Net and a tiny, freshly trained CNN), shows the
//! result in the slices and in 3D, writes the PNG of the window and exits. Skipped with a message when Xvfb is missing,
//! except in CI (`CI` set), where it fails instead.

mod viewer_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use viewer_common::{sample, viewer_weights};

fn xvfb_available() -> bool {
    Command::new("sh")
        .args(["-c", "command -v Xvfb"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_window_screenshot_shows_the_analysed_sample() {
    if !xvfb_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Xvfb is missing in CI: .ci/run must install xvfb"
        );
        eprintln!("skipped: Xvfb is not installed (apt-get install xvfb mesa-vulkan-drivers)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let weights = viewer_weights(dir.path());
    let display = format!(":{}", 150 + std::process::id() % 100);
    let mut xvfb = Command::new("Xvfb")
        .args([
            display.as_str(),
            "-screen",
            "0",
            "1600x1000x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    std::thread::sleep(Duration::from_millis(800));
    let runtime = dir.path().join("xdg");
    std::fs::create_dir_all(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let png = dir.path().join("window.png");
    let (ct, _) = sample();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_oncoscope"))
        .arg("view")
        .arg(&ct)
        .arg("--weights")
        .arg(&weights)
        .arg("--screenshot")
        .arg(&png)
        .env("DISPLAY", &display)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("HOME", dir.path())
        .output()
        .expect("run oncoscope");
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "oncoscope failed: {stderr}");
    assert!(stderr.contains("screenshot written"), "{stderr}");
    let image = image::open(&png).expect("read the screenshot").to_rgba8();
    assert_eq!((image.width(), image.height()), (1400, 900), "{stderr}");
    // Not a blank window: many distinct colours (CT greys, overlays, the 3D view).
    let distinct: std::collections::HashSet<[u8; 4]> = image.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 200, "only {} colours", distinct.len());
    // The 3D view (bottom-right quarter) shows blue organ surface pixels.
    let (w, h) = (image.width(), image.height());
    let blue = (w * 3 / 5..w)
        .flat_map(|x| (h / 2..h).map(move |y| (x, y)))
        .filter(|&(x, y)| {
            let [r, g, b, _] = image.get_pixel(x, y).0;
            b as i32 > r as i32 + 40 && b as i32 > g as i32 + 10
        })
        .count();
    assert!(
        blue > 500,
        "only {blue} blue pixels in the 3D view\n{stderr}"
    );
    if let Some(out) = std::env::var_os("ONCOSCOPE_SCREENSHOT_DIR") {
        std::fs::create_dir_all(&out).unwrap();
        std::fs::copy(&png, std::path::Path::new(&out).join("window.png")).unwrap();
    }
    eprintln!(
        "window screenshot in {:.1} s, {blue} blue pixels in 3D; {}",
        started.elapsed().as_secs_f64(),
        stderr
            .lines()
            .filter(|l| l.contains("frames"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}
