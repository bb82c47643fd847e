//! Filling outside the organ, end to end: training cases are filled around the ground
//! truth's organ or the locator's; a filling classifier behind a finder (a region U-Net with
//! its own locator) is filled around the finder's organ at inference (its output changes when
//! the fill is turned off); a fill without an organ region, and a locator loop, are refused.
//! The locator's tumour as a second input channel: made from the locator's labels in training
//! (never from the ground truth's) and at inference.

mod training_common;

use candle_core::Device;
use oncoscope::model::ModelKind;
use oncoscope::model::checkpoint::{LoadedModel, card_path, read_card, weights_path};
use oncoscope::model::inference::{classify, classify_reusing, segment};
use oncoscope::model::organ_fill::OutsideOrgan;
use oncoscope::model::preprocess::Preprocessing;
use oncoscope::model::progress::CancelToken;
use oncoscope::model::region::Region;
use oncoscope::model::training::best_checkpoint;
use oncoscope::model::training::data::{open_dataset, prepare_cases};
use oncoscope::volume::decathlon::Task;
use oncoscope::volume::nifti::{read_ct, read_labels_for};
use training_common::{tiny_config, train_from_scratch, write_phantoms};

const FILL: OutsideOrgan = OutsideOrgan::FillWithOrganMedian { margin_mm: 3.0 };

/// The shipped whole-box liver U-Net, which finds the organ.
fn shipped_locator() -> std::path::PathBuf {
    oncoscope::model::weights::shipped_weights_dir().join("liver_locator")
}

/// A 24³ organ-cube preprocessing that fills outside the organ.
fn filling_preprocessing() -> Preprocessing {
    Preprocessing {
        region: Region::OrganCube { margin_mm: 10.0 },
        outside_organ: FILL,
        ..Preprocessing::cube(24)
    }
}

#[test]
fn training_cases_are_filled_around_the_ground_truths_or_the_locators_organ() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 2, 31, None);
    let dataset = open_dataset(&data).unwrap();
    let pre = filling_preprocessing();
    let kept = Preprocessing {
        outside_organ: OutsideOrgan::Keep,
        ..pre
    };
    let cache = dir.path().join("cache");
    let filled = prepare_cases(&dataset, &[], &pre, None, &cache, &|_, _, _| true).unwrap();
    let plain = prepare_cases(&dataset, &[], &kept, None, &cache, &|_, _, _| true).unwrap();
    let locator = LoadedModel::load(&shipped_locator(), &Device::Cpu).unwrap();
    let by_locator =
        prepare_cases(&dataset, &[], &pre, Some(&locator), &cache, &|_, _, _| true).unwrap();
    for (case, ((filled, plain), by_locator)) in dataset
        .training
        .iter()
        .zip(filled.iter().zip(&plain).zip(&by_locator))
    {
        let id = &filled.id;
        assert_eq!(filled.target, plain.target, "{id}: labels unchanged");
        // The fill value: the organ's median HU in the CT, normalised as the input is.
        let ct = read_ct(&case.image).unwrap();
        let labels = read_labels_for(&case.label, &ct).unwrap();
        let mut organ_hu: Vec<f32> = ct
            .voxels
            .iter()
            .zip(&labels.voxels)
            .filter(|&(_, &l)| l >= 1)
            .map(|(&hu, _)| hu)
            .collect();
        let middle = organ_hu.len() / 2;
        let median_hu = *organ_hu.select_nth_unstable_by(middle, f32::total_cmp).1;
        let fill = (median_hu.clamp(pre.hu_min, pre.hu_max) - pre.center_hu) / pre.scale_hu;
        // Far from the organ every voxel is the fill value; the cube holds the organ plus
        // 10 mm on every side, so that is much of it. Inside the organ most voxels stay as
        // they are (at this coarse 24³ grid many touch its edge, where resampling now blends
        // the organ with the fill instead of fat).
        let filled_voxels = filled.input.iter().filter(|&&v| v == fill).count();
        assert!(
            filled_voxels > filled.input.len() / 10,
            "{id}: only {filled_voxels} voxels filled"
        );
        let organ: Vec<usize> = (0..plain.target.len())
            .filter(|&i| plain.target[i] >= 1)
            .collect();
        let organ_changed = organ
            .iter()
            .filter(|&&i| filled.input[i] != plain.input[i])
            .count();
        assert!(
            organ_changed * 2 < organ.len(),
            "{id}: {organ_changed} of {} organ voxels changed",
            organ.len()
        );
        // Around the locator's organ: another outline (and another cache file), most of the
        // changed voxels one fill value.
        assert_ne!(by_locator.input, filled.input, "{id}");
        assert!(
            !by_locator.organ_from_truth && !filled.organ_from_truth,
            "{id}"
        );
        let changed: Vec<f32> = by_locator
            .input
            .iter()
            .zip(&plain.input)
            .filter(|(l, p)| l != p)
            .map(|(&l, _)| l)
            .collect();
        let commonest = changed
            .iter()
            .map(|v| changed.iter().filter(|&w| w == v).count())
            .max()
            .unwrap();
        assert!(commonest * 2 > changed.len(), "{id}: no one fill value");
    }
    // Another locator fills anew (its own cache files), not from the first one's fills.
    let cache_files = || std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(cache_files(), 3 * dataset.training.len());
    let finder = LoadedModel::load(
        &oncoscope::model::weights::shipped_weights_dir().join("liver_unet"),
        &Device::Cpu,
    )
    .unwrap();
    let by_finder =
        prepare_cases(&dataset, &[], &pre, Some(&finder), &cache, &|_, _, _| true).unwrap();
    assert_eq!(cache_files(), 4 * dataset.training.len());
    assert!(
        by_finder
            .iter()
            .zip(&by_locator)
            .any(|(f, l)| f.input != l.input)
    );
}

