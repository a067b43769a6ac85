//! A progress bar on stderr while training, only when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use lad::model::Stage;

/// Returns a callback for `Model::fit_with_progress` and the bar to finish.
pub fn training_bar() -> (Option<ProgressBar>, impl FnMut(Stage, f32)) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(1000);
        b.set_style(
            ProgressStyle::with_template("{spinner} training {msg:<12} [{bar:30}] {percent:>3}%")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let handle = bar.clone();
    let callback = move |stage: Stage, p: f32| {
        if let Some(b) = &handle {
            let (lo, hi, name) = match stage {
                Stage::Tokenize => (0.0, 0.1, "tokenize"),
                Stage::Templates => (0.1, 0.2, "templates"),
                Stage::Embed => (0.2, 0.8, "word2vec"),
                Stage::Detectors => (0.8, 1.0, "detectors"),
            };
            b.set_message(name);
            b.set_position(((lo + (hi - lo) * p.clamp(0.0, 1.0)) * 1000.0) as u64);
        }
    };
    (bar, callback)
}
