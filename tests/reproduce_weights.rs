//! `weights/reproduce.sh`: the shipped weights' training chain runs end to end at toy scale
//! (`--tiny`), installs six models whose cards are set as the shipped ones are, and continues
//! rather than repeats once done; at full scale it generates the data sets the model card names.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/reproduce.sh")
}

fn reproduce(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(["--bin", env!("CARGO_BIN_EXE_oncoscope")])
        .args(args)
        .output()
        .expect("bash runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn card(dir: &Path, stem: &str) -> serde_json::Value {
    let file = dir.join(format!("{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("{}: {e}", file.display());
    }))
    .unwrap()
}

#[test]
fn the_tiny_chain_installs_every_model_with_its_cards_settings() {
    let work = tempfile::tempdir().unwrap();
    let work_arg = work.path().display().to_string();
    let o = reproduce(&["--tiny", "--work", &work_arg, "all"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = work.path().join("weights");

    // Six models, each loading with its locators from that folder alone.
    let o = Command::new(env!("CARGO_BIN_EXE_oncoscope"))
        .args(["model", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 6);
    for stem in ["liver_cnn", "pancreas_unet"] {
        assert!(out.join(format!("{stem}.curves.csv")).is_file(), "{stem}");
    }

    // The cards as weights/README.md says the shipped ones are.
    assert_eq!(card(&out, "liver_unet")["locator"], "liver_locator");
    // The liver U-Nets of sessions 20 and 21 keep every tumour piece (no `min_lesion_ml`);
    // the session-12 model that the classifier was first trained behind dropped those under
    // 0.4 mL.
    assert!(card(&out, "liver_unet").get("min_lesion_ml").is_none());
    assert!(
        card(&work.path().join("stage"), "liver_unet_dark")
            .get("min_lesion_ml")
            .is_none()
    );
    assert_eq!(
        card(&work.path().join("stage"), "liver_unet")["min_lesion_ml"],
        0.4
    );
    assert_eq!(card(&out, "liver_cnn")["locator"], "liver_unet");
    assert_eq!(card(&out, "pancreas_cnn")["locator"], "pancreas_unet");
    let pancreas = card(&out, "pancreas_unet");
    assert_eq!(pancreas["locator"], "pancreas_locator");
    assert_eq!(pancreas["cube_refinements"], 1);
    assert_eq!(pancreas["min_lesion_ml"], 0.4);
    assert_eq!(pancreas["notes"]["tumour_weight"], "4");
    assert!(card(&out, "liver_locator").get("locator").is_none());
    // A run's `best` card names the model it started from.
    let started_from = |run: &str| -> String {
        let best = card(&work.path().join("runs").join(run), "best");
        best["notes"]["initialised_from"]
            .as_str()
            .unwrap_or_else(|| panic!("{run}: no initialised_from in {best}"))
            .to_string()
    };
    // The pancreas classifier started from session 12's liver classifier, as shipped.
    let s14 = started_from("pancreas_cnn_s14");
    assert!(s14.ends_with("runs/liver_cnn_l96/best"), "{s14}");

    // The liver U-Net's last stage (dark lesions) started from session 12's model, and the
    // classifier was trained behind that earlier model, staged beside its locator.
    let dark = started_from("liver_unet_dark");
    assert!(dark.ends_with("runs/liver_unet_mix96/best"), "{dark}");
    // Whether two files under the work folder hold the same bytes (the same model), said by
    // name on failure rather than as megabytes of differing bytes.
    let read = |path: &str| {
        std::fs::read(work.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let same = |a: &str, b: &str, expected: bool| {
        let not = if expected { "" } else { "not " };
        assert_eq!(
            read(a) == read(b),
            expected,
            "{a} and {b} should {not}be the same file"
        );
    };
    same(
        "runs/liver_cnn_l96/liver_finder.safetensors",
        "stage/liver_unet.safetensors",
        true,
    );
    same(
        "stage/liver_unet.safetensors",
        "weights/liver_unet.safetensors",
        false,
    );
    // Session 21's U-Net (crisp lesions) started from session 20's (dark lesions), which is
    // staged: the shipped classifier was trained behind it.
    let crisp = started_from("liver_unet_crisp");
    assert!(crisp.ends_with("runs/liver_unet_dark/best"), "{crisp}");
    // Session 26's started from it, on livers with their fissures; session 27's (shipped)
    // from that, on livers with the fat of their hilum too.
    let fissures = started_from("liver_unet_fissures");
    assert!(
        fissures.ends_with("runs/liver_unet_crisp/best"),
        "{fissures}"
    );
    let hilum = started_from("liver_unet_hilum");
    assert!(hilum.ends_with("runs/liver_unet_fissures/best"), "{hilum}");
    same(
        "runs/liver_unet_fissures/best.safetensors",
        "weights/liver_unet.safetensors",
        false,
    );
    same(
        "runs/liver_unet_hilum/best.safetensors",
        "weights/liver_unet.safetensors",
        true,
    );
    same(
        "runs/liver_cnn_dark/liver_finder.safetensors",
        "stage/liver_unet_dark.safetensors",
        true,
    );
    same(
        "stage/liver_unet_dark.safetensors",
        "weights/liver_unet.safetensors",
        false,
    );
    // Session 27's classifier (shipped) started from session 20's, behind the shipped U-Net.
    let cnn = started_from("liver_cnn_hilum");
    assert!(cnn.ends_with("runs/liver_cnn_dark/best"), "{cnn}");
    same(
        "runs/liver_cnn_hilum/liver_finder.safetensors",
        "weights/liver_unet.safetensors",
        true,
    );
    same(
        "runs/liver_cnn_hilum/best.safetensors",
        "weights/liver_cnn.safetensors",
        true,
    );

    // Session 23's locator (scans of mixed range) started from session 1's, which every
    // other liver model was trained beside: staged models keep that one.
    let mixed = started_from("liver_locator_mixed");
    assert!(mixed.ends_with("runs/liver_unet/best"), "{mixed}");
    same(
        "weights/liver_locator.safetensors",
        "runs/liver_locator_mixed/best.safetensors",
        true,
    );
    same(
        "stage/liver_locator.safetensors",
        "runs/liver_unet/best.safetensors",
        true,
    );
    same(
        "runs/liver_unet_crisp/liver_locator.safetensors",
        "runs/liver_unet/best.safetensors",
        true,
    );

    // Likewise the pancreas: session 23's locator started from session 11's, and the
    // classifier was trained behind the shipped U-Net staged beside session 11's locator.
    let mixed = started_from("pancreas_locator_mixed");
    assert!(mixed.ends_with("runs/pancreas_locator96/best"), "{mixed}");
    same(
        "weights/pancreas_locator.safetensors",
        "runs/pancreas_locator_mixed/best.safetensors",
        true,
    );
    same(
        "stage/pancreas_locator.safetensors",
        "runs/pancreas_locator96/best.safetensors",
        true,
    );
    same(
        "stage/pancreas_unet.safetensors",
        "weights/pancreas_unet.safetensors",
        true,
    );
    assert_eq!(
        card(&work.path().join("stage"), "pancreas_unet")["cube_refinements"],
        1
    );
    same(
        "runs/pancreas_cnn_tw4/pancreas_finder.safetensors",
        "stage/pancreas_unet.safetensors",
        true,
    );

    // A full-scale command would take these tiny steps for done ones: refused.
    let o = reproduce(&["--work", &work_arg, "liver_locator"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("tiny-scale"), "{}", text(&o));

    // Once done, the same command trains nothing again; a step whose marker is gone resumes
    // its run instead of refusing the folder.
    let o = reproduce(&["--tiny", "--work", &work_arg, "all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("training step"), "{}", text(&o));
    std::fs::remove_file(work.path().join("done/liver_cnn.2")).unwrap();
    let o = reproduce(&["--tiny", "--work", &work_arg, "liver_cnn"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("--resume --out") && text(&o).contains("liver_cnn_l96"),
        "{}",
        text(&o)
    );
}

#[test]
fn at_full_scale_it_generates_the_data_sets_the_model_card_names() {
    let work = tempfile::tempdir().unwrap();
    let o = reproduce(&[
        "--dry-run",
        "--work",
        &work.path().display().to_string(),
        "all",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/README.md"))
            .unwrap();
    let commands = text(&o);
    let synths: Vec<&str> = commands
        .lines()
        .filter_map(|line| line.split_once(" synth ").map(|(_, args)| args))
        .collect();
    assert_eq!(synths.len(), 31, "{commands}");
    for args in synths {
        // "--task liver --cases 48 --seed 1 …": the README names each data set by its seed.
        let seed_at = args.find(" --seed ").unwrap();
        let seed_end = args[seed_at + 8..].find(' ').unwrap() + seed_at + 8;
        let (cases, seed) = (&args[..seed_at], &args[seed_at + 1..seed_end]);
        let count = cases.rsplit(' ').next().unwrap();
        assert!(
            readme.contains(&format!("--cases {count} {seed}"))
                || readme.contains(&format!("--cases {count} --small {seed}"))
                || readme.contains(&format!("--small --cases {count} {seed}")),
            "not in weights/README.md: {args}"
        );
    }
    // Every training run is one the README's commands name (`--out runs/NAME`), with the
    // same data set, epochs and learning rate somewhere in that model's text.
    let trains: Vec<&str> = commands
        .lines()
        .filter(|line| line.contains(" train "))
        .collect();
    assert_eq!(trains.len(), 30, "{commands}");
    for line in trains {
        let run = line.rsplit("/runs/").next().unwrap();
        assert!(
            readme.contains(&format!("--out runs/{run}`")),
            "run {run} not in weights/README.md: {line}"
        );
        let data = line
            .split("/data/")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let value = |flag: &str| line.split(flag).nth(1).unwrap().split(' ').nth(1).unwrap();
        for fragment in [
            format!("--data data/{data}"),
            format!("--epochs {}", value("--epochs")),
            format!("--learning-rate {}", value("--learning-rate")),
        ] {
            let named = [" ", "`", ")"]
                .iter()
                .any(|end| readme.contains(&format!("{fragment}{end}")));
            assert!(named, "{fragment} not in weights/README.md: {line}");
        }
    }
    // Nothing ran.
    assert!(!work.path().join("data").exists());

    // A model it does not know is named, before anything is made.
    let fresh = work.path().join("fresh");
    let o = reproduce(&[
        "--work",
        &fresh.display().to_string(),
        "liver_unet",
        "kidney_unet",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown model kidney_unet"),
        "{}",
        text(&o)
    );
    assert!(!fresh.exists());
}
