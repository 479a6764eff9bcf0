//! Keeps `<think>...</think>` reasoning (DeepSeek R1, QwQ and similar) apart from the answer,
//! also when a tag is split across stream chunks.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Text routed to where it belongs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub answer: String,
    pub reasoning: String,
}

/// A streaming splitter: feed it pieces in order, then `finish`.
#[derive(Debug, Default)]
pub struct ThinkSplitter {
    inside: bool,
    /// The end of the text so far that may be the start of a tag.
    pending: String,
}

impl ThinkSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, piece: &str) -> Split {
        let mut text = std::mem::take(&mut self.pending);
        text.push_str(piece);
        let mut split = Split::default();
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            let target = if self.inside {
                &mut split.reasoning
            } else {
                &mut split.answer
            };
            if let Some(at) = text.find(tag) {
                target.push_str(&text[..at]);
                text.drain(..at + tag.len());
                self.inside = !self.inside;
                continue;
            }
            let keep = partial_tag_len(&text, tag);
            target.push_str(&text[..text.len() - keep]);
            self.pending = text[text.len() - keep..].to_owned();
            return split;
        }
    }

    /// What is left: a held-back partial tag was text after all.
    pub fn finish(&mut self) -> Split {
        let rest = std::mem::take(&mut self.pending);
        if self.inside {
            Split {
                answer: String::new(),
                reasoning: rest,
            }
        } else {
            Split {
                answer: rest,
                reasoning: String::new(),
            }
        }
    }
}

/// The length of the longest end of `text` that is a proper start of `tag`.
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&len| text.ends_with(&tag[..len]))
        .unwrap_or(0)
}

/// Splits a whole answer.
pub fn split(text: &str) -> Split {
    let mut splitter = ThinkSplitter::new();
    let mut whole = splitter.feed(text);
    let rest = splitter.finish();
    whole.answer.push_str(&rest.answer);
    whole.reasoning.push_str(&rest.reasoning);
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_answer_is_split() {
        let s = split("<think>box? yes</think>\n```python\nx = 1\n```");
        assert_eq!(s.reasoning, "box? yes");
        assert_eq!(s.answer, "\n```python\nx = 1\n```");
        assert_eq!(split("no tags < here").answer, "no tags < here");
    }

    #[test]
    fn tags_split_across_every_chunk_boundary_are_found() {
        let text = "a<think>r1</think>b<think>r2</think>c <thin";
        for size in 1..=text.len() {
            let mut splitter = ThinkSplitter::new();
            let mut all = Split::default();
            let chars: Vec<char> = text.chars().collect();
            for chunk in chars.chunks(size) {
                let s = splitter.feed(&chunk.iter().collect::<String>());
                all.answer.push_str(&s.answer);
                all.reasoning.push_str(&s.reasoning);
            }
            let rest = splitter.finish();
            all.answer.push_str(&rest.answer);
            all.reasoning.push_str(&rest.reasoning);
            assert_eq!(all.answer, "abc <thin", "chunk size {size}");
            assert_eq!(all.reasoning, "r1r2", "chunk size {size}");
        }
    }
}
