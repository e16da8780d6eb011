//! `summary.md`: a run's headline figures, a table per device and the
//! faults, in Markdown.

use std::fmt::Write as _;

use crate::plots::mean_some;
use crate::run_report::{RoundSpan, RunReport, RunStatus};

/// Bytes → KiB.
fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// Rounds as `3–7, 12` (a single-round span as one number); `—` if none.
pub fn format_spans(spans: &[RoundSpan]) -> String {
    if spans.is_empty() {
        return "—".into();
    }
    spans
        .iter()
        .map(|s| {
            if s.first == s.last {
                s.first.to_string()
            } else {
                format!("{}–{}", s.first, s.last)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value for a Markdown table cell (a `|` would end the cell).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The whole `summary.md` of `report`.
pub fn summary_markdown(r: &RunReport) -> String {
    let mut s = String::new();
    headline(&mut s, r);
    drops(&mut s, r);
    inputs(&mut s, r);
    devices(&mut s, r);
    energy(&mut s, r);
    faults(&mut s, r);
    s
}

/// The title, the first line: says whether the run was aborted and whether
/// anything was dropped.
fn title(r: &RunReport) -> String {
    let n = &r.network;
    let mut t = format!("# Run `{}`", r.name);
    if r.status == RunStatus::Aborted {
        t.push_str(" — ABORTED");
    }
    if n.drops_total > 0 {
        let _ = write!(
            t,
            " — WARNING: {} packets dropped ({})",
            n.drops_total,
            crate::drops::lines(n, &r.per_device).join("; ")
        );
    }
    t
}

fn drops(s: &mut String, r: &RunReport) {
    let n = &r.network;
    let lines = crate::drops::lines(n, &r.per_device);
    if lines.is_empty() && r.warnings.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Drops and warnings\n");
    if !lines.is_empty() {
        let _ = writeln!(
            s,
            "{} packets were dropped; they count against the delivery ratio ({:.4}), and the result may differ from an undisturbed run.\n",
            n.drops_total, n.delivery_ratio
        );
        let _ = writeln!(s, "| where | dropped, by kind |\n|---|---|");
        for l in &lines {
            let (place, kinds) = l.split_once(": ").unwrap_or((l, ""));
            let _ = writeln!(s, "| {} | {} |", cell(place), cell(kinds));
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "\n**Warning:** {}", cell(w));
    }
}

fn headline(s: &mut String, r: &RunReport) {
    let n = &r.network;
    let _ = writeln!(s, "{}\n", title(r));
    match r.status {
        RunStatus::Completed => {}
        RunStatus::Aborted => {
            let _ = writeln!(
                s,
                "**Aborted** after {} of {} rounds: {}. Every figure below covers only those rounds; the accuracy is the last one measured.\n",
                r.rounds,
                r.rounds_planned,
                r.abort_reason.as_deref().unwrap_or("no reason recorded"),
            );
        }
        RunStatus::Incomplete => {
            let _ = writeln!(
                s,
                "**Incomplete**: every round ran, but not every device reported its final weights (see `finished` below); there is no weights hash.\n",
            );
        }
    }
    let missed = r.missed_device_rounds();
    if missed > 0 {
        let who: Vec<String> = r
            .per_device
            .iter()
            .filter(|d| !d.missed_rounds.is_empty())
            .map(|d| format!("device {}: {}", d.device, format_spans(&d.missed_rounds)))
            .collect();
        let _ = writeln!(
            s,
            "**Devices missed {missed} rounds** ({}): their partial logits are missing there, so the result differs from an undisturbed run.\n",
            who.join("; ")
        );
    }
    let last_train = r.epochs.iter().rev().find_map(|e| e.train_accuracy);
    let _ = writeln!(
        s,
        "**Test accuracy {:.2} %** (host view; the devices' own view {:.2} % on average) after {} epochs{}.\n",
        100.0 * r.final_accuracy,
        100.0 * r.final_device_accuracy,
        r.epochs.len(),
        last_train
            .map(|a| format!(", last training accuracy {:.2} %", 100.0 * a))
            .unwrap_or_default(),
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| devices | {} |", r.devices);
    let _ = writeln!(
        s,
        "| rounds | {} of {} ({}) |",
        r.rounds,
        r.rounds_planned,
        r.status.as_str()
    );
    let _ = writeln!(s, "| emulated time | {:.1} s |", n.emulated_seconds);
    let _ = writeln!(s, "| wall time | {:.1} s |", r.wall_seconds);
    let _ = writeln!(s, "| emulated / wall | {:.2}× |", r.emulated_over_wall);
    let _ = writeln!(
        s,
        "| rounds per second (wall) | {:.1} |",
        r.rounds_per_second
    );
    let _ = writeln!(
        s,
        "| round period | {:.1} ms (flood {:.1} ms on average) |",
        n.round_period_us / 1000.0,
        n.flood_us_mean / 1000.0
    );
    let _ = writeln!(
        s,
        "| delivery ratio | {:.4} ({} of {} deliveries; {} lost) |",
        n.delivery_ratio, n.deliveries_made, n.deliveries_expected, n.messages_lost
    );
    let _ = writeln!(s, "| packets dropped | {} |", n.drops_total);
    let _ = writeln!(s, "| rounds timed out | {} |", n.timed_out_rounds);
    let _ = writeln!(
        s,
        "| weights hash | {} |",
        r.weights_hash
            .as_ref()
            .map(|h| format!("`{h}`"))
            .unwrap_or_else(|| "not every device reported its weights".into())
    );
    let c = &r.config;
    let _ = writeln!(
        s,
        "| config | {} features requested, {} input, {}, batch {}, seed {}, hash `{:016x}` |",
        c.model.num_features,
        c.model.input.as_str(),
        c.training.optimizer.as_str(),
        c.training.batch_size,
        r.seed,
        r.config_hash
    );
}

/// The input findings: a class without training series as a warning, the
/// rest as notes.
fn inputs(s: &mut String, r: &RunReport) {
    let lines = r.inputs.console_lines();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Inputs\n");
    for line in lines {
        match line.strip_prefix("warning: ") {
            Some(w) => {
                let _ = writeln!(s, "- **Warning:** {w}");
            }
            None => {
                let _ = writeln!(s, "- {}", line.strip_prefix("note: ").unwrap_or(&line));
            }
        }
    }
}

fn devices(s: &mut String, r: &RunReport) {
    let _ = writeln!(s, "\n## Devices\n");
    let _ = writeln!(
        s,
        "| device | features | memory KiB | training KiB | cycles / train sample | cycles / eval sample | latency ms / sample | energy mJ / sample | energy mJ (run) | missing logits | samples missed | missed rounds | joins | finished |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
    );
    for d in &r.per_device {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.3} | {:.1} | {} | {} | {} | {} | {} |",
            d.device,
            d.features,
            kib(d.memory.total),
            kib(d.memory.training_total),
            d.cycles_per_train_sample,
            d.cycles_per_eval_sample,
            d.latency_per_sample_us / 1000.0,
            d.energy_per_sample_uj / 1000.0,
            d.energy.total_uj / 1000.0,
            d.missing_contributions,
            d.samples_missed,
            format_spans(&d.missed_rounds),
            d.joins,
            if d.finished { "yes" } else { "no" },
        );
    }
    if let Some(max) = r.per_device.iter().map(|d| d.memory.total).max() {
        let _ = writeln!(
            s,
            "\nLargest device: {:.1} KiB (nRF52840: 256 KiB RAM).",
            kib(max)
        );
    }
    let accs: Vec<Option<f64>> = r
        .epochs
        .last()
        .map(|e| e.device_test_accuracy.clone())
        .unwrap_or_default();
    if let Some(m) = mean_some(&accs) {
        let _ = writeln!(
            s,
            "Devices' own test accuracy in the last epoch: {:.2} % on average.",
            100.0 * m
        );
    }
}

fn energy(s: &mut String, r: &RunReport) {
    let _ = writeln!(s, "\n## Energy by consumer (whole run, mJ)\n");
    let _ = writeln!(
        s,
        "| device | radio TX | radio RX | radio ramp-up | CPU | sleep | total |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
    for d in &r.per_device {
        let e = &d.energy;
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            d.device,
            e.radio_tx_uj / 1000.0,
            e.radio_rx_uj / 1000.0,
            e.radio_rampup_uj / 1000.0,
            e.cpu_uj / 1000.0,
            e.sleep_uj / 1000.0,
            e.total_uj / 1000.0,
        );
    }
    let c = &r.config.energy;
    let _ = writeln!(
        s,
        "\nModel: {} V; radio TX {} mA, RX {} mA, ramp-up {} mA for {} µs; CPU {} mA at {} MHz; sleep {} mA.",
        c.supply_v,
        c.radio_tx_ma,
        c.radio_rx_ma,
        c.radio_rampup_ma,
        c.radio_rampup_us,
        c.cpu_active_ma,
        c.cpu_mhz,
        c.sleep_ma
    );
}

fn faults(s: &mut String, r: &RunReport) {
    let _ = writeln!(s, "\n## Faults\n");
    if r.network.faults.is_empty() {
        let _ = writeln!(s, "None.");
        return;
    }
    let _ = writeln!(s, "| before round | fault |\n|---:|---|");
    for f in &r.network.faults {
        let _ = writeln!(s, "| {} | `{}` |", f.round, cell(&f.fault.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_report;

    #[test]
    fn spans() {
        assert_eq!(format_spans(&[]), "—");
        assert_eq!(
            format_spans(&[
                RoundSpan { first: 3, last: 7 },
                RoundSpan {
                    first: 12,
                    last: 12
                }
            ]),
            "3–7, 12"
        );
    }

    #[test]
    fn summary_has_the_figures() {
        let r = sample_report();
        let md = summary_markdown(&r);
        assert!(md.starts_with("# Run `toy`\n"), "{md}");
        assert!(md.contains("**Test accuracy 87.50 %**"), "{md}");
        // Device 1 missed rounds 10–12 and 20: said before the accuracy.
        assert_eq!(
            md.lines().nth(2).unwrap(),
            "**Devices missed 4 rounds** (device 1: 10–12, 20): their partial logits are missing there, so the result differs from an undisturbed run."
        );
        assert!(md.contains("on average) after 2 epochs, last training accuracy 90.00 %"));
        assert!(md.contains("| devices | 2 |"));
        assert!(md.contains("| rounds | 40 of 40 (completed) |"));
        assert!(!md.contains("Aborted"));
        assert!(md.contains("| emulated time | 24.1 s |"));
        assert!(md.contains("| wall time | 2.0 s |"));
        assert!(md.contains("| emulated / wall | 12.04× |"));
        assert!(md.contains("| delivery ratio | 0.9750 (78 of 80 deliveries; 2 lost) |"));
        // Device 1: 100 KiB, 50 KiB training, 602.5 ms, 1.234 mJ / sample.
        assert!(
            md.contains("| 1 | 42 | 100.0 | 50.0 | 2000 | 1500 | 602.50 | 1.234 | 49.4 | 3 | 1 | 10–12, 20 | 2 | yes |"),
            "{md}"
        );
        assert!(md.contains("Largest device: 100.0 KiB"));
        assert!(md.contains(
            "| config | 10000 features requested, f32 input, adam, batch 128, seed 0, hash `000000000000abcd` |"
        ));
        assert!(
            md.contains("| 0 | 1.000 | 2.000 | 0.100 | 3.000 | 4.000 | 10.100 |"),
            "{md}"
        );
        assert!(md.contains("| 7 | `{\"link_down\":[1,2]}` |"), "{md}");
        assert!(md.contains("Devices' own test accuracy in the last epoch: 85.00 %"));
    }

    #[test]
    fn drops_are_in_the_first_line_and_by_kind() {
        let mut r = sample_report();
        assert!(!summary_markdown(&r).contains("Drops"));
        r.network.relay_drops = vec![("too_large".into(), 240)];
        r.per_device[1].link_drops = vec![("foreign_source".into(), 3)];
        r.network.drops_total = 243;
        let md = summary_markdown(&r);
        assert_eq!(
            md.lines().next(),
            Some(
                "# Run `toy` — WARNING: 243 packets dropped (relay: too_large 240; device 1: link_foreign_source 3)"
            ),
            "{md}"
        );
        assert!(md.contains("| relay | too_large 240 |"), "{md}");
        assert!(md.contains("| device 1 | link_foreign_source 3 |"), "{md}");
        assert!(md.contains("| packets dropped | 243 |"), "{md}");
    }

    #[test]
    fn an_aborted_run_says_so_first_with_its_reason() {
        let mut r = sample_report();
        r.status = RunStatus::Aborted;
        r.completed = false;
        r.rounds = 17;
        r.abort_reason = Some("the relay exited (signal: 9 (SIGKILL))".into());
        let md = summary_markdown(&r);
        assert_eq!(md.lines().next(), Some("# Run `toy` — ABORTED"), "{md}");
        let first = md.lines().nth(2).unwrap();
        assert_eq!(
            first,
            "**Aborted** after 17 of 40 rounds: the relay exited (signal: 9 (SIGKILL)). Every figure below covers only those rounds; the accuracy is the last one measured."
        );
        assert!(md.contains("| rounds | 17 of 40 (aborted) |"), "{md}");
    }

    #[test]
    fn input_findings_are_in_the_summary() {
        use rocknet_node::inputs::{InputReport, Int8Report, ShortSeries};
        let mut r = sample_report();
        assert!(!summary_markdown(&r).contains("## Inputs"));
        r.inputs = InputReport {
            classes_without_training_series: vec!["c".into()],
            short_series: Some(ShortSeries {
                train_series: 3,
                test_series: 2,
                shortest: 7,
                padded_length: 9,
            }),
            int8: Some(Int8Report {
                rule: "quantile 0.999".into(),
                reference_abs: 2.0,
                per_unit: 63.5,
                resolution_steps: 120.0,
                clipped_train_values: 4,
                clipped_test_values: 5,
            }),
        };
        let md = summary_markdown(&r);
        assert!(
            md.contains("## Inputs\n\n- **Warning:** class(es) `c` declared by the training file have no training series"),
            "{md}"
        );
        assert!(md.contains("- 3 training and 2 test series are shorter than MiniRocket's 9-point kernel (shortest: 7); zero-padded at the end to length 9\n"), "{md}");
        assert!(md.contains("- int8 input: scale 127 / 2 (int8_scale = quantile 0.999); the 99th percentile of |x| falls on step 120.0 of 127; clipped to ±127: 4 training and 5 test values\n"), "{md}");
        // The findings come right after the headline table.
        assert!(md.find("## Inputs") < md.find("## Devices"));
    }

    #[test]
    fn a_report_without_inputs_still_reads() {
        let r = sample_report();
        let mut v = serde_json::to_value(&r).unwrap();
        v.as_object_mut().unwrap().remove("inputs");
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert_eq!(back.inputs, Default::default());
    }

    #[test]
    fn no_faults_says_none() {
        let mut r = sample_report();
        r.network.faults.clear();
        assert!(summary_markdown(&r).contains("## Faults\n\nNone.\n"));
    }
}
