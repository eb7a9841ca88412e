//! The systemic questions on the command line: `stress`, `cascade` and
//! `scenarios`, as tables a risk officer reads at a glance, a price path
//! in the terminal, and an SVG of it with `--plot`.

use clap::{Args, ValueEnum};
use interlock_client::{pb, Client};
use rust_decimal::Decimal;

use crate::cli::print_json;
use crate::output::{pct, table};

/// What to shock: a named scenario or shocks per asset.
#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// A named scenario (`interlockctl scenarios`), e.g. CHAOS_TIERS.
    #[arg(long, required_unless_present = "shocks", conflicts_with = "shocks")]
    pub scenario: Option<String>,
    /// A move per asset: `ETH=-15%` or `ETH=-0.15` (repeat for more).
    #[arg(
        long = "shock",
        value_parser = parse_shock,
        allow_hyphen_values = true,
        required_unless_present = "scenario"
    )]
    pub shocks: Vec<(String, String)>,
    /// Reverse stress: every move times this (2, 5), a fall stopping just
    /// short of -100%.
    #[arg(long, default_value_t = 1)]
    pub multiple: u32,
    /// For this run, a venue liquidates by another rule:
    /// `venue-a=morpho`, `venue-b=aave` (v3.3, bonus 1.05) or `aave:1.08`,
    /// `venue-c=exchange:0.02` (a penalty). Repeat for more.
    #[arg(long = "rule", value_parser = parse_rule)]
    pub rules: Vec<(String, pb::liquidation_rule::Rule)>,
}

impl ScenarioArgs {
    fn spec(&self) -> pb::ScenarioSpec {
        pb::ScenarioSpec {
            name: self.scenario.clone().unwrap_or_default(),
            shocks: self
                .shocks
                .iter()
                .map(|(asset, shock)| pb::Shock {
                    asset: asset.clone(),
                    shock: shock.clone(),
                })
                .collect(),
            multiple: self.multiple,
        }
    }

    fn overrides(&self) -> Vec<pb::RuleOverride> {
        self.rules
            .iter()
            .map(|(venue, rule)| pb::RuleOverride {
                venue: venue.clone(),
                rule: Some(pb::LiquidationRule {
                    rule: Some(rule.clone()),
                }),
            })
            .collect()
    }
}

