//! What the graph knows about one question: grounded mentions, facts and definitions per
//! choice. It is what `kgqa retrieve` caches (one JSON line per question) and what the
//! model's inputs are built from, so training, benchmarking and `ask` fuse the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kg::Graph;
use crate::kg::candidates::{AnswerKind, Focus, answer_kind, asking_sentence};
use crate::kg::ground::{Diagnostic, Grounder, Mention};
use crate::kg::retrieve::{Definition, Fact, Retriever};
use crate::kg::sense;
use crate::kg::vocab;
use crate::kg::vocab::display_name;
use crate::model::fusion::{EntityMention, Fusion, Segment};

/// What a model reads of a question's knowledge (owned; the model borrows it as a
/// [`crate::model::head::Question`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelInputs {
    /// Input fusion: texts per choice.
    pub facts: Vec<Vec<String>>,
    /// Entity fusion: one text per mentioned concept.
    pub concept_texts: Vec<String>,
    /// Entity fusion: mentions per choice, pointing into `concept_texts`.
    pub mentions: Vec<Vec<EntityMention>>,
}

/// Retrieved knowledge for one choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceKnowledge {
    /// The choice text.
    pub text: String,
    /// Its grounded mentions (offsets in `text`).
    pub mentions: Vec<Mention>,
    /// The concepts retrieval used for it.
    pub concepts: Vec<String>,
    /// The top facts linking the question to it, best first.
    pub facts: Vec<Fact>,
    /// Definitions of its concepts.
    pub definitions: Vec<Definition>,
}

/// Retrieved knowledge for one question.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Knowledge {
    /// Mentions in the question (offsets in the question text).
    pub question_mentions: Vec<Mention>,
    /// Mentions in the passage (offsets in the passage text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passage_mentions: Vec<Mention>,
    /// Content words that grounded to nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<Diagnostic>,
    /// The question's concepts by role, and what it asks for.
    pub focus: Focus,
    /// One entry per choice.
    pub choices: Vec<ChoiceKnowledge>,
    /// The first definition of every concept mentioned (entity fusion's concept texts).
    #[serde(default)]
    pub concept_definitions: BTreeMap<String, String>,
}

/// The concepts retrieval uses for a mention: its ConceptNet concepts (WordNet senses are
/// reached through them), or all of them for graphs with IRIs of their own.
pub fn retrieval_concepts(mention: &Mention) -> Vec<String> {
    let cn: Vec<String> =
        mention.concepts.iter().filter(|c| c.starts_with(vocab::CN_CONCEPT)).cloned().collect();
    if cn.is_empty() { mention.concepts.clone() } else { cn }
}

fn push_unique(out: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
}

/// The question as its mentions' surface forms and lexicon forms, for sense choice.
fn question_text(mentions: &[Mention]) -> String {
    mentions.iter().flat_map(|m| [m.text.as_str(), m.form.as_str()]).collect::<Vec<_>>().join(" ")
}

/// The definition a choice gets from curated knowledge: the gloss of the sense of its last
/// mention (the head of a noun phrase) that [`sense::choose`] picks, named by the
/// mention's first concept; `None` when the mention has no WordNet senses.
fn sense_definition(
    graph: &Graph,
    retriever: &Retriever,
    mentions: &[Mention],
    context: &std::collections::HashSet<String>,
) -> crate::kg::Result<Option<Definition>> {
    let Some(head) = mentions.iter().rev().find(|m| m.concepts.iter().any(|c| is_sense(c))) else {
        return Ok(None);
    };
    let mut senses = Vec::new();
    // One round trip for all the senses' glosses where the graph is remote.
    let iris: Vec<&String> = head.concepts.iter().filter(|c| is_sense(c)).collect();
    retriever.prefetch_definitions(graph, iris.iter().map(|c| c.as_str()))?;
    for iri in iris {
        if let Some(gloss) = retriever.definitions(graph, iri, 1)?.into_iter().next() {
            senses.push((iri.clone(), gloss));
        }
    }
    let concept = retrieval_concepts(head).into_iter().next().unwrap_or_default();
    Ok(sense::choose(&senses, context)
        .map(|i| Definition { concept, text: senses.swap_remove(i).1 }))
}

