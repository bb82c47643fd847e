//! End to end on generated phantoms: a small U-Net and CNN train for a few steps with the loss
//! falling, save, reload and infer with identical output; a cancelled run stops within one
//! step and its checkpoint still loads; resume continues the epoch count.

mod training_common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::Device;
use oncoscope::model::checkpoint::LoadedModel;
use oncoscope::model::inference::{classify, segment};
use oncoscope::model::preprocess::Preprocessing;
use oncoscope::model::progress::{CancelToken, RunControl};
use oncoscope::model::training::{TrainingEvent, best_checkpoint, train};
use oncoscope::model::{GlobalPool, ModelKind};
use oncoscope::volume::decathlon::Task;
use oncoscope::volume::nifti::read_ct;
use training_common::{tiny_config, train_from_scratch, write_phantoms};

/// Writes `n` small liver phantoms (about 40–48 voxels per axis) into `root`.
fn small_dataset(root: &Path, n: usize, seed: u64) {
    write_phantoms(root, Task::Liver, n, seed, None);
}

#[test]
fn unet_trains_saves_reloads_and_infers_identically() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 11);
    let run = dir.path().join("run");
    let mut losses = Vec::new();
    let mut epochs_seen = Vec::new();
    let mut cfg = tiny_config(&data, &run, ModelKind::Unet, 8);
    cfg.learning_rate = 1e-2;
    let outcome = train(
        &cfg,
        &Device::Cpu,
        false,
        &RunControl::new(),
        &mut |e| match e {
            TrainingEvent::Step { loss, .. } => losses.push(*loss),
            TrainingEvent::Epoch(s) => epochs_seen.push(s.clone()),
            _ => {}
        },
    )
    .unwrap();
    assert!(!outcome.cancelled);
    assert_eq!(epochs_seen.len(), 8);
    let first = losses[..2].iter().sum::<f64>() / 2.0;
    let last = losses[losses.len() - 2..].iter().sum::<f64>() / 2.0;
    assert!(last < 0.9 * first, "loss did not fall: {losses:?}");
    for file in [
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.json",
        "curves.csv",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    // The weights are as readable as their card (candle alone writes them owner-only).
    let permissions = |file: &str| std::fs::metadata(run.join(file)).unwrap().permissions();
    assert_eq!(permissions("best.safetensors"), permissions("best.json"));
    let csv = std::fs::read_to_string(run.join("curves.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9, "{csv}");

    // Reload the best checkpoint twice: inference is deterministic and in the CT's grid.
    let ct_path = data.join("imagesTr/liver_000.nii.gz");
    let ct = read_ct(&ct_path).unwrap();
    let model = LoadedModel::load(&best_checkpoint(&run), &Device::Cpu).unwrap();
    let again = LoadedModel::load(&run.join("best.json"), &Device::Cpu).unwrap();
    let a = segment(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    let b = segment(&again, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(a.voxels, b.voxels);
    assert_eq!(a.grid, ct.grid);
    assert!(a.voxels.iter().all(|&l| l <= 2));
    assert!(
        a.source.is_some(),
        "segmentation keeps the CT's file link for saving"
    );

    // Resume continues where the run stopped.
    cfg.epochs = 9;
    let outcome = train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    assert_eq!(outcome.epochs_done, 9);
    assert_eq!(outcome.history.len(), 9);
}

#[test]
fn cancelled_run_stops_within_a_step_and_its_checkpoint_loads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 12);
    let run = dir.path().join("run");
    let cancel = CancelToken::new();
    let steps = Arc::new(Mutex::new(0usize));
    let cfg = tiny_config(&data, &run, ModelKind::Cnn, 50);
    let outcome = train(
        &cfg,
        &Device::Cpu,
        false,
        &RunControl::cancel_only(&cancel),
        &mut |e| match e {
            TrainingEvent::Step {
                step, steps: of, ..
            } => {
                // Oversampling the minority class lengthens the epoch; the count must include it
                // (the CLI's progress bar crashed when step exceeded steps).
                assert!(step <= of, "step {step} of {of}");
                *steps.lock().unwrap() += 1;
            }
            TrainingEvent::Epoch(s) if s.epoch == 2 => cancel.cancel(),
            _ => {}
        },
    )
    .unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.epochs_done, 2);
    // Cancelled right after epoch 2: no step of epoch 3 ran.
    let steps_per_epoch = 2; // 3 training cases (balanced up to 4 at most) in batches of 2
    assert!(
        *steps.lock().unwrap() <= 2 * steps_per_epoch,
        "steps {}",
        steps.lock().unwrap()
    );
    let model = LoadedModel::load(&run.join("last"), &Device::Cpu).unwrap();
    let ct = read_ct(&data.join("imagesTr/liver_001.nii.gz")).unwrap();
    let c = classify(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert!(c.probability.is_finite() && (0.0..=1.0).contains(&c.probability));
    assert_eq!(c.input_shape, [1, 16, 16, 16]);
    // A cancelled token makes inference return nothing rather than an error.
    let stopped = CancelToken::new();
    stopped.cancel();
    assert!(
        classify(&model, &ct, &stopped, &mut |_| {})
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_run_stopped_while_preparing_its_cases_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 8, 14);
    let run = dir.path().join("run");
    let cancel = CancelToken::new();
    let mut prepared = 0;
    let cfg = tiny_config(&data, &run, ModelKind::Unet, 3);
    let outcome = train(
        &cfg,
        &Device::Cpu,
        false,
        &RunControl::cancel_only(&cancel),
        &mut |e| match e {
            TrainingEvent::Preparing { .. } => {
                prepared += 1;
                cancel.cancel();
            }
            TrainingEvent::Step { .. } | TrainingEvent::Epoch(_) => panic!("trained: {e:?}"),
            _ => {}
        },
    )
    .unwrap();
    assert!(outcome.cancelled && outcome.epochs_done == 0 && outcome.best.is_none());
    // The cases under way when the stop came are finished (one per worker thread), no more.
    assert!(prepared < 8, "all {prepared} cases were prepared");
    assert!(!run.join("last.json").exists());
}

#[test]
fn wrong_task_and_missing_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 2, 13);
    let mut cfg = tiny_config(&data, &dir.path().join("run"), ModelKind::Unet, 1);
    cfg.task = Task::Pancreas;
    let err = train_from_scratch(&cfg).unwrap_err();
    assert!(format!("{err:#}").contains("liver"), "{err:#}");
    cfg.data = dir.path().join("nowhere");
    let err = train_from_scratch(&cfg).unwrap_err();
    assert!(format!("{err:#}").contains("nowhere"), "{err:#}");
}

