//! The scenario file of `simulate` (schema: docs/scenario.md) and its checks.
//!
//! Every error names the file, the line and column, and the field (`script[3].mode`).
//! References between parts (a step's store, an arrival's transport) are checked where
//! they are written, during deserialization, so their errors carry that line too: a first
//! pass reads only what the file declares (stores, transports, limit) and the main pass
//! checks against it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::num::NonZeroU64;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::spec::parse_mode_spec;

/// A parsed, checked scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the output's first line.
    #[serde(default)]
    pub name: Option<String>,
    /// For the reader of the file; in the JSON output only.
    #[serde(default)]
    pub description: Option<String>,
    /// Seeds the load's jitter and the transports' failures (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// The spooler's PURGE deadline, in simulated ms.
    #[serde(default = "default_purge_deadline")]
    pub purge_deadline_ms: u64,
    /// Strict validation of the logoff flags; lenient, as real MAPI, by default.
    #[serde(default)]
    pub strict: bool,
    /// The run is cut at this simulated time even if transfers could go on.
    #[serde(default = "default_limit")]
    pub limit_ms: NonZeroU64,
    pub stores: Stores,
    #[serde(default)]
    pub transports: Transports,
    #[serde(default)]
    pub load: Vec<Load>,
    #[serde(default)]
    pub script: Script,
}

fn default_purge_deadline() -> u64 {
    30_000
}

const DEFAULT_LIMIT_MS: u64 = 60_000;

fn default_limit() -> NonZeroU64 {
    NonZeroU64::new(DEFAULT_LIMIT_MS).expect("non-zero")
}

fn default_poll() -> NonZeroU64 {
    NonZeroU64::new(50).expect("non-zero")
}

/// A message store.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    pub id: String,
    /// The store holds the default inbox: inbound messages are delivered to it. Only such
    /// stores may have arrivals in the load.
    #[serde(default)]
    pub default_inbox: bool,
}

/// The stores: at least one, ids non-empty and unique.
#[derive(Debug, Clone)]
pub struct Stores(pub Vec<StoreSpec>);

impl<'de> Deserialize<'de> for Stores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stores = Vec::<StoreSpec>::deserialize(d)?;
        if stores.is_empty() {
            return Err(de::Error::custom("a scenario needs at least one store"));
        }
        let mut seen = HashSet::new();
        for (i, s) in stores.iter().enumerate() {
            if s.id.is_empty() {
                return Err(de::Error::custom(format!(
                    "[{i}].id: a store id must not be empty"
                )));
            }
            if !seen.insert(s.id.as_str()) {
                return Err(de::Error::custom(format!(
                    "[{i}].id: duplicate store id \"{}\"",
                    s.id
                )));
            }
        }
        Ok(Stores(stores))
    }
}

/// A transport provider, simulated by two threads per store it serves: a sender and a
/// receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSpec {
    pub name: String,
    /// How long sending one message takes (simulated ms).
    pub send_ms: NonZeroU64,
    /// How long receiving one message takes (simulated ms).
    pub receive_ms: NonZeroU64,
    /// The chance that a send fails: the message goes back to the queue and is retried.
    #[serde(default)]
    pub failure_rate: Rate,
    /// How often an idle transport looks for work; FlushQueues makes it look at once.
    #[serde(default = "default_poll")]
    pub poll_ms: NonZeroU64,
    /// How long its FlushQueues takes (a slow flush delays the PURGE caller).
    #[serde(default)]
    pub flush_ms: u64,
    /// Its FlushQueues fails (reported as an event; the logoff goes on).
    #[serde(default)]
    pub flush_fails: bool,
    /// It can cancel its transfers in flight (`IXPLogon::TransportNotify` with
    /// `NOTIFY_CANCEL_MESSAGE`): an ABORT of a store with transfers in flight cancels them
    /// when every transport that serves the store can.
    #[serde(default)]
    pub can_cancel: bool,
    /// How long its cancel takes (the ABORT's caller waits for it, up to the deadline).
    #[serde(default)]
    pub cancel_ms: u64,
    /// Its cancel fails (the ABORT refuses if a transfer is still in flight).
    #[serde(default)]
    pub cancel_fails: bool,
    /// The stores it serves; all when absent.
    #[serde(default)]
    pub stores: Option<Vec<StoreRef>>,
}

/// The transports: names non-empty and unique.
#[derive(Debug, Clone, Default)]
pub struct Transports(pub Vec<TransportSpec>);

