//! Known receiving providers and filtering services, and how to recognise them in a
//! reply's text.
//!
//! Recognition looks for names, host names and tags that only that provider writes
//! (Gmail's `gsmtp`, Microsoft's `protection.outlook.com`, Yahoo's `[TSS04]`,
//! Orange's `OFR…` codes). Route limits and presets per provider build on this type.

use std::fmt;

/// A receiving mail provider or filtering service with replies of its own.
///
/// With the `serde` feature it is stored as its [`as_str`](Provider::as_str) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Provider {
    /// Gmail and Google Workspace.
    Google,
    /// Outlook.com, Hotmail, Microsoft 365 / Exchange Online Protection.
    Microsoft,
    /// Yahoo and AOL (one mail platform).
    Yahoo,
    /// Apple iCloud Mail (icloud.com, me.com, mac.com).
    Apple,
    /// Comcast (Xfinity).
    Comcast,
    /// Cox Communications.
    Cox,
    /// Spectrum / Charter.
    Spectrum,
    /// GMX, web.de and IONOS (United Internet's mail platform).
    Gmx,
    /// GoDaddy (Workspace Email, secureserver.net).
    GoDaddy,
    /// Orange / Wanadoo.
    Orange,
    /// Free (free.fr).
    Free,
    /// Zoho Mail.
    Zoho,
    /// Yandex Mail.
    Yandex,
    /// Mail.ru.
    MailRu,
    /// Tencent QQ Mail.
    Qq,
    /// Mimecast (filtering service).
    Mimecast,
    /// Proofpoint (filtering service).
    Proofpoint,
    /// Barracuda (filtering appliance and cloud).
    Barracuda,
}

impl Provider {
    /// Every provider, in declaration order.
    pub const ALL: &'static [Provider] = &[
        Provider::Google,
        Provider::Microsoft,
        Provider::Yahoo,
        Provider::Apple,
        Provider::Comcast,
        Provider::Cox,
        Provider::Spectrum,
        Provider::Gmx,
        Provider::GoDaddy,
        Provider::Orange,
        Provider::Free,
        Provider::Zoho,
        Provider::Yandex,
        Provider::MailRu,
        Provider::Qq,
        Provider::Mimecast,
        Provider::Proofpoint,
        Provider::Barracuda,
    ];

    /// The provider of a lowercase name ([`as_str`](Provider::as_str)).
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.iter().copied().find(|p| p.as_str() == name)
    }

    /// The lowercase name, as in the corpus and in text output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Yahoo => "yahoo",
            Provider::Apple => "apple",
            Provider::Comcast => "comcast",
            Provider::Cox => "cox",
            Provider::Spectrum => "spectrum",
            Provider::Gmx => "gmx",
            Provider::GoDaddy => "godaddy",
            Provider::Orange => "orange",
            Provider::Free => "free",
            Provider::Zoho => "zoho",
            Provider::Yandex => "yandex",
            Provider::MailRu => "mailru",
            Provider::Qq => "qq",
            Provider::Mimecast => "mimecast",
            Provider::Proofpoint => "proofpoint",
            Provider::Barracuda => "barracuda",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Phrases (lowercase) that only the provider's own servers write in replies. When a
/// reply holds markers of several, the first provider in this list wins.
///
/// Sources: the host names and help links in each provider's replies as collected in the
/// corpus (`tests/data/replies.tsv`) and the providers' postmaster pages.
pub(crate) const MARKERS: &[(Provider, &[&str])] = &[
    // "- gsmtp" ends every Gmail reply; help links point to support.google.com.
    (Provider::Google, &["gsmtp", "google.com", "gmail"]),
    (
        Provider::Microsoft,
        &[
            "outlook.com",
            "microsoft",
            "hotmail",
            "aka.ms/",
            "resolver.adr.",
        ],
    ),
    // Yahoo tags its deferrals [TSxx] and its own status codes 4.16.5x.
    (
        Provider::Yahoo,
        &[
            "yahoo",
            "verizonmedia",
            "[tss0",
            "[ts0",
            "- 4.16.5",
            "aol.com",
        ],
    ),
    (
        Provider::Apple,
        &["icloud", "apple.com", " me.com", "mac.com"],
    ),
    (Provider::Comcast, &["comcast"]),
    (Provider::Cox, &["cox.com", "cox.net"]),
    (Provider::Spectrum, &["spectrum.net", "charter.net"]),
    // United Internet's MX software answers "Nemesis ESMTP".
    (
        Provider::Gmx,
        &["gmx.", "web.de", "kundenserver", "nemesis esmtp", "ionos"],
    ),
    (
        Provider::GoDaddy,
        &["secureserver.net", "godaddy", "ibsmtp", "bizsmtp"],
    ),
    // Orange's MX hosts are mwinfNNNN; its reply codes are OFRnnn_nnn.
    (
        Provider::Orange,
        &["mwinf", "ofr0", "ofr_", "orange.fr", "wanadoo"],
    ),
    (Provider::Free, &["free.fr", "proxad"]),
    (Provider::Zoho, &["zoho"]),
    (Provider::Yandex, &["yandex", "ya.cc/"]),
    (Provider::MailRu, &["mail.ru"]),
    (Provider::Qq, &["qq.com"]),
    (Provider::Mimecast, &["mimecast"]),
    (Provider::Proofpoint, &["proofpoint", "pphosted"]),
    (Provider::Barracuda, &["barracuda", "cuda_nsu"]),
];

