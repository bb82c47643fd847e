//! The command line end to end: synth → train → infer → eval on tiny generated data, and bad
//! input reported with the file named and a non-zero exit code.

use std::path::Path;
use std::process::{Command, Output};

fn oncoscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oncoscope"))
        .args(args)
        .output()
        .expect("the oncoscope binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The command failed and its output names every one of `needles`.
fn assert_refused(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "{}", text(o));
    for needle in needles {
        assert!(
            text(o).contains(needle),
            "missing {needle:?} in {}",
            text(o)
        );
    }
}

#[test]
fn synth_train_infer_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let o = oncoscope(&[
        "synth",
        "--task",
        "liver",
        "--cases",
        "4",
        "--seed",
        "3",
        "--small",
        "--out",
        &d("data"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let data = d("data");
    // Not into a folder holding a data set, and not more lesions than any organ holds.
    let o = oncoscope(&[
        "synth", "--task", "pancreas", "--cases", "1", "--out", &data,
    ]);
    assert_refused(&o, &["dataset.json", "already holds a data set"]);
    let o = oncoscope(&[
        "synth",
        "--cases",
        "1",
        "--lesions",
        "1000",
        "--out",
        &d("many"),
    ]);
    assert_refused(&o, &["not a number of lesions"]);
    // A pancreas of a small phantom has no room for ten lesions: each short case says so.
    let o = oncoscope(&[
        "synth",
        "--task",
        "pancreas",
        "--cases",
        "1",
        "--small",
        "--lesions",
        "10",
        "--out",
        &d("crowded"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("[asked 10 lesions: no room for more]")
            && text(&o).contains("1 case got fewer lesions"),
        "{}",
        text(&o)
    );
    for kind in ["unet", "cnn"] {
        let run = d(&format!("run_{kind}"));
        let args: Vec<&str> = [
            "train",
            "--data",
            &data,
            "--task",
            "liver",
            "--model",
            kind,
            "--epochs",
            "1",
            "--grid",
            "16",
            "--channels",
            "2,4,4,4",
            "--out",
            &run,
        ]
        .into_iter()
        // An inference setting for the segmenter's cards.
        .chain(if kind == "unet" {
            vec!["--min-lesion-ml", "0.5"]
        } else {
            vec![]
        })
        .collect();
        let o = oncoscope(&args);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("best epoch 1"), "{}", text(&o));
        let card: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("run_{kind}/best.json"))).unwrap(),
        )
        .unwrap();
        let expected_ml = if kind == "unet" { Some(0.5) } else { None };
        assert_eq!(card["min_lesion_ml"].as_f64(), expected_ml);
        let weights = dir.path().join("weights");
        std::fs::create_dir_all(&weights).unwrap();
        for ext in ["json", "safetensors"] {
            std::fs::copy(
                dir.path().join(format!("run_{kind}/best.{ext}")),
                weights.join(format!("liver_{kind}.{ext}")),
            )
            .unwrap();
        }
    }
    // Inference settings a model cannot use are refused before any training, and so are
    // the classifier's own flags for a U-Net.
    for (kind, setting, value, why) in [
        ("unet", "--normals", "somewhere", "for the classifier"),
        ("unet", "--global-pool", "max", "for the classifier"),
        ("cnn", "--min-lesion-ml", "0.5", "not a classifier"),
        ("unet", "--cube-refinements", "1", "organ's region"),
    ] {
        let o = oncoscope(&[
            "train",
            "--data",
            &d("data"),
            "--task",
            "liver",
            "--model",
            kind,
            "--out",
            &d("run_refused"),
            setting,
            value,
        ]);
        assert!(!o.status.success());
        assert!(text(&o).contains(why), "{}", text(&o));
    }
    let ct = d("data/imagesTr/liver_000.nii.gz");
    let label = d("data/labelsTr/liver_000.nii.gz");
    let o = oncoscope(&[
        "infer",
        &ct,
        "--label",
        &label,
        "--weights",
        &d("weights"),
        "--out",
        &d("seg.nii.gz"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for line in [
        "Input Image Shape: [1, 16, 16, 16]",
        "Predicted Logit:",
        "Predicted Probability (Cancer):",
        "Predicted Label:",
        "True Label:",
        "organ Dice",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
    // The segmentation is in the CT's own grid and voxel order.
    let o = oncoscope(&["info", "--json", &ct, &d("seg.nii.gz")]);
    assert!(o.status.success(), "{}", text(&o));
    let infos: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(infos[0]["dims"], infos[1]["dims"]);
    assert_eq!(infos[0]["orientation"], infos[1]["orientation"]);
    // With one of the two models only: the missing one is said, not passed over in silence.
    for kind in ["unet", "cnn"] {
        let only = dir.path().join(format!("only_{kind}"));
        std::fs::create_dir_all(&only).unwrap();
        for ext in ["json", "safetensors"] {
            std::fs::copy(
                dir.path().join(format!("weights/liver_{kind}.{ext}")),
                only.join(format!("liver_{kind}.{ext}")),
            )
            .unwrap();
        }
    }
    let o = oncoscope(&["infer", &ct, "--weights", &d("only_unet")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("No liver classifier (liver_cnn) in")
            && text(&o).contains("Tumour volume:"),
        "{}",
        text(&o)
    );
    let o = oncoscope(&["infer", &ct, "--weights", &d("only_unet"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert!(json["classifier"].is_null() && json["classification"].is_null());
    let segmenter = json["segmenter"].as_str().unwrap();
    assert!(segmenter.contains("only_unet/liver_unet"), "{segmenter}");
    // Asked to write a segmentation it cannot make: refused before any model runs.
    let o = oncoscope(&[
        "infer",
        &ct,
        "--weights",
        &d("only_cnn"),
        "--out",
        &d("never.nii.gz"),
    ]);
    assert_refused(&o, &["never.nii.gz", "no liver segmenter (liver_unet)"]);
    assert!(!dir.path().join("never.nii.gz").exists());
    let o = oncoscope(&["infer", &ct, "--weights", &d("only_cnn")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Predicted Label:")
            && text(&o).contains("No liver segmenter (liver_unet) in"),
        "{}",
        text(&o)
    );
    // --out may not be one of the command's inputs, nor named as anything but NIfTI.
    let ct_bytes = std::fs::read(&ct).unwrap();
    let unet_card = d("weights/liver_unet.json");
    for (out, needle) in [
        (ct.as_str(), "that is an input"),
        (label.as_str(), "that is an input"),
        (unet_card.as_str(), "NIfTI"),
        (&d("seg.hdr"), "NIfTI"),
    ] {
        let o = oncoscope(&[
            "infer",
            &ct,
            "--label",
            &label,
            "--weights",
            &d("weights"),
            "--out",
            out,
        ]);
        assert_refused(&o, &[out, needle]);
    }
    assert_eq!(std::fs::read(&ct).unwrap(), ct_bytes, "the CT is untouched");
    // A ground truth using other values (a multi-organ map) is refused, not scored.
    let mut other_labels = oncoscope::volume::nifti::read_labels(Path::new(&label)).unwrap();
    other_labels.voxels[0] = 3;
    let multi = d("multi_organ.nii.gz");
    oncoscope::volume::nifti::write_in_source_grid(Path::new(&multi), &other_labels).unwrap();
    let o = oncoscope(&["infer", &ct, "--label", &multi, "--weights", &d("weights")]);
    assert_refused(&o, &["multi_organ.nii.gz", "label values [3]"]);
    let o = oncoscope(&["infer", &ct, "--weights", &d("nowhere")]);
    assert_refused(&o, &["nowhere: no such weights folder"]);
    // Models of another task are refused, naming the file, not run on the wrong organ.
    let o = oncoscope(&[
        "infer",
        &ct,
        "--task",
        "pancreas",
        "--weights",
        &d("run_unet"),
    ]);
    assert_refused(&o, &["run_unet/best", "a liver model, not a pancreas one"]);
    let o = oncoscope(&["eval", "--data", &d("data"), "--task", "pancreas"]);
    assert_refused(&o, &["a liver data set, not pancreas"]);

    let o = oncoscope(&[
        "eval",
        "--data",
        &d("data"),
        "--weights",
        &d("weights"),
        "--out",
        &d("eval"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let eval_text = text(&o);
    assert!(eval_text.contains("mean"), "{eval_text}");
    let csv = std::fs::read_to_string(dir.path().join("eval/eval.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(Path::new(&d("eval/eval.json")).is_file());

    // check-data: all four cases usable, tumour cases counted as the eval table has them.
    let o = oncoscope(&["check-data", &d("data"), "--task", "liver"]);
    assert!(o.status.success(), "{}", text(&o));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let number = |row: &[&str], name: &str| -> f64 { row[column(name)].parse().unwrap() };
    let with_tumour = rows
        .iter()
        .filter(|r| r[column("true_cancer")] == "1")
        .count();
    // eval's tumour mean counts the cases with a tumour only (all when there are none).
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d("eval/eval.json")).unwrap()).unwrap();
    let counted: Vec<f64> = rows
        .iter()
        .filter(|r| with_tumour == 0 || r[column("true_cancer")] == "1")
        .map(|r| number(r, "tumour_dice"))
        .collect();
    let expected = counted.iter().sum::<f64>() / counted.len() as f64;
    let reported = summary["summary"]["mean"]["tumour_dice"].as_f64().unwrap();
    assert!(
        (reported - expected).abs() < 1e-3,
        "{reported} vs {expected}\n{csv}"
    );
    assert_eq!(summary["summary"]["tumour_cases"], with_tumour);
    // The models' own validation figures, from their cards, beside this evaluation's.
    let card = |model: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d(&format!("weights/{model}.json"))).unwrap())
            .unwrap()
    };
    let (unet_card, cnn_card) = (card("liver_unet"), card("liver_cnn"));
    let organ_dice = unet_card["metrics"]["organ_dice"].as_f64().unwrap();
    let validation = &summary["summary"]["segmenter_validation_dice"];
    assert_eq!(validation["organ"].as_f64(), Some(organ_dice));
    assert_eq!(
        validation["tumour"].as_f64(),
        unet_card["metrics"]["tumour_dice"].as_f64()
    );
    assert!(
        eval_text.contains(&format!(
            "(the segmenter's own validation Dice, from its card: organ {organ_dice:.3}"
        )),
        "{eval_text}"
    );
    let auc = cnn_card["metrics"]["roc_auc"].as_f64();
    assert_eq!(
        summary["summary"]["classifier_validation_roc_auc"].as_f64(),
        auc
    );
    if let Some(auc) = auc {
        assert!(
            eval_text.contains(&format!(
                "(the classifier's own validation ROC AUC, from its card: {auc:.4})"
            )),
            "{eval_text}"
        );
    }
    // The segmenter's predicted tumour volume as a cancer score: its ROC AUC over the rows
    // (pairs of a cancer and a normal case, ties half), or null with one class only.
    let (cancer, normal): (Vec<&Vec<&str>>, Vec<&Vec<&str>>) =
        rows.iter().partition(|r| r[column("true_cancer")] == "1");
    let reported = &summary["summary"]["tumour_volume_roc_auc"];
    if cancer.is_empty() || normal.is_empty() {
        assert!(reported.is_null(), "{reported}");
    } else {
        let mut wins = 0.0;
        for c in &cancer {
            for n in &normal {
                let (a, b) = (
                    number(c, "tumour_ml_predicted"),
                    number(n, "tumour_ml_predicted"),
                );
                wins += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / (cancer.len() * normal.len()) as f64;
        let reported = reported.as_f64().unwrap();
        assert!(
            (reported - expected).abs() < 1e-9,
            "{reported} vs {expected}"
        );
        assert!(
            eval_text.contains(&format!(
                "predicted tumour volume as the score): ROC AUC {reported:.4}"
            )),
            "{eval_text}"
        );
    }
    // Volumes and lesions agree with the truth: a case has tumour volume and lesions exactly
    // when it has cancer; found and spurious lesions are parts of the true and predicted ones.
    let mut found = 0.0;
    for r in &rows {
        let cancer = r[column("true_cancer")] == "1";
        assert_eq!(number(r, "tumour_ml_true") > 0.0, cancer, "{csv}");
        assert_eq!(number(r, "lesions_true") > 0.0, cancer, "{csv}");
        assert!(
            number(r, "organ_ml_true") > number(r, "tumour_ml_true"),
            "{csv}"
        );
        assert!(
            number(r, "organ_ml_true") > 100.0,
            "a liver of over 100 mL: {csv}"
        );
        assert!(
            number(r, "lesions_found") <= number(r, "lesions_true"),
            "{csv}"
        );
        assert!(
            number(r, "lesions_spurious") <= number(r, "lesions_predicted"),
            "{csv}"
        );
        found += number(r, "lesions_found");
    }
    assert_eq!(summary["summary"]["lesions"]["found"].as_f64(), Some(found));
    // Every true lesion falls in one size class.
    let by_size: f64 = summary["summary"]["lesions"]["by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["true_lesions"].as_f64().unwrap())
        .sum();
    let true_lesions: f64 = rows.iter().map(|r| number(r, "lesions_true")).sum();
    assert_eq!(by_size, true_lesions, "{csv}");
    for bad in ["-1", "inf", "a lot"] {
        let o = oncoscope(&["eval", "--data", &d("data"), "--min-lesion-ml", bad]);
        assert!(!o.status.success());
        assert!(text(&o).contains("not a volume in mL"), "{}", text(&o));
    }
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "4 usable cases ({with_tumour} with tumour, {} without)",
            4 - with_tumour
        )),
        "{out}\n{csv}"
    );
    assert!(
        out.contains("labels: 0 background, 1 liver, 2 cancer"),
        "{out}"
    );
    // The wrong task and a broken label map are reported, each naming what is wrong.
    std::fs::write(d("data/labelsTr/liver_002.nii.gz"), b"not a label map").unwrap();
    let o = oncoscope(&["check-data", &d("data"), "--task", "pancreas"]);
    assert!(
        !o.status.success(),
        "train would refuse the other organ's data set: {}",
        text(&o)
    );
    let out = text(&o);
    assert!(out.contains("3 usable cases"), "{out}");
    assert!(out.contains("a liver data set, not pancreas"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("problem:") && l.contains("labelsTr/liver_002.nii.gz")),
        "{out}"
    );
    // A truncated image and a label map off its CT are found here, not part-way through
    // training.
    let image = d("data/imagesTr/liver_001.nii.gz");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() / 2]).unwrap();
    let off_path = d("data/labelsTr/liver_003.nii.gz");
    let mut off = oncoscope::volume::nifti::read_labels(Path::new(&off_path)).unwrap();
    off.grid = oncoscope::volume::Grid::axis_aligned(off.grid.dims, [1.0; 3], [0.0; 3]).unwrap();
    oncoscope::volume::nifti::write_volume(
        Path::new(&off_path),
        &off,
        oncoscope::volume::AxisMap::IDENTITY,
    )
    .unwrap();
    let o = oncoscope(&["check-data", &d("data"), "--task", "liver"]);
    let out = text(&o);
    assert!(out.contains("1 usable case"), "{out}");
    for needle in [
        "imagesTr/liver_001.nii.gz",
        "labelsTr/liver_003.nii.gz: does not lie on its image",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("problem:") && l.contains(needle)),
            "{needle}: {out}"
        );
    }
    // eval evaluates the usable case, writes it, and fails naming the three others.
    let o = oncoscope(&[
        "eval",
        "--data",
        &d("data"),
        "--weights",
        &d("weights"),
        "--out",
        &d("eval_broken"),
    ]);
    assert_refused(
        &o,
        &[
            "3 of 4 cases could not be evaluated",
            "liver_001",
            "liver_002",
            "liver_003",
        ],
    );
    let csv = std::fs::read_to_string(d("eval_broken/eval.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d("eval_broken/eval.json")).unwrap())
            .unwrap();
    assert_eq!(json["failed"].as_array().unwrap().len(), 3, "{json}");
    // Nothing usable: a clear failure.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = oncoscope(&["check-data", &empty.display().to_string()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("empty"), "{}", text(&o));
}

#[test]
fn bad_input_names_the_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.nii.gz");
    std::fs::write(&junk, b"\x1f\x8bnot really gzip").unwrap();
    let cases: [&[&str]; 4] = [
        &["info", "/no/such/file.nii.gz"],
        &["info", junk.to_str().unwrap()],
        &[
            "infer",
            junk.to_str().unwrap(),
            "--weights",
            "/no/such/weights",
        ],
        &[
            "mesh",
            junk.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ],
    ];
    for args in cases {
        let o = oncoscope(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(
            err.contains("file.nii.gz") || err.contains("junk.nii.gz"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
    let o = oncoscope(&["infer", "x.nii", "--device", "cuda"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("CUDA"),
        "{}",
        text(&o)
    );
}

#[test]
fn bench_models_reports_its_device_and_refuses_one_the_build_lacks() {
    let o = oncoscope(&[
        "bench", "models", "--model", "cnn", "--size", "16", "--runs", "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(line["model"], "cnn");
    assert_eq!(line["device"], "cpu");
    assert!(line["infer"]["median_s"].as_f64().unwrap() > 0.0);
    assert!(line["train_step"]["median_s"].as_f64().unwrap() > 0.0);
    if !cfg!(feature = "cuda") {
        let o = oncoscope(&["bench", "models", "--device", "cuda"]);
        assert!(!o.status.success());
        assert!(text(&o).contains("no CUDA support"), "{}", text(&o));
    }
}

#[test]
fn model_shows_a_card_and_sets_its_inference_settings() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let dir = tempfile::tempdir().unwrap();
    for stem in ["liver_unet", "liver_locator"] {
        for ext in ["json", "safetensors"] {
            let name = format!("{stem}.{ext}");
            std::fs::copy(shipped.join(&name), dir.path().join(&name)).unwrap();
        }
    }
    let unet = dir.path().join("liver_unet").display().to_string();
    let locator = dir.path().join("liver_locator").display().to_string();
    let card_of = |stem: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{stem}.json")).unwrap()).unwrap()
    };
    let weights_before = std::fs::read(format!("{unet}.safetensors")).unwrap();

    let o = oncoscope(&["model", &unet]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("U-Net (segmenter) for the liver"), "{out}");
    assert!(out.contains("started from: weights/liver_unet"), "{out}");
    assert!(!out.contains("tumour voxels weighed"), "{out}");
    // A run's tumour weight, from its card's notes.
    let mut card = card_of(&unet);
    card["notes"]["tumour_weight"] = "4".into();
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();
    let weighted = text(&oncoscope(&["model", &unet]));
    assert!(weighted.contains("tumour voxels weighed 4"), "{weighted}");
    // A folder: every model in it.
    let o = oncoscope(&["model", "--json", &dir.path().display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    let paths: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["path"].to_string())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].ends_with("liver_locator\"") && paths[1].ends_with("liver_unet\""));
    assert!(out.contains("organ found by: liver_locator"), "{out}");
    let shipped_setting = match card_of(&unet)["min_lesion_ml"].as_f64() {
        None => "every tumour piece kept".to_string(),
        Some(ml) => format!("tumour pieces under {ml} mL become liver"),
    };
    assert!(out.contains(&shipped_setting), "{out}");

    // Set both settings: the card changes, the weights do not, and the model still loads.
    let o = oncoscope(&[
        "model",
        &unet,
        "--set-min-lesion-ml",
        "1.5",
        "--set-cube-refinements",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(report["card"]["min_lesion_ml"].as_f64(), Some(1.5));
    assert_eq!(report["card"]["cube_refinements"].as_u64(), Some(2));
    assert!(report["parameters"].as_u64().unwrap() > 100_000);
    let card = card_of(&unet);
    assert_eq!(card["min_lesion_ml"].as_f64(), Some(1.5));
    assert_eq!(card["cube_refinements"].as_u64(), Some(2));
    assert_eq!(
        std::fs::read(format!("{unet}.safetensors")).unwrap(),
        weights_before
    );
    let o = oncoscope(&["model", &unet]);
    assert!(
        text(&o).contains("re-centres its cube up to 2 times"),
        "{}",
        text(&o)
    );

    // Settings that cannot run are refused, naming the card, which stays as it was.
    assert_refused(
        &oncoscope(&["model", &unet, "--set-min-lesion-ml", "-1"]),
        &["not a volume in mL"],
    );
    assert_refused(
        &oncoscope(&["model", &unet, "--set-cube-refinements", "99"]),
        &["liver_unet.json", "more than 8 passes"],
    );
    assert_refused(
        &oncoscope(&["model", &locator, "--set-cube-refinements", "1"]),
        &["liver_locator.json", "organ's region"],
    );
    assert_eq!(card_of(&unet)["cube_refinements"].as_u64(), Some(2));
    // Several models: one refused, none changed.
    let o = oncoscope(&["model", &unet, &locator, "--set-cube-refinements", "1"]);
    assert!(!o.status.success());
    assert_eq!(card_of(&unet)["cube_refinements"].as_u64(), Some(2));

    // A card edited by hand into a setting that cannot run: `model` names it, and
    // `model --set-…` mends it.
    let mut card = card_of(&unet);
    card["cube_refinements"] = serde_json::json!(1000);
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();
    assert_refused(&oncoscope(&["model", &unet]), &["liver_unet.json", "1000"]);
    let o = oncoscope(&["model", &unet, "--set-cube-refinements", "0"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(card_of(&unet)["cube_refinements"].as_u64().unwrap_or(0), 0);
    let mut card = card_of(&unet);
    card["min_lesion_ml"] = serde_json::json!(-2.0);
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();
    assert_refused(&oncoscope(&["model", &unet]), &["liver_unet.json", "-2"]);
    let o = oncoscope(&["model", &unet, "--set-min-lesion-ml", "1.5"]);
    assert!(o.status.success(), "{}", text(&o));
    // Tiles the U-Net cannot run (not a multiple of 8) are named; tiles it can are shown.
    let mut card = card_of(&unet);
    card["tile_voxels"] = serde_json::json!(20);
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();
    assert_refused(
        &oncoscope(&["model", &unet]),
        &["liver_unet.json", "tile_voxels", "20"],
    );
    card["tile_voxels"] = serde_json::json!(48);
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();
    let tiled = text(&oncoscope(&["model", &unet]));
    assert!(tiled.contains("overlapping 48³-voxel tiles"), "{tiled}");
    card["tile_voxels"] = serde_json::json!(0);
    std::fs::write(format!("{unet}.json"), card.to_string()).unwrap();

    // A change to a model whose weights do not load is not written, nor to any other model
    // of the same command (here a sound copy, named first, whose card is put back).
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for file in [
        "liver_unet.json",
        "liver_unet.safetensors",
        "liver_locator.json",
    ] {
        std::fs::copy(dir.path().join(file), other.join(file)).unwrap();
    }
    std::fs::copy(
        format!("{locator}.safetensors"),
        other.join("liver_locator.safetensors"),
    )
    .unwrap();
    let sound = other.join("liver_unet").display().to_string();
    std::fs::write(format!("{locator}.safetensors"), b"broken").unwrap();
    let o = oncoscope(&["model", &unet, "--set-min-lesion-ml", "3"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("liver_locator"), "{}", text(&o));
    assert_eq!(card_of(&unet)["min_lesion_ml"].as_f64(), Some(1.5));
    let o = oncoscope(&["model", &sound, &unet, "--set-min-lesion-ml", "3"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("liver_locator"), "{}", text(&o));
    assert_eq!(card_of(&sound)["min_lesion_ml"].as_f64(), Some(1.5));
    assert_eq!(card_of(&unet)["min_lesion_ml"].as_f64(), Some(1.5));
}

#[test]
fn model_names_a_new_locator_for_a_copied_classifier() {
    // A run's classifier copied into another folder still names the run's copy of its locator
    // (`liver_finder`); `--set-locator` points it at the one beside it there.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let dir = tempfile::tempdir().unwrap();
    for stem in ["liver_cnn", "liver_unet", "liver_locator"] {
        for ext in ["json", "safetensors"] {
            let name = format!("{stem}.{ext}");
            std::fs::copy(shipped.join(&name), dir.path().join(&name)).unwrap();
        }
    }
    let cnn = dir.path().join("liver_cnn").display().to_string();
    let card_file = format!("{cnn}.json");
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_file).unwrap()).unwrap();
    card["locator"] = "liver_finder".into();
    std::fs::write(&card_file, card.to_string()).unwrap();
    assert_refused(
        &oncoscope(&["model", &cnn]),
        &["liver_cnn.json", "liver_finder"],
    );

    // Names that are no model beside it are refused, and the card stays as it was.
    assert_refused(
        &oncoscope(&["model", &cnn, "--set-locator", "../weights/liver_unet"]),
        &["liver_cnn.json", "not a model name"],
    );
    assert_refused(
        &oncoscope(&["model", &cnn, "--set-locator", "liver_cnn"]),
        &["liver_cnn.json", "its own locator"],
    );
    assert_refused(
        &oncoscope(&["model", &cnn, "--set-locator", "pancreas_unet"]),
        &["liver_cnn.json", "pancreas_unet"],
    );
    let unchanged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_file).unwrap()).unwrap();
    assert_eq!(unchanged["locator"], "liver_finder");

    let o = oncoscope(&["model", &cnn, "--set-locator", "liver_unet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("organ found by: liver_unet"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("set locator"), "{}", text(&o));
    let mended: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_file).unwrap()).unwrap();
    assert_eq!(mended["locator"], "liver_unet");
    assert!(oncoscope(&["model", &cnn]).status.success());
}

#[test]
fn mesh_leaves_no_file_of_an_earlier_run_nor_a_partial_one() {
    use oncoscope::volume::{AxisMap, Grid, Volume, nifti::write_volume};
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    // A 20³ box: an organ cube with a tumour cube inside, and the same without the tumour.
    let grid = Grid::axis_aligned([20, 20, 20], [2.0; 3], [0.0; 3]).unwrap();
    let label_at = |x: usize, y: usize, z: usize, tumour: bool| -> u8 {
        let inside = |lo: usize, hi: usize| [x, y, z].iter().all(|&c| (lo..hi).contains(&c));
        match (inside(4, 16), tumour && inside(8, 12)) {
            (_, true) => 2,
            (true, false) => 1,
            _ => 0,
        }
    };
    for (name, tumour) in [("with.nii.gz", true), ("without.nii.gz", false)] {
        let voxels = (0..20 * 20 * 20)
            .map(|i| label_at(i % 20, (i / 20) % 20, i / 400, tumour))
            .collect();
        let labels: Volume<u8> = Volume::new(grid.clone(), voxels).unwrap();
        write_volume(Path::new(&d(name)), &labels, AxisMap::IDENTITY).unwrap();
    }
    let o = oncoscope(&["mesh", &d("with.nii.gz"), "--out", &d("meshes")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(Path::new(&d("meshes/lesions.stl")).is_file());
    let o = oncoscope(&["mesh", &d("without.nii.gz"), "--out", &d("meshes")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !Path::new(&d("meshes/lesions.stl")).exists(),
        "the earlier lesions.stl would pass for this map's"
    );
    assert!(text(&o).contains("removed"), "{}", text(&o));
    for (flag, value) in [("--smooth", "1000000"), ("--smooth", "many")] {
        let o = oncoscope(&[
            "mesh",
            &d("with.nii.gz"),
            "--out",
            &d("meshes"),
            flag,
            value,
        ]);
        assert_refused(&o, &["smoothing iterations"]);
    }
    let o = oncoscope(&["mesh", &d("with.nii.gz"), "--out", &d("with.nii.gz")]);
    assert_refused(&o, &["with.nii.gz", "a file, not a folder"]);
    let o = oncoscope(&["bench", "models", "--runs", "0"]);
    assert_refused(&o, &["not a number of runs"]);
    // A file that cannot be put in place (a folder has its name): an error naming it once,
    // and no partial file beside it.
    std::fs::remove_file(d("meshes/organ.stl")).unwrap();
    std::fs::create_dir(d("meshes/organ.stl")).unwrap();
    let o = oncoscope(&["mesh", &d("with.nii.gz"), "--out", &d("meshes")]);
    assert_refused(&o, &["organ.stl"]);
    let leftovers: Vec<String> = std::fs::read_dir(d("meshes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let os_error = err.find("os error").expect("the I/O error is named");
    assert!(
        !err[os_error + 1..].contains("os error"),
        "said twice: {err}"
    );
}

#[test]
fn infer_says_how_far_to_trust_the_shipped_models() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = oncoscope(&[
        "synth",
        "--task",
        "pancreas",
        "--cases",
        "1",
        "--seed",
        "5",
        "--small",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ct = data.join("imagesTr/pancreas_000.nii.gz");
    let shipped_metric = |model: &str, metric: &str| {
        let card = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("weights/{model}.json"));
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(card).unwrap()).unwrap();
        card["metrics"][metric].as_f64().unwrap()
    };
    let auc = shipped_metric("pancreas_cnn", "roc_auc");
    let organ_dice = shipped_metric("pancreas_unet", "organ_dice");
    let tumour_dice = shipped_metric("pancreas_unet", "tumour_dice");
    let o = oncoscope(&["infer", ct.to_str().unwrap(), "--task", "pancreas"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Classifier's validation ROC AUC (its card; held-out figures in weights/README.md): {auc:.3}")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!(
            "Segmenter's validation Dice (its card; held-out figures in weights/README.md): \
             organ {organ_dice:.3}, tumour {tumour_dice:.3}"
        )),
        "{}",
        text(&o)
    );
    let o = oncoscope(&[
        "infer",
        ct.to_str().unwrap(),
        "--task",
        "pancreas",
        "--json",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(json["classifier_validation_roc_auc"].as_f64(), Some(auc));
    assert_eq!(
        json["segmenter_validation_dice"]["organ"].as_f64(),
        Some(organ_dice)
    );
    assert_eq!(
        json["segmenter_validation_dice"]["tumour"].as_f64(),
        Some(tumour_dice)
    );
}

#[test]
fn the_tumour_sensitivity_grows_the_tumour_and_leaves_the_classifier_as_validated() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
    let o = oncoscope(&[
        "synth",
        "--task",
        "liver",
        "--cases",
        "1",
        "--seed",
        "7",
        "--small",
        "--out",
        &d("data"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ct = d("data/imagesTr/liver_000.nii.gz");
    // The shipped liver models, copied so that a card can be set.
    std::fs::create_dir(d("weights")).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("liver_") && !name.ends_with(".csv") {
            std::fs::copy(shipped.join(&name), dir.path().join("weights").join(&name)).unwrap();
        }
    }
    let weights = d("weights");
    let infer = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["infer", ct.as_str(), "--weights", &weights, "--json"];
        args.extend_from_slice(extra);
        let o = oncoscope(&args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
    };
    let tumour_ml = |json: &serde_json::Value| json["tumour_volume_ml"].as_f64().unwrap();
    let p_cancer = |json: &serde_json::Value| json["classification"]["probability"].as_f64();
    let plain = infer(&[]);
    let (low, high) = (
        infer(&["--tumour-sensitivity", "0.1"]),
        infer(&["--tumour-sensitivity", "8"]),
    );
    assert_eq!(plain["tumour_sensitivity"].as_f64(), Some(1.0));
    assert_eq!(high["tumour_sensitivity"].as_f64(), Some(8.0));
    assert!(
        tumour_ml(&low) < tumour_ml(&plain) && tumour_ml(&plain) < tumour_ml(&high),
        "tumour mL at ×0.1, ×1, ×8: {} {} {}",
        tumour_ml(&low),
        tumour_ml(&plain),
        tumour_ml(&high)
    );
    // The classifier behind the segmenter sees its locator's labels as it learnt them.
    assert!(p_cancer(&plain).is_some());
    assert_eq!(p_cancer(&high), p_cancer(&plain));
    assert_eq!(p_cancer(&low), p_cancer(&plain));

    // Set on the card, it is the default there, said in the text, and still not the
    // classifier's.
    let o = oncoscope(&[
        "model",
        &d("weights/liver_unet"),
        "--set-tumour-sensitivity",
        "8",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("tumour probabilities × 8"),
        "{}",
        text(&o)
    );
    let set = infer(&[]);
    assert_eq!(set["tumour_sensitivity"].as_f64(), Some(8.0));
    assert_eq!(tumour_ml(&set), tumour_ml(&high));
    assert_eq!(p_cancer(&set), p_cancer(&plain));
    let o = oncoscope(&["infer", &ct, "--weights", &d("weights")]);
    assert!(text(&o).contains("Tumour sensitivity ×8"), "{}", text(&o));
    // eval runs it so too.
    let eval_into = |out: &str, extra: &[&str]| -> (String, serde_json::Value) {
        let (data, weights, out) = (d("data"), d("weights"), d(out));
        let mut args = vec![
            "eval",
            "--data",
            &data,
            "--weights",
            &weights,
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        let o = oncoscope(&args);
        assert!(o.status.success(), "{}", text(&o));
        let json = std::fs::read_to_string(Path::new(&out).join("eval.json")).unwrap();
        (text(&o), serde_json::from_str(&json).unwrap())
    };
    let (_, eval) = eval_into("eval", &[]);
    assert_eq!(eval["summary"]["tumour_sensitivity"].as_f64(), Some(8.0));
    let evaluated = eval["cases"][0]["volumes"]["tumour_ml_predicted"]
        .as_f64()
        .unwrap();
    assert!((evaluated - tumour_ml(&high)).abs() < 1e-3, "{evaluated}");
    // A sweep gives, from one network pass, the figures of an evaluation at each setting.
    let (printed, low_eval) = eval_into(
        "eval_low",
        &[
            "--tumour-sensitivity",
            "0.1",
            "--sweep-tumour-sensitivity",
            "0.1,8",
        ],
    );
    assert!(printed.contains("tumour sensitivity sweep"), "{printed}");
    let sweep = &low_eval["sweep"];
    assert_eq!(sweep[0]["tumour_sensitivity"].as_f64(), Some(0.1));
    assert_eq!(sweep[1]["tumour_sensitivity"].as_f64(), Some(8.0));
    for (point, whole) in [(&sweep[0], &low_eval), (&sweep[1], &eval)] {
        assert_eq!(point["lesions"], whole["summary"]["lesions"], "{point}");
        assert_eq!(
            point["tumour_dice"], whole["summary"]["mean"]["tumour_dice"],
            "{point}"
        );
    }
    assert_ne!(sweep[0]["lesions"], sweep[1]["lesions"]);

    // No factor outside 0.01–100, and none but 1 for a classifier.
    for bad in ["0", "-1", "1000", "NaN"] {
        let o = oncoscope(&[
            "infer",
            &ct,
            "--weights",
            &d("weights"),
            "--tumour-sensitivity",
            bad,
        ]);
        assert_refused(&o, &[bad, "not a tumour sensitivity"]);
    }
    let o = oncoscope(&[
        "model",
        &d("weights/liver_cnn"),
        "--set-tumour-sensitivity",
        "2",
    ]);
    assert_refused(&o, &["liver_cnn.json", "U-Net"]);
}
