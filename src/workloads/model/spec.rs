//! A Model spec → the `nflbet model` flags of what it prices and stakes.
//!
//! The one translation of a Model's pricing settings (algorithm and its parameters, books,
//! markets, staking and caps) into the workload's command line. The operator renders it into the
//! model Deployments (`controller::model::build::model_args`, which adds where the pod runs: the
//! store, retention, listen address, egress policy, status reports) and `nflbet replay --model`
//! parses it back into [`ModelArgs`] (`replay::model`), so a replay runs exactly what the live
//! workload runs.

use super::args::ModelArgs;
use super::config::Role;
use crate::crd::model::{Algorithm, MarginMethod, Model, ModelParameters};
use crate::domain::duration::format_duration;
use kube::ResourceExt;

/// Which workload of a Model the flags are for: its role, the version it runs, the share of the
/// bankroll it stakes, and its parameters (the spec's, or a candidate's with its overrides:
/// `ModelSpec::stable_parameters`, `ModelSpec::candidate_parameters`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deployed<'a> {
    pub role: Role,
    pub version: &'a str,
    pub traffic_share: f64,
    pub parameters: &'a ModelParameters,
}

impl<'a> Deployed<'a> {
    /// The stable version of `m` alone, staking the whole bankroll.
    pub fn stable(m: &'a Model) -> Deployed<'a> {
        Deployed {
            role: Role::Stable,
            version: &m.spec.version,
            traffic_share: 1.0,
            parameters: m.spec.stable_parameters(),
        }
    }
}

/// The flags of `m`'s pricing and staking, for the workload `deployed`, pricing `books` (the
/// Sportsbooks the Model selects, resolved by the caller). Starts with the subcommand, `model`.
pub fn flags(m: &Model, books: &[String], deployed: Deployed<'_>) -> Vec<String> {
    let spec = &m.spec;
    let mut args: Vec<String> = vec!["model".into()];
    let mut flag = |k: &str, v: String| {
        args.push(format!("--{k}"));
        args.push(v);
    };
    flag("model", m.name_any());
    flag("namespace", m.namespace().unwrap_or_default());
    flag("algorithm", spec.algorithm.as_str().into());
    flag("version", deployed.version.into());
    flag("role", deployed.role.as_str().into());
    flag("traffic-share", format!("{}", deployed.traffic_share));
    if !books.is_empty() {
        flag("sportsbooks", books.join(","));
    }
    let p = deployed.parameters;
    flag("parameters", p.fingerprint());
    flag("markets", p.markets().iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","));
    match spec.algorithm {
        Algorithm::MarketConsensus => {
            let c = p.consensus.clone().unwrap_or_default();
            if !c.reference_books.is_empty() {
                flag("reference-books", c.reference_books.join(","));
            }
            let method = c.margin_method.unwrap_or(MarginMethod::Shin).as_str();
            flag("margin-method", method.into());
        }
        Algorithm::Elo => {
            let e = p.elo.clone().unwrap_or_default();
            if let Some(k) = e.k_factor {
                flag("elo-k-factor", k.to_string());
            }
            if let Some(h) = e.home_field_advantage {
                flag("elo-home-field-advantage", h.to_string());
            }
            if let Some(r) = e.season_regression {
                flag("elo-season-regression", r.to_string());
            }
            if let Some(q) = e.quarterback_change_penalty {
                flag("elo-quarterback-change-penalty", q.to_string());
            }
            if let Some(r) = e.rest_day_value {
                flag("elo-rest-day-value", r.to_string());
            }
            if let Some(a) = e.anchor_to_market {
                flag("elo-anchor-to-market", a.to_string());
            }
        }
    }
    let s = &p.staking;
    flag("bankroll", s.bankroll.to_string());
    flag("kelly-fraction", s.kelly_fraction.to_string());
    flag("max-stake-per-bet", s.limits.max_stake_per_bet.unwrap_or(0.02).to_string());
    flag("max-event-exposure", s.limits.max_event_exposure().to_string());
    if let Some(caps) = &s.limits.exposure_caps {
        for (k, v) in [("cap-team", caps.team), ("cap-market", caps.market), ("cap-book", caps.book)] {
            if let Some(v) = v {
                flag(k, v.to_string());
            }
        }
    }
    flag("value-threshold", s.limits.value_threshold.unwrap_or(0.02).to_string());
    flag("calibration-window", format_duration(spec.calibration().window));
    flag("interval", spec.interval.clone().unwrap_or_else(|| "60s".into()));
    args
}

