//! The severity prior: what a line says about itself, as a likelihood ratio.
//!
//! A message that calls itself FATAL, or says `panic` or `Input/output error`, is more likely
//! to be an incident than one that does not — before looking at how rare it is. That is a
//! *prior*: it multiplies the odds that rarity evidence must overcome, it does not decide on
//! its own (a FATAL line the host prints a thousand times a day is not flagged; a line with
//! no trouble word that the host has never said can be). See [`super`] for the arithmetic.
//!
//! Two places say how bad a line is, and the worse one counts (they are written together by
//! the same program, so their ratios do not multiply):
//! * the **level field** (in capitals anywhere, or in any case in the line's header, as
//!   Apache's `[error]` or sshd's `error:`), and
//! * the **text**: trouble words and the C library's error texts.
//!
//! An explicit `INFO`/`DEBUG` level decides on its own: `INFO … parity error corrected` is a
//! notice about an error, not an error. A message that quotes a *caller's*
//! error (a missing file, a refused permission: the request was wrong, the system is fine,
//! like HTTP 4xx against 5xx) has its ratio multiplied by `caller_error`.
//!
//! Where the lists come from (none was chosen by reading labeled test lines):
//! * [`LEVELS`]: the severity keywords of RFC 5424 §6.2.1 (`emerg` … `debug`) and the level
//!   names of common logging frameworks: log4j/logback/slf4j (`FATAL`, `ERROR`, `WARN`,
//!   `INFO`, `DEBUG`, `TRACE`), java.util.logging (`SEVERE`, `WARNING`, `CONFIG`, `FINE`…),
//!   Python `logging` (`CRITICAL`), Go zap (`DPANIC`, `PANIC`);
//! * [`SYSTEM_ERRORS`] and [`CALLER_ERRORS`]: glibc's `strerror` texts, split by errno
//!   meaning — the request was wrong (EPERM, ENOENT, ESRCH, E2BIG, ENOEXEC, EBADF, ECHILD,
//!   EACCES, ENOTBLK, EEXIST, ENOTDIR, EISDIR, EINVAL, ENOTTY, ENAMETOOLONG, ENOTEMPTY,
//!   ELOOP) or the system, disk or network failed (EIO, ENOSPC, ENOMEM, EROFS, ESTALE,
//!   EREMOTEIO, ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ENOLINK,
//!   EPIPE);
//! * [`WORDS`]: the RFC 5424 keywords as words, the headlines of the Linux kernel's crash
//!   reports (`panic`, `Oops`, `BUG`, `segfault`, soft/hard `lockup`, the OOM killer's `Out
//!   of memory`), and the generic English failure words those sources use (`fail`,
//!   `error`, `exception`, `abort`, `denied`, `refused`, `timeout`, …).

use serde::{Deserialize, Serialize};

/// Severity classes, worst last.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// An explicit INFO/DEBUG-like level.
    Info,
    /// Nothing said about severity.
    #[default]
    Notice,
    Warning,
    Error,
    Fatal,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }
}

/// Tokens at the start of a line that may hold a lower-case level field.
pub const HEADER_TOKENS: usize = 12;

/// Explicit level fields (matched exactly in capitals anywhere, in any case among the first
/// [`HEADER_TOKENS`] tokens) and their class.
pub const LEVELS: &[(&str, Class)] = &[
    ("EMERG", Class::Fatal),
    ("EMERGENCY", Class::Fatal),
    ("PANIC", Class::Fatal),
    ("DPANIC", Class::Fatal),
    ("ALERT", Class::Fatal),
    ("CRIT", Class::Fatal),
    ("CRITICAL", Class::Fatal),
    ("FATAL", Class::Fatal),
    ("SEVERE", Class::Fatal),
    ("ERR", Class::Error),
    ("ERROR", Class::Error),
    ("WARN", Class::Warning),
    ("WARNING", Class::Warning),
    ("NOTICE", Class::Notice),
    ("INFO", Class::Info),
    ("CONFIG", Class::Info),
    ("DEBUG", Class::Info),
    ("FINE", Class::Info),
    ("FINER", Class::Info),
    ("FINEST", Class::Info),
    ("TRACE", Class::Info),
];

