//! Strings from the cluster or from certificates are untrusted: they may carry terminal escape
//! sequences. Everything that reaches a terminal or a report goes through [`clean`].

use std::borrow::Cow;

/// Removes control characters (C0, DEL, C1) and Unicode bidi controls (embeddings, overrides,
/// isolates, marks) from `s`. Tabs, newlines and the Unicode line and paragraph separators
/// become a single space so one value stays on one line.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter_map(|c| match c {
                '\t' | '\n' | '\r' | '\u{2028}' | '\u{2029}' => Some(' '),
                c if is_unsafe(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// Owned variant of [`clean`].
pub fn clean_owned(s: &str) -> String {
    clean(s).into_owned()
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_bidi() {
        assert_eq!(clean("a\u{1b}[31mred\u{7}"), "a[31mred");
        assert_eq!(clean("x\u{202E}y"), "xy");
        assert_eq!(clean("line1\nline2"), "line1 line2");
        assert_eq!(clean("a\u{2028}b\u{61c}\u{2067}c\u{9b}2J"), "a bc2J");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }
}
