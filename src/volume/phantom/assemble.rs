//! Turns a drawn [`Anatomy`], its lesions and the case's tissue HU into the ordered list of
//! structures the renderer paints.
//!
//! Painter's order matters: later structures cover earlier ones. Roughly: things outside the
//! body, back muscles, chest (lungs, diaphragm, heart), bowel and stomach, solid organs (the
//! liver over the stomach, kidneys and gallbladder over the liver), vessels, structures inside
//! organs (liver vessels, pancreatic duct), lesions, and bones last.

use std::sync::Arc;

use super::anatomy::{Anatomy, Bowel, Content};
use super::geometry::{Aabb, V3, ellipse_sdf, v3};
use super::lesions::{Lesion, smoothstep};
use super::pelvis::Pelvis;
use super::scene::{BACKGROUND, LabelRule, Organ, Sample, SdfFn, ShadeFn, Structure};
use super::tissue::TissueHu;

/// Bounds for structures that run the whole height of the scan.
const TALL_MM: f32 = 5000.0;

fn tall(min_x: f32, max_x: f32, min_y: f32, max_y: f32) -> Aabb {
    Aabb {
        min: v3(min_x, min_y, -TALL_MM),
        max: v3(max_x, max_y, TALL_MM),
    }
}

/// Bone: a cortical shell `cortex_mm` thick over marrow with trabecular texture.
fn bone_shade(cortex_hu: f32, marrow_hu: f32, cortex_mm: f32) -> ShadeFn {
    Box::new(move |s: &Sample| {
        let m = smoothstep(-cortex_mm - 0.6, -cortex_mm + 0.6, s.d);
        let marrow = marrow_hu + 20.0 * s.tex + 18.0 * s.fine;
        marrow + (cortex_hu - marrow) * m
    })
}

/// HU of a bowel lumen at `p` for its contents.
fn content_hu(content: Content, s: &Sample, hu: &TissueHu) -> f32 {
    let gas = hu.air + 12.0 * s.fine;
    match content {
        Content::Fluid => hu.bowel_fluid + 5.0 * s.tex,
        Content::FluidGas { level_y_mm } => {
            let a = ((s.p.y - level_y_mm) / 1.0 + 0.5).clamp(0.0, 1.0);
            let fluid = hu.bowel_fluid + 5.0 * s.tex;
            fluid + (gas - fluid) * a
        }
        Content::OralContrast => hu.oral_contrast + 20.0 * s.tex,
        Content::Stool => {
            let m = s.tex + 0.35 * s.fine;
            let stool = hu.stool + 20.0 * s.tex + 12.0 * s.fine;
            let a = smoothstep(0.8, 1.3, m);
            stool + (gas - stool) * a
        }
        Content::Gas => gas,
    }
}

fn bowel_structure(
    name: &'static str,
    bowel: &Bowel,
    sdf: SdfFn,
    bounds: Aabb,
    hu: &TissueHu,
) -> Structure {
    let wall_mm = bowel.wall_mm;
    let content = bowel.content;
    let wall_hu = hu.bowel_wall;
    let hu = hu.clone();
    Structure::shaded(
        name,
        bounds,
        sdf,
        Box::new(move |s: &Sample| {
            let w = smoothstep(-wall_mm - 0.7, -wall_mm + 0.7, s.d);
            let lumen = content_hu(content, s, &hu);
            lumen + (wall_hu + 5.0 * s.tex - lumen) * w
        }),
        BACKGROUND,
    )
}

fn tube_sdf(tube: &super::geometry::Tube) -> SdfFn {
    let tube = tube.clone();
    Arc::new(move |p: V3| tube.sdf(p))
}

/// The mean HU of the pancreas as shaded (fat between lobules lowers it).
pub(crate) fn pancreas_parenchyma_hu(a: &Anatomy, hu: &TissueHu) -> f32 {
    let gland = &a.pancreas;
    hu.pancreas + gland.fatty_fraction * gland.mean_fat_blend * (hu.fat_visceral - hu.pancreas)
}

