//! `synchronous_standby_names` as Lifeline writes and reads it: a synchronous set of node names
//! in PostgreSQL's syntax, and back.

use lifeline_model::NodeName;

/// `ANY 1 ("pg2", "pg3")`: a commit is acknowledged once any one of them has it; empty for none.
pub(crate) fn sync_value(members: &[NodeName]) -> String {
    if members.is_empty() {
        return String::new();
    }
    let names: Vec<String> = members
        .iter()
        .map(|name| format!("\"{}\"", name.as_str().replace('"', "\"\"")))
        .collect();
    format!("ANY 1 ({})", names.join(", "))
}

/// The standby names in a `synchronous_standby_names` value Lifeline wrote (`ANY n (...)`,
/// `FIRST n (...)` and a plain list are read too).
pub(crate) fn members_of(value: &str) -> Vec<String> {
    let list = match (value.find('('), value.rfind(')')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value,
    };
    list.split(',')
        .map(|name| name.trim().trim_matches('"').replace("\"\"", "\""))
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_any_one_of() {
        let value = sync_value(&[NodeName::new("pg2"), NodeName::new("pg3")]);
        assert_eq!(value, r#"ANY 1 ("pg2", "pg3")"#);
        assert_eq!(members_of(&value), vec!["pg2", "pg3"]);
        assert_eq!(members_of("FIRST 1 (a, b)"), vec!["a", "b"]);
        assert_eq!(members_of("a,b"), vec!["a", "b"]);
        assert!(members_of("").is_empty());
        assert_eq!(sync_value(&[]), "");
    }
}
