//! Every `shaders/*.wgsl` parses and validates with naga (the same naga wgpu uses), so a broken
//! shader fails here, without a GPU, rather than at pipeline creation in the app.

use std::path::PathBuf;

use naga::valid::{Capabilities, ValidationFlags, Validator};

/// Parses and validates WGSL source; the error is naga's report with source spans.
fn validate_wgsl(source: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    Validator::new(ValidationFlags::all(), Capabilities::default())
        .validate(&module)
        .map_err(|e| e.emit_to_string(source))?;
    Ok(module)
}

fn shader_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shader_parses_and_validates_with_vs_main_and_fs_main() {
    let files = shader_files();
    assert!(!files.is_empty(), "no shaders/*.wgsl found");
    for path in files {
        let source = std::fs::read_to_string(&path).expect("readable shader");
        let module = validate_wgsl(&source)
            .unwrap_or_else(|report| panic!("{} is invalid:\n{report}", path.display()));
        let entry_points: Vec<(&str, naga::ShaderStage)> = module
            .entry_points
            .iter()
            .map(|ep| (ep.name.as_str(), ep.stage))
            .collect();
        for wanted in [
            ("vs_main", naga::ShaderStage::Vertex),
            ("fs_main", naga::ShaderStage::Fragment),
        ] {
            assert!(
                entry_points.contains(&wanted),
                "{} lacks {wanted:?}; has {entry_points:?}",
                path.display()
            );
        }
        if source.contains("var<uniform>") {
            assert!(
                source.contains("// keep in sync with"),
                "{} declares uniforms without a `// keep in sync with` note on their structs",
                path.display()
            );
        }
    }
}

#[test]
fn a_syntax_error_is_reported() {
    let broken = "@vertex fn vs_main( -> @builtin(position) vec4<f32> { return vec4<f32>(0.0); }";
    let report = validate_wgsl(broken).expect_err("broken syntax must not validate");
    assert!(report.contains("error"), "{report}");
}

#[test]
fn a_shader_that_parses_but_breaks_the_rules_fails_validation() {
    // A fragment output without a `@location`: valid syntax, invalid entry point interface.
    let broken = "@fragment fn fs_main() -> vec4<f32> { return vec4<f32>(1.0); }";
    assert!(
        naga::front::wgsl::parse_str(broken).is_ok(),
        "the snippet is meant to parse"
    );
    validate_wgsl(broken).expect_err("an unbound fragment output must not validate");
}

#[test]
fn a_type_error_is_reported() {
    let broken = "@fragment fn fs_main() -> @location(0) vec4<f32> { let x: f32 = 1.0; return x; }";
    validate_wgsl(broken).expect_err("returning f32 as vec4 must not validate");
}
