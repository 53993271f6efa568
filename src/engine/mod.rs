//! The engine: one synchronous type that the CLI, the server and the benchmarks call.
//!
//! ```text
//! ground -> (candidates) -> retrieve -> verbalize -> fuse -> score -> answer
//! ```
//!
//! Grounding and retrieval live in [`crate::kg`], fusion and scoring in [`crate::model`];
//! the engine strings them together, times every stage and explains the answer with the
//! facts it used.

pub mod error;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use crate::knowledge::{ChoiceKnowledge, Knowledge};
pub use error::{Error, Result};

use crate::kg::Graph;
use crate::kg::candidates::AnswerKind;
use crate::kg::ground::{Diagnostic, Mention};
use crate::kg::retrieve::{self, Definition, Fact, Retriever};
use crate::model::head::{MultipleChoice, Question};

/// [`Options::model_weight`]'s default: on the 500 held-out training questions, the
/// shipped student with weight 0, 0.25, 0.5, 0.75, 1 ranked the gold answer first for 10,
/// 23, 26, 25, 24 of the 60 whose gold answer the graph proposed (`benches/open_ended.rs`).
pub const DEFAULT_MODEL_WEIGHT: f64 = 0.5;

/// How the engine answers.
#[derive(Clone, Debug)]
pub struct Options {
    /// Retrieval settings (top k, 2-hop, hub penalty...).
    pub retrieve: retrieve::Options,
    /// Candidates the model re-ranks for open-ended questions.
    pub candidates: usize,
    /// Most choices a request may have.
    pub max_choices: usize,
    /// Longest question or passage, in bytes.
    pub max_text: usize,
    /// Open-ended questions with a trained model rank candidates by graph score times
    /// model probability to this power, renormalized (0: the graph alone, 1: a plain
    /// product). `benches/open_ended.rs` measures the choice on held-out questions.
    pub model_weight: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retrieve: retrieve::Options::default(),
            candidates: 10,
            max_choices: 16,
            max_text: 4096,
            model_weight: DEFAULT_MODEL_WEIGHT,
        }
    }
}

/// A question to answer.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The question.
    pub question: String,
    /// Context given with the question.
    #[serde(default)]
    pub passage: Option<String>,
    /// Candidate answers; empty: the engine proposes candidates from the graph.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Answer without the graph (the language model alone).
    #[serde(default)]
    pub no_kg: bool,
}

/// One scored choice, with the knowledge behind it.
#[derive(Clone, Debug, Serialize)]
pub struct ChoiceAnswer {
    /// The choice text.
    pub text: String,
    /// The model's probability (uniform when there is no trained model). For open-ended
    /// questions with a trained model: the graph score times the model's probability to
    /// the power [`Options::model_weight`], renormalized over the candidates ([`mix`]).
    pub probability: f32,
    /// For graph candidates: their path score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_score: Option<f64>,
    /// The concepts of the choice.
    pub concepts: Vec<String>,
    /// The facts used for it, best first.
    pub facts: Vec<Fact>,
    /// Definitions of its concepts.
    pub definitions: Vec<Definition>,
}

/// Milliseconds spent in each stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Grounding of the question, passage and choices.
    pub ground_ms: f64,
    /// Candidate generation (open-ended questions only).
    pub candidates_ms: f64,
    /// Graph retrieval (neighbourhoods, paths, definitions).
    pub retrieve_ms: f64,
    /// Fact and concept texts.
    pub verbalize_ms: f64,
    /// Tokenization and entity vectors.
    pub fuse_ms: f64,
    /// The model's forward pass.
    pub score_ms: f64,
    /// Everything.
    pub total_ms: f64,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, Serialize)]
pub struct Response {
    /// The question.
    pub question: String,
    /// The chosen answer.
    pub answer: String,
    /// `true` when the choices came from the graph.
    pub open_ended: bool,
    /// What the question asks for (from its wording).
    pub kind: AnswerKind,
    /// Every choice, in the order given (open-ended: best first).
    pub choices: Vec<ChoiceAnswer>,
    /// Mentions grounded in the question.
    pub question_concepts: Vec<Mention>,
    /// Mentions grounded in the passage.
    pub passage_concepts: Vec<Mention>,
    /// Content words that grounded to nothing.
    pub unmatched: Vec<Diagnostic>,
    /// Whether the graph was used.
    pub used_kg: bool,
    /// The model folder, if a model scored the choices.
    pub model: Option<String>,
    /// Whether that model's answer head was trained.
    pub trained_head: bool,
    /// Time per stage.
    pub timings: Timings,
}

