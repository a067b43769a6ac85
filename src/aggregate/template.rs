//! Message templates: what the messages of one cluster have in common.
//!
//! A template is a sequence of literal tokens and wildcards (`***`). It starts as the first
//! message's whitespace tokens and absorbs each further message with [`Template::absorb`]:
//! the longest common subsequence (LCS) of the template's literals and the message's tokens
//! stays, and every run of tokens in between — on either side, of any length — becomes a
//! single `***`. So messages of different lengths line up on the words they share, instead
//! of being compared position by position as the original aggregator did (which dropped
//! everything past the shortest message and turned a whole message into `***` after one
//! inserted word).
//!
//! Tokens are the *raw* message split on whitespace (not the masked tokens used for vectors),
//! so a template reads like the log lines it stands for:
//!
//! ```
//! use lad::aggregate::template::Template;
//! let mut t = Template::from_message("session opened for user root by (uid=0)");
//! t.absorb("session opened for user cumulus by (uid=0)");
//! t.absorb("session opened for remote user bob by (uid=0)");
//! assert_eq!(t.to_string(), "session opened for *** user *** by (uid=0)");
//! ```
//!
//! Cost: one alignment is O(n·m) after stripping the common prefix and suffix, with both
//! sides bounded by [`MAX_ALIGN_TOKENS`] (tokens past it join a trailing `***`), so no input
//! makes it quadratic in the message size.

use std::fmt;

/// Tokens of a message taken into account; the rest of a longer message is represented by a
/// trailing wildcard.
pub const MAX_ALIGN_TOKENS: usize = 256;

/// The wildcard as written in templates.
pub const WILDCARD: &str = "***";

/// One element of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A token every absorbed message has, in this order.
    Literal(String),
    /// One or more tokens that differ between messages (or are absent from some).
    Wildcard,
}

/// A template under construction. Never holds two wildcards in a row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

fn tokens(message: &str) -> (Vec<&str>, bool) {
    let mut out: Vec<&str> = message
        .split_whitespace()
        .take(MAX_ALIGN_TOKENS + 1)
        .collect();
    let truncated = out.len() > MAX_ALIGN_TOKENS;
    out.truncate(MAX_ALIGN_TOKENS);
    (out, truncated)
}

impl Template {
    /// The template of a single message: its tokens.
    pub fn from_message(message: &str) -> Self {
        let (toks, truncated) = tokens(message);
        let mut t = Template::default();
        for tok in toks {
            t.parts.push(Part::Literal(tok.to_string()));
        }
        if truncated {
            t.push_wild();
        }
        t
    }

    /// The parts, for inspection.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Number of literal tokens left.
    pub fn literals(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| matches!(p, Part::Literal(_)))
            .count()
    }

    fn push_wild(&mut self) {
        if self.parts.last() != Some(&Part::Wildcard) {
            self.parts.push(Part::Wildcard);
        }
    }

    /// Aligns `message` with the template and keeps only what both share (see the module
    /// docs).
    pub fn absorb(&mut self, message: &str) {
        let (toks, truncated) = tokens(message);
        let old = std::mem::take(&mut self.parts);
        let eq = |p: &Part, t: &str| matches!(p, Part::Literal(s) if s == t);

        // Common prefix and suffix need no DP.
        let mut pre = 0;
        while pre < old.len() && pre < toks.len() && eq(&old[pre], toks[pre]) {
            pre += 1;
        }
        let mut suf = 0;
        while suf < old.len() - pre
            && suf < toks.len() - pre
            && eq(&old[old.len() - 1 - suf], toks[toks.len() - 1 - suf])
        {
            suf += 1;
        }
        let a = &old[pre..old.len() - suf];
        let b = &toks[pre..toks.len() - suf];

        let mut out: Vec<Part> = Vec::with_capacity(old.len());
        out.extend_from_slice(&old[..pre]);
        let mut middle = Template { parts: out };
        if !a.is_empty() || !b.is_empty() {
            // lcs[i][j] = LCS length of a[i..] and b[j..]; row-major, (a.len()+1) × (b.len()+1).
            let w = b.len() + 1;
            let mut lcs = vec![0u16; (a.len() + 1) * w];
            for i in (0..a.len()).rev() {
                for j in (0..b.len()).rev() {
                    lcs[i * w + j] = if eq(&a[i], b[j]) {
                        lcs[(i + 1) * w + j + 1] + 1
                    } else {
                        lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                    };
                }
            }
            let (mut i, mut j) = (0, 0);
            let mut gap = false;
            while i < a.len() || j < b.len() {
                if i < a.len() && j < b.len() && eq(&a[i], b[j]) {
                    if gap {
                        middle.push_wild();
                        gap = false;
                    }
                    middle.parts.push(a[i].clone());
                    i += 1;
                    j += 1;
                } else if j >= b.len()
                    || (i < a.len() && lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
                {
                    i += 1; // template element not in the message (or a wildcard)
                    gap = true;
                } else {
                    j += 1; // message token not in the template
                    gap = true;
                }
            }
            if gap {
                middle.push_wild();
            }
        }
        for p in &old[old.len() - suf..] {
            match p {
                Part::Wildcard => middle.push_wild(),
                lit => middle.parts.push(lit.clone()),
            }
        }
        if truncated {
            middle.push_wild();
        }
        *self = middle;
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match p {
                Part::Literal(s) => f.write_str(s)?,
                Part::Wildcard => f.write_str(WILDCARD)?,
            }
        }
        Ok(())
    }
}