/// `VENUE=morpho`, `VENUE=aave[:BONUS]`, `VENUE=exchange[:PENALTY]`.
fn parse_rule(s: &str) -> Result<(String, pb::liquidation_rule::Rule), String> {
    use pb::liquidation_rule::Rule;
    let (venue, style) = parse_pair(s)?;
    let (style, param) = match style.split_once(':') {
        Some((st, p)) => (st.to_ascii_lowercase(), Some(p.trim().to_owned())),
        None => (style.to_ascii_lowercase(), None),
    };
    let rule = match (style.as_str(), param) {
        ("morpho", None) => Rule::Morpho(pb::MorphoRule {}),
        ("aave", bonus) => Rule::Aave(pb::AaveRule {
            close_factor: "0.5".into(),
            hf_full: "0.95".into(),
            min_full_base: "2000".into(),
            bonus: bonus.unwrap_or_else(|| "1.05".into()),
        }),
        ("exchange", penalty) => Rule::Exchange(pb::ExchangeRule {
            penalty: penalty.unwrap_or_else(|| "0.02".into()),
        }),
        _ => {
            return Err(format!(
                "expected VENUE=morpho, VENUE=aave[:BONUS] or VENUE=exchange[:PENALTY], got {s:?}"
            ))
        }
    };
    Ok((venue, rule))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RankArg {
    /// The largest debt now.
    Size,
    /// The largest shortfall under the scenario.
    Shortfall,
}

#[derive(Debug, Clone, Args)]
pub struct SystemicArgs {
    #[command(flatten)]
    pub cascade: CascadeArgs,
    /// How many participants to rank (each is a cascade run without it).
    #[arg(long, default_value_t = 20)]
    pub top: u32,
    /// Which participants are candidates.
    #[arg(long, value_enum, default_value_t = RankArg::Size)]
    pub by: RankArg,
}

#[derive(Debug, Clone, Args)]
pub struct StressArgs {
    #[command(flatten)]
    pub what: ScenarioArgs,
    /// Participant rows: the worst by shortfall.
    #[arg(long, default_value_t = 20)]
    pub rows: u32,
    /// Show this participant whatever its rank (repeat for more).
    #[arg(long = "participant")]
    pub participants: Vec<String>,
    /// Market depth `ASSET=QUANTITY` (what moves the price 10%), to show
    /// forced sales as a share of it.
    #[arg(long = "depth", value_parser = parse_pair)]
    pub depth: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImpactArg {
    /// P·exp(−β·q/M): selling M/10 moves the price 10%.
    Exp,
    /// P·(1 − q/M).
    Linear,
}

#[derive(Debug, Clone, Args)]
pub struct CascadeArgs {
    #[command(flatten)]
    pub what: ScenarioArgs,
    /// How sales move prices.
    #[arg(long, value_enum, default_value_t = ImpactArg::Exp)]
    pub impact: ImpactArg,
    /// Market depth `ASSET=QUANTITY`: what moves the price 10% (repeat;
    /// an asset without one does not move when sold).
    #[arg(long = "depth", value_parser = parse_pair)]
    pub depth: Vec<(String, String)>,
    /// A price floor `ASSET=PRICE` (default 0).
    #[arg(long = "floor", value_parser = parse_pair)]
    pub floor: Vec<(String, String)>,
    /// Stop after this many rounds (at most 200).
    #[arg(long, default_value_t = 50)]
    pub max_rounds: u32,
    /// Write the price path as an SVG chart to this file.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
}

/// `ASSET=VALUE`.
fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (a, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ASSET=VALUE, got {s:?}"))?;
    Ok((a.trim().to_owned(), v.trim().to_owned()))
}

/// `ETH=-15%` → ("ETH", "-0.15"); `ETH=-0.15` as it is.
fn parse_shock(s: &str) -> Result<(String, String), String> {
    let (a, v) = parse_pair(s)?;
    match v.strip_suffix('%') {
        Some(p) => {
            let d: Decimal = p
                .trim()
                .parse()
                .map_err(|_| format!("{v:?} is not a percentage"))?;
            Ok((a, (d / Decimal::ONE_HUNDRED).normalize().to_string()))
        }
        None => Ok((a, v)),
    }
}

/// A health factor: empty (no debt) as "no debt".
fn hf(s: &str) -> String {
    if s.is_empty() {
        "no debt".to_owned()
    } else {
        s.to_owned()
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

pub async fn stress(client: &Client, a: StressArgs, json: bool) -> anyhow::Result<()> {
    let r = client
        .stress(pb::StressRequest {
            scenario: Some(a.what.spec()),
            rules: a.what.overrides(),
            rows: a.rows,
            participants: a.participants,
            markets: a
                .depth
                .into_iter()
                .map(|(asset, depth)| pb::Market {
                    asset,
                    depth,
                    floor: String::new(),
                })
                .collect(),
        })
        .await?;
    if json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    print_stress(&r);
    Ok(())
}

/// A stress report as tables.
pub fn print_stress(r: &pb::StressReport) {
    outln!("STRESS {}  ({})", r.scenario, r.source);
    moves_table(&r.prices);
    let e = r.ecosystem.clone().unwrap_or_default();
    outln!(
        "\n{} participant(s): {} breached on at least one venue, {} on two or more at once",
        e.participants,
        e.breached_on_one,
        e.breached_on_two
    );
    outln!(
        "debt closed {}  bad debt {}",
        dash(&e.debt_closed),
        dash(&e.bad_debt)
    );
    if e.hidden_by_reuse_count > 0 {
        outln!(
            "\nHIDDEN BY REUSE: {} participant(s) under water on Interlock's view (HF^eco < 1) while every venue still sees them healthy:",
            e.hidden_by_reuse_count
        );
        outln!("  {}", e.hidden_by_reuse.join(", "));
    } else {
        outln!("\nhidden by reuse: none");
    }
    outln!("\nPER VENUE");
    let rows: Vec<Vec<String>> = r
        .venues
        .iter()
        .map(|v| {
            vec![
                format!("{}{}", v.venue, if v.default_rule { "*" } else { "" }),
                v.accounts_breached.to_string(),
                dash(&v.debt_at_risk),
                v.seized
                    .iter()
                    .map(|s| format!("{} {}", s.quantity, s.asset))
                    .collect::<Vec<_>>()
                    .join(", "),
                dash(&v.repaid),
                dash(&v.bad_debt),
                dash(&v.cover1),
                dash(&v.cover2),
            ]
        })
        .collect();
    table(
        &[
            "VENUE",
            "BREACHED",
            "DEBT AT RISK",
            "SEIZED",
            "REPAID",
            "BAD DEBT",
            "COVER-1",
            "COVER-2",
        ],
        &rows,
    );
    if r.venues.iter().any(|v| v.default_rule) {
        outln!("* no liquidation rule set: Aave v3.3 with a 5% bonus stood in");
    }
    if !r.assets.is_empty() {
        outln!("\nFORCED SALES");
        sales_table(&r.assets);
    }
    if !r.participants.is_empty() {
        outln!("\nPARTICIPANTS (worst by shortfall)");
        let rows: Vec<Vec<String>> = r
            .participants
            .iter()
            .map(|p| {
                let breached: Vec<&str> = p
                    .venues
                    .iter()
                    .filter(|v| v.breached)
                    .map(|v| v.venue.as_str())
                    .collect();
                let claims: Vec<String> = p
                    .venues
                    .iter()
                    .map(|v| format!("{} {}/{}", v.venue, hf(&v.hf_claim), hf(&v.hf_true)))
                    .collect();
                vec![
                    p.participant.clone(),
                    format!("{} -> {}", hf(&p.hf_eco_before), hf(&p.hf_eco_after)),
                    dash(&p.shortfall),
                    if breached.is_empty() {
                        "-".to_owned()
                    } else {
                        breached.join(",")
                    },
                    claims.join("  "),
                ]
            })
            .collect();
        table(
            &[
                "PARTICIPANT",
                "HF^ECO",
                "SHORTFALL",
                "BREACHED ON",
                "HF^CLAIM/HF^TRUE PER VENUE",
            ],
            &rows,
        );
    }
    if !r.unpriced.is_empty() {
        outln!("\nunpriced (valued at 0): {}", r.unpriced.join(", "));
    }
}

fn moves_table(prices: &[pb::AssetMove]) {
    let rows: Vec<Vec<String>> = prices
        .iter()
        .map(|m| {
            vec![
                m.asset.clone(),
                pct(&m.shock),
                m.before.clone(),
                m.after.clone(),
            ]
        })
        .collect();
    table(&["ASSET", "SHOCK", "BEFORE", "AFTER"], &rows);
}

fn sales_table(assets: &[pb::ForcedSales]) {
    let rows: Vec<Vec<String>> = assets
        .iter()
        .map(|s| {
            vec![
                s.asset.clone(),
                s.quantity.clone(),
                s.value.clone(),
                dash(&s.depth),
                if s.share_of_depth.is_empty() {
                    "-".to_owned()
                } else {
                    pct(&s.share_of_depth)
                },
            ]
        })
        .collect();
    table(&["ASSET", "SOLD", "VALUE", "DEPTH", "OF DEPTH"], &rows);
}

fn cascade_request(a: &CascadeArgs) -> anyhow::Result<pb::CascadeRequest> {
    for (asset, _) in &a.floor {
        anyhow::ensure!(
            a.depth.iter().any(|(d, _)| d == asset),
            "--floor {asset}=...: give its --depth too (a floor bounds a market's impact)"
        );
    }
    let floor = |asset: &str| {
        a.floor
            .iter()
            .find(|(f, _)| f == asset)
            .map(|(_, p)| p.clone())
            .unwrap_or_default()
    };
    Ok(pb::CascadeRequest {
        scenario: Some(a.what.spec()),
        impact: match a.impact {
            ImpactArg::Exp => pb::PriceImpact::Exp,
            ImpactArg::Linear => pb::PriceImpact::Linear,
        }
        .into(),
        markets: a
            .depth
            .iter()
            .map(|(asset, depth)| pb::Market {
                asset: asset.clone(),
                depth: depth.clone(),
                floor: floor(asset),
            })
            .collect(),
        max_rounds: a.max_rounds,
        rules: a.what.overrides(),
    })
}

pub async fn cascade(client: &Client, a: CascadeArgs, json: bool) -> anyhow::Result<()> {
    let r = client.cascade(cascade_request(&a)?).await?;
    if let Some(path) = &a.plot {
        std::fs::write(path, svg(&r)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    print_cascade(&r);
    if let Some(path) = &a.plot {
        outln!("chart written to {}", path.display());
    }
    Ok(())
}

/// A cascade report as tables and a chart.
pub fn print_cascade(r: &pb::CascadeReport) {
    outln!("CASCADE {}", r.scenario);
    moves_table(&r.prices);
    let assets: Vec<&str> = r.prices.iter().map(|m| m.asset.as_str()).collect();
    outln!("\nROUNDS");
    let mut headers = vec!["ROUND"];
    headers.extend(assets.iter().copied());
    headers.extend([
        "LIQUIDATED",
        "DEBT CLOSED",
        "BAD DEBT",
        "NEWLY BREACHED",
        "SOLD",
    ]);
    let rows: Vec<Vec<String>> = r
        .rounds
        .iter()
        .map(|k| {
            let mut row = vec![k.round.to_string()];
            row.extend(k.prices.iter().cloned());
            row.extend([
                k.accounts_liquidated.to_string(),
                dash(&k.debt_closed),
                dash(&k.bad_debt),
                k.newly_breached_count.to_string(),
                k.sold
                    .iter()
                    .map(|s| format!("{} {}", s.quantity, s.asset))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
            row
        })
        .collect();
    table(&headers, &rows);
    outln!(
        "\n{} after {} round(s); debt closed {}, bad debt {}; breached on one venue or more: {}, on two or more at once: {}",
        if r.settled { "settled" } else { "STILL LIQUIDATING at --max-rounds" },
        r.rounds.len(),
        dash(&r.debt_closed),
        dash(&r.bad_debt),
        r.breached_on_one,
        r.breached_on_two
    );
    let finals: Vec<String> = assets
        .iter()
        .zip(&r.final_prices)
        .map(|(a, p)| format!("{a} {p}"))
        .collect();
    outln!("final prices: {}", finals.join("  "));
    let amp = |v: &[pb::AssetRatio]| {
        v.iter()
            .map(|x| {
                format!(
                    "{} {}",
                    x.asset,
                    if x.ratio.is_empty() { "n/a" } else { &x.ratio }
                )
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    outln!(
        "amplification (total / first round): debt closed {}; sold {}; price fall {}",
        if r.amplification_debt_closed.is_empty() {
            "n/a"
        } else {
            &r.amplification_debt_closed
        },
        dash(&amp(&r.amplification_sold)),
        dash(&amp(&r.amplification_price_fall))
    );
    if r.victims_count > 0 {
        outln!(
            "contagion victims (first breached after the first round): {}: {}",
            r.victims_count,
            r.victims.join(", ")
        );
    } else {
        outln!("contagion victims: none");
    }
    if !r.assets.is_empty() {
        outln!("\nFORCED SALES");
        sales_table(&r.assets);
    }
    outln!("\nPRICE PATH (100 = before the shock)");
    for line in chart(r, 10) {
        outln!("{line}");
    }
}

/// Each priced asset's path as an index: 100 before the shock, then each
/// round's price (round 0 is the shock), then the final price.
fn paths(r: &pb::CascadeReport) -> Vec<(String, Vec<f64>)> {
    let num = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    r.prices
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let base = num(&m.before);
            let index = |p: f64| if base > 0.0 { 100.0 * p / base } else { 0.0 };
            let mut path = vec![100.0];
            path.extend(r.rounds.iter().map(|k| index(num(&k.prices[i]))));
            path.push(index(num(&r.final_prices[i])));
            (m.asset.clone(), path)
        })
        .collect()
}

const MARKS: &[char] = &['*', '+', 'o', 'x', '#', '@'];

/// A small chart of the price paths, `height` lines high.
fn chart(r: &pb::CascadeReport, height: usize) -> Vec<String> {
    let paths = paths(r);
    let width = paths.first().map_or(0, |p| p.1.len());
    let lo = paths
        .iter()
        .flat_map(|p| p.1.iter().copied())
        .fold(100.0f64, f64::min)
        .floor();
    let hi = 100.0f64;
    let span = (hi - lo).max(1.0);
    let mut grid = vec![vec![' '; width * 2]; height];
    for (k, (_, path)) in paths.iter().enumerate() {
        for (x, v) in path.iter().enumerate() {
            let y = (((hi - v) / span) * (height - 1) as f64).round() as usize;
            grid[y.min(height - 1)][x * 2] = MARKS[k % MARKS.len()];
        }
    }
    let mut out: Vec<String> = grid
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let label = hi - span * i as f64 / (height - 1) as f64;
            format!("{label:>6.1} |{}", row.into_iter().collect::<String>())
        })
        .collect();
    out.push(format!("       +{}", "-".repeat(width * 2)));
    out.push(format!(
        "        before, shock (round 0), rounds 1..{}, final",
        r.rounds.len().saturating_sub(1)
    ));
    let legend: Vec<String> = paths
        .iter()
        .enumerate()
        .map(|(k, (a, _))| format!("{} {a}", MARKS[k % MARKS.len()]))
        .collect();
    out.push(format!("        {}", legend.join("   ")));
    out
}

/// The price paths as an SVG line chart.
fn svg(r: &pb::CascadeReport) -> String {
    const COLORS: &[&str] = &[
        "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    ];
    let (w, h, pad) = (640.0, 360.0, 48.0);
    let paths = paths(r);
    let n = paths.first().map_or(1, |p| p.1.len()).max(2);
    let lo = paths
        .iter()
        .flat_map(|p| p.1.iter().copied())
        .fold(100.0f64, f64::min)
        .floor()
        .min(99.0);
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n - 1) as f64;
    let y = |v: f64| pad + (h - 2.0 * pad) * (100.0 - v) / (100.0 - lo);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{pad}\" y=\"24\" font-size=\"14\">Cascade {}: price index (100 = before the shock)</text>\n\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\n\
         <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"#888\"/>\n\
         <text x=\"4\" y=\"{}\">100</text><text x=\"4\" y=\"{}\">{lo}</text>\n",
        escape(&r.scenario),
        h - pad,
        w - pad,
        h - pad,
        h - pad,
        y(100.0) + 4.0,
        y(lo) + 4.0,
    );
    for (k, (asset, path)) in paths.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> = path
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>\n",
            points.join(" "),
            w - pad + 4.0,
            y(*path.last().unwrap_or(&100.0)) + 4.0,
            escape(asset)
        ));
    }
    s.push_str(&format!(
        "<text x=\"{pad}\" y=\"{}\">before</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">final</text>\n</svg>\n",
        h - pad + 16.0,
        w - pad,
        h - pad + 16.0
    ));
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScenarioCommand {
    /// (admin) Set a named scenario: `scenarios set TIERS_2026 --class
    /// MAJOR=-40% --class ALT=-60% --shock ETH=-45% --source "desk, 2026"`.
    /// Versioned and audited; stress, cascade and systemic run it by name.
    Set {
        /// 1 to 64 of A-Z, 0-9 and _, starting with a letter.
        name: String,
        /// A move per asset class: `MAJOR=-35%` (STABLE, MAJOR, ALT).
        #[arg(long = "class", value_parser = parse_shock, allow_hyphen_values = true)]
        classes: Vec<(String, String)>,
        /// A move per asset: `ETH=-43%` (wins over its class's).
        #[arg(long = "shock", value_parser = parse_shock, allow_hyphen_values = true)]
        shocks: Vec<(String, String)>,
        /// Where the figures come from.
        #[arg(long, default_value = "")]
        source: String,
    },
    /// (admin) Delete a named scenario.
    Delete { name: String },
    /// (admin, auditor) The library (the default).
    List,
}

pub async fn scenario_command(
    client: &Client,
    cmd: Option<ScenarioCommand>,
    json: bool,
) -> anyhow::Result<()> {
    let (name, req) = match cmd {
        None | Some(ScenarioCommand::List) => return scenarios(client, json).await,
        Some(ScenarioCommand::Delete { name }) => (
            name.clone(),
            pb::SetScenarioRequest {
                name,
                delete: true,
                ..Default::default()
            },
        ),
        Some(ScenarioCommand::Set {
            name,
            classes,
            shocks,
            source,
        }) => {
            let mut req = pb::SetScenarioRequest {
                name: name.clone(),
                source,
                shocks: shocks
                    .into_iter()
                    .map(|(asset, shock)| pb::Shock { asset, shock })
                    .collect(),
                ..Default::default()
            };
            for (class, shock) in classes {
                match class.to_ascii_uppercase().as_str() {
                    "STABLE" => req.stable = shock,
                    "MAJOR" => req.major = shock,
                    "ALT" => req.alt = shock,
                    other => anyhow::bail!("--class {other}=...: a class is STABLE, MAJOR or ALT"),
                }
            }
            (name, req)
        }
    };
    let r = client.set_scenario(req).await?;
    if json {
        print_json(&serde_json::to_value(&r)?);
    } else {
        outln!(
            "{name}: version {}{}",
            r.version,
            r.previous
                .as_ref()
                .map_or_else(String::new, |p| format!(" (was: {})", moves_text(p)))
        );
    }
    Ok(())
}

/// A scenario's moves in a line: "STABLE -5%, MAJOR -35%, ETH -43%".
fn moves_text(s: &pb::ScenarioShocks) -> String {
    let by_class = [("STABLE", &s.stable), ("MAJOR", &s.major), ("ALT", &s.alt)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(c, v)| format!("{c} {}", pct(v)));
    let by_asset = s
        .shocks
        .iter()
        .map(|x| format!("{} {}", x.asset, pct(&x.shock)));
    by_class.chain(by_asset).collect::<Vec<_>>().join(", ")
}

async fn scenarios(client: &Client, json: bool) -> anyhow::Result<()> {
    let list = client.scenarios().await?;
    if json {
        print_json(&serde_json::to_value(&list)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.version.to_string(),
                moves_text(s),
                s.source.clone(),
            ]
        })
        .collect();
    table(&["SCENARIO", "VERSION", "MOVES", "SOURCE"], &rows);
    outln!(
        "any scenario xN (e.g. CHAOS_TIERSx2) or --multiple N: every move N times (reverse stress)"
    );
    Ok(())
}

pub async fn systemic(client: &Client, a: SystemicArgs, json: bool) -> anyhow::Result<()> {
    let mut stream = client
        .systemic(pb::SystemicRequest {
            cascade: Some(cascade_request(&a.cascade)?),
            top: a.top,
            by: match a.by {
                RankArg::Size => pb::RankBy::Size,
                RankArg::Shortfall => pb::RankBy::Shortfall,
            }
            .into(),
        })
        .await?;
    let mut report = None;
    let mut drew = false;
    while let Some(u) = stream.message().await? {
        match u.update {
            Some(pb::systemic_update::Update::Progress(p)) if !json => {
                crate::output::progress(p.done as usize, p.total as usize, "participants");
                drew = true;
            }
            Some(pb::systemic_update::Update::Report(r)) => report = Some(r),
            Some(pb::systemic_update::Update::Progress(_)) | None => {}
        }
    }
    if drew {
        eprintln!();
    }
    let r =
        report.ok_or_else(|| anyhow::anyhow!("the server ended the ranking without a report"))?;
    if json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    outln!(
        "SYSTEMIC RANKING under {}: debt closed in the full cascade {}",
        r.scenario,
        dash(&r.closed)
    );
    outln!("impact: the debt everyone else closes because of the participant (its own left out)");
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .enumerate()
        .map(|(i, x)| {
            vec![
                (i + 1).to_string(),
                x.participant.clone(),
                x.impact.clone(),
                x.debt.clone(),
                x.own_closed.clone(),
                x.closed_without.clone(),
            ]
        })
        .collect();
    table(
        &[
            "RANK",
            "PARTICIPANT",
            "IMPACT",
            "DEBT",
            "OWN CLOSED",
            "CLOSED WITHOUT IT",
        ],
        &rows,
    );
    outln!("\nCOVER (what single participants would leave unpaid, under the shock)");
    let rows: Vec<Vec<String>> = r
        .venues
        .iter()
        .map(|v| {
            vec![
                v.venue.clone(),
                dash(&v.cover1),
                dash(&v.cover2),
                v.cover_participants
                    .iter()
                    .map(|c| format!("{} {}", c.participant, c.shortfall))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    table(&["VENUE", "COVER-1", "COVER-2", "WHO"], &rows);
    if !r.cover2.is_empty() {
        let who: Vec<String> = r
            .cover2
            .iter()
            .map(|c| format!("{} {}", c.participant, c.shortfall))
            .collect();
        let by: Vec<String> = r
            .cover2_by_venue
            .iter()
            .map(|v| format!("{} {}", v.venue, v.shortfall))
            .collect();
        outln!(
            "ecosystem Cover-2: {}; venues would lose {}",
            who.join(", "),
            by.join(", ")
        );
    }
    Ok(())
}

pub async fn venue_report(
    client: &Client,
    venue: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let r = client.reuse_report(venue.as_deref().unwrap_or("")).await?;
    if json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    for v in &r.venues {
        outln!("VENUE {}", v.venue);
        if v.withheld {
            outln!(
                "  fewer than {} participants: no figure is given (a venue sees only aggregates over at least {})",
                v.min_participants,
                v.min_participants
            );
            continue;
        }
        outln!(
            "  {} participant(s); committed {}; over-pledged elsewhere {} ({}){}",
            v.participants,
            v.committed_value,
            v.over_pledged_value,
            if v.over_pledged_share.is_empty() {
                "-".to_owned()
            } else {
                pct(&v.over_pledged_share)
            },
            if v.min_participants > 0 {
                format!(
                    "; every figure over at least {} participants",
                    v.min_participants
                )
            } else {
                String::new()
            }
        );
        let rows: Vec<Vec<String>> = v
            .buckets
            .iter()
            .filter(|b| b.participants > 0)
            .map(|b| {
                vec![
                    match (b.others_min, b.others_max.as_str()) {
                        (lo, "") => format!("{lo} or more"),
                        (lo, hi) if hi == lo.to_string() => hi.to_owned(),
                        (lo, hi) => format!("{lo} to {hi}"),
                    },
                    b.participants.to_string(),
                    b.committed_value.clone(),
                    b.over_pledged_value.clone(),
                ]
            })
            .collect();
        table(
            &[
                "ALSO PLEDGED ON N OTHER VENUES",
                "PARTICIPANTS",
                "COMMITTED",
                "OVER-PLEDGED",
            ],
            &rows,
        );
        if !v.overlap.is_empty() {
            let o: Vec<String> = v
                .overlap
                .iter()
                .map(|x| format!("{} {}", x.venue, x.value))
                .collect();
            outln!("  also pledged at: {}", o.join(", "));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shocks_read_as_shares() {
        assert_eq!(
            parse_shock("ETH=-15%").unwrap(),
            ("ETH".into(), "-0.15".into())
        );
        assert_eq!(
            parse_shock("ETH=-0.2").unwrap(),
            ("ETH".into(), "-0.2".into())
        );
        assert!(parse_shock("ETH").is_err());
        assert!(parse_shock("ETH=abc%").is_err());
        assert_eq!(pct("-0.35"), "-35%");
    }

    /// A scenario or shocks, not both, not neither; a multiple with
    /// either.
    #[test]
    fn what_to_shock_on_the_command_line() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            crate::cli::Cli::try_parse_from([&["interlockctl", "stress"][..], args].concat())
        };
        assert!(parse(&["--scenario", "CHAOS_TIERS", "--multiple", "2"]).is_ok());
        assert!(parse(&[
            "--shock",
            "ETH=-15%",
            "--shock",
            "BTC=-10%",
            "--multiple",
            "5"
        ])
        .is_ok());
        assert!(parse(&["--scenario", "CHAOS_TIERS", "--shock", "ETH=-15%"]).is_err());
        assert!(parse(&["--multiple", "2"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&[
            "--scenario",
            "X",
            "--rule",
            "venue-a=aave:1.08",
            "--rule",
            "v=morpho"
        ])
        .is_ok());
        assert!(parse(&["--scenario", "X", "--rule", "venue-a=liquidate"]).is_err());
        assert!(parse(&["--scenario", "X", "--rule", "venue-a=morpho:2"]).is_err());
    }
}
