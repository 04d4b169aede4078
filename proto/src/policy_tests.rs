//! Tests of `proto::policy`: perms parsing (the NIP-46 examples, whitespace, duplicates, unknown
//! methods, bad params, the input bounds), canonical round trips, policy JSON (including the legacy
//! `allow_dangerous_kinds` form) and validation, the default closed kinds, grants (requested perms
//! as a request, or as a cap under `grant: "requested"`; pre-approved perms as a cap), the skew
//! bound, session expiry, and the laws of `check` against an independent statement of the rule
//! (proptest).
//!
//! Inline vectors and their sources:
//! - `nip44_encrypt,sign_event:4`: NIP-46 §"Requested permissions",
//!   <https://github.com/nostr-protocol/nips/blob/master/46.md#requested-permissions>.
//! - `nip44_encrypt,nip44_decrypt,sign_event:13,sign_event:14,sign_event:1059`: the `perms` value of
//!   the `nostrconnect://` example in NIP-46 §"Direct connection initiated by the client"
//!   (same URL), percent-decoded (`%2C` → `,`, `%3A` → `:`).
//! - The kinds of [`DEFAULT_DENY_KINDS`], checked against the NIP texts cited in `expected_closed`.

use proptest::prelude::*;

use super::*;

const NOW: u64 = 1_700_000_000;

/// Parses `input` and compares the canonical string.
#[track_caller]
fn check_parse(input: &str, canonical: &str) {
    let perms = Perms::parse(input);
    assert_eq!(perms.to_string(), canonical, "input {input:?}");
    assert_eq!(Perms::parse(canonical), perms, "canonical form re-parses");
}

/// `check` for a `sign_event` of `kind` with no `created_at`.
fn sign(grant: &Grant, policy: &Policy, kind: u16) -> Result<(), Denied> {
    check(grant, policy, Method::SignEvent, Some(kind), None, NOW)
}

/// The grant of a session whose client requested `perms` over a URI without pre-approved perms.
fn grant(perms: &str) -> Grant {
    Grant::new(Perms::parse(perms), None)
}

/// The grant of a session whose URI pre-approved `approved`.
fn approved(requested: &str, approved: &str) -> Grant {
    Grant::new(Perms::parse(requested), Some(Perms::parse(approved)))
}

/// The default policy under `grant: "requested"`.
fn strict() -> Policy {
    Policy {
        grant: GrantMode::Requested,
        ..Policy::default()
    }
}

fn only(kinds: &[u16]) -> SignKinds {
    SignKinds::Only(kinds.iter().copied().collect())
}

// ---- Method -------------------------------------------------------------------------------------

#[test]
fn method_names_round_trip_and_are_in_canonical_order() {
    for method in Method::ALL {
        assert_eq!(Method::from_name(method.name()), Some(method));
        assert_eq!(method.to_string(), method.name());
    }
    let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ALL is alphabetical");
    let mut by_ord = Method::ALL;
    by_ord.sort();
    assert_eq!(by_ord, Method::ALL, "Ord follows the wire names");
}

#[test]
fn method_names_match_the_nip46_dispatcher() {
    for method in Method::ALL {
        assert_eq!(crate::nip46::method_label(method.name()), method.name());
    }
}

#[test]
fn unknown_and_removed_method_names_are_not_methods() {
    for name in [
        "",
        "get_relays",
        "create_account",
        "nip44_get_key",
        "Sign_Event",
        "sign_event ",
    ] {
        assert_eq!(Method::from_name(name), None, "{name:?}");
    }
}

#[test]
fn always_allowed_methods_are_exactly_the_five() {
    let always: Vec<&str> = Method::ALL
        .iter()
        .filter(|m| m.is_always_allowed())
        .map(|m| m.name())
        .collect();
    assert_eq!(
        always,
        [
            "connect",
            "get_public_key",
            "logout",
            "ping",
            "switch_relays"
        ]
    );
}

// ---- Perms parsing ------------------------------------------------------------------------------

#[test]
fn parses_the_nip46_example() {
    let perms = Perms::parse("nip44_encrypt,sign_event:4");
    assert_eq!(perms.to_string(), "nip44_encrypt,sign_event:4");
    assert!(perms.allows(Method::Nip44Encrypt, None));
    assert!(perms.allows(Method::SignEvent, Some(4)));
    assert!(!perms.allows(Method::SignEvent, Some(1)));
    assert!(!perms.allows(Method::SignEvent, None), "not every kind");
    assert!(!perms.allows(Method::Nip44Decrypt, None));
}