/// Trouble words in free text (matched case-insensitively, whole tokens).
pub const WORDS: &[(&str, Class)] = &[
    ("fatal", Class::Fatal),
    ("panic", Class::Fatal),
    ("emerg", Class::Fatal),
    ("emergency", Class::Fatal),
    ("crit", Class::Fatal),
    ("critical", Class::Fatal),
    ("oops", Class::Fatal),
    ("bug", Class::Fatal),
    ("segfault", Class::Fatal),
    ("lockup", Class::Fatal),
    ("corrupt", Class::Fatal),
    ("corrupted", Class::Fatal),
    ("corruption", Class::Fatal),
    ("unrecoverable", Class::Fatal),
    ("crash", Class::Fatal),
    ("crashed", Class::Fatal),
    ("error", Class::Error),
    ("errors", Class::Error),
    ("err", Class::Error),
    ("fail", Class::Error),
    ("fails", Class::Error),
    ("failed", Class::Error),
    ("failure", Class::Error),
    ("failures", Class::Error),
    ("exception", Class::Error),
    ("abort", Class::Error),
    ("aborted", Class::Error),
    ("denied", Class::Error),
    ("refused", Class::Error),
    ("rejected", Class::Error),
    ("timeout", Class::Error),
    ("unreachable", Class::Error),
    ("killed", Class::Error),
    ("violation", Class::Error),
    ("unauthorized", Class::Error),
    ("illegal", Class::Error),
    ("warn", Class::Warning),
    ("warning", Class::Warning),
    ("unable", Class::Warning),
    ("cannot", Class::Warning),
    ("invalid", Class::Warning),
];

/// strerror texts of failures of the system, the disk or the network.
pub const SYSTEM_ERRORS: &[(&[&str], Class)] = &[
    (&["input/output", "error"], Class::Fatal),
    (&["no", "space", "left", "on", "device"], Class::Fatal),
    (&["cannot", "allocate", "memory"], Class::Fatal),
    (&["out", "of", "memory"], Class::Fatal),
    (&["read-only", "file", "system"], Class::Error),
    (&["stale", "file", "handle"], Class::Error),
    (&["remote", "i/o", "error"], Class::Error),
    (&["connection", "reset", "by", "peer"], Class::Error),
    (&["connection", "timed", "out"], Class::Error),
    (&["connection", "refused"], Class::Error),
    (&["no", "route", "to", "host"], Class::Error),
    (&["network", "is", "unreachable"], Class::Error),
    (&["link", "has", "been", "severed"], Class::Error),
    (&["broken", "pipe"], Class::Error),
];

/// strerror texts of errors the caller made.
pub const CALLER_ERRORS: &[&[&str]] = &[
    &["operation", "not", "permitted"],
    &["no", "such", "file", "or", "directory"],
    &["no", "such", "process"],
    &["argument", "list", "too", "long"],
    &["exec", "format", "error"],
    &["bad", "file", "descriptor"],
    &["no", "child", "processes"],
    &["permission", "denied"],
    &["block", "device", "required"],
    &["file", "exists"],
    &["not", "a", "directory"],
    &["is", "a", "directory"],
    &["invalid", "argument"],
    &["inappropriate", "ioctl", "for", "device"],
    &["file", "name", "too", "long"],
    &["directory", "not", "empty"],
    &["too", "many", "levels", "of", "symbolic", "links"],
];

/// What a message says about its own severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Severity {
    /// The first explicit level field, if any.
    pub level: Option<Class>,
    /// The worst trouble word or system error text (Notice when none).
    pub text: Class,
    /// Whether the message quotes a caller's error.
    pub caller_error: bool,
}

impl Severity {
    /// Reads the severity of a token list.
    pub fn of<S: AsRef<str>>(tokens: &[S]) -> Self {
        // A level field: in capitals anywhere, or in any case within the line's header
        // (Apache and nginx write `[error]`, sshd `error:`).
        let level_at = tokens.iter().enumerate().find_map(|(i, t)| {
            let t = t.as_ref();
            LEVELS
                .iter()
                .find(|(l, _)| *l == t || (i < HEADER_TOKENS && l.eq_ignore_ascii_case(t)))
                .map(|&(_, c)| (i, c))
        });
        let level = level_at.map(|(_, c)| c);
        let mut text = Class::Notice;
        for (i, t) in tokens.iter().enumerate() {
            let t = t.as_ref();
            // The level field is not also a word of the text (`FATAL` is not `fatal`), nor
            // are other tokens in capitals that name a level.
            if level_at.is_some_and(|(at, _)| at == i) || LEVELS.iter().any(|(l, _)| *l == t) {
                continue;
            }
            if let Some(&(_, c)) = WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(t)) {
                text = text.max(c);
            }
        }
        for (phrase, c) in SYSTEM_ERRORS {
            if *c > text && contains_phrase(tokens, phrase) {
                text = *c;
            }
        }
        let caller_error = CALLER_ERRORS.iter().any(|p| contains_phrase(tokens, p));
        Self {
            level,
            text,
            caller_error,
        }
    }

    /// The worse of level and text, for display.
    pub fn class(&self) -> Class {
        match self.level {
            Some(Class::Info) => Class::Info,
            Some(l) => l.max(self.text),
            None => self.text,
        }
    }
}

fn contains_phrase<S: AsRef<str>>(tokens: &[S], phrase: &[&str]) -> bool {
    tokens.windows(phrase.len()).any(|w| {
        w.iter()
            .zip(phrase)
            .all(|(t, p)| t.as_ref().eq_ignore_ascii_case(p))
    })
}

/// Likelihood ratio per class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassRatios {
    pub fatal: f64,
    pub error: f64,
    pub warning: f64,
    pub notice: f64,
    pub info: f64,
}