/// The template of a group of messages, absorbing them in the given order (identical
/// messages are absorbed once).
pub fn template_of<S: AsRef<str>>(messages: &[S]) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut it = messages
        .iter()
        .map(AsRef::as_ref)
        .filter(|m| seen.insert(*m));
    let Some(first) = it.next() else {
        return String::new();
    };
    let mut t = Template::from_message(first);
    for m in it {
        t.absorb(m);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpl(msgs: &[&str]) -> String {
        template_of(msgs)
    }

    #[test]
    fn seed_example_from_the_original_readme() {
        let msgs = [
            "<86>Dec  1 17:15:01 cumulus CRON[25368]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 17:00:01 cumulus CRON[25252]: pam_unix(cron:session): session opened for user user by (uid=0)",
            "<86>Dec  1 16:45:01 cumulus CRON[25136]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:30:01 cumulus CRON[25019]: pam_unix(cron:session): session opened for user root by (uid=0)",
            "<86>Dec  1 16:17:01 cumulus CRON[24915]: pam_unix(cron:session): session opened for user cumulus by (uid=0)",
        ];
        assert_eq!(
            tpl(&msgs),
            "<86>Dec 1 *** cumulus *** pam_unix(cron:session): session opened for user *** by (uid=0)"
        );
    }

    #[test]
    fn unequal_lengths_align_on_shared_words() {
        // An inserted word in the middle: position-wise comparison would lose everything after it.
        assert_eq!(
            tpl(&[
                "disk sda1 failed at sector 5",
                "disk sda1 has failed at sector 9"
            ]),
            "disk sda1 *** failed at sector ***"
        );
        // Shorter message: the tail becomes a wildcard instead of being dropped silently.
        assert_eq!(tpl(&["a b c d e", "a b c"]), "a b c ***");
        assert_eq!(tpl(&["a b c", "a b c d e"]), "a b c ***");
        // Leading difference of different lengths.
        assert_eq!(tpl(&["x y z end", "q end"]), "*** end");
        // Differences at both ends and in the middle, merged into single wildcards.
        assert_eq!(
            tpl(&["1 2 keep 3 4 also 5", "keep 7 also"]),
            "*** keep *** also ***"
        );
    }

    #[test]
    fn alignment_is_progressive_and_wildcards_merge() {
        let mut t = Template::from_message("user alice logged in from 10.0.0.1 port 22");
        t.absorb("user bob logged in from 10.0.0.2 port 22");
        assert_eq!(t.to_string(), "user *** logged in from *** port 22");
        // A message that lacks "port 22" entirely and has extra words elsewhere.
        t.absorb("user carol (admin) logged in from 10.0.0.3");
        assert_eq!(t.to_string(), "user *** logged in from ***");
        // Absorbing a message already matching the template changes nothing.
        let before = t.clone();
        t.absorb("user dave logged in from 10.0.0.4 via vpn");
        assert_eq!(t, before);
        assert!(t
            .parts()
            .windows(2)
            .all(|w| !(w[0] == Part::Wildcard && w[1] == Part::Wildcard)));
    }

    #[test]
    fn disjoint_and_empty_messages() {
        assert_eq!(tpl(&["a b", "c d"]), "***");
        assert_eq!(tpl(&["a b", ""]), "***");
        assert_eq!(tpl(&["", ""]), "");
        assert_eq!(tpl(&[]), "");
        assert_eq!(
            tpl(&["same  spacing\tnormalised"]),
            "same spacing normalised"
        );
    }

    #[test]
    fn huge_messages_are_bounded() {
        let long_a = "w ".repeat(100_000);
        let long_b = format!("{}x", "w ".repeat(50_000));
        let t = tpl(&[long_a.as_str(), long_b.as_str()]);
        let toks: Vec<&str> = t.split(' ').collect();
        assert_eq!(toks.len(), MAX_ALIGN_TOKENS + 1);
        assert_eq!(toks.last(), Some(&WILDCARD));
        let huge = "a".repeat(1 << 20);
        assert_eq!(tpl(&[huge.as_str(), huge.as_str()]), huge);
    }
}
