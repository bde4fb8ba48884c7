//! `cargo run --release -p loader -- --count N [--truncate] …`: see
//! loader/README.md.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    loader::cli::main().await
}
