/**
 * The report's CSV exports open safely in a spreadsheet: a string cell that begins with =, +,
 * -, @, tab or carriage return is written with a leading ' (OWASP's CSV-injection rule), inside
 * the quotes where the cell is quoted; numbers stay numbers.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { type ExportRow, csvField, toCsv } from '@overmap/report';
import { EMPTY_SCORES, SCORE_NAMES } from '@overmap/shared';

describe('csvField', () => {
  it.each([
    ['=HYPERLINK(1).png', "'=HYPERLINK(1).png"],
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1+cmd|/C calc!A0', "'+1+cmd|/C calc!A0"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', `"'\r=1+1"`],
    ['-1', "'-1"], // a label that looks like a number is still a string
  ])('neutralises %j as %j', (cell, written) => {
    expect(csvField(cell)).toBe(written);
  });

  it('leaves ordinary strings, numbers (negative ones included), booleans and nulls as they were', () => {
    expect(['coat/img-1.png', 'a,b', 'say "hi"', 'x=1', 'x-1', ''].map(csvField)).toEqual([
      'coat/img-1.png',
      '"a,b"',
      '"say ""hi"""',
      'x=1',
      'x-1',
      '',
    ]);
    expect([-0.25, -3, 0, 1e-7, true, false, null, undefined].map(csvField)).toEqual([
      '-0.25',
      '-3',
      '0',
      '1e-7',
      'true',
      'false',
      '',
      '',
    ]);
  });
});

describe('toCsv', () => {
  it('writes a hostile key, label, prediction and error as text, and negative scores as numbers', () => {
    const row: ExportRow = {
      key: '=HYPERLINK(1).png',
      label: '=HYPERLINK("http://x")',
      status: 'ok',
      error: '@error',
      prediction: {
        class: '+cls',
        index: 0,
        top: [
          { class: '+cls', p: 0.5 },
          { class: 'b', p: 0.3 },
          { class: 'c', p: 0.2 },
        ],
      },
      scores: { ...EMPTY_SCORES, confidence: 0.4, gradcam_contrast: -0.25 },
      accepted: false,
      rank: 1,
    };
    const csv = toCsv([row], 's3://bucket/data/', 'rank');
    const [header, line, end] = csv.split('\r\n');
    expect(header).toBe(
      `key,image,label,prediction,p,status,error,accepted,image_issues,duplicate_group,rank,${SCORE_NAMES.join(',')}`,
    );
    const scores = SCORE_NAMES.map((s) => (s === 'confidence' ? '0.4' : s === 'gradcam_contrast' ? '-0.25' : ''));
    expect(line).toBe(
      `'=HYPERLINK(1).png,s3://bucket/data/=HYPERLINK(1).png,"'=HYPERLINK(""http://x"")",'+cls,0.5,ok,'@error,false,,,1,${scores.join(',')}`,
    );
    expect(end).toBe('');
    // A CSV reader gets the quoted text back, with the leading ' a spreadsheet hides.
    const [parsed] = parseCsv(csv, { columns: true }) as Record<string, string>[];
    expect([parsed!.key, parsed!.label, parsed!.gradcam_contrast]).toEqual([
      "'=HYPERLINK(1).png",
      `'=HYPERLINK("http://x")`,
      '-0.25',
    ]);
  });
});