/// A graph, a retriever and (optionally) a multiple-choice model.
pub struct Engine {
    graph: Graph,
    retriever: Retriever,
    model: Option<(PathBuf, MultipleChoice)>,
    options: Options,
}

/// When a question must be answered by. The engine looks at it between stages (grounding,
/// candidates, retrieval, encoding, scoring) and stops at the first boundary past it with
/// [`Error::TimedOut`], so a question nobody waits for any more gives its worker back
/// instead of running to the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: the question runs to the end.
    pub const NONE: Deadline = Deadline(None);

    /// A deadline at `when`.
    pub fn at(when: Instant) -> Self {
        Deadline(Some(when))
    }

    /// `Err(TimedOut)` naming `stage` once the deadline has passed.
    fn check(self, stage: &'static str) -> Result<()> {
        match self.0 {
            Some(when) if Instant::now() >= when => Err(Error::TimedOut { stage }),
            _ => Ok(()),
        }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Graph score times model probability to the power `weight`, renormalized over the
/// candidates (the input probabilities when every product is zero).
pub fn mix(probabilities: &[f32], graph_scores: &[f64], weight: f64) -> Vec<f32> {
    let products: Vec<f64> = probabilities
        .iter()
        .zip(graph_scores)
        .map(|(&p, &s)| f64::from(p).powf(weight) * s)
        .collect();
    let total: f64 = products.iter().sum();
    if total <= 0.0 {
        return probabilities.to_vec();
    }
    products.into_iter().map(|w| (w / total) as f32).collect()
}

impl Engine {
    /// An engine over `graph`, scoring with `model` (folder and model) when given.
    pub fn new(
        graph: Graph,
        model: Option<(PathBuf, MultipleChoice)>,
        options: Options,
    ) -> Result<Self> {
        let mut options = options;
        if let Some((_, m)) = &model {
            // A model trained on curated knowledge reads it at inference too.
            options.retrieve.curated |= m.head().fusion.curated;
        }
        let retriever = Retriever::new(options.retrieve.clone())?;
        Ok(Engine { graph, retriever, model, options })
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The retriever.
    pub fn retriever(&self) -> &Retriever {
        &self.retriever
    }

    /// The limits and settings it answers with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The model, if any.
    pub fn model(&self) -> Option<&MultipleChoice> {
        self.model.as_ref().map(|(_, m)| m)
    }

    /// Checks a request's sizes and contents.
    pub fn validate(&self, request: &Request) -> Result<()> {
        let bad = |field, message: String| Err(Error::Request { field, message });
        if request.question.trim().is_empty() {
            return bad("question", "must not be empty".into());
        }
        if request.question.len() > self.options.max_text {
            return bad("question", format!("longer than {} bytes", self.options.max_text));
        }
        if request.passage.as_ref().is_some_and(|p| p.len() > self.options.max_text) {
            return bad("passage", format!("longer than {} bytes", self.options.max_text));
        }
        if request.choices.len() > self.options.max_choices {
            return bad("choices", format!("more than {} choices", self.options.max_choices));
        }
        if let Some(i) = request.choices.iter().position(|c| c.trim().is_empty()) {
            return bad("choices", format!("choice {i} is empty"));
        }
        if request.choices.len() == 1 {
            return bad("choices", "give at least two choices, or none for open-ended".into());
        }
        if request.choices.iter().any(|c| c.len() > self.options.max_text) {
            return bad(
                "choices",
                format!("a choice is longer than {} bytes", self.options.max_text),
            );
        }
        let key = |c: &String| c.trim().to_lowercase();
        for (i, choice) in request.choices.iter().enumerate() {
            if let Some(j) = request.choices[..i].iter().position(|c| key(c) == key(choice)) {
                return bad("choices", format!("choice {i} ({choice:?}) repeats choice {j}"));
            }
        }
        if request.choices.is_empty() && request.no_kg {
            return bad("no_kg", "open-ended questions need the graph for their candidates".into());
        }
        Ok(())
    }

    /// Answers one question.
    pub fn ask(&self, request: &Request) -> Result<Response> {
        self.ask_until(request, Deadline::NONE)
    }

    /// Answers one question, or gives up with [`Error::TimedOut`] at the first stage
    /// boundary past `deadline`. The stages: ground, choices (the graph's candidates for
    /// an open-ended question), knowledge, the model's probabilities, the ranking.
    pub fn ask_until(&self, request: &Request, deadline: Deadline) -> Result<Response> {
        self.validate(request)?;
        let start = Instant::now();
        let mut timings = Timings::default();
        let open_ended = request.choices.is_empty();
        if !open_ended && self.model.is_none() {
            return Err(Error::Request {
                field: "choices",
                message: "scoring choices needs a model (none is loaded)".into(),
            });
        }
        let question = request.question.trim();
        let passage = request.passage.as_deref().map(str::trim).filter(|p| !p.is_empty());
        deadline.check("grounding")?;
        let t = Instant::now();
        let grounded = crate::knowledge::ground_question(&self.graph, question, passage);
        timings.ground_ms = ms(t);
        let focus = grounded.focus.clone();
        let (choices, graph_scores) = self.choices(request, &focus, deadline, &mut timings)?;
        let knowledge = self.knowledge(request, grounded, &choices, deadline, &mut timings)?;
        let texts: Vec<String> = choices.into_iter().map(|(text, _)| text).collect();
        let scored = Scored { question, passage, choices: &texts, knowledge: &knowledge };
        let probabilities = self.probabilities(request, scored, deadline, &mut timings)?;
        let (answers, best) = self.rank(open_ended, knowledge.choices, probabilities, graph_scores);
        timings.total_ms = ms(start);
        Ok(Response {
            question: question.to_owned(),
            answer: answers[best].text.clone(),
            open_ended,
            kind: focus.kind,
            choices: answers,
            question_concepts: knowledge.question_mentions,
            passage_concepts: knowledge.passage_mentions,
            unmatched: knowledge.unmatched,
            used_kg: !request.no_kg,
            model: self.model.as_ref().map(|(p, _)| p.display().to_string()),
            trained_head: self.trained(),
            timings,
        })
    }

    fn trained(&self) -> bool {
        self.model.as_ref().is_some_and(|(_, m)| m.head().trained)
    }

    /// The choices to score (with the concept each candidate stands for) and the graph's
    /// score of each: the request's own, or for an open-ended question the graph's
    /// candidates for its concepts.
    fn choices(
        &self,
        request: &Request,
        focus: &crate::kg::candidates::Focus,
        deadline: Deadline,
        timings: &mut Timings,
    ) -> Result<(Choices, Vec<Option<f64>>)> {
        if !request.choices.is_empty() {
            let given = request.choices.iter().map(|c| (c.trim().to_owned(), None)).collect();
            return Ok((given, vec![None; request.choices.len()]));
        }
        deadline.check("finding candidates")?;
        let t = Instant::now();
        let found = self.retriever.candidates(&self.graph, focus, self.options.candidates)?;
        timings.candidates_ms = ms(t);
        if found.is_empty() {
            return Err(Error::Request {
                field: "question",
                message: "no candidate answers in the graph for its concepts; give choices".into(),
            });
        }
        let scores = found.iter().map(|c| Some(c.score)).collect();
        Ok((found.into_iter().map(|c| (c.label, Some(c.concept))).collect(), scores))
    }

    /// The question's knowledge: retrieved from the graph, or only its grounding when the
    /// request asks for no graph.
    fn knowledge(
        &self,
        request: &Request,
        grounded: crate::knowledge::Grounded,
        choices: &[(String, Option<String>)],
        deadline: Deadline,
        timings: &mut Timings,
    ) -> Result<Knowledge> {
        if request.no_kg {
            return Ok(Knowledge {
                question_mentions: grounded.question,
                passage_mentions: grounded.passage,
                unmatched: grounded.unmatched,
                focus: grounded.focus,
                choices: choices
                    .iter()
                    .map(|(text, _)| ChoiceKnowledge { text: text.clone(), ..Default::default() })
                    .collect(),
                ..Knowledge::default()
            });
        }
        deadline.check("retrieval")?;
        let t = Instant::now();
        let entity = self.model.as_ref().is_some_and(|(_, m)| m.head().fusion.entity);
        let (graph, retriever) = (&self.graph, &self.retriever);
        let k = Knowledge::gather_grounded(graph, retriever, grounded, choices, entity)?;
        timings.retrieve_ms = ms(t);
        Ok(k)
    }

    /// The model's probability of each choice (uniform without a model): its inputs built
    /// from the knowledge as its fusion reads it ([`Knowledge::model_inputs`]), encoded,
    /// scored.
    fn probabilities(
        &self,
        request: &Request,
        scored: Scored<'_>,
        deadline: Deadline,
        timings: &mut Timings,
    ) -> Result<Vec<f32>> {
        let Some((_, model)) = &self.model else {
            let n = scored.choices.len();
            return Ok(vec![1.0 / n as f32; n]);
        };
        let t = Instant::now();
        let inputs = if request.no_kg {
            crate::knowledge::ModelInputs::default()
        } else {
            scored.knowledge.model_inputs(model.head().fusion)
        };
        timings.verbalize_ms = ms(t);
        let q = Question {
            question: scored.question,
            passage: scored.passage,
            choices: scored.choices,
            facts: &inputs.facts,
            concept_texts: &inputs.concept_texts,
            mentions: &inputs.mentions,
        };
        deadline.check("encoding")?;
        let t = Instant::now();
        let encoded = model.encode(&q)?;
        timings.fuse_ms = ms(t);
        deadline.check("scoring")?;
        let t = Instant::now();
        let logits = model.logits(&encoded, false)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits)
            .and_then(|p| p.to_vec1::<f32>())
            .map_err(crate::model::Error::from)?;
        timings.score_ms = ms(t);
        Ok(probabilities)
    }

    /// Each choice's answer and the index of the chosen one. Open-ended questions with a
    /// trained model are ranked by a weighted product of experts: the graph's score (how
    /// well a candidate answers what the question asks) times the model's probability to
    /// the power `model_weight`, renormalized, so that the model re-ranks the graph's
    /// candidates without overriding its evidence; they come best first.
    fn rank(
        &self,
        open_ended: bool,
        choices: Vec<ChoiceKnowledge>,
        probabilities: Vec<f32>,
        graph_scores: Vec<Option<f64>>,
    ) -> (Vec<ChoiceAnswer>, usize) {
        let mut answers: Vec<ChoiceAnswer> = choices
            .into_iter()
            .zip(probabilities)
            .zip(graph_scores)
            .map(|((c, probability), graph_score)| ChoiceAnswer {
                text: c.text,
                probability,
                graph_score,
                concepts: c.concepts,
                facts: c.facts,
                definitions: c.definitions,
            })
            .collect();
        if !open_ended {
            // The first of the highest.
            let best = (0..answers.len()).fold(0, |best, i| {
                if answers[i].probability > answers[best].probability { i } else { best }
            });
            return (answers, best);
        }
        if self.trained() {
            let probabilities: Vec<f32> = answers.iter().map(|a| a.probability).collect();
            let scores: Vec<f64> = answers.iter().map(|a| a.graph_score.unwrap_or(0.0)).collect();
            let mixed = mix(&probabilities, &scores, self.options.model_weight);
            for (a, p) in answers.iter_mut().zip(mixed) {
                a.probability = p;
            }
            // Stable: ties keep the graph's order.
            answers.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        }
        (answers, 0)
    }
}

/// The choices to score, each with the concept it stands for (open-ended candidates).
type Choices = Vec<(String, Option<String>)>;

/// What the model scores: the question, its passage, the choice texts and the knowledge
/// its inputs are built from.
#[derive(Clone, Copy)]
struct Scored<'a> {
    question: &'a str,
    passage: Option<&'a str>,
    choices: &'a [String],
    knowledge: &'a Knowledge,
}

