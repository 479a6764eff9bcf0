//! Where a `callback_url` may point.
//!
//! A webhook is a request the worker makes to an address a tenant chose, so it must never reach
//! the service's own network: loopback (the gateway itself), private and shared ranges, link-local
//! (cloud metadata), unique-local, multicast and the like. The URL is checked when the job is
//! submitted (the gateway answers 422, resolving the host), and every address is checked again
//! when the worker connects (its resolver drops non-public answers), so a name whose answer
//! changes between the two (DNS rebinding) cannot pass. Deliveries follow no redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::settings::Settings;

/// Longest `callback_url` accepted.
pub const CALLBACK_URL_MAX_LEN: usize = 2048;

/// Why a `callback_url` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("must be an http:// or https:// URL")]
    Scheme,
    #[error("is longer than {CALLBACK_URL_MAX_LEN} characters")]
    TooLong,
    #[error("is not a valid URL ({0})")]
    Malformed(String),
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("names a host that is not in WEBHOOK_ALLOWED_HOSTS")]
    HostNotAllowed,
    #[error("points at {0}, which is not a public address")]
    NonPublic(IpAddr),
    #[error("names a host that could not be resolved to any address")]
    Unresolvable,
    #[error(
        "cannot be used: this service signs callbacks with WEBHOOK_SECRET and none is set \
         (an operator may allow unsigned callbacks with WEBHOOK_ALLOW_UNSIGNED=true)"
    )]
    Unsigned,
}

/// The operator's rules for callback destinations (`WEBHOOK_*` settings).
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    /// Exact host names (lower case, no trailing dot); `None`: any public host.
    allowed_hosts: Option<Vec<String>>,
    /// Test rigs: loopback and private addresses pass (metadata addresses never do).
    allow_private: bool,
    /// Deliveries can be signed, or the operator accepts unsigned ones.
    may_deliver: bool,
}

impl CallbackPolicy {
    pub fn from_settings(settings: &Settings) -> Self {
        let allowed_hosts = settings.webhooks.allowed_hosts.as_deref().map(|list| {
            list.split(',')
                .map(normal_host)
                .filter(|h| !h.is_empty())
                .collect()
        });
        Self {
            allowed_hosts,
            allow_private: settings.webhooks.allow_private,
            may_deliver: settings.webhooks.secret.is_some() || settings.webhooks.allow_unsigned,
        }
    }

    /// The checks that need no DNS: length, scheme, credentials, the allow-list and literal
    /// addresses (`127.0.0.1`, `[::1]`, and the numeric spellings the URL standard turns into
    /// them, such as `2130706433` or `0x7f.0.0.1`). The worker repeats this before each
    /// delivery, because a literal address never reaches its resolver.
    pub fn check_url(&self, raw: &str) -> Result<Url, CallbackError> {
        if raw.len() > CALLBACK_URL_MAX_LEN {
            return Err(CallbackError::TooLong);
        }
        if !self.may_deliver {
            return Err(CallbackError::Unsigned);
        }
        let url = Url::parse(raw).map_err(|e| CallbackError::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CallbackError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CallbackError::Credentials);
        }
        let host = url
            .host()
            .ok_or_else(|| CallbackError::Malformed("no host".to_owned()))?;
        if let Some(allowed) = &self.allowed_hosts {
            let name = normal_host(&host.to_string());
            if !allowed.contains(&name) {
                return Err(CallbackError::HostNotAllowed);
            }
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !self.permits(ip)
        {
            return Err(CallbackError::NonPublic(ip));
        }
        Ok(url)
    }

    /// Everything, with the host's addresses as they resolve now: used at submission. Every
    /// address must pass, since a client of the name may connect to any of them.
    pub async fn check(&self, raw: &str) -> Result<Url, CallbackError> {
        let url = self.check_url(raw)?;
        if let Some(Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses: Vec<IpAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| CallbackError::Unresolvable)?
                .map(|a| a.ip())
                .collect();
            if addresses.is_empty() {
                return Err(CallbackError::Unresolvable);
            }
            if let Some(ip) = addresses.into_iter().find(|ip| !self.permits(*ip)) {
                return Err(CallbackError::NonPublic(ip));
            }
        }
        Ok(url)
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if is_cloud_metadata(ip) {
            return false;
        }
        self.allow_private || is_public(ip)
    }
}

fn normal_host(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) stands for that address.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded_low = || Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    // NAT64 well-known prefix 64:ff9b::/96 and the deprecated IPv4-compatible ::/96.
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) || (s[..6] == [0; 6] && s[6] != 0) {
        return IpAddr::V4(embedded_low());
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    ip
}

/// Cloud instance metadata services: refused even where private addresses are allowed.
fn is_cloud_metadata(ip: IpAddr) -> bool {
    const METADATA_V4: [Ipv4Addr; 4] = [
        Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack
        Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task metadata
        Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
        Ipv4Addr::new(168, 63, 129, 16),   // Azure wire server
    ];
    const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254); // AWS
    match ip {
        IpAddr::V4(v4) => METADATA_V4.contains(&v4),
        IpAddr::V6(v6) => v6 == METADATA_V6,
    }
}

