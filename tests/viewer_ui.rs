//! The viewer driven through egui_kittest: open the sample case, run real models (the shipped
//! U-Net and a tiny, freshly trained CNN), see results and the lesion table, cancel, and
//! survive an unreadable file; without a file dialog, type paths.
//! Uses kittest's wgpu renderer (mesa lavapipe in CI) so the 3D view renders too.

mod viewer_common;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use oncoscope::app::state::{Command, ComparedStructure, LabelDisplay, ViewSlot};
use oncoscope::app::{OncoscopeApp, StartupPlan};
use oncoscope::mesh::Structure;
use oncoscope::slice::Plane;
use oncoscope::volume::decathlon::Task;
use viewer_common::{copy_shipped_liver_unet, sample, viewer_weights};

fn harness(plan: StartupPlan) -> Harness<'static, OncoscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| OncoscopeApp::new(cc, plan))
}

/// Steps the app until `done` holds (the workers run on their own threads).
fn run_until(
    harness: &mut Harness<'static, OncoscopeApp>,
    what: &str,
    done: impl Fn(&OncoscopeApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(harness.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
    harness.run_steps(3);
}

#[test]
fn opens_the_sample_runs_both_models_and_shows_results() {
    let dir = tempfile::tempdir().unwrap();
    let weights = viewer_weights(dir.path());
    let (ct, label) = sample();
    let mut plan = StartupPlan::open(Some((ct, Some(label))));
    plan.weights_dir = Some(weights.clone());
    let mut h = harness(plan);
    run_until(&mut h, "the case to load", |app| {
        app.case().is_some_and(|c| c.ground_truth.is_some())
    });
    h.get_by_label("ct.nii.gz");
    h.get_by_label("Run both").click();
    run_until(&mut h, "segmentation, surfaces and the comparison", |app| {
        !app.busy()
            && app
                .case()
                .and_then(|c| c.prediction.as_ref())
                .is_some_and(|p| p.lesions.is_some())
            && app.case().and_then(|c| c.scores()).is_some()
    });
    let case = h.state().case().unwrap();
    assert!(case.classification.is_some(), "{:?}", h.state().notices());
    let prediction = case.prediction.as_ref().unwrap();
    assert_eq!(prediction.labels.grid.dims, case.ct.grid.dims);
    // The results panel shows the seed project's printout and the comparison.
    h.get_by_label("Probability of cancer");
    h.get_by_label("Predicted label");
    h.get_by_label("Ground truth vs prediction");
    // Beside the outline, how far to trust it: the segmenter's card's own validation Dice.
    let card = oncoscope::model::checkpoint::read_card(&weights.join("liver_unet")).unwrap();
    let dice = card
        .validation_dice()
        .expect("the shipped segmenter was validated");
    assert_eq!(
        case.segmentation_run.and_then(|r| r.validation_dice),
        Some(dice)
    );
    h.get_by_label_contains(&format!(
        "this segmenter's validation Dice: {dice} (1 = perfect"
    ));
    let matching = case.current_matching().expect("lesions matched");
    let truth_lesions = case
        .ground_truth
        .as_ref()
        .unwrap()
        .lesions
        .as_ref()
        .unwrap();
    assert_eq!(matching.truth_found.len(), truth_lesions.lesions.len());
    let errors: Vec<_> = h.state().notices().iter().filter(|n| n.error).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Saving runs as a job and writes the segmentation in the CT's original grid.
    let saved = dir.path().join("seg.nii.gz");
    h.state_mut()
        .command(Command::SaveSegmentation(saved.clone()));
    run_until(&mut h, "the save", |app| !app.busy());
    let ct = oncoscope::volume::nifti::read_ct(&sample().0).unwrap();
    let written = oncoscope::volume::nifti::read_labels_for(&saved, &ct).unwrap();
    assert_eq!(
        written.voxels,
        h.state()
            .case()
            .unwrap()
            .prediction
            .as_ref()
            .unwrap()
            .labels
            .voxels
    );
    // A higher tumour sensitivity, ticked and set, grows the tumour at once, from the same
    // network output (no run); the panel says it was used, the surfaces, lesion table and
    // comparison follow, and the classifier's verdict is its own as before.
    let labels_now = |app: &OncoscopeApp| {
        let prediction = app.case().unwrap().prediction.as_ref().unwrap();
        prediction.labels.voxels.clone()
    };
    let tumour_voxels = |labels: &[u8]| labels.iter().filter(|&&v| v == 2).count();
    let plain = labels_now(h.state());
    let verdict = h.state().case().unwrap().classification.clone();
    assert_eq!(
        h.state()
            .case()
            .unwrap()
            .segmentation_run
            .map(|r| r.report.tumour_sensitivity),
        Some(1.0)
    );
    h.get_by_label("tumour sensitivity ×").click();
    h.run_steps(2);
    assert_eq!(
        h.state_mut().preferences_mut().tumour_sensitivity,
        Some(1.0)
    );
    h.state_mut().preferences_mut().tumour_sensitivity = Some(8.0);
    let at_sensitivity = |s: f64| {
        move |app: &OncoscopeApp| {
            !app.busy()
                && app.case().is_some_and(|c| {
                    c.segmentation_run
                        .is_some_and(|r| r.report.tumour_sensitivity == s)
                        && c.prediction.as_ref().is_some_and(|p| p.lesions.is_some())
                        && c.scores().is_some()
                        && c.current_comparison().is_some()
                })
        }
    };
    run_until(&mut h, "the labels at ×8", at_sensitivity(8.0));
    let relabelled = labels_now(h.state());
    assert!(
        tumour_voxels(&relabelled) > tumour_voxels(&plain),
        "tumour voxels at ×8 {}, at ×1 {}",
        tumour_voxels(&relabelled),
        tumour_voxels(&plain)
    );
    // Every tumour voxel at ×1 stays tumour at ×8.
    assert!(
        plain
            .iter()
            .zip(&relabelled)
            .all(|(&before, &after)| before != 2 || after == 2)
    );
    assert_eq!(h.state().case().unwrap().classification, verdict);
    h.get_by_label_contains("tumour sensitivity ×8.00: each voxel's tumour probability");
    // A run at ×8 gives the same labels as moving the slider did.
    let generation =
        |app: &OncoscopeApp| app.case().unwrap().prediction.as_ref().unwrap().generation;
    let relabelled_generation = generation(h.state());
    h.get_by_label("Run segmentation").click();
    run_until(&mut h, "a run at ×8", |app| {
        at_sensitivity(8.0)(app) && generation(app) != relabelled_generation
    });
    assert_eq!(labels_now(h.state()), relabelled);
    // Unticked, the card's own setting is back, and with it the first labels.
    h.get_by_label("tumour sensitivity ×").click();
    run_until(&mut h, "the labels at the card's ×1", at_sensitivity(1.0));
    assert_eq!(h.state_mut().preferences_mut().tumour_sensitivity, None);
    assert_eq!(labels_now(h.state()), plain);

    // The 3D view got the ground-truth or predicted surfaces and rendered them.
    let image = h.render().expect("wgpu render of the window");
    assert!(image.width() > 0);
    let shown = h.state().scene().mesh_descriptions();
    assert!(shown.contains(&"organ prediction".to_string()), "{shown:?}");

    // Compare mode: the 3D view swaps to the organ's agreement regions, and shows the three
    // slice planes when asked.
    let prefs = h.state_mut().preferences_mut();
    prefs.label_display = LabelDisplay::Comparison;
    prefs.compared = ComparedStructure::Organ;
    prefs.show_planes_3d = true;
    h.run_steps(3);
    let case = h.state().case().unwrap();
    let regions: Vec<String> = case
        .current_comparison()
        .expect("comparison")
        .agreement
        .iter()
        .filter(|a| a.surface.structure == Structure::Organ)
        .map(|a| format!("organ {}", a.agreement.name()))
        .collect();
    assert!(
        regions.contains(&"organ true positive".to_string()),
        "a trained model overlaps the organ somewhere: {regions:?}"
    );
    assert_eq!(h.state().scene().mesh_descriptions(), regions);
    assert_eq!(h.state().scene().plane_count(), 3);
    h.render()
        .expect("wgpu render with planes and agreement surfaces");
}

#[test]
fn cancel_stops_the_models_and_the_app_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let weights = viewer_weights(dir.path());
    let (ct, _) = sample();
    let mut plan = StartupPlan::open(Some((ct, None)));
    plan.weights_dir = Some(weights);
    let mut h = harness(plan);
    run_until(&mut h, "the case to load", |app| app.case().is_some());
    h.state_mut().command(Command::Run {
        classify: false,
        segment: true,
    });
    h.state_mut().command(Command::Cancel);
    run_until(&mut h, "the cancellation", |app| !app.busy());
    let app = h.state();
    assert!(app.case().unwrap().prediction.is_none());
    assert!(
        app.notices().iter().any(|n| n.text.contains("cancelled")),
        "{:?}",
        app.notices()
    );
    // Running again after a cancel works.
    h.get_by_label("Run segmentation").click();
    run_until(&mut h, "the second run", |app| {
        !app.busy() && app.case().unwrap().prediction.is_some()
    });
}

#[test]
fn an_unreadable_file_shows_an_error_and_the_app_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.nii.gz");
    std::fs::write(&bad, b"this is not a NIfTI file").unwrap();
    let mut h = harness(StartupPlan::open(Some((bad.clone(), None))));
    run_until(&mut h, "the load to fail", |app| {
        !app.busy() && !app.notices().is_empty()
    });
    let notice = &h.state().notices()[0];
    assert!(notice.error);
    assert!(notice.text.contains("broken.nii.gz"), "{}", notice.text);
    assert!(h.state().case().is_none());
    // The window still works: open the sample by typing its path.
    let (ct, _) = sample();
    h.get_by_label("Open by path").click();
    h.run_steps(2);
    h.state_mut().command(Command::OpenCase {
        ct: ct.clone(),
        ground_truth: None,
        task: None,
    });
    run_until(&mut h, "the sample to load", |app| app.case().is_some());
    h.get_by_label("ct.nii.gz");
    assert_eq!(h.state().task(), Task::Liver);

    // A CT of a pancreas data set (its dataset.json says so) switches the models to pancreas.
    let root = dir.path().join("Task07_Pancreas_small");
    std::fs::create_dir_all(root.join("imagesTr")).unwrap();
    let pancreas_ct = root.join("imagesTr/pancreas_001.nii.gz");
    std::fs::copy(&ct, &pancreas_ct).unwrap();
    std::fs::write(
        root.join("dataset.json"),
        r#"{"name": "Task07_Pancreas_small", "labels": {"0": "background",
            "1": "pancreas", "2": "cancer"}, "training": []}"#,
    )
    .unwrap();
    h.state_mut().command(Command::OpenCase {
        ct: pancreas_ct.clone(),
        ground_truth: None,
        task: None,
    });
    run_until(&mut h, "the pancreas case to load", |app| {
        !app.busy()
            && app
                .case()
                .is_some_and(|c| c.ct_path.ends_with("pancreas_001.nii.gz"))
    });
    assert_eq!(h.state().task(), Task::Pancreas);
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| !n.error && n.text.contains("the pancreas models will run")),
        "{:?}",
        h.state().notices()
    );
    // An explicit task wins over the data set's.
    h.state_mut().command(Command::OpenCase {
        ct,
        ground_truth: None,
        task: None,
    });
    run_until(&mut h, "the sample to load again", |app| {
        !app.busy() && app.case().is_some_and(|c| c.ct_path.ends_with("ct.nii.gz"))
    });
    assert_eq!(
        h.state().task(),
        Task::Pancreas,
        "no data set: the task stays"
    );
    h.state_mut().command(Command::OpenCase {
        ct: pancreas_ct,
        ground_truth: None,
        task: Some(Task::Liver),
    });
    run_until(&mut h, "the pancreas case to load as liver", |app| {
        !app.busy()
            && app
                .case()
                .is_some_and(|c| c.ct_path.ends_with("pancreas_001.nii.gz"))
    });
    assert_eq!(h.state().task(), Task::Liver);
}

