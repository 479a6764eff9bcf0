//! Tokens of a plain-English part description: numbers (decimals, fractions, spelled-out
//! words) with their units, words, metric sizes (`M6`), `Ø`, the `x` / `by` that separate
//! dimensions, and the punctuation that ends a phrase.

/// One token of a prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A number and, when a unit followed it, millimetres per that unit.
    Number {
        value: f64,
        unit: Option<f64>,
    },
    Word(String),
    /// `x`, `×`, `*` or `by` between two dimensions.
    Times,
    /// `Ø` / `⌀`: the next number is a diameter.
    Diameter,
    /// A metric thread size: `M6` is `Metric(6.0)`.
    Metric(f64),
    /// `,` `;` `(` `)` or a full stop: a label never reaches across it.
    Break,
}

/// Millimetres per unit, for the unit words we know.
fn unit_factor(word: &str) -> Option<f64> {
    Some(match word {
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 1.0,
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => 10.0,
        "m" | "meter" | "meters" | "metre" | "metres" => 1000.0,
        "in" | "inch" | "inches" | "\"" | "''" => 25.4,
        "ft" | "foot" | "feet" | "'" => 304.8,
        _ => return None,
    })
}

/// Words that follow "in" when it is a preposition ("40 mm in diameter"), not inches.
fn in_is_a_preposition_before(word: &str) -> bool {
    matches!(
        word,
        "diameter"
            | "dia"
            | "radius"
            | "length"
            | "width"
            | "height"
            | "thickness"
            | "depth"
            | "size"
            | "each"
            | "the"
            | "a"
            | "an"
            | "both"
            | "total"
            | "from"
    )
}

/// Numbers written as words; counts are usually spelled out ("four holes").
fn word_number(word: &str) -> Option<f64> {
    const WORDS: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    if let Some(n) = WORDS.iter().position(|w| *w == word) {
        return Some(n as f64);
    }
    Some(match word {
        "single" => 1.0,
        "pair" => 2.0,
        "dozen" => 12.0,
        "thirty" => 30.0,
        "forty" => 40.0,
        "fifty" => 50.0,
        "hundred" => 100.0,
        _ => return None,
    })
}

/// Splits a prompt into tokens; a unit is folded into the number right before it, and
/// "1 1/2" becomes one number.
pub fn tokenize(prompt: &str) -> Vec<Token> {
    let lower = prompt.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut last_was_digits = false;
    while i < chars.len() {
        let c = chars[i];
        // Only a number in digits right before this one can take a fraction: "1 1/2", "1-1/2".
        if !c.is_whitespace() && !c.is_ascii_digit() && c != '-' {
            last_was_digits = false;
        }
        let previous_is_alphanumeric = i > 0 && chars[i - 1].is_alphanumeric();
        let starts_number = |k: usize| {
            chars
                .get(k)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
        };
        if let Some(end) = three_d(&chars, i) {
            // "3D printed", "3-D printing": how it is made, not a diameter of 3.
            tokens.push(Token::Word("3d".to_owned()));
            i = end;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let number = read_number(&chars, i);
            i = number.end;
            push_number(&mut tokens, &number, 1.0, last_was_digits);
            last_was_digits = true;
            continue;
        } else if c == '-' && !previous_is_alphanumeric && starts_number(i + 1) {
            // A minus sign: "-10" must not read as 10.
            let number = read_number(&chars, i + 1);
            i = number.end;
            push_number(&mut tokens, &number, -1.0, false);
            last_was_digits = true;
            continue;
        } else if c == 'm'
            && !previous_is_alphanumeric
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            // "M6", but not the metre in "0.1m" (a digit before it).
            let number = read_number(&chars, i + 1);
            i = number.end;
            tokens.push(Token::Metric(number.value));
        } else if c == 'ø' || c == '⌀' {
            tokens.push(Token::Diameter);
            i += 1;
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next_word = next_word(&chars, i);
            push_word(&mut tokens, word, next_word.as_deref());
        } else {
            match c {
                '×' | '*' => tokens.push(Token::Times),
                '"' | '″' => push_word(&mut tokens, "\"".to_owned(), None),
                '\'' | '′' if chars.get(i + 1) == Some(&'\'') => {
                    push_word(&mut tokens, "''".to_owned(), None);
                    i += 1;
                }
                '\'' | '′' => push_unit_mark(&mut tokens, "'"),
                ',' | ';' | '(' | ')' => tokens.push(Token::Break),
                // "a wheel with a hub: 80 mm diameter, ...": a colon starts the list of
                // sizes as "with" does, so they are not read as the hub's.
                ':' => tokens.push(Token::Word("with".to_owned())),
                '.' if chars.get(i + 1).is_none_or(|c| c.is_whitespace()) => {
                    tokens.push(Token::Break)
                }
                _ => {}
            }
            i += 1;
        }
    }
    tokens
}

