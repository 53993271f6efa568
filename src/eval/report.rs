//! What `kgqa bench` reports, and its renderings: JSON (serde), a Markdown table and an
//! SVG plot (accuracies with their 95% intervals and chance level; latencies).

use std::fmt::Write;
use std::path::Path;

use crate::eval::dataset::Item;
use serde::Serialize;

/// The whole benchmark.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The model benchmarked.
    pub model: ModelInfo,
    /// The model compared with, if any.
    pub baseline: Option<ModelInfo>,
    /// The graph the facts came from (when retrieved in this run).
    pub graph: String,
    /// One entry per question set.
    pub datasets: Vec<DatasetReport>,
    /// The matrix-product kernels that ran, and the CPU.
    pub kernels: crate::model::kernels::KernelPath,
    /// The process's peak resident memory (graph, models and all), MiB.
    pub peak_rss_mib: Option<f64>,
    /// Wall-clock seconds of the whole benchmark.
    pub seconds: f64,
}

/// A model folder.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    /// The folder.
    pub path: String,
    /// Its fusion (`none`, `input`, `entity`, `input+entity`).
    pub fusion: String,
    /// Parameters.
    pub parameters: usize,
    /// The folder's files, in bytes.
    pub bytes_on_disk: u64,
    /// The precision of its matrix products (`f32` or `int8`).
    pub precision: String,
}

/// One question set.
#[derive(Debug, Default, Serialize)]
pub struct DatasetReport {
    /// The file.
    pub file: String,
    /// Its format.
    pub format: String,
    /// Questions scored.
    pub questions: usize,
    /// The accuracy of guessing: the mean of 1 / choices.
    pub chance: f64,
    /// The model with the graph's facts (as it answers users).
    pub with_graph: Run,
    /// The same model with the facts withheld (absent for an LM-only model).
    pub without_graph: Option<Run>,
    /// With the graph against withheld, paired.
    pub graph_gain: Option<Paired>,
    /// The baseline model.
    pub baseline: Option<Run>,
    /// The model against the baseline, paired.
    pub baseline_gain: Option<Paired>,
    /// Retrieval latency per question: grounding, retrieval and the facts' texts (absent
    /// when the facts came from a cache).
    pub retrieval: Option<Latency>,
    /// Per question, its retrieval plus its model time (with the graph): the latency a
    /// user meets, short of the HTTP layer (absent without retrieval).
    pub end_to_end: Option<Latency>,
    /// The share of choices with at least one fact.
    pub facts_coverage: Option<f64>,
    /// Questions per second scored in batches of `batch`.
    pub throughput_qps: f64,
    /// The throughput's batch size.
    pub batch: usize,
}

impl DatasetReport {
    /// An empty report of the set `file` with `items`.
    pub fn new(file: &Path, format: &str, items: &[Item]) -> Self {
        let chance = items.iter().map(|i| 1.0 / i.choices.len() as f64).sum::<f64>()
            / items.len().max(1) as f64;
        DatasetReport {
            file: file.display().to_string(),
            format: format.to_owned(),
            questions: items.len(),
            chance,
            ..Default::default()
        }
    }

    fn name(&self) -> String {
        Path::new(&self.file)
            .file_stem()
            .map_or_else(|| self.file.clone(), |s| s.to_string_lossy().into_owned())
    }
}

/// One model's pass over a set, each question scored alone.
#[derive(Debug, Default, Serialize)]
pub struct Run {
    /// Questions right.
    pub correct: usize,
    /// Their share.
    pub accuracy: f64,
    /// The accuracy's 95% Wilson interval.
    pub ci95: [f64; 2],
    /// Model latency per question (encoding + scoring, batch 1).
    pub latency: Latency,
    /// Encoding per question: tokenization and the model's inputs.
    pub encoding: Latency,
    /// Scoring per question: the forward pass to the choices' probabilities.
    pub scoring: Latency,
}

/// A paired comparison of A (the model with the graph) and B.
#[derive(Debug, Serialize)]
pub struct Paired {
    /// A's accuracy minus B's.
    pub difference: f64,
    /// Questions only A gets right.
    pub only_a: usize,
    /// Questions only B gets right.
    pub only_b: usize,
    /// The exact two-sided McNemar p-value.
    pub p_value: f64,
}

