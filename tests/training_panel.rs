//! The training panel driven through egui_kittest: it checks a good and a broken data folder
//! with clear messages; a short run on a tiny generated data set grows its curves, previews
//! the model on a validation case, stops, resumes, ends with loadable checkpoints, and
//! "Use this model" puts them to work in the viewer.

mod viewer_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::Device;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use oncoscope::app::training::{DataCheck, ModelChoice, RunStatus, TrainingSettings};
use oncoscope::app::{OncoscopeApp, StartupPlan};
use oncoscope::model::ModelKind;
use oncoscope::model::checkpoint::LoadedModel;
use oncoscope::volume::decathlon::Task;
use oncoscope::volume::nifti::{read_ct, read_labels};
use oncoscope::volume::phantom::{PancreasBuild, ScanRange};
use viewer_common::phantom_dataset;

fn harness() -> Harness<'static, OncoscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1400.0, 1000.0))
        .wgpu()
        .build_eframe(|cc| OncoscopeApp::new(cc, StartupPlan::open(None)))
}

/// Steps the app until `done` holds (the workers run on their own threads).
fn run_until(
    harness: &mut Harness<'static, OncoscopeApp>,
    what: &str,
    done: impl Fn(&OncoscopeApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(240);
    while !done(harness.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; notices: {:?}",
            harness.state().notices()
        );
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
    harness.run_steps(2);
}

fn open_panel(h: &mut Harness<'static, OncoscopeApp>) {
    h.get_by_label("Training").click();
    h.run_steps(2);
    h.get_by_label("Data set");
}

fn check_folder(h: &mut Harness<'static, OncoscopeApp>, folder: &Path) {
    h.state_mut().preferences_mut().training.data_dir = folder.display().to_string();
    h.run_steps(1);
    h.get_by_label("Check").click();
    h.run_steps(1);
    run_until(h, "the data check", |app| {
        matches!(
            app.training().check,
            Some(DataCheck::Done(_) | DataCheck::Failed { .. })
        )
    });
}

#[test]
fn the_panel_checks_a_good_and_a_broken_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    phantom_dataset(&good, 3, 21);
    let mut h = harness();
    open_panel(&mut h);
    check_folder(&mut h, &good);
    h.get_by_label_contains("3 usable cases");
    h.get_by_label("Labels: 0 background, 1 liver, 2 cancer");

    // Broken: two label maps are not NIfTI; every case is checked and each problem shown.
    let broken = dir.path().join("broken");
    phantom_dataset(&broken, 3, 22);
    for id in ["liver_1", "liver_2"] {
        std::fs::write(
            broken.join(format!("labelsTr/{id}.nii.gz")),
            b"not a nifti file",
        )
        .unwrap();
    }
    check_folder(&mut h, &broken);
    let Some(DataCheck::Done(check)) = &h.state().training().check else {
        panic!(
            "the check should list the cases: {:?}",
            h.state().training().check
        );
    };
    assert_eq!(check.usable_cases(), 1, "{:?}", check.problems());
    h.get_by_label_contains("1 usable cases");
    h.get_by_label_contains("labelsTr/liver_1.nii.gz");
    h.get_by_label_contains("labelsTr/liver_2.nii.gz");

    // A file listed in dataset.json but missing is that case's problem, named; the others
    // are still counted.
    std::fs::remove_file(broken.join("labelsTr/liver_2.nii.gz")).unwrap();
    check_folder(&mut h, &broken);
    h.get_by_label_contains("1 usable cases");
    h.get_by_label_contains("labelsTr/liver_2.nii.gz: listed in dataset.json but missing");

    // Not a data set at all.
    let nowhere = dir.path().join("nowhere");
    check_folder(&mut h, &nowhere);
    h.get_by_label_contains("is not usable");
    h.get_by_label_contains("nowhere");
}