#[test]
fn a_filling_classifier_sees_its_locators_organ_at_inference() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 4, 32, None);
    let run = dir.path().join("run");
    let mut config = tiny_config(&data, &run, ModelKind::Cnn, 1);
    config.preprocessing = Preprocessing {
        region: Region::WholeBox,
        ..filling_preprocessing()
    };
    // The shipped liver U-Net of the organ's region, behind its own whole-box locator: a
    // finer outline than the whole-box locator's.
    config.locator = Some(oncoscope::model::weights::shipped_weights_dir().join("liver_unet"));
    // Without the organ's region there is no organ at inference: refused before training.
    let err = train_from_scratch(&config).unwrap_err();
    assert!(format!("{err:#}").contains("region"), "{err:#}");
    assert!(!run.join("best.json").exists());

    config.preprocessing = filling_preprocessing();
    train_from_scratch(&config).unwrap();
    let best = best_checkpoint(&run);
    let card = read_card(&best).unwrap();
    assert_eq!(card.preprocessing.outside_organ, FILL);
    // The finder is copied beside the weights with its own locator, under the names the
    // cards give them.
    assert_eq!(card.locator.as_deref(), Some("liver_finder"));
    let finder = read_card(&run.join("liver_finder")).unwrap();
    assert_eq!(finder.locator.as_deref(), Some("liver_locator"));
    assert!(run.join("liver_locator.safetensors").is_file());
    let mut model = LoadedModel::load(&best, &Device::Cpu).unwrap();
    let ct = read_ct(&data.join("imagesTr/liver_000.nii.gz")).unwrap();
    let logit = || {
        classify(&model, &ct, &CancelToken::new(), &mut |_| {})
            .unwrap()
            .unwrap()
            .logit
    };
    let filled = logit();
    assert_eq!(filled, logit(), "deterministic");
    // The same weights fed the cube as it is answer differently: the fill reached the network.
    model.card.preprocessing.outside_organ = OutsideOrgan::Keep;
    let kept = classify(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap()
        .logit;
    assert_ne!(filled, kept);

    // A locator that names itself ends in an error, not a hang.
    let finder_card = run.join("liver_finder.json");
    let text = std::fs::read_to_string(&finder_card).unwrap();
    std::fs::write(
        &finder_card,
        text.replace("\"liver_locator\"", "\"liver_finder\""),
    )
    .unwrap();
    let err = LoadedModel::load(&best, &Device::Cpu).unwrap_err();
    assert!(format!("{err:#}").contains("too many locators"), "{err:#}");
    std::fs::write(&finder_card, text).unwrap();

    // A card that asks for a fill without the organ's region is refused, naming the file.
    let card = run.join("best.json");
    let text = std::fs::read_to_string(&card).unwrap();
    let broken = text.replacen("\"organ_cube\"", "\"whole_box\"", 1);
    assert_ne!(broken, text);
    std::fs::write(&card, broken).unwrap();
    let err = LoadedModel::load(&best, &Device::Cpu).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("best.json") && text.contains("region"),
        "{text}"
    );
}

