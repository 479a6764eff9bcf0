//! Tokens of a plain-English part description: numbers with their units, words, and the
//! `x` / `by` that separate dimensions.

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
    /// `Ø`: the next number is a diameter.
    Diameter,
}

/// Millimetres per unit, for the unit words we know.
fn unit_factor(word: &str) -> Option<f64> {
    Some(match word {
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 1.0,
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => 10.0,
        "m" | "meter" | "meters" | "metre" | "metres" => 1000.0,
        "in" | "inch" | "inches" | "\"" => 25.4,
        _ => return None,
    })
}

/// Splits a prompt into tokens; a unit is folded into the number right before it.
pub fn tokenize(prompt: &str) -> Vec<Token> {
    let lower = prompt.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if let Ok(value) = text.parse::<f64>() {
                tokens.push(Token::Number { value, unit: None });
            }
        } else if c == 'ø' || c == '⌀' {
            tokens.push(Token::Diameter);
            i += 1;
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            push_word(&mut tokens, word);
        } else {
            match c {
                '×' | '*' => tokens.push(Token::Times),
                '"' => push_word(&mut tokens, "\"".to_owned()),
                _ => {}
            }
            i += 1;
        }
    }
    tokens
}

fn push_word(tokens: &mut Vec<Token>, word: String) {
    if let Some(factor) = unit_factor(&word)
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
    }

    #[test]
    fn words_and_diameter_sign() {
        assert_eq!(
            tokenize("Ø20 by 5"),
            vec![Token::Diameter, n(20.0, None), Token::Times, n(5.0, None)]
        );
        assert_eq!(tokenize("Box")[0], Token::Word("box".to_owned()));
    }
}
