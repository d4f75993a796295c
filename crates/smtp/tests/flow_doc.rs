//! docs/flow.md is the map of the session: every reply the session and its parser can send
//! must appear there with its code, enhanced code and text, so a new refusal cannot be added
//! without saying at which stage it happens.

use std::path::{Path, PathBuf};

use authrelay_core::ReplyId;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `ReplyId::Name` in the code (not the tests) of the session crate, the parser and the
/// policy table the session answers with.
fn replies_the_session_can_send() -> Vec<ReplyId> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = vec![];
    for krate in ["smtp", "proto", "policy"] {
        rust_files(&crates.join(krate).join("src"), &mut files);
    }
    let mut found = vec![];
    for file in files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for piece in code.split("ReplyId::").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            if let Some(id) = ReplyId::from_name(&name) {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
    }
    found
}

#[test]
fn every_reply_of_the_session_is_on_the_map() {
    let flow = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/flow.md")).unwrap();
    let replies = replies_the_session_can_send();
    assert!(replies.len() >= 40, "the scan found the session's replies ({})", replies.len());
    let mut missing = vec![];
    for id in replies {
        let (code, enhanced, text) = id.row();
        // The whole text up to its first placeholder, with its codes in front.
        let text = text.split('{').next().unwrap().trim_end();
        let shown = [code.to_string(), enhanced.to_string(), text.to_string()]
            .iter()
            .filter(|part| !part.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let shown = flow.contains(&format!("`{shown}")) || (text.is_empty() && flow.contains(&format!("`{code} ")));
        if !shown {
            missing.push(format!("{id:?}: `{code} {enhanced} {text}`"));
        }
    }
    assert!(missing.is_empty(), "docs/flow.md does not show:\n{}", missing.join("\n"));
}