fn is_sense(iri: &str) -> bool {
    sense::part_of_speech(iri).is_some()
}

/// A grounded question: mentions in the question and the passage, unmatched words, and
/// its concepts sorted into focus and context.
#[derive(Clone, Debug, Default)]
pub struct Grounded {
    /// Mentions in the question.
    pub question: Vec<Mention>,
    /// Mentions in the passage.
    pub passage: Vec<Mention>,
    /// Content words that grounded to nothing.
    pub unmatched: Vec<Diagnostic>,
    /// Concepts by role and the kind of answer asked for.
    pub focus: Focus,
}

/// Grounds a question (and passage) and sorts its concepts into focus and context.
pub fn ground_question(graph: &Graph, question: &str, passage: Option<&str>) -> Grounded {
    let grounder = graph.grounder();
    let (question_mentions, mut unmatched) = grounder.ground(question);
    let (passage_mentions, passage_unmatched) = match passage {
        Some(p) => grounder.ground(p),
        None => (Vec::new(), Vec::new()),
    };
    unmatched.extend(passage_unmatched);
    let asking = asking_sentence(question);
    let mut focus = Focus { kind: answer_kind(&question[asking.clone()]), ..Focus::default() };
    for m in &question_mentions {
        if m.start >= asking.start && m.end <= asking.end {
            push_unique(&mut focus.focus, retrieval_concepts(m));
        }
    }
    for m in question_mentions.iter().chain(&passage_mentions) {
        let concepts: Vec<String> =
            retrieval_concepts(m).into_iter().filter(|c| !focus.focus.contains(c)).collect();
        push_unique(&mut focus.context, concepts);
    }
    Grounded { question: question_mentions, passage: passage_mentions, unmatched, focus }
}

impl Knowledge {
    /// Grounds the question and the choices and retrieves each choice's facts. A choice may
    /// come with its concept already known (open-ended candidates). Entity fusion also
    /// needs a definition of every mentioned concept: `concept_texts` fetches them.
    pub fn gather(
        graph: &Graph,
        retriever: &Retriever,
        question: &str,
        passage: Option<&str>,
        choices: &[(String, Option<String>)],
        concept_texts: bool,
    ) -> crate::kg::Result<Self> {
        let grounded = ground_question(graph, question, passage);
        Self::gather_grounded(graph, retriever, grounded, choices, concept_texts)
    }

    /// [`Knowledge::gather`] for a question already grounded.
    pub fn gather_grounded(
        graph: &Graph,
        retriever: &Retriever,
        grounded: Grounded,
        choices: &[(String, Option<String>)],
        concept_texts: bool,
    ) -> crate::kg::Result<Self> {
        let Grounded { question: question_mentions, passage: passage_mentions, unmatched, focus } =
            grounded;
        let grounder = graph.grounder();
        let mut choice_knowledge = Vec::with_capacity(choices.len());
        for (text, concept) in choices {
            let (mut mentions, _) = grounder.ground(text);
            if mentions.is_empty() {
                // An answer made of stop words ("can", "then") is still an answer.
                mentions = Grounder::new(graph.lexicon(), graph.lemmatizer())
                    .with_stop_words()
                    .ground(text)
                    .0;
            }
            let mut concepts = Vec::new();
            if let Some(c) = concept {
                concepts.push(c.clone());
            }
            for m in &mentions {
                push_unique(&mut concepts, retrieval_concepts(m));
            }
            choice_knowledge.push(ChoiceKnowledge {
                text: text.clone(),
                mentions,
                concepts,
                ..ChoiceKnowledge::default()
            });
        }
        let question_concepts: Vec<String> =
            focus.focus.iter().chain(&focus.context).cloned().collect();
        let concept_lists: Vec<Vec<String>> =
            choice_knowledge.iter().map(|c| c.concepts.clone()).collect();
        let retrieved = retriever.retrieve(graph, &question_concepts, &concept_lists)?;
        // Sense choice reads the question's words; plain retrieval has no use for them.
        let context = match retriever.options().curated {
            true => sense::content_words(&question_text(&question_mentions)),
            false => Default::default(),
        };
        for (choice, r) in choice_knowledge.iter_mut().zip(retrieved) {
            choice.facts = r.facts;
            choice.definitions = r.definitions;
            if retriever.options().curated
                && let Some(d) = sense_definition(graph, retriever, &choice.mentions, &context)?
            {
                choice.definitions = vec![d];
            }
        }
        let mut concept_definitions = BTreeMap::new();
        let mentioned = question_mentions
            .iter()
            .chain(&passage_mentions)
            .chain(choice_knowledge.iter().flat_map(|c| &c.mentions))
            .flat_map(retrieval_concepts);
        for concept in mentioned.filter(|_| concept_texts) {
            if concept_definitions.contains_key(&concept) {
                continue;
            }
            let known = choice_knowledge
                .iter()
                .flat_map(|c| &c.definitions)
                .find(|d| d.concept == concept)
                .map(|d| d.text.clone());
            let definition = match known {
                Some(d) => Some(d),
                None => retriever.definitions(graph, &concept, 1)?.into_iter().next(),
            };
            concept_definitions.insert(concept, definition.unwrap_or_default());
        }
        Ok(Knowledge {
            question_mentions,
            passage_mentions,
            unmatched,
            focus,
            choices: choice_knowledge,
            concept_definitions,
        })
    }

