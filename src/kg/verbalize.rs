//! Verbalization: edges -> sentences a language model reads ("trowel is used for dig").
//!
//! Every ConceptNet relation and every WordNet pointer relation of the vocabulary has its
//! own template ([`TEMPLATES`]); any other predicate falls back to its local name split
//! into words ("X has colour Y" for `ex:hasColour`).

use crate::kg::vocab;

/// `(relation local name, template)`: `{h}` is the head, `{t}` the tail. Relations under
/// `http://conceptnet.io/r/` and `http://kgqa.dev/wn#` share this table by local name.
pub const TEMPLATES: &[(&str, &str)] = &[
    // ConceptNet 5 relations.
    ("RelatedTo", "{h} is related to {t}"),
    ("FormOf", "{h} is a form of {t}"),
    ("IsA", "{h} is a kind of {t}"),
    ("PartOf", "{h} is part of {t}"),
    ("HasA", "{h} has {t}"),
    ("UsedFor", "{h} is used for {t}"),
    ("CapableOf", "{h} can {t}"),
    ("AtLocation", "you are likely to find {h} in {t}"),
    ("Causes", "{h} causes {t}"),
    ("HasSubevent", "when {h} happens, {t} happens"),
    ("HasFirstSubevent", "{h} begins with {t}"),
    ("HasLastSubevent", "{h} ends with {t}"),
    ("HasPrerequisite", "{h} requires {t}"),
    ("HasProperty", "{h} is {t}"),
    ("MotivatedByGoal", "you would {h} because you want {t}"),
    ("ObstructedBy", "{h} is prevented by {t}"),
    ("Desires", "{h} wants {t}"),
    ("CreatedBy", "{h} is created by {t}"),
    ("Synonym", "{h} means the same as {t}"),
    ("Antonym", "{h} is the opposite of {t}"),
    ("DistinctFrom", "{h} is not {t}"),
    ("DerivedFrom", "{h} is derived from {t}"),
    ("SymbolOf", "{h} is a symbol of {t}"),
    ("DefinedAs", "{h} is defined as {t}"),
    ("MannerOf", "{h} is a way to {t}"),
    ("LocatedNear", "{h} is found near {t}"),
    ("HasContext", "{h} is used in the context of {t}"),
    ("SimilarTo", "{h} is similar to {t}"),
    ("EtymologicallyRelatedTo", "{h} is etymologically related to {t}"),
    ("EtymologicallyDerivedFrom", "{h} comes from the word {t}"),
    ("CausesDesire", "{h} makes you want to {t}"),
    ("MadeOf", "{h} is made of {t}"),
    ("ReceivesAction", "{h} can be {t}"),
    ("ExternalURL", "{h} is described at {t}"),
    ("InstanceOf", "{h} is an instance of {t}"),
    ("Entails", "{h} entails {t}"),
    ("NotDesires", "{h} does not want {t}"),
    ("NotUsedFor", "{h} is not used for {t}"),
    ("NotCapableOf", "{h} cannot {t}"),
    ("NotHasProperty", "{h} is not {t}"),
    ("NotIsA", "{h} is not a kind of {t}"),
    ("NotHasA", "{h} does not have {t}"),
    ("NotMadeOf", "{h} is not made of {t}"),
    ("InheritsFrom", "{h} inherits from {t}"),
    ("DesireOf", "{h} is desired by {t}"),
    ("LocationOfAction", "{h} is where you {t}"),
    ("HasPainIntensity", "{h} hurts {t}"),
    ("HasPainCharacter", "{h} feels {t}"),
    ("dbpedia/genre", "{h} has the genre {t}"),
    ("dbpedia/occupation", "{h} works as {t}"),
    ("dbpedia/capital", "the capital of {h} is {t}"),
    ("dbpedia/language", "{h} speaks {t}"),
    ("dbpedia/field", "{h} works in {t}"),
    ("dbpedia/knownFor", "{h} is known for {t}"),
    ("dbpedia/genus", "{h} belongs to the genus {t}"),
    ("dbpedia/influencedBy", "{h} was influenced by {t}"),
    ("dbpedia/leader", "{h} is led by {t}"),
    ("dbpedia/product", "{h} makes {t}"),
    // WordNet pointers without a ConceptNet equivalent (`http://kgqa.dev/wn#`).
    ("hyponym", "{t} is a kind of {h}"),
    ("instanceHyponym", "{t} is an instance of {h}"),
    ("memberOf", "{h} is a member of {t}"),
    ("substanceOf", "{h} is a substance of {t}"),
    ("hasMember", "{h} has the member {t}"),
    ("alsoSee", "{h} is related to {t}"),
    ("verbGroup", "{h} is similar in meaning to {t}"),
    ("attribute", "{h} is a value of {t}"),
    ("derivation", "{h} is derived from the same word as {t}"),
    ("participle", "{h} is the participle of {t}"),
    ("pertainym", "{h} pertains to {t}"),
    ("domainTopic", "{h} belongs to the topic {t}"),
    ("memberOfTopic", "{h} is a term of the topic {t}"),
    ("domainRegion", "{h} is used in the region {t}"),
    ("memberOfRegion", "{h} is a term used in {t}"),
    ("domainUsage", "{h} is a usage of {t}"),
    ("memberOfUsage", "{h} is an example of the usage {t}"),
];

