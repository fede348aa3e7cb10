//! The `ltv-pipes` binary: a shim over [`ltv_pipes::cli`].

// Why jemalloc rather than the system allocator: see Cargo.toml.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    if let Err(e) = ltv_pipes::cli::run().await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
