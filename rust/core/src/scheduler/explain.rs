//! The reason a task stays pending.

use super::filters::Filter;

/// The text of a plugin filter whose group gives no explanation for it.
pub(crate) const DEFAULT_PLUGIN_EXPLANATION: &str =
    "refused by a placement plugin on {count} {nodes}";

/// `no suitable node (...)` from the number of nodes each step of the pipeline was
/// the first to refuse, in pipeline order: ready, resources, one count per plugin
/// filter (`explanations` gives their texts), constraints, platform, host ports, max
/// replicas. Most nodes first, ties in pipeline order. Without any node:
/// `no suitable node`.
pub(crate) fn reason(failures: &[usize], explanations: &[String]) -> String {
    let plugins = explanations.len();
    debug_assert_eq!(failures.len(), Filter::ALL.len() + plugins);
    let mut counted: Vec<(usize, usize)> = failures
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(step, &n)| (n, step))
        .collect();
    if counted.is_empty() {
        return "no suitable node".to_string();
    }
    // Stable: equal counts keep pipeline order.
    counted.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
    let parts: Vec<String> = counted
        .iter()
        .map(|&(n, step)| match step {
            0 | 1 => Filter::ALL[step].describe(n),
            s if s < 2 + plugins => fill(&explanations[s - 2], n),
            s => Filter::ALL[s - plugins].describe(n),
        })
        .collect();
    format!("no suitable node ({})", parts.join("; "))
}

/// A plugin's explanation for `n` nodes: `{count}` becomes `n`, then `{nodes}`
/// becomes `node` or `nodes`.
pub(crate) fn fill(template: &str, n: usize) -> String {
    let word = if n == 1 { "node" } else { "nodes" };
    template
        .replace("{count}", &n.to_string())
        .replace("{nodes}", word)
}

#[cfg(test)]
mod tests {
    use super::{fill, reason};

    #[test]
    fn most_common_failure_first_ties_in_filter_order() {
        assert_eq!(
            reason(&[0, 1, 3, 0, 0, 0], &[]),
            "no suitable node (scheduling constraints not satisfied on 3 nodes; \
             insufficient resources on 1 node)"
        );
        assert_eq!(
            reason(&[2, 0, 0, 2, 0, 0], &[]),
            "no suitable node (2 nodes not available for new tasks; \
             unsupported platform on 2 nodes)"
        );
        assert_eq!(reason(&[0; 6], &[]), "no suitable node");
    }

    #[test]
    fn plugin_filters_sit_between_resources_and_constraints() {
        let texts = [
            "load too high on {count} {nodes}".to_string(),
            "b {count}".into(),
        ];
        assert_eq!(
            reason(&[0, 1, 1, 2, 1, 0, 0, 0], &texts),
            "no suitable node (b 2; insufficient resources on 1 node; \
             load too high on 1 node; scheduling constraints not satisfied on 1 node)"
        );
    }

    #[test]
    fn templates_fill_count_then_nodes() {
        assert_eq!(fill("{count} {nodes}", 1), "1 node");
        assert_eq!(fill("{count}{count} {nodes}s", 2), "22 nodess");
        assert_eq!(fill("{{count}} {node}", 3), "{3} {node}");
    }
}
