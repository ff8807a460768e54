//! The operator: one controller per custom resource.

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {}

pub async fn run(_args: OperatorArgs) -> anyhow::Result<()> {
    anyhow::bail!("operator not built yet")
}
