//! The reason a task stays pending.

use super::filters::Filter;

/// `no suitable node (...)` from the number of nodes each filter was the first to
/// fail on (in [`Filter::ALL`] order): most nodes first, ties in filter order.
/// Without any node: `no suitable node`.
pub(crate) fn reason(failures: &[usize; 6]) -> String {
    let mut counted: Vec<(usize, Filter)> = Filter::ALL
        .iter()
        .zip(failures)
        .filter(|(_, &n)| n > 0)
        .map(|(&f, &n)| (n, f))
        .collect();
    if counted.is_empty() {
        return "no suitable node".to_string();
    }
    // Stable: equal counts keep filter order.
    counted.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
    let parts: Vec<String> = counted.iter().map(|&(n, f)| f.describe(n)).collect();
    format!("no suitable node ({})", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn most_common_failure_first_ties_in_filter_order() {
        assert_eq!(
            reason(&[0, 1, 3, 0, 0, 0]),
            "no suitable node (scheduling constraints not satisfied on 3 nodes; \
             insufficient resources on 1 node)"
        );
        assert_eq!(
            reason(&[2, 0, 0, 2, 0, 0]),
            "no suitable node (2 nodes not available for new tasks; \
             unsupported platform on 2 nodes)"
        );
        assert_eq!(reason(&[0; 6]), "no suitable node");
    }
}