/// A file dropped onto the window, as the native integration reports it.
#[derive(Debug)]
struct FileOnDisk(std::path::PathBuf);

impl egui::DroppedFile for FileOnDisk {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(harness: &mut Harness<'static, OncoscopeApp>, path: &std::path::Path) {
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(FileOnDisk(path.to_path_buf())));
}

#[test]
fn a_dropped_ct_opens_with_its_ground_truth_and_a_dropped_label_map_replaces_it() {
    let mut h = harness(StartupPlan::open(None));
    h.run_steps(2);
    assert!(h.state().case().is_none());
    let (ct, label) = sample();
    drop_file(&mut h, &ct);
    run_until(&mut h, "the dropped CT to load", |app| {
        !app.busy() && app.case().is_some_and(|c| c.ground_truth.is_some())
    });
    let case = h.state().case().unwrap();
    assert_eq!(case.ct_path, ct);
    // The sample's label.nii.gz beside ct.nii.gz was found without being asked for.
    assert_eq!(case.ground_truth.as_ref().unwrap().origin, label);

    // A label map dropped onto the open case becomes its ground truth.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("other_labels.nii.gz");
    std::fs::copy(&label, &copy).unwrap();
    drop_file(&mut h, &copy);
    run_until(&mut h, "the dropped label map", |app| {
        !app.busy()
            && app
                .case()
                .and_then(|c| c.ground_truth.as_ref())
                .is_some_and(|g| g.origin == copy)
    });
    assert_eq!(h.state().case().unwrap().ct_path, ct, "the CT stays open");
}

