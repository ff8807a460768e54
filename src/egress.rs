//! Where the workloads may connect, and where they may send credentials.
//!
//! Two rules, set by the operator's administrator (chart values `egress.*`, operator flags of the
//! same names, passed on to every scraper and model workload as flags):
//!
//! - **Credentials go only where they belong.** A feed's API key (`?apiKey=`, a Bearer header) is
//!   sent only to a host listed in `--feed-credential-hosts` (default: The Odds API's host), and
//!   S3 credentials (a SigV4 signature) only to an `s3.endpoint` listed in
//!   `--s3-credential-hosts` (default: none, so only AWS itself, used when no endpoint is set).
//!   Only over https, unless the entry says `http://`.
//! - **No request to the node's or the cluster's own services.** Link-local addresses (where
//!   cloud metadata services answer), loopback, unspecified addresses and the Kubernetes API
//!   server's addresses are refused unless `--allow-addresses` covers them. The check is made on
//!   the addresses a name resolves to, at connect time, by the HTTP client's resolver
//!   ([`GuardedResolver`]), so a DNS answer that changes after start-up cannot get around it; an
//!   address written in a URL is checked before any connection ([`Egress::check_destination`]).
//!
//! The operator refuses a spec that breaks the first rule (or names a refused address literally)
//! before it creates anything; the workloads enforce both again on every request.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use url::Url;

/// Host of The Odds API, where its key may go by default.
pub const THE_ODDS_API_HOST: &str = "api.the-odds-api.com";

/// Names of the settings, as flags (the chart values carry the same names under `egress.`).
pub const FEED_HOSTS_FLAG: &str = "feed-credential-hosts";
pub const S3_HOSTS_FLAG: &str = "s3-credential-hosts";
pub const ALLOW_FLAG: &str = "allow-addresses";
pub const DENY_FLAG: &str = "deny-addresses";

/// Why a request was refused, or a setting could not be read. Messages name the setting that
/// would allow it; none contains a credential (URLs are reduced to scheme and host).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error(
        "{what} would be sent over plain http to {host}; credentials go only over https, and over http \
         only to a host the operator lists as http://{host} in {setting}"
    )]
    InsecureCredential { what: &'static str, host: String, setting: &'static str },
    #[error(
        "{what} would be sent to {host}, which the operator does not allow (allowed: {allowed}); an \
         administrator can add the host to {setting}"
    )]
    CredentialHostNotAllowed { what: &'static str, host: String, allowed: String, setting: &'static str },
    #[error(
        "refused to connect to {addr}: {reason}; an administrator can allow it with {ALLOW_FLAG} \
         (chart value egress.allowAddresses)"
    )]
    AddressRefused { addr: IpAddr, reason: &'static str },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("--{flag} {value:?}: {reason}")]
    Setting { flag: &'static str, value: String, reason: &'static str },
}

/// A host a credential may be sent to: an exact host (`api.the-odds-api.com`, `10.0.0.5`), every
/// subdomain of one (`*.svc.cluster.local`), or any host (`*`). `http://` in front allows plain
/// http too; otherwise (bare or `https://`) https only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRule {
    /// Lowercase host, without the `*.` of a wildcard.
    host: String,
    kind: HostMatch,
    insecure: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostMatch {
    Exact,
    Subdomains,
    Any,
}

impl FromStr for HostRule {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<HostRule, &'static str> {
        let s = s.trim();
        let (insecure, rest) = match s.split_once("://") {
            Some(("http", rest)) => (true, rest),
            Some(("https", rest)) => (false, rest),
            Some(_) => return Err("expected HOST, *.DOMAIN, https://HOST or http://HOST"),
            None => (false, s),
        };
        let host = rest.trim_end_matches('/').to_ascii_lowercase();
        if host.contains(['/', '?', '#', '@', ' ']) || host.is_empty() {
            return Err("expected a host name or address only (no path, port or user)");
        }
        if host == "*" {
            return Ok(HostRule { host, kind: HostMatch::Any, insecure });
        }
        let (kind, bare) = match host.strip_prefix("*.") {
            Some(domain) => (HostMatch::Subdomains, domain.to_owned()),
            None => (HostMatch::Exact, host.clone()),
        };
        if bare.contains('*') || bare.is_empty() {
            return Err("a wildcard may only be a leading `*.`");
        }
        // A port is not part of the rule: `host:443` would never match and surprise.
        let is_ipv6 = bare.starts_with('[') && bare.ends_with(']');
        if !is_ipv6 && bare.contains(':') {
            return Err("a port is not part of the rule; give the host only");
        }
        Ok(HostRule { host: bare, kind, insecure })
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.insecure {
            f.write_str("http://")?;
        }
        match self.kind {
            HostMatch::Any => f.write_str("*"),
            HostMatch::Subdomains => write!(f, "*.{}", self.host),
            HostMatch::Exact => f.write_str(&self.host),
        }
    }
}