/// Latency in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
}

impl Latency {
    /// The summary of `ms` (nearest-rank percentiles).
    pub fn of(mut ms: Vec<f64>) -> Self {
        if ms.is_empty() {
            return Latency::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Latency {
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            p50_ms: rank(0.5),
            p95_ms: rank(0.95),
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn run_cell(r: &Run) -> String {
    format!("{} ({}-{})", pct(r.accuracy), pct(r.ci95[0]), pct(r.ci95[1]))
}

fn paired_cell(p: &Paired) -> String {
    let value = match p.p_value {
        v if v >= 0.01 => format!("{v:.2}"),
        v if v >= 0.001 => format!("{v:.3}"),
        v => format!("{v:.1e}"),
    };
    format!("{:+.1} ({} vs {}, p {value})", 100.0 * p.difference, p.only_a, p.only_b)
}

impl Report {
    /// The Markdown rendering: a header on the models, one table row per set.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let m = &self.model;
        let _ = writeln!(
            s,
            "model: {} ({} fusion, {:.1}M parameters, {:.1} MB on disk, {} products)",
            m.path,
            m.fusion,
            m.parameters as f64 / 1e6,
            m.bytes_on_disk as f64 / 1e6,
            m.precision
        );
        if let Some(b) = &self.baseline {
            let _ = writeln!(s, "baseline: {} ({} fusion)", b.path, b.fusion);
        }
        let rss = self.peak_rss_mib.map_or("n/a".into(), |r| format!("{r:.0} MiB"));
        let _ = writeln!(s, "kernels: {}", self.kernels.summary());
        let _ = writeln!(s, "graph: {}; peak memory {rss}; {:.1} s\n", self.graph, self.seconds);
        s.push_str(
            "| set | format | questions | chance | accuracy (95% interval) | graph withheld | \
             graph's gain (only with, only without, p) | baseline | vs baseline | model ms p50 \
             (p95) = encoding + scoring p50 | retrieval ms p50 (p95) | end to end ms p50 (p95) \
             | facts coverage | q/s (batch) |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for d in &self.datasets {
            let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} ({:.1}) = {:.1} + {:.1} | {} | {} | {} | {:.0} ({}) |",
                d.name(),
                d.format,
                d.questions,
                pct(d.chance),
                run_cell(&d.with_graph),
                opt(d.without_graph.as_ref().map(run_cell)),
                opt(d.graph_gain.as_ref().map(paired_cell)),
                opt(d.baseline.as_ref().map(run_cell)),
                opt(d.baseline_gain.as_ref().map(paired_cell)),
                d.with_graph.latency.p50_ms,
                d.with_graph.latency.p95_ms,
                d.with_graph.encoding.p50_ms,
                d.with_graph.scoring.p50_ms,
                opt(d.retrieval.as_ref().map(|r| format!("{:.1} ({:.1})", r.p50_ms, r.p95_ms))),
                opt(d.end_to_end.as_ref().map(|r| format!("{:.1} ({:.1})", r.p50_ms, r.p95_ms))),
                opt(d.facts_coverage.map(pct)),
                d.throughput_qps,
                d.batch,
            );
        }
        s
    }

    /// The SVG rendering: per set, bars of accuracy (with the graph, withheld, baseline)
    /// with their 95% intervals and a dashed chance line; below, model and retrieval
    /// latency of the model, retrieval and the baseline (p50 bars, p95 ticks).
    pub fn svg(&self) -> String {
        let width = (LEFT + 20.0 + GROUP * self.datasets.len() as f64).max(460.0);
        let height = 2.0 * PANEL + 190.0;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let bottom = self.accuracy_panel(&mut s, width, 40.0);
        self.latency_panel(&mut s, width, bottom + 80.0);
        s.push_str("</svg>\n");
        s
    }

    /// The accuracy panel from `y0` down, 0 to the highest interval end rounded up to
    /// 10%; where it ends.
    fn accuracy_panel(&self, s: &mut String, width: f64, y0: f64) -> f64 {
        const COLOURS: [&str; 3] = ["#2563eb", "#9ca3af", "#f59e0b"];
        let top = self
            .datasets
            .iter()
            .flat_map(|d| [Some(&d.with_graph), d.without_graph.as_ref(), d.baseline.as_ref()])
            .flatten()
            .map(|r| r.ci95[1])
            .fold(0.1f64, f64::max);
        let top = (top * 10.0).ceil() / 10.0;
        let y1 = y0 + PANEL;
        let y = |v: f64| y1 - (v / top) * (y1 - y0);
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{:.0}\" font-size=\"13\">accuracy (95% interval; dashed: chance)</text>",
            y0 - 20.0
        );
        axis(s, LEFT, width - 20.0, y0, y1, top, |v| format!("{:.0}%", 100.0 * v));
        for (g, d) in self.datasets.iter().enumerate() {
            let x0 = LEFT + 10.0 + GROUP * g as f64;
            let runs = [Some(&d.with_graph), d.without_graph.as_ref(), d.baseline.as_ref()];
            for (b, run) in runs.iter().enumerate() {
                let Some(run) = run else { continue };
                let x = x0 + 45.0 * b as f64;
                let _ = writeln!(
                    s,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"36\" height=\"{:.1}\" fill=\"{}\"/>",
                    y(run.accuracy),
                    y1 - y(run.accuracy),
                    COLOURS[b]
                );
                let cx = x + 18.0;
                let _ = writeln!(
                    s,
                    "<line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
                    y(run.ci95[0]),
                    y(run.ci95[1])
                );
                let _ = writeln!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.1}</text>",
                    y(run.ci95[1]) - 4.0,
                    100.0 * run.accuracy
                );
            }
            let _ = writeln!(
                s,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{2:.1}\" y2=\"{2:.1}\" stroke=\"#dc2626\" stroke-dasharray=\"4 3\"/>",
                x0 - 4.0,
                x0 + 135.0,
                y(d.chance)
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({})</text>",
                x0 + 63.0,
                y1 + 16.0,
                escape(&d.name()),
                d.questions
            );
        }
        let names = ["with the graph", "graph withheld", "baseline"];
        legend(s, LEFT, y1 + 34.0, &COLOURS, &names);
        y1
    }

    /// The latency panel (ms per question) from `y0` down.
    fn latency_panel(&self, s: &mut String, width: f64, y0: f64) {
        const LATENCY: [&str; 3] = ["#2563eb", "#16a34a", "#f59e0b"];
        let y1 = y0 + PANEL;
        let top = self
            .datasets
            .iter()
            .flat_map(|d| {
                [
                    Some(&d.with_graph.latency),
                    d.retrieval.as_ref(),
                    d.baseline.as_ref().map(|r| &r.latency),
                ]
            })
            .flatten()
            .map(|l| l.p95_ms)
            .fold(1.0f64, f64::max);
        let top = nice_ceiling(top * 1.05);
        let y = |v: f64| y1 - (v / top) * (y1 - y0);
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{:.0}\" font-size=\"13\">ms per question (bar: p50; tick: p95)</text>",
            y0 - 20.0
        );
        axis(s, LEFT, width - 20.0, y0, y1, top, |v| format!("{v:.0}"));
        for (g, d) in self.datasets.iter().enumerate() {
            let x0 = LEFT + 10.0 + GROUP * g as f64;
            let baseline = d.baseline.as_ref().map(|r| &r.latency);
            for (b, lat) in
                [Some(&d.with_graph.latency), d.retrieval.as_ref(), baseline].iter().enumerate()
            {
                let Some(lat) = lat else { continue };
                let x = x0 + 45.0 * b as f64;
                let _ = writeln!(
                    s,
                    "<rect class=\"latency\" x=\"{x:.1}\" y=\"{:.1}\" width=\"36\" height=\"{:.1}\" fill=\"{}\"/>",
                    y(lat.p50_ms),
                    y1 - y(lat.p50_ms),
                    LATENCY[b]
                );
                let _ = writeln!(
                    s,
                    "<line x1=\"{x:.1}\" x2=\"{x2:.1}\" y1=\"{tick:.1}\" y2=\"{tick:.1}\" stroke=\"black\" stroke-width=\"2\"/>",
                    x2 = x + 36.0,
                    tick = y(lat.p95_ms)
                );
            }
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x0 + 40.0,
                y1 + 16.0,
                escape(&d.name())
            );
        }
        legend(s, LEFT, y1 + 34.0, &LATENCY, &["model", "retrieval", "baseline model"]);
    }
}

