//! The guard: one pipeline that runs before every flow start and every step's own code, so no journey
//! throttles by hand and every path that checks a guessable secret counts against the same state.
//!
//! The guard looks at what a submission attempts (a guess at a secret of an account, a mail sent for an
//! account, a new flow) and reserves the attempt in every bucket it concerns with one conditional
//! statement, before any secret is checked (RL-01, RL-03, A-11). Its verdict is allow, delay, challenge or
//! deny, with named reasons, and is recorded on the flow's event: the seat a risk engine will take.
//!
//! - Accounts are keyed on a keyed hash of the identity that holds the identifier, or of the normalised
//!   identifier when none does, so `user@example.com.`, fullwidth letters, a phone number with separators
//!   or the same customer's username all share one account's counters, and unknown accounts behave alike
//!   (RL-05). A proven secret resets the account; a new code never does (RL-01, A-25).
//! - An account is counted per client and, for all clients together, in one shared bucket with a larger
//!   allowance; a known device of its owner ([`crate::known_devices`]) is counted on its own instead of
//!   the shared bucket, so a flood from many addresses slows strangers down, never the owner (RL-02).
//! - Clients are counted per IPv4 address, and per IPv6 /64 and /48 (one /64 is one customer's network).
//!   Guesses from a client are counted as failures (a success gives its hit back).
//! - Delays grow per failure beyond a free allowance and are capped, so an attacker slows a customer down
//!   but never locks them out for good (RL-02). Quotas on flow starts and mail sends, per client and for
//!   the whole deployment, refuse outright until their window ends (RL-06): the edge answers 429.
use std::net::IpAddr;

use serde_json::{Value, json};
use tessera_model::flow::{Flow, FlowKind};
use tessera_model::identifier::{self, IdentifierKind};
use tessera_store::throttles::Bucket;
use time::Duration;

use crate::flows::state::{Awaits, awaits};
use crate::flows::{FlowContext, FlowInput, Step, field, raw_field};
use crate::methods::{
    Account as MethodAccount, Charge as MethodCharge, Lookup as MethodLookup, Secret,
};
use crate::{Result, Tessera};

/// Failures before delays start: at one account from one client (an IPv4 address or IPv6 /64), or from
/// one known device of its owner; at one account from everywhere else together; from a client at any
/// account, and from an IPv6 /48.
const ACCOUNT_CLIENT_FREE: i64 = 5;
const ACCOUNT_FREE: i64 = 20;
const CLIENT_FREE: i64 = 30;
const CLIENT48_FREE: i64 = 100;
/// Mails sent for one account before they are slowed down: asked for from one client or known device,
/// and from everywhere else together.
const MAIL_ACCOUNT_CLIENT_FREE: i64 = 5;
const MAIL_ACCOUNT_FREE: i64 = 10;
/// Wrong user codes (device grant) before delays start, from one client address and from an IPv6 /48;
/// guesses at a tenant's user codes from everywhere per 10 minutes (RL-03). A user code has about 2^34.6
/// values and lives 10 minutes: at these rates a guess's chance stays negligible.
const USER_CODE_CLIENT_FREE: i64 = 10;
const USER_CODE_CLIENT48_FREE: i64 = 40;
const USER_CODE_TENANT_QUOTA: i64 = 1_000;
/// The reason the tenant's quota of anonymous user-code guesses gives.
const USER_CODE_TENANT: &str = "user_code_tenant";
/// Progressive buckets forget this long after their last hit.
const FORGET_AFTER: Duration = Duration::hours(24);
/// The windows the quotas count in.
const START_WINDOW: Duration = Duration::minutes(10);
const MAIL_WINDOW: Duration = Duration::hours(1);
const GLOBAL_WINDOW: Duration = Duration::minutes(1);
/// An IPv6 /48 holds many /64 networks: its quotas are this many times a client's.
const PER_48: i64 = 4;

/// Quotas on costly operations (RL-06), from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Flows one client address (IPv6: /64) may start per 10 minutes.
    pub flow_starts_per_client: i64,
    /// Flows the whole deployment starts per minute.
    pub flow_starts_global: i64,
    /// Mails one client address may cause per hour.
    pub mails_per_client: i64,
    /// Mails the whole deployment queues per minute.
    pub mails_global: i64,
    /// New passwords one client address may have hashed per 10 minutes (sign-up, recovery): each costs an
    /// argon2id run whatever the step answers next (RL-06).
    pub password_hashes_per_client: i64,
    /// Device authorizations (RFC 8628) one client address (IPv6: /64) may start per 10 minutes: each
    /// stores a pending grant and plants a user code (R8-3, RL-06).
    pub device_authorizations_per_address: i64,
    /// Device authorizations one confidential OAuth client may start per 10 minutes, from everywhere
    /// together (a public client is counted per address only, R9-1).
    pub device_authorizations_per_app: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            flow_starts_per_client: 300,
            flow_starts_global: 20_000,
            mails_per_client: 60,
            mails_global: 2_000,
            password_hashes_per_client: 120,
            device_authorizations_per_address: 60,
            device_authorizations_per_app: 6_000,
        }
    }
}