/// The end of "3d" / "3-d" at `i` when it is a word ("3D printed"), not a number.
fn three_d(chars: &[char], i: usize) -> Option<usize> {
    if chars[i] != '3' || (i > 0 && chars[i - 1].is_alphanumeric()) {
        return None;
    }
    let d = if chars.get(i + 1) == Some(&'-') {
        i + 2
    } else {
        i + 1
    };
    let end = d + 1;
    let word_ends = chars.get(end).is_none_or(|c| !c.is_alphanumeric());
    // Only before "print...": "3d 10 long" may still be a diameter of 3.
    let printed = next_word(chars, end).is_some_and(|w| w.starts_with("print"));
    (chars.get(d) == Some(&'d') && word_ends && printed).then_some(end)
}

/// A number read from the prompt; `fraction` marks "3/4", which may join a whole number
/// before it ("1 1/2").
struct ReadNumber {
    value: f64,
    end: usize,
    fraction: bool,
}

/// Reads digits with an optional decimal point, or a fraction "3/4", from `start`.
fn read_number(chars: &[char], start: usize) -> ReadNumber {
    let mut i = start;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    // "30." at the end of a sentence: the full stop is not part of the number.
    if i > start + 1 && chars[i - 1] == '.' {
        i -= 1;
    }
    let text: String = chars[start..i].iter().collect();
    let value = text.parse::<f64>().unwrap_or(f64::NAN);
    if chars.get(i) == Some(&'/') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        let mut j = i + 1;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        let denominator: String = chars[i + 1..j].iter().collect();
        return ReadNumber {
            value: value / denominator.parse::<f64>().unwrap_or(f64::NAN),
            end: j,
            fraction: true,
        };
    }
    ReadNumber {
        value,
        end: i,
        fraction: false,
    }
}

/// `after_digits`: the token before was a number written in digits, so "1 1/2" is one mixed
/// number, while "two 1/4\" holes" stays a count and a size.
fn push_number(tokens: &mut Vec<Token>, number: &ReadNumber, sign: f64, after_digits: bool) {
    // "1 1/2" or "1-1/2": a whole number followed by a proper fraction is one mixed number.
    if number.fraction
        && after_digits
        && number.value < 1.0
        && sign > 0.0
        && let Some(Token::Number {
            value: whole,
            unit: None,
        }) = tokens.last_mut()
        && whole.fract() == 0.0
        && *whole >= 1.0
    {
        *whole += number.value;
        return;
    }
    tokens.push(Token::Number {
        value: sign * number.value,
        unit: None,
    });
}

/// The word after position `i` (skipping spaces), for the "in" lookahead.
fn next_word(chars: &[char], mut i: usize) -> Option<String> {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    while i < chars.len() && chars[i].is_alphabetic() {
        i += 1;
    }
    (i > start).then(|| chars[start..i].iter().collect())
}

