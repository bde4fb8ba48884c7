//! `cargo run --release -p bench -- [flags]`: see bench/README.md.

use std::path::PathBuf;
use std::process::ExitCode;

use bench::cli::Command;
use bench::Args;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    let args = Args::parse();
    if let Some(Command::CompareWorkloads { a, b }) = &args.command {
        return match bench::workload::compare::run(a, b) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        };
    }
    let mut complete = true;
    if args.scenarios_mode() {
        match bench::run(&args).await {
            Ok((results, files)) => {
                println!("{}", bench::console::table(&results));
                wrote(&files);
                complete &= results.meta.incomplete.is_none();
            }
            Err(error) => return fail(&error),
        }
    }
    if args.workload_mode() {
        match bench::run_workload(&args).await {
            Ok((results, files)) => {
                println!("{}", bench::workload::report::console(&results));
                wrote(&files);
                complete &= results.meta.incomplete.is_none();
            }
            Err(error) => return fail(&error),
        }
    }
    if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn wrote(files: &[PathBuf]) {
    for file in files {
        eprintln!("wrote {}", file.display());
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("bench: {error:#}");
    ExitCode::FAILURE
}
