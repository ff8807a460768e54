//! `nflbet store backup|restore|verify`: copies of the object stores, and proof they decode.
//! The logic is in `crate::store_backup`; this is flags, progress and exit status.

use crate::feed::snapshot::S3Options;
use crate::store_backup::{self, Direction, StoreAt, verify};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy a store's objects to a backup: only those missing or different there, each verified by
    /// SHA-256 after writing; resumable after an interruption
    Backup(CopyArgs),
    /// Copy a backup back into a store, checking every object against the backup's checksums
    Restore(CopyArgs),
    /// Check that every object of a store decodes as what its key says (and matches the backup
    /// manifest, when the store has one); exits 1 when one does not
    Verify(VerifyArgs),
}

/// Connection settings shared by the commands.
#[derive(clap::Args, Debug)]
pub struct Connection {
    /// S3 region (default: `AWS_REGION`, else us-east-1). Credentials come from the `AWS_*`
    /// environment.
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// How long one request (a read, a write, a listing page) may take before the run stops.
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Hosts of an S3 endpoint that S3 credentials may be sent to, comma separated: HOST,
    /// *.DOMAIN, * (any); http://HOST also allows plain http. Default none: only AWS itself.
    #[arg(long, env = "NFLBET_S3_CREDENTIAL_HOSTS", value_delimiter = ',')]
    pub s3_credential_hosts: Vec<String>,
    /// Address ranges that may be connected to although they are loopback, link-local or
    /// unspecified, comma separated CIDRs (127.0.0.0/8 for an S3 server on this host).
    #[arg(long, env = "NFLBET_ALLOW_ADDRESSES", value_delimiter = ',')]
    pub allow_addresses: Vec<String>,
    /// Objects read and written at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// Store to copy from: file:///path or s3://bucket[/prefix].
    #[arg(long)]
    pub from: String,
    /// Store to copy to: file:///path (created if missing) or s3://bucket[/prefix].
    #[arg(long)]
    pub to: String,
    /// Endpoint of an S3-compatible server holding --from (default: AWS, or `AWS_ENDPOINT_URL`).
    #[arg(long)]
    pub from_s3_endpoint: Option<String>,
    /// Endpoint of an S3-compatible server holding --to (default: AWS, or `AWS_ENDPOINT_URL`).
    #[arg(long)]
    pub to_s3_endpoint: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Store to check: file:///path or s3://bucket[/prefix].
    pub url: String,
    /// Endpoint of an S3-compatible server (default: AWS, or `AWS_ENDPOINT_URL`).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    s.parse::<kube::core::Duration>()
        .ok()
        .filter(|d| !d.is_negative())
        .map(Duration::from)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a positive duration (30s, 2m, 1m30s)"))
}

impl Connection {
    fn open(
        &self,
        url: &str,
        endpoint: &Option<String>,
        existing: bool,
    ) -> Result<StoreAt, store_backup::StoreBackupError> {
        // The workloads' policy and defaults: S3 credentials go to AWS, or to the hosts named.
        let egress = crate::egress::EgressArgs {
            s3_credential_hosts: self.s3_credential_hosts.clone(),
            allow_addresses: self.allow_addresses.clone(),
            ..crate::egress::EgressArgs::default()
        }
        .policy(Vec::new())
        .map_err(|e| store_backup::StoreBackupError::Open { url: url.into(), error: e.to_string() })?;
        let s3 = S3Options {
            endpoint: endpoint.clone(),
            region: self.s3_region.clone(),
            credentials: None,
            egress,
        };
        StoreAt::open(url, &s3, self.timeout, existing)
    }
}

/// A progress bar on a terminal, nothing otherwise.
fn progress(what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    let template = format!("{{bar:40}} {{pos}}/{{len}} objects {what} {{elapsed}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

fn fail(err: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(2)
}

/// Run a `store` subcommand. Exit status: 0 done and whole; 1 objects failed or are bad, or
/// the run was interrupted; 2 a store cannot be opened or listed.
pub async fn run(args: StoreArgs) -> ExitCode {
    match args.command {
        StoreCommand::Backup(a) => copy(a, Direction::Backup).await,
        StoreCommand::Restore(a) => copy(a, Direction::Restore).await,
        StoreCommand::Verify(a) => {
            let store = match a.connection.open(&a.url, &a.s3_endpoint, true) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let bar = progress("verified");
            let report = verify::verify(&store, a.connection.concurrency.into(), &bar).await;
            bar.finish_and_clear();
            match report {
                Ok(report) => {
                    for (key, why) in &report.bad {
                        eprintln!("bad: {key}: {why}");
                    }
                    println!("{report}");
                    if report.bad.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
                }
                Err(e) => fail(e),
            }
        }
    }
}

async fn copy(a: CopyArgs, direction: Direction) -> ExitCode {
    let opened = a
        .connection
        .open(&a.from, &a.from_s3_endpoint, true)
        .and_then(|from| Ok((from, a.connection.open(&a.to, &a.to_s3_endpoint, false)?)));
    let (from, to) = match opened {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let bar = progress("copied");
    let result = store_backup::copy(&from, &to, direction, a.connection.concurrency.into(), &bar).await;
    bar.finish_and_clear();
    let (summary, error) = match result {
        Ok(s) => (s, None),
        Err((s, e)) => (s, Some(e)),
    };
    for (key, why) in &summary.failed {
        eprintln!("failed: {key}: {why}");
    }
    println!("{summary}");
    match error {
        Some(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        None if summary.failed.is_empty() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}
