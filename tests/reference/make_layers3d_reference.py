#!/usr/bin/env python3
"""Writes tests/data/layers3d_reference.json: PyTorch reference values for Oncoscope's 3D layers
and losses (forward outputs and gradients on odd shapes), so the Rust tests need no PyTorch.

Run from the crate root with a Python that has torch (e.g. the bench venv):
    /opt/bench-venv/bin/python tests/reference/make_layers3d_reference.py
Every case is seeded; gradients are of L = sum(y * r) for a fixed random r unless noted.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)  # reference in f64, compared in f32


def t(x):
    return [round(v, 9) for v in x.detach().flatten().tolist()]


def rand(*shape):
    return torch.randn(*shape, requires_grad=True)


cases = {}

# conv3d 3x3x3, padding 1, odd sizes, batch 2
x = rand(2, 3, 5, 6, 7); k = rand(4, 3, 3, 3, 3); b = rand(4)
y = F.conv3d(x, k, b, padding=1); r = torch.randn_like(y); (y * r).sum().backward()
cases["conv3d_k3_p1"] = dict(x=t(x), x_shape=list(x.shape), k=t(k), k_shape=list(k.shape), b=t(b),
                             r=t(r), y=t(y), y_shape=list(y.shape), dx=t(x.grad), dk=t(k.grad), db=t(b.grad), padding=1)

# conv3d 3x3x3 without padding, anisotropic sizes
x = rand(1, 2, 4, 5, 6); k = rand(3, 2, 3, 3, 3)
y = F.conv3d(x, k, None, padding=0); r = torch.randn_like(y); (y * r).sum().backward()
cases["conv3d_k3_p0"] = dict(x=t(x), x_shape=list(x.shape), k=t(k), k_shape=list(k.shape),
                             r=t(r), y=t(y), y_shape=list(y.shape), dx=t(x.grad), dk=t(k.grad), padding=0)

# conv3d 1x1x1 (the U-Net head)
x = rand(1, 2, 3, 4, 5); k = rand(3, 2, 1, 1, 1); b = rand(3)
y = F.conv3d(x, k, b); r = torch.randn_like(y); (y * r).sum().backward()
cases["conv3d_k1"] = dict(x=t(x), x_shape=list(x.shape), k=t(k), k_shape=list(k.shape), b=t(b),
                          r=t(r), y=t(y), y_shape=list(y.shape), dx=t(x.grad), dk=t(k.grad), db=t(b.grad), padding=0)

# transposed conv3d, kernel 2 stride 2
x = rand(2, 3, 2, 3, 4); k = rand(3, 2, 2, 2, 2); b = rand(2)
y = F.conv_transpose3d(x, k, b, stride=2); r = torch.randn_like(y); (y * r).sum().backward()
cases["conv_transpose3d_k2s2"] = dict(x=t(x), x_shape=list(x.shape), k=t(k), k_shape=list(k.shape), b=t(b),
                                      r=t(r), y=t(y), y_shape=list(y.shape), dx=t(x.grad), dk=t(k.grad), db=t(b.grad))

# max pool 2, odd sizes (floor)
x = rand(1, 2, 5, 6, 7)
y = F.max_pool3d(x, 2); r = torch.randn_like(y); (y * r).sum().backward()
cases["max_pool3d_2"] = dict(x=t(x), x_shape=list(x.shape), r=t(r), y=t(y), y_shape=list(y.shape), dx=t(x.grad))

# instance norm (affine), eps 1e-5, biased variance
x = rand(2, 3, 3, 4, 5); g = rand(3); be = rand(3)
y = F.instance_norm(x, weight=g, bias=be, eps=1e-5); r = torch.randn_like(y); (y * r).sum().backward()
cases["instance_norm"] = dict(x=t(x), x_shape=list(x.shape), weight=t(g), bias=t(be), r=t(r), y=t(y),
                              y_shape=list(y.shape), dx=t(x.grad), dweight=t(g.grad), dbias=t(be.grad))

# U-Net loss: cross-entropy + (1 - mean soft Dice), background included, eps 1e-5
logits = rand(2, 3, 3, 4, 5); target = torch.randint(0, 3, (2, 3, 4, 5))
ce = F.cross_entropy(logits, target)
p = torch.softmax(logits, dim=1)
gt = F.one_hot(target, 3).permute(0, 4, 1, 2, 3).to(p.dtype)
dice = (2 * (p * gt).sum((2, 3, 4)) + 1e-5) / (p.sum((2, 3, 4)) + gt.sum((2, 3, 4)) + 1e-5)
loss = ce + (1 - dice.mean()); loss.backward()
cases["dice_ce_loss"] = dict(logits=t(logits), logits_shape=list(logits.shape), target=target.flatten().tolist(),
                             loss=loss.item(), ce=ce.item(), dlogits=t(logits.grad))

# classifier loss: BCE with logits, optional positive weight
z = rand(5, 1); yt = torch.tensor([[1.0], [0.0], [1.0], [1.0], [0.0]])
bce = F.binary_cross_entropy_with_logits(z, yt, pos_weight=torch.tensor([0.5])); bce.backward()
cases["bce_with_logits"] = dict(logits=t(z), targets=t(yt), pos_weight=0.5, loss=bce.item(), dlogits=t(z.grad))

with open("tests/data/layers3d_reference.json", "w") as f:
    json.dump({"generator": "tests/reference/make_layers3d_reference.py", "torch": torch.__version__,
               "cases": cases}, f, separators=(",", ":"))
print("wrote tests/data/layers3d_reference.json", {k: len(v.get("y", [])) for k, v in cases.items()})