/// What the guard decided about an attempt. `reasons` name the buckets that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Too many failures: try again after `seconds`. The flow stays where it is and says so.
    Delay {
        seconds: i64,
        reasons: Vec<&'static str>,
    },
    /// Prove to be a person first. Nothing asks for it yet: a risk engine will.
    Challenge {
        reasons: Vec<&'static str>,
    },
    /// A quota is used up until `seconds` have passed: the edge answers 429 with `Retry-After`.
    Deny {
        seconds: i64,
        reasons: Vec<&'static str>,
    },
}

impl Verdict {
    /// The verdict as recorded on the flow's event.
    pub fn to_json(&self) -> Value {
        match self {
            Verdict::Allow => json!({"verdict": "allow"}),
            Verdict::Delay { seconds, reasons } => {
                json!({"verdict": "delay", "seconds": seconds, "reasons": reasons})
            }
            Verdict::Challenge { reasons } => json!({"verdict": "challenge", "reasons": reasons}),
            Verdict::Deny { seconds, reasons } => {
                json!({"verdict": "deny", "seconds": seconds, "reasons": reasons})
            }
        }
    }
}

/// What happens to a bucket's hit when the attempt proves its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// The account starts again from nothing.
    Reset,
    /// The client gets the hit back: only failures add up.
    Refund,
    /// Starts and mails count whatever happens next.
    Keep,
}

/// One bucket an attempt is charged to.
#[derive(Debug, Clone)]
struct Charge {
    bucket: Bucket,
    reason: &'static str,
    settle: Settle,
    /// A quota: when it holds, the answer is deny (429), not delay.
    quota: bool,
}

/// The guard's answer for one submission: its verdict and, when allowed, the hits to settle afterwards.
#[derive(Debug, Clone)]
pub(crate) struct Guarded {
    pub(crate) verdict: Verdict,
    charges: Vec<Charge>,
    /// The sign-in candidate read to name the account, handed on to the method.
    pub(crate) lookup: Option<MethodLookup>,
}

impl Guarded {
    fn allow(charges: Vec<Charge>) -> Self {
        Self {
            verdict: Verdict::Allow,
            charges,
            lookup: None,
        }
    }

    /// The verdict for the flow's event, when the guard had anything to count.
    pub(crate) fn event(&self) -> Option<Value> {
        (!self.charges.is_empty() || self.verdict != Verdict::Allow).then(|| self.verdict.to_json())
    }
}

/// The buckets a user-code guess was charged to.
pub(crate) struct UserCodeCharges(Vec<Charge>);

/// The guard's answer to a typed user code.
pub(crate) enum UserCodeGuard {
    /// Counted: look the code up, and refund the charges when it is right.
    Allowed(UserCodeCharges),
    /// Only the tenant's quota of anonymous guesses holds it back: a signed-in customer is counted per
    /// account instead, so signing in first lets them through (R9-2).
    SignInFirst { retry_after: i64 },
}

/// What a submission attempts, as far as the guard is concerned. An account is named by its identity
/// (`identity:<id>`) when one holds the identifier, so every identifier of a customer meets in one
/// bucket, and by the normalised identifier otherwise.
enum Attempt {
    Nothing,
    /// A guess at a secret of these accounts (a password, or a mailed code): the one signing in, and for a
    /// code that proves an address, the address's own account too, which no password success of the
    /// guesser resets.
    Guess(Vec<String>, Counted),
    /// A new password to hash: costly whatever happens next, so a quota per client (RL-06).
    Hash,
    /// A mail sent for these accounts: the one asking and, when the mail goes to an address it does not
    /// hold yet (an email change), that address's own account, so mails to one recipient are counted
    /// per recipient whoever asks.
    Mail(Vec<String>),
}

/// What an account's buckets count. Guesses are counted per authenticator (RL-01): a flood of wrong
/// passwords does not hold back the mailed code that recovers the account, and the other way round.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Passwords,
    Codes,
    Mails,
}

/// Whether a submission carries a new password to hash (sign-up, recovery, the settings change): each
/// costs argon2id whatever the step answers, so each is charged to the client's quota (RL-06).
fn hashes_a_new_password(flow: &Flow, input: &FlowInput) -> bool {
    match flow.kind {
        FlowKind::Settings | FlowKind::Login => false,
        _ => awaits(flow) == Awaits::NewPassword && raw_field(input, "password").is_some(),
    }
}

