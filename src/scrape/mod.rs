//! `nflbet scrape`: the scraper workload of one Sportsbook.

mod args;

pub use args::ScrapeArgs;

pub async fn run(args: ScrapeArgs) -> anyhow::Result<()> {
    anyhow::bail!("nflbet scrape is not built yet (sportsbook {})", args.sportsbook)
}
