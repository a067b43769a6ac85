//! Tokenizers: how a message becomes the list of tokens every model sees.
//!
//! The default [`Tokenizer::Masked`] keeps the words that carry meaning and folds the volatile
//! parts of a log line (numbers, hex ids, IP addresses, paths, UUIDs, timestamps, long blobs)
//! into typed placeholders such as `<num>` or `<ip>` (case is kept), so that `session opened for user root`
//! on two days is the same pattern. [`Tokenizer::Letters`] is the original LAD's tokenizer
//! (runs of ASCII letters), kept so results can be compared with it.
//!
//! Both are total functions: any `&str` (empty, no letters, megabytes long) gives a token
//! list, possibly empty, and never panics. Work is bounded by [`MAX_TOKENS`].

use serde::{Deserialize, Serialize};

/// At most this many tokens are taken from one message; the rest is ignored. Bounds the cost
/// of multi-megabyte lines while keeping every realistic log message whole.
pub const MAX_TOKENS: usize = 256;

/// A word longer than this is a blob (base64, a certificate, a minified payload): `<long>`.
const MAX_WORD_CHARS: usize = 64;

/// Which tokenizer a model uses. Saved with the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Meaningful words kept, volatile parts masked into typed placeholders.
    #[default]
    Masked,
    /// The original LAD tokenizer: runs of ASCII letters, case kept, everything else dropped.
    Letters,
}

impl std::str::FromStr for Tokenizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "masked" => Ok(Self::Masked),
            "letters" | "original" => Ok(Self::Letters),
            other => Err(format!(
                "unknown tokenizer '{other}': expected 'masked' or 'letters'"
            )),
        }
    }
}

impl Tokenizer {
    /// Splits `message` into tokens.
    pub fn tokens(self, message: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.tokens_into(message, &mut out);
        out
    }

    /// Like [`Tokenizer::tokens`], reusing `out` and the strings already in it (a scoring
    /// loop then allocates nothing per token once warmed up).
    pub fn tokens_into(self, message: &str, out: &mut Vec<String>) {
        let mut w = Writer { out, n: 0 };
        match self {
            Self::Masked => masked(message, &mut w),
            Self::Letters => letters(message, &mut w),
        }
        let n = w.n;
        out.truncate(n);
    }
}

/// Writes tokens into a vector, overwriting the strings of a previous call in place.
struct Writer<'a> {
    out: &'a mut Vec<String>,
    n: usize,
}

impl Writer<'_> {
    /// The next token's buffer, cleared.
    fn next(&mut self) -> &mut String {
        if self.n == self.out.len() {
            self.out.push(String::new());
        }
        let s = &mut self.out[self.n];
        s.clear();
        self.n += 1;
        s
    }
    fn push(&mut self, token: &str) {
        self.next().push_str(token);
    }
    fn full(&self) -> bool {
        self.n >= MAX_TOKENS
    }
}

fn letters(message: &str, out: &mut Writer<'_>) {
    for run in message.split(|c: char| !c.is_ascii_alphabetic()) {
        if !run.is_empty() {
            out.push(run);
            if out.full() {
                return;
            }
        }
    }
}

/// Characters that belong inside a word. Everything else (spaces, quotes, brackets, `=`, `,`,
/// `;`, …) separates words.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '.' | '/' | ':' | '-' | '@' | '#' | '+' | '~' | '%' | '$' | '*'
        )
}

fn masked(message: &str, out: &mut Writer<'_>) {
    for chunk in message.split_whitespace() {
        // A URL keeps its query string (`?a=1&b=2`) instead of falling apart into words.
        if chunk.as_bytes().contains(&b':') && chunk.contains("://") {
            out.push("<url>");
        } else {
            for word in chunk.split(|c: char| !is_word_char(c)) {
                let word = word
                    .trim_matches(|c: char| matches!(c, '.' | ':' | '-' | '+' | '*' | '#' | '~'));
                if !word.is_empty() {
                    mask_word_into(word, out.next());
                }
                if out.full() {
                    return;
                }
            }
        }
        if out.full() {
            return;
        }
    }
}

/// Maps one word to itself or to a typed placeholder.
pub fn mask_word(word: &str) -> String {
    let mut s = String::new();
    mask_word_into(word, &mut s);
    s
}

/// [`mask_word`] into an existing (empty) string.
fn mask_word_into(word: &str, out: &mut String) {
    let placeholder = classify(word);
    match placeholder {
        Some(p) => out.push_str(p),
        None if word.bytes().any(|b| b.is_ascii_digit()) => {
            // An identifier with a volatile number inside (dn228, R02-M1-N0,
            // blk_-1608999687919862906): keep its shape, fold the digit runs.
            fold_digits_into(word, out)
        }
        // Case is kept: templates are case-stable, and `ERROR` as a level field means more
        // than `error` in free text (see `ensemble::prior`).
        None => out.push_str(word),
    }
}