impl HostRule {
    fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        match self.kind {
            HostMatch::Any => true,
            HostMatch::Exact => host == self.host,
            HostMatch::Subdomains => host.strip_suffix(self.host.as_str()).is_some_and(|p| p.ends_with('.')),
        }
    }
}

/// The hosts one kind of credential may be sent to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialHosts(Vec<HostRule>);

impl CredentialHosts {
    pub fn new(rules: Vec<HostRule>) -> CredentialHosts {
        CredentialHosts(rules)
    }

    /// Parse a list of rules (one setting's values); the error names the flag.
    pub fn parse(flag: &'static str, values: &[String]) -> Result<CredentialHosts, EgressError> {
        let mut rules = Vec::new();
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            rules.push(v.parse().map_err(|reason| EgressError::Setting { flag, value: v.into(), reason })?);
        }
        Ok(CredentialHosts(rules))
    }

    pub fn rules(&self) -> &[HostRule] {
        &self.0
    }

    /// May `what` (e.g. "the feed's API key") be sent to `url`? `setting` names where an
    /// administrator would allow it.
    pub fn check(&self, what: &'static str, setting: &'static str, url: &Url) -> Result<(), EgressError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let matching: Vec<&HostRule> = self.0.iter().filter(|r| r.matches(&host)).collect();
        if matching.is_empty() {
            return Err(EgressError::CredentialHostNotAllowed {
                what,
                host,
                allowed: self.to_string(),
                setting,
            });
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if matching.iter().any(|r| r.insecure) => Ok(()),
            _ => Err(EgressError::InsecureCredential { what, host, setting }),
        }
    }
}

impl fmt::Display for CredentialHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let list: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
        f.write_str(&list.join(", "))
    }
}

/// Address ranges no workload connects to unless allowed, with the reason a person reads.
const REFUSED: [(&str, &str); 7] = [
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata services answer there)"),
    ("fe80::/10", "a link-local address"),
    ("fd00:ec2::254/128", "a cloud metadata service address"),
];

const API_SERVER: &str = "an address of the Kubernetes API server";
const DENIED: &str = "an address the operator denies (egress.denyAddresses)";

/// Which addresses a workload may connect to. The most specific matching range decides; on a
/// tie an allowance wins, so `--allow-addresses 10.96.0.1/32` lifts the API-server rule for that
/// address while `--allow-addresses 10.0.0.0/8` does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow: Vec<IpNet>,
    /// Extra ranges refused (e.g. the API server's real endpoints, or a node network).
    pub deny: Vec<IpNet>,
    /// The Kubernetes API server's addresses as this pod sees them.
    pub api_server: Vec<IpAddr>,
}

/// An IPv4-mapped IPv6 address is its IPv4 address (`::ffff:169.254.169.254` is link-local).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl AddressPolicy {
    /// Parse `--allow-addresses` / `--deny-addresses` values: CIDRs or single addresses.
    pub fn parse_ranges(flag: &'static str, values: &[String]) -> Result<Vec<IpNet>, EgressError> {
        let mut out = Vec::new();
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            let net = v.parse::<IpNet>().or_else(|_| v.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                EgressError::Setting {
                    flag,
                    value: v.into(),
                    reason: "expected an address or a CIDR range like 10.0.0.0/8",
                }
            })?;
            out.push(net.trunc());
        }
        Ok(out)
    }

    /// May a workload connect to `ip`?
    pub fn check(&self, ip: IpAddr) -> Result<(), EgressError> {
        let ip = canonical(ip);
        let builtin = REFUSED.iter().filter_map(|(net, reason)| {
            let net: IpNet = net.parse().expect("built-in range");
            net.contains(&ip).then_some((net.prefix_len(), *reason))
        });
        let api = self
            .api_server
            .iter()
            .filter(|a| canonical(**a) == ip)
            .map(|a| (IpNet::from(canonical(*a)).prefix_len(), API_SERVER));
        let denied = self.deny.iter().filter(|n| n.contains(&ip)).map(|n| (n.prefix_len(), DENIED));
        let refusal = builtin.chain(api).chain(denied).max_by_key(|(len, _)| *len);
        let Some((deny_len, reason)) = refusal else { return Ok(()) };
        let allow_len = self.allow.iter().filter(|n| n.contains(&ip)).map(|n| n.prefix_len()).max();
        match allow_len {
            Some(a) if a >= deny_len => Ok(()),
            _ => Err(EgressError::AddressRefused { addr: ip, reason }),
        }
    }
}

