// `sqlx::migrate!` embeds migrations/ at compile time, and `db::components`
// embeds every sql/*.sql file: rebuild when either folder changes, and list
// the sql/ files (in name order, the order they are applied) for the crate.
use std::fmt::Write;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=sql");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("sql/ folder")
        .map(|e| e.expect("sql/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path.file_name().unwrap().to_str().expect("UTF-8 file name");
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display()).unwrap();
    }
    out.push_str("]\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("sql_components.rs");
    std::fs::write(dest, out).unwrap();
}