/// Where `organ` is labelled before any lesion is added, as an approximate signed distance (mm;
/// negative inside): inside the organ's own shape and outside every structure painted over it
/// later (vessels, kidneys, gallbladder, bones, …), which would take its label away. Lesions are
/// placed with it so that they lie in the labelled organ.
pub(crate) fn organ_interior(
    anatomy: &Arc<Anatomy>,
    hu: &TissueHu,
    organ: Organ,
) -> impl Fn(V3) -> f32 + Send + Sync + use<> {
    let scene = build_scene(anatomy, &Arc::new(Vec::new()), hu, organ);
    let at = scene
        .iter()
        .position(|s| s.rule == LabelRule::Replace { organ: Some(organ) })
        .expect("every scene paints its target organ");
    let (organ_bounds, organ_sdf) = (scene[at].bounds, scene[at].sdf.clone());
    let covers: Vec<(Aabb, SdfFn)> = scene[at + 1..]
        .iter()
        .filter(|s| matches!(s.rule, LabelRule::Replace { .. }))
        .map(|s| (s.bounds, s.sdf.clone()))
        .collect();
    move |p: V3| {
        if !organ_bounds.contains(p) {
            return 1.0e3;
        }
        covers
            .iter()
            .filter(|(b, _)| b.contains(p))
            .fold(organ_sdf(p), |d, (_, sdf)| d.max(-sdf(p)))
    }
}

