//! The SVG chart: deliveries per minute per provider over virtual time, one panel per
//! policy.

use std::path::Path;

use plotters::prelude::*;

use crate::engine::Report;
use crate::world::{Ms, HOUR, MINUTE};

const BIN: usize = 5;

const COLOURS: [RGBColor; 8] = [
    RGBColor(66, 133, 244),
    RGBColor(0, 120, 80),
    RGBColor(96, 1, 210),
    RGBColor(230, 120, 0),
    RGBColor(200, 30, 30),
    RGBColor(120, 120, 120),
    RGBColor(0, 160, 170),
    RGBColor(150, 100, 40),
];

/// Draws `reports` up to `until` (virtual time) into an SVG file at `path`, a line per
/// receiver class of `classes`.
pub fn draw(
    path: &Path,
    reports: &[Report],
    classes: &[String],
    until: Ms,
) -> Result<(), Box<dyn std::error::Error>> {
    let minutes = (until / MINUTE).max(1) as usize;
    let height = 260 * reports.len() as u32 + 40;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "Deliveries per minute per provider (virtual time)",
        ("sans-serif", 22),
    )?;
    let panels = body.split_evenly((reports.len(), 1));
    for (panel, report) in panels.iter().zip(reports) {
        draw_panel(panel, report, classes, minutes)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    report: &Report,
    classes: &[String],
    minutes: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    // Averaged over 5 minutes; the scale fits every class but a last per-domain one, so
    // the long tail's first-minutes burst (every small domain at once) runs off the top.
    let averaged = |class: usize| {
        (0..minutes.div_ceil(BIN)).map(move |bin| {
            let sum: u32 = (bin * BIN..(bin + 1) * BIN)
                .map(|m| report.per_minute.get(m).map_or(0, |c| c[class]))
                .sum();
            ((bin * BIN) as f64 / 60.0, sum / BIN as u32)
        })
    };
    let peak = (0..classes.len().saturating_sub(1).max(1))
        .flat_map(|class| averaged(class).map(|(_, n)| n))
        .max()
        .unwrap_or(0)
        .max(10);
    let hours = minutes as f64 / (HOUR / MINUTE) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: {} delivered, {} bounced, {} blocks",
                report.policy, report.delivered, report.bounced, report.blocks
            ),
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..hours, 0u32..peak + peak / 10)?;
    chart
        .configure_mesh()
        .x_desc("hours")
        .y_desc("per minute (5-min mean)")
        .light_line_style(WHITE)
        .draw()?;
    for (class, name) in classes.iter().enumerate() {
        let colour = COLOURS[class % COLOURS.len()];
        let top = peak + peak / 10;
        let points = averaged(class).map(|(x, n)| (x, n.min(top)));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