#[test]
fn a_paused_run_holds_and_a_stop_mid_epoch_keeps_its_weights_for_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 14);
    let run = dir.path().join("run");
    let cfg = tiny_config(&data, &run, ModelKind::Cnn, 3);
    let control = RunControl::new();
    let steps = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let (remote, seen) = (control.clone(), steps.clone());
    let worker = std::thread::spawn(move || {
        train(&cfg, &Device::Cpu, false, &remote, &mut |e| {
            if let TrainingEvent::Step { epoch, step, .. } = e {
                seen.lock().unwrap().push((*epoch, *step));
                // Pause after the first step of epoch 2 (the UI thread would do this).
                if (*epoch, *step) == (2, 1) {
                    remote.pause.pause();
                }
            }
        })
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !steps.lock().unwrap().contains(&(2, 1)) {
        assert!(
            std::time::Instant::now() < deadline,
            "epoch 2 never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Paused: no further step for a while.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(steps.lock().unwrap().last(), Some(&(2, 1)));
    // Stop while paused: the run ends without another step and keeps epoch 2's first step.
    control.cancel.cancel();
    let outcome = worker.join().unwrap().unwrap();
    assert!(outcome.cancelled);
    assert_eq!(outcome.epochs_done, 1);
    assert_eq!(steps.lock().unwrap().last(), Some(&(2, 1)));
    let card = oncoscope::model::checkpoint::read_card(&run.join("last")).unwrap();
    assert_eq!(card.epoch, 1, "the unfinished epoch is not counted");
    assert!(
        card.notes
            .get("stopped")
            .is_some_and(|n| n.contains("epoch 2")),
        "{:?}",
        card.notes
    );
    LoadedModel::load(&run.join("last"), &Device::Cpu).unwrap();
    // Resuming repeats epoch 2 and finishes the run; the curves hold each epoch once.
    let cfg = tiny_config(&data, &run, ModelKind::Cnn, 3);
    let mut first_step = None;
    let outcome = train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |e| {
        if let TrainingEvent::Step { epoch, step, .. } = e {
            first_step.get_or_insert((*epoch, *step));
        }
    })
    .unwrap();
    assert_eq!(first_step, Some((2, 1)));
    let epochs: Vec<usize> = outcome.history.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, vec![1, 2, 3]);
}

#[test]
fn a_region_model_runs_behind_its_locator_and_labels_only_its_cube() {
    use oncoscope::model::checkpoint::read_card;
    use oncoscope::model::region::{Region, main_organ_pieces, organ_cube};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 15);
    // The shipped whole-box liver U-Net finds the organ.
    let shipped = oncoscope::model::weights::shipped_weights_dir();
    let locator = ["liver_locator", "liver_unet"]
        .map(|name| shipped.join(name))
        .into_iter()
        .find(|stem| read_card(stem).is_ok_and(|c| c.preprocessing.region == Region::WholeBox))
        .expect("a whole-box liver U-Net in weights/");
    let run = dir.path().join("region");
    let mut cfg = tiny_config(&data, &run, ModelKind::Unet, 2);
    cfg.preprocessing.region = Region::OrganCube { margin_mm: 10.0 };
    let err = train_from_scratch(&cfg).unwrap_err();
    assert!(format!("{err:#}").contains("locator"), "{err:#}");
    cfg.locator = Some(locator);
    train_from_scratch(&cfg).unwrap();

    // The run folder runs on its own: its cards name the locator copied beside them.
    let card = read_card(&run.join("best")).unwrap();
    assert_eq!(card.locator.as_deref(), Some("liver_locator"));
    let model = LoadedModel::load(&run.join("best"), &Device::Cpu).unwrap();
    let found = model.locator.as_ref().expect("locator loaded");
    let ct = read_ct(&data.join("imagesTr/liver_001.nii.gz")).unwrap();
    let organ = segment(found, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    let cube = organ_cube(&main_organ_pieces(&organ), 10.0).expect("the liver is found");
    let labels = segment(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(labels.grid, ct.grid);
    let outside = labels
        .voxels
        .iter()
        .enumerate()
        .filter(|&(i, &l)| l > 0 && !cube.contains(ct.grid.coords(i)))
        .count();
    assert_eq!(outside, 0, "labels outside the organ's cube");

    // Without its locator file the model is refused, naming what is missing.
    std::fs::remove_file(run.join("liver_locator.safetensors")).unwrap();
    let err = LoadedModel::load(&run.join("best"), &Device::Cpu).unwrap_err();
    assert!(format!("{err:#}").contains("liver_locator"), "{err:#}");
}

#[test]
fn labelled_normal_cases_join_a_region_classifier_and_unlabelled_ones_are_refused_clearly() {
    use oncoscope::model::region::Region;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 21);
    let normals = dir.path().join("normals");
    write_phantoms(&normals, Task::Liver, 2, 22, Some(0));
    let locator = oncoscope::model::weights::shipped_weights_dir().join("liver_locator");

    // A classifier whose cells are supervised (2 × 2 × 2 cells on a 32³ grid).
    let mut cfg = tiny_config(&data, &dir.path().join("run"), ModelKind::Cnn, 1);
    cfg.architecture.global_pool = GlobalPool::MaxCell;
    cfg.preprocessing = Preprocessing::cube(32);
    cfg.preprocessing.region = Region::OrganCube { margin_mm: 10.0 };
    cfg.locator = Some(locator);
    cfg.normals = Some(normals.clone());
    let mut prepared = Vec::new();
    let mut split = None;
    train(
        &cfg,
        &Device::Cpu,
        false,
        &RunControl::new(),
        &mut |e| match e {
            TrainingEvent::Preparing { total, .. } => prepared.push(*total),
            TrainingEvent::Started {
                train_cases,
                validation_cases,
                ..
            } => split = Some(train_cases + validation_cases),
            _ => {}
        },
    )
    .unwrap();
    assert_eq!(prepared.last(), Some(&6), "4 cases + 2 normals");
    assert_eq!(split, Some(6));
    let run = dir.path().join("run");
    let model = LoadedModel::load(&best_checkpoint(&run), &Device::Cpu).unwrap();
    assert_eq!(model.card.architecture.global_pool, GlobalPool::MaxCell);
    let ct = read_ct(&data.join("imagesTr/liver_000.nii.gz")).unwrap();
    let first = classify(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    let again = classify(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert!(first.probability > 0.0 && first.probability < 1.0);
    assert_eq!(first.logit, again.logit);

    // Normal cases the run cannot use are refused before training, with a message.
    let refused = |normals: PathBuf| {
        let mut cfg = cfg.clone();
        cfg.out = normals.with_extension("run");
        cfg.normals = Some(normals);
        let err = train_from_scratch(&cfg).unwrap_err();
        format!("{err:#}")
    };

    // A folder of bare CT files has no label maps, so no organ region: the error says so.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(
        normals.join("imagesTr/liver_000.nii.gz"),
        bare.join("scan.nii.gz"),
    )
    .unwrap();
    let text = refused(bare);
    assert!(text.contains("scan.nii.gz"), "{text}");

    // Normal cases of another task are refused, naming the folder.
    let pancreas = dir.path().join("pancreas");
    write_phantoms(&pancreas, Task::Pancreas, 1, 23, Some(0));
    let text = refused(pancreas);
    assert!(
        text.contains("pancreas") && text.contains("normal"),
        "{text}"
    );

    // An empty folder is named with what was expected.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let text = refused(empty);
    assert!(
        text.contains("empty") && text.contains("imagesTr"),
        "{text}"
    );
}

#[test]
fn a_run_can_start_from_another_models_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 4, 31);
    // Models of the liver's region (so that they may re-centre their cube), behind the shipped
    // whole-box locator (copied, not run: a U-Net trains on the ground truth's cube).
    let region_config = |out: &Path, epochs: usize| {
        let mut cfg = tiny_config(&data, out, ModelKind::Unet, epochs);
        cfg.preprocessing.region = oncoscope::model::region::Region::OrganCube { margin_mm: 10.0 };
        cfg.locator = Some(oncoscope::model::weights::shipped_weights_dir().join("liver_locator"));
        cfg
    };
    let first = dir.path().join("first");
    train(
        &region_config(&first, 2),
        &Device::Cpu,
        false,
        &RunControl::new(),
        &mut |_| {},
    )
    .unwrap();

    // The model started from re-centres its cube and drops tumour specks at inference (card
    // settings, not learnt).
    let set_inference = |stem: &Path, refinements: usize, min_lesion_ml: f64, sensitivity: f64| {
        let path = stem.with_extension("json");
        let mut card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        card["cube_refinements"] = refinements.into();
        card["min_lesion_ml"] = min_lesion_ml.into();
        card["tumour_sensitivity"] = sensitivity.into();
        std::fs::write(&path, card.to_string()).unwrap();
    };
    set_inference(&first.join("last"), 1, 0.25, 3.0);

    // With a vanishing learning rate the new run keeps the weights it started from.
    let second = dir.path().join("second");
    let mut cfg = region_config(&second, 1);
    cfg.learning_rate = 1e-12;
    cfg.init_from = Some(first.join("last"));
    train_from_scratch(&cfg).unwrap();
    let weights = |run: &Path| {
        candle_core::safetensors::load(run.join("last.safetensors"), &Device::Cpu).unwrap()
    };
    let max_diff = |a: &candle_core::Tensor, b: &candle_core::Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (started_from, kept) = (weights(&first), weights(&second));
    assert_eq!(started_from.len(), kept.len());
    for (name, tensor) in &started_from {
        let diff = max_diff(tensor, &kept[name]);
        assert!(diff < 1e-6, "{name} changed by {diff}");
    }
    // … whereas a run from random weights differs.
    let fresh = dir.path().join("fresh");
    let mut cfg_fresh = region_config(&fresh, 1);
    cfg_fresh.learning_rate = 1e-12;
    train_from_scratch(&cfg_fresh).unwrap();
    let diff = max_diff(
        &started_from["head.weight"],
        &weights(&fresh)["head.weight"],
    );
    assert!(
        diff > 1e-3,
        "a fresh run matched the trained weights ({diff})"
    );
    let read_card = oncoscope::model::checkpoint::read_card;
    let card = read_card(&second.join("last")).unwrap();
    assert!(
        card.notes["initialised_from"].contains("first"),
        "{:?}",
        card.notes
    );
    // It keeps the setting of the model it started from, a resumed run its own; a fresh run
    // has none.
    assert_eq!(
        (
            card.cube_refinements,
            card.min_lesion_ml,
            card.tumour_sensitivity
        ),
        (1, 0.25, 3.0)
    );
    let fresh_card = read_card(&fresh.join("last")).unwrap();
    assert_eq!(
        (
            fresh_card.cube_refinements,
            fresh_card.min_lesion_ml,
            fresh_card.tumour_sensitivity
        ),
        (0, 0.0, 1.0)
    );
    // A resumed run keeps those of its best model (which `oncoscope model` sets).
    set_inference(&second.join("best"), 2, 0.5, 0.5);
    cfg.epochs = 2;
    // Resumed without `init_from`, as `train --resume` is run, the run still names the model
    // it started from.
    cfg.init_from = None;
    train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    let resumed = read_card(&second.join("last")).unwrap();
    assert_eq!(
        (
            resumed.epoch,
            resumed.cube_refinements,
            resumed.min_lesion_ml,
            resumed.tumour_sensitivity
        ),
        (2, 2, 0.5, 0.5)
    );
    assert_eq!(
        resumed.notes.get("initialised_from"),
        card.notes.get("initialised_from"),
        "{:?}",
        resumed.notes
    );
    // Set for a resumed run, a setting reaches its best model even when no epoch beats it.
    cfg.epochs = 3;
    cfg.min_lesion_ml = Some(0.75);
    train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    for stem in ["last", "best"] {
        let card = read_card(&second.join(stem)).unwrap();
        assert_eq!(
            (card.cube_refinements, card.min_lesion_ml),
            (2, 0.75),
            "{stem}"
        );
    }
    // A card edited into a setting that cannot run is named on resume, and mended by setting it.
    set_inference(&second.join("best"), 2, 0.75, 1000.0);
    cfg.epochs = 4;
    let err = train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("best.json") && text.contains("--set-tumour-sensitivity"),
        "{text}"
    );
    set_inference(&second.join("best"), 1000, 0.75, 0.5);
    cfg.min_lesion_ml = None;
    let err = train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("best.json") && text.contains("1000"),
        "{text}"
    );
    cfg.cube_refinements = Some(1);
    train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    let card = read_card(&second.join("best")).unwrap();
    assert_eq!((card.cube_refinements, card.min_lesion_ml), (1, 0.75));

    // Weights of another architecture are refused, naming the file: a narrower U-Net, or a
    // classifier.
    for (channels, kind) in [
        ([2, 8, 8, 8], ModelKind::Unet),
        ([4, 8, 8, 8], ModelKind::Cnn),
    ] {
        let mut cfg = region_config(&dir.path().join("third"), 1);
        cfg.architecture.channels = channels;
        cfg.architecture.kind = kind;
        cfg.init_from = Some(first.join("last"));
        let err = train_from_scratch(&cfg).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("first") && text.contains("architecture"),
            "{text}"
        );
    }
    // A wider U-Net starts from them widened: the old channels keep their weights (the first
    // layer reads the CT alone, so nothing is divided there), the copies carry a little noise,
    // and the card says where it came from.
    let wider = dir.path().join("wider");
    let mut cfg = region_config(&wider, 1);
    cfg.architecture.channels = [8, 12, 8, 8];
    cfg.learning_rate = 1e-12;
    cfg.init_from = Some(first.join("last"));
    train_from_scratch(&cfg).unwrap();
    let widened = weights(&wider);
    let (old, new) = (
        &started_from["enc1.0.conv.weight"],
        &widened["enc1.0.conv.weight"],
    );
    assert_eq!(new.dims(), &[8, 1, 3, 3, 3]);
    assert!(max_diff(old, &new.narrow(0, 0, 4).unwrap()) < 1e-6);
    let copies = max_diff(old, &new.narrow(0, 4, 4).unwrap());
    assert!(copies > 0.0 && copies < 0.1, "copies moved by {copies}");
    let card = read_card(&wider.join("last")).unwrap();
    assert_eq!(card.notes["widened_from"], "4,8,8,8");
    // Resumed, the run keeps its weights as they are and the note.
    cfg.epochs = 2;
    train(&cfg, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    let card = read_card(&wider.join("last")).unwrap();
    assert_eq!(
        (card.epoch, card.notes["widened_from"].as_str()),
        (2, "4,8,8,8")
    );
    // … but another grid is not: the networks are convolutional throughout.
    let finer = dir.path().join("finer");
    let mut cfg = region_config(&finer, 1);
    cfg.preprocessing.grid = Preprocessing::cube(24).grid;
    cfg.learning_rate = 1e-12;
    cfg.init_from = Some(first.join("last"));
    train_from_scratch(&cfg).unwrap();
    let kept = weights(&finer);
    for (name, tensor) in &started_from {
        let diff = max_diff(tensor, &kept[name]);
        assert!(diff < 1e-6, "{name} changed by {diff} on the finer grid");
    }
}