/// Where each provider receives mail: MX host suffixes (every domain hosted there, such
/// as any Google Workspace domain) and the provider's own mailbox domains.
///
/// Sources: MX suffixes as KumoMTA's shaping data groups providers
/// (`assets/policy-extras/shaping.toml`: `.google.com`, `.googlemail.com`,
/// `.yahoodns.net`, `.olc.protection.outlook.com`, `.mail.protection.outlook.com`,
/// `.mx.microsoft`, `.icloud.com`, `.mimecast.com`); the others from the providers' own
/// MX records as published in DNS.
const HOSTS: &[(Provider, &[&str], &[&str])] = &[
    (
        Provider::Google,
        &[".google.com", ".googlemail.com"],
        &["gmail.com", "googlemail.com"],
    ),
    (
        Provider::Microsoft,
        &[".protection.outlook.com", ".mx.microsoft"],
        &["outlook.com", "hotmail.com", "live.com", "msn.com"],
    ),
    (
        Provider::Yahoo,
        &[".yahoodns.net"],
        &[
            "yahoo.com",
            "ymail.com",
            "rocketmail.com",
            "aol.com",
            "yahoo.co.uk",
            "yahoo.fr",
        ],
    ),
    (
        Provider::Apple,
        &[".icloud.com"],
        &["icloud.com", "me.com", "mac.com"],
    ),
    (Provider::Comcast, &[".comcast.net"], &["comcast.net"]),
    (Provider::Cox, &[], &["cox.net"]),
    (
        Provider::Spectrum,
        &[],
        &["charter.net", "spectrum.net", "roadrunner.com"],
    ),
    (
        Provider::Gmx,
        &[".gmx.net", ".web.de", ".mail.com", ".kundenserver.de"],
        &["gmx.de", "gmx.net", "gmx.com", "web.de", "mail.com"],
    ),
    (Provider::GoDaddy, &[".secureserver.net"], &[]),
    (
        Provider::Orange,
        &[".orange.fr"],
        &["orange.fr", "wanadoo.fr"],
    ),
    (Provider::Free, &[".free.fr"], &["free.fr"]),
    (
        Provider::Zoho,
        &[".zoho.com", ".zoho.eu"],
        &["zoho.com", "zohomail.com"],
    ),
    (
        Provider::Yandex,
        &[".yandex.net", ".yandex.ru"],
        &["yandex.ru", "yandex.com"],
    ),
    (
        Provider::MailRu,
        &[".mail.ru"],
        &["mail.ru", "bk.ru", "inbox.ru", "list.ru"],
    ),
    (Provider::Qq, &[".qq.com"], &["qq.com"]),
    (
        Provider::Mimecast,
        &[".mimecast.com", ".mimecast.co.za", ".mimecast-offshore.com"],
        &[],
    ),
    (
        Provider::Proofpoint,
        &[".pphosted.com", ".ppe-hosted.com"],
        &[],
    ),
    (Provider::Barracuda, &[".barracudanetworks.com"], &[]),
];

impl Provider {
    /// The provider whose MX host this is, from its name (already lowercase, without
    /// trailing dot): `gmail-smtp-in.l.google.com` is Google, so is every Google
    /// Workspace domain's `aspmx.l.google.com`.
    pub fn from_mx_host(host: &str) -> Option<Provider> {
        HOSTS.iter().find_map(|(provider, suffixes, _)| {
            suffixes
                .iter()
                .any(|suffix| host.ends_with(suffix) || host == &suffix[1..])
                .then_some(*provider)
        })
    }

    /// The provider whose own mailbox domain this is (lowercase, no trailing dot), such
    /// as `gmail.com` or `aol.com`. Hosted domains are only known from their MX host.
    pub fn from_domain(domain: &str) -> Option<Provider> {
        HOSTS
            .iter()
            .find_map(|(provider, _, domains)| domains.contains(&domain).then_some(*provider))
    }
}