#[test]
fn without_a_classifier_run_both_segments_and_says_so_without_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // Only the shipped U-Net (and its locator): no liver classifier.
    let weights = dir.path().join("weights");
    std::fs::create_dir_all(&weights).unwrap();
    copy_shipped_liver_unet(&weights);
    let (ct, _) = sample();
    let mut plan = StartupPlan::open(Some((ct, None)));
    plan.weights_dir = Some(weights);
    let mut h = harness(plan);
    run_until(&mut h, "the case to load", |app| app.case().is_some());
    assert!(
        h.get_by_label("Run classification")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_label("Run both").click();
    run_until(&mut h, "the segmentation", |app| {
        !app.busy() && app.case().is_some_and(|c| c.prediction.is_some())
    });
    let notices = h.state().notices();
    assert!(notices.iter().all(|n| !n.error), "{notices:?}");
    assert!(
        notices
            .iter()
            .any(|n| n.text.contains("No liver classifier") && n.text.contains("segmentation only")),
        "{notices:?}"
    );
    assert!(h.state().case().unwrap().classification.is_none());
}

#[test]
fn results_of_a_case_no_longer_open_are_dropped_and_its_files_are_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let weights = viewer_weights(dir.path());
    let (ct, label) = sample();
    let mut plan = StartupPlan::open(Some((ct.clone(), None)));
    plan.weights_dir = Some(weights);
    let mut h = harness(plan);
    run_until(&mut h, "the case to load", |app| app.case().is_some());
    // Segment the sample, and open another CT (a copy: same grid) before the result is in.
    h.state_mut().command(Command::Run {
        classify: false,
        segment: true,
    });
    let other = dir.path().join("other_ct.nii.gz");
    std::fs::copy(&ct, &other).unwrap();
    h.state_mut().command(Command::OpenCase {
        ct: other.clone(),
        ground_truth: None,
        task: None,
    });
    run_until(&mut h, "the other case, and the models to stop", |app| {
        !app.busy() && app.case().is_some_and(|c| c.ct_path == other)
    });
    h.run_steps(20);
    assert!(
        h.state().case().unwrap().prediction.is_none(),
        "the first CT's segmentation was put on the second"
    );
    // Its own segmentation may not be saved over the CT it was made from.
    h.get_by_label("Run segmentation").click();
    run_until(&mut h, "the segmentation", |app| {
        !app.busy() && app.case().unwrap().prediction.is_some()
    });
    let before = std::fs::read(&other).unwrap();
    h.state_mut()
        .command(Command::SaveSegmentation(other.clone()));
    run_until(&mut h, "the refusal", |app| {
        !app.busy() && app.notices().iter().any(|n| n.error)
    });
    let notice = h.state().notices().iter().find(|n| n.error).unwrap();
    assert!(notice.text.contains("that is an input"), "{}", notice.text);
    assert_eq!(std::fs::read(&other).unwrap(), before);
    // A ground truth with other labels (a multi-organ map) does not keep the CT from
    // opening; why it is left out is said.
    let mut labels = oncoscope::volume::nifti::read_labels(&label).unwrap();
    labels.voxels[0] = 7;
    let multi = dir.path().join("multi_organ.nii.gz");
    oncoscope::volume::nifti::write_in_source_grid(&multi, &labels).unwrap();
    h.state_mut().command(Command::OpenCase {
        ct: ct.clone(),
        ground_truth: Some(multi),
        task: None,
    });
    run_until(&mut h, "the sample without its ground truth", |app| {
        !app.busy() && app.case().is_some_and(|c| c.ct_path == ct)
    });
    assert!(h.state().case().unwrap().ground_truth.is_none());
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n.error && n.text.contains("multi_organ.nii.gz") && n.text.contains("[7]")),
        "{:?}",
        h.state().notices()
    );
}