/// Trains `config` on the CPU (resuming `config.out` when `resume`) and checks that it is
/// refused before any case is prepared (no `Preparing` event), with every one of `needles`
/// in the error.
fn assert_refused_before_preparation(
    config: &oncoscope::model::training::TrainConfig,
    resume: bool,
    needles: &[&str],
) {
    let mut preparing = 0;
    let result = train(config, &Device::Cpu, resume, &RunControl::new(), &mut |e| {
        if let TrainingEvent::Preparing { .. } = e {
            preparing += 1;
        }
    });
    let text = format!("{:#}", result.expect_err("the run was refused"));
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert_eq!(
        preparing, 0,
        "cases were prepared before the refusal: {text}"
    );
}

/// Resumes `config`'s run on the CPU to its `epochs` and reads the `last` card it leaves.
fn resume_and_read_last(
    config: &oncoscope::model::training::TrainConfig,
) -> oncoscope::model::checkpoint::ModelCard {
    train(config, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    oncoscope::model::checkpoint::read_card(&config.out.join("last")).unwrap()
}

#[test]
fn the_cache_prepares_a_case_again_when_its_files_change() {
    use oncoscope::model::training::data::{PreparedCase, open_dataset, prepare_cases};
    use oncoscope::volume::nifti::{read_labels_for, write_in_source_grid};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 2, 41, Some(1));
    let pre = Preprocessing::cube(16);
    let cache = dir.path().join("run/cache");
    let prepare = |data: &Path, cache: &Path| {
        let dataset = open_dataset(data).unwrap();
        let mut cases = prepare_cases(&dataset, &[], &pre, None, cache, &|_, _, _| true).unwrap();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        cases
    };
    // The cache's files with their modification times, by name.
    let cached_files = || -> std::collections::BTreeMap<String, std::time::SystemTime> {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().modified().unwrap())
            })
            .collect()
    };
    let same = |a: &[PreparedCase], b: &[PreparedCase]| {
        a.iter()
            .zip(b)
            .all(|(a, b)| a.id == b.id && a.input == b.input && a.target == b.target)
    };
    let first = prepare(&data, &cache);
    assert!(first[0].has_tumour);
    // Unchanged files are read from the cache.
    assert!(same(&first, &prepare(&data, &cache)));
    let before = cached_files();
    assert_eq!(before.len(), 2);

    // A label map fixed after the run (its tumour was organ after all) is prepared again.
    let label_path = data.join("labelsTr/liver_000.nii.gz");
    let ct = read_ct(&data.join("imagesTr/liver_000.nii.gz")).unwrap();
    let labels = read_labels_for(&label_path, &ct).unwrap();
    let fixed = labels
        .with_voxels(labels.voxels.iter().map(|&l| l.min(1)).collect())
        .unwrap();
    write_in_source_grid(&label_path, &fixed).unwrap();
    let after = prepare(&data, &cache);
    assert!(
        !after[0].has_tumour,
        "the cached case was reused after its label map changed"
    );
    assert!(same(&after[1..], &first[1..]), "the untouched case changed");
    let now = cached_files();
    let untouched: Vec<_> = before
        .iter()
        .filter(|(n, _)| n.starts_with("liver_001-"))
        .collect();
    assert_eq!(untouched.len(), 1);
    assert_eq!(
        now.get(untouched[0].0),
        Some(untouched[0].1),
        "only the changed case is prepared again"
    );
    assert_eq!(
        now.len(),
        2,
        "the stale version of the changed case is removed: {now:?}"
    );

    // Another data set with the same case ids, into the same run folder, is its own.
    let other = dir.path().join("other");
    write_phantoms(&other, Task::Liver, 2, 42, Some(0));
    let theirs = prepare(&other, &cache);
    let fresh = prepare(&other, &dir.path().join("fresh_cache"));
    assert!(
        same(&theirs, &fresh),
        "cases of another data set were read from the cache"
    );
    assert!(theirs.iter().all(|c| !c.has_tumour));
}

