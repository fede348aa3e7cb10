//! The `ltv-pipes` binary: a shim over [`ltv_pipes::cli`].

#[tokio::main]
async fn main() {
    if let Err(e) = ltv_pipes::cli::run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