/// Whether an address is globally routable: not loopback, private, shared (CGNAT),
/// link-local, unique-local, documentation, benchmarking, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const NON_PUBLIC: [(u32, u8); 16] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0a00_0000, 8),  // 10.0.0.0/8
        (0x6440_0000, 10), // 100.64.0.0/10 shared address space (CGNAT)
        (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
        (0xa9fe_0000, 16), // 169.254.0.0/16 link-local
        (0xac10_0000, 12), // 172.16.0.0/12
        (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
        (0xc000_0200, 24), // 192.0.2.0/24 documentation
        (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
        (0xc0a8_0000, 16), // 192.168.0.0/16
        (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
        (0xc633_6400, 24), // 198.51.100.0/24 documentation
        (0xcb00_7100, 24), // 203.0.113.0/24 documentation
        (0xe000_0000, 4),  // 224.0.0.0/4 multicast
        (0xf000_0000, 4),  // 240.0.0.0/4 reserved, broadcast
        (0xffff_ffff, 32), // 255.255.255.255 (inside the line above; kept explicit)
    ];
    let bits = u32::from(ip);
    !NON_PUBLIC
        .iter()
        .any(|&(network, len)| bits >> (32 - len) == network >> (32 - len))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    const NON_PUBLIC: [(u128, u8); 10] = [
        (0, 112),                          // ::/112: ::, ::1 and friends
        (0x0100_0000_0000_0000 << 64, 64), // 100::/64 discard
        (0x0064_ff9b_0001 << 80, 48),      // 64:ff9b:1::/48 local-use NAT64
        (0x2001_0000 << 96, 23),           // 2001::/23 IETF (Teredo, ORCHID, ...)
        (0x2001_0db8 << 96, 32),           // 2001:db8::/32 documentation
        (0xfc00 << 112, 7),                // fc00::/7 unique local
        (0xfe80 << 112, 10),               // fe80::/10 link-local
        (0xfec0 << 112, 10),               // fec0::/10 site-local (deprecated)
        (0xff00 << 112, 8),                // ff00::/8 multicast
        (0x3fff_0000 << 96, 20),           // 3fff::/20 documentation
    ];
    let bits = u128::from(ip);
    !NON_PUBLIC
        .iter()
        .any(|&(network, len)| bits >> (128 - len) == network >> (128 - len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CallbackPolicy {
        CallbackPolicy {
            allowed_hosts: None,
            allow_private: false,
            may_deliver: true,
        }
    }

    #[test]
    fn every_spelling_of_a_non_public_address_is_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.1/hook",
            "http://2130706433/hook",
            "http://0x7f.0.0.1/hook",
            "http://0x7f000001/hook",
            "http://017700000001/hook",
            "http://0177.0.0.1/hook",
            "http://0.0.0.0:8080/",
            "http://[::1]/hook",
            "http://[::]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[::ffff:7f00:1]/hook",
            "http://[::127.0.0.1]/hook",
            "http://[64:ff9b::7f00:1]/hook",
            "http://[2002:7f00:1::]/hook",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://198.18.0.1/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
        ] {
            assert!(
                matches!(policy().check_url(url), Err(CallbackError::NonPublic(_))),
                "{url} was accepted: {:?}",
                policy().check_url(url)
            );
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_literal_check() {
        for url in [
            "https://hooks.example.com/designer",
            "http://93.184.216.34/hook",
            "http://[2606:4700::1111]/hook",
            "https://172.32.0.1/",
            "https://100.128.0.1/",
        ] {
            assert!(policy().check_url(url).is_ok(), "{url} was refused");
        }
    }

    #[test]
    fn schemes_credentials_and_length_are_checked() {
        let p = policy();
        assert_eq!(p.check_url("ftp://x.example/"), Err(CallbackError::Scheme));
        assert_eq!(
            p.check_url("file:///etc/passwd"),
            Err(CallbackError::Scheme)
        );
        assert_eq!(
            p.check_url("http://user:pw@x.example/"),
            Err(CallbackError::Credentials)
        );
        assert!(matches!(
            p.check_url("not a url"),
            Err(CallbackError::Malformed(_))
        ));
        let long = format!("https://x.example/{}", "a".repeat(CALLBACK_URL_MAX_LEN));
        assert_eq!(p.check_url(&long), Err(CallbackError::TooLong));
    }

    #[test]
    fn private_addresses_pass_on_test_rigs_but_metadata_never_does() {
        let rig = CallbackPolicy {
            allow_private: true,
            ..policy()
        };
        assert!(rig.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(rig.check_url("http://[::1]:9000/hook").is_ok());
        for url in [
            "http://169.254.169.254/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.100.100.200/",
        ] {
            assert!(rig.check_url(url).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn the_allow_list_names_exact_hosts() {
        let listed = CallbackPolicy {
            allowed_hosts: Some(vec!["hooks.example.com".to_owned()]),
            ..policy()
        };
        assert!(listed.check_url("https://HOOKS.example.com./x").is_ok());
        for url in [
            "https://evil.example.com/",
            "https://hooks.example.com.evil.net/",
            "https://93.184.216.34/",
        ] {
            assert_eq!(
                listed.check_url(url),
                Err(CallbackError::HostNotAllowed),
                "{url}"
            );
        }
    }

    #[test]
    fn without_a_secret_callbacks_are_refused_unless_allowed() {
        let unsigned = CallbackPolicy {
            may_deliver: false,
            ..policy()
        };
        assert_eq!(
            unsigned.check_url("https://hooks.example.com/"),
            Err(CallbackError::Unsigned)
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_submission() {
        let refused = policy().check("http://localhost:8080/api/v1/design").await;
        assert!(
            matches!(refused, Err(CallbackError::NonPublic(_))),
            "{refused:?}"
        );
        let unknown = policy().check("http://no-such-host.invalid/").await;
        assert_eq!(unknown, Err(CallbackError::Unresolvable));
    }
}