/// `nflbet model` flags (starting with `model`, as [`flags`] returns them) read by the
/// subcommand's own parser, so they mean exactly what they mean to the workload.
pub fn parse(flags: &[String]) -> Result<ModelArgs, clap::Error> {
    use clap::{FromArgMatches, Subcommand};
    #[derive(clap::Subcommand)]
    enum Sub {
        Model(ModelArgs),
    }
    let command = Sub::augment_subcommands(clap::Command::new("nflbet").no_binary_name(true));
    let matches = command.try_get_matches_from(flags)?;
    let Sub::Model(args) = Sub::from_arg_matches(&matches)?;
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(spec: &str) -> Model {
        serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {{name: consensus, namespace: betting}}\nspec:\n{spec}"
        ))
        .expect("a Model")
    }

    #[test]
    fn every_pricing_setting_of_the_spec_reaches_the_workload() {
        let m = model(
            "  algorithm: marketConsensus\n  version: 1.2.0\n  sportsbooks: {names: [a]}\n  markets: [moneyline, spread]\n  consensus: {referenceBooks: [pinnacle, circa], marginMethod: power}\n  staking: {bankroll: 5000, kellyFraction: 0.3, maxStakePerBet: 0.01, maxEventExposure: 0.04, exposureCaps: {team: 0.1, market: 0.2, book: 0.3}, valueThreshold: 0.03}\n  calibration: {window: 336h}\n  interval: 30s\n",
        );
        let a = parse(&flags(&m, &["a".into(), "b".into()], Deployed::stable(&m))).expect("flags parse");
        assert_eq!((a.model.as_str(), a.namespace.as_str()), ("consensus", "betting"));
        assert_eq!(
            (a.algorithm.as_str(), a.version.as_str(), a.role.as_str()),
            ("marketConsensus", "1.2.0", "stable")
        );
        assert_eq!(a.traffic_share, 1.0);
        assert_eq!(a.sportsbooks, ["a", "b"]);
        assert_eq!(a.markets, ["moneyline", "spread"]);
        assert_eq!(a.reference_books, ["pinnacle", "circa"]);
        assert_eq!(a.margin_method, "power");
        assert_eq!(
            (a.bankroll, a.kelly_fraction, a.max_stake_per_bet, a.max_event_exposure),
            (5000.0, 0.3, 0.01, 0.04)
        );
        assert_eq!((a.cap_team, a.cap_market, a.cap_book), (Some(0.1), Some(0.2), Some(0.3)));
        assert_eq!(a.value_threshold, 0.03);
        assert_eq!((a.calibration_window.as_str(), a.interval.as_str()), ("336h", "30s"));
    }

    #[test]
    fn defaults_are_the_crds_not_the_flags() {
        // The consensus margin method defaults to shin; stakes and threshold to the CRD's.
        let m = model(
            "  algorithm: elo\n  version: 1.0.0\n  sportsbooks: {names: [a]}\n  elo: {kFactor: 25, homeFieldAdvantage: 55}\n  staking: {bankroll: 100, kellyFraction: 0.25}\n",
        );
        let a = parse(&flags(&m, &[], Deployed::stable(&m))).expect("flags parse");
        assert_eq!((a.elo_k_factor, a.elo_home_field_advantage), (25.0, 55.0));
        assert!((a.elo_season_regression - 0.5).abs() < 1e-12, "the Elo default: regression ½");
        assert_eq!((a.max_stake_per_bet, a.max_event_exposure, a.value_threshold), (0.02, 0.05, 0.02));
        assert!(a.sportsbooks.is_empty());
        let c = model(
            "  algorithm: marketConsensus\n  version: 1.0.0\n  sportsbooks: {names: [a]}\n  staking: {bankroll: 100, kellyFraction: 0.25}\n",
        );
        assert_eq!(parse(&flags(&c, &[], Deployed::stable(&c))).unwrap().margin_method, "shin");
    }

    #[test]
    fn parse_refuses_what_the_workload_refuses() {
        let err = parse(&["model".into(), "--model".into(), "m".into()]).unwrap_err();
        assert!(err.to_string().contains("--algorithm"), "{err}");
    }
}