/// The account of a normalised identifier: the identity holding it, else the identifier itself.
fn account_name(
    kind: IdentifierKind,
    value: &str,
    held: Option<tessera_model::IdentityId>,
) -> String {
    match held {
        Some(id) => identity_account(id),
        None => format!("{}:{value}", kind.as_str()),
    }
}

/// How the guard names the account of an identity.
pub(crate) fn identity_account(id: tessera_model::IdentityId) -> String {
    format!("identity:{id}")
}

/// The normalised form of what someone typed to sign in: the kind is read from its shape, as sign-in
/// reads it (an `@` is an email, a leading `+` a phone number, anything else a username).
pub(crate) fn normalised_identifier(raw: &str) -> Option<identifier::NormalizedIdentifier> {
    let raw = raw.trim();
    let kind = if raw.contains(['@', '\u{FF20}', '\u{FE6B}']) {
        IdentifierKind::Email
    } else if raw.starts_with(['+', '\u{FF0B}']) {
        IdentifierKind::Phone
    } else {
        IdentifierKind::Username
    };
    identifier::normalize(kind, raw).ok()
}

/// The address blocks a client is counted in: an IPv4 address, or an IPv6 /64 and /48 (IPv4-mapped
/// IPv6 is IPv4). Each with whether it is the wider /48.
fn client_blocks(ip: Option<&str>) -> Vec<(String, bool)> {
    let Some(ip) = ip else {
        return Vec::new();
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => vec![(format!("{v4}"), false)],
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => vec![(format!("{v4}"), false)],
            None => {
                let [a, b, c, d, ..] = v6.segments();
                vec![
                    (format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"), false),
                    (format!("{a:x}:{b:x}:{c:x}::/48"), true),
                ]
            }
        },
        // `client_ip` only hands over parsed addresses; anything else is its own bucket.
        Err(_) => vec![(ip.to_owned(), false)],
    }
}

/// The charges with each bucket once (a step may name one bucket for two reasons), and their buckets.
fn distinct(mut charges: Vec<Charge>) -> (Vec<Charge>, Vec<Bucket>) {
    let mut seen = std::collections::HashSet::new();
    charges.retain(|c| seen.insert(c.bucket.key.clone()));
    let buckets = charges.iter().map(|c| c.bucket.clone()).collect();
    (charges, buckets)
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.whole_microseconds()).unwrap_or(i64::MAX)
}

fn progressive(key: String, free: i64, reason: &'static str, settle: Settle) -> Charge {
    Charge {
        bucket: Bucket {
            key,
            free,
            window_us: us(FORGET_AFTER),
            quota: false,
            capped: false,
        },
        reason,
        settle,
        quota: false,
    }
}

/// Guesses at an account stop for a day after [`tessera_store::throttles::ABSOLUTE_LIMIT`] consecutive
/// failures (RL-01); a known device's own bucket too, so a stolen device token buys no more.
fn capped(mut c: Charge, counted: Counted) -> Charge {
    c.bucket.capped = matches!(counted, Counted::Passwords | Counted::Codes);
    c
}

fn quota(key: String, free: i64, window: Duration, reason: &'static str) -> Charge {
    Charge {
        bucket: Bucket {
            key,
            free: free.max(1),
            window_us: us(window),
            quota: true,
            capped: false,
        },
        reason,
        settle: Settle::Keep,
        quota: true,
    }
}

impl Tessera {
    /// The key of an account's bucket: a keyed hash of the tenant and the normalised identifier, so no
    /// address is stored in the clear and every spelling of one identifier meets in one bucket.
    fn account_key(&self, prefix: &str, tenant: &str, normalised: &str) -> String {
        let digest = self
            .keys()
            .secret_hasher
            .hash(&format!("guard\u{0}{tenant}\u{0}{normalised}"));
        let short: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{prefix}:{tenant}:{short}")
    }

    /// The account a normalised identifier names: its identity when one holds it, else the identifier.
    /// One indexed read, hit or miss (RL-05).
    async fn account_of(&self, flow: &Flow, kind: IdentifierKind, value: &str) -> Result<String> {
        let mut conn = self.db().conn().await?;
        let held = tessera_store::identities::by_identifier(&mut conn, flow.tenant_id, kind, value)
            .await?;
        Ok(account_name(kind, value, held))
    }