/// The API server's addresses as a pod sees them: `KUBERNETES_SERVICE_HOST` when it is an
/// address, plus what `resolved` found for it (a name) and for `kubernetes.default.svc`.
pub fn api_server_addresses(service_host: Option<&str>, resolved: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = service_host
        .and_then(|h| h.trim().trim_start_matches('[').trim_end_matches(']').parse().ok())
        .into_iter()
        .chain(resolved.iter().copied())
        .map(canonical)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The whole policy a workload enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    pub feed_credentials: CredentialHosts,
    pub s3_credentials: CredentialHosts,
    pub addresses: AddressPolicy,
}

impl Default for Egress {
    /// The secure default: a feed key only to The Odds API over https, S3 credentials only to
    /// AWS, no connection to link-local, loopback, unspecified or API-server addresses.
    fn default() -> Self {
        Egress {
            feed_credentials: CredentialHosts(vec![HostRule {
                host: THE_ODDS_API_HOST.into(),
                kind: HostMatch::Exact,
                insecure: false,
            }]),
            s3_credentials: CredentialHosts::default(),
            addresses: AddressPolicy::default(),
        }
    }
}

impl Egress {
    /// No restriction: for tools a person runs with their own credentials (`nflbet replay`), where
    /// the person, not a resource spec, chose every destination.
    pub fn unrestricted() -> Egress {
        let any = CredentialHosts(vec![HostRule { host: "*".into(), kind: HostMatch::Any, insecure: true }]);
        Egress {
            feed_credentials: any.clone(),
            s3_credentials: any,
            addresses: AddressPolicy {
                allow: vec!["0.0.0.0/0".parse().expect("range"), "::/0".parse().expect("range")],
                ..AddressPolicy::default()
            },
        }
    }

    /// An address written in the URL (which no resolver sees) must be allowed.
    pub fn check_destination(&self, url: &Url) -> Result<(), EgressError> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.addresses.check(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.addresses.check(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// A feed request that carries an API key.
    pub fn check_feed_credentials(&self, url: &Url) -> Result<(), EgressError> {
        self.feed_credentials.check("the feed's API key", "egress.feedCredentialHosts", url)
    }

    /// An S3 endpoint (None: AWS itself, always allowed). Returns whether plain http is allowed.
    pub fn check_s3_endpoint(&self, endpoint: Option<&str>) -> Result<bool, EgressError> {
        let Some(ep) = endpoint.map(str::trim).filter(|e| !e.is_empty()) else { return Ok(false) };
        let url = Url::parse(ep).map_err(|_| EgressError::Setting {
            flag: "s3-endpoint",
            value: redact(ep),
            reason: "expected an http:// or https:// URL",
        })?;
        self.s3_credentials.check("S3 credentials", "egress.s3CredentialHosts", &url)?;
        self.check_destination(&url)?;
        Ok(url.scheme() == "http")
    }

    /// Flags that hand this policy to a workload (the operator renders them).
    pub fn to_args(&self) -> Vec<String> {
        let join = |v: Vec<String>| v.join(",");
        let rules = |h: &CredentialHosts| join(h.0.iter().map(|r| r.to_string()).collect());
        let nets = |n: &[IpNet]| join(n.iter().map(|n| n.to_string()).collect());
        let mut out = vec![
            format!("--{FEED_HOSTS_FLAG}={}", rules(&self.feed_credentials)),
            format!("--{S3_HOSTS_FLAG}={}", rules(&self.s3_credentials)),
        ];
        if !self.addresses.allow.is_empty() {
            out.push(format!("--{ALLOW_FLAG}={}", nets(&self.addresses.allow)));
        }
        if !self.addresses.deny.is_empty() {
            out.push(format!("--{DENY_FLAG}={}", nets(&self.addresses.deny)));
        }
        out
    }

    /// An HTTP client builder that connects only where this policy allows: every name is
    /// resolved by a [`GuardedResolver`], and no proxy from the environment is used (a proxy
    /// would resolve names where this policy cannot see them).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().no_proxy().dns_resolver(Arc::new(self.resolver()))
    }

    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver(Arc::new(self.addresses.clone()))
    }
}