#[test]
fn a_run_needs_a_validation_case_a_sound_learning_rate_and_finite_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 2, 43);
    let run = dir.path().join("run");
    let mut cfg = tiny_config(&data, &run, ModelKind::Unet, 1);

    // One case leaves none to validate on: refused before anything is prepared or written,
    // naming the data set and its cases.
    cfg.max_cases = Some(1);
    let data_name = data.display().to_string();
    assert_refused_before_preparation(&cfg, false, &[&data_name, "1 case", "at least 2"]);
    assert!(!run.join("last.json").exists() && !run.join("best.json").exists());
    cfg.max_cases = None;

    // The learning rate must be a finite number above 0.
    for rate in [f64::NAN, 0.0, -1e-3, f64::INFINITY] {
        cfg.learning_rate = rate;
        let text = format!("{:#}", train_from_scratch(&cfg).unwrap_err());
        assert!(text.contains("learning rate"), "{rate}: {text}");
    }
    assert!(!run.join("last.json").exists());
    cfg.learning_rate = 3e-3;
    // So must the share of cases kept for validation be a number from 0 to 0.9.
    let sound_fraction = cfg.validation_fraction;
    for fraction in [f64::NAN, -0.1, 7.0] {
        cfg.validation_fraction = fraction;
        let text = format!("{:#}", train_from_scratch(&cfg).unwrap_err());
        assert!(text.contains("validation fraction"), "{fraction}: {text}");
    }
    cfg.validation_fraction = sound_fraction;
    assert!(!run.join("last.json").exists());
    // The tumour weight must be a finite number above 0, and is the U-Net's alone.
    for weight in [f64::NAN, 0.0, -2.0, f64::INFINITY] {
        cfg.tumour_weight = Some(weight);
        assert_refused_before_preparation(&cfg, false, &["tumour weight"]);
    }
    let mut classifier = tiny_config(&data, &run, ModelKind::Cnn, 1);
    classifier.tumour_weight = Some(4.0);
    assert_refused_before_preparation(&classifier, false, &["tumour weight", "U-Net"]);
    classifier.tumour_weight = None;
    classifier.balance_lesions = Some(true);
    assert_refused_before_preparation(&classifier, false, &["balancing lesions", "U-Net"]);
    cfg.tumour_weight = Some(4.0);
    cfg.balance_lesions = Some(true);
    assert!(!run.join("last.json").exists());

    // A rate so high that the weights overflow in the first step (the step's loss, taken
    // before it, is finite; 1 training case, so that step is the run's only one): the run
    // stops, and no model of such weights is written, let alone marked best.
    cfg.learning_rate = 1e300;
    let text = format!("{:#}", train_from_scratch(&cfg).unwrap_err());
    assert!(text.contains("diverged"), "{text}");
    assert!(!run.join("best.json").exists() && !run.join("last.json").exists());

    // The same run at a sound rate (tumour weight 4, lesions balanced) writes cards that load,
    // every figure a number, that record the weighting.
    cfg.learning_rate = 3e-3;
    train_from_scratch(&cfg).unwrap();
    for stem in ["best", "last"] {
        let card = oncoscope::model::checkpoint::read_card(&run.join(stem)).unwrap();
        assert_eq!(
            card.notes.get("tumour_weight").map(String::as_str),
            Some("4"),
            "{stem}"
        );
        assert_eq!(
            card.notes.get("balance_lesions").map(String::as_str),
            Some("true"),
            "{stem}"
        );
        assert!(
            card.metrics.contains_key("validation_loss")
                && card.metrics.values().all(|v| v.is_finite()),
            "{stem}: {:?}",
            card.metrics
        );
    }
    // Resumed without a tumour weight or a word on lesions, the run keeps its own; a card whose
    // note is not a weight is named.
    let mut resumed = cfg.clone();
    resumed.tumour_weight = None;
    resumed.balance_lesions = None;
    resumed.epochs = 2;
    let last = resume_and_read_last(&resumed);
    assert_eq!(last.epoch, 2);
    assert_eq!(
        last.notes.get("tumour_weight").map(String::as_str),
        Some("4")
    );
    assert_eq!(
        last.notes.get("balance_lesions").map(String::as_str),
        Some("true")
    );
    let card = std::fs::read_to_string(run.join("last.json")).unwrap();
    assert!(card.contains("\"tumour_weight\": \"4\""), "{card}");
    std::fs::write(
        run.join("last.json"),
        card.replace("\"tumour_weight\": \"4\"", "\"tumour_weight\": \"heavy\""),
    )
    .unwrap();
    resumed.epochs = 3;
    assert_refused_before_preparation(&resumed, true, &["last.json", "heavy", "--tumour-weight"]);
    // Giving one, as the message says, resumes; balancing can be turned off there too.
    resumed.tumour_weight = Some(2.0);
    resumed.balance_lesions = Some(false);
    let last = resume_and_read_last(&resumed);
    assert_eq!(
        last.notes.get("tumour_weight").map(String::as_str),
        Some("2")
    );
    assert_eq!(last.notes.get("balance_lesions"), None);
}