    /// What a submission attempts, from the flow's state and the fields sent.
    async fn attempt(
        &self,
        ctx: &FlowContext,
        flow: &Flow,
        input: &FlowInput,
    ) -> Result<(Attempt, Option<MethodLookup>)> {
        let method = input.get("method").map(String::as_str);
        let email_field = field(input, "email")
            .and_then(|raw| identifier::normalize(IdentifierKind::Email, raw).ok())
            .map(|n| n.value);
        let code = field(input, "code").is_some();
        let email = match (flow.kind, flow.state.as_str()) {
            (FlowKind::Login, _) => {
                let (charge, method) = crate::flows::login::charge(self, flow, input).await?;
                return self.method_attempt(flow, charge, method).await;
            }
            (FlowKind::Settings, _) => {
                return Ok((self.settings_attempt(ctx, flow, input).await?, None));
            }
            // What the journey's typed state waits for (an unreadable one: nothing, and the step stays).
            _ => match awaits(flow) {
                Awaits::NewPassword if hashes_a_new_password(flow, input) => {
                    return Ok((Attempt::Hash, None));
                }
                Awaits::Address => email_field.map(|e| (e, Counted::Mails)),
                Awaits::Code {
                    email,
                    resend: true,
                } if method == Some("resend") => Some((email, Counted::Mails)),
                Awaits::Code { email, .. } if code => Some((email, Counted::Codes)),
                _ => None,
            },
        };
        let Some((email, counted)) = email else {
            return Ok((Attempt::Nothing, None));
        };
        let account = self.account_of(flow, IdentifierKind::Email, &email).await?;
        let attempt = match counted {
            c @ (Counted::Codes | Counted::Passwords) => Attempt::Guess(vec![account], c),
            Counted::Mails => Attempt::Mail(vec![account]),
        };
        Ok((attempt, None))
    }

    /// Whether a settings submission makes an offered sign-in method hash a new secret (RL-06).
    async fn settings_hashes(&self, flow: &Flow, input: &FlowInput) -> Result<bool> {
        Ok(match input.get("method") {
            Some(m) => self
                .offered_method(flow.tenant_id, m)
                .await?
                .is_some_and(|m| m.settings_hashes(input)),
            None => false,
        })
    }

    /// What a sign-in method said a submission checks or sends, as the guard counts it. `method`: the
    /// method's id, the kind of credential it checks; the row read to name the account is kept for it.
    async fn method_attempt(
        &self,
        flow: &Flow,
        charge: MethodCharge,
        method: Option<&'static str>,
    ) -> Result<(Attempt, Option<MethodLookup>)> {
        Ok(match charge {
            MethodCharge::Nothing => (Attempt::Nothing, None),
            MethodCharge::Guess { account, secret } => {
                let counted = match secret {
                    Secret::Password => Counted::Passwords,
                    Secret::Code => Counted::Codes,
                };
                let (account, lookup) = self.method_account(flow, account, method).await?;
                (Attempt::Guess(vec![account], counted), lookup)
            }
            MethodCharge::Mail { account } => {
                let (account, lookup) = self.method_account(flow, account, method).await?;
                (Attempt::Mail(vec![account]), lookup)
            }
        })
    }

    /// The account key of what a method named: an identity a factor proved, or what was typed. For
    /// what was typed, the identifier's sign-in candidate with the method's credential (one indexed
    /// read, hit or miss: RL-05) names the account, and is handed on so the method need not read it
    /// again.
    async fn method_account(
        &self,
        flow: &Flow,
        account: MethodAccount,
        method: Option<&'static str>,
    ) -> Result<(String, Option<MethodLookup>)> {
        let raw = match account {
            MethodAccount::Identity(id) => return Ok((identity_account(id), None)),
            MethodAccount::Identifier(raw) => raw,
        };
        let Some(n) = normalised_identifier(&raw) else {
            return Ok((format!("unparsed:{}", raw.trim().to_lowercase()), None));
        };
        let Some(credential_kind) = method else {
            return Ok((self.account_of(flow, n.kind, &n.value).await?, None));
        };
        let mut conn = self.db().conn().await?;
        let candidate = tessera_store::identities::sign_in_candidate(
            &mut conn,
            flow.tenant_id,
            n.kind,
            &n.value,
            credential_kind,
        )
        .await?;
        drop(conn);
        let account = account_name(n.kind, &n.value, candidate.as_ref().map(|c| c.identity));
        Ok((
            account,
            Some(MethodLookup {
                kind: n.kind,
                value: n.value,
                credential_kind,
                candidate,
            }),
        ))
    }

