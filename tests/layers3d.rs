//! The 3D layers and losses against PyTorch reference values (forward and gradients) on odd
//! shapes. Values come from `tests/reference/make_layers3d_reference.py` (committed JSON), so
//! these tests need no PyTorch. Every conv3d path is checked: the CPU custom op with each of its
//! algorithms (im2col + gemm, direct AVX-512 where the CPU has it) and the portable conv2d
//! composition.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Module;
use oncoscope::model::layers3d::{
    Conv3dCpu, ConvAlgorithm, conv_transpose3d_2x, conv3d, conv3d_cpu, conv3d_portable,
    instance_norm_leaky_relu, max_pool3d_2x,
};
use oncoscope::model::losses::{bce_with_logits, dice_ce_loss};
use serde_json::Value;

fn reference(case: &str) -> Value {
    let text = include_str!("data/layers3d_reference.json");
    let all: Value = serde_json::from_str(text).unwrap();
    all["cases"][case].clone()
}

fn values(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn var(case: &Value, key: &str, dims: Vec<usize>) -> Var {
    Var::from_tensor(&Tensor::from_vec(values(&case[key]), dims, &Device::Cpu).unwrap()).unwrap()
}

/// The gradients of `Σ y·weights`: a backward pass that gives every output its own weight, so
/// that each element of every gradient is checked, not only their sum.
fn weighted_sum_grads(y: &Tensor, weights: &Tensor) -> candle_core::backprop::GradStore {
    (y * weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap()
}

/// `t`'s elements in row-major order.
fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Asserts `got` matches `want` within `tol` relative to the largest reference magnitude.
fn assert_close(what: &str, got: &Tensor, want: &Value, tol: f32) {
    let got = flat(got);
    let want = values(want);
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        worst <= tol * scale,
        "{what}: max |diff| {worst} (scale {scale})"
    );
}

/// Which conv3d implementation a check runs.
#[derive(Debug, Clone, Copy)]
enum ConvPath {
    /// `conv3d`, as the networks call it (the CPU op with its automatic choice).
    Default,
    /// The CPU op with one algorithm forced.
    Cpu(ConvAlgorithm),
    /// The conv2d composition for CUDA/Metal.
    Portable,
}

fn check_conv(case_name: &str, path: ConvPath) {
    let c = reference(case_name);
    let x = var(&c, "x", shape(&c["x_shape"]));
    let k = var(&c, "k", shape(&c["k_shape"]));
    let bias = c
        .get("b")
        .map(|_| var(&c, "b", vec![shape(&c["k_shape"])[0]]));
    let padding = c["padding"].as_u64().unwrap() as usize;
    let add_bias = |y: Tensor| match &bias {
        Some(b) => y
            .broadcast_add(&b.as_tensor().reshape((1, (), 1, 1, 1)).unwrap())
            .unwrap(),
        None => y,
    };
    let y = match path {
        ConvPath::Portable => {
            add_bias(conv3d_portable(x.as_tensor(), k.as_tensor(), padding).unwrap())
        }
        ConvPath::Cpu(algorithm) => conv3d_cpu(
            x.as_tensor(),
            k.as_tensor(),
            bias.as_ref().map(|b| b.as_tensor()),
            [padding; 3],
            algorithm,
        )
        .unwrap(),
        ConvPath::Default => conv3d(
            x.as_tensor(),
            k.as_tensor(),
            bias.as_ref().map(|b| b.as_tensor()),
            padding,
        )
        .unwrap(),
    };
    assert_eq!(y.dims(), shape(&c["y_shape"]).as_slice(), "{case_name}");
    let what = format!("{case_name} ({path:?})");
    assert_close(&format!("{what} y"), &y, &c["y"], 1e-5);
    let r = Tensor::from_vec(values(&c["r"]), y.dims(), &Device::Cpu).unwrap();
    let grads = weighted_sum_grads(&y, &r);
    assert_close(
        &format!("{what} dx"),
        grads.get(&x).unwrap(),
        &c["dx"],
        1e-5,
    );
    assert_close(
        &format!("{what} dk"),
        grads.get(&k).unwrap(),
        &c["dk"],
        1e-5,
    );
    if let Some(b) = &bias {
        assert_close(&format!("{what} db"), grads.get(b).unwrap(), &c["db"], 1e-5);
    }
}

#[test]
fn conv3d_matches_pytorch_forward_and_gradients() {
    let mut paths = vec![
        ConvPath::Default,
        ConvPath::Cpu(ConvAlgorithm::Im2colGemm),
        ConvPath::Portable,
    ];
    if ConvAlgorithm::direct_available() {
        paths.push(ConvPath::Cpu(ConvAlgorithm::Direct));
    } else {
        println!("skipping the direct conv3d kernels: this CPU lacks AVX-512");
    }
    for case in ["conv3d_k3_p1", "conv3d_k3_p0", "conv3d_k1"] {
        for &path in &paths {
            check_conv(case, path);
        }
    }
}

/// Forward values and both gradients of `conv3d` with `algorithm`, as flat vectors.
fn conv_values_and_grads(
    x: &Tensor,
    k: &Tensor,
    weights: &Tensor,
    padding: [usize; 3],
    algorithm: ConvAlgorithm,
) -> [Vec<f32>; 3] {
    let (xv, kv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(k).unwrap());
    let op = Conv3dCpu { padding, algorithm };
    let y = xv.as_tensor().apply_op2(kv.as_tensor(), op).unwrap();
    let grads = weighted_sum_grads(&y, weights);
    [
        flat(&y),
        flat(grads.get(&xv).unwrap()),
        flat(grads.get(&kv).unwrap()),
    ]
}

#[test]
fn direct_conv3d_matches_im2col_on_awkward_shapes() {
    if !ConvAlgorithm::direct_available() {
        println!("skipping: this CPU lacks AVX-512, the direct kernels cannot run");
        return;
    }
    /// Batch, input and output channels, `[d, h, w]`, kernel `[kd, kh, kw]`, padding.
    type Case = (usize, usize, usize, [usize; 3], [usize; 3], [usize; 3]);
    // Channel counts that leave 1, 2 and 3 channels after the blocks of 4, planes spanning
    // several position blocks and gradient chunks, and kernels that are not cubes.
    let cases: [Case; 5] = [
        (2, 3, 5, [5, 23, 29], [3, 3, 3], [1, 1, 1]),
        (1, 2, 6, [4, 7, 9], [3, 3, 3], [0, 0, 0]),
        (2, 4, 7, [3, 5, 70], [1, 1, 1], [0, 0, 0]),
        (1, 3, 3, [6, 8, 5], [2, 3, 1], [1, 1, 0]),
        (1, 1, 9, [7, 6, 11], [3, 2, 2], [1, 0, 1]),
    ];
    let device = Device::Cpu;
    for (n, ci, co, [d, h, w], [kd, kh, kw], padding) in cases {
        let x = Tensor::randn(0f32, 1.0, (n, ci, d, h, w), &device).unwrap();
        let k = Tensor::randn(0f32, 0.5, (co, ci, kd, kh, kw), &device).unwrap();
        let out = |size: usize, kernel: usize, pad: usize| size + 2 * pad + 1 - kernel;
        let (od, oh, ow) = (
            out(d, kd, padding[0]),
            out(h, kh, padding[1]),
            out(w, kw, padding[2]),
        );
        let weights = Tensor::randn(0f32, 1.0, (n, co, od, oh, ow), &device).unwrap();
        let want = conv_values_and_grads(&x, &k, &weights, padding, ConvAlgorithm::Im2colGemm);
        let got = conv_values_and_grads(&x, &k, &weights, padding, ConvAlgorithm::Direct);
        for (what, (direct, im2col)) in ["y", "dx", "dk"].iter().zip(got.iter().zip(&want)) {
            assert_eq!(direct.len(), im2col.len(), "{what} length");
            let scale = im2col.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let worst = direct
                .iter()
                .zip(im2col)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                worst <= 1e-5 * scale * (ci * kd * kh * kw) as f32,
                "{what} of {n}×{ci}→{co} on {d}×{h}×{w}, kernel {kd}×{kh}×{kw}, padding \
                 {padding:?}: max |diff| {worst} (scale {scale})"
            );
        }
    }
}

