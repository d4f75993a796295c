// sqlx::migrate! embeds the migration files at compile time; without this a new file would not
// rebuild the crate and the binary would run an outdated schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-postgres");
}
