//! One problem found in the configuration: the key and what is wrong with it.

/// One problem found in the configuration; `key` names where, `message` what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}
