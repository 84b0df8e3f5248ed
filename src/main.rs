#![forbid(unsafe_code)]
//! Thin binary: parse the CLI, init tracing, call the library, map errors to exit codes
//! (usage and configuration errors 2, runtime failures 1).

use certgate::config::cli::{Cli, Command, LogFormat};
use clap::Parser;
use std::process::ExitCode;

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A multi-threaded runtime with `threads` workers, or a single-threaded one for 1.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, ExitCode> {
    let built = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
    };
    built.map_err(|e| {
        eprintln!("certgate: error: cannot start the runtime: {e}");
        ExitCode::from(1)
    })
}

fn usage_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("certgate: error: {e}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(mut args) => {
            args.fill_from_env();
            init_tracing(args.log_format == LogFormat::Json);
            let settings = match certgate::config::settings::Settings::from_run(&args) {
                Ok(s) => s,
                Err(e) => return usage_error(e),
            };
            let threads = match args.worker_threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let rt = match runtime(threads) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(async { certgate::run(settings, certgate::shutdown_signal()).await })
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e @ certgate::RunError::Material(_)) => usage_error(anyhow::Error::from(e)),
                Err(e) => {
                    eprintln!("certgate: error: {:#}", anyhow::Error::from(e));
                    ExitCode::from(1)
                }
            }
        }
        Command::Inspect(args) => {
            match certgate::tools::inspect::run(&args, &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(e),
            }
        }
        Command::Check(mut args) => {
            args.policy.fill_from_env();
            match certgate::tools::check::run(&args, &mut std::io::stdout().lock()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => usage_error(e),
            }
        }
        Command::Echo(args) => {
            init_tracing(false);
            let addr: std::net::SocketAddr = match args.listen.parse() {
                Ok(a) => a,
                Err(_) => {
                    return usage_error(format!("--listen {:?}: expected IP:PORT", args.listen))
                }
            };
            let rt = match runtime(1) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            rt.block_on(async {
                let listener = match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => return usage_error(format!("--listen {addr}: cannot listen: {e}")),
                };
                if let Ok(a) = listener.local_addr() {
                    tracing::info!("echo listening addr={a}");
                }
                tokio::select! {
                    _ = certgate::tools::echo::serve_echo(listener, true) => {}
                    _ = certgate::shutdown_signal() => {}
                }
                ExitCode::SUCCESS
            })
        }
        Command::Demo(args) => {
            init_tracing(false);
            let rt = match runtime(2) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(certgate::tools::demo::run(&args)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("certgate demo: error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
