//! The rules for text people put in names, owners and metadata: what characters, how
//! long. Checked by management on every write, by the configuration, the importers and
//! the gate (which refuses a record whose owner breaks them), so they live here, below
//! all of them.

use std::collections::BTreeMap;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_OWNER_LEN: usize = 256;
pub const MAX_METADATA_ENTRIES: usize = 16;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 512;

/// A field that breaks its rule, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Whether a character may appear in names, owners and metadata values: anything but
/// control characters (Cc), line and paragraph separators (Zl, Zp), and the invisible
/// or direction-changing format characters (Cf and the fillers that render as nothing),
/// which let a name look like another one (`U+202E` turns text around, a name of only
/// `U+200B` looks empty). Private-use and unassigned code points are allowed.
pub fn allowed_char(c: char) -> bool {
    !(c.is_control()
        || matches!(c,
            '\u{00AD}'                     // soft hyphen
            | '\u{034F}'                   // combining grapheme joiner
            | '\u{061C}'                   // Arabic letter mark
            | '\u{115F}' | '\u{1160}'      // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'      // Khmer invisible vowels
            | '\u{180B}'..='\u{180F}'      // Mongolian variation selectors, vowel separator
            | '\u{200B}'..='\u{200F}'      // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'      // line/paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{206F}'      // word joiner, invisible operators, bidi isolates
            | '\u{3164}' | '\u{FFA0}'      // Hangul fillers
            | '\u{FE00}'..='\u{FE0F}'      // variation selectors
            | '\u{FEFF}'                   // zero-width no-break space (BOM)
            | '\u{FFF0}'..='\u{FFFB}'      // interlinear annotations, specials
            | '\u{110BD}' | '\u{110CD}'    // Kaithi number signs
            | '\u{1BCA0}'..='\u{1BCA3}'    // shorthand format controls
            | '\u{1D173}'..='\u{1D17A}'    // musical format controls
            | '\u{E0000}'..='\u{E0FFF}'    // tags, variation selectors supplement
        ))
}

/// The first character of `s` that [`allowed_char`] refuses, as `U+XXXX`.
fn refused_char(s: &str) -> Option<String> {
    s.chars()
        .find(|c| !allowed_char(*c))
        .map(|c| format!("U+{:04X}", u32::from(c)))
}

fn check_text(
    field: &'static str,
    s: &str,
    max: usize,
    len: usize,
    unit: &str,
    trimmed: bool,
) -> Result<(), FieldError> {
    if let Some(c) = refused_char(s) {
        return Err(invalid(
            field,
            format!(
                "contains {c}: control, invisible and text-direction characters are not allowed"
            ),
        ));
    }
    if s.trim().is_empty() || len > max || (trimmed && s.trim() != s) {
        let spaces = if trimmed {
            " without surrounding spaces"
        } else {
            ""
        };
        return Err(invalid(field, format!("must be 1 to {max} {unit}{spaces}")));
    }
    Ok(())
}

pub fn validate_owner(s: &str) -> Result<(), FieldError> {
    check_text("owner", s, MAX_OWNER_LEN, s.len(), "bytes", true)
}

pub fn validate_name(s: &str) -> Result<(), FieldError> {
    check_text(
        "name",
        s,
        MAX_NAME_LEN,
        s.chars().count(),
        "characters",
        false,
    )
}

pub fn validate_metadata(m: &BTreeMap<String, String>) -> Result<(), FieldError> {
    if m.len() > MAX_METADATA_ENTRIES {
        return Err(invalid(
            "metadata",
            format!("at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (k, v) in m {
        let key_ok = (1..=MAX_METADATA_KEY_LEN).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !key_ok {
            let shown: String = k.chars().filter(|c| allowed_char(*c)).take(80).collect();
            return Err(invalid(
                "metadata",
                format!(
                    "key `{shown}` must be 1 to {MAX_METADATA_KEY_LEN} of letters, digits, `_`, `-`, `.`"
                ),
            ));
        }
        if let Some(c) = refused_char(v) {
            return Err(invalid(
                "metadata",
                format!(
                    "value of `{k}` contains {c}: control, invisible and text-direction characters are not allowed"
                ),
            ));
        }
        if v.len() > MAX_METADATA_VALUE_LEN {
            return Err(invalid(
                "metadata",
                format!("value of `{k}` must be at most {MAX_METADATA_VALUE_LEN} bytes"),
            ));
        }
    }
    Ok(())
}