/// Builds the painter-ordered structure list.
pub(crate) fn build_scene(
    anatomy: &Arc<Anatomy>,
    lesions: &Arc<Vec<Lesion>>,
    hu: &TissueHu,
    target: Organ,
) -> Vec<Structure> {
    let a = anatomy;
    let mut out: Vec<Structure> = Vec::new();
    let (min_x, max_x, min_y, max_y) = a.body.outline_extent_mm();

    // Outside the body: table and arms.
    if let Some(t) = &a.table {
        let (top, radius, gap, half) =
            (t.top_y_mm, t.curvature_radius_mm, t.gap_mm, t.half_width_mm);
        let sdf: SdfFn = Arc::new(move |p: V3| {
            let centre_y = top + radius;
            let dist = (p.x * p.x + (p.y - centre_y).powi(2)).sqrt();
            let upper = (dist - radius).abs() - 1.5;
            let lower = (dist - radius - gap).abs() - 1.5;
            upper.min(lower).max(p.x.abs() - half)
        });
        out.push(Structure::flat(
            "table",
            tall(-half, half, top - gap - 10.0, top + 40.0),
            sdf,
            hu.table,
            0.0,
            BACKGROUND,
        ));
    }
    for arm in &a.arms {
        let (c, (rx, ry), fat, h, hr) = (
            arm.center,
            arm.radii_mm,
            arm.fat_mm,
            arm.humerus,
            arm.humerus_r_mm,
        );
        let bounds = tall(c.x - rx, c.x + rx, c.y - ry, c.y + ry);
        let skin = Arc::new(move |p: V3| ellipse_sdf(p.x - c.x, p.y - c.y, rx, ry));
        out.push(Structure::flat(
            "arm",
            bounds,
            skin,
            hu.fat_subcutaneous,
            7.0,
            BACKGROUND,
        ));
        let muscle = Arc::new(move |p: V3| ellipse_sdf(p.x - c.x, p.y - c.y, rx - fat, ry - fat));
        out.push(Structure::flat(
            "arm muscle",
            bounds,
            muscle,
            hu.muscle,
            5.0,
            BACKGROUND,
        ));
        let bone = Arc::new(move |p: V3| ((p.x - h.x).powi(2) + (p.y - h.y).powi(2)).sqrt() - hr);
        out.push(Structure::shaded(
            "humerus",
            bounds,
            bone,
            bone_shade(hu.cortical_bone + 300.0, hu.fat_subcutaneous + 60.0, 3.0),
            BACKGROUND,
        ));
    }

    // Back muscles and psoas.
    {
        let an = a.clone();
        let sp = &a.spine;
        out.push(Structure::flat(
            "back muscles",
            tall(
                -sp.body_rx_mm - 60.0,
                sp.body_rx_mm + 60.0,
                min_y,
                sp.y_mm + 5.0,
            ),
            Arc::new(move |p: V3| an.back_muscle_sdf(p)),
            hu.muscle,
            5.0,
            BACKGROUND,
        ));
        for crus in &a.crura {
            out.push(Structure::flat(
                "crus",
                crus.bounds(),
                tube_sdf(crus),
                hu.muscle,
                4.0,
                BACKGROUND,
            ));
        }
        for (i, psoas) in a.psoas.iter().enumerate() {
            out.push(Structure::flat(
                if i == 0 { "right psoas" } else { "left psoas" },
                psoas.bounds(),
                tube_sdf(psoas),
                hu.muscle,
                5.0,
                BACKGROUND,
            ));
        }
    }

    // Chest: lungs above the diaphragm, the diaphragm muscle, the heart in its fat.
    let chest_lo = a.diaphragm.right_dome_z.min(a.diaphragm.left_dome_z) - 140.0;
    let chest_box = Aabb {
        min: v3(min_x, min_y, chest_lo),
        max: v3(max_x, max_y, TALL_MM),
    };
    {
        let an = a.clone();
        let lung = hu.lung;
        out.push(
            Structure::shaded(
                "lungs",
                chest_box,
                Arc::new(move |p: V3| an.lung_sdf(p)),
                Box::new(move |s: &Sample| {
                    let vessel = smoothstep(2.0, 2.6, s.fine);
                    let parenchyma = lung + 20.0 * s.tex;
                    parenchyma + (30.0 - parenchyma) * vessel
                }),
                BACKGROUND,
            )
            .steep()
            .depth_free(),
        );
        let an = a.clone();
        out.push(
            Structure::flat(
                "diaphragm",
                chest_box,
                Arc::new(move |p: V3| an.diaphragm_sdf(p)),
                hu.muscle,
                4.0,
                BACKGROUND,
            )
            .steep(),
        );
        let heart_box = a.heart.bounds().grow(10.0);
        let an = a.clone();
        out.push(
            Structure::flat(
                "pericardial fat",
                heart_box,
                Arc::new(move |p: V3| an.heart_sdf(p, 8.0)),
                hu.fat_visceral,
                8.0,
                BACKGROUND,
            )
            .steep(),
        );
        let an = a.clone();
        let (myo, blood) = (hu.myocardium, hu.heart_blood);
        out.push(
            Structure::shaded(
                "heart",
                heart_box,
                Arc::new(move |p: V3| an.heart_sdf(p, 0.0)),
                Box::new(move |s: &Sample| {
                    let m = smoothstep(-11.0, -8.0, s.d);
                    blood + (myo - blood) * m + 4.0 * s.tex
                }),
                BACKGROUND,
            )
            .steep(),
        );
    }

    // Ascites around the liver (some cases).
    if let Some(thickness) = a.ascites_mm {
        let an = a.clone();
        out.push(
            Structure::flat(
                "ascites",
                a.liver_bounds().grow(thickness),
                Arc::new(move |p: V3| {
                    (an.liver_sdf(p, &[]) - thickness).max(an.body.cavity_sdf(p) + 1.0)
                }),
                hu.ascites,
                3.0,
                BACKGROUND,
            )
            .steep(),
        );
    }

    // The pelvis's muscles, bowel and bladder (scans that reach it).
    if let Some(pelvis) = &a.pelvis {
        for wing in &pelvis.wings {
            let w = wing.clone();
            out.push(
                Structure::flat(
                    "iliacus",
                    wing.bounds(),
                    Arc::new(move |p: V3| w.iliacus_sdf(p)),
                    hu.muscle,
                    5.0,
                    BACKGROUND,
                )
                .steep(),
            );
        }
        for muscle in &pelvis.iliopsoas {
            out.push(Structure::flat(
                "iliopsoas",
                muscle.bounds(),
                tube_sdf(muscle),
                hu.muscle,
                5.0,
                BACKGROUND,
            ));
        }
        for (name, bowels) in [
            ("pelvic small bowel", &pelvis.loops),
            ("large bowel", &pelvis.large_bowel),
        ] {
            for bowel in bowels {
                out.push(bowel_structure(
                    name,
                    bowel,
                    tube_sdf(&bowel.tube),
                    bowel.tube.bounds(),
                    hu,
                ));
            }
        }
        let pelvis = pelvis.clone();
        let wall_mm = pelvis.bladder_wall_mm;
        let (urine, wall) = (hu.urine, hu.bowel_wall);
        out.push(Structure::shaded(
            "bladder",
            pelvis.bladder.bounds(),
            Arc::new(move |p: V3| pelvis.bladder_sdf(p)),
            Box::new(move |s: &Sample| {
                let w = smoothstep(-wall_mm - 0.7, -wall_mm + 0.7, s.d);
                urine + 3.0 * s.tex + (wall + 4.0 * s.tex - urine) * w
            }),
            BACKGROUND,
        ));
    }

    // Bowel and stomach.
    for bowel in &a.small_bowel {
        out.push(bowel_structure(
            "small bowel",
            bowel,
            tube_sdf(&bowel.tube),
            bowel.tube.bounds(),
            hu,
        ));
    }
    // Where a pelvis is drawn, its caecum and sigmoid take over from the colon's columns.
    let colon_floor_z = a.pelvis.as_ref().map(|p| p.colon_floor_z);
    for bowel in &a.colon {
        let sdf = match colon_floor_z {
            None => tube_sdf(&bowel.tube),
            Some(floor) => {
                let tube = bowel.tube.clone();
                Arc::new(move |p: V3| tube.sdf(p).max(floor - p.z)) as SdfFn
            }
        };
        out.push(bowel_structure(
            "colon",
            bowel,
            sdf,
            bowel.tube.bounds(),
            hu,
        ));
    }
    out.push(bowel_structure(
        "duodenum",
        &a.duodenum,
        tube_sdf(&a.duodenum.tube),
        a.duodenum.tube.bounds(),
        hu,
    ));
    {
        let an = a.clone();
        out.push(
            bowel_structure(
                "stomach",
                &a.stomach,
                Arc::new(move |p: V3| an.stomach_sdf(p)),
                a.stomach.tube.bounds().grow(4.0),
                hu,
            )
            .steep(),
        );
    }

    // Solid organs.
    let organ_rule = |o: Organ| LabelRule::Replace { organ: Some(o) };
    {
        let an = a.clone();
        let (spleen, mottle) = (hu.spleen, hu.spleen_mottle);
        out.push(
            Structure::shaded(
                "spleen",
                a.spleen.bounds().grow(4.0),
                Arc::new(move |p: V3| an.spleen_sdf(p)),
                Box::new(move |s: &Sample| spleen + (4.0 + mottle) * s.tex + 2.0 * s.fine),
                BACKGROUND,
            )
            .steep()
            .depth_free(),
        );
    }
    let liver_bounds = lesions
        .iter()
        .filter(|l| l.organ == Organ::Liver)
        .fold(a.liver_bounds(), |b, l| b.union(l.bounds()));
    {
        let (an, ls) = (a.clone(), lesions.clone());
        let liver = hu.liver;
        out.push(
            Structure::shaded(
                "liver",
                liver_bounds,
                Arc::new(move |p: V3| an.liver_sdf(p, &ls)),
                Box::new(move |s: &Sample| liver + 5.0 * s.tex + 2.0 * s.fine),
                organ_rule(Organ::Liver),
            )
            .steep()
            .depth_free(),
        );
    }
    if let Some(gb) = a.gallbladder {
        let (bile, wall) = (hu.gallbladder, hu.bowel_wall);
        out.push(Structure::shaded(
            "gallbladder",
            gb.bounds(),
            Arc::new(move |p: V3| gb.sdf(p)),
            Box::new(move |s: &Sample| {
                let w = smoothstep(-2.5, -1.0, s.d);
                bile + 2.0 * s.tex + (wall - bile) * w
            }),
            BACKGROUND,
        ));
    }
    let pancreas_bounds = lesions
        .iter()
        .filter(|l| l.organ == Organ::Pancreas)
        .fold(a.pancreas_bounds(), |b, l| b.union(l.bounds()));
    {
        let (an, ls) = (a.clone(), lesions.clone());
        let (pancreas, fat, gland) = (hu.pancreas, hu.fat_visceral, a.pancreas.clone());
        out.push(
            Structure::shaded(
                "pancreas",
                pancreas_bounds,
                Arc::new(move |p: V3| an.pancreas_sdf(p, &ls)),
                Box::new(move |s: &Sample| {
                    let tissue = pancreas + 6.0 * s.tex + 4.0 * s.fine;
                    let f = gland.fat_blend(s.fine);
                    tissue + (fat - tissue) * f
                }),
                organ_rule(Organ::Pancreas),
            )
            .depth_free(),
        );
    }
    for side in 0..2 {
        let an = a.clone();
        let k = a.kidneys[side];
        let (cortex, medulla) = (hu.kidney_cortex, hu.kidney_medulla);
        let cortex_mm = 6.0 + k.radii.x * 0.05;
        out.push(Structure::shaded(
            "kidney",
            k.bounds().grow(3.0),
            Arc::new(move |p: V3| an.kidney_sdf(side, p)),
            Box::new(move |s: &Sample| {
                let m = smoothstep(-cortex_mm - 2.0, -cortex_mm + 2.0, s.d);
                medulla + (cortex - medulla) * m + 4.0 * s.tex
            }),
            BACKGROUND,
        ));
        let an = a.clone();
        let (fat, urine) = (hu.fat_visceral, hu.urine);
        let pelvis_depth = k.radii.x * 0.15;
        out.push(Structure::shaded(
            "renal sinus",
            k.bounds(),
            Arc::new(move |p: V3| an.renal_sinus_sdf(side, p)),
            Box::new(move |s: &Sample| {
                let u = smoothstep(-pelvis_depth - 1.5, -pelvis_depth + 1.5, s.d);
                urine + (fat + 8.0 * s.tex - urine) * u
            }),
            BACKGROUND,
        ));
    }

    // Vessels.
    {
        let aorta_hu = hu.aorta;
        let calcified = a.aortic_calcification;
        let calcium = hu.cortical_bone;
        let aorta_shade = move |s: &Sample| {
            let plaque = if calcified {
                smoothstep(1.8, 2.4, s.fine) * smoothstep(-3.0, -1.5, s.d)
            } else {
                0.0
            };
            aorta_hu + 3.0 * s.tex + (calcium - aorta_hu) * plaque
        };
        out.push(Structure::shaded(
            "aorta",
            a.aorta.bounds(),
            tube_sdf(&a.aorta),
            Box::new(aorta_shade),
            BACKGROUND,
        ));
        for iliac in &a.iliacs {
            out.push(Structure::shaded(
                "iliac artery",
                iliac.bounds(),
                tube_sdf(iliac),
                Box::new(aorta_shade),
                BACKGROUND,
            ));
        }
        out.push(Structure::flat(
            "ivc",
            a.ivc.bounds(),
            tube_sdf(&a.ivc),
            hu.ivc,
            3.0,
            BACKGROUND,
        ));
        for v in &a.portal_veins {
            out.push(Structure::flat(
                "portal vein",
                v.bounds(),
                tube_sdf(v),
                hu.portal_vein,
                3.0,
                BACKGROUND,
            ));
        }
        for v in &a.renal_veins {
            out.push(Structure::flat(
                "renal vein",
                v.bounds(),
                tube_sdf(v),
                hu.ivc,
                3.0,
                BACKGROUND,
            ));
        }
        for v in &a.arteries {
            out.push(Structure::flat(
                "artery",
                v.bounds(),
                tube_sdf(v),
                hu.aorta,
                3.0,
                BACKGROUND,
            ));
        }
    }

    // Inside organs: liver vessels, pancreatic duct.
    let in_liver = LabelRule::Inside {
        organ: Organ::Liver,
        tumour: false,
    };
    for v in &a.hepatic_branches {
        out.push(Structure::flat(
            "hepatic vein",
            v.bounds(),
            tube_sdf(v),
            hu.hepatic_vein,
            3.0,
            in_liver,
        ));
    }
    for v in &a.portal_branches {
        out.push(Structure::flat(
            "portal branch",
            v.bounds(),
            tube_sdf(v),
            hu.portal_vein,
            3.0,
            in_liver,
        ));
    }
    // The liver's fat-filled fissures: fat, not liver, wherever they cross it.
    for fissure in &a.liver_fissures {
        let (fissure, anatomy) = (*fissure, a.clone());
        out.push(Structure::flat(
            "liver fissure",
            fissure.bounds(),
            Arc::new(move |p: V3| fissure.sdf(p).max(anatomy.liver_sdf(p, &[]))),
            hu.fat_visceral,
            6.0,
            BACKGROUND,
        ));
    }
    // The hilum's fat around the main portal branches, the veins bright within it; both
    // outside the liver's label, as in real labels.
    for hilar in &a.liver_hilar_fat {
        for (name, tube, hu, texture_hu) in [
            ("hilar fat", &hilar.sleeve, hu.fat_visceral, 6.0),
            ("hilar portal vein", &hilar.vein, hu.portal_vein, 3.0),
        ] {
            let (tube, anatomy) = (tube.clone(), a.clone());
            out.push(Structure::flat(
                name,
                tube.bounds(),
                Arc::new(move |p: V3| tube.sdf(p).max(anatomy.liver_sdf(p, &[]))),
                hu,
                texture_hu,
                BACKGROUND,
            ));
        }
    }
    out.push(Structure::flat(
        "pancreatic duct",
        a.pancreatic_duct.bounds(),
        tube_sdf(&a.pancreatic_duct),
        hu.bowel_fluid,
        2.0,
        LabelRule::Inside {
            organ: Organ::Pancreas,
            tumour: false,
        },
    ));

    // Lesions of the target organ.
    for (i, lesion) in lesions.iter().enumerate() {
        if lesion.organ != target {
            continue;
        }
        let organ_hu = match lesion.organ {
            Organ::Liver => hu.liver,
            Organ::Pancreas => pancreas_parenchyma_hu(a, hu),
        };
        let (an, ls) = (a.clone(), lesions.clone());
        let ls2 = lesions.clone();
        let mut s = Structure::shaded(
            "lesion",
            lesion.bounds(),
            Arc::new(move |p: V3| ls[i].sdf(p, &an.fields)),
            Box::new(move |s: &Sample| ls2[i].shade(s, organ_hu)),
            LabelRule::Inside {
                organ: lesion.organ,
                tumour: true,
            },
        );
        s.blur_mm = lesion.margin_blur_mm;
        out.push(s);
    }

    // Bones. Where a pelvis is drawn the lumbar spine stops at the sacrum.
    let spine_floor_z = a
        .pelvis
        .as_ref()
        .map_or(f32::NEG_INFINITY, |p| p.sacrum.top_z);
    let canal_floor_z = spine_floor_z - 40.0;
    let spine = a.spine.clone();
    let spine_box = tall(
        -spine.body_rx_mm - 40.0,
        spine.body_rx_mm + 40.0,
        spine.canal_y_mm - 60.0,
        spine.y_mm + spine.body_ry_mm + 5.0,
    );
    {
        let s = spine.clone();
        out.push(Structure::flat(
            "spinal canal",
            spine_box,
            Arc::new(move |p: V3| s.canal_sdf(p).max(canal_floor_z - p.z)),
            hu.csf,
            3.0,
            BACKGROUND,
        ));
        let s = spine.clone();
        out.push(Structure::flat(
            "discs",
            spine_box,
            Arc::new(move |p: V3| s.disc_sdf(p).max(spine_floor_z - p.z)),
            hu.disc,
            5.0,
            BACKGROUND,
        ));
        let s = spine.clone();
        out.push(Structure::shaded(
            "vertebral bodies",
            spine_box,
            Arc::new(move |p: V3| s.body_sdf(p).max(spine_floor_z - p.z)),
            bone_shade(hu.cortical_bone, hu.vertebral_marrow, 1.5),
            BACKGROUND,
        ));
        let s = spine.clone();
        out.push(Structure::shaded(
            "vertebral arches",
            spine_box,
            Arc::new(move |p: V3| s.arch_sdf(p).max(spine_floor_z - p.z)),
            bone_shade(hu.cortical_bone, hu.vertebral_marrow + 60.0, 1.5),
            BACKGROUND,
        ));
    }
    {
        let (z_lo, z_hi) = a.ribs.z_range();
        let rib_box = Aabb {
            min: v3(min_x, min_y, z_lo),
            max: v3(max_x, max_y, z_hi),
        };
        let an = a.clone();
        let an2 = a.clone();
        let (cortex, marrow, cartilage) = (hu.cortical_bone, hu.rib_marrow, hu.cartilage);
        let bone = bone_shade(cortex, marrow, 1.2);
        out.push(Structure::shaded(
            "ribs",
            rib_box,
            Arc::new(move |p: V3| an.ribs.hit(p, &an.body).distance_mm),
            Box::new(move |s: &Sample| {
                if an2.ribs.hit(s.p, &an2.body).cartilage {
                    cartilage + 10.0 * s.tex
                } else {
                    bone(s)
                }
            }),
            BACKGROUND,
        ));
    }
    if let Some(pelvis) = &a.pelvis {
        push_pelvic_bones(&mut out, pelvis, hu);
    }
    out
}

