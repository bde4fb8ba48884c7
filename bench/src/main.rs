//! `cargo run --release -p bench -- [flags]`: see bench/README.md.

use std::process::ExitCode;

use bench::Args;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    let args = Args::parse();
    match bench::run(&args).await {
        Ok((results, files)) => {
            println!("{}", bench::console::table(&results));
            for file in &files {
                eprintln!("wrote {}", file.display());
            }
            if results.meta.incomplete.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