impl ClassRatios {
    pub fn of(&self, c: Class) -> f64 {
        match c {
            Class::Fatal => self.fatal,
            Class::Error => self.error,
            Class::Warning => self.warning,
            Class::Notice => self.notice,
            Class::Info => self.info,
        }
    }
}

/// The prior's ratios (set by the preset; every one can be overridden).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PriorParams {
    pub level: ClassRatios,
    pub text: ClassRatios,
    /// Multiplier for messages quoting a caller's error (1 = off).
    pub caller_error: f64,
}

impl PriorParams {
    /// Applies overrides such as `level.fatal=10,text.error=3,caller=0.2` (classes: fatal,
    /// error, warning, notice, info).
    pub fn apply_overrides(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}': expected KEY=VALUE, e.g. level.fatal=10"))?;
            let v: f64 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("'{item}': the ratio must be a number > 0"))?;
            let key = key.trim().to_ascii_lowercase();
            if key == "caller" || key == "caller_error" {
                self.caller_error = v;
                continue;
            }
            let (group, class) = key
                .split_once('.')
                .ok_or_else(|| format!("'{item}': expected level.CLASS, text.CLASS or caller"))?;
            let ratios = match group {
                "level" => &mut self.level,
                "text" => &mut self.text,
                g => {
                    return Err(format!(
                        "'{item}': unknown group '{g}' (level, text, caller)"
                    ))
                }
            };
            let slot = match class {
                "fatal" => &mut ratios.fatal,
                "error" => &mut ratios.error,
                "warning" => &mut ratios.warning,
                "notice" => &mut ratios.notice,
                "info" => &mut ratios.info,
                c => {
                    return Err(format!(
                        "'{item}': unknown class '{c}' (fatal, error, warning, notice, info)"
                    ))
                }
            };
            *slot = v;
        }
        Ok(())
    }

    /// The likelihood ratio λ of a message with this severity: the ratio of the worse of
    /// level and text (they are written together, so they are not independent evidence), an
    /// explicit INFO-like level deciding on its own, times `caller_error` for a caller's error.
    pub fn ratio(&self, s: &Severity) -> f64 {
        let mut r = match s.level {
            Some(Class::Info) => self.level.info,
            Some(l) => self.level.of(l).max(self.text.of(s.text)),
            None => self.text.of(s.text),
        };
        if s.caller_error && s.class() >= Class::Error {
            r *= self.caller_error;
        }
        if r.is_finite() && r > 0.0 {
            r
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sev(s: &str) -> Severity {
        Severity::of(&crate::profile::Tokenizer::Masked.tokens(s))
    }

    #[test]
    fn level_and_text() {
        assert_eq!(sev("kernel panic now").class(), Class::Fatal);
        assert_eq!(
            sev("a b c d e f g h i j k l m n: kernel panic now").text,
            Class::Fatal
        );
        assert_eq!(sev("connection refused").text, Class::Error);
        assert_eq!(sev("session opened").class(), Class::Notice);
        assert_eq!(
            sev("RAS KERNEL INFO parity error corrected").class(),
            Class::Info
        );
        let s = sev("RAS APP FATAL ciod: failed");
        assert_eq!((s.level, s.text), (Some(Class::Fatal), Class::Error));
        assert_eq!(sev("Out of memory: Kill process").text, Class::Fatal);
        assert_eq!(sev("read: Input/output error").text, Class::Fatal);
        assert!(sev("chdir failed No such file or directory").caller_error);
        assert!(!sev("chdir failed Input/output error").caller_error);
        assert_eq!(sev("").class(), Class::Notice);
    }

    #[test]
    fn worse_of_level_and_text_info_decides_caller_damps() {
        let p = PriorParams {
            level: ClassRatios {
                fatal: 4.0,
                error: 2.0,
                warning: 1.5,
                notice: 1.0,
                info: 0.5,
            },
            text: ClassRatios {
                fatal: 20.0,
                error: 5.0,
                warning: 1.5,
                notice: 1.0,
                info: 1.0,
            },
            caller_error: 0.2,
        };
        assert_eq!(p.ratio(&sev("FATAL data TLB error interrupt")), 5.0);
        assert_eq!(p.ratio(&sev("FATAL data storage interrupt")), 4.0);
        assert_eq!(p.ratio(&sev("kernel: Oops 0000")), 20.0);
        assert_eq!(p.ratio(&sev("INFO parity error corrected")), 0.5);
        assert_eq!(p.ratio(&sev("session opened for user")), 1.0);
        assert!(
            (p.ratio(&sev("FATAL chdir failed No such file or directory")) - 1.0).abs() < 1e-12
        );
        // A lower-case level in the header counts; deep in the text it is a word.
        assert_eq!(
            sev("[Sun Dec 04] [error] mod_jk child init").level,
            Some(Class::Error)
        );
        assert_eq!(sev("a b c d e f g h i j k l m warning").level, None);
    }
}
