//! `cargo run -p tidy [-- --manifest-path PATH]`: runs every repository check
//! and prints each violation as `file:line: [check] message`.
//!
//! Exit status: 0 when nothing is violated, 1 when something is,
//! 2 when the checks could not run (no cargo, no git, bad manifest path).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut manifest: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--manifest-path" => match args.next() {
                Some(p) => manifest = Some(p.into()),
                None => return usage("--manifest-path needs a value"),
            },
            "-h" | "--help" => {
                println!("usage: tidy [--manifest-path WORKSPACE/Cargo.toml]");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument `{other}`")),
        }
    }

    let report = match tidy::run_at(manifest.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tidy: could not run the checks: {e}");
            return ExitCode::from(2);
        }
    };

    for v in &report.enforced {
        println!("{v}");
    }
    if report.enforced.is_empty() {
        println!("tidy: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("tidy: {} violation(s)", report.enforced.len());
        ExitCode::from(1)
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("tidy: {problem}\nusage: tidy [--manifest-path WORKSPACE/Cargo.toml]");
    ExitCode::from(2)
}
