//! No crate of the workspace has an import cycle between its modules (files): each module uses
//! only the ones below it, so a crate reads from the bottom up (issue 13). The check itself is
//! `scripts/module-cycles`, which says how edges are counted.

use std::process::Command;

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg("scripts/module-cycles")
        .current_dir(&root)
        .output()
        .expect("python3 must be installed to run this test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "import cycles:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().count() >= 10, "the script looked at every crate:\n{text}");
}