#[test]
fn a_short_run_grows_curves_stops_resumes_and_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    phantom_dataset(&data, 5, 23);
    let run_root = dir.path().join("run");
    let mut h = harness();
    open_panel(&mut h);
    {
        let s = &mut h.state_mut().preferences_mut().training;
        s.data_dir = data.display().to_string();
        s.out_dir = run_root.display().to_string();
        s.models = ModelChoice::Both;
        s.grid = 16;
        s.base_width = 4;
        s.epochs = 200;
        s.validation_fraction = 0.4;
        s.preview = true;
        s.drop_small_lesions = true;
        s.min_lesion_ml = 0.3;
    }
    h.run_steps(1);
    h.get_by_label("Start").click();
    run_until(&mut h, "two U-Net epochs", |app| {
        app.training()
            .run
            .as_ref()
            .is_some_and(|r| r.curves[0].epochs.len() >= 2)
    });
    // The curves and the log are on screen; the step losses grow as it trains.
    h.get_by_label("U-Net loss");
    h.get_by_label("U-Net validation");
    h.get_by_label_contains("U-Net epoch 1:");
    let steps_before = h.state().training().run.as_ref().unwrap().curves[0]
        .step_losses
        .len();
    run_until(&mut h, "more steps", |app| {
        app.training().run.as_ref().unwrap().curves[0]
            .step_losses
            .len()
            > steps_before
    });

    // Pause holds the run; Continue lets it go on.
    h.get_by_label("Pause").click();
    run_until(&mut h, "the pause", |app| {
        app.training().run.as_ref().unwrap().status == RunStatus::Paused
    });
    std::thread::sleep(Duration::from_millis(400));
    h.run_steps(2);
    let held = h.state().training().run.as_ref().unwrap().curves[0]
        .step_losses
        .len();
    std::thread::sleep(Duration::from_millis(600));
    h.run_steps(2);
    assert_eq!(
        h.state().training().run.as_ref().unwrap().curves[0]
            .step_losses
            .len(),
        held,
        "no step while paused"
    );
    h.get_by_label("Continue").click();
    run_until(&mut h, "steps after continuing", |app| {
        app.training().run.as_ref().unwrap().curves[0]
            .step_losses
            .len()
            > held
    });

    // The preview: the validation case is open with the model's prediction from this run.
    run_until(&mut h, "the preview", |app| {
        let run = app.training().run.as_ref().unwrap();
        app.case().is_some_and(|c| {
            Some(&c.ct_path) == run.preview_case.as_ref()
                && c.ground_truth.is_some()
                && c.prediction
                    .as_ref()
                    .is_some_and(|p| p.origin.starts_with(&run_root))
        })
    });

    // Stop: the run ends with its checkpoints in place.
    h.get_by_label("Stop").click();
    run_until(&mut h, "the stop", |app| {
        app.training().run.as_ref().unwrap().status == RunStatus::Stopped
    });
    let unet_dir = run_root.join("unet");
    let stopped_at = oncoscope::model::checkpoint::read_card(&unet_dir.join("last"))
        .unwrap()
        .epoch;
    assert!(stopped_at >= 2, "stopped at epoch {stopped_at}");
    LoadedModel::load(&unet_dir.join("best"), &Device::Cpu).unwrap();

    // Resume with a shorter plan: the U-Net finishes, then the CNN trains from scratch.
    h.state_mut().preferences_mut().training.epochs = stopped_at + 2;
    h.run_steps(1);
    h.get_by_label("Resume").click();
    run_until(&mut h, "the resumed run to finish", |app| {
        app.training().run.as_ref().unwrap().status == RunStatus::Finished
    });
    let run = h.state().training().run.as_ref().unwrap();
    let unet_epochs: Vec<usize> = run.curves[0].epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(unet_epochs, (1..=stopped_at + 2).collect::<Vec<_>>());
    assert_eq!(run.curves[1].kind, ModelKind::Cnn);
    assert_eq!(run.curves[1].epochs.len(), stopped_at + 2);
    h.get_by_label("CNN validation");
    // The panel's run folders hold what `oncoscope train` writes.
    for kind in ["unet", "cnn"] {
        let folder = run_root.join(kind);
        for file in [
            "best.json",
            "best.safetensors",
            "last.json",
            "last.safetensors",
            "curves.csv",
        ] {
            assert!(folder.join(file).is_file(), "{kind}/{file} missing");
        }
        LoadedModel::load(&folder.join("best"), &Device::Cpu).unwrap();
    }

    // The U-Net's cards carry the inference setting chosen in the panel, the classifier's not.
    let card = |path: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(
        card(unet_dir.join("best.json"))["min_lesion_ml"].as_f64(),
        Some(0.3)
    );
    assert_eq!(
        card(run_root.join("cnn/best.json"))["min_lesion_ml"].as_f64(),
        None
    );

    // "Use this model": the viewer runs the run's best models on the open case.
    h.get_by_label("Use this model").click();
    h.run_steps(1);
    assert_eq!(
        h.state().weights_dir(),
        run_root,
        "{:?}",
        h.state().notices()
    );
    let best_unet = unet_dir.join("best.safetensors");
    let best_cnn = run_root.join("cnn/best.safetensors");
    run_until(&mut h, "the adopted models to run", |app| {
        !app.busy()
            && app.case().is_some_and(|c| {
                c.prediction.as_ref().is_some_and(|p| p.origin == best_unet)
                    && c.classification
                        .as_ref()
                        .is_some_and(|c| c.model == best_cnn)
            })
    });
    let errors: Vec<_> = h.state().notices().iter().filter(|n| n.error).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn the_tumour_channel_box_turns_into_the_run_configuration() {
    let mut h = harness();
    open_panel(&mut h);
    h.state_mut().preferences_mut().training.data_dir = "data/somewhere".into();
    // The box shows only with the organ region, which it needs.
    assert!(
        h.query_by_label("Classifier: also show it where the locator finds tumour")
            .is_none()
    );
    h.get_by_label("Organ region: the model sees a cube around the organ")
        .click();
    h.run_steps(2);
    h.get_by_label("Classifier: also show it where the locator finds tumour")
        .click();
    h.run_steps(2);
    let settings = &h.state_mut().preferences_mut().training;
    assert!(settings.organ_region && settings.tumour_channel);
    let config = settings.config().expect("a runnable configuration");
    assert!(config.preprocessing.locator_tumour_channel);
    // No locator chosen: the shipped region U-Net, whose tumour the classifier is to see.
    let locator = config.locator.expect("a locator");
    assert!(locator.ends_with("liver_unet"), "{}", locator.display());
    // The U-Net's inference settings: left to the run (a resumed one keeps its own) until
    // asked for, then what the panel shows.
    assert_eq!(config.min_lesion_ml, None);
    assert_eq!(config.cube_refinements, None);
    h.get_by_label("U-Net: show tumour pieces under (mL) as organ")
        .click();
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    settings.cube_refinements = 2;
    let config = settings.config().expect("a runnable configuration");
    assert_eq!(config.min_lesion_ml, Some(0.4));
    assert_eq!(config.cube_refinements, Some(2));
    settings.cube_refinements = 99;
    assert!(settings.config().unwrap_err().contains("at most 8 times"));
    settings.cube_refinements = 1;
    // The lesion term: left to the run until ticked, then the weight shown.
    assert_eq!(settings.config().unwrap().lesion_loss, None);
    h.get_by_label("U-Net: each lesion's own loss term, weight")
        .click();
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    assert_eq!(settings.config().unwrap().lesion_loss, Some(0.02));
    // Its counterweight, the false-piece term, likewise.
    assert_eq!(settings.config().unwrap().false_piece_loss, None);
    h.get_by_label("U-Net: each false lesion's own loss term, weight")
        .click();
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    assert_eq!(settings.config().unwrap().false_piece_loss, Some(0.1));
    // Lesion crops: left to the run until ticked, then the edge shown, a multiple of 8.
    assert_eq!(settings.config().unwrap().lesion_crop_voxels, None);
    h.get_by_label("U-Net: train on crops of").click();
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    assert_eq!(settings.config().unwrap().lesion_crop_voxels, Some(48));
    settings.lesion_crop_voxels = 50;
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    assert_eq!(settings.config().unwrap().lesion_crop_voxels, Some(56));
    // A grid made smaller than the edge takes the edge down with it.
    settings.grid = 48;
    h.run_steps(2);
    let settings = &mut h.state_mut().preferences_mut().training;
    assert_eq!(settings.config().unwrap().lesion_crop_voxels, Some(48));
    let image = h.render().expect("wgpu render of the panel");
    if let Some(path) = std::env::var_os("ONCOSCOPE_PANEL_PNG") {
        image.save(path).expect("write the panel's picture");
    }
}

