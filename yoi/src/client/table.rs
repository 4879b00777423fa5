//! Aligned columns for people.

/// `rows` under `headers`, each column as wide as its widest cell, two spaces apart.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        // The last column is padded too: trimming the line drops its padding.
        let line: String = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}  "))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_align_to_their_widest_cell() {
        let rows = vec![
            vec!["backend-internal".to_owned(), "embedded".to_owned()],
            vec!["gpu".to_owned(), "remote_http".to_owned()],
        ];
        assert_eq!(
            render(&["RUNTIME", "KIND"], &rows),
            "RUNTIME           KIND\nbackend-internal  embedded\ngpu               remote_http\n"
        );
    }
}