/// The placeholder a word masks to, if any.
fn classify(word: &str) -> Option<&'static str> {
    // Bytes ≥ chars, so the char count is needed only for long words.
    if word.len() > MAX_WORD_CHARS && word.chars().count() > MAX_WORD_CHARS {
        return Some("<long>");
    }
    let bytes = word.as_bytes();
    let has_digit = bytes.iter().any(|b| b.is_ascii_digit());
    let has_colon = bytes.contains(&b':');
    if has_colon && word.contains("://") {
        return Some("<url>");
    }
    if has_digit && is_ipv4(word) {
        return Some("<ip>");
    }
    if word.len() == 36 && is_uuid(word) {
        return Some("<uuid>");
    }
    if word.starts_with('/') && word.len() > 1 {
        return Some("<path>");
    }
    if has_digit {
        let has_alpha = if word.is_ascii() {
            bytes.iter().any(|b| b.is_ascii_alphabetic())
        } else {
            word.chars().any(|c| c.is_alphabetic())
        };
        if !has_alpha {
            // 42, 3.14, 2005-06-03-15.42.50.675872, 12:01:01, 1/2
            return Some("<num>");
        }
        if is_hex(word) {
            return Some("<hex>");
        }
        if bytes.contains(&b'/') {
            return Some("<path>");
        }
    }
    if has_colon && is_ipv6(word) {
        return Some("<ip>");
    }
    None
}

fn fold_digits_into(word: &str, s: &mut String) {
    let mut in_digits = false;
    for c in word.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                s.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            s.push(c);
        }
    }
}

fn is_hex(word: &str) -> bool {
    let w = word
        .strip_prefix("0x")
        .or_else(|| word.strip_prefix("0X"))
        .unwrap_or(word);
    let explicit = w.len() != word.len();
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_hexdigit()) && (explicit || w.len() >= 4)
}

fn is_ipv4(word: &str) -> bool {
    // Optional :port suffix.
    let host = match word.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => word,
    };
    let mut parts = 0;
    for p in host.split('.') {
        parts += 1;
        if parts > 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parts == 4
}

fn is_ipv6(word: &str) -> bool {
    word.matches(':').count() >= 2
        && word.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
        && word.bytes().any(|b| b.is_ascii_hexdigit())
}

fn is_uuid(word: &str) -> bool {
    word.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && word.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        Tokenizer::Masked.tokens(s)
    }

    #[test]
    fn masks_volatile_parts_into_typed_placeholders() {
        assert_eq!(
            t("CRON[25368]: pam_unix(cron:session): session opened for user root by (uid=0)"),
            [
                "CRON",
                "<num>",
                "pam_unix",
                "cron:session",
                "session",
                "opened",
                "for",
                "user",
                "root",
                "by",
                "uid",
                "<num>"
            ]
        );
        assert_eq!(
            t("from 10.0.0.12:5353 at 2005-06-03-15.42.50.675872"),
            ["from", "<ip>", "at", "<num>"]
        );
        assert_eq!(
            t("iar 00106b1c dear 0x0ce06c1c"),
            ["iar", "<hex>", "dear", "<hex>"]
        );
        assert_eq!(
            t("open() \"/var/www/favicon.ico\" failed"),
            ["open", "<path>", "failed"]
        );
        assert_eq!(
            t("id 123e4567-e89b-12d3-a456-426614174000 ok"),
            ["id", "<uuid>", "ok"]
        );
        assert_eq!(
            t("node R02-M1-N0-C:J12-U11 dn228"),
            ["node", "R#-M#-N#-C:J#-U#", "dn#"]
        );
        assert_eq!(t("GET http://x.y/z?a=1"), ["GET", "<url>"]);
        assert_eq!(
            t("addr fe80::1ff:fe23:4567:890a up"),
            ["addr", "<ip>", "up"]
        );
        assert_eq!(t("FATAL Error"), ["FATAL", "Error"]);
    }

    #[test]
    fn same_pattern_on_different_days_gives_same_tokens() {
        assert_eq!(
            t("Dec  1 17:15:01 cumulus CRON[25368]: session opened for user root"),
            t("Dec  2 09:00:59 cumulus CRON[1]: session opened for user root")
        );
    }

    #[test]
    fn hostile_input_never_panics_and_is_bounded() {
        assert!(t("").is_empty());
        assert!(t("   \t\r\n").is_empty());
        assert_eq!(t("12345 67.8 -- ;;;"), ["<num>", "<num>"]);
        assert!(Tokenizer::Letters.tokens("12345 ;;; 67").is_empty());
        let lossy = String::from_utf8_lossy(&[0xff, 0xfe, b'a', b'b', 0xc3]).into_owned();
        assert_eq!(t(&lossy), ["ab"]);
        assert_eq!(t("日本語 ログ"), ["日本語", "ログ"]);
        let huge = "word ".repeat(1_000_000);
        assert_eq!(t(&huge).len(), MAX_TOKENS);
        let blob = "A".repeat(5_000_000);
        assert_eq!(t(&blob), ["<long>"]);
        assert_eq!(t("\u{0}\u{1}\u{7f}"), Vec::<String>::new());
    }

    #[test]
    fn letters_tokenizer_matches_the_original() {
        assert_eq!(
            Tokenizer::Letters.tokens("R02-M1-N0 pam_unix blk_-123 Hello"),
            ["R", "M", "N", "pam", "unix", "blk", "Hello"]
        );
    }
}
