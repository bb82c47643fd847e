//! The classifier can learn a lesion it can see: cubes of noise, half of them with one dark
//! blob at a random place, drawn fresh for every step (nothing to memorise), told apart on
//! cubes it never saw.

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use oncoscope::model::losses::bce_with_logits;
use oncoscope::model::metrics::roc_auc;
use oncoscope::model::{CNN3D, GlobalPool};
use oncoscope::volume::phantom::Rng;

const EDGE: usize = 32;

/// `n` cubes `(n, 1, 32, 32, 32)` of unit noise, with a blob 1.5 noise-SDs darker in those
/// marked, and the marks.
fn cubes(rng: &mut Rng, n: usize) -> (Tensor, Vec<f32>) {
    let mut voxels = Vec::with_capacity(n * EDGE * EDGE * EDGE);
    let mut truth = Vec::with_capacity(n);
    for _ in 0..n {
        let blob = rng.chance(0.5);
        let radius = rng.range(3.0, 5.0);
        let centre: Vec<f64> = (0..3).map(|_| rng.range(6.0, EDGE as f64 - 6.0)).collect();
        for z in 0..EDGE {
            for y in 0..EDGE {
                for x in 0..EDGE {
                    let d2 = (x as f64 - centre[0]).powi(2)
                        + (y as f64 - centre[1]).powi(2)
                        + (z as f64 - centre[2]).powi(2);
                    let dark = if blob && d2 <= radius * radius {
                        -1.5
                    } else {
                        0.0
                    };
                    voxels.push((rng.normal() + dark) as f32);
                }
            }
        }
        truth.push(if blob { 1.0 } else { 0.0 });
    }
    let xs = Tensor::from_vec(voxels, (n, 1, EDGE, EDGE, EDGE), &Device::Cpu).unwrap();
    (xs, truth)
}

/// Redraws every weight and bias that candle initialised at random (from its unseeded RNG)
/// with the same rule, PyTorch's uniform ±1/√fan_in, from a seeded generator, in name order:
/// the same start on every run, so a pass or a failure repeats. Instance-norm parameters are
/// constants already.
fn seeded_initialisation(varmap: &VarMap, seed: u64) {
    let data = varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let fan_in = |weight: &str| {
        let dims = data.get(weight)?.dims().to_vec();
        (dims.len() >= 2).then(|| dims[1..].iter().product::<usize>())
    };
    let mut rng = Rng::new(seed);
    for name in names {
        let fan_in = match name.strip_suffix(".bias") {
            Some(stem) => fan_in(&format!("{stem}.weight")),
            None => fan_in(name),
        };
        let Some(fan_in) = fan_in else { continue };
        let var = &data[name];
        let bound = 1.0 / (fan_in as f64).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.range(-bound, bound) as f32)
            .collect();
        var.set(&Tensor::from_vec(values, var.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
}

fn held_out_auc(pool: GlobalPool, steps: usize) -> f64 {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cnn = CNN3D::new(1, [4, 8, 16, 32], pool, vb).unwrap();
    seeded_initialisation(&varmap, 5);
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let mut rng = Rng::new(11);
    for _ in 0..steps {
        let (xs, truth) = cubes(&mut rng, 8);
        let targets = Tensor::from_vec(truth, (8, 1), &Device::Cpu).unwrap();
        let loss = bce_with_logits(&cnn.forward_t(&xs, true).unwrap(), &targets, 1.0).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let (xs, truth) = cubes(&mut Rng::new(99), 64);
    let scores: Vec<f64> = cnn
        .forward(&xs)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect();
    let labels: Vec<bool> = truth.iter().map(|&t| t > 0.5).collect();
    roc_auc(&scores, &labels).unwrap()
}

/// 300 steps of 8 fresh cubes from a seeded start: the reference pooling and the panel's
/// default reach a held-out AUC of 1.0 on this machine (an untrained network scores about 0.5),
/// so the layers, their gradients and the optimiser can learn a lesion that is there to see.
/// (With candle's unseeded initialisation the max-cell network once stayed at 0.5 in CI.) The phantom
/// classifier's failure to generalise (docs/DEVELOPING.md) lies elsewhere.
#[test]
fn the_classifier_learns_to_find_a_dark_blob_in_noise() {
    for pool in [GlobalPool::Average, GlobalPool::MaxCell] {
        let auc = held_out_auc(pool, 300);
        eprintln!("{pool:?}: held-out AUC {auc:.3}");
        assert!(auc >= 0.9, "{pool:?}: held-out AUC {auc:.3}");
    }
}