#[test]
fn lesion_crops_train_on_part_of_the_grid_and_a_resume_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 3, 52);
    let run = dir.path().join("run");
    let mut cfg = tiny_config(&data, &run, ModelKind::Unet, 1);
    cfg.preprocessing = oncoscope::model::preprocess::Preprocessing::cube(32);
    // Edges that are not a multiple of 8, that exceed the grid, or that are for the
    // classifier are refused before any case is prepared.
    for bad in [20, 40, 8] {
        cfg.lesion_crop_voxels = Some(bad);
        assert_refused_before_preparation(&cfg, false, &["lesion crop", &bad.to_string(), "32"]);
    }
    let mut classifier = tiny_config(&data, &run, ModelKind::Cnn, 1);
    classifier.lesion_crop_voxels = Some(16);
    assert_refused_before_preparation(&classifier, false, &["lesion crops", "U-Net"]);
    assert!(!run.join("last.json").exists());

    // 16³ crops of a 32³ grid: the run trains, validates on whole grids, and its cards load
    // and record the crop.
    cfg.lesion_crop_voxels = Some(16);
    let outcome = train_from_scratch(&cfg).unwrap();
    let first = &outcome.history[0];
    assert!(first.train_loss.is_finite() && first.validation_loss.is_finite());
    for stem in ["best", "last"] {
        let card = oncoscope::model::checkpoint::read_card(&run.join(stem)).unwrap();
        assert_eq!(
            card.notes.get("lesion_crop_voxels").map(String::as_str),
            Some("16"),
            "{stem}"
        );
        assert_eq!(card.preprocessing.grid, [32, 32, 32], "{stem}");
        // It runs at inference as it learnt: in tiles of the crop's size.
        assert_eq!(card.tile_voxels, 16, "{stem}");
    }
    // Resumed without a word on crops, the run keeps them; a note that is no crop is named;
    // 0 turns them off.
    let mut resumed = cfg.clone();
    resumed.lesion_crop_voxels = None;
    resumed.epochs = 2;
    let last = resume_and_read_last(&resumed);
    assert_eq!(last.epoch, 2);
    assert_eq!(
        last.notes.get("lesion_crop_voxels").map(String::as_str),
        Some("16")
    );
    let card = std::fs::read_to_string(run.join("last.json")).unwrap();
    std::fs::write(
        run.join("last.json"),
        card.replace(
            "\"lesion_crop_voxels\": \"16\"",
            "\"lesion_crop_voxels\": \"12\"",
        ),
    )
    .unwrap();
    resumed.epochs = 3;
    assert_refused_before_preparation(&resumed, true, &["last.json", "\"12\"", "--lesion-crops"]);
    resumed.lesion_crop_voxels = Some(0);
    let last = resume_and_read_last(&resumed);
    assert_eq!(last.epoch, 3);
    assert_eq!(last.notes.get("lesion_crop_voxels"), None);
    assert_eq!(last.tile_voxels, 0);
}