#[cfg(test)]
mod tests {
    use super::mix;

    #[test]
    fn open_ended_mix_weighs_the_model_by_the_power_given() {
        let (p, s) = ([0.6f32, 0.1, 0.3], [0.3, 0.6, 0.1]);
        let close =
            |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(x, y)| (f64::from(*x) - y).abs() < 1e-6);
        // w = 0: the graph alone, renormalized (0.3, 0.6, 0.1 already sum to 1).
        assert!(close(&mix(&p, &s, 0.0), &[0.3, 0.6, 0.1]));
        // w = 1: 0.18, 0.06, 0.03 over 0.27.
        assert!(close(&mix(&p, &s, 1.0), &[0.18 / 0.27, 0.06 / 0.27, 0.03 / 0.27]));
        // w = 0.5: 0.3 * sqrt(0.6), 0.6 * sqrt(0.1), 0.1 * sqrt(0.3) over their sum.
        let w: Vec<f64> = vec![0.3 * 0.6f64.sqrt(), 0.6 * 0.1f64.sqrt(), 0.1 * 0.3f64.sqrt()];
        let t: f64 = w.iter().sum();
        assert!(close(&mix(&p, &s, 0.5), &w.iter().map(|x| x / t).collect::<Vec<_>>()));
        // No graph evidence at all: the model's own probabilities.
        assert!(close(&mix(&p, &[0.0; 3], 0.5), &[0.6, 0.1, 0.3]));
    }
}
