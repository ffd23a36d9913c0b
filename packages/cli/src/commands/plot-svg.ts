/**
 * Accuracy against the fraction rejected, one line per confidence, as the paper's Figure 1
 * (Top-1 and Top-3 macro accuracy side by side). SVG rendered to PNG by sharp (librsvg).
 */
import sharp from 'sharp';

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const COLOURS = [
  '#d62728',
  '#ff7f0e',
  '#2ca02c',
  '#9467bd',
  '#1f77b4',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];
/** A series' stroke: the palette's colour, dashed on the palette's second round, so no two lines look alike. */
const stroke = (i: number) =>
  `stroke="${COLOURS[i % COLOURS.length]}"${i >= COLOURS.length ? ' stroke-dasharray="7 4"' : ''}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(series: Series[], title: string, ox: number, w: number, h: number): string {
  const m = { l: 60, r: 10, t: 30, b: 45 };
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const yMin = Math.floor(Math.min(...ys) * 20) / 20,
    yMax = Math.ceil(Math.max(...ys) * 20) / 20;
  const X = (x: number) => ox + m.l + (x / 0.5) * (w - m.l - m.r);
  const Y = (y: number) => m.t + (1 - (y - yMin) / Math.max(1e-9, yMax - yMin)) * (h - m.t - m.b);
  let out = `<text x="${ox + w / 2}" y="18" font-size="14" text-anchor="middle">${esc(title)}</text>`;
  for (let t = 0; t <= 5; t++) {
    const x = t * 0.1,
      y = yMin + ((yMax - yMin) * t) / 5;
    out += `<line x1="${X(x)}" y1="${Y(yMin)}" x2="${X(x)}" y2="${Y(yMax)}" stroke="#eee"/><text x="${X(x)}" y="${h - m.b + 16}" font-size="11" text-anchor="middle">${Math.round(x * 100)}%</text>`;
    out += `<line x1="${X(0)}" y1="${Y(y)}" x2="${X(0.5)}" y2="${Y(y)}" stroke="#eee"/><text x="${X(0) - 5}" y="${Y(y) + 4}" font-size="11" text-anchor="end">${(y * 100).toFixed(0)}%</text>`;
  }
  out += `<text x="${ox + w / 2}" y="${h - 8}" font-size="12" text-anchor="middle">fraction rejected (least confident first)</text>`;
  series.forEach((s, i) => {
    const d = s.points
      .filter((p) => Number.isFinite(p.y))
      .map((p, j) => `${j ? 'L' : 'M'}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`)
      .join(' ');
    out += `<path d="${d}" fill="none" ${stroke(i)} stroke-width="${s.name.startsWith('overmap') ? 3 : 1.5}"/>`;
  });
  return out;
}

export async function renderPlot(file: string, top1: Series[], top3: Series[]): Promise<void> {
  const w = 480,
    h = 360,
    legendH = 20 * Math.ceil(top1.length / 3) + 10;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h + legendH}" font-family="DejaVu Sans, sans-serif"><rect width="100%" height="100%" fill="white"/>`;
  svg += panel(top1, 'Top-1 macro accuracy', 0, w, h) + panel(top3, 'Top-3 macro accuracy', w, w, h);
  top1.forEach((s, i) => {
    const x = 20 + (i % 3) * 320,
      y = h + 15 + Math.floor(i / 3) * 20;
    svg += `<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" ${stroke(i)} stroke-width="3"/><text x="${x + 30}" y="${y}" font-size="12">${esc(s.name)}</text>`;
  });
  svg += '</svg>';
  await sharp(Buffer.from(svg)).png().toFile(file);
}