#[test]
fn a_new_run_refuses_a_folder_holding_a_run_and_a_resume_must_be_of_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    small_dataset(&data, 2, 44);
    let run = dir.path().join("run");
    let cfg = tiny_config(&data, &run, ModelKind::Unet, 1);
    train_from_scratch(&cfg).unwrap();
    let last_card = || std::fs::read_to_string(run.join("last.json")).unwrap();
    let before = last_card();

    // A new run into it is refused before any case is prepared, naming the folder and the
    // way out; the run is left as it was.
    let run_name = run.display().to_string();
    assert_refused_before_preparation(&cfg, false, &[&run_name, "--resume", "--out"]);
    assert_eq!(last_card(), before);
    // A folder holding only a best model is a run too.
    let best_only = dir.path().join("best_only");
    std::fs::create_dir_all(&best_only).unwrap();
    for ext in ["json", "safetensors"] {
        std::fs::copy(
            run.join(format!("best.{ext}")),
            best_only.join(format!("best.{ext}")),
        )
        .unwrap();
    }
    let mut elsewhere = cfg.clone();
    elsewhere.out = best_only.clone();
    let text = format!("{:#}", train_from_scratch(&elsewhere).unwrap_err());
    assert!(
        text.contains("best_only") && text.contains("--resume"),
        "{text}"
    );

    // Resuming the liver run on a pancreas data set is refused, naming the run's card and
    // task, before any case is prepared.
    let pancreas = dir.path().join("pancreas");
    write_phantoms(&pancreas, Task::Pancreas, 2, 45, None);
    let mut other_task = cfg.clone();
    other_task.task = Task::Pancreas;
    other_task.data = pancreas;
    other_task.epochs = 2;
    assert_refused_before_preparation(&other_task, true, &["last.json", "liver", "pancreas"]);
    assert_eq!(last_card(), before);

    // Nothing to resume is said before any case is prepared too.
    let mut empty = cfg.clone();
    empty.out = dir.path().join("empty");
    assert_refused_before_preparation(&empty, true, &["nothing to resume"]);

    // The run itself resumes as before.
    let mut more = cfg.clone();
    more.epochs = 2;
    let outcome = train(&more, &Device::Cpu, true, &RunControl::new(), &mut |_| {}).unwrap();
    assert_eq!(outcome.epochs_done, 2);
}