impl<'de> Deserialize<'de> for Transports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let transports = Vec::<TransportSpec>::deserialize(d)?;
        let mut seen = HashSet::new();
        for (i, t) in transports.iter().enumerate() {
            if t.name.is_empty() {
                return Err(de::Error::custom(format!(
                    "[{i}].name: a transport name must not be empty"
                )));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(de::Error::custom(format!(
                    "[{i}].name: duplicate transport name \"{}\"",
                    t.name
                )));
            }
        }
        Ok(Transports(transports))
    }
}

impl TransportSpec {
    /// Whether it serves `store`.
    pub fn serves(&self, store: &str) -> bool {
        self.stores
            .as_ref()
            .is_none_or(|s| s.iter().any(|r| r.0 == store))
    }
}

/// A probability in `[0, 1)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = f64::deserialize(d)?;
        if (0.0..1.0).contains(&r) {
            Ok(Rate(r))
        } else {
            Err(de::Error::custom(format!(
                "{r} is out of range: a failure rate is at least 0 and below 1"
            )))
        }
    }
}

/// Messages over time, one every `every_ms` from `from_ms` (included) to `until_ms`
/// (excluded), each delayed by a seeded random `0..jitter_ms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    pub every_ms: NonZeroU64,
    #[serde(default)]
    pub from_ms: u64,
    pub until_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    /// For arrivals: the transport that receives them (default: the first that serves
    /// the store).
    #[serde(default)]
    pub via: Option<TransportRef>,
}

impl Traffic {
    /// The message times, before jitter.
    pub fn times(&self) -> impl Iterator<Item = u64> + '_ {
        (self.from_ms..self.until_ms).step_by(self.every_ms.get() as usize)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    stores: Vec<StorePattern>,
    #[serde(default)]
    submit: Option<Traffic>,
    #[serde(default)]
    arrive: Option<Traffic>,
}

/// Traffic for some stores: submissions to their outboxes, arrivals from a transport.
#[derive(Debug, Clone)]
pub struct Load {
    /// Each store, with the transport its arrivals come through (when `arrive` is set).
    pub targets: Vec<(String, Option<String>)>,
    pub submit: Option<Traffic>,
    pub arrive: Option<Traffic>,
}

impl<'de> Deserialize<'de> for Load {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawLoad::deserialize(d)?;
        for (field, t) in [("submit", &raw.submit), ("arrive", &raw.arrive)] {
            if let Some(t) = t
                && t.until_ms <= t.from_ms
            {
                return Err(de::Error::custom(format!(
                    "{field}.until_ms: {} must be after from_ms ({})",
                    t.until_ms, t.from_ms
                )));
            }
        }
        if raw.submit.as_ref().is_some_and(|s| s.via.is_some()) {
            return Err(de::Error::custom(
                "submit.via: submissions go to the store's outbox, which every transport \
                 serving the store sends from; only arrivals name a transport",
            ));
        }
        let declared = declared();
        let mut stores: Vec<String> = Vec::new();
        for p in &raw.stores {
            match &p.0 {
                Some(id) => stores.push(id.clone()),
                None => stores.extend(declared.stores.iter().map(|(id, _)| id.clone())),
            }
        }
        let mut targets = Vec::new();
        for store in stores {
            let via = match &raw.arrive {
                None => None,
                Some(arrive) => {
                    if declared.inbox(&store) == Some(false) {
                        return Err(de::Error::custom(format!(
                            "arrive: store \"{store}\" is not a default inbox, so no \
                             message arrives in it (set \"default_inbox\": true on it)"
                        )));
                    }
                    let via = match &arrive.via {
                        Some(t) => t.0.clone(),
                        None => declared.first_transport_serving(&store).ok_or_else(|| {
                            de::Error::custom(format!(
                                "arrive: no transport serves store \"{store}\", so nothing \
                                 can receive its arrivals"
                            ))
                        })?,
                    };
                    if !declared.serves(&via, &store) {
                        return Err(de::Error::custom(format!(
                            "arrive.via: transport \"{via}\" does not serve store \"{store}\""
                        )));
                    }
                    Some(via)
                }
            };
            targets.push((store, via));
        }
        Ok(Load {
            targets,
            submit: raw.submit,
            arrive: raw.arrive,
        })
    }
}

/// What a client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Opens the store: a new handle, reference count 1.
    Open,
    /// `IMsgStore::StoreLogoff(mode)`: saves the mode for the final release.
    Logoff,
    /// The provider calls StoreLogoffTransports(mode) itself.
    LogoffTransports,
    /// `IUnknown::Release`: the last one logs off.
    Release,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at_ms: u64,
    store: StoreRef,
    #[serde(default)]
    client: Option<String>,
    action: Action,
    #[serde(default)]
    mode: Option<ModeSpec>,
}

