//! Writing a screenshot as a PNG file whole or not at all.

use std::path::Path;

/// Writes `image` to `path` (which must end in `.png`, the only format built in) whole or not
/// at all ([`crate::atomic_file`]): an existing file of that name is replaced only by a whole
/// new one. Creates missing parent folders.
pub fn write_png(path: &Path, image: &image::RgbaImage) -> Result<(), String> {
    let is_png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(format!(
            "{}: screenshots are saved as PNG; name the file .png",
            path.display()
        ));
    }
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| named(&e))?;
    crate::atomic_file::write_atomically(path, |out| out.write_all(png.get_ref()))
        .map_err(|e| named(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_whole_and_refuses_other_names_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let image = image::RgbaImage::from_pixel(3, 2, image::Rgba([10, 20, 30, 255]));
        let png = dir.path().join("shots/view.png");
        write_png(&png, &image).unwrap();
        assert_eq!(image::open(&png).unwrap().to_rgba8(), image);
        // Another format's name: refused, and an existing file of that name left alone.
        let jpg = dir.path().join("view.jpg");
        std::fs::write(&jpg, b"an earlier picture").unwrap();
        let err = write_png(&jpg, &image).unwrap_err();
        assert!(err.contains("view.jpg") && err.contains(".png"), "{err}");
        assert_eq!(std::fs::read(&jpg).unwrap(), b"an earlier picture");
        // A folder in the way of the rename: an error naming the file, no partial file.
        let blocked = dir.path().join("blocked.png");
        std::fs::create_dir(&blocked).unwrap();
        let err = write_png(&blocked, &image).unwrap_err();
        assert!(err.contains("blocked.png"), "{err}");
        let partials = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("partial")
            })
            .count();
        assert_eq!(partials, 0);
    }
}
