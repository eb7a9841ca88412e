//! The value layer on the command line: an oracle's prices, the desk's
//! assets (class, haircut) and venues (threshold and LTV per asset,
//! liquidation rule), and a participant's health across venues.

use clap::Subcommand;
use interlock_client::{pb, Client};

use crate::cli::print_json;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum PriceCommand {
    /// (oracle) Publish quotes: `ASSET=PRICE` pairs, published now, as the
    /// oracle's next sequence. Prints each quote's verdict.
    Publish {
        /// For example `ETH=2000.5 BTC=64000`.
        #[arg(value_parser = crate::quotes::parse_quote_arg, required_unless_present = "file")]
        quotes: Vec<(String, String)>,
        /// A CSV file of quotes, one per line: `ASSET,PRICE[,PUBLISHED_MS]`
        /// (published now if the time is left out; `#` starts a comment).
        /// Sent in messages of at most 256 quotes, in order.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// (admin, auditor) Every asset with a class: its price, state (FRESH,
    /// STALE, RECOVERING), oracles and haircuts (as `asset list`).
    List,
}

#[derive(Debug, Subcommand)]
pub enum AssetCommand {
    /// (admin) Set an asset's class, its haircut, or both: `asset set ETH
    /// --class major --haircut 0.17`.
    #[command(group(
        clap::ArgGroup::new("change").required(true).multiple(true)
            .args(["class", "haircut", "unpin"])
    ))]
    Set {
        asset: String,
        /// STABLE, MAJOR or ALT. An asset takes prices only once it has a
        /// class; the class sets how old its quotes may be.
        #[arg(long, value_parser = ["STABLE", "MAJOR", "ALT"], ignore_case = true)]
        class: Option<String>,
        /// Pin Interlock's haircut, in [0, 1) (the asset needs a class).
        #[arg(long, conflicts_with = "unpin")]
        haircut: Option<String>,
        /// Drop the pinned haircut: the volatility model's applies, or
        /// without one the asset counts for nothing in HF^eco.
        #[arg(long)]
        unpin: bool,
        /// Why: required to lower a haircut past the loosening step. Audited.
        #[arg(long, default_value = "")]
        force_reason: String,
    },
    /// (admin, auditor) Every asset with a class: price, state, oracles,
    /// the pinned and the model's haircut.
    List,
}

#[derive(Debug, Subcommand)]
pub enum VenueCommand {
    /// (admin) How a venue values an asset as collateral. A venue is
    /// configured once it has asset parameters or a rule: only then may
    /// brokers report liabilities on it.
    Set {
        venue: String,
        asset: String,
        /// Liquidation threshold (Aave LT, Morpho LLTV), above 0 and at most 1.
        #[arg(long)]
        threshold: String,
        /// Loan-to-value, at most the threshold (omit for a venue with none).
        #[arg(long, default_value = "")]
        ltv: String,
    },
    /// (admin) How a venue liquidates an unhealthy position (stress and
    /// cascade read it): `aave` (close factor, full below --hf-full or
    /// under --min-full-base, a --bonus), `morpho` (all of it, the
    /// incentive from the LLTV) or `exchange` (restore HF to 1, a
    /// --penalty).
    Rule {
        venue: String,
        #[arg(value_parser = ["aave", "morpho", "exchange"], ignore_case = true)]
        style: String,
        /// aave: share of the debt a liquidation may repay.
        #[arg(long, default_value = "0.5")]
        close_factor: String,
        /// aave: at or below this HF, all of the debt.
        #[arg(long, default_value = "0.95")]
        hf_full: String,
        /// aave: below this value (numeraire) on either side, all of it.
        #[arg(long, default_value = "2000")]
        min_full_base: String,
        /// aave: the liquidation bonus, e.g. 1.05.
        #[arg(long, default_value = "1.05")]
        bonus: String,
        /// exchange: the liquidation penalty, e.g. 0.02.
        #[arg(long, default_value = "0.02")]
        penalty: String,
    },
    /// (admin, auditor) Every configured venue: threshold and LTV per
    /// asset, liquidation rule.
    List,
}

pub async fn price(client: &Client, cmd: PriceCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        PriceCommand::Publish { quotes, file } => {
            crate::quotes::publish(client, &quotes, file, json).await
        }
        PriceCommand::List => assets(client, json).await,
    }
}