/// One client action at a given time.
#[derive(Debug, Clone)]
pub struct Step {
    pub at_ms: u64,
    pub store: String,
    /// The client (its own thread); by default named after the store.
    pub client: String,
    pub action: Action,
    /// The `ulFlags` of `logoff` and `logoff_transports`.
    pub flags: u32,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawStep::deserialize(d)?;
        let needs_mode = matches!(raw.action, Action::Logoff | Action::LogoffTransports);
        let flags = match (needs_mode, raw.mode) {
            (true, Some(m)) => m.0,
            (true, None) => {
                return Err(de::Error::custom(
                    "mode: missing: \"logoff\" and \"logoff_transports\" need a mode",
                ));
            }
            (false, Some(_)) => {
                return Err(de::Error::custom(
                    "mode: only \"logoff\" and \"logoff_transports\" take a mode",
                ));
            }
            (false, None) => 0,
        };
        if raw.client.as_deref() == Some("") {
            return Err(de::Error::custom("client: a client name must not be empty"));
        }
        Ok(Step {
            at_ms: raw.at_ms,
            client: raw.client.unwrap_or_else(|| raw.store.0.clone()),
            store: raw.store.0,
            action: raw.action,
            flags,
        })
    }
}

/// The client actions. Each client's handle on a store must be opened before it is used
/// and not opened twice while held.
#[derive(Debug, Clone, Default)]
pub struct Script(pub Vec<Step>);

impl<'de> Deserialize<'de> for Script {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let steps = Vec::<Step>::deserialize(d)?;
        let limit = declared().limit_ms;
        let mut order: Vec<usize> = (0..steps.len()).collect();
        order.sort_by_key(|&i| steps[i].at_ms);
        let mut refs: HashMap<(&str, &str), u32> = HashMap::new();
        for i in order {
            let s = &steps[i];
            if s.at_ms >= limit {
                return Err(de::Error::custom(format!(
                    "[{i}].at_ms: {} is not before limit_ms ({limit})",
                    s.at_ms
                )));
            }
            let count = refs.entry((&s.client, &s.store)).or_default();
            let who = format!("client \"{}\" on store \"{}\"", s.client, s.store);
            match s.action {
                Action::Open if *count > 0 => {
                    return Err(de::Error::custom(format!(
                        "[{i}]: {who} opens a store it already holds open \
                         (use another client name for a second handle)"
                    )));
                }
                Action::Open => *count = 1,
                _ if *count == 0 => {
                    return Err(de::Error::custom(format!(
                        "[{i}]: {who} has no open handle at {} ms (open it first)",
                        s.at_ms
                    )));
                }
                Action::Release => *count -= 1,
                _ => {}
            }
        }
        Ok(Script(steps))
    }
}

/// A mode as a step gives it: a name (`"PURGE"`), names joined by `|`, or a raw number.
#[derive(Debug, Clone, Copy)]
struct ModeSpec(u32);

impl<'de> Deserialize<'de> for ModeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ModeSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mode name such as \"PURGE\", or the flags as a number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ModeSpec, E> {
                parse_mode_spec(s).map(ModeSpec).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ModeSpec, E> {
                u32::try_from(n)
                    .map(ModeSpec)
                    .map_err(|_| E::custom(format!("flags {n} do not fit in 32 bits")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A reference to a declared store.
#[derive(Debug, Clone)]
pub struct StoreRef(pub String);

impl<'de> Deserialize<'de> for StoreRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        declared().check_store(&id).map_err(de::Error::custom)?;
        Ok(StoreRef(id))
    }
}

/// A declared store, or `"*"` for all of them (`None`).
#[derive(Debug, Clone)]
struct StorePattern(Option<String>);

impl<'de> Deserialize<'de> for StorePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        if id == "*" {
            return Ok(StorePattern(None));
        }
        declared().check_store(&id).map_err(de::Error::custom)?;
        Ok(StorePattern(Some(id)))
    }
}

/// A reference to a declared transport.
#[derive(Debug, Clone)]
pub struct TransportRef(pub String);

impl<'de> Deserialize<'de> for TransportRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let declared = declared();
        if declared.known && !declared.transports.iter().any(|(n, _)| *n == name) {
            let names: Vec<&str> = declared.transports.iter().map(|(n, _)| &**n).collect();
            return Err(de::Error::custom(format!(
                "unknown transport \"{name}\" (declared: {})",
                names.join(", ")
            )));
        }
        Ok(TransportRef(name))
    }
}