    /// The settings page checks the current password and the code of an email change (guesses at the
    /// signed-in account's secrets) and sends codes; only a live session of the flow's identity counts.
    async fn settings_attempt(
        &self,
        ctx: &FlowContext,
        flow: &Flow,
        input: &FlowInput,
    ) -> Result<Attempt> {
        let method = input.get("method").map(String::as_str);
        // A sign-in method's credential change: what the method says it checks.
        let credential = match method {
            Some(m) => self.offered_method(flow.tenant_id, m).await?,
            None => None,
        };
        let guess = match method {
            Some("confirm_email") => field(input, "code").is_some(),
            Some("email") => false,
            _ if credential.is_some() => false,
            _ => return Ok(Attempt::Nothing),
        };
        let (Some(token), Some(identity)) = (&ctx.session_token, flow.identity_id) else {
            return Ok(Attempt::Nothing);
        };
        let Some(session) = self.sessions().from_token(&ctx.tenant, token).await? else {
            return Ok(Attempt::Nothing);
        };
        if session.session.identity_id != identity {
            return Ok(Attempt::Nothing);
        }
        if let Some(m) = credential {
            let (attempt, _) = self
                .method_attempt(flow, m.settings_charge(identity, input), None)
                .await?;
            return Ok(attempt);
        }
        let account = identity_account(identity);
        if !guess {
            let mut accounts = vec![account];
            if let Some(target) = field(input, "email")
                .and_then(|raw| identifier::normalize(IdentifierKind::Email, raw).ok())
            {
                accounts.push(
                    self.account_of(flow, IdentifierKind::Email, &target.value)
                        .await?,
                );
            }
            return Ok(Attempt::Mail(accounts));
        }
        let mut accounts = vec![account];
        // The code of an email change proves the new address: guesses at it count against that
        // address as well, like the codes of a sign-up or verification for it, so signing in again
        // (which resets the guesser's own account) never buys fresh guesses at someone else's address.
        if method == Some("confirm_email")
            && let Some(target) = crate::flows::settings::pending_email(flow)
        {
            accounts.push(
                self.account_of(flow, IdentifierKind::Email, &target)
                    .await?,
            );
        }
        Ok(Attempt::Guess(accounts, Counted::Codes))
    }