#[test]
fn parses_the_nostrconnect_example() {
    check_parse(
        "nip44_encrypt,nip44_decrypt,sign_event:13,sign_event:14,sign_event:1059",
        "nip44_decrypt,nip44_encrypt,sign_event:13,sign_event:14,sign_event:1059",
    );
}

#[test]
fn trims_whitespace_and_skips_empty_items() {
    check_parse(
        " nip44_encrypt , sign_event : 4 ,\tping\n",
        "nip44_encrypt,ping,sign_event:4",
    );
    check_parse(",,nip04_decrypt,,,", "nip04_decrypt");
    check_parse("", "");
    check_parse(" , ,\t", "");
}

#[test]
fn deduplicates_and_sorts() {
    check_parse("sign_event:1,sign_event:1,ping,ping", "ping,sign_event:1");
    check_parse(
        "sign_event:30023,sign_event:1,nip04_encrypt,connect",
        "connect,nip04_encrypt,sign_event:1,sign_event:30023",
    );
    check_parse("sign_event:007", "sign_event:7");
}

#[test]
fn bare_sign_event_means_any_kind_and_absorbs_kinds() {
    check_parse("sign_event:1,sign_event,sign_event:7", "sign_event");
    let perms = Perms::parse("sign_event");
    assert!(perms.allows(Method::SignEvent, Some(0)));
    assert!(perms.allows(Method::SignEvent, Some(65535)));
    assert!(perms.allows(Method::SignEvent, None));
    assert_eq!(perms.sign_kinds(), SignKinds::Any);
}

#[test]
fn ignores_unknown_methods() {
    check_parse(
        "get_relays,create_account,nip44_get_key,SIGN_EVENT,foo,ping",
        "ping",
    );
}

#[test]
fn ignores_items_with_bad_or_undefined_params() {
    for bad in [
        "sign_event:abc",
        "sign_event:70000",
        "sign_event:65536",
        "sign_event:-1",
        "sign_event:+1",
        "sign_event:",
        "sign_event:1.0",
        "sign_event:1:2",
        "sign_event:0x10",
        "sign_event:1 2",
        "nip44_encrypt:abcd",
        "ping:1",
    ] {
        check_parse(bad, "");
        check_parse(&format!("{bad},nip04_encrypt"), "nip04_encrypt");
    }
    check_parse("sign_event:0", "sign_event:0");
    check_parse("sign_event:65535", "sign_event:65535");
}

#[test]
fn looks_at_256_non_empty_items() {
    // 255 items, then the 256th: read.
    let mut input = "ping,".repeat(255);
    input.push_str("nip44_encrypt");
    check_parse(&input, "nip44_encrypt,ping");
    // 256 items, then the 257th: ignored.
    let mut input = "ping,".repeat(256);
    input.push_str("nip44_encrypt");
    assert!(
        input.len() <= MAX_PERMS_INPUT_BYTES,
        "only the item bound applies"
    );
    check_parse(&input, "ping");
    // Empty items do not count.
    let mut input = ",".repeat(500);
    input.push_str(&" , ping".repeat(255));
    input.push_str(",nip44_encrypt");
    assert!(
        input.len() <= MAX_PERMS_INPUT_BYTES,
        "only the item bound applies"
    );
    check_parse(&input, "nip44_encrypt,ping");
}

#[test]
fn looks_at_4_kib_and_never_cuts_an_item() {
    // `sign_event:12` spans bytes 4084..4097: its `2` lies just past the limit.
    let mut input = String::from("ping,");
    input.push_str(&" ".repeat(4084 - input.len()));
    input.push_str("sign_event:12,nip44_encrypt");
    assert_eq!(input.as_bytes()[MAX_PERMS_INPUT_BYTES], b'2');
    check_parse(&input, "ping");

    // An item that ends exactly at the limit, followed by a comma, is read.
    let mut input = String::from("ping,");
    input.push_str(&" ".repeat(4083 - input.len()));
    input.push_str("sign_event:12,nip44_encrypt");
    assert_eq!(input.as_bytes()[MAX_PERMS_INPUT_BYTES], b',');
    check_parse(&input, "ping,sign_event:12");

    // An input of exactly the limit is read whole.
    let mut input = " ".repeat(MAX_PERMS_INPUT_BYTES - "sign_event:12".len());
    input.push_str("sign_event:12");
    assert_eq!(input.len(), MAX_PERMS_INPUT_BYTES);
    check_parse(&input, "sign_event:12");

    // Multi-byte characters across the limit, no comma: nothing, no panic.
    check_parse(&"é".repeat(3000), "");
    let mut input = "é".repeat(2047);
    input.push_str("x,ping");
    check_parse(&input, "");
}