/// What the file declares, for the checks of the main pass.
#[derive(Debug, Clone, Default)]
struct Declared {
    /// Whether the first pass succeeded; if not, the main pass fails on its own.
    known: bool,
    stores: Vec<(String, bool)>,
    transports: Vec<(String, Option<Vec<String>>)>,
    limit_ms: u64,
}

impl Declared {
    fn check_store(&self, id: &str) -> Result<(), String> {
        if !self.known || self.stores.iter().any(|(s, _)| s == id) {
            return Ok(());
        }
        let ids: Vec<&str> = self.stores.iter().map(|(s, _)| &**s).collect();
        Err(format!(
            "unknown store \"{id}\" (declared: {})",
            ids.join(", ")
        ))
    }

    fn inbox(&self, store: &str) -> Option<bool> {
        self.stores
            .iter()
            .find(|(s, _)| s == store)
            .map(|(_, inbox)| *inbox)
    }

    fn serves(&self, transport: &str, store: &str) -> bool {
        !self.known
            || self.transports.iter().any(|(n, stores)| {
                n == transport && stores.as_ref().is_none_or(|s| s.iter().any(|x| x == store))
            })
    }

    fn first_transport_serving(&self, store: &str) -> Option<String> {
        if !self.known {
            return Some(String::new());
        }
        self.transports
            .iter()
            .map(|(n, _)| n)
            .find(|n| self.serves(n, store))
            .cloned()
    }
}

thread_local! {
    /// The declarations of the file being parsed on this thread (see the module docs).
    static DECLARED: RefCell<Declared> = RefCell::new(Declared::default());
}

fn declared() -> Declared {
    DECLARED.with(|d| d.borrow().clone())
}

#[derive(Deserialize)]
struct FirstPass {
    #[serde(default)]
    stores: Vec<FirstPassStore>,
    #[serde(default)]
    transports: Vec<FirstPassTransport>,
    #[serde(default)]
    limit_ms: Option<u64>,
}

#[derive(Deserialize)]
struct FirstPassStore {
    id: String,
    #[serde(default)]
    default_inbox: bool,
}

#[derive(Deserialize)]
struct FirstPassTransport {
    name: String,
    #[serde(default)]
    stores: Option<Vec<String>>,
}

/// A scenario file that could not be read or is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// The field, as `script[3].mode`; empty for the whole file.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Parses and checks the scenario in `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let first: Option<FirstPass> = serde_json::from_str(text).ok();
    let decl = match first {
        Some(fp) => Declared {
            known: true,
            stores: fp
                .stores
                .into_iter()
                .map(|s| (s.id, s.default_inbox))
                .collect(),
            transports: fp
                .transports
                .into_iter()
                .map(|t| (t.name, t.stores))
                .collect(),
            limit_ms: fp.limit_ms.unwrap_or(DEFAULT_LIMIT_MS),
        },
        None => Declared {
            limit_ms: u64::MAX,
            ..Declared::default()
        },
    };
    let known = decl.known;
    DECLARED.with(|d| *d.borrow_mut() = decl);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = match serde_path_to_error::deserialize::<_, Scenario>(&mut de) {
        Ok(s) => de.end().map(|()| s).map_err(|e| (String::new(), e)),
        Err(e) => Err((e.path().to_string(), e.into_inner())),
    };
    DECLARED.with(|d| *d.borrow_mut() = Declared::default());
    match result {
        Ok(scenario) if known => Ok(scenario),
        Ok(_) => Err(ScenarioError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            field: String::new(),
            message: "the file could not be read as a scenario".into(),
        }),
        Err((field, inner)) => {
            let (line, column) = (inner.line(), inner.column());
            let text = inner.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = text.strip_suffix(&suffix).unwrap_or(&text);
            let (field, message) = refine(if field == "." { "" } else { &field }, message);
            Err(ScenarioError {
                file: file.to_owned(),
                line,
                column,
                field,
                message,
            })
        }
    }
}

/// Moves a relative field at the start of a check's message (`"[3].at_ms: …"`,
/// `"arrive.via: …"`) into the field that serde reported (`script`, `load[0]`).
fn refine(field: &str, message: &str) -> (String, String) {
    let relative = |token: &str| {
        token.starts_with(|c: char| c == '[' || c.is_ascii_lowercase())
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
    };
    match message.split_once(": ") {
        Some((token, rest)) if relative(token) => {
            let joined = if token.starts_with('[') || field.is_empty() {
                format!("{field}{token}")
            } else {
                format!("{field}.{token}")
            };
            (joined, rest.to_owned())
        }
        _ => (field.to_owned(), message.to_owned()),
    }
}