/// The pelvis's bones, painted last (over everything else).
fn push_pelvic_bones(out: &mut Vec<Structure>, pelvis: &Pelvis, hu: &TissueHu) {
    let flat_bone = || bone_shade(hu.cortical_bone, hu.vertebral_marrow, 1.5);
    // The femur's head and trochanter: marrow a little fattier than the flat bones'.
    let femur_bone = || bone_shade(hu.cortical_bone, hu.vertebral_marrow - 30.0, 1.5);
    let sacrum = pelvis.sacrum.clone();
    out.push(
        Structure::shaded(
            "sacrum",
            sacrum.bounds(),
            Arc::new(move |p: V3| sacrum.sdf(p)),
            flat_bone(),
            BACKGROUND,
        )
        .steep(),
    );
    for wing in &pelvis.wings {
        let w = wing.clone();
        out.push(
            Structure::shaded(
                "iliac wing",
                wing.bounds(),
                Arc::new(move |p: V3| w.bone_sdf(p)),
                flat_bone(),
                BACKGROUND,
            )
            .steep(),
        );
    }
    for side in 0..2 {
        let reach = pelvis.head_radius_mm + 14.0;
        let pv = pelvis.clone();
        out.push(Structure::shaded(
            "acetabulum",
            Aabb::around(pelvis.acetabula[side], reach),
            Arc::new(move |p: V3| pv.acetabulum_sdf(side, p)),
            flat_bone(),
            BACKGROUND,
        ));
        let pv = pelvis.clone();
        out.push(Structure::shaded(
            "femoral head",
            Aabb::around(pelvis.femoral_heads[side], reach),
            Arc::new(move |p: V3| pv.femoral_head_sdf(side, p)),
            femur_bone(),
            BACKGROUND,
        ));
        let t = pelvis.trochanters[side];
        out.push(Structure::shaded(
            "greater trochanter",
            t.bounds(),
            Arc::new(move |p: V3| t.sdf(p)),
            femur_bone(),
            BACKGROUND,
        ));
        let b = pelvis.pubic_bodies[side];
        out.push(Structure::shaded(
            "pubic body",
            b.bounds(),
            Arc::new(move |p: V3| b.sdf(p)),
            flat_bone(),
            BACKGROUND,
        ));
    }
    for bone in &pelvis.tube_bones {
        let shade = if bone.fatty_marrow {
            bone_shade(
                hu.cortical_bone + 150.0,
                hu.fat_subcutaneous + 40.0,
                bone.cortex_mm,
            )
        } else {
            bone_shade(hu.cortical_bone, hu.vertebral_marrow, bone.cortex_mm)
        };
        out.push(Structure::shaded(
            bone.name,
            bone.tube.bounds(),
            tube_sdf(&bone.tube),
            shade,
            BACKGROUND,
        ));
    }
}
