//! `*` and `?` wildcards as IAM uses them in actions, resources and `…Like` conditions.

/// Does `pattern` (with `*` = any run, `?` = any one character) match `text`?
/// Iterative with backtracking to the last `*`: linear in practice, no recursion.
pub fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(glob_match("*", "", false));
        assert!(glob_match("s3:Get*", "s3:GetObject", false));
        assert!(glob_match("s3:get*", "s3:GetObject", true));
        assert!(!glob_match("s3:get*", "s3:GetObject", false));
        assert!(glob_match(
            "arn:aws:s3:::b/home/*",
            "arn:aws:s3:::b/home/a/b",
            false
        ));
        assert!(!glob_match(
            "arn:aws:s3:::b/home/*",
            "arn:aws:s3:::b/homework",
            false
        ));
        assert!(glob_match("a?c", "abc", false));
        assert!(!glob_match("a?c", "ac", false));
        assert!(glob_match("*a*b*", "xxaxxbxx", false));
        assert!(!glob_match("*a*b", "xxaxxbxx", false));
    }

    proptest! {
        #[test]
        fn a_literal_matches_itself_and_star_matches_all(s in "[a-z/:*?]{0,20}") {
            prop_assert!(glob_match("*", &s, false));
            let literal: String = s.chars().filter(|c| *c != '*' && *c != '?').collect();
            prop_assert!(glob_match(&literal, &literal, false));
        }
    }
}
