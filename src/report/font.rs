//! The one font every plot uses, bundled so that a plot looks the same on every machine.
//!
//! plotters' `ab_glyph` feature (pure Rust, no fontconfig or freetype) replaces its built-in
//! size-guessing font for *every* backend: the bitmap backend needs a real font to draw text
//! at all (the threat dashboard PNG), and the SVG backend uses its metrics to lay out labels
//! (the browser still renders the SVG text with its own fonts). So every plotting entry point
//! calls [`register`] first; it is cheap after the first call.
//!
//! The font is DejaVu Sans 2.37 (Bitstream Vera license, `assets/fonts/DejaVu-LICENSE.txt`),
//! as shipped by Debian's `fonts-dejavu-core`.

use std::sync::Once;

use plotters::style::FontStyle;

/// The family name the plots ask for.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font under [`FAMILY`] (all styles fall back to it). Idempotent.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType file (checked by a test); if a future plotters
        // rejected them, text would fail to draw and each plot reports that, not a panic.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_font_parses() {
        assert!(plotters::style::register_font(
            super::FAMILY,
            plotters::style::FontStyle::Normal,
            super::DEJAVU_SANS
        )
        .is_ok());
    }
}
