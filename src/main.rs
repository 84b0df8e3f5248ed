#![forbid(unsafe_code)]
//! Thin binary: parse the CLI, init tracing, call the library, map errors to exit codes
//! (usage and configuration errors 2, runtime failures 1).

use certgate::config::cli::{Cli, Command, LogFormat};
use clap::Parser;
use std::process::ExitCode;

fn init_tracing(json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let noise = ClientNoise::default();
    if json {
        builder.json().finish().with(noise).init();
    } else {
        builder.finish().with(noise).init();
    }
}

/// Log lines that any client can cause at will without being refused: the TLS library's
/// own warnings (`Sending warning alert NoRenegotiation` for every TLS 1.2 renegotiation
/// attempt, alerts a client sends). At most one such line per minute is written; the rest
/// are dropped, so a client cannot flood the log. certgate's own per-request and
/// per-handshake lines are not limited: each belongs to a counted, bounded connection.
struct ClientNoise {
    start: std::time::Instant,
    /// Seconds since `start` from which the next line may pass.
    next_allowed: std::sync::atomic::AtomicU64,
}

impl Default for ClientNoise {
    fn default() -> Self {
        ClientNoise {
            start: std::time::Instant::now(),
            next_allowed: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientNoise {
    // Called once per event (unlike `enabled`, which the `log` bridge calls twice).
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        // rustls logs through the `log` crate: its records arrive with target "log" and
        // the real target in the `log.target` field.
        if event.metadata().target() != "log" || *event.metadata().level() > tracing::Level::WARN {
            return true;
        }
        let mut from_tls = FromTls(false);
        event.record(&mut from_tls);
        if !from_tls.0 {
            return true;
        }
        let now = self.start.elapsed().as_secs();
        let next = self.next_allowed.load(Relaxed);
        now >= next
            && self
                .next_allowed
                .compare_exchange(next, now + 60, Relaxed, Relaxed)
                .is_ok()
    }
}

/// Whether a bridged `log` record comes from rustls.
struct FromTls(bool);

impl tracing::field::Visit for FromTls {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "log.target" && value.starts_with("rustls") {
            self.0 = true;
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
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
                Err(e @ (certgate::RunError::Material(_) | certgate::RunError::VerifyKey(_))) => {
                    usage_error(anyhow::Error::from(e))
                }
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
            args.verify.fill_from_env();
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