#[test]
fn the_training_preview_does_not_replace_a_case_with_results_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    phantom_dataset(&data, 4, 24);
    let mut h = harness();
    // A case the user ran the segmentation on (the shipped liver models).
    let (ct, _) = viewer_common::sample();
    h.state_mut()
        .command(oncoscope::app::state::Command::OpenCase {
            ct: ct.clone(),
            ground_truth: None,
            task: None,
        });
    run_until(&mut h, "the sample", |app| app.case().is_some());
    h.state_mut().command(oncoscope::app::state::Command::Run {
        classify: false,
        segment: true,
    });
    run_until(&mut h, "its segmentation", |app| {
        !app.busy() && app.case().unwrap().prediction.is_some()
    });
    open_panel(&mut h);
    {
        let s = &mut h.state_mut().preferences_mut().training;
        s.data_dir = data.display().to_string();
        s.out_dir = dir.path().join("run").display().to_string();
        s.models = ModelChoice::Unet;
        s.grid = 16;
        s.base_width = 4;
        s.epochs = 50;
        s.preview = true;
    }
    h.run_steps(1);
    h.get_by_label("Start").click();
    run_until(&mut h, "the preview's notice", |app| {
        app.notices()
            .iter()
            .any(|n| n.text.starts_with("Training preview: open"))
    });
    let case = h.state().case().unwrap();
    assert_eq!(case.ct_path, ct, "the user's case stays open");
    assert!(case.segmentation_run.is_some(), "with its own segmentation");
    h.get_by_label("Stop").click();
    run_until(&mut h, "the stop", |app| {
        app.training()
            .run
            .as_ref()
            .is_some_and(|r| r.status == RunStatus::Stopped)
    });
}