/// The plot's group width, left margin and panel height.
const GROUP: f64 = 170.0;
const LEFT: f64 = 60.0;
const PANEL: f64 = 220.0;

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `v` (> 0), so that
/// the axis's five steps are round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|&x| x >= v).unwrap_or(10.0 * power)
}

/// A y axis from 0 to `top` with five grid lines.
fn axis(
    s: &mut String,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    top: f64,
    label: impl Fn(f64) -> String,
) {
    for i in 0..=5 {
        let v = top * i as f64 / 5.0;
        let y = y1 - (y1 - y0) * i as f64 / 5.0;
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" x2=\"{x1:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            y + 4.0,
            label(v)
        );
    }
}

fn legend(s: &mut String, x: f64, y: f64, colours: &[&str], names: &[&str]) {
    for (i, (c, n)) in colours.iter().zip(names).enumerate() {
        let x = x + 130.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"{y:.1}\">{n}</text>",
            y - 10.0,
            x + 16.0
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(correct: usize, n: usize) -> Run {
        let (low, high) = crate::eval::stats::wilson_interval(correct, n);
        Run {
            correct,
            accuracy: correct as f64 / n as f64,
            ci95: [low, high],
            latency: Latency::of(vec![3.0, 1.0, 2.0, 10.0]),
            encoding: Latency::of(vec![1.0, 0.5, 1.0, 2.0]),
            scoring: Latency::of(vec![2.0, 0.5, 1.0, 8.0]),
        }
    }

    fn report() -> Report {
        let mut d = DatasetReport {
            file: "sets/a<b>&.jsonl".into(),
            format: "csqa".into(),
            questions: 10,
            chance: 0.2,
            with_graph: run(6, 10),
            ..Default::default()
        };
        d.without_graph = Some(run(4, 10));
        d.graph_gain = Some(Paired { difference: 0.2, only_a: 3, only_b: 1, p_value: 0.625 });
        let model = ModelInfo {
            path: "m".into(),
            fusion: "input".into(),
            parameters: 17_400_000,
            bytes_on_disk: 30_000_000,
            precision: "f32".into(),
        };
        Report {
            model,
            baseline: None,
            graph: "g".into(),
            datasets: vec![d],
            kernels: crate::model::kernels::path().clone(),
            peak_rss_mib: Some(512.0),
            seconds: 1.0,
        }
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(93.6), 100.0);
        assert_eq!(nice_ceiling(46.0), 50.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(nice_ceiling(2.0), 2.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
    }

    #[test]
    fn latency_percentiles_are_nearest_rank() {
        let l = Latency::of(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((l.mean_ms, l.p50_ms, l.p95_ms), (4.0, 2.0, 10.0));
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!((l.p50_ms, l.p95_ms), (50.0, 95.0));
        assert_eq!(Latency::of(vec![]).p50_ms, 0.0);
    }

    #[test]
    fn markdown_has_one_row_per_set_and_dashes_for_what_is_absent() {
        let md = report().markdown();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| a<b>&")).collect();
        assert_eq!(rows.len(), 1, "{md}");
        let cells: Vec<&str> = rows[0].split(" | ").collect();
        assert_eq!(cells[3], "20.0%");
        assert!(cells[4].starts_with("60.0% ("), "{}", cells[4]);
        assert_eq!(cells[6], "+20.0 (3 vs 1, p 0.62)");
        assert_eq!((cells[7], cells[8]), ("-", "-"));
        assert!(md.contains("17.4M parameters, 30.0 MB on disk"), "{md}");
        assert!(md.contains("peak memory 512 MiB"), "{md}");
    }

    #[test]
    fn svg_draws_each_run_and_escapes_names() {
        let svg = report().svg();
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        // With the graph and withheld (no baseline), and one latency bar (no retrieval).
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert_eq!(svg.matches("class=\"latency\"").count(), 1);
        assert!(svg.contains("a&lt;b&gt;&amp; (10)"), "{svg}");
        assert!(!svg.contains("a<b>"));
        assert!(svg.contains(">60.0</text>") && svg.contains(">40.0</text>"));
    }
}