pub async fn asset(client: &Client, cmd: AssetCommand, json: bool) -> anyhow::Result<()> {
    let AssetCommand::Set {
        asset,
        class,
        haircut,
        unpin,
        force_reason,
    } = cmd
    else {
        return assets(client, json).await;
    };
    let mut changes = serde_json::Map::new();
    changes.insert("asset".into(), asset.clone().into());
    if let Some(class) = class {
        let r = client.set_asset_class(&asset, class_arg(&class)).await?;
        let (was, now) = (
            output::class_name(r.previous()),
            output::class_name(r.class()),
        );
        changes.insert(
            "class".into(),
            serde_json::json!({"previous": was, "class": now}),
        );
        if !json {
            outln!("{asset}: class {was} -> {now}");
        }
    }
    if haircut.is_some() || unpin {
        let h = haircut.unwrap_or_default();
        let r = client.set_haircut(&asset, &h, &force_reason).await?;
        changes.insert(
            "haircut".into(),
            serde_json::json!({"previous": r.previous, "haircut": h}),
        );
        if !json {
            let show = |s: &str| if s.is_empty() { "-" } else { s }.to_owned();
            outln!("{asset}: haircut {} -> {}", show(&r.previous), show(&h));
        }
    }
    if json {
        print_json(&serde_json::Value::Object(changes));
    }
    Ok(())
}

/// The classed assets and the standard shock vector.
async fn assets(client: &Client, json: bool) -> anyhow::Result<()> {
    let r = client.prices_and_shocks().await?;
    if json {
        print_json(&output::prices_json(&r.assets));
    } else {
        output::prices_table(&r.assets);
        if let Some(s) = r.stress_shocks {
            outln!(
                "standard shock: STABLE {}  MAJOR {}  ALT {}",
                s.stable,
                s.major,
                s.alt
            );
        }
    }
    Ok(())
}

pub async fn venue(client: &Client, cmd: VenueCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        VenueCommand::Set {
            venue,
            asset,
            threshold,
            ltv,
        } => {
            let r = client
                .set_venue_asset(pb::SetVenueAssetRequest {
                    venue: venue.clone(),
                    asset: asset.clone(),
                    threshold: threshold.clone(),
                    ltv: ltv.clone(),
                })
                .await?;
            if json {
                print_json(&serde_json::json!({"venue": venue, "asset": asset,
                    "threshold": threshold, "ltv": ltv, "previous_threshold": r.previous_threshold,
                    "previous_ltv": r.previous_ltv}));
            } else {
                let was = if r.previous_threshold.is_empty() {
                    "-".to_owned()
                } else {
                    format!("threshold {} ltv {}", r.previous_threshold, r.previous_ltv)
                };
                outln!(
                    "{venue}/{asset}: {was} -> threshold {threshold} ltv {}",
                    if ltv.is_empty() { "-" } else { &ltv }
                );
            }
        }
        VenueCommand::Rule {
            venue,
            style,
            close_factor,
            hf_full,
            min_full_base,
            bonus,
            penalty,
        } => {
            use pb::liquidation_rule::Rule;
            let rule = match style.to_ascii_lowercase().as_str() {
                "aave" => Rule::Aave(pb::AaveRule {
                    close_factor,
                    hf_full,
                    min_full_base,
                    bonus,
                }),
                "morpho" => Rule::Morpho(pb::MorphoRule {}),
                _ => Rule::Exchange(pb::ExchangeRule { penalty }),
            };
            let r = client.set_venue_rule(&venue, rule.clone()).await?;
            let now = pb::LiquidationRule { rule: Some(rule) };
            let (was, now) = (
                output::rule_text(r.previous.as_ref()),
                output::rule_text(Some(&now)),
            );
            if json {
                print_json(&serde_json::json!({"venue": venue, "rule": now, "previous": was}));
            } else {
                outln!("{venue}: {was} -> {now}");
            }
        }
        VenueCommand::List => {
            let venues = client.list_venues().await?;
            if json {
                print_json(&output::venues_json(&venues));
            } else {
                output::venues_table(&venues);
            }
        }
    }
    Ok(())
}

/// A participant's health across venues, as a risk officer reads it.
pub async fn participant_health(
    client: &Client,
    participant: &str,
    json: bool,
) -> anyhow::Result<()> {
    let h = client.health_of(participant).await?;
    if json {
        print_json(&output::health_json(&h));
    } else {
        output::health_text(&h);
    }
    Ok(())
}

/// An asset class named on the command line (clap has checked the name).
pub fn class_arg(class: &str) -> pb::AssetClass {
    match class.to_ascii_uppercase().as_str() {
        "STABLE" => pb::AssetClass::Stable,
        "MAJOR" => pb::AssetClass::Major,
        _ => pb::AssetClass::Alt,
    }
}