/// Writes a one-case data set of `task` from a fresh app's panel (no notice from an earlier
/// run over it): *Generate*, after choosing `choice` in the menu labelled `menu` (*Scans* or
/// *Pancreas*) unless `chosen` says it is chosen already, and ticking the checkbox `tick`.
fn generate_one_case(
    out: &Path,
    task: Task,
    menu: &str,
    choice: &str,
    chosen: impl Fn(&TrainingSettings) -> &'static str,
    tick: Option<&str>,
) {
    let mut h = harness();
    let h = &mut h;
    open_panel(h);
    h.get_by_label("Generate a synthetic data set").click();
    h.run_steps(2);
    {
        let s = &mut h.state_mut().preferences_mut().training;
        s.task = task;
        s.synth_cases = 1;
        s.synth_seed = 5;
        s.synth_dir = out.display().to_string();
    }
    h.run_steps(1);
    if chosen(&h.state_mut().preferences_mut().training) != choice {
        h.get_by_role_and_label(Role::ComboBox, menu).click();
        h.run_steps(2);
        h.get_by_role_and_label(Role::Button, choice).click();
        h.run_steps(2);
    }
    assert_eq!(chosen(&h.state_mut().preferences_mut().training), choice);
    if let Some(label) = tick {
        h.get_by_label(label).click();
        h.run_steps(2);
    }
    // The menu closed, and the pointer away from it (its tooltip would cover the button).
    assert!(h.query_by_role(Role::ListBox).is_none());
    h.get_by_label("Cases").hover();
    h.run_steps(3);
    h.get_by_label("Generate").click();
    h.run_steps(2);
    assert!(
        h.state().training().generating.is_some(),
        "Generate should start writing {}; notices: {:?}",
        out.display(),
        h.state().notices()
    );
    run_until(h, "the synthetic data set", |app| {
        app.training().generating.is_none()
    });
    let errors: Vec<_> = h.state().notices().iter().filter(|n| n.error).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// The length (world z, mm) a CT file runs along the body.
fn length_along_body_mm(file: &Path) -> f64 {
    let ct = read_ct(file).unwrap();
    let grid = &ct.grid;
    let corner_z: Vec<f64> = (0..8)
        .map(|corner| {
            let voxel = [0, 1, 2].map(|axis| {
                if corner >> axis & 1 == 1 {
                    (grid.dims[axis] - 1) as f64
                } else {
                    0.0
                }
            });
            grid.world_of_voxel(voxel).z
        })
        .collect();
    let top = corner_z.iter().copied().fold(f64::MIN, f64::max);
    let bottom = corner_z.iter().copied().fold(f64::MAX, f64::min);
    top - bottom
}

#[test]
fn the_panel_generates_scans_that_reach_the_pelvis_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let scans = |s: &TrainingSettings| s.synth_scan_range.name();
    let mut lengths = Vec::new();
    for range in [ScanRange::Abdomen, ScanRange::AbdomenPelvis] {
        let out = dir.path().join(range.name());
        generate_one_case(&out, Task::Liver, "Scans", range.name(), scans, None);
        lengths.push(length_along_body_mm(&out.join("imagesTr/liver_000.nii.gz")));
    }
    let (abdomen, pelvis) = (lengths[0], lengths[1]);
    assert!(
        pelvis > abdomen + 100.0,
        "the same case with its pelvis should run ≥ 100 mm further: {abdomen:.0} mm, then \
         {pelvis:.0} mm"
    );
}

