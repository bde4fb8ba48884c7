//! Number formatting shared by the console table, the report and the charts.

/// Milliseconds with as many decimals as they deserve: `0.42`, `8.3`, `1643`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() {
        "-".to_string()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A speed-up factor: `×3.2`, `×45`, `×1200`.
pub fn factor(v: f64) -> String {
    if !v.is_finite() {
        "-".to_string()
    } else if v < 10.0 {
        format!("×{v:.1}")
    } else {
        format!("×{v:.0}")
    }
}

/// `3000000` → `3,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            (ms(0.4213), ms(42.31), ms(1643.4), ms(f64::NAN)),
            ("0.42".into(), "42.3".into(), "1643".into(), "-".into())
        );
        assert_eq!((factor(3.21), factor(456.7)), ("×3.2".into(), "×457".into()));
        assert_eq!(
            (thousands(3_000_000), thousands(999), thousands(1000)),
            ("3,000,000".into(), "999".into(), "1,000".into())
        );
        assert_eq!((opt(Some(3)), opt::<u32>(None)), ("3".into(), "-".into()));
    }
}