/// A blind copy of the U-Net `stem` in `dir` (with its own locator beside it, if it has one):
/// every weight zero but the output layer's bias (the one parameter of 3 values: background,
/// organ, tumour), which favours background. Returns its stem.
fn blind_copy(stem: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let blind = dir.join("blind");
    let tensors = candle_core::safetensors::load(weights_path(stem), &Device::Cpu).unwrap();
    let zeroed: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .map(|(name, t)| {
            let blind = match t.dims() {
                [3] => candle_core::Tensor::new(&[5.0f32, 0.0, 0.0], &Device::Cpu).unwrap(),
                _ => t.zeros_like().unwrap(),
            };
            (name, blind)
        })
        .collect();
    candle_core::safetensors::save(&zeroed, weights_path(&blind)).unwrap();
    std::fs::copy(card_path(stem), card_path(&blind)).unwrap();
    if let Some(locator) = read_card(stem).unwrap().locator {
        let from = stem.with_file_name(&locator);
        let to = dir.join(&locator);
        std::fs::copy(card_path(&from), card_path(&to)).unwrap();
        std::fs::copy(weights_path(&from), weights_path(&to)).unwrap();
    }
    blind
}

#[test]
fn a_case_where_the_locator_finds_no_organ_is_filled_around_the_truth_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 3, 33, Some(1));
    let blind = blind_copy(&shipped_locator(), dir.path());
    let dataset = open_dataset(&data).unwrap();
    let locator = LoadedModel::load(&blind, &Device::Cpu).unwrap();
    let cache = dir.path().join("cache");
    let pre = filling_preprocessing();
    for pass in ["prepared", "from the cache"] {
        let cases =
            prepare_cases(&dataset, &[], &pre, Some(&locator), &cache, &|_, _, _| true).unwrap();
        assert!(cases.iter().all(|c| c.organ_from_truth), "{pass}");
    }
    // The run's model card says which cases were filled around the ground truth's organ.
    let run = dir.path().join("run");
    let mut config = tiny_config(&data, &run, ModelKind::Cnn, 1);
    config.preprocessing = pre;
    config.locator = Some(blind);
    train_from_scratch(&config).unwrap();
    let card = read_card(&best_checkpoint(&run)).unwrap();
    let note = card.notes.get("organ_from_ground_truth").expect("a note");
    assert!(
        note.starts_with("3 of 3 cases") && note.contains("liver_001"),
        "{note}"
    );
}

/// A 24³ organ-cube preprocessing with the locator's tumour as a second channel.
fn tumour_channel_preprocessing() -> Preprocessing {
    Preprocessing {
        region: Region::OrganCube { margin_mm: 10.0 },
        locator_tumour_channel: true,
        ..Preprocessing::cube(24)
    }
}