#[test]
fn the_panel_generates_atrophic_pancreases_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let builds = |s: &TrainingSettings| s.synth_pancreas_build.name();
    let mut volumes_ml = Vec::new();
    for build in [PancreasBuild::Full, PancreasBuild::Atrophic] {
        let out = dir.path().join(build.name());
        generate_one_case(&out, Task::Pancreas, "Pancreas", build.name(), builds, None);
        let labels = read_labels(&out.join("labelsTr/pancreas_000.nii.gz")).unwrap();
        let voxels = labels.voxels.iter().filter(|&&l| l >= 1).count();
        volumes_ml.push(voxels as f64 * labels.grid.voxel_volume_ml());
    }
    let (full, atrophic) = (volumes_ml[0], volumes_ml[1]);
    assert!(
        full > 50.0 && atrophic < 45.0 && atrophic < 0.6 * full,
        "the same case's pancreas full and atrophic: {full:.0} mL, then {atrophic:.0} mL"
    );
}

#[test]
fn the_panel_generates_livers_with_their_fissures_and_hilar_fat_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let scans = |s: &TrainingSettings| s.synth_scan_range.name();
    let liver_ml = |out: &Path| {
        let labels = read_labels(&out.join("labelsTr/liver_000.nii.gz")).unwrap();
        let voxels = labels.voxels.iter().filter(|&&l| l >= 1).count();
        voxels as f64 * labels.grid.voxel_volume_ml()
    };
    let (plain, cut) = (dir.path().join("plain"), dir.path().join("fissures"));
    let abdomen = ScanRange::Abdomen.name();
    generate_one_case(&plain, Task::Liver, "Scans", abdomen, scans, None);
    generate_one_case(
        &cut,
        Task::Liver,
        "Scans",
        abdomen,
        scans,
        Some("Liver fissures and hilar fat"),
    );
    let (plain_ml, cut_ml) = (liver_ml(&plain), liver_ml(&cut));
    assert!(
        cut_ml < plain_ml - 1.0 && cut_ml > 0.85 * plain_ml,
        "the same case's liver without and with its fissures and hilar fat: {plain_ml:.0} mL, then \
         {cut_ml:.0} mL"
    );
}