#[test]
fn a_failing_classifier_is_reported_as_such_and_the_segmentation_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let weights = viewer_weights(dir.path());
    std::fs::write(weights.join("liver_cnn.safetensors"), b"not weights").unwrap();
    let (ct, _) = sample();
    let mut plan = StartupPlan::open(Some((ct, None)));
    plan.weights_dir = Some(weights);
    let mut h = harness(plan);
    run_until(&mut h, "the case to load", |app| app.case().is_some());
    h.get_by_label("Run both").click();
    run_until(&mut h, "both models to end", |app| {
        !app.busy() && app.case().unwrap().prediction.is_some()
    });
    let notices = h.state().notices();
    assert!(
        notices.iter().any(|n| n.error
            && n.text.starts_with("Classification failed")
            && n.text.contains("liver_cnn")),
        "{notices:?}"
    );
    assert!(
        !notices
            .iter()
            .any(|n| n.text.starts_with("Segmentation failed")),
        "{notices:?}"
    );
    assert!(h.state().case().unwrap().classification.is_none());
}

/// The sample case open with its ground truth, whose surfaces are built.
fn sample_with_ground_truth_surfaces() -> Harness<'static, OncoscopeApp> {
    let (ct, label) = sample();
    let mut h = harness(StartupPlan::open(Some((ct, Some(label)))));
    run_until(&mut h, "the case and its ground-truth surfaces", |app| {
        !app.busy()
            && app
                .case()
                .and_then(|c| c.ground_truth.as_ref())
                .is_some_and(|t| t.surfaces.is_some())
    });
    h
}