fn push_unit_mark(tokens: &mut [Token], mark: &str) {
    if let Some(factor) = unit_factor(mark)
        && let Some(Token::Number { unit, .. }) = tokens.last_mut()
        && unit.is_none()
    {
        *unit = Some(factor);
    }
}

fn push_word(tokens: &mut Vec<Token>, word: String, next_word: Option<&str>) {
    let in_as_preposition = word == "in" && next_word.is_some_and(in_is_a_preposition_before);
    if !in_as_preposition
        && let Some(factor) = unit_factor(&word)
        && let Some(Token::Number { unit, .. }) = tokens.last_mut()
        && unit.is_none()
    {
        *unit = Some(factor);
        return;
    }
    // In "100x50x30" the `x` between digits arrives here as the word "x".
    if word == "x" || word == "by" {
        tokens.push(Token::Times);
        return;
    }
    if let Some(value) = word_number(&word) {
        tokens.push(Token::Number { value, unit: None });
        return;
    }
    tokens.push(Token::Word(word));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: f64, unit: Option<f64>) -> Token {
        Token::Number { value, unit }
    }

    #[test]
    fn glued_dimensions_split_into_numbers_and_separators() {
        assert_eq!(
            tokenize("100x50x30mm"),
            vec![
                n(100.0, None),
                Token::Times,
                n(50.0, None),
                Token::Times,
                n(30.0, Some(1.0))
            ]
        );
    }

    #[test]
    fn units_attach_to_the_number_before_them() {
        assert_eq!(tokenize("2 cm")[0], n(2.0, Some(10.0)));
        assert_eq!(tokenize("1.5 inches")[0], n(1.5, Some(25.4)));
        assert_eq!(tokenize("0.1m")[0], n(0.1, Some(1000.0)));
        assert_eq!(tokenize("3\"")[0], n(3.0, Some(25.4)));
        assert_eq!(tokenize("2'")[0], n(2.0, Some(304.8)));
    }

    #[test]
    fn fractions_and_mixed_numbers() {
        assert_eq!(tokenize("1/2 in")[0], n(0.5, Some(25.4)));
        assert_eq!(tokenize("1 1/2\""), vec![n(1.5, Some(25.4))]);
        assert_eq!(tokenize("1-1/2 inch"), vec![n(1.5, Some(25.4))]);
        assert_eq!(tokenize("3/4\" thick")[0], n(0.75, Some(25.4)));
        assert_eq!(
            tokenize("two 1/4\""),
            vec![n(2.0, None), n(0.25, Some(25.4))]
        );
    }

    #[test]
    fn in_is_inches_only_when_it_is_not_a_preposition() {
        assert_eq!(
            tokenize("40 in diameter"),
            vec![
                n(40.0, None),
                Token::Word("in".into()),
                Token::Word("diameter".into())
            ]
        );
        assert_eq!(tokenize("40 in long")[0], n(40.0, Some(25.4)));
    }

    #[test]
    fn words_numbers_metric_sizes_and_signs() {
        assert_eq!(
            tokenize("Ø20 by 5"),
            vec![Token::Diameter, n(20.0, None), Token::Times, n(5.0, None)]
        );
        assert_eq!(tokenize("Box")[0], Token::Word("box".to_owned()));
        assert_eq!(tokenize("four holes")[0], n(4.0, None));
        assert_eq!(tokenize("an M6 nut")[1], Token::Metric(6.0));
        assert_eq!(tokenize("M10")[0], Token::Metric(10.0));
        assert_eq!(tokenize("3D printed")[0], Token::Word("3d".to_owned()));
        assert_eq!(tokenize("3-d printing")[0], Token::Word("3d".to_owned()));
        assert_eq!(tokenize("3d 10 long")[0], n(3.0, None));
        assert_eq!(tokenize("a box -10x5x5")[2], n(-10.0, None));
        assert_eq!(tokenize("height 30. width 20")[2], Token::Break);
        assert_eq!(tokenize("length 2.5, width")[2], Token::Break);
    }
}
