//! The query parser and evaluator: examples, then properties (precedence, parentheses,
//! wildcards, bounds) over generated queries and grants.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn p(s: &str) -> Permission {
    Permission::parse(s).unwrap()
}

fn granted(list: &[&str]) -> Granted {
    Granted::of(list.iter().map(|s| p(s)).collect())
}

fn q(s: &str) -> Query {
    Query::parse(s).unwrap()
}

#[test]
fn precedence_and_parentheses() {
    assert_eq!(q("a OR b AND c"), Query::Any(vec![q("a"), q("b AND c")]));
    assert_eq!(q("a AND b OR c"), Query::Any(vec![q("a AND b"), q("c")]));
    assert_eq!(q("(a OR b) AND c"), Query::All(vec![q("a OR b"), q("c")]));
    assert_eq!(q("a and b Or c"), q("a AND b OR c"));
    assert_eq!(q("((a))"), q("a"));
    assert_eq!(q("a AND(b OR c)").to_string(), "a AND (b OR c)");
    let g = granted(&["billing.read", "docs.write"]);
    assert!(q("billing.read AND (docs.read OR docs.write)").allows(&g));
    assert!(!q("billing.read AND docs.read OR docs.admin").allows(&g));
}

#[test]
fn missing_permissions() {
    let g = granted(&["a"]);
    assert_eq!(q("a AND b AND c").check(&g), Err(vec![p("b"), p("c")]));
    assert_eq!(q("(b AND c) OR d").check(&g), Err(vec![p("d")]));
    assert_eq!(
        q("(b AND c) OR (d AND e)").check(&g),
        Err(vec![p("b"), p("c")])
    );
    assert_eq!(q("b AND b").check(&g), Err(vec![p("b")]));
    assert_eq!(q("a OR b").check(&g), Ok(()));
}

#[test]
fn wildcard_grants_and_requirements() {
    let g = granted(&["billing.*", "docs.read"]);
    assert!(q("billing.read AND billing.invoices.write").allows(&g));
    assert!(q("billing.*").allows(&g));
    assert!(!q("billing").allows(&g));
    assert!(!q("docs.*").allows(&g));
    assert!(q("anything").allows(&granted(&["*"])));
}

#[test]
fn errors_name_the_position() {
    for (src, pos, what) in [
        ("", 1, "found the end"),
        ("a AND", 6, "found the end"),
        ("a b", 3, "expected AND, OR or the end"),
        ("(a OR b", 8, "expected `)`"),
        ("a AND )", 7, "found `)`"),
        ("docs.read AND docs..write", 20, "empty segment"),
        ("a OR b$", 7, "may not be in a permission"),
        ("AND a", 1, "found AND"),
    ] {
        let e = Query::parse(src).unwrap_err();
        assert_eq!(e.position, pos, "{src}: {e}");
        assert!(e.to_string().contains(what), "{src}: {e}");
    }
}

#[test]
fn bounds_are_refused_before_evaluation() {
    let deep = format!("{}a{}", "(".repeat(9), ")".repeat(9));
    assert!(Query::parse(&deep).unwrap_err().reason.contains("nest"));
    let ok = format!("{}a{}", "(".repeat(8), ")".repeat(8));
    assert!(Query::parse(&ok).is_ok());
    let many = vec!["a"; 33].join(" AND ");
    assert!(
        Query::parse(&many)
            .unwrap_err()
            .reason
            .contains("at most 32")
    );
    assert!(Query::parse(&vec!["a"; 32].join(" OR ")).is_ok());
    let long = format!("a{}", " ".repeat(1000));
    assert_eq!(Query::parse(&long).unwrap_err().position, 1001);
    // A million parentheses are refused by length, without recursion.
    assert!(Query::parse(&"(".repeat(1_000_000)).is_err());
}

#[test]
fn sources_say_where_each_permission_comes_from() {
    let t = Timestamp::from_unix(0);
    let role = |ps: &[&str]| Role {
        description: String::new(),
        permissions: ps.iter().map(|s| p(s)).collect(),
        created_at: t,
        updated_at: t,
    };
    let mut c = Catalogue::default();
    c.roles
        .insert(RoleName::parse("reader").unwrap(), role(&["docs.read"]));
    c.roles.insert(
        RoleName::parse("staff").unwrap(),
        role(&["docs.read", "wiki.*"]),
    );
    c.owners
        .insert("alice".into(), vec![RoleName::parse("staff").unwrap()]);
    let roles = [RoleName::parse("reader").unwrap()];
    let perms = [p("billing.read")];
    let g = Grants {
        owner: "alice",
        roles: &roles,
        permissions: &perms,
        inherit_owner_roles: true,
    };
    let s = c.sources(g);
    let shown: Vec<String> = s
        .iter()
        .map(|(p, from)| {
            let from: Vec<String> = from.iter().map(ToString::to_string).collect();
            format!("{p}<-{}", from.join(","))
        })
        .collect();
    assert_eq!(
        shown,
        [
            "billing.read<-key",
            "docs.read<-role:reader,owner-role:staff",
            "wiki.*<-owner-role:staff"
        ]
    );
    assert!(q("wiki.page.edit").allows(&c.granted(g)));
    let alone = Grants {
        inherit_owner_roles: false,
        ..g
    };
    assert!(!q("wiki.page.edit").allows(&c.granted(alone)));
    assert_eq!(c.owners_of(&RoleName::parse("staff").unwrap()), ["alice"]);
    let back = Catalogue::decode(Some(&c.encode())).unwrap();
    assert_eq!(back, c);
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "read", "write"]).prop_map(String::from),
        1 => Just("*".to_string()),
    ]
}

fn permission() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..4).prop_map(|s| s.join("."))
}

fn query() -> impl Strategy<Value = Query> {
    let leaf = permission().prop_map(|s| Query::Has(p(&s)));
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Query::All),
            prop::collection::vec(inner, 2..4).prop_map(Query::Any),
        ]
    })
}

/// The query as a plain boolean formula over "some grant covers this name".
fn reference(q: &Query, grants: &[Permission]) -> bool {
    match q {
        Query::Has(w) => grants.iter().any(|g| covers(g.as_str(), w.as_str())),
        Query::All(v) => v.iter().all(|q| reference(q, grants)),
        Query::Any(v) => v.iter().any(|q| reference(q, grants)),
    }
}

proptest! {
    #[test]
    fn written_queries_read_back(q in query()) {
        let text = q.to_string();
        prop_assert_eq!(Query::parse(&text).unwrap(), q);
    }

    #[test]
    fn evaluation_matches_the_formula(
        q in query(),
        held in prop::collection::vec(permission(), 0..6),
    ) {
        let held: Vec<Permission> = held.iter().map(|s| p(s)).collect();
        let g = Granted::of(held.clone());
        let expected = reference(&q, &held);
        prop_assert_eq!(q.allows(&g), expected);
        match q.check(&g) {
            Ok(()) => prop_assert!(expected),
            Err(missing) => {
                prop_assert!(!expected);
                prop_assert!(!missing.is_empty());
                // Granting what was reported missing satisfies the query.
                let mut more = held.clone();
                more.extend(missing);
                prop_assert!(q.allows(&Granted::of(more)));
            }
        }
    }

    #[test]
    fn literal_grants_cover_only_themselves(a in permission(), b in permission()) {
        let a = a.replace('*', "x");
        prop_assert_eq!(covers(&a, &b), a == b);
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(s in "[a-z .()*ANDOR$é]{0,80}") {
        let _ = Query::parse(&s);
    }
}