#[test]
fn the_lesion_loss_adds_to_the_unet_s_loss_and_a_resume_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Three lesions in every case and a 32³ grid (about the phantoms' own 40–48 voxels), so
    // that the training cases' cubes hold lesions for the term to see.
    write_phantoms(&data, Task::Liver, 3, 53, Some(3));
    // Weights that are no number of 0 or more, or a classifier's, are refused before any case
    // is prepared.
    let run = dir.path().join("refused");
    for bad in [-1.0, f64::NAN] {
        let mut cfg = tiny_config(&data, &run, ModelKind::Unet, 1);
        cfg.lesion_loss = Some(bad);
        assert_refused_before_preparation(&cfg, false, &["lesion loss"]);
    }
    let mut classifier = tiny_config(&data, &run, ModelKind::Cnn, 1);
    classifier.lesion_loss = Some(1.0);
    assert_refused_before_preparation(&classifier, false, &["lesion loss", "U-Net"]);

    // The same run with and without the term (one step of the two training cases). The first
    // weights are drawn afresh each run, so the plain loss (cross-entropy and soft Dice, about
    // 2 for an untrained network) varies by a few tenths; an untrained network gives the
    // lesions p(tumour) of about a third, so at λ = 10 the term adds about 10 × 1.1.
    let mut plain = tiny_config(&data, &dir.path().join("plain"), ModelKind::Unet, 1);
    plain.preprocessing = oncoscope::model::preprocess::Preprocessing::cube(32);
    let mut with_term = plain.clone();
    with_term.out = dir.path().join("lesions");
    with_term.lesion_loss = Some(10.0);
    let plain_loss = train_from_scratch(&plain).unwrap().history[0].train_loss;
    let outcome = train_from_scratch(&with_term).unwrap();
    let first = &outcome.history[0];
    assert!(
        first.train_loss > plain_loss + 3.0,
        "an untrained network is far from tumour at the lesions: {} vs {plain_loss}",
        first.train_loss
    );
    // Validation keeps the plain loss, so that runs compare.
    assert!(first.validation_loss.is_finite());
    let run = &with_term.out;
    for stem in ["best", "last"] {
        let card = oncoscope::model::checkpoint::read_card(&run.join(stem)).unwrap();
        assert_eq!(
            card.notes.get("lesion_loss").map(String::as_str),
            Some("10"),
            "{stem}"
        );
    }
    // Resumed without a word on it, the run keeps the term; a note that is no weight is
    // named; 0 turns it off.
    let mut resumed = with_term.clone();
    resumed.lesion_loss = None;
    resumed.epochs = 2;
    let last = resume_and_read_last(&resumed);
    assert_eq!(
        last.notes.get("lesion_loss").map(String::as_str),
        Some("10")
    );
    let card = std::fs::read_to_string(run.join("last.json")).unwrap();
    std::fs::write(
        run.join("last.json"),
        card.replace("\"lesion_loss\": \"10\"", "\"lesion_loss\": \"much\""),
    )
    .unwrap();
    resumed.epochs = 3;
    assert_refused_before_preparation(&resumed, true, &["last.json", "much", "--lesion-loss"]);
    resumed.lesion_loss = Some(0.0);
    let last = resume_and_read_last(&resumed);
    assert_eq!(last.epoch, 3);
    assert_eq!(last.notes.get("lesion_loss"), None);
}

