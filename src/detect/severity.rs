//! Severity words: what the log line itself says about how bad it is.
//!
//! Every log format shares a small vocabulary for trouble (`fatal`, `panic`, `failed`,
//! `denied`, …). Alone it is a poor detector (hosts log `failed to resolve` all day), but
//! combined with rarity it separates a new fatal error from a new harmless notice, which no
//! purely statistical signal can.
//!
//! Many formats (log4j, Hadoop, Spark, BGL, Windows) carry an explicit level field written in
//! capitals (`INFO`, `WARN`, `ERROR`, `FATAL`). When a message has one, the level decides:
//! `INFO … parity error corrected` is a notice about an error, not an error. Otherwise the
//! worst trouble word in the free text decides (matched case-insensitively).

/// `(word, weight)`; a message scores the largest weight among its tokens.
pub const LEXICON: &[(&str, f64)] = &[
    // Loss of service or data.
    ("fatal", 1.0),
    ("panic", 1.0),
    ("emerg", 1.0),
    ("emergency", 1.0),
    ("crit", 1.0),
    ("critical", 1.0),
    ("failure", 1.0),
    ("failures", 1.0),
    ("segfault", 1.0),
    ("corrupt", 1.0),
    ("corrupted", 1.0),
    ("corruption", 1.0),
    ("oom", 1.0),
    ("lockup", 1.0),
    ("oops", 1.0),
    ("crash", 1.0),
    ("crashed", 1.0),
    ("unrecoverable", 1.0),
    ("degraded", 1.0),
    ("degradedarray", 1.0),
    // Something went wrong.
    ("error", 0.6),
    ("errors", 0.6),
    ("err", 0.6),
    ("failed", 0.6),
    ("fail", 0.6),
    ("fails", 0.6),
    ("severe", 0.6),
    ("severed", 0.6),
    ("denied", 0.6),
    ("refused", 0.6),
    ("reset", 0.6),
    ("abort", 0.6),
    ("aborted", 0.6),
    ("exception", 0.6),
    ("unreachable", 0.6),
    ("timeout", 0.6),
    ("killed", 0.6),
    ("violation", 0.6),
    ("unauthorized", 0.6),
    ("illegal", 0.6),
    ("rejected", 0.6),
    ("revoked", 0.6),
    ("stuck", 0.6),
    // Worth a look.
    ("warn", 0.3),
    ("warning", 0.3),
    ("unable", 0.3),
    ("cannot", 0.3),
    ("lost", 0.3),
    ("invalid", 0.3),
];

/// Trouble said in several words, matched on consecutive lower-cased tokens.
pub const PHRASES: &[(&[&str], f64)] = &[
    (&["out", "of", "memory"], 1.0),
    (&["no", "space", "left"], 1.0),
    (&["kernel", "bug"], 1.0),
    (&["read-only", "file", "system"], 0.6),
    (&["i/o", "error"], 1.0),
];

/// Standard C library (`strerror`) texts of errors that the *caller* made — a missing file, a
/// refused permission, a non-executable file — rather than a failure of the system (I/O error,
/// connection reset, out of memory). Like HTTP 4xx against 5xx: worth logging, rarely an
/// incident. A message quoting one has its severity multiplied by the damping factor
/// (`EnsembleParams::user_error_damping`, default 0.5; 1 turns this off).
pub const USER_ERRORS: &[&[&str]] = &[
    &["no", "such", "file", "or", "directory"],
    &["permission", "denied"],
    &["operation", "not", "permitted"],
    &["exec", "format", "error"],
    &["not", "a", "directory"],
    &["is", "a", "directory"],
    &["file", "exists"],
];

/// Explicit level fields (all capitals) and their severity.
pub const LEVELS: &[(&str, f64)] = &[
    ("EMERG", 1.0),
    ("EMERGENCY", 1.0),
    ("ALERT", 1.0),
    ("CRIT", 1.0),
    ("CRITICAL", 1.0),
    ("FATAL", 1.0),
    ("FAILURE", 1.0),
    ("SEVERE", 1.0),
    ("ERROR", 0.6),
    ("ERR", 0.6),
    ("WARN", 0.3),
    ("WARNING", 0.3),
    ("NOTICE", 0.0),
    ("INFO", 0.0),
    ("DEBUG", 0.0),
    ("TRACE", 0.0),
];

/// Severity of a message's tokens in `[0, 1]`: its explicit level if it has one (the first),
/// else its worst trouble word or phrase.
pub fn severity<S: AsRef<str>>(tokens: &[S]) -> f64 {
    if let Some(level) = tokens
        .iter()
        .find_map(|t| LEVELS.iter().find(|(l, _)| *l == t.as_ref()))
    {
        return level.1;
    }
    let words = tokens
        .iter()
        .filter_map(|t| {
            let t = t.as_ref();
            LEXICON
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(t))
                .map(|(_, s)| *s)
        })
        .fold(0.0, f64::max);
    let phrases = PHRASES
        .iter()
        .filter(|(phrase, _)| contains_phrase(tokens, phrase))
        .map(|(_, s)| *s)
        .fold(0.0, f64::max);
    words.max(phrases)
}

fn contains_phrase<S: AsRef<str>>(tokens: &[S], phrase: &[&str]) -> bool {
    tokens.windows(phrase.len()).any(|w| {
        w.iter()
            .zip(phrase)
            .all(|(t, p)| t.as_ref().eq_ignore_ascii_case(p))
    })
}

/// [`severity`], multiplied by `damping` when the message quotes a [`USER_ERRORS`] text.
pub fn severity_damped<S: AsRef<str>>(tokens: &[S], damping: f64) -> f64 {
    let s = severity(tokens);
    if s > 0.0 && USER_ERRORS.iter().any(|p| contains_phrase(tokens, p)) {
        s * damping.clamp(0.0, 1.0)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_worst_word() {
        assert_eq!(severity(&["kernel", "panic", "error"]), 1.0);
        assert_eq!(severity(&["connection", "refused"]), 0.6);
        assert_eq!(severity(&["session", "opened"]), 0.0);
        assert_eq!(severity::<&str>(&[]), 0.0);
        assert_eq!(severity(&["Kernel", "PANIC"]), 1.0);
        // An explicit level wins over words in the text.
        assert_eq!(
            severity(&["RAS", "KERNEL", "INFO", "parity", "error", "corrected"]),
            0.0
        );
        assert_eq!(severity(&["RAS", "APP", "FATAL", "ciod:", "failed"]), 1.0);
        assert_eq!(
            severity(&["kernel:", "Out", "of", "memory:", "Kill"]),
            0.0,
            "token 'memory:' is not 'memory'"
        );
        assert_eq!(severity(&["kernel", "Out", "of", "memory", "Kill"]), 1.0);
        assert_eq!(severity(&["NMI", "watchdog", "hard", "LOCKUP"]), 1.0);
        // A user error quoted in a FATAL line counts half; a system failure in full.
        let enoent = [
            "APP",
            "FATAL",
            "chdir",
            "failed",
            "No",
            "such",
            "file",
            "or",
            "directory",
        ];
        assert_eq!(severity_damped(&enoent, 0.5), 0.5);
        assert_eq!(severity_damped(&enoent, 1.0), 1.0);
        let eio = ["APP", "FATAL", "chdir", "failed", "Input/output", "error"];
        assert_eq!(severity_damped(&eio, 0.5), 1.0);
    }
}