    /// The buckets of one account: a known device of its owner is counted on its own; any other client
    /// on its own and, with everyone else, on the account's shared bucket (RL-02). The shared bucket is
    /// what a flood from many addresses fills, and the owner's known devices never wait for it.
    fn account_charges(
        &self,
        ctx: &FlowContext,
        tenant: &str,
        account: &str,
        counted: Counted,
    ) -> Vec<Charge> {
        let (prefix, one_free, all_free, reason, settle) = match counted {
            Counted::Passwords | Counted::Codes => (
                if counted == Counted::Passwords {
                    "acct"
                } else {
                    "code"
                },
                ACCOUNT_CLIENT_FREE,
                ACCOUNT_FREE,
                "account",
                Settle::Reset,
            ),
            Counted::Mails => (
                "mail",
                MAIL_ACCOUNT_CLIENT_FREE,
                MAIL_ACCOUNT_FREE,
                "mail_account",
                Settle::Keep,
            ),
        };
        let named = |suffix: &str| -> &'static str {
            match (counted, suffix) {
                (Counted::Passwords | Counted::Codes, "device") => "account_device",
                (Counted::Passwords | Counted::Codes, _) => "account_client",
                (Counted::Mails, "device") => "mail_account_device",
                (Counted::Mails, _) => "mail_account_client",
            }
        };
        if let Some(device) = self.known_device(ctx.device.as_deref(), tenant, account) {
            let key = self.account_key(
                &format!("{prefix}-dev"),
                tenant,
                &format!("{account}\u{0}{device}"),
            );
            return vec![capped(
                progressive(key, one_free, named("device"), settle),
                counted,
            )];
        }
        // The shared bucket is never held for a day: that would let anyone hold every stranger's device,
        // the owner's new ones included, out of the account (red team round 3). It stays progressive.
        let shared = progressive(
            self.account_key(prefix, tenant, account),
            all_free,
            reason,
            settle,
        );
        let mut c = Vec::new();
        for (block, wide) in client_blocks(ctx.client.ip.as_deref()) {
            if !wide {
                let key = self.account_key(
                    &format!("{prefix}-client"),
                    tenant,
                    &format!("{account}\u{0}{block}"),
                );
                c.push(capped(
                    progressive(key, one_free, named("client"), settle),
                    counted,
                ));
            }
        }
        c.push(shared);
        c
    }

    /// The client's quota of new passwords to hash.
    fn hash_charges(&self, ctx: &FlowContext) -> Vec<Charge> {
        let per_client = self.settings().quotas.password_hashes_per_client;
        self.client_charges(ctx, "hash", |key, wide| {
            if wide {
                quota(
                    key,
                    per_client.saturating_mul(PER_48),
                    START_WINDOW,
                    "password_hashes_client_48",
                )
            } else {
                quota(key, per_client, START_WINDOW, "password_hashes_client")
            }
        })
    }

    fn client_charges(
        &self,
        ctx: &FlowContext,
        prefix: &str,
        charge: impl Fn(String, bool) -> Charge,
    ) -> Vec<Charge> {
        client_blocks(ctx.client.ip.as_deref())
            .into_iter()
            .map(|(block, wide)| charge(format!("{prefix}:{block}"), wide))
            .collect()
    }

    /// Runs the guard before a step: reserves what the submission attempts, or says why not.
    pub(crate) async fn guard_step(
        &self,
        ctx: &FlowContext,
        flow: &Flow,
        input: &FlowInput,
    ) -> Result<Guarded> {
        let tenant = flow.tenant_id.to_string();
        let q = self.settings().quotas;
        let (attempt, lookup) = self.attempt(ctx, flow, input).await?;
        let mut charges = match attempt {
            Attempt::Nothing => {
                let mut g = Guarded::allow(Vec::new());
                g.lookup = lookup;
                return Ok(g);
            }
            Attempt::Guess(accounts, counted) => {
                let mut c: Vec<Charge> = accounts
                    .iter()
                    .flat_map(|a| self.account_charges(ctx, &tenant, a, counted))
                    .collect();
                c.extend(self.client_charges(ctx, "guess", |key, wide| {
                    if wide {
                        progressive(key, CLIENT48_FREE, "client_48", Settle::Refund)
                    } else {
                        progressive(key, CLIENT_FREE, "client", Settle::Refund)
                    }
                }));
                c
            }
            Attempt::Hash => self.hash_charges(ctx),
            Attempt::Mail(accounts) => {
                let mut c: Vec<Charge> = accounts
                    .iter()
                    .flat_map(|a| self.account_charges(ctx, &tenant, a, Counted::Mails))
                    .collect();
                c.extend(self.client_charges(ctx, "mail", |key, wide| {
                    if wide {
                        quota(
                            key,
                            q.mails_per_client.saturating_mul(PER_48),
                            MAIL_WINDOW,
                            "mail_client_48",
                        )
                    } else {
                        quota(key, q.mails_per_client, MAIL_WINDOW, "mail_client")
                    }
                }));
                c.push(quota(
                    "mail:all".into(),
                    q.mails_global,
                    GLOBAL_WINDOW,
                    "mail_global",
                ));
                c
            }
        };
        // A settings change of password also hashes the new one: the client's quota counts it, and no
        // success gives it back (red team round 3, N1).
        if flow.kind == FlowKind::Settings && self.settings_hashes(flow, input).await? {
            charges.extend(self.hash_charges(ctx));
        }
        let mut guarded = self.reserve(charges).await?;
        guarded.lookup = lookup;
        Ok(guarded)
    }

    /// Runs the guard before a flow starts: every start writes a row and an event, so starts are a quota
    /// per client and for the deployment (RL-06). Settings flows need a session and are not counted.
    pub(crate) async fn guard_start(&self, ctx: &FlowContext, kind: FlowKind) -> Result<Guarded> {
        self.reserve(self.start_charges(ctx, kind)).await
    }

    /// [`Self::guard_start`] in the caller's write transaction, which inserts the flow it lets in: one
    /// commit for both where writes run one at a time (SQLite). The reservation is no less atomic; it
    /// becomes visible with the flow.
    pub(crate) async fn guard_start_in(
        &self,
        tx: &mut tessera_store::Tx,
        ctx: &FlowContext,
        kind: FlowKind,
    ) -> Result<Guarded> {
        self.reserve_in(tx, self.start_charges(ctx, kind)).await
    }

    fn start_charges(&self, ctx: &FlowContext, kind: FlowKind) -> Vec<Charge> {
        if kind == FlowKind::Settings {
            return Vec::new();
        }
        let q = self.settings().quotas;
        let mut charges = self.client_charges(ctx, "start", |key, wide| {
            if wide {
                quota(
                    key,
                    q.flow_starts_per_client.saturating_mul(PER_48),
                    START_WINDOW,
                    "flow_starts_client_48",
                )
            } else {
                quota(
                    key,
                    q.flow_starts_per_client,
                    START_WINDOW,
                    "flow_starts_client",
                )
            }
        });
        charges.push(quota(
            "start:all".into(),
            q.flow_starts_global,
            GLOBAL_WINDOW,
            "flow_starts_global",
        ));
        charges
    }

    /// Reserves an attempt in every bucket with one conditional statement, committed before the caller
    /// goes on, so a parallel attempt already sees it.
    async fn reserve(&self, charges: Vec<Charge>) -> Result<Guarded> {
        if charges.is_empty() {
            return Ok(Guarded::allow(charges));
        }
        let (charges, buckets) = distinct(charges);
        let (now, counted) =
            tessera_store::throttles::reserve_alone(self.db(), || self.now(), &buckets).await?;
        self.reserved(charges, &buckets, &counted, now).await
    }

    /// [`Self::reserve`] in the caller's transaction: counted when it commits. When the verdict is not
    /// allow nothing was counted (see [`tessera_store::throttles::reserve`]), so the caller may drop it.
    async fn reserve_in(
        &self,
        tx: &mut tessera_store::Tx,
        charges: Vec<Charge>,
    ) -> Result<Guarded> {
        let (charges, buckets) = distinct(charges);
        let now = self.now();
        let counted = tessera_store::throttles::reserve(tx, now, &buckets).await?;
        self.reserved(charges, &buckets, &counted, now).await
    }

    /// The verdict on a reservation that counted the attempt in the buckets `counted`: allow when that is
    /// all of them, else delay or deny for as long as the buckets holding it back say.
    async fn reserved(
        &self,
        charges: Vec<Charge>,
        buckets: &[Bucket],
        counted: &[String],
        now: time::OffsetDateTime,
    ) -> Result<Guarded> {
        if counted.len() == buckets.len() {
            return Ok(Guarded::allow(charges));
        }
        let keys: Vec<&str> = buckets.iter().map(|b| b.key.as_str()).collect();
        let mut conn = self.db().conn().await?;
        let holding = tessera_store::throttles::holding(&mut conn, now, &keys).await?;
        drop(conn);
        let mut seconds = 1;
        let mut reasons = Vec::new();
        let mut deny = false;
        for (key, until) in &holding {
            if let Some(c) = charges.iter().find(|c| &c.bucket.key == key) {
                seconds = seconds.max((*until - now).whole_seconds().max(1));
                reasons.push(c.reason);
                deny |= c.quota;
            }
        }
        if reasons.is_empty() {
            // Another node took the last free hit between the two statements.
            reasons.extend(
                charges
                    .iter()
                    .filter(|c| !counted.contains(&c.bucket.key))
                    .map(|c| c.reason),
            );
        }
        let verdict = if deny {
            Verdict::Deny { seconds, reasons }
        } else {
            Verdict::Delay { seconds, reasons }
        };
        Ok(Guarded {
            verdict,
            charges: Vec::new(),
            lookup: None,
        })
    }

    /// After a step: an attempt that proved its secret resets the account and gives the client its hit
    /// back, in the step's own transaction.
    pub(crate) async fn guard_settle(
        &self,
        tx: &mut tessera_store::Tx,
        guarded: &Guarded,
        step: &Step,
    ) -> Result<()> {
        if !step.proved() {
            return Ok(());
        }
        let of = |s: Settle| -> Vec<&str> {
            guarded
                .charges
                .iter()
                .filter(|c| c.settle == s)
                .map(|c| c.bucket.key.as_str())
                .collect()
        };
        let (reset, refund) = (of(Settle::Reset), of(Settle::Refund));
        if reset.is_empty() {
            return Ok(());
        }
        tessera_store::throttles::settle(tx, self.now(), &reset, &refund).await?;
        Ok(())
    }

    /// Counts a guess at a device grant's user code (RFC 8628 §5.1, RL-03) before it is looked at: per
    /// client address (IPv6: /64 and /48), progressively slowed beyond a small allowance; then, from a
    /// browser signed in as `account`, per account (progressively, as an address), else for the whole
    /// tenant as a quota, so anonymous guesses spread over many addresses still run out but never lock
    /// a signed-in customer out (RL-02, R9-2). `RateLimited` when an address or the account holds it
    /// back; `SignInFirst` when only the tenant's quota does; else the charges, for
    /// [`Self::guard_user_code_refund`].
    pub(crate) async fn guard_user_code(
        &self,
        ctx: &FlowContext,
        tenant: &tessera_model::tenant::Tenant,
        account: Option<tessera_model::IdentityId>,
    ) -> Result<UserCodeGuard> {
        let mut charges = self.client_charges(ctx, "usercode", |key, wide| {
            if wide {
                progressive(
                    key,
                    USER_CODE_CLIENT48_FREE,
                    "user_code_client_48",
                    Settle::Refund,
                )
            } else {
                progressive(
                    key,
                    USER_CODE_CLIENT_FREE,
                    "user_code_client",
                    Settle::Refund,
                )
            }
        });
        match account {
            Some(id) => charges.push(progressive(
                format!("usercode:{}", identity_account(id)),
                USER_CODE_CLIENT_FREE,
                "user_code_account",
                Settle::Refund,
            )),
            None => {
                // Only wrong codes use the tenant's quota up: a right one gives its hit back too, so
                // neither real use nor someone typing their own code over and over closes the page.
                let mut tenant_quota = quota(
                    format!("usercode-tenant:{}", tenant.id),
                    USER_CODE_TENANT_QUOTA,
                    START_WINDOW,
                    USER_CODE_TENANT,
                );
                tenant_quota.settle = Settle::Refund;
                charges.push(tenant_quota);
            }
        }
        let guarded = self.reserve(charges).await?;
        match guarded.verdict {
            Verdict::Allow => Ok(UserCodeGuard::Allowed(UserCodeCharges(guarded.charges))),
            Verdict::Deny { seconds, reasons }
                if !reasons.is_empty() && reasons.iter().all(|r| *r == USER_CODE_TENANT) =>
            {
                Ok(UserCodeGuard::SignInFirst {
                    retry_after: seconds,
                })
            }
            Verdict::Delay { seconds, .. } | Verdict::Deny { seconds, .. } => {
                Err(crate::CoreError::RateLimited {
                    retry_after: seconds,
                })
            }
            Verdict::Challenge { .. } => Err(crate::CoreError::RateLimited { retry_after: 1 }),
        }
    }

    /// Counts a device authorization (RFC 8628 §3.1) per client address (IPv6: /64 and /48) and, for a
    /// client that `authenticated` (the caller is the app), per OAuth client, as quotas in 10-minute
    /// windows (RL-06, R8-3): each stores a pending grant for 10 minutes, and a flood would plant codes
    /// a customer's typo could land on. A public client is braked per address only: anyone may speak
    /// for it, so a per-app quota would be a switch strangers could turn off (R9-1). `RateLimited` past
    /// any.
    pub(crate) async fn guard_device_authorization(
        &self,
        ip: Option<&str>,
        tenant: tessera_model::TenantId,
        client_id: &str,
        authenticated: bool,
    ) -> Result<()> {
        let q = self.settings().quotas;
        let mut charges: Vec<Charge> = client_blocks(ip)
            .into_iter()
            .map(|(block, wide)| {
                let key = format!("devauth:{block}");
                if wide {
                    quota(
                        key,
                        q.device_authorizations_per_address.saturating_mul(PER_48),
                        START_WINDOW,
                        "device_authorizations_client_48",
                    )
                } else {
                    quota(
                        key,
                        q.device_authorizations_per_address,
                        START_WINDOW,
                        "device_authorizations_client",
                    )
                }
            })
            .collect();
        if authenticated {
            charges.push(quota(
                format!("devauth-app:{}:{client_id}", tenant.0),
                q.device_authorizations_per_app,
                START_WINDOW,
                "device_authorizations_app",
            ));
        }
        match self.reserve(charges).await?.verdict {
            Verdict::Allow => Ok(()),
            Verdict::Delay { seconds, .. } | Verdict::Deny { seconds, .. } => {
                Err(crate::CoreError::RateLimited {
                    retry_after: seconds,
                })
            }
            Verdict::Challenge { .. } => Err(crate::CoreError::RateLimited { retry_after: 1 }),
        }
    }

    /// A user code that named a pending grant gives the address and the tenant's quota their hits back:
    /// only wrong guesses add up.
    pub(crate) async fn guard_user_code_refund(&self, charged: &UserCodeCharges) -> Result<()> {
        let refund: Vec<&str> = charged
            .0
            .iter()
            .filter(|c| c.settle == Settle::Refund)
            .map(|c| c.bucket.key.as_str())
            .collect();
        let mut tx = self.db().begin().await?;
        tessera_store::throttles::settle(&mut tx, self.now(), &[], &refund).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets buckets that neither hold anything back nor remember anything.
    pub async fn sweep_guard(&self) -> Result<u64> {
        let mut tx = self.db().begin().await?;
        let n = tessera_store::throttles::sweep(&mut tx, self.now()).await?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rl_03_spellings_of_one_identifier_meet() {
        let plain = normalised_identifier("user@example.com").map(|n| n.value);
        for spelling in [
            "user@example.com.",
            " USER@Example.COM ",
            "\u{FF55}\u{FF53}\u{FF45}\u{FF52}@example.com",
            "user\u{FF20}example.com",
        ] {
            assert_eq!(
                normalised_identifier(spelling).map(|n| n.value),
                plain,
                "{spelling}"
            );
        }
        let phone = normalised_identifier("+4915123456789").map(|n| n.value);
        assert!(phone.is_some());
        for spelling in [
            "+49 151 2345 6789",
            "+49-151-23456789",
            "+49 (151) 234 56789",
        ] {
            assert_eq!(
                normalised_identifier(spelling).map(|n| n.value),
                phone,
                "{spelling}"
            );
        }
    }

    #[test]
    fn rl_03_ipv6_is_counted_per_64_and_48() {
        let a = client_blocks(Some("2001:db8:1:2:aaaa::1"));
        let b = client_blocks(Some("2001:db8:1:2:bbbb::2"));
        let c = client_blocks(Some("2001:db8:1:3::1"));
        assert_eq!(a, b, "one /64 is one client");
        assert_ne!(a[0], c[0], "another /64 is another client");
        assert_eq!(a[1], c[1], "but the same /48");
        assert_eq!(
            client_blocks(Some("::ffff:192.0.2.1")),
            client_blocks(Some("192.0.2.1")),
            "IPv4-mapped IPv6 is IPv4"
        );
    }
}
