//! Building the engine's texts by concatenation.
//!
//! An evaluation of a large cluster makes hundreds of thousands of short texts (edge keys,
//! subjects, reasons, tree labels). `format!` with plain `{}` arguments passes each through
//! the formatting machinery and grows its buffer as it goes, which made formatting about 40%
//! of an evaluation's instructions; [`concat`] (through the `cat!` macro) sizes the text once
//! and copies the parts.

/// `parts`, one after the other, in a string of exactly their length.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        text.push_str(p);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::concat;

    #[test]
    fn concatenates_texts_and_numbers() {
        let route: std::sync::Arc<str> = "HTTPRoute/a/b".into();
        let text = cat!(
            route,
            " rule ",
            itoa::Buffer::new().format(12usize),
            "/",
            String::from("x")
        );
        assert_eq!(text, "HTTPRoute/a/b rule 12/x");
        assert_eq!(text.capacity(), text.len());
        assert_eq!(concat(&[]), "");
    }
}