/// A URL reduced to scheme and host, for messages (a URL may carry a key in its query).
pub fn redact(s: &str) -> String {
    match Url::parse(s) {
        Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()),
        Err(_) => "(unparseable URL)".into(),
    }
}

/// The operator's and the workloads' flags. The operator reads them from its environment (the
/// chart sets them) and renders the same flags into every workload it creates.
#[derive(clap::Args, Clone, Debug)]
pub struct EgressArgs {
    /// Hosts a feed's API key may be sent to, comma separated: HOST, *.DOMAIN (its subdomains),
    /// * (any); http://HOST also allows plain http. Default: The Odds API's host, over https.
    #[arg(long = FEED_HOSTS_FLAG, env = "NFLBET_FEED_CREDENTIAL_HOSTS", value_delimiter = ',', default_value = THE_ODDS_API_HOST)]
    pub feed_credential_hosts: Vec<String>,

    /// Hosts of an `s3.endpoint` that S3 credentials may be sent to, same syntax. Default none:
    /// only AWS itself (no endpoint set).
    #[arg(long = S3_HOSTS_FLAG, env = "NFLBET_S3_CREDENTIAL_HOSTS", value_delimiter = ',')]
    pub s3_credential_hosts: Vec<String>,

    /// Address ranges workloads may connect to although they are link-local, loopback,
    /// unspecified or the API server's, comma separated CIDRs (e.g. 127.0.0.0/8 for a feed on
    /// the same host in a test).
    #[arg(long = ALLOW_FLAG, env = "NFLBET_ALLOW_ADDRESSES", value_delimiter = ',')]
    pub allow_addresses: Vec<String>,

    /// More address ranges workloads never connect to (e.g. the API server's real endpoints,
    /// the nodes' network), comma separated CIDRs.
    #[arg(long = DENY_FLAG, env = "NFLBET_DENY_ADDRESSES", value_delimiter = ',')]
    pub deny_addresses: Vec<String>,
}

impl Default for EgressArgs {
    /// The flags' defaults (as clap fills them in).
    fn default() -> Self {
        EgressArgs {
            feed_credential_hosts: vec![THE_ODDS_API_HOST.into()],
            s3_credential_hosts: Vec::new(),
            allow_addresses: Vec::new(),
            deny_addresses: Vec::new(),
        }
    }
}

impl EgressArgs {
    /// The policy these flags describe; `api_server` comes from the pod's environment.
    pub fn policy(&self, api_server: Vec<IpAddr>) -> Result<Egress, EgressError> {
        Ok(Egress {
            feed_credentials: CredentialHosts::parse(FEED_HOSTS_FLAG, &self.feed_credential_hosts)?,
            s3_credentials: CredentialHosts::parse(S3_HOSTS_FLAG, &self.s3_credential_hosts)?,
            addresses: AddressPolicy {
                allow: AddressPolicy::parse_ranges(ALLOW_FLAG, &self.allow_addresses)?,
                deny: AddressPolicy::parse_ranges(DENY_FLAG, &self.deny_addresses)?,
                api_server,
            },
        })
    }

    /// The policy of a workload running in a pod: the API server's addresses are those of
    /// `KUBERNETES_SERVICE_HOST` and of `api_server_name` (resolved only inside a cluster, i.e.
    /// when `KUBERNETES_SERVICE_HOST` is set; an empty name resolves nothing).
    pub fn workload_policy(&self, api_server_name: &str) -> Result<Egress, EgressError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok();
        let mut resolved = Vec::new();
        if let Some(h) = host.as_deref() {
            for name in [h, api_server_name] {
                if name.is_empty() || name.parse::<IpAddr>().is_ok() {
                    continue;
                }
                // At start-up, before any request; a failure only means there is nothing to add.
                if let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(&(name, 443)) {
                    resolved.extend(addrs.map(|a| a.ip()));
                }
            }
        }
        self.policy(api_server_addresses(host.as_deref(), &resolved))
    }
}

/// Resolves names and drops every address the policy refuses; a name left with none fails with
/// the reason. Used by every HTTP client of the workloads (feeds, games file, S3).
#[derive(Clone, Debug)]
pub struct GuardedResolver(Arc<AddressPolicy>);