#[test]
fn conv_transpose3d_matches_pytorch() {
    let c = reference("conv_transpose3d_k2s2");
    let x = var(&c, "x", shape(&c["x_shape"]));
    let k = var(&c, "k", shape(&c["k_shape"]));
    let b = var(&c, "b", vec![shape(&c["k_shape"])[1]]);
    let y = conv_transpose3d_2x(x.as_tensor(), k.as_tensor(), Some(b.as_tensor())).unwrap();
    assert_eq!(y.dims(), shape(&c["y_shape"]).as_slice());
    assert_close("convT y", &y, &c["y"], 1e-5);
    let r = Tensor::from_vec(values(&c["r"]), y.dims(), &Device::Cpu).unwrap();
    let grads = weighted_sum_grads(&y, &r);
    assert_close("convT dx", grads.get(&x).unwrap(), &c["dx"], 1e-5);
    assert_close("convT dk", grads.get(&k).unwrap(), &c["dk"], 1e-5);
    assert_close("convT db", grads.get(&b).unwrap(), &c["db"], 1e-5);
}

#[test]
fn max_pool3d_matches_pytorch_on_odd_sizes() {
    let c = reference("max_pool3d_2");
    let x = var(&c, "x", shape(&c["x_shape"]));
    let y = max_pool3d_2x(x.as_tensor()).unwrap();
    assert_eq!(y.dims(), shape(&c["y_shape"]).as_slice());
    assert_close("pool y", &y, &c["y"], 1e-6);
    let r = Tensor::from_vec(values(&c["r"]), y.dims(), &Device::Cpu).unwrap();
    let grads = weighted_sum_grads(&y, &r);
    assert_close("pool dx", grads.get(&x).unwrap(), &c["dx"], 1e-6);
}