/// The name a relation IRI is known by in [`TEMPLATES`]: the path after
/// `http://conceptnet.io/r/` or the local name after `http://kgqa.dev/wn#`.
pub fn relation_name(relation: &str) -> String {
    if let Some(rest) = relation.strip_prefix(vocab::CN_RELATION) {
        return rest.to_owned();
    }
    if let Some(rest) = relation.strip_prefix(vocab::WN_RELATION) {
        return rest.to_owned();
    }
    vocab::local_name(relation)
}

/// The template of a relation IRI, if it has a dedicated one.
pub fn template(relation: &str) -> Option<&'static str> {
    let name = relation_name(relation);
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// One edge as a sentence: the relation's template, or `head <relation words> tail` for a
/// predicate without one (its local name split at capitals, `_` and `-`).
pub fn verbalize(head: &str, relation: &str, tail: &str) -> String {
    match template(relation) {
        Some(t) => t.replace("{h}", head).replace("{t}", tail),
        None => format!("{head} {} {tail}", words(&relation_name(relation))),
    }
}

/// `hasColour` -> `has colour`, `made_of` -> `made of`.
fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c == '_' || c == '-' || c == '/' {
            out.push(' ');
            previous_lower = false;
        } else if c.is_uppercase() && previous_lower {
            out.push(' ');
            out.extend(c.to_lowercase());
            previous_lower = false;
        } else {
            out.extend(c.to_lowercase());
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    let trimmed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.is_empty() { "is related to".to_owned() } else { trimmed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kg::load::wordnet::POINTERS;

    #[test]
    fn conceptnet_templates() {
        let r = |n: &str| format!("{}{n}", vocab::CN_RELATION);
        assert_eq!(verbalize("trowel", &r("UsedFor"), "dig"), "trowel is used for dig");
        assert_eq!(verbalize("trowel", &r("IsA"), "tool"), "trowel is a kind of tool");
        assert_eq!(
            verbalize("trowel", &r("AtLocation"), "garden shed"),
            "you are likely to find trowel in garden shed"
        );
    }

    #[test]
    fn every_wordnet_pointer_has_a_template() {
        for (symbol, target) in POINTERS {
            let relation = match target.split_once(':') {
                Some(("cn", n)) => format!("{}{n}", vocab::CN_RELATION),
                Some((_, n)) => format!("{}{n}", vocab::WN_RELATION),
                None => unreachable!(),
            };
            assert!(template(&relation).is_some(), "pointer {symbol} ({relation}) has no template");
        }
    }

    #[test]
    fn templates_mention_both_ends_once() {
        for (name, t) in TEMPLATES {
            assert_eq!(t.matches("{h}").count(), 1, "{name}");
            assert_eq!(t.matches("{t}").count(), 1, "{name}");
        }
    }

    #[test]
    fn fallback_uses_the_local_name() {
        assert_eq!(
            verbalize("sky", "http://example.org/vocab#hasColour", "blue"),
            "sky has colour blue"
        );
        assert_eq!(verbalize("a", "http://example.org/made_of", "b"), "a made of b");
        assert_eq!(verbalize("a", "http://example.org/", "b"), "a is related to b");
    }
}