#[test]
fn all_and_none() {
    assert_eq!(
        Perms::all().to_string(),
        "connect,get_public_key,logout,nip04_decrypt,nip04_encrypt,nip44_decrypt,nip44_encrypt,ping,sign_event,switch_relays"
    );
    assert_eq!(Perms::parse(&Perms::all().to_string()), Perms::all());
    assert!(Perms::none().is_empty());
    assert_eq!(Perms::none().to_string(), "");
    assert!(!Perms::all().is_empty());
    assert_eq!(
        Perms::parse("ping").methods(),
        MethodSet::empty().with(Method::Ping)
    );
    assert_eq!(
        Perms::parse("sign_event:1").methods(),
        MethodSet::empty().with(Method::SignEvent)
    );
}

#[test]
fn perms_serialize_as_the_canonical_string() {
    let perms = Perms::parse("sign_event:7, nip44_encrypt ,sign_event:1");
    let json = serde_json::to_string(&perms).unwrap();
    assert_eq!(json, r#""nip44_encrypt,sign_event:1,sign_event:7""#);
    assert_eq!(serde_json::from_str::<Perms>(&json).unwrap(), perms);
    let grant = approved("sign_event:1", "nip44_encrypt");
    assert_eq!(
        format!("{grant:?}"),
        r#"Grant { requested: "sign_event:1", approved: Some("nip44_encrypt") }"#
    );
}

// ---- Policy -------------------------------------------------------------------------------------

#[test]
fn default_policy_opens_everyday_kinds_and_closes_money_and_control() {
    let policy = Policy::default();
    assert_eq!(policy.methods, MethodSet::all());
    assert_eq!(policy.sign_kinds, SignKinds::Any);
    assert_eq!(policy.grant, GrantMode::Policy);
    assert_eq!(policy.max_created_at_skew_secs, Some(604_800));
    assert_eq!(policy.session_ttl_secs, None);
    assert_eq!(policy.validate(), Ok(()));
    // Notes, replies, reactions, reposts, profile, follows, deletions, relay and NIP-51 lists, DMs,
    // relay AUTH, NIP-98 and Blossom auth, zap requests, long-form, app data.
    let everyday = [
        0, 1, 3, 4, 5, 6, 7, 13, 14, 16, 1059, 1111, 9734, 10000, 10001, 10002, 10003, 10050,
        22242, 24242, 27235, 30000, 30023, 30078,
    ];
    for kind in everyday {
        assert!(policy.allows_kind(kind), "kind {kind}");
    }
    for kind in DEFAULT_DENY_KINDS {
        assert!(!policy.allows_kind(kind), "kind {kind}");
    }
}

#[test]
fn policy_json_has_stable_field_names() {
    let json = serde_json::to_string(&Policy::default()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"methods":["connect","get_public_key","logout","nip04_decrypt","nip04_encrypt","#,
            r#""nip44_decrypt","nip44_encrypt","ping","sign_event","switch_relays"],"#,
            r#""sign_kinds":"any","deny_kinds":[62,7374,7375,7376,9321,10019,13194,17375,23194,"#,
            r#"23195,23196,23197,24133],"grant":"policy","max_created_at_skew_secs":604800,"#,
            r#""session_ttl_secs":null,"ask_methods":[],"ask_kinds":[],"ask_new_clients":false}"#
        )
    );
    assert_eq!(
        serde_json::from_str::<Policy>(&json).unwrap(),
        Policy::default()
    );

    let custom = Policy {
        methods: [Method::SignEvent, Method::Nip44Encrypt]
            .into_iter()
            .collect(),
        sign_kinds: only(&[7, 1]),
        deny_kinds: [3, 0].into_iter().collect(),
        grant: GrantMode::Requested,
        max_created_at_skew_secs: None,
        session_ttl_secs: Some(3600),
        ask_methods: [Method::Nip44Encrypt].into_iter().collect(),
        ask_kinds: [0].into_iter().collect(),
        ask_new_clients: true,
    };
    let json = serde_json::to_string(&custom).unwrap();
    assert_eq!(
        json,
        r#"{"methods":["nip44_encrypt","sign_event"],"sign_kinds":[1,7],"deny_kinds":[0,3],"grant":"requested","max_created_at_skew_secs":null,"session_ttl_secs":3600,"ask_methods":["nip44_encrypt"],"ask_kinds":[0],"ask_new_clients":true}"#
    );
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), custom);
}