#[test]
fn a_mesh_export_leaves_no_file_of_an_earlier_export_beside_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = sample_with_ground_truth_surfaces();
    let out = dir.path().join("meshes");
    std::fs::create_dir_all(&out).unwrap();
    // An earlier export, of a case that had a prediction.
    std::fs::write(out.join("prediction_organ.ply"), b"ply of another case").unwrap();
    std::fs::write(out.join("notes.txt"), b"the user's own file").unwrap();
    h.state_mut().command(Command::ExportMeshes(out.clone()));
    run_until(&mut h, "the export", |app| !app.busy());
    assert!(out.join("ground_truth_organ.ply").is_file());
    assert!(
        !out.join("prediction_organ.ply").exists(),
        "the earlier prediction mesh would pass for this case's"
    );
    assert!(
        out.join("notes.txt").is_file(),
        "only export names are touched"
    );
    // The 3D view hidden behind a maximised slice view is not saved (its last frame can be an
    // earlier case's).
    h.state_mut().preferences_mut().maximised = Some(ViewSlot::Slice(Plane::Axial));
    h.run_steps(2);
    let shot = dir.path().join("scene.png");
    h.state_mut()
        .command(Command::SceneScreenshot(shot.clone()));
    h.run_steps(2);
    assert!(!shot.exists());
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n.error && n.text.contains("hidden behind a maximised")),
        "{:?}",
        h.state().notices()
    );
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n.text.contains("1 of an earlier export")),
        "{:?}",
        h.state().notices()
    );
}

#[test]
fn a_ground_truth_asked_for_while_a_ct_loads_is_refused_not_put_on_the_wrong_ct() {
    let (ct, label) = sample();
    let mut h = harness(StartupPlan::open(None));
    h.run_steps(2);
    h.state_mut().command(Command::OpenCase {
        ct,
        ground_truth: None,
        task: None,
    });
    h.state_mut().command(Command::OpenGroundTruth(label));
    h.run_steps(1);
    assert!(
        h.state()
            .notices()
            .iter()
            .any(|n| n.error && n.text.contains("still loading")),
        "{:?}",
        h.state().notices()
    );
    run_until(&mut h, "the CT", |app| !app.busy() && app.case().is_some());
}

#[test]
fn switching_the_task_selector_does_not_rename_the_open_case_s_labels() {
    let (ct, label) = sample();
    let mut h = harness(StartupPlan::open(Some((ct, Some(label)))));
    run_until(&mut h, "the sample", |app| {
        !app.busy() && app.case().is_some_and(|c| c.ground_truth.is_some())
    });
    assert_eq!(h.state().case().unwrap().task, Task::Liver);
    h.get_by_label("pancreas").click();
    h.run_steps(2);
    assert_eq!(h.state().task(), Task::Pancreas);
    assert_eq!(
        h.state().case().unwrap().task,
        Task::Liver,
        "its liver labels stay named liver until pancreas models run on it"
    );
}