#[test]
fn the_false_piece_loss_adds_to_the_unet_s_loss_and_a_resume_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Tumour-free cases: every predicted tumour piece is false.
    write_phantoms(&data, Task::Liver, 3, 59, Some(0));
    let refused = dir.path().join("refused");
    for bad in [-1.0, f64::INFINITY] {
        let mut cfg = tiny_config(&data, &refused, ModelKind::Unet, 1);
        cfg.false_piece_loss = Some(bad);
        assert_refused_before_preparation(&cfg, false, &["false-piece loss"]);
    }
    let mut classifier = tiny_config(&data, &refused, ModelKind::Cnn, 1);
    classifier.false_piece_loss = Some(1.0);
    assert_refused_before_preparation(&classifier, false, &["false-piece loss", "U-Net"]);

    // A network that calls every voxel tumour: a trained one with 20 added to the head's
    // tumour bias. Each cube is then one false piece with −log(1 − p(tumour)) of about 20.
    let plain = tiny_config(&data, &dir.path().join("plain"), ModelKind::Unet, 1);
    train_from_scratch(&plain).unwrap();
    let stem = dir.path().join("tumour_everywhere");
    let mut tensors =
        candle_core::safetensors::load(plain.out.join("last.safetensors"), &Device::Cpu).unwrap();
    let bias = tensors["head.bias"].clone();
    let shift = candle_core::Tensor::new(&[0f32, 0.0, 20.0], &Device::Cpu).unwrap();
    tensors.insert("head.bias".into(), (bias + shift).unwrap());
    candle_core::safetensors::save(&tensors, stem.with_extension("safetensors")).unwrap();
    std::fs::copy(plain.out.join("last.json"), stem.with_extension("json")).unwrap();

    // Both runs start from those weights on the same cubes, so their first steps differ by
    // the term alone.
    let first_step_loss = |cfg: &oncoscope::model::training::TrainConfig| {
        let mut first = None;
        train(cfg, &Device::Cpu, false, &RunControl::new(), &mut |event| {
            if let (TrainingEvent::Step { loss, .. }, None) = (event, first) {
                first = Some(*loss);
            }
        })
        .unwrap();
        first.unwrap()
    };
    let mut without = tiny_config(&data, &dir.path().join("without"), ModelKind::Unet, 1);
    without.init_from = Some(stem);
    let mut with_term = without.clone();
    with_term.out = dir.path().join("with_term");
    with_term.false_piece_loss = Some(0.5);
    let added = first_step_loss(&with_term) - first_step_loss(&without);
    assert!(
        (8.0..12.0).contains(&added),
        "0.5 × about 20 for the one false piece of each cube, not {added}"
    );

    let run = &with_term.out;
    for stem in ["best", "last"] {
        let card = oncoscope::model::checkpoint::read_card(&run.join(stem)).unwrap();
        assert_eq!(
            card.notes.get("false_piece_loss").map(String::as_str),
            Some("0.5"),
            "{stem}"
        );
    }
    // Resumed without a word on it, the run keeps the term; a note that is no weight is
    // named; 0 turns it off.
    let mut resumed = with_term.clone();
    resumed.false_piece_loss = None;
    resumed.epochs = 2;
    let last = resume_and_read_last(&resumed);
    assert_eq!(
        last.notes.get("false_piece_loss").map(String::as_str),
        Some("0.5")
    );
    let card = std::fs::read_to_string(run.join("last.json")).unwrap();
    std::fs::write(
        run.join("last.json"),
        card.replace(
            "\"false_piece_loss\": \"0.5\"",
            "\"false_piece_loss\": \"-2\"",
        ),
    )
    .unwrap();
    resumed.epochs = 3;
    assert_refused_before_preparation(&resumed, true, &["last.json", "-2", "--false-piece-loss"]);
    resumed.false_piece_loss = Some(0.0);
    let last = resume_and_read_last(&resumed);
    assert_eq!(last.epoch, 3);
    assert_eq!(last.notes.get("false_piece_loss"), None);
}
