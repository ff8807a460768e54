use clap::Parser;
use nflbet::cli::{self, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::install_crypto_provider();
    cli::init_tracing(cli.log_format);
    let result = match cli.command {
        Command::Crds(args) => cli::crds::run(&args),
        Command::Replay(args) => cli::replay::run(&args),
        Command::Operator(args) => {
            one_malloc_arena();
            runtime().block_on(nflbet::controller::run(args))
        }
        Command::Scrape(args) => runtime().block_on(nflbet::workloads::scraper::run(args)),
        // The replay gate replays the workload's flags instead of serving them.
        Command::Model(args) if let Some(weeks) = args.replay_gate_weeks => {
            runtime().block_on(nflbet::replay::gate::run(args, weeks))
        }
        Command::Model(args) => runtime().block_on(nflbet::workloads::model::run(args)),
        Command::Completions(args) => cli::completions::run(&args),
        // These choose their own exit status (0 ok, 1 findings or unhealthy, 2 unusable).
        Command::ValidateConfig(args) => return cli::validate::run(&args),
        Command::Status(args) => return runtime().block_on(cli::status::run(args)),
        Command::Telemetry(args) => return runtime().block_on(cli::telemetry::run(args)),
        Command::Store(args) => return runtime().block_on(cli::store::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the tokio runtime starts")
}

/// The operator allocates from one glibc malloc arena, not one per thread. glibc gives each
/// thread that allocates an arena of its own (up to eight per core); the operator's tokio workers
/// take turns on the same objects (a watch event decoded on one, cached, dropped on another), and
/// at 10,000 books each of the two workers' arenas had grown to 19 MB, free space in one unusable
/// by the other. The lock they now share is taken by a few threads. Set before the runtime starts
/// any thread.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