impl GuardedResolver {
    async fn lookup(policy: Arc<AddressPolicy>, host: String) -> Result<Vec<IpAddr>, EgressError> {
        let found = tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|e| EgressError::Resolve { host: host.clone(), reason: e.to_string() })?;
        let mut allowed = Vec::new();
        let mut refusal = None;
        for addr in found {
            match policy.check(addr.ip()) {
                Ok(()) => allowed.push(addr.ip()),
                Err(e) => refusal = refusal.or(Some(e)),
            }
        }
        match (allowed.is_empty(), refusal) {
            (false, _) => Ok(allowed),
            (true, Some(e)) => Err(e),
            (true, None) => Err(EgressError::NoAddress { host }),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, host) = (self.0.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let ips = GuardedResolver::lookup(policy, host).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

impl object_store::client::DnsResolver for GuardedResolver {
    fn resolve(&self, host: &str) -> object_store::client::DnsFuture {
        let (policy, host) = (self.0.clone(), host.to_owned());
        Box::pin(async move { Ok(GuardedResolver::lookup(policy, host).await?) })
    }
}

/// The object store's HTTP connector: its own client with every name resolved by a
/// [`GuardedResolver`].
#[derive(Debug)]
pub struct GuardedConnector(pub GuardedResolver);

impl object_store::client::HttpConnector for GuardedConnector {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        let options = options.clone().with_dns_resolver(Arc::new(self.0.clone()));
        object_store::client::ReqwestConnector::default().connect(&options)
    }
}

/// The egress policy's refusal (from the resolver or the redirect policy) behind a reqwest error.
pub fn refusal_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a EgressError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<EgressError>() {
            return Some(refused);
        }
        source = s.source();
    }
    None
}

