//! `nflbet crds`: print the CRDs (for `kubectl apply -f -`) or write one file per CRD.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CrdsArgs {
    /// Write `<plural>.yaml` files into this directory instead of printing one YAML stream.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &CrdsArgs) -> anyhow::Result<()> {
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            for (file, crd) in crate::crd::all() {
                std::fs::write(dir.join(file), crate::crd::to_yaml(&crd))?;
            }
        }
        None => {
            for (_, crd) in crate::crd::all() {
                print!("---\n{}", crate::crd::to_yaml(&crd));
            }
        }
    }
    Ok(())
}
