//! Incremental UTF-8 decoding of a byte stream whose reads may split a character.

/// Turns chunks of bytes into text, holding back an incomplete trailing character until the next
/// chunk completes it. Invalid bytes become U+FFFD.
#[derive(Default)]
pub(crate) struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Decodes what `bytes` completes; may return an empty string.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut consumed = 0;
        loop {
            let rest = &self.pending[consumed..];
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    consumed = self.pending.len();
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            consumed += valid.len() + invalid;
                        }
                        None => {
                            // `after` is the start of a character the next read completes.
                            consumed += rest.len() - after.len();
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        text
    }

    /// Ends the stream: a character still incomplete becomes U+FFFD.
    pub(crate) fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Decoder;

    #[test]
    fn a_character_split_across_reads_is_joined() {
        let bytes = "añ€😀".as_bytes();
        for split in 0..=bytes.len() {
            let mut decoder = Utf8Decoder::default();
            let mut text = decoder.decode(&bytes[..split]);
            text.push_str(&decoder.decode(&bytes[split..]));
            text.push_str(&decoder.finish());
            assert_eq!(text, "añ€😀", "split at {split}");
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.decode(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(decoder.decode(b"\xe2\x82"), "");
        assert_eq!(decoder.finish(), "\u{fffd}");
    }
}