    /// What a model with `fusion` reads of this knowledge: with input fusion each
    /// choice's first definition and facts ([`Knowledge::fact_texts`]), with entity fusion
    /// the mentioned concepts' texts and mentions ([`Knowledge::entity_inputs`]). The one
    /// place that decides it: training examples, evaluation, the benchmark and the engine
    /// all build their model inputs here.
    pub fn model_inputs(&self, fusion: Fusion) -> ModelInputs {
        let facts = if fusion.input { self.fact_texts() } else { Vec::new() };
        let (concept_texts, mentions) =
            if fusion.entity { self.entity_inputs() } else { (Vec::new(), Vec::new()) };
        ModelInputs { facts, concept_texts, mentions }
    }

    /// Input fusion's text per choice: its first definition, then its facts, best first.
    pub fn fact_texts(&self) -> Vec<Vec<String>> {
        self.choices
            .iter()
            .map(|c| {
                let mut texts: Vec<String> = c
                    .definitions
                    .iter()
                    .take(1)
                    .map(|d| format!("{}: {}", display_name(&d.concept), d.text))
                    .collect();
                texts.extend(c.facts.iter().map(|f| f.text.clone()));
                texts
            })
            .collect()
    }

    /// Entity fusion's inputs: one text per mentioned concept ("term: definition") and, per
    /// choice, the question's and the choice's mentions pointing into that list.
    pub fn entity_inputs(&self) -> (Vec<String>, Vec<Vec<EntityMention>>) {
        let mut concepts: Vec<String> = Vec::new();
        let index = |concept: &str, concepts: &mut Vec<String>| -> usize {
            match concepts.iter().position(|c| c == concept) {
                Some(i) => i,
                None => {
                    concepts.push(concept.to_owned());
                    concepts.len() - 1
                }
            }
        };
        let to_mentions = |mentions: &[Mention], segment: Segment, concepts: &mut Vec<String>| {
            mentions
                .iter()
                .map(|m| EntityMention {
                    segment,
                    start: m.start,
                    end: m.end,
                    concepts: retrieval_concepts(m).iter().map(|c| index(c, concepts)).collect(),
                })
                .collect::<Vec<_>>()
        };
        let question = to_mentions(&self.question_mentions, Segment::Question, &mut concepts);
        let per_choice: Vec<Vec<EntityMention>> = self
            .choices
            .iter()
            .map(|c| {
                let mut all = question.clone();
                all.extend(to_mentions(&c.mentions, Segment::Choice, &mut concepts));
                all
            })
            .collect();
        let texts = concepts
            .iter()
            .map(|c| {
                let term = display_name(c);
                match self.concept_definitions.get(c).filter(|d| !d.is_empty()) {
                    Some(d) => format!("{term}: {d}"),
                    None => term,
                }
            })
            .collect();
        (texts, per_choice)
    }

    /// The question's concepts, focus first.
    pub fn question_concepts(&self) -> Vec<String> {
        self.focus.focus.iter().chain(&self.focus.context).cloned().collect()
    }

    /// What the question asks for.
    pub fn kind(&self) -> AnswerKind {
        self.focus.kind
    }
}