/// A redirect policy that follows at most 5 redirects, never from https to http, and never to a
/// refused address written in the new URL (names are checked by the resolver when connecting).
pub fn redirect_policy(egress: &Egress) -> reqwest::redirect::Policy {
    let egress = egress.clone();
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("more than 5 redirects");
        }
        let downgrade =
            attempt.url().scheme() != "https" && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade {
            return attempt.error("redirect from https to plain http refused");
        }
        match egress.check_destination(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn hosts(v: &[&str]) -> CredentialHosts {
        CredentialHosts::parse("x", &v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn default_policy_sends_the_feed_key_only_to_the_odds_api_over_https() {
        let e = Egress::default();
        assert_eq!(e.check_feed_credentials(&url("https://api.the-odds-api.com/v4/sports?apiKey=k")), Ok(()));
        assert!(matches!(
            e.check_feed_credentials(&url("http://api.the-odds-api.com/v4")),
            Err(EgressError::InsecureCredential { .. })
        ));
        let err = e.check_feed_credentials(&url("https://evil.example/v4?apiKey=k")).unwrap_err();
        assert!(matches!(err, EgressError::CredentialHostNotAllowed { .. }));
        let msg = err.to_string();
        assert!(msg.contains("evil.example") && msg.contains("api.the-odds-api.com"), "{msg}");
        assert!(!msg.contains("apiKey"), "{msg}");
        assert_eq!(e.check_s3_endpoint(None), Ok(false), "AWS itself");
        assert!(matches!(
            e.check_s3_endpoint(Some("https://minio.example:9000")),
            Err(EgressError::CredentialHostNotAllowed { .. })
        ));
    }

    #[test]
    fn host_rules_match_exact_hosts_subdomains_and_http_only_when_written() {
        let h = hosts(&["feeds.example.com", "http://*.svc.cluster.local", "https://[fd00::5]"]);
        assert_eq!(h.check("k", "s", &url("https://FEEDS.example.com/x")), Ok(()));
        assert!(h.check("k", "s", &url("http://feeds.example.com/x")).is_err(), "https only");
        assert!(h.check("k", "s", &url("https://a.feeds.example.com/x")).is_err(), "exact");
        assert_eq!(h.check("k", "s", &url("http://odds.trading.svc.cluster.local:8080/")), Ok(()));
        assert!(h.check("k", "s", &url("http://svc.cluster.local/")).is_err(), "subdomains only");
        assert!(h.check("k", "s", &url("http://evilsvc.cluster.local/")).is_err());
        assert_eq!(h.check("k", "s", &url("https://[fd00::5]:9000/")), Ok(()));
        assert_eq!(h.to_string(), "feeds.example.com, http://*.svc.cluster.local, [fd00::5]");
        for bad in ["ftp://x", "x/path", "host:443", "a.*.b", "user@host", "*"] {
            let parsed = bad.parse::<HostRule>();
            assert_eq!(parsed.is_err(), bad != "*", "{bad}: {parsed:?}");
        }
    }

    #[test]
    fn refused_addresses_and_allowances() {
        let p = AddressPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "0.0.0.0",
            "::",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
        ] {
            assert!(matches!(p.check(ip(refused)), Err(EgressError::AddressRefused { .. })), "{refused}");
        }
        for ok in ["10.96.0.1", "192.168.1.10", "8.8.8.8", "2001:db8::1", "fd00::1"] {
            assert_eq!(p.check(ip(ok)), Ok(()), "{ok}");
        }
        let msg = p.check(ip("169.254.169.254")).unwrap_err().to_string();
        assert!(msg.contains("link-local") && msg.contains("allow-addresses"), "{msg}");

        let loopback = AddressPolicy { allow: vec!["127.0.0.0/8".parse().unwrap()], ..Default::default() };
        assert_eq!(loopback.check(ip("127.0.0.1")), Ok(()));
        assert!(loopback.check(ip("169.254.169.254")).is_err(), "an allowance covers only its range");
    }

    #[test]
    fn the_api_server_is_refused_unless_allowed_as_specifically() {
        let api = api_server_addresses(Some("10.96.0.1"), &[ip("10.96.0.1"), ip("::ffff:10.96.0.2")]);
        assert_eq!(api, vec![ip("10.96.0.1"), ip("10.96.0.2")]);
        let p = AddressPolicy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            api_server: api.clone(),
            ..Default::default()
        };
        let err = p.check(ip("10.96.0.1")).unwrap_err();
        assert!(err.to_string().contains("Kubernetes API server"), "{err}");
        assert_eq!(p.check(ip("10.96.0.3")), Ok(()));
        let lifted = AddressPolicy {
            allow: vec!["10.96.0.1/32".parse().unwrap()],
            api_server: api,
            ..Default::default()
        };
        assert_eq!(lifted.check(ip("10.96.0.1")), Ok(()));
        assert!(
            api_server_addresses(Some("kubernetes.default.svc"), &[]).is_empty(),
            "a name alone adds nothing"
        );
        let denied = AddressPolicy { deny: vec!["192.168.0.0/16".parse().unwrap()], ..Default::default() };
        assert!(denied.check(ip("192.168.3.4")).unwrap_err().to_string().contains("denies"));
    }

    #[test]
    fn ip_literals_in_urls_are_checked_before_connecting() {
        let e = Egress::default();
        assert!(e.check_destination(&url("http://169.254.169.254/latest/meta-data/")).is_err());
        assert!(e.check_destination(&url("http://[::1]:8080/")).is_err());
        assert_eq!(e.check_destination(&url("https://api.the-odds-api.com/")), Ok(()));
        assert_eq!(e.check_destination(&url("http://10.1.2.3:8080/")), Ok(()));
    }

    #[test]
    fn flags_round_trip_through_the_rendered_args() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            egress: EgressArgs,
        }
        let defaults = Cli::try_parse_from(["x"]).unwrap().egress.policy(vec![]).unwrap();
        assert_eq!(defaults, Egress::default());
        let e = Egress {
            feed_credentials: hosts(&["api.the-odds-api.com", "http://*.svc.cluster.local"]),
            s3_credentials: hosts(&["http://minio.storage.svc"]),
            addresses: AddressPolicy {
                allow: vec!["127.0.0.0/8".parse().unwrap()],
                deny: vec!["192.168.0.0/16".parse().unwrap()],
                api_server: vec![],
            },
        };
        let argv = std::iter::once("x".to_string()).chain(e.to_args());
        assert_eq!(Cli::try_parse_from(argv).unwrap().egress.policy(vec![]).unwrap(), e);
        let none = Egress { s3_credentials: CredentialHosts::default(), ..Egress::default() };
        let argv = std::iter::once("x".to_string()).chain(none.to_args());
        assert_eq!(Cli::try_parse_from(argv).unwrap().egress.policy(vec![]).unwrap(), none);
        let bad = Cli::try_parse_from(["x", "--allow-addresses", "localhost"]).unwrap().egress.policy(vec![]);
        assert!(bad.unwrap_err().to_string().contains("--allow-addresses \"localhost\""));
    }
}