#[test]
fn the_locators_tumour_is_a_second_channel_never_the_ground_truths() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 3, 34, Some(2));
    let dataset = open_dataset(&data).unwrap();
    let pre = tumour_channel_preprocessing();
    let one_channel = Preprocessing {
        locator_tumour_channel: false,
        ..pre
    };
    let n: usize = pre.grid.iter().product();
    let finder_path = oncoscope::model::weights::shipped_weights_dir().join("liver_unet");
    let finder = LoadedModel::load(&finder_path, &Device::Cpu).unwrap();
    let cache = dir.path().join("cache");
    let plain = prepare_cases(&dataset, &[], &one_channel, None, &cache, &|_, _, _| true).unwrap();
    let (mut found_in_truth, mut found_elsewhere) = (0, 0);
    for pass in ["prepared", "from the cache"] {
        let cases =
            prepare_cases(&dataset, &[], &pre, Some(&finder), &cache, &|_, _, _| true).unwrap();
        for (case, plain) in cases.iter().zip(&plain) {
            let id = &case.id;
            assert_eq!(case.input.len(), 2 * n, "{id} {pass}");
            // The first channel is the CT as it is (no fill asked for).
            assert_eq!(&case.input[..n], &plain.input[..], "{id} {pass}");
            let tumour = &case.input[n..];
            assert!(tumour.iter().all(|v| (0.0..=1.0).contains(v)), "{id}");
            // Model voxels mostly the finder's tumour that lie in the ground truth's tumour.
            found_in_truth += tumour
                .iter()
                .zip(&case.target)
                .filter(|&(&t, &l)| t > 0.5 && l == 2)
                .count();
            found_elsewhere += tumour
                .iter()
                .zip(&case.target)
                .filter(|&(&t, &l)| t > 0.5 && l != 2)
                .count();
        }
    }
    // The finder's tumour lies in the truth's far more often than chance would put it there
    // (these tiny phantoms are coarser than those it learnt on: it finds false lesions too).
    let truth_share = plain
        .iter()
        .flat_map(|c| &c.target)
        .filter(|&&l| l == 2)
        .count() as f64
        / (plain.len() * n) as f64;
    let found_share = found_in_truth as f64 / (found_in_truth + found_elsewhere).max(1) as f64;
    eprintln!(
        "found tumour: {found_in_truth} model voxels in the truth's, {found_elsewhere} not; \
         truth's tumour {:.1} % of the cubes",
        100.0 * truth_share
    );
    assert!(
        found_share > 20.0 * truth_share,
        "{found_share} {truth_share}"
    );

    // A locator that finds nothing: the ground truth's organ gives the cube, but the tumour
    // channel stays empty (it never shows the truth's tumour).
    let blind = blind_copy(&finder_path, dir.path());
    let blind = LoadedModel::load(&blind, &Device::Cpu).unwrap();
    let cases = prepare_cases(&dataset, &[], &pre, Some(&blind), &cache, &|_, _, _| true).unwrap();
    for case in &cases {
        assert!(
            case.organ_from_truth && case.target.contains(&2),
            "{}",
            case.id
        );
        assert!(case.input[n..].iter().all(|&v| v == 0.0), "{}", case.id);
    }
}

#[test]
fn a_classifier_with_the_tumour_channel_sees_what_its_finder_labels_tumour() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_phantoms(&data, Task::Liver, 4, 35, None);
    let run = dir.path().join("run");
    let finder_path = oncoscope::model::weights::shipped_weights_dir().join("liver_unet");
    let mut config = tiny_config(&data, &run, ModelKind::Cnn, 1);
    config.locator = Some(finder_path.clone());
    // Without the organ's region there is no locator's tumour: refused before training.
    config.preprocessing = Preprocessing {
        region: Region::WholeBox,
        ..tumour_channel_preprocessing()
    };
    let err = train_from_scratch(&config).unwrap_err();
    assert!(format!("{err:#}").contains("region"), "{err:#}");

    config.preprocessing = tumour_channel_preprocessing();
    train_from_scratch(&config).unwrap();
    let best = best_checkpoint(&run);
    assert!(
        read_card(&best)
            .unwrap()
            .preprocessing
            .locator_tumour_channel
    );
    let model = LoadedModel::load(&best, &Device::Cpu).unwrap();
    // The run's copy of the finder: the classifier's own locator, whose labels it reuses.
    let finder = LoadedModel::load(&run.join("liver_finder"), &Device::Cpu).unwrap();
    let ct = read_ct(&data.join("imagesTr/liver_000.nii.gz")).unwrap();
    let labels = segment(&finder, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert!(labels.voxels.contains(&2), "the finder finds a lesion");
    let verdict = |labels: &oncoscope::volume::LabelVolume| {
        classify_reusing(
            &model,
            &ct,
            Some((&finder, labels)),
            &CancelToken::new(),
            &mut |_| {},
        )
        .unwrap()
        .unwrap()
    };
    let with_tumour = verdict(&labels);
    assert_eq!(with_tumour.input_shape, [2, 24, 24, 24]);
    // Run alone (its finder and the finder's locator again) it agrees.
    let alone = classify(&model, &ct, &CancelToken::new(), &mut |_| {})
        .unwrap()
        .unwrap();
    assert_eq!(alone.logit, with_tumour.logit);
    // The same outline without its tumour answers differently: the channel reached the network.
    let no_tumour = labels
        .with_voxels(labels.voxels.iter().map(|&l| l.min(1)).collect())
        .unwrap();
    assert_ne!(verdict(&no_tumour).logit, with_tumour.logit);
}
