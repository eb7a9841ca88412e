//! An oracle's quotes on the command line: `ASSET=PRICE` arguments and
//! CSV files, sent as sequenced publish messages.

use interlock_client::{pb, Client};

use crate::cli::print_json;
use crate::output;

/// Sends `quotes` (and those of `file`) as the oracle's next messages and
/// prints each quote's verdict.
pub async fn publish(
    client: &Client,
    quotes: &[(String, String)],
    file: Option<std::path::PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let last = client.publish_state().await?.last_applied_sequence;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut all: Vec<pb::Quote> = quotes
        .iter()
        .map(|(asset, price)| pb::Quote {
            asset: asset.clone(),
            price: price.clone(),
            published_ms: now_ms,
        })
        .collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        all.extend(parse_quote_file(&text, now_ms)?);
    }
    let chunks: Vec<&[pb::Quote]> = all.chunks(QUOTES_PER_MESSAGE).collect();
    let messages = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| pb::PublishRequest {
            sequence: last + 1 + i as u64,
            quotes: c.to_vec(),
        })
        .collect();
    let acks = client.publish(messages).await?;
    for (chunk, ack) in chunks.iter().zip(&acks) {
        let pairs: Vec<(String, String)> = chunk
            .iter()
            .map(|q| (q.asset.clone(), q.price.clone()))
            .collect();
        if json {
            print_json(&output::publish_json(&pairs, ack));
        } else {
            output::publish_table(&pairs, ack);
        }
    }
    Ok(())
}

/// Most quotes in one publish message (the server's PRICE_BATCH_MAX).
const QUOTES_PER_MESSAGE: usize = 256;

/// Quotes from CSV text: `ASSET,PRICE[,PUBLISHED_MS]` per line.
pub fn parse_quote_file(text: &str, now_ms: i64) -> anyhow::Result<Vec<pb::Quote>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let published_ms = match fields.as_slice() {
            [_, _] => now_ms,
            [_, _, t] => t.parse().map_err(|_| {
                anyhow::anyhow!(
                    "line {}: PUBLISHED_MS {t:?} is not a whole number of ms",
                    i + 1
                )
            })?,
            _ => anyhow::bail!("line {}: expected ASSET,PRICE[,PUBLISHED_MS]", i + 1),
        };
        if fields[0].is_empty() || fields[1].is_empty() {
            anyhow::bail!("line {}: expected ASSET,PRICE[,PUBLISHED_MS]", i + 1);
        }
        out.push(pb::Quote {
            asset: fields[0].to_owned(),
            price: fields[1].to_owned(),
            published_ms,
        });
    }
    Ok(out)
}

pub fn parse_quote_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((asset, price)) if !asset.is_empty() && !price.is_empty() => {
            Ok((asset.to_owned(), price.to_owned()))
        }
        _ => Err(format!("{s:?}: expected ASSET=PRICE, e.g. ETH=2000.5")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_files_parse_and_errors_name_the_line() {
        let q = parse_quote_file(
            "# prices\nETH,2000.5\n\nBTC, 64000 ,1700000000000 # late\n",
            42,
        )
        .unwrap();
        let got: Vec<_> = q
            .iter()
            .map(|q| (q.asset.as_str(), q.price.as_str(), q.published_ms))
            .collect();
        assert_eq!(
            got,
            vec![("ETH", "2000.5", 42), ("BTC", "64000", 1_700_000_000_000)]
        );
        let e = parse_quote_file("ETH,1\nETH\n", 0).unwrap_err();
        assert_eq!(e.to_string(), "line 2: expected ASSET,PRICE[,PUBLISHED_MS]");
        let e = parse_quote_file("ETH,1,soon\n", 0).unwrap_err();
        assert!(e.to_string().starts_with("line 1: PUBLISHED_MS"), "{e}");
    }
}