/// Opens the File menu and picks `item`.
fn choose_from_file_menu(h: &mut Harness<'static, OncoscopeApp>, item: &str) {
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label(item).click();
    h.run_steps(2);
}

/// In the typed-path window, whose field has the focus and shows `shown`: selects it all and
/// types `path` over it.
fn type_over(
    h: &mut Harness<'static, OncoscopeApp>,
    shown: &std::path::Path,
    path: &std::path::Path,
) {
    h.key_combination_modifiers(egui::Modifiers::COMMAND, &[egui::Key::A]);
    h.run_steps(1);
    h.query_all_by_value(&shown.display().to_string())
        .next()
        .expect("the suggested path")
        .type_text(&path.display().to_string());
    h.run_steps(2);
}

#[test]
fn without_a_file_dialog_every_file_choice_asks_for_a_typed_path() {
    let dir = tempfile::tempdir().unwrap();
    let (ct, _) = sample();
    let mut h = sample_with_ground_truth_surfaces();
    h.state_mut().use_typed_paths();
    choose_from_file_menu(&mut h, "Export meshes…");
    assert_eq!(
        h.state().path_prompt(),
        Some(oncoscope::ui::DialogPurpose::ExportMeshes)
    );
    // Offered beside the CT, named after it.
    let suggested = ct.parent().unwrap().join("ct_meshes");
    let shown = |h: &Harness<'static, OncoscopeApp>, text: &str| {
        h.query_all_by_value(text).next().is_some()
    };
    assert!(shown(&h, &suggested.display().to_string()));
    // Cancel closes it and does nothing.
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert_eq!(h.state().path_prompt(), None);
    assert!(!suggested.exists());

    // A typed folder gets the meshes.
    let out = dir.path().join("typed meshes");
    choose_from_file_menu(&mut h, "Export meshes…");
    type_over(&mut h, &suggested, &out);
    assert!(shown(&h, &out.display().to_string()), "typed over");
    h.get_by_label("OK").click();
    run_until(&mut h, "the export", |app| {
        !app.busy() && app.path_prompt().is_none()
    });
    assert!(
        out.join("ground_truth_organ.ply").is_file(),
        "{:?}",
        h.state().notices()
    );
}

#[test]
fn a_typed_save_onto_an_existing_file_asks_before_replacing_it() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = dir.path().join("earlier.png");
    std::fs::write(&earlier, b"a picture to keep").unwrap();
    let mut h = sample_with_ground_truth_surfaces();
    h.state_mut().use_typed_paths();
    choose_from_file_menu(&mut h, "Save 3D view…");
    assert_eq!(
        h.state().path_prompt(),
        Some(oncoscope::ui::DialogPurpose::SaveSceneScreenshot)
    );
    let (ct, _) = sample();
    type_over(&mut h, &ct.parent().unwrap().join("ct_3d.png"), &earlier);
    // OK on an existing file warns and keeps the window open; the file is untouched.
    h.get_by_label("OK").click();
    h.run_steps(3);
    assert_eq!(
        h.state().path_prompt(),
        Some(oncoscope::ui::DialogPurpose::SaveSceneScreenshot)
    );
    assert!(
        h.query_all_by_label_contains("earlier.png already exists")
            .next()
            .is_some(),
        "the warning names the file"
    );
    assert!(h.query_all_by_label("Replace").next().is_some());
    // Cancel keeps it as it was.
    h.get_by_label("Cancel").click();
    h.run_steps(3);
    assert_eq!(h.state().path_prompt(), None);
    assert_eq!(std::fs::read(&earlier).unwrap(), b"a picture to keep");
}

#[test]
fn view_no_file_dialog_asks_for_typed_paths_from_the_start() {
    let mut plan = StartupPlan::open(None);
    plan.typed_paths = true;
    let mut h = harness(plan);
    h.run_steps(2);
    h.get_by_label("Open CT…").click();
    h.run_steps(2);
    assert_eq!(
        h.state().path_prompt(),
        Some(oncoscope::ui::DialogPurpose::OpenCt)
    );
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert_eq!(h.state().path_prompt(), None);
}
