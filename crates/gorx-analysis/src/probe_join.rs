//! Joining the findings of eBPF probes (`gorx probe`, `inspect --ebpf`, a bundle's
//! probe.json) with what the artifacts and /proc of the same process say.
//!
//! Needs: the findings judged from the artifacts, and the probes' findings of the same
//! process over a window. Claims nothing new. When both name the same id (an fd count
//! rising in /proc and the fd probe's leaking site), one finding stays: the one that
//! names a site (the probe took the Go stack; /proc cannot), else the more severe, else
//! the artifacts' one; its sources list both, and evidence keys only the other one had
//! are kept beside its own. Findings with ids only one side has pass through, and so do
//! the probes' further findings of one id (one per leaking site): each artifact finding
//! is joined with at most one probe finding, the first (the probes list the worst first).

use crate::finding::Finding;

/// `findings` (artifacts, /proc) with the probes' `probe` findings joined in.
pub fn join_probe_findings(findings: Vec<Finding>, probe: Vec<Finding>) -> Vec<Finding> {
    let mut out = findings;
    let mut joined = vec![false; out.len()];
    for p in probe {
        let Some(i) = (0..joined.len()).find(|&i| !joined[i] && out[i].id == p.id) else {
            out.push(p);
            continue;
        };
        joined[i] = true;
        let a = &out[i];
        let take_probe = match (a.sites.is_empty(), p.sites.is_empty()) {
            (true, false) => true,
            (false, true) => false,
            _ => p.severity > a.severity,
        };
        let (mut keep, other) = if take_probe {
            (p, out[i].clone())
        } else {
            (out[i].clone(), p)
        };
        for s in other.sources {
            if !keep.sources.contains(&s) {
                keep.sources.push(s);
            }
        }
        for (k, v) in other.evidence {
            keep.evidence.entry(k).or_insert(v);
        }
        out[i] = keep;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Evidence, Severity};

    fn f(
        id: &'static str,
        sev: Severity,
        source: &str,
        sites: &[&str],
        ev: &[(&str, i64)],
    ) -> Finding {
        Finding {
            id,
            severity: sev,
            title: format!("{id} from {source}"),
            evidence: ev
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect::<Evidence>(),
            recommendation: String::new(),
            sources: vec![source.into()],
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_sited_finding_stays_with_both_sources() {
        let proc = f(
            "fd.leak",
            Severity::Critical,
            "/proc/7",
            &[],
            &[("fds_first", 12)],
        );
        let probe = f(
            "fd.leak",
            Severity::Warning,
            "ebpf:syscall-tracepoints fds pid 7",
            &["main.dial"],
            &[("outstanding", 40)],
        );
        let out = join_probe_findings(vec![proc], vec![probe]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].sites, vec!["main.dial".to_string()]);
        assert_eq!(out[0].severity, Severity::Warning);
        assert_eq!(
            out[0].sources,
            vec![
                "ebpf:syscall-tracepoints fds pid 7".to_string(),
                "/proc/7".into()
            ]
        );
        assert_eq!(out[0].evidence["fds_first"], 12);
        assert_eq!(out[0].evidence["outstanding"], 40);
        // A second leaking site of the probe stays its own finding.
        let one = f("fd.leak", Severity::Warning, "ebpf", &["main.dial"], &[]);
        let two = f("fd.leak", Severity::Warning, "ebpf", &["main.accept"], &[]);
        let out = join_probe_findings(Vec::new(), vec![one, two]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].sites, vec!["main.accept".to_string()]);
    }

    #[test]
    fn an_artifact_site_is_not_replaced_and_new_ids_pass_through() {
        let art = f(
            "syscall.blocking",
            Severity::Info,
            "dump",
            &["main.read"],
            &[],
        );
        let probe = f("syscall.blocking", Severity::Warning, "ebpf", &[], &[]);
        let slow = f(
            "syscall.slow",
            Severity::Warning,
            "ebpf",
            &["main.sync"],
            &[],
        );
        let out = join_probe_findings(vec![art], vec![probe, slow]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].sites, vec!["main.read".to_string()]);
        assert_eq!(out[0].sources, vec!["dump".to_string(), "ebpf".into()]);
        assert_eq!(out[1].id, "syscall.slow");
        // Neither has a site: the more severe.
        let a = f("sched.cpu-starved", Severity::Info, "proc", &[], &[]);
        let b = f("sched.cpu-starved", Severity::Warning, "ebpf", &[], &[]);
        let out = join_probe_findings(vec![a], vec![b]);
        assert_eq!(out[0].severity, Severity::Warning);
        assert_eq!(out[0].sources, vec!["ebpf".to_string(), "proc".into()]);
    }
}