#[test]
fn instance_norm_matches_pytorch() {
    let c = reference("instance_norm");
    let dims = shape(&c["x_shape"]);
    let channels = dims[1];
    let x = var(&c, "x", dims);
    let weight = var(&c, "weight", vec![channels]);
    let bias = var(&c, "bias", vec![channels]);
    let norm = candle_nn::GroupNorm::new(
        weight.as_tensor().clone(),
        bias.as_tensor().clone(),
        channels,
        channels,
        oncoscope::model::blocks::NORM_EPS,
    )
    .unwrap();
    let y = norm.forward(x.as_tensor()).unwrap();
    assert_close("norm y", &y, &c["y"], 1e-4);
    let r = Tensor::from_vec(values(&c["r"]), y.dims(), &Device::Cpu).unwrap();
    let grads = weighted_sum_grads(&y, &r);
    assert_close("norm dx", grads.get(&x).unwrap(), &c["dx"], 1e-4);
    assert_close(
        "norm dweight",
        grads.get(&weight).unwrap(),
        &c["dweight"],
        1e-4,
    );
    assert_close("norm dbias", grads.get(&bias).unwrap(), &c["dbias"], 1e-4);
}

#[test]
fn dice_ce_loss_matches_pytorch() {
    let c = reference("dice_ce_loss");
    let logits = var(&c, "logits", shape(&c["logits_shape"]));
    let dims = shape(&c["logits_shape"]);
    let target: Vec<u32> = c["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let target =
        Tensor::from_vec(target, (dims[0], dims[2], dims[3], dims[4]), &Device::Cpu).unwrap();
    let loss = dice_ce_loss(logits.as_tensor(), &target, &[1.0; 3]).unwrap();
    let want = c["loss"].as_f64().unwrap() as f32;
    let got = loss
        .to_dtype(DType::F32)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((got - want).abs() < 1e-5, "loss {got} vs {want}");
    let grads = loss.backward().unwrap();
    assert_close(
        "dice_ce dlogits",
        grads.get(&logits).unwrap(),
        &c["dlogits"],
        1e-4,
    );
}

#[test]
fn bce_with_logits_matches_pytorch() {
    let c = reference("bce_with_logits");
    let logits = var(&c, "logits", vec![5, 1]);
    let targets = Tensor::from_vec(values(&c["targets"]), (5, 1), &Device::Cpu).unwrap();
    let loss = bce_with_logits(
        logits.as_tensor(),
        &targets,
        c["pos_weight"].as_f64().unwrap(),
    )
    .unwrap();
    let got = loss.to_scalar::<f32>().unwrap();
    let want = c["loss"].as_f64().unwrap() as f32;
    assert!((got - want).abs() < 1e-5, "bce {got} vs {want}");
    let grads = loss.backward().unwrap();
    assert_close(
        "bce dlogits",
        grads.get(&logits).unwrap(),
        &c["dlogits"],
        1e-5,
    );
}

#[test]
fn fused_instance_norm_matches_pytorch_without_activation() {
    let c = reference("instance_norm");
    let dims = shape(&c["x_shape"]);
    let channels = dims[1];
    let x = var(&c, "x", dims);
    let weight = var(&c, "weight", vec![channels]);
    let bias = var(&c, "bias", vec![channels]);
    let eps = oncoscope::model::blocks::NORM_EPS;
    let y = instance_norm_leaky_relu(
        x.as_tensor(),
        weight.as_tensor(),
        bias.as_tensor(),
        eps,
        1.0,
    )
    .unwrap();
    assert_close("fused norm y", &y, &c["y"], 1e-4);
    let r = Tensor::from_vec(values(&c["r"]), y.dims(), &Device::Cpu).unwrap();
    let grads = weighted_sum_grads(&y, &r);
    assert_close("fused norm dx", grads.get(&x).unwrap(), &c["dx"], 1e-4);
    assert_close(
        "fused norm dweight",
        grads.get(&weight).unwrap(),
        &c["dweight"],
        1e-4,
    );
    assert_close(
        "fused norm dbias",
        grads.get(&bias).unwrap(),
        &c["dbias"],
        1e-4,
    );
}

#[test]
fn fused_instance_norm_leaky_relu_matches_the_composed_ops() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (2, 3, 5, 4, 7), &dev).unwrap()).unwrap();
    let gamma = Var::from_tensor(&Tensor::randn(0f32, 1.0, 3, &dev).unwrap()).unwrap();
    let beta = Var::from_tensor(&Tensor::randn(0f32, 1.0, 3, &dev).unwrap()).unwrap();
    let r = Tensor::randn(0f32, 1.0, (2, 3, 5, 4, 7), &dev).unwrap();
    let run = |fused: bool| {
        let y = if fused {
            instance_norm_leaky_relu(
                x.as_tensor(),
                gamma.as_tensor(),
                beta.as_tensor(),
                1e-5,
                0.01,
            )
            .unwrap()
        } else {
            let norm = candle_nn::GroupNorm::new(
                gamma.as_tensor().clone(),
                beta.as_tensor().clone(),
                3,
                3,
                1e-5,
            )
            .unwrap();
            candle_nn::ops::leaky_relu(&norm.forward(x.as_tensor()).unwrap(), 0.01).unwrap()
        };
        let grads = weighted_sum_grads(&y, &r);
        (
            flat(&y),
            flat(grads.get(&x).unwrap()),
            flat(grads.get(&gamma).unwrap()),
            flat(grads.get(&beta).unwrap()),
        )
    };
    let (a, b) = (run(true), run(false));
    let close = |p: &[f32], q: &[f32], what: &str| {
        let worst = p
            .iter()
            .zip(q)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: {worst}");
    };
    close(&a.0, &b.0, "y");
    close(&a.1, &b.1, "dx");
    close(&a.2, &b.2, "dgamma");
    close(&a.3, &b.3, "dbeta");
}