#[test]
fn policy_json_fills_defaults_and_normalizes_kind_lists() {
    assert_eq!(
        serde_json::from_str::<Policy>("{}").unwrap(),
        Policy::default()
    );
    let policy: Policy =
        serde_json::from_str(r#"{"sign_kinds":[7,1,1],"deny_kinds":[3,0,3]}"#).unwrap();
    assert_eq!(policy.sign_kinds, only(&[1, 7]));
    assert_eq!(policy.deny_kinds.iter().collect::<Vec<_>>(), [0, 3]);
    assert_eq!(policy.methods, MethodSet::all());
    let policy: Policy = serde_json::from_str(r#"{"deny_kinds":[]}"#).unwrap();
    assert!(policy.deny_kinds.is_empty(), "[] closes nothing");
    let policy: Policy = serde_json::from_str(r#"{"max_created_at_skew_secs":null}"#).unwrap();
    assert_eq!(policy.max_created_at_skew_secs, None);
    let policy: Policy = serde_json::from_str(r#"{"methods":["ping","ping"]}"#).unwrap();
    assert_eq!(policy.methods, MethodSet::empty().with(Method::Ping));
}

#[test]
fn a_stored_legacy_policy_keeps_what_it_closed() {
    // The form written before `deny_kinds`: 16 kinds closed unless listed as opened.
    let legacy: Policy = serde_json::from_str(
        r#"{"methods":["sign_event"],"sign_kinds":"any","allow_dangerous_kinds":[0,22242],"max_created_at_skew_secs":600}"#,
    )
    .unwrap();
    assert_eq!(
        legacy.deny_kinds.iter().collect::<Vec<_>>(),
        [3, 5, 62, 7374, 7375, 7376, 10002, 13194, 17375, 23194, 23195, 23196, 23197, 27235]
    );
    assert!(legacy.allows_kind(0) && legacy.allows_kind(22242) && legacy.allows_kind(1));
    assert!(!legacy.allows_kind(3));
    assert_eq!(legacy.max_created_at_skew_secs, Some(600));
    assert_eq!(legacy.grant, GrantMode::Policy);
    // Written back in today's form, it reads the same.
    let json = serde_json::to_string(&legacy).unwrap();
    assert!(!json.contains("allow_dangerous_kinds"), "{json}");
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), legacy);
}

#[test]
fn policy_json_refuses_wrong_shapes() {
    for bad in [
        r#"{"deny_kind":[0]}"#,
        r#"{"deny_kinds":[1],"allow_dangerous_kinds":[0]}"#,
        r#"{"methods":["sign_events"]}"#,
        r#"{"methods":["get_relays"]}"#,
        r#"{"methods":"all"}"#,
        r#"{"sign_kinds":"all"}"#,
        r#"{"sign_kinds":[70000]}"#,
        r#"{"sign_kinds":[-1]}"#,
        r#"{"sign_kinds":5}"#,
        r#"{"deny_kinds":"any"}"#,
        r#"{"grant":"all"}"#,
        r#"{"max_created_at_skew_secs":-5}"#,
        r#"{"session_ttl_secs":"1h"}"#,
    ] {
        assert!(serde_json::from_str::<Policy>(bad).is_err(), "{bad}");
    }
}

#[test]
fn validate_bounds_the_skew() {
    let mut policy = Policy {
        max_created_at_skew_secs: Some(MAX_SKEW_BOUND_SECS),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    policy.max_created_at_skew_secs = Some(MAX_SKEW_BOUND_SECS + 1);
    assert_eq!(policy.validate(), Err(PolicyError::SkewTooLarge));
    // Seven days written in milliseconds.
    policy.max_created_at_skew_secs = Some(604_800_000);
    assert_eq!(policy.validate(), Err(PolicyError::SkewTooLarge));
    policy.max_created_at_skew_secs = None;
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn validate_bounds_the_kind_lists() {
    let mut policy = Policy {
        sign_kinds: SignKinds::Only((0..MAX_POLICY_KINDS as u16).collect()),
        deny_kinds: (0..MAX_POLICY_KINDS as u16).collect(),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    policy.sign_kinds = SignKinds::Only((0..=MAX_POLICY_KINDS as u16).collect());
    assert_eq!(policy.validate(), Err(PolicyError::TooManyKinds));
    policy.sign_kinds = SignKinds::Any;
    policy.deny_kinds = (0..=MAX_POLICY_KINDS as u16).collect();
    assert_eq!(policy.validate(), Err(PolicyError::TooManyKinds));
}

#[test]
fn validate_bounds_the_session_ttl() {
    let mut policy = Policy {
        session_ttl_secs: Some(MAX_SESSION_TTL_SECS),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    for bad in [0, MAX_SESSION_TTL_SECS + 1] {
        policy.session_ttl_secs = Some(bad);
        assert_eq!(policy.validate(), Err(PolicyError::SessionTtlOutOfRange));
    }
}

#[test]
fn policy_errors_have_codes_and_fixed_texts() {
    let cases = [
        (PolicyError::SkewTooLarge, "skew_too_large"),
        (PolicyError::TooManyKinds, "too_many_kinds"),
        (
            PolicyError::SessionTtlOutOfRange,
            "session_ttl_out_of_range",
        ),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code);
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn session_expiry_is_the_earlier_of_policy_and_uri() {
    let mut policy = Policy::default();
    assert_eq!(policy.session_expiry(NOW, None), None);
    assert_eq!(policy.session_expiry(NOW, Some(NOW + 5)), Some(NOW + 5));
    policy.session_ttl_secs = Some(60);
    assert_eq!(policy.session_expiry(NOW, None), Some(NOW + 60));
    assert_eq!(policy.session_expiry(NOW, Some(NOW + 5)), Some(NOW + 5));
    assert_eq!(policy.session_expiry(NOW, Some(NOW + 500)), Some(NOW + 60));
    policy.session_ttl_secs = Some(u64::MAX);
    assert_eq!(policy.session_expiry(u64::MAX - 1, None), Some(u64::MAX));
}

// ---- Default closed kinds -----------------------------------------------------------------------

/// Every kind closed by default with the text it was checked against: `NN.md` is
/// `https://github.com/nostr-protocol/nips/blob/master/NN.md`; NWC-02 is
/// `https://github.com/nostr-wallet-connect/nwc/blob/main/02.md`.
fn expected_closed() -> [(u16, &'static str); 13] {
    [
        (62, "62.md request to vanish"),
        (7374, "60.md reserved wallet tokens (quote)"),
        (7375, "60.md wallet tokens"),
        (7376, "60.md spending history"),
        (9321, "61.md nutzap"),
        (10019, "61.md nutzap informational event"),
        (13194, "47.md §Events info event"),
        (17375, "60.md wallet event"),
        (23194, "47.md §Events request"),
        (23195, "47.md §Events response"),
        (23196, "47.md §Events notification (NIP-04)"),
        (
            23197,
            "nostr-wallet-connect/nwc 02.md §Transport notification (NIP-44)",
        ),
        (24133, "46.md NIP-46 message"),
    ]
}

#[test]
fn default_deny_kinds_are_sorted_and_complete() {
    assert!(
        DEFAULT_DENY_KINDS.windows(2).all(|w| w[0] < w[1]),
        "strictly ascending"
    );
    let expected: Vec<u16> = expected_closed().iter().map(|(k, _)| *k).collect();
    assert_eq!(DEFAULT_DENY_KINDS.to_vec(), expected);
}

// ---- check: requested, pre-approved and closed kinds ---------------------------------------------

#[test]
fn requested_perms_do_not_cap_the_default_policy() {
    // welshman (Coracle, Flotilla) asks for relay AUTH and the ciphers, then signs notes.
    let policy = Policy::default();
    let coracle = grant("sign_event:22242,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt");
    for kind in [1, 0, 3, 7, 22242] {
        assert_eq!(sign(&coracle, &policy, kind), Ok(()), "kind {kind}");
    }
    assert_eq!(
        coracle.effective(&policy).to_string(),
        policy.to_perms().to_string()
    );
}

#[test]
fn under_grant_requested_a_session_gets_only_what_it_asked_for() {
    let policy = strict();
    let coracle = grant("sign_event:22242,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt");
    assert_eq!(sign(&coracle, &policy, 22242), Ok(()));
    let denied = sign(&coracle, &policy, 1).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotGranted);
    assert_eq!(
        denied.message(),
        "permission denied: sign_event:1 (not granted to this session)"
    );
    let run = |grant: &Grant, method| check(grant, &policy, method, None, None, NOW);
    assert_eq!(run(&coracle, Method::Nip44Decrypt), Ok(()));
    assert_eq!(
        coracle.effective(&policy).to_string(),
        "nip04_decrypt,nip04_encrypt,nip44_decrypt,nip44_encrypt,sign_event:22242"
    );
    // A client that requested nothing is held to the policy alone.
    assert_eq!(sign(&grant(""), &policy, 1), Ok(()));
    assert_eq!(
        sign(&grant("get_relays,sign_event:abc"), &policy, 1),
        Ok(())
    );
    // Requesting a closed kind does not open it.
    let greedy = grant("sign_event:23194,sign_event:1");
    assert_eq!(
        sign(&greedy, &policy, 23194).unwrap_err().reason(),
        DenyReason::KindDenied
    );
    assert_eq!(
        greedy.effective(&policy).to_string(),
        "sign_event:1",
        "closed kinds never show as granted"
    );
}

#[test]
fn pre_approved_perms_cap_the_session_in_every_mode() {
    for policy in [Policy::default(), strict()] {
        let session = approved("", "sign_event:1,nip44_encrypt");
        assert_eq!(sign(&session, &policy, 1), Ok(()));
        let denied = sign(&session, &policy, 7).unwrap_err();
        assert_eq!(denied.reason(), DenyReason::NotGranted);
        let run = |method| check(&session, &policy, method, None, None, NOW);
        assert_eq!(run(Method::Nip44Encrypt), Ok(()));
        assert!(run(Method::Nip44Decrypt).is_err());
        // Pre-approved perms that name nothing grant nothing.
        let nothing = Grant::new(Perms::none(), Some(Perms::none()));
        assert!(sign(&nothing, &policy, 1).is_err());
        assert!(check(&nothing, &policy, Method::Ping, None, None, NOW).is_ok());
    }
}

#[test]
fn closed_kinds_are_refused_naming_the_permission() {
    let policy = Policy::default();
    let session = grant("");
    for kind in DEFAULT_DENY_KINDS {
        let denied = sign(&session, &policy, kind).unwrap_err();
        assert_eq!(denied.reason(), DenyReason::KindDenied, "kind {kind}");
        assert_eq!(denied.code(), "kind_denied");
        assert_eq!(
            denied.message(),
            format!("permission denied: sign_event:{kind} (kind closed by this user's policy)")
        );
    }
    // An admin can close any kind, and open a default one.
    let custom = Policy {
        deny_kinds: [1, 7].into_iter().collect(),
        ..Policy::default()
    };
    assert_eq!(
        sign(&session, &custom, 1).unwrap_err().reason(),
        DenyReason::KindDenied
    );
    assert_eq!(sign(&session, &custom, 23194), Ok(()));
}

#[test]
fn a_closed_kind_outside_the_kind_list_is_not_allowed_by_policy() {
    let policy = Policy {
        sign_kinds: only(&[1]),
        ..Policy::default()
    };
    let denied = sign(&grant(""), &policy, 23194).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotAllowedByPolicy);
    assert_eq!(
        denied.message(),
        "permission denied: sign_event:23194 (not allowed by this user's policy)"
    );
    let listed = Policy {
        sign_kinds: only(&[1, 23194]),
        ..Policy::default()
    };
    assert!(!listed.to_perms().to_string().contains("23194"));
}

#[test]
fn methods_follow_the_policy() {
    let session = grant("nip44_encrypt");
    let run = |policy: &Policy, method| check(&session, policy, method, None, None, NOW);
    assert_eq!(run(&Policy::default(), Method::Nip44Decrypt), Ok(()));
    let denied = run(&strict(), Method::Nip44Decrypt).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotGranted);
    assert_eq!(
        run(&Policy::default(), Method::SignEvent)
            .unwrap_err()
            .reason(),
        DenyReason::NotAllowedByPolicy,
        "sign_event without a kind"
    );
    let tightened = Policy {
        methods: MethodSet::all().without(Method::Nip44Encrypt),
        ..Policy::default()
    };
    let denied = run(&tightened, Method::Nip44Encrypt).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotAllowedByPolicy);
    assert_eq!(denied.code(), "not_allowed_by_policy");
}

#[test]
fn always_allowed_methods_pass_an_empty_grant_and_policy() {
    let policy = Policy {
        methods: MethodSet::empty(),
        grant: GrantMode::Requested,
        ..Policy::default()
    };
    let grant = Grant::new(Perms::none(), Some(Perms::none()));
    for method in Method::ALL {
        let result = check(&grant, &policy, method, Some(0), Some(0), NOW);
        assert_eq!(result.is_ok(), method.is_always_allowed(), "{method}");
    }
}

#[test]
fn policy_changes_reach_a_session_both_ways() {
    let session = grant("sign_event:1");
    let narrow = Policy {
        methods: MethodSet::all().without(Method::Nip04Decrypt),
        sign_kinds: only(&[1]),
        ..Policy::default()
    };
    assert!(check(&session, &narrow, Method::Nip04Decrypt, None, None, NOW).is_err());
    assert!(sign(&session, &narrow, 7).is_err());
    // Widened again: the same session signs kind 7 and decrypts at once.
    let wide = Policy::default();
    assert_eq!(sign(&session, &wide, 7), Ok(()));
    assert_eq!(
        check(&session, &wide, Method::Nip04Decrypt, None, None, NOW),
        Ok(())
    );
}

#[test]
fn denied_display_is_fixed_text() {
    let denied = sign(&grant(""), &Policy::default(), 23194).unwrap_err();
    assert_eq!(
        denied.to_string(),
        "permission denied: kind closed by this user's policy"
    );
    let codes = [
        DenyReason::NotGranted,
        DenyReason::NotAllowedByPolicy,
        DenyReason::KindDenied,
        DenyReason::CreatedAtOutOfBounds { max_skew_secs: 5 },
    ]
    .map(|r| r.code());
    assert_eq!(
        codes,
        [
            "not_granted",
            "not_allowed_by_policy",
            "kind_denied",
            "created_at_out_of_bounds"
        ]
    );
}

// ---- check: the created_at skew bound -----------------------------------------------------------

#[test]
fn skew_bound_is_inclusive_in_both_directions() {
    let policy = Policy {
        max_created_at_skew_secs: Some(600),
        ..strict()
    };
    let grant = grant("sign_event:1");
    let at = |created_at| {
        check(
            &grant,
            &policy,
            Method::SignEvent,
            Some(1),
            Some(created_at),
            NOW,
        )
    };
    assert_eq!(at(NOW), Ok(()));
    assert_eq!(at(NOW - 600), Ok(()));
    assert_eq!(at(NOW + 600), Ok(()));
    for out in [NOW - 601, NOW + 601, 0, u64::MAX] {
        let denied = at(out).unwrap_err();
        assert_eq!(
            denied.reason(),
            DenyReason::CreatedAtOutOfBounds { max_skew_secs: 600 }
        );
        assert_eq!(denied.code(), "created_at_out_of_bounds");
        assert_eq!(
            denied.message(),
            "permission denied: sign_event:1 (created_at more than 600 s from the signer's clock)"
        );
    }
    // No created_at in the template: the signer uses `now`.
    assert_eq!(
        check(&grant, &policy, Method::SignEvent, Some(1), None, NOW),
        Ok(())
    );
    // The grant is checked first.
    assert_eq!(
        check(&grant, &policy, Method::SignEvent, Some(7), Some(0), NOW)
            .unwrap_err()
            .reason(),
        DenyReason::NotGranted
    );
    // The bound applies to sign_event only.
    assert_eq!(
        check(&grant, &policy, Method::Ping, None, Some(0), NOW),
        Ok(())
    );
}

#[test]
fn default_skew_is_seven_days_and_none_means_unbounded() {
    let policy = Policy::default();
    let grant = grant("sign_event:1");
    let at = |policy: &Policy, created_at| {
        check(
            &grant,
            policy,
            Method::SignEvent,
            Some(1),
            Some(created_at),
            NOW,
        )
    };
    assert_eq!(at(&policy, NOW - 7 * 86_400), Ok(()));
    assert!(at(&policy, NOW + 7 * 86_400 + 1).is_err());
    let unbounded = Policy {
        max_created_at_skew_secs: None,
        ..Policy::default()
    };
    assert_eq!(at(&unbounded, 0), Ok(()));
    assert_eq!(at(&unbounded, u64::MAX), Ok(()));
}

// ---- Properties ---------------------------------------------------------------------------------

/// Kinds the properties draw from: closed and ordinary ones, so that sets overlap often.
const KIND_POOL: [u16; 10] = [0, 1, 3, 4, 7, 62, 1059, 10002, 23197, 30023];

fn kind() -> impl Strategy<Value = u16> {
    prop_oneof![4 => proptest::sample::select(KIND_POOL.to_vec()), 1 => any::<u16>()]
}

fn perms_item() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(Method::ALL.to_vec()).prop_map(|m| m.name().to_owned()),
        4 => kind().prop_map(|k| format!("sign_event:{k}")),
        1 => "[a-z_:0-9 ]{0,14}",
    ]
}

fn perms_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((perms_item(), "[ \t]{0,2}"), 0..12).prop_map(|items| {
        items
            .into_iter()
            .map(|(item, pad)| format!("{pad}{item}{pad}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn perms() -> impl Strategy<Value = Perms> {
    perms_text().prop_map(|text| Perms::parse(&text))
}

fn policy() -> impl Strategy<Value = Policy> {
    let sign_kinds = prop_oneof![
        Just(SignKinds::Any),
        proptest::collection::vec(kind(), 0..6)
            .prop_map(|ks| SignKinds::Only(ks.into_iter().collect())),
    ];
    let deny = proptest::collection::vec(kind(), 0..4);
    let mode = prop_oneof![Just(GrantMode::Policy), Just(GrantMode::Requested)];
    (0u16..1 << 10, sign_kinds, deny, mode).prop_map(|(bits, sign_kinds, deny, grant)| Policy {
        methods: Method::ALL
            .into_iter()
            .filter(|m| bits & (1 << *m as u16) != 0)
            .collect(),
        sign_kinds,
        deny_kinds: deny.into_iter().collect(),
        grant,
        max_created_at_skew_secs: None,
        session_ttl_secs: None,
        ..Policy::default()
    })
}

/// The policy's rule written out independently of the implementation.
fn policy_allows(policy: &Policy, method: Method, kind: u16) -> bool {
    if !policy.methods.contains(method) {
        return false;
    }
    if method != Method::SignEvent {
        return true;
    }
    let listed = match &policy.sign_kinds {
        SignKinds::Any => true,
        SignKinds::Only(kinds) => kinds.iter().any(|k| k == kind),
    };
    listed && !policy.deny_kinds.iter().any(|k| k == kind)
}

fn passes(grant: &Grant, policy: &Policy, method: Method, kind: u16) -> bool {
    check(grant, policy, method, Some(kind), None, NOW).is_ok()
}

proptest! {
    #[test]
    fn canonical_string_round_trips(perms in perms()) {
        let canonical = perms.to_string();
        prop_assert_eq!(Perms::parse(&canonical), perms);
        prop_assert_eq!(Perms::parse(&canonical).to_string(), canonical);
    }

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let perms = Perms::parse(&text);
        prop_assert_eq!(Perms::parse(&perms.to_string()), perms);
    }

    #[test]
    fn intersect_is_exact_and_commutative(a in perms(), b in perms(), k in kind()) {
        prop_assert_eq!(a.intersect(&b), b.intersect(&a));
        for m in Method::ALL {
            let both = a.allows(m, Some(k)) && b.allows(m, Some(k));
            prop_assert_eq!(a.intersect(&b).allows(m, Some(k)), both);
        }
    }

    /// `check` is exactly: always allowed, or the policy allows it and the pre-approved perms (if
    /// any) and, under `grant: "requested"` with a non-empty request, the requested perms do too.
    #[test]
    fn check_is_policy_and_caps(
        r in perms(),
        a in proptest::option::of(perms()),
        p in policy(),
        k in kind(),
    ) {
        let grant = Grant::new(r.clone(), a.clone());
        for m in Method::ALL {
            let capped_by_approval = a.as_ref().is_none_or(|a| a.allows(m, Some(k)));
            let capped_by_request =
                p.grant == GrantMode::Policy || r.is_empty() || r.allows(m, Some(k));
            let expected = m.is_always_allowed()
                || (policy_allows(&p, m, k) && capped_by_approval && capped_by_request);
            prop_assert_eq!(passes(&grant, &p, m, k), expected, "{} kind {}", m, k);
            // What `effective` shows is what `check` allows, but for closed kinds under a bare
            // `sign_event` (perms syntax cannot say "any kind but these").
            if !m.is_always_allowed() {
                let closed = m == Method::SignEvent && p.deny_kinds.contains(k);
                let shown = grant.effective(&p).allows(m, Some(k)) && !closed;
                prop_assert_eq!(shown, passes(&grant, &p, m, k), "{} kind {}", m, k);
            }
        }
    }
}

#[test]
fn ask_rules_hold_listed_methods_and_kinds_until_remembered() {
    let policy = Policy {
        ask_methods: [Method::Nip44Decrypt].into_iter().collect(),
        ask_kinds: [0].into_iter().collect(),
        ..Policy::default()
    };
    let sign = |kind| Permission {
        method: Method::SignEvent,
        kind: Some(kind),
    };
    let decrypt = Permission {
        method: Method::Nip44Decrypt,
        kind: None,
    };
    let nothing = Perms::none();
    assert!(policy.asks(sign(0), &nothing, true));
    assert!(
        !policy.asks(sign(1), &nothing, false),
        "kind 1 is not listed"
    );
    assert!(policy.asks(decrypt, &nothing, true));
    let remembered = Perms::parse("sign_event:0");
    assert!(
        !policy.asks(sign(0), &remembered, true),
        "remembered for the client"
    );
    assert!(
        policy.asks(decrypt, &remembered, true),
        "only what was remembered"
    );
    let ping = Permission {
        method: Method::Ping,
        kind: None,
    };
    let new_clients = Policy {
        ask_new_clients: true,
        ..Policy::default()
    };
    assert!(
        new_clients.asks(sign(1), &nothing, false),
        "a new client asks"
    );
    assert!(
        !new_clients.asks(sign(1), &nothing, true),
        "a confirmed one does not"
    );
    assert!(
        !new_clients.asks(ping, &nothing, false),
        "always-allowed methods never ask"
    );
    assert!(
        !Policy::default().asks(sign(0), &nothing, false),
        "the default asks nothing"
    );
}