#[test]
fn a_data_input_gets_no_gradient_and_the_kernel_the_same_one() {
    let device = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (2, 1, 5, 6, 7), &device).unwrap();
    let k = Var::from_tensor(&Tensor::randn(0f32, 0.5, (3, 1, 3, 3, 3), &device).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::new(&[0.1f32, -0.2, 0.3], &device).unwrap()).unwrap();
    let weights = Tensor::randn(0f32, 1.0, (2, 3, 5, 6, 7), &device).unwrap();
    let grads_for = |input: &Tensor| {
        let y = conv3d(input, k.as_tensor(), Some(b.as_tensor()), 1).unwrap();
        weighted_sum_grads(&y, &weights)
    };
    let as_data = grads_for(&x);
    let x_var = Var::from_tensor(&x).unwrap();
    let as_variable = grads_for(x_var.as_tensor());
    assert!(as_data.get(&x).is_none(), "data input got a gradient");
    assert!(as_variable.get(&x_var).is_some(), "variable input got none");
    for v in [&k, &b] {
        let (a, c) = (
            flat(as_data.get(v).unwrap()),
            flat(as_variable.get(v).unwrap()),
        );
        assert_eq!(a, c);
        assert!(
            a.iter().any(|g| g.abs() > 1e-3),
            "kernel/bias gradient is empty"
        );
    }
}

#[test]
fn an_input_without_channels_gives_zeros_with_every_algorithm() {
    let device = Device::Cpu;
    let x = Tensor::zeros((1, 0, 3, 4, 5), DType::F32, &device).unwrap();
    let k = Tensor::zeros((2, 0, 3, 3, 3), DType::F32, &device).unwrap();
    let mut algorithms = vec![ConvAlgorithm::Auto, ConvAlgorithm::Im2colGemm];
    if ConvAlgorithm::direct_available() {
        algorithms.push(ConvAlgorithm::Direct);
    }
    for algorithm in algorithms {
        let y = conv3d_cpu(&x, &k, None, [1; 3], algorithm).unwrap();
        assert_eq!(y.dims(), &[1, 2, 3, 4, 5], "{algorithm:?}");
        let values = flat(&y);
        assert!(values.iter().all(|&v| v == 0.0), "{algorithm:?}");
    }
}
